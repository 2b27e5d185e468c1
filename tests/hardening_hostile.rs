//! Hostile input: real execs with strange argv and environments,
//! fds near the hard limit, invalid pointers, a small signal stack, and the
//! exec path's stack use, measured.
//!
//! `c-harness/hard_hostile.c` runs one case per call (its header lists
//! them). In each, fd 100 is deliberate and fd 120 a leak, and each variant
//! prints `CASE VARIANT status S` (the probe's exit code: 0 as expected,
//! 40 a deliberate fd missing, 41 a leak arrived) or `CASE VARIANT ret R
//! errno E` for a call that fails in place. With the library every status
//! is 0; without it every status is 41 (the check can fail), and the
//! failing calls give the same result and errno both ways.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;

fn hostile(case: &str, preload: Preload, env: &[(&str, &str)]) -> Outcome {
    build_once();
    let dir = TempDir::new("hard-hostile");
    let mut cmd = Command::new(harness("hard_hostile"));
    cmd.arg("--probe")
        .arg(harness("hard_probe"))
        .arg("--dir")
        .arg(dir.path())
        .arg(case);
    run(cmd, preload, env, SHORT)
}

/// `VARIANT -> S` from the `CASE VARIANT status S` lines.
fn statuses(case: &str, text: &str) -> BTreeMap<String, i32> {
    text.lines()
        .filter_map(|l| l.strip_prefix(case)?.strip_prefix(' '))
        .filter_map(|l| {
            let (variant, status) = l.split_once(" status ")?;
            Some((variant.to_string(), status.trim().parse().ok()?))
        })
        .collect()
}

/// The `CASE VARIANT ret ...` lines (calls that fail in place).
fn returns<'a>(case: &str, text: &'a str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(case) && l.contains(" ret "))
        .collect()
}

fn assert_clean(what: &str, out: &Outcome) {
    assert!(!out.timed_out, "{what}: hung: {}", out.describe());
    assert!(out.success(), "{what}: {}", out.describe());
    assert!(
        out.stdout.lines().any(|l| l == "done failed 0"),
        "{what}: {}",
        out.describe()
    );
}

/// Runs `case` without and with the library: the control's children all see
/// the leak, the library's all pass; in-place failures match.
fn check(case: &str, env: &[(&str, &str)]) -> (Outcome, Outcome) {
    let control = hostile(case, Preload::Without, env);
    assert_clean(&format!("{case} control"), &control);
    let out = hostile(case, Preload::With, env);
    assert_clean(case, &out);

    let (c, w) = (statuses(case, &control.stdout), statuses(case, &out.stdout));
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        w.keys().collect::<Vec<_>>(),
        "{case}: the runs did different variants:\n{}\n{}",
        control.describe(),
        out.describe()
    );
    for (variant, status) in &c {
        assert_eq!(
            *status,
            41,
            "{case} {variant} control: without the library the leak must arrive: {}",
            control.describe()
        );
    }
    for (variant, status) in &w {
        assert_eq!(
            *status,
            0,
            "{case} {variant}: {}",
            match status {
                40 => "a deliberate fd was swept",
                41 => "a leak reached the child",
                s if *s >= 128 => "the child died by a signal",
                _ => "the child failed",
            }
            .to_string()
                + "\n"
                + &out.describe()
        );
    }
    assert_eq!(
        returns(case, &control.stdout),
        returns(case, &out.stdout),
        "{case}: failing calls differ under the library"
    );
    (control, out)
}

#[test]
fn argv_null_and_envp_null() {
    let (_, out) = check("argv-null", &[]);
    assert_eq!(statuses("argv-null", &out.stdout).len(), 5);
}

#[test]
fn non_utf8_argv_env_and_program_name() {
    let (_, out) = check("nonutf8", &[("CLOEXEC_LOG", "debug")]);
    assert_eq!(statuses("nonutf8", &out.stdout).len(), 5);
    // The log escapes the bytes that are not UTF-8 in the program's name.
    assert!(
        out.stderr.contains("probe-\\xff\\xfe-\\xc3("),
        "no escaped program name in the log: {}",
        out.describe()
    );
}

#[test]
fn one_mib_argument_and_thousands_of_fd_references() {
    let (control, _) = check("bigarg", &[]);
    // A string longer than MAX_ARG_STRLEN fails for everyone.
    assert!(
        control
            .stdout
            .contains("bigarg 1MiB-execve ret -1 errno E2BIG"),
        "{}",
        control.describe()
    );
    assert_eq!(statuses("bigarg", &control.stdout).len(), 3);
}

#[test]
fn hundred_thousand_environment_entries() {
    let (_, out) = check("bigenv", &[]);
    assert_eq!(statuses("bigenv", &out.stdout).len(), 4);
}

