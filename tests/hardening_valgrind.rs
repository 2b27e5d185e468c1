//! Memory checks: valgrind's memcheck runs the hardening programs
//! under the library and finds no error.
//!
//! `--trace-children=no`: an exec that works leaves valgrind (the probe runs
//! natively); the code under test is what runs before it, in the checked
//! process and in its fork children (which valgrind still runs). So every
//! memcheck report, from any of those processes, is on stderr, and there
//! must be none. `.ci/run` installs valgrind where it is missing.
//!
//! What cannot run under valgrind is left out: an execve that fails with
//! E2BIG (valgrind cannot recover from it), and the calls that pass bad
//! pointers on purpose (memcheck rightly reports them).

mod common;

use std::process::Command;

use common::*;

fn memcheck(program: &str, args: &[&str]) -> Option<Outcome> {
    if !require("valgrind", "memcheck runs the hardening programs") {
        return None;
    }
    build_once();
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "-q",
        "--error-exitcode=99",
        "--trace-children=no",
        "--leak-check=no",
    ])
    .arg(harness(program))
    .arg("--probe")
    .arg(harness("hard_probe"))
    .args(args);
    let out = run(cmd, Preload::With, &[], LONG);
    // memcheck's reports are `==PID== ...` lines; its warnings about fcntl
    // commands it does not know (the errno test's bad command) are not errors.
    let reports: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("==") && !l.contains("Warning: unimplemented fcntl command"))
        .collect();
    assert!(
        !out.timed_out && out.code != Some(99) && reports.is_empty(),
        "memcheck found errors in {program} {args:?}:\n{}\n{}",
        reports.join("\n"),
        out.describe()
    );
    Some(out)
}

#[test]
fn memcheck_errno_and_failed_execs() {
    let dir = TempDir::new("hard-vg-errno");
    let dir = dir.path().to_str().expect("utf-8 temp path").to_string();
    let args = [
        "--dir",
        &dir,
        "--no-final-exec",
        "--skip",
        "E2BIG",
        "--skip",
        "EFAULT",
        "--skip",
        "NULL",
    ];
    if let Some(out) = memcheck("hard_errno", &args) {
        assert!(out.success(), "{}", out.describe());
        assert!(out.stdout.contains("done failed 0"), "{}", out.describe());
    }
}

#[test]
fn memcheck_threads_fork_vfork_spawn() {
    let args = [
        "--fork",
        "10",
        "--vfork",
        "10",
        "--spawn",
        "5",
        "--threads",
        "2",
    ];
    if let Some(out) = memcheck("hard_stress", &args) {
        assert!(out.success(), "{}", out.describe());
    }
}

#[test]
fn memcheck_signal_handler_exec() {
    if let Some(out) = memcheck("hard_signal", &["--runs", "6"]) {
        assert!(out.success(), "{}", out.describe());
    }
}

#[test]
fn memcheck_hostile_argv_and_env() {
    for case in ["nonutf8", "bigenv"] {
        let dir = TempDir::new("hard-vg-hostile");
        let dir = dir.path().to_str().expect("utf-8 temp path").to_string();
        if let Some(out) = memcheck("hard_hostile", &["--dir", &dir, case]) {
            assert!(out.success(), "{case}: {}", out.describe());
            // Every child passed: the library really ran (without it, 41).
            let statuses: Vec<&str> = out
                .stdout
                .lines()
                .filter(|l| l.contains(" status "))
                .collect();
            assert!(
                !statuses.is_empty() && statuses.iter().all(|l| l.ends_with(" status 0")),
                "{case}: {}",
                out.describe()
            );
        }
    }
}
