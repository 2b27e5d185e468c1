//! The compatibility matrix's C parents: the oldest fd-passing idiom.
//!
//! A C parent (`c-harness/compat_parent.c`) makes a channel with `pipe()` or
//! `socketpair()` (inheritable), starts a child through `fork`+`execve`,
//! `vfork`+`execve` or `posix_spawn`, and tells it the channel's number in one
//! of five shapes (a number as its own argument, `--fd=N`, `R:W`,
//! `sh -c 'echo ok >&N'`, `APP_CHANNEL_FD=N`). The child writes to it and the
//! parent prints what it read. Every case runs without the library and with it
//! (default settings) and must behave the same.
//!
//! Next to the channel the parent opens a leak whose number it tells nobody;
//! the child ends by exec'ing the static probe, whose report must show the leak
//! without the library and must not show it with the library.
//!
//! The same parent built with `musl-gcc` (a dynamic musl program, into which
//! the glibc-built library is preloaded) runs the same matrix.

mod common;

use common::{
    Outcome, Preload, SHORT, TempDir, assert_same_behaviour, clean_command, harness, parse_fds,
    require, run,
};
use std::path::Path;
use std::process::Command;

/// How the parent starts the child (`compat_parent`'s LAUNCH).
const LAUNCHES: [&str; 3] = ["fork", "vfork", "spawn"];
/// What the channel is (`compat_parent`'s KIND).
const KINDS: [&str; 2] = ["pipe", "socketpair"];

/// How the child learns the channel's number.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `python3 -c '...os.write(int(sys.argv[1]), ...)' N`
    NumberArgument,
    /// `compat_child --fd=N`
    Option,
    /// `compat_child R:W` (the parent's end, then the child's)
    Pair,
    /// `sh -c 'echo ok >&N; ...'`
    ShellRedirect,
    /// `APP_CHANNEL_FD=N` in the child's environment
    Environment,
}

impl Shape {
    const ALL: [Shape; 5] = [
        Shape::NumberArgument,
        Shape::Option,
        Shape::Pair,
        Shape::ShellRedirect,
        Shape::Environment,
    ];

    /// What the child writes into the channel.
    fn message(self) -> &'static str {
        match self {
            Shape::NumberArgument => "ok number",
            Shape::Option => "ok option",
            Shape::Pair => "ok pair",
            Shape::ShellRedirect => "ok shell",
            Shape::Environment => "ok env",
        }
    }

    /// `compat_parent`'s options, `--`, and the child's command line, which
    /// ends by exec'ing the probe with its report in `report`. `{W}` and
    /// `{R}` are the channel's ends, substituted by the parent.
    fn command(self, report: &Path) -> Vec<String> {
        let probe = harness("probe").display().to_string();
        let child = harness("compat_child").display().to_string();
        let report = report.display().to_string();
        let then_probe = [probe.clone(), "--out".into(), report.clone()];
        let via_child = |told: &str| {
            let head = [child.clone(), told.to_string(), "--".into()];
            head.into_iter().chain(then_probe.clone()).collect()
        };
        let mut line: Vec<String> = match self {
            Shape::NumberArgument => {
                let script = r#"import os, sys
os.write(int(sys.argv[1]), b"ok number\n")
os.execv(sys.argv[2], sys.argv[2:])"#;
                let head = ["/usr/bin/python3", "-c", script, "{W}"].map(String::from);
                head.into_iter().chain(then_probe).collect()
            }
            Shape::Option => via_child("--fd={W}"),
            Shape::Pair => via_child("{R}:{W}"),
            Shape::ShellRedirect => {
                let script = r#"echo ok shell >&{W} && exec "$0" --out "$1""#;
                vec!["/bin/sh".into(), "-c".into(), script.into(), probe, report]
            }
            Shape::Environment => via_child("--env=APP_CHANNEL_FD"),
        };
        let mut options = match self {
            Shape::Environment => vec!["--env".to_string(), "APP_CHANNEL_FD={W}".into()],
            _ => vec![],
        };
        options.push("--".into());
        options.append(&mut line);
        options
    }
}

/// One run of `parent` (a path) for one case, and whether the planted leak
/// reached the probe.
fn run_case(
    parent: &Path,
    launch: &str,
    kind: &str,
    shape: Shape,
    lib: Preload,
) -> (Outcome, bool) {
    let dir = TempDir::new("compat-c");
    let leak = dir.join("planted-leak");
    let report = dir.join("probe-report");
    let mut cmd: Command = clean_command(parent, lib);
    cmd.arg(launch).arg(kind).arg(&leak);
    cmd.args(shape.command(&report));
    let outcome = run(cmd, lib, &[], SHORT);
    let fds = parse_fds(&dir.read("probe-report"));
    let leak_target = leak.display().to_string();
    (outcome, fds.values().any(|t| *t == leak_target))
}

/// Runs every launch x kind of one shape through `parent`, without and with
/// the library: same behaviour, the message arrived, the leak arrived only
/// without the library.
fn check_shape(parent: &Path, shape: Shape) {
    for launch in LAUNCHES {
        for kind in KINDS {
            let what = format!("{} {launch} {kind} {shape:?}", parent.display());
            let (without, leaked_without) = run_case(parent, launch, kind, shape, Preload::Without);
            let (with, leaked_with) = run_case(parent, launch, kind, shape, Preload::With);
            let expected = format!("channel: {}\nchild-status 0\n", shape.message());
            assert_eq!(
                without.stdout, expected,
                "{what}: the control run does not work\n{without}"
            );
            assert_same_behaviour(&what, &without, &with);
            assert!(
                leaked_without,
                "{what}: the planted leak did not reach the probe even without the library"
            );
            assert!(
                !leaked_with,
                "{what}: the planted leak reached the probe with the library\n{with}"
            );
        }
    }
}

fn glibc_parent() -> std::path::PathBuf {
    harness("compat_parent")
}

#[test]
fn number_as_its_own_argument() {
    check_shape(&glibc_parent(), Shape::NumberArgument);
}

#[test]
fn number_in_an_option() {
    check_shape(&glibc_parent(), Shape::Option);
}

#[test]
fn numbers_as_a_pair() {
    check_shape(&glibc_parent(), Shape::Pair);
}

#[test]
fn number_in_a_shell_redirect() {
    check_shape(&glibc_parent(), Shape::ShellRedirect);
}

#[test]
fn number_in_the_environment() {
    check_shape(&glibc_parent(), Shape::Environment);
}

/// The same matrix from a dynamic musl program: the glibc-built library is
/// preloaded into it (musl's loader answers its `libc.so.6` with musl itself).
#[test]
fn musl_parent_every_shape() {
    if !require("musl-gcc", "the musl build of the C parent") {
        return;
    }
    common::build_once();
    let parent = harness("compat_parent_musl");
    assert!(
        parent.exists(),
        "{} was not built (make all builds it where musl-gcc is installed)",
        parent.display()
    );
    let interp = Command::new("readelf")
        .arg("-l")
        .arg(&parent)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        interp.contains("ld-musl"),
        "{} is not a dynamic musl program:\n{interp}",
        parent.display()
    );
    for shape in Shape::ALL {
        check_shape(&parent, shape);
    }
}
