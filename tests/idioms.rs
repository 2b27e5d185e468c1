//! The everyday idioms of the README's keep rules, run for real under the
//! default `smart` policy.
//!
//! Each idiom that hands a descriptor on purpose to the next program (process
//! substitution, `3>file`, `flock 9`, `--passphrase-fd 3`, make's jobserver,
//! `pass_fds`, socket activation, ...) must work with the library in
//! `LD_PRELOAD` exactly as it does without it; each test asserts what the
//! idiom's user sees: output, files, exit status.
//!
//! Every idiom runs three ways:
//! - without the library, as a control that the idiom works on this machine;
//! - with the library and no `CLOEXEC_*` setting (`smart`): it must work;
//! - with `CLOEXEC_POLICY=strict CLOEXEC_PASSTHROUGH=` (keep only 0-2): there
//!   the idiom is expected to break. Where that breakage was verified, the test
//!   asserts it, as the control that the library is really loaded and sweeping;
//!   otherwise the strict run asserts nothing.

mod common;

use common::{Preload, Running, SHORT, TempDir, clean_command, fixture, require, run_in, spawn_in};
use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// `bash -c SCRIPT bash ARGS...`
fn bash(lib: Preload, script: &str, args: &[&Path]) -> Command {
    let mut cmd = clean_command("/bin/bash", lib);
    cmd.arg("-c").arg(script).arg("bash").args(args);
    cmd
}

/// Whether the programs an idiom needs are installed. If one is not, the
/// test fails under `CLOEXEC_TEST_REQUIRE=1` (`.ci/run` installs them all)
/// and otherwise skips, saying why.
fn installed(idiom: &str, programs: &[&str]) -> bool {
    let why = format!("the idiom {idiom} runs it");
    programs.iter().all(|program| require(program, &why))
}

/// Runs one idiom with and without the library: `attempt` runs it in a fresh
/// scratch directory and says whether the user saw what they expected (and
/// what the run looked like). The control and the smart run must succeed.
/// Returns the strict run's verdict, for the tests that verified it breaks.
fn check_idiom(
    name: &str,
    attempt: impl Fn(Preload, &TempDir) -> (bool, String),
) -> (bool, String) {
    let mut strict = None;
    for lib in Preload::ALL {
        let scratch = TempDir::new(name);
        let (ok, shown) = attempt(lib, &scratch);
        match lib {
            Preload::Without => assert!(
                ok,
                "{name}: the idiom does not even work without the library:\n{shown}"
            ),
            Preload::With => assert!(
                ok,
                "{name}: the idiom breaks under the default smart policy:\n{shown}"
            ),
            Preload::Strict => strict = Some((ok, shown)),
        }
    }
    strict.expect("the strict run ran")
}

/// The strict run must have broken the idiom: the library is loaded and sweeping.
fn assert_strict_breaks(name: &str, (ok, shown): (bool, String)) {
    assert!(
        !ok,
        "{name}: the idiom still works with CLOEXEC_POLICY=strict and no pass-through, \
         so the library did not sweep anything (is it loaded?):\n{shown}"
    );
}

#[test]
fn process_substitution_diff() {
    let strict = check_idiom("diff", |lib, s| {
        let o = run_in(
            bash(lib, "diff <(echo a) <(echo a) && echo same", &[]),
            lib,
            s,
            SHORT,
        );
        (o.success() && o.stdout == "same\n", o.to_string())
    });
    assert_strict_breaks("diff <(echo a) <(echo a)", strict);
}

#[test]
fn redirect_3_to_file_for_python() {
    let strict = check_idiom("py3", |lib, s| {
        let file = s.join("out");
        let script = r#"/usr/bin/python3 -c 'import os; os.write(3, b"hi")' 3>"$1""#;
        let o = run_in(bash(lib, script, &[&file]), lib, s, SHORT);
        let got = s.read("out");
        (o.success() && got == "hi", format!("out={got:?}\n{o}"))
    });
    assert_strict_breaks("python3 -c 'os.write(3, ...)' 3>file", strict);
}

