//! The compatibility matrix's tools: flock(1), git, gpg, ssh-agent, tmux,
//! dbus-daemon, and make's and cargo's jobservers, run for real.
//!
//! Every case runs without the library and with it (default settings):
//! same exit code, same output (with pids, random names and times masked),
//! and nothing from the library on stderr ([`assert_same_behaviour`]). Where
//! the tool's own output says little, the test appends what it observed
//! (files a hook wrote, whether a lock is held) to the output it compares.
//!
//! Next to each deliberate fd a leak is planted: the C parent
//! (`c-harness/compat_parent.c`) that starts the tool opens a file it tells
//! nobody about. It must reach the process that reports it (the static probe
//! run by a hook, a recipe or a shell command, or the daemon's
//! `/proc/PID/fd`) without the library, and must not with it.
//!
//! Each test runs in its own temp dir (sockets, `GNUPGHOME`, repositories),
//! and a guard stops every daemon it started, even when an assertion fails.

mod common;

use common::{
    Outcome, Preload, SHORT, TempDir, assert_same_behaviour, clean_command, fixture, harness,
    parse_fds, require, run_in,
};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fixed dates and identity, so commits (and their ids) are the same in
/// every run.
const GIT_ENV: [(&str, &str); 7] = [
    ("GIT_AUTHOR_NAME", "Compat"),
    ("GIT_AUTHOR_EMAIL", "compat@example.com"),
    ("GIT_COMMITTER_NAME", "Compat"),
    ("GIT_COMMITTER_EMAIL", "compat@example.com"),
    ("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z"),
    ("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
];

/// What one run of a case showed: its outcome (stdout possibly extended with
/// observations) and whether the planted leak reached the observer.
struct Seen {
    outcome: Outcome,
    leaked: bool,
}

impl Seen {
    /// The outcome, and the leak as the probe's report ([`report_path`])
    /// lists it.
    fn from_probe(dir: &TempDir, outcome: Outcome) -> Seen {
        Seen {
            leaked: probe_saw_leak(dir, "report"),
            outcome,
        }
    }
}

/// Runs `case` without and with the library, each in a fresh temp dir, and
/// checks the matrix's two promises: same behaviour, and the planted leak
/// arrives only without the library.
fn check(name: &str, case: impl Fn(Preload, &TempDir) -> Seen) {
    let tag: String = (name.chars())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let without = case(Preload::Without, &TempDir::new(&tag));
    let with = case(Preload::With, &TempDir::new(&tag));
    assert_same_behaviour(name, &without.outcome, &with.outcome);
    assert!(
        without.leaked,
        "{name}: the planted leak did not arrive even without the library\n{}",
        without.outcome
    );
    assert!(
        !with.leaked,
        "{name}: the planted leak arrived with the library\n{}",
        with.outcome
    );
}

/// The planted leak's path in `dir`.
fn leak_path(dir: &TempDir) -> PathBuf {
    dir.join("planted-leak")
}

/// `compat_parent LAUNCH KIND <leak> OPTIONS... -- PROGRAM ARGS...`, with a
/// clean environment plus `env`.
fn parent(
    lib: Preload,
    dir: &TempDir,
    (launch, kind): (&str, &str),
    options: &[&str],
    program: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let mut cmd = clean_command(harness("compat_parent"), lib);
    cmd.arg(launch).arg(kind).arg(leak_path(dir)).args(options);
    cmd.arg("--").args(program);
    cmd.envs(env.iter().copied());
    cmd
}

/// [`parent`] run in `dir` to its end.
fn run_parent(
    lib: Preload,
    dir: &TempDir,
    launch: (&str, &str),
    options: &[&str],
    program: &[&str],
    env: &[(&str, &str)],
) -> Outcome {
    run_in(
        parent(lib, dir, launch, options, program, env),
        lib,
        dir,
        SHORT,
    )
}

/// [`run_parent`] as `setsid -w compat_parent ...`, for a tool that starts a
/// daemon: the daemon forks and calls `setsid` itself, but its foreground
/// process may exit first, and the test kills its process group as soon as
/// the foreground has exited. In a session of its own the daemon is out of
/// that group's reach whatever the timing (its guard stops it).
fn run_daemon_parent(
    lib: Preload,
    dir: &TempDir,
    launch: (&str, &str),
    program: &[&str],
) -> Outcome {
    let inner = parent(lib, dir, launch, &[], program, &[]);
    let mut cmd = clean_command("setsid", lib);
    cmd.arg("-w")
        .arg(inner.get_program())
        .args(inner.get_args());
    run_in(cmd, lib, dir, SHORT)
}

/// Where a case's probe writes its report (`report` in `dir`).
fn report_path(dir: &TempDir) -> String {
    dir.join("report").display().to_string()
}

/// Whether the probe's report `name` in `dir` lists the planted leak.
fn probe_saw_leak(dir: &TempDir, name: &str) -> bool {
    let leak = leak_path(dir).display().to_string();
    parse_fds(&dir.read(name)).values().any(|t| *t == leak)
}

/// Whether process `pid` has the planted leak open.
fn process_has_leak(dir: &TempDir, pid: u32) -> bool {
    let leak = leak_path(dir);
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == leak))
}

