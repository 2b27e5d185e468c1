//! Every one of the 13 entry points, driven by the C harness: the leaky
//! parent opens fds of every kind without close-on-exec (low numbers, and
//! high ones made with `F_DUPFD`), then runs the probe through the entry
//! point; the probe reports every fd it got. For each entry point:
//!
//! 1. control, without the library: every leak reaches the probe (so the
//!    harness can see a leak);
//! 2. with the library and `CLOEXEC_POLICY=strict`: none does, and the probe
//!    has nothing but 0, 1 and 2 (strict sweeps the fds this machine hands
//!    every process, too);
//! 3. with `CLOEXEC_KEEP` naming two fds the parent placed with `dup2`:
//!    exactly those two reach the probe.

mod common;

use common::*;
use std::collections::BTreeSet;

const STRICT: &[(&str, &str)] = &[("CLOEXEC_POLICY", "strict")];

/// The kinds the leaky parent must have opened for the run to mean anything.
const KINDS: [&str; 12] = [
    "file",
    "dir",
    "socketpair",
    "socket",
    "pipe-r",
    "pipe-w",
    "eventfd",
    "epoll",
    "memfd",
    "dup",
    "high-pipe-w",
    "high-socket",
];

fn assert_ran(entry: &str, what: &str, out: &Outcome) {
    assert!(
        out.success(),
        "{entry} {what}: leaky failed: {}",
        out.describe()
    );
    assert_eq!(
        probe_runs(&out.stdout),
        1,
        "{entry} {what}: the probe did not report once: {}",
        out.describe()
    );
    assert_eq!(
        probe_mark(&out.stdout),
        Some(entry),
        "{entry} {what}: the probe did not get the environment the entry passed: {}",
        out.describe()
    );
}

fn check_entry(entry: &str) {
    build_once();

    // 1. Control: without the library every leak reaches the probe.
    let control = run(leaky(entry, &[], &[]), Preload::Without, STRICT, SHORT);
    assert_ran(entry, "control", &control);
    let leaks = parse_leaks(&control.stdout);
    let nleaks = leaks.len();
    let kinds: BTreeSet<&str> = leaks.values().map(|l| l.kind.as_str()).collect();
    for kind in KINDS {
        assert!(
            kinds.contains(kind),
            "{entry} control: no {kind} leak: {}",
            control.describe()
        );
    }
    assert!(
        leaks.keys().any(|&n| n >= 500),
        "{entry} control: no high leak: {}",
        control.describe()
    );
    let fds = parse_fds(&control.stdout);
    let seen = leaks_seen(&leaks, &fds);
    assert_eq!(
        seen,
        leaks.keys().copied().collect::<Vec<_>>(),
        "{entry} control: not every leak reached the probe: {}",
        control.describe()
    );

    // 2. With the library, strict: no leak reaches the probe, nor anything but 0-2.
    let out = run(leaky(entry, &[], &[]), Preload::With, STRICT, SHORT);
    assert_ran(entry, "strict", &out);
    let leaks = parse_leaks(&out.stdout);
    assert_eq!(
        leaks.len(),
        nleaks,
        "{entry} strict: leak set changed: {}",
        out.describe()
    );
    let fds = parse_fds(&out.stdout);
    let seen = leaks_seen(&leaks, &fds);
    assert!(
        seen.is_empty(),
        "{entry} strict: leaked fds reached the probe: {}\n{}",
        name_leaks(&leaks, &seen),
        out.describe()
    );
    let extra: Vec<i32> = fds.keys().copied().filter(|&n| n > 2).collect();
    assert!(
        extra.is_empty(),
        "{entry} strict: the probe got fds beyond 0-2: {extra:?}\n{}",
        out.describe()
    );

    // 3. CLOEXEC_KEEP: the named fds reach the probe, nothing else does.
    let keep_env = [("CLOEXEC_POLICY", "strict"), ("CLOEXEC_KEEP", "47,700-702")];
    let opts = [
        "--keep-dup2",
        "47",
        "--keep-dup2",
        "701",
        "--keep-dup2",
        "48",
    ];
    let out = run(leaky(entry, &opts, &[]), Preload::With, &keep_env, SHORT);
    assert_ran(entry, "keep", &out);
    let leaks = parse_leaks(&out.stdout);
    assert!(
        [47, 48, 701]
            .iter()
            .all(|n| leaks.get(n).is_some_and(|l| l.kind == "keep")),
        "{entry} keep: the keep fds were not set up: {}",
        out.describe()
    );
    let fds = parse_fds(&out.stdout);
    assert_eq!(
        leaks_seen(&leaks, &fds),
        vec![47, 701],
        "{entry} keep: with CLOEXEC_KEEP=47,700-702 exactly 47 and 701 must reach the probe: {}",
        out.describe()
    );
    let extra: Vec<i32> = fds
        .keys()
        .copied()
        .filter(|&n| n > 2 && n != 47 && n != 701)
        .collect();
    assert!(
        extra.is_empty(),
        "{entry} keep: the probe got fds beyond 0-2 and the kept ones: {extra:?}\n{}",
        out.describe()
    );
}

macro_rules! entry_tests {
    ($($entry:ident),* $(,)?) => {
        /// The entries that have a test here.
        const TESTED: &[&str] = &[$(stringify!($entry)),*];
        $(
            #[test]
            fn $entry() {
                check_entry(stringify!($entry));
            }
        )*
    };
}

/// A hook added to `c-harness/entry_points.h` needs its test here.
#[test]
fn every_entry_has_a_test() {
    assert_eq!(TESTED, ENTRIES);
}

entry_tests!(
    execve,
    execv,
    execvp,
    execvpe,
    execl,
    execle,
    execlp,
    fexecve,
    execveat,
    posix_spawn,
    posix_spawnp,
    system,
    popen,
);
