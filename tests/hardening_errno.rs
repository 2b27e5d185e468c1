//! Faults: failing execs and exact errno.
//!
//! `c-harness/hard_errno.c` calls the 13 exec/spawn entry points so that
//! they fail with ENOENT, EACCES, ENOEXEC and E2BIG (argv or envp bigger than
//! ARG_MAX), plus EFAULT/EBADF/EINVAL where they apply, and the spawners on
//! their successful paths; then dup2, dup3, fcntl, fcntl64 and ioctl on
//! success and failure. Each call starts with errno at a sentinel (12345) and
//! prints its result and errno. After each failed exec it checks that every
//! fd of the caller is open and works (pipe, file, socket pair, a deliberate
//! dup2). At the end a second exec runs the probe.
//!
//! The program runs twice, without and with the library; the outputs must
//! be identical, apart from `doc` lines (the execl family's documented cap
//! of 1023 arguments, checked here on its own).

mod common;

use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// The two runs, made once and shared by the tests below.
fn runs() -> (&'static Outcome, &'static Outcome) {
    static CONTROL: OnceLock<Outcome> = OnceLock::new();
    static WITH: OnceLock<Outcome> = OnceLock::new();
    (
        CONTROL.get_or_init(|| errno_run(Preload::Without)),
        WITH.get_or_init(|| errno_run(Preload::With)),
    )
}

fn errno_run(preload: Preload) -> Outcome {
    build_once();
    let dir = TempDir::new("hard-errno");
    let mut cmd = Command::new(harness("hard_errno"));
    cmd.arg("--probe")
        .arg(harness("hard_probe"))
        .arg("--dir")
        .arg(dir.path());
    run(cmd, preload, &[], SHORT)
}

/// The lines that must be the same with and without the library.
fn compared(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with("doc ")).collect()
}

/// Lines the control run must show: each case fails the way it is meant to
/// (otherwise the comparison would prove little).
const EXPECTED_IN_CONTROL: &[&str] = &[
    "execve ENOENT ret -1 errno ENOENT",
    "execve EACCES ret -1 errno EACCES",
    "execve ENOEXEC ret -1 errno ENOEXEC",
    "execve E2BIG argv ret -1 errno E2BIG",
    "execve E2BIG envp ret -1 errno E2BIG",
    "execve EFAULT NULL path ret -1 errno EFAULT",
    "execv ENOENT ret -1 errno ENOENT",
    "execv EACCES ret -1 errno EACCES",
    "execv ENOEXEC ret -1 errno ENOEXEC",
    "execv E2BIG ret -1 errno E2BIG",
    "execvp ENOENT ret -1 errno ENOENT",
    "execvp EACCES ret -1 errno EACCES",
    "execvp E2BIG ret -1 errno E2BIG",
    "execvp PATH EACCES ret -1 errno EACCES",
    "execvpe ENOENT ret -1 errno ENOENT",
    "execvpe EACCES ret -1 errno EACCES",
    "execvpe E2BIG argv ret -1 errno E2BIG",
    "execvpe PATH ENOENT ret -1 errno ENOENT",
    "execl ENOENT ret -1 errno ENOENT",
    "execl EACCES ret -1 errno EACCES",
    "execl ENOEXEC ret -1 errno ENOEXEC",
    "execl E2BIG ret -1 errno E2BIG",
    "execle ENOENT ret -1 errno ENOENT",
    "execle EACCES ret -1 errno EACCES",
    "execle ENOEXEC ret -1 errno ENOEXEC",
    "execle E2BIG ret -1 errno E2BIG",
    "execlp ENOENT ret -1 errno ENOENT",
    "execlp EACCES ret -1 errno EACCES",
    "execlp E2BIG ret -1 errno E2BIG",
    "execlp PATH EACCES ret -1 errno EACCES",
    "fexecve EBADF ret -1 errno EBADF",
    "fexecve EACCES ret -1 errno EACCES",
    "fexecve ENOEXEC ret -1 errno ENOEXEC",
    "fexecve E2BIG ret -1 errno E2BIG",
    "execveat ENOENT ret -1 errno ENOENT",
    "execveat EACCES ret -1 errno EACCES",
    "execveat ENOEXEC ret -1 errno ENOEXEC",
    "execveat E2BIG ret -1 errno E2BIG",
    "execveat EINVAL flags ret -1 errno EINVAL",
    "posix_spawn ENOENT ret ENOENT errno ENOENT",
    "posix_spawn EACCES ret EACCES errno EACCES",
    "posix_spawn ENOEXEC ret ENOEXEC errno ENOEXEC",
    "posix_spawn E2BIG ret E2BIG errno E2BIG",
    "posix_spawn ok ret 0 errno SENTINEL",
    "posix_spawnp ENOENT ret ENOENT errno ENOENT",
    "posix_spawnp PATH EACCES ret EACCES errno EACCES",
    "posix_spawnp E2BIG ret E2BIG errno E2BIG",
    "system NULL ret 1 errno SENTINEL",
    "system exit 7 ret 1792 errno SENTINEL",
    "popen echo read \"hi\" pclose 0",
    "popen EINVAL mode ret NULL errno EINVAL",
    "execl 1023 args child status 0",
    "dup2 ok ret 200 errno SENTINEL",
    "dup2 EBADF old ret -1 errno EBADF",
    "dup3 ok ret 202 errno SENTINEL",
    "dup3 EINVAL same ret -1 errno EINVAL",
    "dup3 EBADF ret -1 errno EBADF",
    "fcntl F_GETFD ret 0 errno SENTINEL",
    "fcntl F_SETFD EBADF ret -1 errno EBADF",
    "fcntl F_GETLK type 2 start 7 len 3",
    "fcntl64 F_SETFD 0 ret 0 errno SENTINEL",
    "fcntl64 F_GETFD EBADF ret -1 errno EBADF",
    "fcntl64 F_OFD_GETLK type 2 start 1 len 2",
    "ioctl FIONREAD ret 0 errno SENTINEL",
    "ioctl FIONREAD value 5",
    "ioctl FIONCLEX EBADF ret -1 errno EBADF",
    "ioctl TCGETS ENOTTY ret -1 errno ENOTTY",
    "done failed 0",
];