/// The probe's path as a string, for scripts.
fn probe() -> String {
    harness("probe").display().to_string()
}

/// `bash -c SCRIPT bash ARGS...`, with `env`.
fn bash(lib: Preload, script: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = clean_command("/bin/bash", lib);
    cmd.arg("-c").arg(script).arg("bash").args(args);
    cmd.envs(env.iter().copied());
    cmd
}

/// Appends `label: TEXT` to the outcome's stdout, so it is compared too.
fn observe(outcome: &mut Outcome, label: &str, text: &str) {
    outcome.stdout.push_str(&format!("[{label}]\n{text}"));
}

/// Replaces every run of ASCII digits in `text` with `N` (pids, times).
fn mask_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('N') {
            out.push('N');
        }
    }
    out
}

/// Kills a daemon by pid when dropped.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill(2) touches no memory of ours; the pid is a daemon
            // this test started and has not reaped (it is not our child).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }
}

/// Runs a command when dropped (a daemon's own shutdown command).
struct RunOnDrop(Option<Command>);

impl Drop for RunOnDrop {
    fn drop(&mut self) {
        if let Some(mut cmd) = self.0.take() {
            let _ = cmd.output();
        }
    }
}

// ---------------------------------------------------------------- flock(1)

/// flock(1) is killed while COMMAND runs: COMMAND still holds the lock.
#[test]
fn flock_killed_while_command_runs() {
    if !require("flock", "flock(1) hands its lock to COMMAND") {
        return;
    }
    // COMMAND says it runs through a fifo (its pid: `exec` keeps it), so
    // flock is killed only once COMMAND holds what flock gave it.
    let script = r#"
        mkfifo ready
        flock lk sh -c 'echo $$ > ready; exec sleep 60' & flock_pid=$!
        read command_pid < ready
        kill -9 $flock_pid; wait $flock_pid 2>/dev/null
        if flock -n lk true; then echo released; else echo held; fi
        kill $command_pid
        flock -w 60 lk echo free once the command is gone"#;
    check_flock(
        "flock killed",
        script,
        "held\nfree once the command is gone\n",
    );
}

/// COMMAND leaves work in the background and exits; the work holds the lock.
#[test]
fn flock_command_backgrounds_work() {
    if !require("flock", "flock(1) hands its lock to COMMAND") {
        return;
    }
    let script = r#"
        work_pid=$(flock lk sh -c 'sleep 60 >/dev/null 2>&1 & echo $!')
        if flock -n lk true; then echo released; else echo held; fi
        kill $work_pid
        flock -w 60 lk echo free once the work is gone"#;
    check_flock(
        "flock, background work",
        script,
        "held\nfree once the work is gone\n",
    );
}

/// `flock -o` closes the lock before COMMAND: background work does not hold it.
#[test]
fn flock_dash_o_still_releases() {
    if !require("flock", "flock(1) hands its lock to COMMAND") {
        return;
    }
    let script = r#"
        work_pid=$(flock -o lk sh -c 'sleep 60 >/dev/null 2>&1 & echo $!')
        if flock -n lk true; then echo released; else echo held; fi
        kill $work_pid"#;
    check_flock("flock -o", script, "released\n");
}

