//! K3 for every inherited fd, whatever its number: `bash -c 'exec 300<f
//! 1000<f …; env timeout 5 nice PROBE'` hands the probe every one, through
//! three wrappers that each load the library and exec; an fd that a
//! program opens later at an inherited fd's number (after closing it) is
//! still swept. Each run has a control without the library, and runs again
//! with `/proc` hidden (`noproc`), where the snapshot scans with `ppoll`.

mod common;

use std::process::Command;

use common::{Outcome, Preload, SHORT, TempDir, build_once, harness, parse_fds, require, run};

/// The numbers this machine allows: 300, 1000, 5000 and the soft
/// `RLIMIT_NOFILE` − 1, those below the limit.
fn numbers() -> Vec<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let soft = limit.rlim_cur.min(1 << 20);
    let mut fds: Vec<u64> = [300, 1000, 5000]
        .into_iter()
        .filter(|&n| n < soft - 1)
        .collect();
    fds.push(soft - 1);
    fds
}

/// `bash -c 'exec N<FILE …; SCRIPT'`, under `noproc` if asked.
fn bash(dir: &TempDir, fds: &[u64], script: &str, no_proc: bool) -> Command {
    let file = dir.write("inherited", "inherited on purpose\n");
    let opens: String = fds
        .iter()
        .map(|n| format!("exec {n}<'{}'; ", file.display()))
        .collect();
    let mut cmd = if no_proc {
        let mut c = Command::new(harness("noproc"));
        c.arg("/bin/bash");
        c
    } else {
        Command::new("/bin/bash")
    };
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PROBE", harness("probe"))
        .args(["-c", &format!("{opens}{script}")]);
    cmd
}

fn arrived(out: &Outcome) -> Vec<u64> {
    parse_fds(&out.stdout).keys().map(|&fd| fd as u64).collect()
}

fn through_wrappers(no_proc: bool) {
    build_once();
    if !require("/usr/bin/timeout", "coreutils' timeout passes its fds on") {
        return;
    }
    let dir = TempDir::new("inherited");
    let fds = numbers();
    let script = "exec env timeout 5 nice \"$PROBE\"";
    for preload in [Preload::Without, Preload::With] {
        let out = run(bash(&dir, &fds, script, no_proc), preload, &[], SHORT);
        assert!(out.success(), "{preload:?}: {out}");
        if no_proc {
            assert!(
                out.stdout.contains("probe method scan"),
                "/proc was not hidden: {out}"
            );
        }
        let seen = arrived(&out);
        for fd in &fds {
            assert!(
                seen.contains(fd),
                "{preload:?}: inherited fd {fd} did not arrive through env, timeout and nice\n{out}"
            );
        }
    }
}

#[test]
fn every_inherited_fd_arrives_through_wrappers() {
    through_wrappers(false);
}

#[test]
fn without_proc_every_inherited_fd_arrives_too() {
    through_wrappers(true);
}

/// Python closes the inherited 300 and puts a file of its own there
/// (`F_DUPFD`, not an act of intent), then execs the probe: the new file
/// is a leak at an inherited number, and is swept; 1000 is still the
/// inherited file, and arrives.
#[test]
fn a_leak_later_at_an_inherited_number_is_swept() {
    build_once();
    if !require(common::PYTHON, "a program that is not a pass-through shell") {
        return;
    }
    let dir = TempDir::new("inherited-reuse");
    let leak = dir.write("leak", "opened later\n");
    let script = format!(
        "exec {} -c 'import fcntl, os, sys\n\
         os.close(300)\n\
         fd = os.open(sys.argv[1], os.O_RDONLY)\n\
         assert fcntl.fcntl(fd, fcntl.F_DUPFD, 300) == 300\n\
         os.execv(sys.argv[2], [sys.argv[2]])' '{}' \"$PROBE\"",
        common::PYTHON,
        leak.display()
    );
    for preload in [Preload::Without, Preload::With] {
        let out = run(
            bash(&dir, &[300, 1000], &script, false),
            preload,
            &[],
            SHORT,
        );
        assert!(out.success(), "{preload:?}: {out}");
        let fds = parse_fds(&out.stdout);
        assert!(
            fds.contains_key(&1000),
            "{preload:?}: inherited 1000: {out}"
        );
        let at_300 = fds.get(&300).map(String::as_str);
        match preload {
            Preload::Without => assert_eq!(
                at_300,
                Some(leak.to_str().unwrap()),
                "control: the later file at 300 leaks\n{out}"
            ),
            _ => assert_eq!(at_300, None, "the later file at 300 was kept\n{out}"),
        }
    }
}

/// Below a soft `RLIMIT_NOFILE` of 256 `ppoll` refuses the snapshot's whole
/// window (`EINVAL`), and the snapshot asks again over the numbers below
/// the limit. `ulimit -n 64; exec 63</dev/null`, then Python (not a
/// pass-through shell, so the library decides at its exec) execs the
/// probe: the fd at the limit − 1 is inherited, and arrives. Without
/// `/proc` too, where no walk can find what the retry missed.
#[test]
fn under_a_soft_limit_below_the_window_the_last_fd_arrives() {
    build_once();
    if !require(common::PYTHON, "a program that is not a pass-through shell") {
        return;
    }
    let dir = TempDir::new("inherited-low-limit");
    let script = format!(
        "ulimit -n 64 && exec 63</dev/null && exec {} -c 'import os, sys\n\
         os.execv(sys.argv[1], [sys.argv[1]])' \"$PROBE\"",
        common::PYTHON
    );
    for no_proc in [false, true] {
        for preload in [Preload::Without, Preload::With] {
            let what = format!("{preload:?}, /proc hidden: {no_proc}");
            let out = run(bash(&dir, &[], &script, no_proc), preload, &[], SHORT);
            assert!(out.success(), "{what}: {out}");
            assert!(
                out.stdout.contains("rlimit 64"),
                "{what}: the soft limit was not lowered\n{out}"
            );
            assert!(
                parse_fds(&out.stdout).contains_key(&63),
                "{what}: the inherited fd 63 did not arrive\n{out}"
            );
        }
    }
}