#[test]
fn every_wrapper_returns_and_sets_errno_like_the_real_call() {
    let (control, out) = runs();
    for (what, o) in [("control", control), ("library", out)] {
        assert!(!o.timed_out, "{what}: hung: {}", o.describe());
        // BROKEN: a check failed; FAIL (on stderr, from fail()): the setup did.
        let broken: Vec<&str> = (o.stdout.lines().filter(|l| l.starts_with("BROKEN")))
            .chain(o.stderr.lines().filter(|l| l.starts_with("FAIL ")))
            .collect();
        assert!(broken.is_empty(), "{what}: {broken:#?}\n{}", o.describe());
    }
    for line in EXPECTED_IN_CONTROL {
        assert!(
            control.stdout.lines().any(|l| l == *line),
            "control: no line '{line}': {}",
            control.describe()
        );
    }
    let (a, b) = (compared(&control.stdout), compared(&out.stdout));
    let differences: Vec<String> = a
        .iter()
        .zip(b.iter())
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("without: {x}\n   with: {y}"))
        .collect();
    assert!(
        differences.is_empty() && a.len() == b.len(),
        "results or errno differ under the library ({} vs {} lines):\n{}",
        a.len(),
        b.len(),
        differences.join("\n")
    );
}

#[test]
fn after_failed_execs_a_second_exec_works_and_sweeps() {
    let (control, out) = runs();
    // Control: the final exec reaches the probe, which sees the leaks (41).
    assert_eq!(control.code, Some(41), "control: {}", control.describe());
    // Library: same exec, the deliberate fd arrives, no leak does.
    assert!(out.success(), "{}", out.describe());
}

#[test]
fn execl_family_argument_cap_is_as_documented() {
    // README: execl/execle/execlp take at most 1023 arguments; more fail
    // with E2BIG (glibc has no such cap: the control execs).
    let (control, out) = runs();
    for entry in ["execl", "execlp", "execle"] {
        let line = format!("doc {entry} 1024 args child status");
        let status = |o: &Outcome| {
            o.stdout
                .lines()
                .find_map(|l| l.strip_prefix(line.as_str()))
                .map(str::trim)
                .map(str::to_string)
        };
        assert_eq!(status(control).as_deref(), Some("0"), "control {entry}");
        // 100 + E2BIG (7): the child's exit code after the failed call.
        assert_eq!(
            status(out).as_deref(),
            Some("107"),
            "{entry}: {}",
            out.describe()
        );
    }
}