/// Runs a flock script in a temp dir without and with the library; it must
/// print `expected` both times. The leak beside the lock is planted by
/// [`flock_lock_reaches_command_and_leak_does_not`].
fn check_flock(name: &str, script: &str, expected: &str) {
    let run = |lib| {
        let dir = TempDir::new("flock");
        run_in(bash(lib, script, &[], &[]), lib, &dir, SHORT)
    };
    let without = run(Preload::Without);
    assert_eq!(without.stdout, expected, "{name}: control\n{without}");
    assert_same_behaviour(name, &without, &run(Preload::With));
}

/// `flock FILE COMMAND` from a leaky C parent: COMMAND (the probe, after
/// `compat_child` wrote to the channel) gets the locked fd, not the leak.
#[test]
fn flock_lock_reaches_command_and_leak_does_not() {
    if !require("flock", "flock(1) hands its lock to COMMAND") {
        return;
    }
    check("flock FILE COMMAND, leak beside", |lib, dir| {
        let lock = dir.join("lk").display().to_string();
        let report = report_path(dir);
        let child = harness("compat_child").display().to_string();
        let program = [
            "/usr/bin/flock",
            &lock,
            &child,
            "--fd={W}",
            "--",
            &probe(),
            "--out",
            &report,
        ];
        let mut outcome = run_parent(lib, dir, ("fork", "pipe"), &[], &program, &[]);
        let lock_arrived = parse_fds(&dir.read("report")).values().any(|t| *t == lock);
        observe(
            &mut outcome,
            "lock fd reached COMMAND",
            &format!("{lock_arrived}\n"),
        );
        Seen::from_probe(dir, outcome)
    });
}

// --------------------------------------------------------------------- git

/// A work tree `work` with `commits` commits (file `n` holds the commit's
/// number) and a bare `remote.git`, made without the library.
fn git_setup(dir: &TempDir, commits: usize) {
    let script = r#"
        set -e
        git init -q --bare remote.git
        git init -q -b main work
        cd work
        i=1
        while [ $i -le "$1" ]; do
            echo $i > n; git add n; git commit -q -m "commit $i"
            i=$((i + 1))
        done"#;
    let n = commits.to_string();
    let o = run_in(
        bash(Preload::Without, script, &[&n], &GIT_ENV),
        Preload::Without,
        dir,
        SHORT,
    );
    assert!(o.success(), "git setup failed\n{o}");
}

/// `git push` runs a pre-push hook that reads the refs on its stdin.
#[test]
fn git_pre_push_hook_reads_stdin() {
    if !require("git", "git hooks") {
        return;
    }
    check("git pre-push hook", |lib, dir| {
        git_setup(dir, 2);
        let hook = format!(
            "#!/bin/sh\nwhile read local_ref local_id remote_ref remote_id; do\n\
             echo \"$local_ref -> $remote_ref\" >> \"$HOOK_OUT\"\ndone\n\
             exec {} --out \"$HOOK_REPORT\"\n",
            probe()
        );
        let hook_path = dir.write("work/.git/hooks/pre-push", &hook);
        chmod_x(&hook_path);
        let (out, report) = (dir.join("hook.out"), dir.join("report"));
        let env = [
            ("HOOK_OUT", out.to_str().unwrap()),
            ("HOOK_REPORT", report.to_str().unwrap()),
            ("HOME", dir.path().to_str().unwrap()),
        ];
        let mut outcome = run_parent(
            lib,
            dir,
            ("fork", "none"),
            &[],
            &[
                "/usr/bin/env",
                "git",
                "-C",
                "work",
                "push",
                "-q",
                "../remote.git",
                "main",
            ],
            &[&GIT_ENV[..], &env].concat(),
        );
        observe(&mut outcome, "hook saw", &dir.read("hook.out"));
        Seen::from_probe(dir, outcome)
    });
}