#[test]
fn fd_numbers_near_the_hard_limit() {
    let (_, out) = check("nearlimit", &[]);
    // The fd beyond the intent capacity needs a hard limit above 70000.
    // Raising it takes CAP_SYS_RESOURCE, which a container may withhold even
    // from root: that part is then left out, said on stderr, and not made a
    // failure under CLOEXEC_TEST_REQUIRE (no package can bring it).
    for line in out.stdout.lines().filter(|l| l.contains("skipped")) {
        eprintln!("part left out: {line}");
    }
    assert!(statuses("nearlimit", &out.stdout).len() >= 3);
}

/// Linux answers an invalid pointer handed to execve/execveat with EFAULT,
/// and glibc's execve, execv and execveat pass them straight to the kernel.
///
/// Under the library a bad *path* still fails with EFAULT (the hook reads it
/// only to log). A bad argv or envp is the documented limit (README, "What
/// is not covered"): the `smart` policy must read them (K5, K6) before the
/// kernel does, so the caller dies of SIGSEGV instead. `strict` reads
/// neither, so it fails exactly like the kernel.
#[test]
fn invalid_pointers_fail_like_the_kernel_or_as_documented() {
    let control = hostile("badptr", Preload::Without, &[]);
    assert_clean("badptr control", &control);
    let kernel = statuses("badptr", &control.stdout);
    assert!(
        !kernel.is_empty() && kernel.values().all(|&s| s == libc::EFAULT),
        "control: {}",
        control.describe()
    );
    for preload in [Preload::Strict, Preload::With] {
        let out = hostile("badptr", preload, &[]);
        assert_clean("badptr", &out);
        let got = statuses("badptr", &out.stdout);
        let differ: Vec<String> = kernel
            .keys()
            .filter_map(|v| {
                let reads_arrays =
                    v.ends_with("-argv") || v.ends_with("-argv-entry") || v.ends_with("-envp");
                let expected = if preload == Preload::With && reads_arrays {
                    139
                } else {
                    libc::EFAULT
                };
                (got.get(v) != Some(&expected))
                    .then(|| format!("{v}: expected {expected}, got {:?}", got.get(v)))
            })
            .collect();
        assert!(
            differ.is_empty(),
            "(status 139 = SIGSEGV)\n{}\n{}",
            differ.join("\n"),
            out.describe()
        );
    }
}

/// Crash handlers run on an alternate signal stack, classically SIGSTKSZ
/// (8192 bytes), and exec a reporter from there. The exec path must fit.
#[test]
fn exec_from_handler_on_an_8_kib_signal_stack() {
    let (_, out) = check("altstack", &[]);
    assert_eq!(statuses("altstack", &out.stdout).len(), 9);
}

/// The library's share of the exec path's stack may not exceed this. The
/// README states the measured figure; this is the ceiling it must stay under.
const STACK_BOUND: usize = 8 * 1024;

/// `CALL -> bytes` from the `stack CALL BYTES` lines.
fn stack_use(text: &str) -> BTreeMap<String, usize> {
    text.lines()
        .filter_map(|l| l.strip_prefix("stack "))
        .filter_map(|l| {
            let (name, n) = l.rsplit_once(' ')?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .filter(|(name, _)| name != "baseline" && name != "max")
        .collect()
}

#[test]
fn exec_path_stack_use_is_bounded() {
    // debug logging is the deepest path (every fd described); the log goes
    // to a file so that the output stays small.
    let logdir = TempDir::new("hard-stack-log");
    let log = logdir.path().join("log");
    let log = log.to_str().expect("utf-8 temp path");
    let env = [("CLOEXEC_LOG", "debug"), ("CLOEXEC_LOG_FILE", log)];
    let control = hostile("stack", Preload::Without, &env);
    assert_clean("stack control", &control);
    let out = hostile("stack", Preload::With, &env);
    assert_clean("stack", &out);

    let (c, w) = (stack_use(&control.stdout), stack_use(&out.stdout));
    assert!(!c.is_empty() && c.len() == w.len(), "{}", out.describe());
    let mut worst = ("", 0usize);
    let mut table = String::new();
    for (name, &with) in &w {
        let without = c.get(name).copied().unwrap_or(0);
        let extra = with.saturating_sub(without);
        table += &format!("{name:36} {without:>7} {with:>7} {extra:>7}\n");
        if extra > worst.1 {
            worst = (name, extra);
        }
    }
    eprintln!(
        "stack bytes (call, without, with, library's share):\n{table}max share {} bytes ({})",
        worst.1, worst.0
    );
    // The measurement sees the library at all (it can fail).
    assert!(
        w["execve"] > c["execve"],
        "the library's frames were not measured:\n{table}"
    );
    assert!(
        worst.1 <= STACK_BOUND,
        "{} uses {} bytes of stack in the library (bound {STACK_BOUND}):\n{table}",
        worst.0,
        worst.1
    );
    assert!(
        std::fs::metadata(log).is_ok_and(|m| m.len() > 0),
        "debug logging did not run"
    );
}
