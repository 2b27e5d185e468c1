//! The story the project comes from: an autoreloader re-execs its server
//! after every edit, and a C library inside it leaks one fd per start.
//!
//! The real Debian `/usr/bin/python3` leaks an fd through `ctypes` (libc
//! `open` without `O_CLOEXEC`, which is how a C extension leaks) and re-execs
//! itself with `os.execv` five times, printing its open-fd count each time.
//! It starts with only fds 0-2, so the counts can be compared exactly.
//! Without the library the count grows by one per exec; with it, under
//! `CLOEXEC_POLICY=strict` and under the default smart policy, it stays flat.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

// The generation travels as `gen-N`, one word: a bare number in an argument
// names that fd to the library (K5), and would keep the very leak counted.
const SCRIPT: &str = r#"
import ctypes, os, sys
gen = int(sys.argv[1].removeprefix("gen-"))
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.open(b"/dev/null", os.O_RDONLY)
if fd < 0 or not os.get_inheritable(fd):
    sys.exit("the ctypes open did not leak an inheritable fd")
print("gen %d fds %d leak %d" % (gen, len(os.listdir("/proc/self/fd")), fd), flush=True)
if gen < 5:
    os.execv(sys.executable, [sys.executable, "-I", sys.argv[0], "gen-%d" % (gen + 1)])
"#;

/// Runs the re-exec chain and returns the fd count of each generation.
fn fd_counts(script: &Path, preload: Preload, env: &[(&str, &str)]) -> Vec<usize> {
    let mut cmd = Command::new(PYTHON);
    cmd.arg("-I").arg(script).arg("gen-0");
    close_inherited_fds(&mut cmd);
    let out = run(cmd, preload, env, SHORT);
    assert!(
        out.success(),
        "python chain failed ({preload:?}, {env:?}): {}",
        out.describe()
    );
    let counts: Vec<usize> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("gen "))
        .map(|l| {
            let words: Vec<&str> = l.split(' ').collect();
            words[2].parse().expect("fd count")
        })
        .collect();
    assert_eq!(
        counts.len(),
        6,
        "six generations expected ({preload:?}, {env:?}): {}",
        out.describe()
    );
    counts
}

#[test]
fn python_reexec_leaks_stay_flat() {
    if !require(PYTHON, "the re-exec chain is a Python program") {
        return;
    }
    build_once();
    let dir = TempDir::new("python");
    let script = dir.path().join("reexec.py");
    std::fs::write(&script, SCRIPT).expect("write script");

    let control = fd_counts(&script, Preload::Without, &[]);
    for pair in control.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "control: without the library the count must grow by one per exec: {control:?}"
        );
    }

    for env in [&[("CLOEXEC_POLICY", "strict")][..], &[][..]] {
        let counts = fd_counts(&script, Preload::With, env);
        assert!(
            counts.iter().all(|&c| c == counts[0]),
            "with the library ({env:?}) the count must stay flat: {counts:?} (control {control:?})"
        );
        assert_eq!(
            counts[0], control[0],
            "generation 0 is the same with and without the library"
        );
    }
}