/// `git credential fill` asks a credential helper (`credential.helper`).
#[test]
fn git_credential_helper() {
    if !require("git", "git credential helpers") {
        return;
    }
    check("git credential helper", |lib, dir| {
        let helper = format!(
            "#!/bin/sh\n{} --out \"$HELPER_REPORT\"\n\
             while read line && [ -n \"$line\" ]; do echo \"helper got $line\" >&2; done\n\
             echo username=alice\necho password=hunter2\n",
            probe()
        );
        let helper_path = dir.write("helper", &helper);
        chmod_x(&helper_path);
        let report = dir.join("report");
        let config = format!("credential.helper={}", helper_path.display());
        let leak = leak_path(dir).display().to_string();
        let script = r#"printf 'protocol=https\nhost=example.com\n\n' |
            "$1" fork none "$2" -- /usr/bin/env git -c "$3" credential fill"#;
        let parent_path = harness("compat_parent").display().to_string();
        let mut cmd = bash(lib, script, &[&parent_path, &leak, &config], &GIT_ENV);
        cmd.env("HELPER_REPORT", &report);
        let outcome = run_in(cmd, lib, dir, SHORT);
        Seen::from_probe(dir, outcome)
    });
}

/// `git bisect run` runs a test script at each step.
#[test]
fn git_bisect_run() {
    if !require("git", "git bisect") {
        return;
    }
    check("git bisect run", |lib, dir| {
        git_setup(dir, 6);
        let test = format!(
            "#!/bin/sh\n{} --out \"$STEP_REPORT\"\n[ \"$(cat n)\" -lt 4 ]\n",
            probe()
        );
        chmod_x(&dir.write("step.sh", &test));
        let start = run_in(
            bash(
                Preload::Without,
                "cd work && git bisect start main main~5 >/dev/null",
                &[],
                &GIT_ENV,
            ),
            Preload::Without,
            dir,
            SHORT,
        );
        assert!(start.success(), "git bisect start\n{start}");
        let report = dir.join("report");
        let env = [("STEP_REPORT", report.to_str().unwrap())];
        let mut outcome = run_parent(
            lib,
            dir,
            ("spawn", "none"),
            &[],
            &[
                "/usr/bin/env",
                "git",
                "-C",
                "work",
                "bisect",
                "run",
                "../step.sh",
            ],
            &[&GIT_ENV[..], &env].concat(),
        );
        let found = outcome.stdout.contains("commit 4");
        observe(&mut outcome, "found commit 4", &format!("{found}\n"));
        Seen::from_probe(dir, outcome)
    });
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

// --------------------------------------------------------------------- gpg

/// gpg from a C parent: `--passphrase-fd N` (a pipe the parent fills) and
/// `--status-fd N` (a pipe the parent reads), symmetric encryption then
/// decryption, in a private `GNUPGHOME`.
#[test]
fn gpg_status_fd_and_passphrase_fd() {
    if !require("gpg", "gpg --status-fd/--passphrase-fd") {
        return;
    }
    check("gpg --passphrase-fd --status-fd", |lib, dir| {
        let home = dir.join("gnupg");
        std::fs::create_dir(&home).expect("GNUPGHOME");
        chmod_700(&home);
        let home_env = [("GNUPGHOME", home.to_str().unwrap())];
        let mut kill_agent = clean_command("gpgconf", Preload::Without);
        kill_agent.args(["--kill", "all"]).envs(home_env);
        let _agent = RunOnDrop(Some(kill_agent));
        dir.write("plain", "the secret text\n");
        let gpg = |mode: &[&'static str]| {
            let mut program = vec![
                "/usr/bin/gpg",
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase-fd",
                "{IN}",
                "--status-fd",
                "{W}",
            ];
            program.extend_from_slice(mode);
            program
        };
        let report = report_path(dir);
        let options = ["--to-child", "correct horse", "--inspect", &report];
        let encrypt = gpg(&["--symmetric", "-o", "plain.gpg", "plain"]);
        let mut outcome = run_parent(lib, dir, ("fork", "pipe"), &options, &encrypt, &home_env);
        let decrypt = gpg(&["--decrypt", "plain.gpg"]);
        let decrypted = run_parent(
            lib,
            dir,
            ("spawn", "socketpair"),
            &options[..2],
            &decrypt,
            &home_env,
        );
        // The literal packet carries a time.
        observe(&mut outcome, "decrypt", &mask_digits(&decrypted.stdout));
        outcome.code = outcome.code.max(decrypted.code);
        Seen::from_probe(dir, outcome)
    });
}

fn chmod_700(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

// --------------------------------------------------------------- ssh-agent

/// The first number after `SSH_AGENT_PID=` in ssh-agent's output.
fn agent_pid(text: &str) -> Option<u32> {
    let rest = text.split("SSH_AGENT_PID=").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// ssh-agent as a daemon: started by a leaky parent, asked with `ssh-add -l`
/// through `SSH_AUTH_SOCK`, stopped with `ssh-agent -k`.
#[test]
fn ssh_agent_daemon() {
    if !require("ssh-agent", "ssh-agent") {
        return;
    }
    check("ssh-agent daemon", |lib, dir| {
        let sock = dir.join("agent.sock").display().to_string();
        let start = ["/usr/bin/ssh-agent", "-s", "-a", &sock];
        let mut outcome = run_daemon_parent(lib, dir, ("fork", "none"), &start);
        let pid = agent_pid(&outcome.stdout);
        let _agent = KillOnDrop(pid);
        let leaked = pid.is_some_and(|pid| process_has_leak(dir, pid));
        outcome.stdout = mask_digits(&outcome.stdout);
        let pid_text = pid.map(|p| p.to_string()).unwrap_or_default();
        let agent_env = [
            ("SSH_AUTH_SOCK", sock.as_str()),
            ("SSH_AGENT_PID", pid_text.as_str()),
        ];
        for (label, args) in [
            ("ssh-add -l", ["ssh-add", "-l"]),
            ("ssh-agent -k", ["ssh-agent", "-k"]),
        ] {
            let mut cmd = clean_command(args[0], lib);
            cmd.arg(args[1]).envs(agent_env);
            let o = run_in(cmd, lib, dir, SHORT);
            let shown = format!("{}{}status {:?}\n", o.stdout, o.stderr, o.code);
            observe(&mut outcome, label, &mask_digits(&shown));
        }
        Seen { outcome, leaked }
    });
}

/// `ssh-agent COMMAND`: the agent lives as long as COMMAND, which finds it
/// through `SSH_AUTH_SOCK`.
#[test]
fn ssh_agent_command_form() {
    if !require("ssh-agent", "ssh-agent") {
        return;
    }
    check("ssh-agent sh -c", |lib, dir| {
        let report = report_path(dir);
        let script = r#"ssh-add -l; echo "ssh-add status $?"; exec "$0" --out "$1""#;
        let program = [
            "/usr/bin/ssh-agent",
            "/bin/sh",
            "-c",
            script,
            &probe(),
            &report,
        ];
        let outcome = run_parent(lib, dir, ("vfork", "none"), &[], &program, &[]);
        Seen::from_probe(dir, outcome)
    });
}

// -------------------------------------------------------------------- tmux

/// tmux on a private socket: `new-session -d` from a leaky parent (the server
/// forks from it), `run-shell`, `kill-server`.
#[test]
fn tmux_new_session_and_run_shell() {
    if !require("tmux", "tmux") {
        return;
    }
    check("tmux", |lib, dir| {
        let sock = dir.join("tmux.sock").display().to_string();
        let tmux = |args: &[&str]| {
            let mut cmd = clean_command("tmux", lib);
            cmd.arg("-S").arg(&sock).args(args).env("TERM", "xterm");
            cmd
        };
        let _server = RunOnDrop(Some(tmux(&["kill-server"])));
        let program = [
            "/usr/bin/tmux",
            "-S",
            &sock,
            "new-session",
            "-d",
            "sleep 60",
        ];
        let mut outcome = run_parent(
            lib,
            dir,
            ("spawn", "none"),
            &[],
            &program,
            &[("TERM", "xterm")],
        );
        let server = run_in(tmux(&["display", "-p", "#{pid}"]), lib, dir, SHORT);
        let leaked = server
            .stdout
            .trim()
            .parse()
            .is_ok_and(|pid| process_has_leak(dir, pid));
        let shell = format!("echo run-shell ok > {}", dir.join("ran").display());
        let ran = run_in(tmux(&["run-shell", &shell]), lib, dir, SHORT);
        let killed = run_in(tmux(&["kill-server"]), lib, dir, SHORT);
        let shown = format!(
            "display: {:?}\nrun-shell: {:?} {}kill-server: {:?}\n",
            server.code,
            ran.code,
            dir.read("ran"),
            killed.code
        );
        observe(&mut outcome, "tmux", &shown);
        Seen { outcome, leaked }
    });
}

// ------------------------------------------------------------- dbus-daemon

/// `dbus-daemon --fork --print-address=N`, N the write end of a C parent's
/// pipe; the daemon answers on that address; then it is stopped.
#[test]
fn dbus_daemon_print_address_to_a_pipe() {
    if !require("dbus-daemon", "dbus-daemon --print-address=N") {
        return;
    }
    check("dbus-daemon --print-address=N", |lib, dir| {
        let listen = format!("--address=unix:dir={}", dir.path().display());
        let program = [
            "/usr/bin/dbus-daemon",
            "--session",
            "--fork",
            "--nopidfile",
            &listen,
            "--print-address={W}",
            "--print-pid",
        ];
        let mut outcome = run_daemon_parent(lib, dir, ("fork", "pipe"), &program);
        // The daemon prints its pid on stdout, while the parent relays the
        // channel: the two lines come in either order.
        let pid = outcome.stdout.lines().find_map(|l| l.trim().parse().ok());
        let _daemon = KillOnDrop(pid);
        let pid_line = format!("{}\n", pid.unwrap_or(0));
        outcome.stdout = outcome.stdout.replacen(&pid_line, "", 1);
        observe(&mut outcome, "pid printed", &format!("{}\n", pid.is_some()));
        let leaked = pid.is_some_and(|pid| process_has_leak(dir, pid));
        let address = outcome
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("channel: "))
            .unwrap_or_default()
            .to_string();
        let answer = dbus_get_id(lib, dir, &address);
        outcome.stdout = mask_address(&outcome.stdout, &address);
        observe(&mut outcome, "daemon answers", &format!("{answer}\n"));
        Seen { outcome, leaked }
    });
}

/// The same from bash: `--print-address=61 61>FILE` (bash passes its user's
/// redirections on; the daemon must still write through fd 61). High
/// numbers, so the redirections never replace the planted leak.
#[test]
fn dbus_daemon_print_address_from_bash_redirect() {
    if !require("dbus-daemon", "dbus-daemon --print-address=N") {
        return;
    }
    check("dbus-daemon from bash 61>file", |lib, dir| {
        let listen = format!("unix:dir={}", dir.path().display());
        let leak = leak_path(dir).display().to_string();
        let parent_path = harness("compat_parent").display().to_string();
        // The leak: the C parent starts bash, which starts the daemon.
        let script = r#"setsid -w "$1" fork none "$2" -- /bin/bash -c '
            dbus-daemon --session --fork --nopidfile --address="$0" \
                --print-address=61 --print-pid=62 61>address 62>pid' "$3""#;
        let cmd = bash(lib, script, &[&parent_path, &leak, &listen], &[]);
        let mut outcome = run_in(cmd, lib, dir, SHORT);
        let pid = dir.read("pid").trim().parse().ok();
        let _daemon = KillOnDrop(pid);
        let leaked = pid.is_some_and(|pid| process_has_leak(dir, pid));
        let address = dir.read("address").trim().to_string();
        let answer = dbus_get_id(lib, dir, &address);
        observe(
            &mut outcome,
            "address",
            &mask_address(&format!("{address}\n"), &address),
        );
        observe(&mut outcome, "daemon answers", &format!("{answer}\n"));
        Seen { outcome, leaked }
    });
}

/// Asks the bus at `address` for its id with dbus-send: `answered`, or why not.
fn dbus_get_id(lib: Preload, dir: &TempDir, address: &str) -> String {
    if address.is_empty() {
        return "no address".into();
    }
    if !require("dbus-send", "asking dbus-daemon") {
        return "no dbus-send".into();
    }
    let mut cmd = clean_command("dbus-send", lib);
    cmd.arg(format!("--bus={address}")).args([
        "--print-reply",
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.GetId",
    ]);
    let o = run_in(cmd, lib, dir, SHORT);
    if o.success() && o.stdout.contains("string") {
        "answered".into()
    } else {
        format!("no answer: {o}")
    }
}

/// `text` with the bus address replaced by its shape (the socket name and
/// guid are random) and pids masked.
fn mask_address(text: &str, address: &str) -> String {
    let shape = if address.starts_with("unix:path=") && address.contains(",guid=") {
        "unix:path=SOCKET,guid=GUID"
    } else {
        "NOT AN ADDRESS"
    };
    let masked = if address.is_empty() {
        text.to_string()
    } else {
        text.replace(address, shape)
    };
    mask_digits(&masked)
}

// ------------------------------------------------------------- jobservers

/// `make -j4` whose recipe runs a sub-make (`+`): the sub-make's jobs share
/// the parent's jobserver; make warns "jobserver unavailable" if its fds
/// are gone.
#[test]
fn make_jobserver_recursive() {
    if !require("make", "make -j") {
        return;
    }
    check("make -j4 recursive", |lib, dir| {
        let makefile = fixture("compat/jobserver/Makefile").display().to_string();
        let probe_var = format!("PROBE={}", probe());
        let report_var = format!("REPORT={}", dir.join("report").display());
        let script = r#"exec make -j4 -s -f "$@" 2>&1"#;
        let program = [
            "/bin/sh",
            "-c",
            script,
            "sh",
            &makefile,
            &probe_var,
            &report_var,
        ];
        let outcome = run_parent(lib, dir, ("fork", "none"), &[], &program, &[]);
        Seen::from_probe(dir, outcome)
    });
}

/// A tiny cargo project whose build script runs `make -j2` under cargo's
/// jobserver (`CARGO_MAKEFLAGS`), offline, no dependencies.
#[test]
fn cargo_jobserver_reaches_make_in_build_script() {
    if !require("make", "make under cargo's jobserver") {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    check("cargo build.rs make", |lib, dir| {
        let project = dir.join("project");
        copy_dir(&fixture("compat/cargo_jobserver"), &project);
        let manifest = project.join("Cargo.toml").display().to_string();
        let out = dir.join("make-output").display().to_string();
        let report = report_path(dir);
        let target = dir.join("target").display().to_string();
        let mut env: Vec<(String, String)> = vec![
            ("COMPAT_OUT".into(), out),
            ("PROBE".into(), probe()),
            ("REPORT".into(), report),
            ("CARGO_TARGET_DIR".into(), target),
            ("CARGO_NET_OFFLINE".into(), "true".into()),
        ];
        env.extend(toolchain_env(&cargo));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let cmd = parent(
            lib,
            dir,
            ("spawn", "none"),
            &[],
            &[
                &cargo,
                "build",
                "-q",
                "--offline",
                "--manifest-path",
                &manifest,
            ],
            &env,
        );
        let mut outcome =
            common::spawn_in(cmd, lib, dir).finish(std::time::Instant::now() + common::LONG);
        observe(&mut outcome, "make under cargo", &dir.read("make-output"));
        Seen::from_probe(dir, outcome)
    });
}

/// `PATH` with the toolchain's directory first, and the rustup settings the
/// test runs under, so `cargo` finds its `rustc` in a clean environment.
fn toolchain_env(cargo: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let dir = Path::new(cargo)
        .parent()
        .filter(|d| !d.as_os_str().is_empty());
    let path = match dir {
        Some(d) => format!("{}:/usr/local/bin:/usr/bin:/bin", d.display()),
        None => "/usr/local/bin:/usr/bin:/bin".into(),
    };
    env.push(("PATH".into(), path));
    for key in ["RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "CARGO_HOME"] {
        if let Ok(v) = std::env::var(key) {
            env.push((key.into(), v));
        }
    }
    env
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy fixture");
        }
    }
}
