//! A program built with the address sanitizer's dynamic runtime (gcc's
//! default for `-fsanitize=address`) aborts at start under any preload:
//! "ASan runtime does not come first in initial library list". `cloexec
//! COMMAND` and every `--profile` add the sanitizer's switch for preloads,
//! `verify_asan_link_order=0`, to the user's `ASAN_OPTIONS` (appended with a
//! `:`, never replacing, never twice, and not at all when the user set the
//! flag). Each run here uses `tests/fixtures/asan_leaky.c`, which leaks
//! /dev/null and execs the probe: the library must run it and still sweep.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Outcome, Preload, SHORT, TempDir};

/// What the sanitizer prints when something is preloaded before it.
const NOT_FIRST: &str = "ASan runtime does not come first in initial library list";

const SWITCH: &str = "verify_asan_link_order=0";

/// `tests/fixtures/asan_leaky.c` built with `gcc -fsanitize=address`, once
/// for this test binary; `None` (after [`common::missing`]) if gcc or the
/// sanitizer's runtime (libasan8, listed in `.ci/packages`) is not here.
fn asan_program() -> Option<&'static Path> {
    static PROGRAM: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            if !common::require("gcc", "it builds the sanitized program") {
                return None;
            }
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let exe = dir.join("asan_leaky");
            let tmp = dir.join(format!("asan_leaky.{}", std::process::id()));
            let out = Command::new("gcc")
                .args([
                    "-fsanitize=address",
                    "-g",
                    "-O1",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                ])
                .arg("-o")
                .arg(&tmp)
                .arg(common::fixture("asan_leaky.c"))
                .env_remove("LD_PRELOAD")
                .output()
                .expect("cannot run gcc");
            if !out.status.success() {
                common::missing(
                    &format!(
                        "gcc -fsanitize=address fails: {}",
                        common::text(&out.stderr).trim()
                    ),
                    "the sanitizer's runtime is libasan8; .ci/run installs it",
                );
                return None;
            }
            std::fs::rename(&tmp, &exe).expect("cannot install asan_leaky");
            Some(exe)
        })
        .as_deref()
}

fn wrapper() -> PathBuf {
    common::build_once();
    common::root().join("target/release/cloexec")
}

/// The sanitized program told to leak and exec the probe.
fn leaking(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg(common::harness("probe"));
    cmd
}

/// The same through `cloexec`, with `ASAN_OPTIONS` as `asan` (None: unset).
fn wrapped(program: &Path, asan: Option<&str>) -> Outcome {
    let mut cmd = Command::new(wrapper());
    cmd.arg(program).arg(common::harness("probe"));
    set_asan(&mut cmd, asan);
    common::run(cmd, Preload::Without, &[], SHORT)
}

fn set_asan(cmd: &mut Command, asan: Option<&str>) {
    match asan {
        Some(value) => cmd.env("ASAN_OPTIONS", value),
        None => cmd.env_remove("ASAN_OPTIONS"),
    };
}

/// The sanitized program's `asan-options` line.
fn asan_options(out: &Outcome) -> Option<&str> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("asan-options "))
}