#[test]
fn redirect_3_to_file_for_python_from_dash() {
    if !installed("dash -c", &["/usr/bin/dash"]) {
        return;
    }
    let strict = check_idiom("dash3", |lib, s| {
        let file = s.join("out");
        let mut cmd = clean_command("/usr/bin/dash", lib);
        cmd.arg("-c")
            .arg(r#"/usr/bin/python3 -c 'import os; os.write(3, b"hi")' 3>"$1""#)
            .arg("dash")
            .arg(&file);
        let o = run_in(cmd, lib, s, SHORT);
        let got = s.read("out");
        (o.success() && got == "hi", format!("out={got:?}\n{o}"))
    });
    assert_strict_breaks("dash -c 'python3 ... 3>file'", strict);
}

#[test]
fn sh_c_echo_to_fd_3() {
    let strict = check_idiom("sh3", |lib, s| {
        let file = s.join("out");
        let o = run_in(
            bash(lib, r#"sh -c "echo hi >&3" 3>"$1""#, &[&file]),
            lib,
            s,
            SHORT,
        );
        let got = s.read("out");
        (o.success() && got == "hi\n", format!("out={got:?}\n{o}"))
    });
    assert_strict_breaks(r#"sh -c "echo hi >&3" 3>file"#, strict);
}

#[test]
fn exec_named_fd_then_bash_c() {
    let strict = check_idiom("namedfd", |lib, s| {
        let file = s.join("out");
        let script = r#"exec {fd}>"$1"; bash -c "echo hi >&$fd" && echo "fd=$fd""#;
        let o = run_in(bash(lib, script, &[&file]), lib, s, SHORT);
        let got = s.read("out");
        (
            o.success() && got == "hi\n" && o.stdout.starts_with("fd="),
            format!("out={got:?}\n{o}"),
        )
    });
    assert_strict_breaks(r#"exec {fd}>f; bash -c "echo hi >&$fd""#, strict);
}

#[test]
fn exec_5_then_cat_dev_fd_5() {
    let strict = check_idiom("devfd5", |lib, s| {
        let file = s.write("in", "five\n");
        let o = run_in(
            bash(lib, r#"exec 5<"$1"; cat /dev/fd/5"#, &[&file]),
            lib,
            s,
            SHORT,
        );
        (o.success() && o.stdout == "five\n", o.to_string())
    });
    assert_strict_breaks("exec 5<f; cat /dev/fd/5", strict);
}

#[test]
fn flock_on_fd_9() {
    if !installed("flock", &["/usr/bin/flock"]) {
        return;
    }
    let strict = check_idiom("flock", |lib, s| {
        let lock = s.join("lock");
        // While the subshell holds the lock through fd 9, a second `flock` on
        // its own open of the file must find it taken.
        let script = r#"( flock -n 9 || exit 1
                           if flock -n "$1" true; then echo not-held; else echo held; fi
                         ) 9>"$1""#;
        let o = run_in(bash(lib, script, &[&lock]), lib, s, SHORT);
        (o.success() && o.stdout == "held\n", o.to_string())
    });
    assert_strict_breaks("( flock -n 9 || exit 1; ... ) 9>lock", strict);
}

#[test]
fn gpg_passphrase_fd_3() {
    if !installed("gpg", &["/usr/bin/gpg", "/usr/bin/gpgconf"]) {
        return;
    }
    let strict = check_idiom("gpg", |lib, s| {
        let home = s.join("gnupg");
        fs::create_dir(&home).expect("cannot create GNUPGHOME");
        let _ = Command::new("chmod").arg("700").arg(&home).status();
        s.write("plain", "attack at dawn\n");
        s.write("pw", "correct horse battery staple\n");
        // --no-symkey-cache: the decryption must read fd 3 too, not the agent's cache.
        let script = r#"
            gpg="gpg --batch --quiet --no-tty --pinentry-mode loopback --no-symkey-cache --passphrase-fd 3"
            $gpg --symmetric --output msg.gpg plain 3<pw || exit 11
            $gpg --decrypt --output decrypted msg.gpg 3<pw || exit 12
            cat decrypted"#;
        let mut cmd = bash(lib, script, &[]);
        cmd.env("GNUPGHOME", &home);
        let o = run_in(cmd, lib, s, SHORT);
        // The agent that gpg started outlives it (in its own session): stop it.
        let _ = Command::new("gpgconf")
            .arg("--kill")
            .arg("all")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("GNUPGHOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        (o.success() && o.stdout == "attack at dawn\n", o.to_string())
    });
    assert_strict_breaks("gpg --passphrase-fd 3 ... 3<pw", strict);
}

#[test]
fn wrappers_env_nice_timeout_pass_fd_7() {
    let strict = check_idiom("wrappers", |lib, s| {
        let file = s.write("in", "seven\n");
        let script = r#"env nice timeout 5 sh -c "cat <&7" 7<"$1""#;
        let o = run_in(bash(lib, script, &[&file]), lib, s, SHORT);
        (o.success() && o.stdout == "seven\n", o.to_string())
    });
    assert_strict_breaks(r#"env nice timeout 5 sh -c "cat <&7" 7<f"#, strict);
}

#[test]
fn xargs_cat_dev_fd_7() {
    let strict = check_idiom("xargs", |lib, s| {
        let file = s.write("in", "via xargs\n");
        let script = r#"echo /dev/fd/7 | xargs cat 7<"$1""#;
        let o = run_in(bash(lib, script, &[&file]), lib, s, SHORT);
        (o.success() && o.stdout == "via xargs\n", o.to_string())
    });
    assert_strict_breaks("echo /dev/fd/7 | xargs cat 7<f", strict);
}

#[test]
fn make_jobserver_reaches_recursive_make() {
    if !installed("make -j2", &["/usr/bin/make"]) {
        return;
    }
    let strict = check_idiom("make", |lib, s| {
        let mut cmd = clean_command("/usr/bin/make", lib);
        cmd.arg("-j2")
            .arg("-f")
            .arg(fixture("jobserver/Makefile"))
            .arg(format!("OUT={}", s.path().display()));
        let o = run_in(cmd, lib, s, SHORT);
        // The sub-make got the jobserver (it says so in MAKEFLAGS and did not
        // fall back to -j1), and its two jobs really ran side by side.
        let ok = o.success()
            && !o.stderr.contains("jobserver unavailable")
            && o.stdout.contains("--jobserver-auth=")
            && o.stdout.contains("a met b")
            && o.stdout.contains("b met a");
        (ok, o.to_string())
    });
    if strict.1.contains("--jobserver-auth=fifo:") {
        // make >= 4.4 passes a named pipe, not fds: strict has nothing to break.
        println!("make -j2 strict run not checked: this make's jobserver is a fifo");
        return;
    }
    assert!(
        strict.1.contains("jobserver unavailable"),
        "make -j2 with +$(MAKE): under strict the sub-make should lose the jobserver:\n{}",
        strict.1
    );
    assert_strict_breaks("make -j2 with +$(MAKE)", strict);
}

#[test]
fn python_subprocess_pass_fds() {
    let strict = check_idiom("pass_fds", |lib, s| {
        let script = r#"
import os, subprocess, sys
r, w = os.pipe()
child = "import os, sys; os.write(int(sys.argv[1]), b'through pass_fds')"
p = subprocess.run([sys.executable, "-c", child, str(w)], pass_fds=[w])
os.close(w)
print(os.read(r, 100).decode(), p.returncode)
"#;
        let mut cmd = clean_command("/usr/bin/python3", lib);
        cmd.arg("-c").arg(script);
        let o = run_in(cmd, lib, s, SHORT);
        (
            o.success() && o.stdout == "through pass_fds 0\n",
            o.to_string(),
        )
    });
    assert_strict_breaks("subprocess.run(..., pass_fds=[w])", strict);
}

#[test]
fn python_set_inheritable_then_execv() {
    let strict = check_idiom("inheritable", |lib, s| {
        let file = s.write("in", "inherited on purpose\n");
        // The fd number reaches the new program only on its stdin, where no
        // rule reads (in an argument, K5 would keep it): only K4, the
        // set_inheritable, can.
        let script = r#"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.set_inheritable(fd, True)
r, w = os.pipe()
os.write(w, b"%d\n" % fd)
os.close(w)
os.dup2(r, 0)
os.close(r)
os.execv("/bin/sh", ["sh", "-c", 'read n && exec cat <&"$n"'])
"#;
        let mut cmd = clean_command("/usr/bin/python3", lib);
        cmd.arg("-c").arg(script).arg(&file);
        let o = run_in(cmd, lib, s, SHORT);
        (
            o.success() && o.stdout == "inherited on purpose\n",
            o.to_string(),
        )
    });
    assert_strict_breaks("os.set_inheritable(fd, True); os.execv(...)", strict);
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("cannot bind 127.0.0.1:0")
        .port()
}

/// Connects to the activated program and reads what it sends; gives up at
/// `deadline` or as soon as the activator has exited without ever accepting
/// (its exit status is in its outcome).
fn talk_to(port: u16, activator: &Running, deadline: Instant) -> Result<String, String> {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr.into(), Duration::from_secs(1)) {
            Ok(stream) => break stream,
            Err(e) if Instant::now() >= deadline => return Err(format!("connect: {e}")),
            Err(e) => {
                if activator.exited() {
                    return Err(format!("connect: {e}; the activator exited"));
                }
                sleep(Duration::from_millis(20));
            }
        }
    };
    let left = deadline.saturating_duration_since(Instant::now());
    stream
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .expect("cannot set a read timeout");
    let _ = stream.shutdown(Shutdown::Write);
    let mut reply = String::new();
    match stream.read_to_string(&mut reply) {
        Ok(_) => Ok(reply),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Err(format!("read: {e}")),
        Err(e) => Err(format!("read: {e} after {reply:?}")),
    }
}

#[test]
fn systemd_socket_activate_hands_over_fd_3() {
    if !installed(
        "systemd-socket-activate",
        &["/usr/bin/systemd-socket-activate"],
    ) {
        return;
    }
    const REPLY: &str = "activated on fd 3\n";
    let strict = check_idiom("activate", |lib, s| {
        let program = r#"
import os, socket
assert os.environ["LISTEN_FDS"] == "1", os.environ.get("LISTEN_FDS")
conn, _ = socket.socket(fileno=3).accept()
conn.sendall(b"activated on fd 3\n")
conn.close()
"#;
        // A port can be taken between free_port() and the bind: try a few.
        let mut tries = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = clean_command("/usr/bin/systemd-socket-activate", lib);
            cmd.arg("-l")
                .arg(format!("127.0.0.1:{port}"))
                .args(["/bin/sh", "-c", r#"exec /usr/bin/python3 -c "$0""#])
                .arg(program);
            let activator = spawn_in(cmd, lib, s);
            let deadline = Instant::now() + SHORT;
            let reply = talk_to(port, &activator, deadline);
            let o = activator.finish(deadline);
            let shown = format!("port {port}: reply {reply:?}\n{o}");
            if o.stderr.contains("Address already in use") {
                tries.push(shown);
                continue;
            }
            return (reply.as_deref() == Ok(REPLY) && o.success(), shown);
        }
        (false, tries.join("\n"))
    });
    assert_strict_breaks("systemd-socket-activate -l ... sh -c 'exec ...'", strict);
}

#[test]
fn here_string() {
    // The one idiom that survives even strict: it uses only fd 0.
    let (ok, shown) = check_idiom("herestring", |lib, s| {
        let o = run_in(bash(lib, "cat <<< hi", &[]), lib, s, SHORT);
        (o.success() && o.stdout == "hi\n", o.to_string())
    });
    assert!(
        ok,
        "cat <<< hi: fd 0 must never be touched, even by strict:\n{shown}"
    );
}