/// The fd the sanitized program leaked, and whether it reached the probe.
fn leak_reached(out: &Outcome) -> (i32, bool) {
    let fd: i32 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("leak "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no leak line\n{out}"));
    let fds: BTreeMap<i32, String> = common::parse_fds(&out.stdout);
    (fd, fds.get(&fd).map(String::as_str) == Some("/dev/null"))
}

/// It started (the sanitizer let it), saw `options`, and its child ran.
fn assert_ran(out: &Outcome, options: &str, what: &str) {
    assert!(
        out.success() && out.stdout.contains("asan ok\n") && common::probe_runs(&out.stdout) == 1,
        "{what}: the sanitized program did not run\n{out}"
    );
    assert_eq!(asan_options(out), Some(options), "{what}\n{out}");
}

#[test]
fn plain_preload_aborts_and_the_wrapper_runs_it() {
    let Some(program) = asan_program() else {
        return;
    };
    // Control: without any preload it runs, and its leak reaches the probe.
    let mut control = leaking(program);
    set_asan(&mut control, None);
    let without = common::run(control, Preload::Without, &[], SHORT);
    assert_ran(&without, "unset", "without a preload");
    let (fd, reached) = leak_reached(&without);
    assert!(
        reached,
        "without the library fd {fd} reaches the probe\n{without}"
    );

    // The library in LD_PRELOAD alone: the sanitizer refuses to start.
    let mut plain = leaking(program);
    set_asan(&mut plain, None);
    let preloaded = common::run(plain, Preload::With, &[], SHORT);
    assert!(
        !preloaded.success()
            && preloaded.stderr.contains(NOT_FIRST)
            && !preloaded.stdout.contains("asan ok"),
        "a plain preload should make the sanitizer abort\n{preloaded}"
    );

    // Through the wrapper it runs, and the library still sweeps its leak.
    let with = wrapped(program, None);
    assert_ran(&with, SWITCH, "through cloexec");
    let (fd, reached) = leak_reached(&with);
    assert!(!reached, "through cloexec fd {fd} is swept\n{with}");
}

#[test]
fn the_wrapper_keeps_the_users_value() {
    let Some(program) = asan_program() else {
        return;
    };
    // Appended to what is there; an empty value is as none.
    let with = wrapped(program, Some("detect_leaks=0"));
    assert_ran(
        &with,
        &format!("detect_leaks=0:{SWITCH}"),
        "a value of the user's",
    );
    assert!(!leak_reached(&with).1, "swept\n{with}");
    assert_ran(&wrapped(program, Some("")), SWITCH, "an empty value");

    // Already there: not added twice (a nested cloexec adds nothing).
    let mut nested = Command::new(wrapper());
    nested
        .arg(wrapper())
        .arg(program)
        .arg(common::harness("probe"));
    set_asan(&mut nested, Some("detect_leaks=0"));
    let twice = common::run(nested, Preload::Without, &[], SHORT);
    assert_ran(
        &twice,
        &format!("detect_leaks=0:{SWITCH}"),
        "cloexec cloexec",
    );

    // The user chose the check: that choice stands, and the sanitizer aborts.
    let chosen = "detect_leaks=0:verify_asan_link_order=1";
    let refused = wrapped(program, Some(chosen));
    assert!(
        !refused.success() && refused.stderr.contains(NOT_FIRST),
        "the user's verify_asan_link_order=1 is kept\n{refused}"
    );
    let mut env = Command::new(wrapper());
    env.args(["/usr/bin/env"]);
    set_asan(&mut env, Some(chosen));
    let shown = common::run(env, Preload::Without, &[], SHORT);
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l == format!("ASAN_OPTIONS={chosen}")),
        "{shown}"
    );
}

/// The shells `--profile` writes for: name, the flags that skip its
/// start-up files, and a script that sources `$P` twice, then execs `$A`
/// (the sanitized program) with `$B` (the probe).
const SHELLS: [(&str, &[&str], &str); 8] = [
    ("sh", &[], POSIX),
    ("bash", &["--norc", "--noprofile"], POSIX),
    ("dash", &[], POSIX),
    ("zsh", &["-f"], POSIX),
    ("ksh", &[], POSIX),
    ("fish", &["--no-config"], OTHER),
    ("tcsh", &["-f"], OTHER),
    ("csh", &["-f"], OTHER),
];
const POSIX: &str = ". \"$P\"; . \"$P\"; exec \"$A\" \"$B\"";
const OTHER: &str = "source $P; source $P; exec $A $B";

#[test]
fn each_sourced_profile_runs_it() {
    let Some(program) = asan_program() else {
        return;
    };
    let dir = TempDir::new("sanitizers");
    for (name, flags, script) in SHELLS {
        if !common::require(name, "its profile line is tested in the real shell") {
            continue;
        }
        let out = Command::new(wrapper())
            .args(["--profile", "--shell", name])
            .env_remove("LD_PRELOAD")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            common::text(&out.stderr)
        );
        let profile = dir.write(&format!("profile.{name}"), &common::text(&out.stdout));
        for (before, after) in [
            (None, SWITCH.to_owned()),
            (Some("detect_leaks=0"), format!("detect_leaks=0:{SWITCH}")),
        ] {
            let mut cmd = Command::new(name);
            cmd.args(flags)
                .arg("-c")
                .arg(script)
                .env("P", &profile)
                .env("A", program)
                .env("B", common::harness("probe"));
            set_asan(&mut cmd, before);
            let what = format!("{name} with ASAN_OPTIONS {before:?}");
            let with = common::run(cmd, Preload::Without, &[], SHORT);
            assert_ran(&with, &after, &what);
            let (fd, reached) = leak_reached(&with);
            assert!(!reached, "{what}: fd {fd} is swept\n{with}");
        }
    }
}
