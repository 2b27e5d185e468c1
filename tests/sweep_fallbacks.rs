//! Each rung of the sweep ladder, forced for real in the leaky parent
//! (`CLOEXEC_POLICY=strict`), the way systemd's test-fd-util runs one check
//! four ways:
//!
//! | run | what the library meets | rung an exec must use | a spawn |
//! |---|---|---|---|
//! | seccomp, close_range -> ENOSYS / EPERM / EINVAL | close_range fails | `/proc/self/fd` walk | `/proc/self/fd` |
//! | fd table full (EMFILE) | nothing can be opened | close_range | probing |
//! | fd table full + seccomp ENOSYS | neither works | probing up to the soft RLIMIT_NOFILE | probing |
//! | empty tmpfs over /proc (`noproc`) | no procfs | close_range | probing |
//! | empty tmpfs over /proc + seccomp ENOSYS | neither works | probing up to the soft RLIMIT_NOFILE | probing |
//!
//! A spawn (`posix_spawn`, `posix_spawnp`, `system`, `popen`) marks the
//! caller's own fds one by one and notes them, to give them back once the
//! call returns: it walks `/proc/self/fd`, and probes without it; it never
//! uses `close_range`, which marks without saying what it changed.
//!
//! The leaky parent checks its own setup (close_range really fails with the
//! errno asked for; `open` really fails with EMFILE) and exits with its own
//! code if not. Each run is done through several entry points, with a
//! control without the library that shows every leak reaching the probe.
//!
//! No leak arriving is not enough: a later rung would cover for a broken
//! earlier one. So the library runs at `CLOEXEC_LOG=debug`, and its line for
//! the leaky parent's call must name the rung (`sweep by close_range`,
//! `sweep by /proc/self/fd`, `sweep by probing`). The lines go to stderr, not
//! to a `CLOEXEC_LOG_FILE`: the library opens the file for each line, which a
//! full fd table refuses.
//!
//! If no mount namespace can be made, the /proc runs fail under
//! `CLOEXEC_TEST_REQUIRE=1` and are skipped with the reason otherwise.

mod common;

use common::*;
use std::process::Command;

const STRICT: &[(&str, &str)] = &[("CLOEXEC_POLICY", "strict")];
/// The strict runs with the library: its debug lines (on stderr) name the rung.
const STRICT_DEBUG: &[(&str, &str)] = &[("CLOEXEC_POLICY", "strict"), ("CLOEXEC_LOG", "debug")];

/// The entries that work with a full fd table: all but `popen`, which fails
/// to make its pipe (in the library run too, as the fds are only marked).
/// (Without the library `system`'s shell cannot load its libraries either:
/// its control is left out. The statically linked probe starts anyway.)
fn full_table_entries() -> Vec<&'static str> {
    ENTRIES
        .iter()
        .copied()
        .filter(|&entry| entry != "popen")
        .collect()
}

/// The rungs of the sweep ladder, as the library's debug line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rung {
    CloseRange,
    Proc,
    Probing,
}

impl Rung {
    fn label(self) -> &'static str {
        match self {
            Rung::CloseRange => "close_range",
            Rung::Proc => "/proc/self/fd",
            Rung::Probing => "probing",
        }
    }
}

struct Variant<'a> {
    /// leaky options that set the scene.
    opts: &'a [&'a str],
    /// Lines the leaky parent prints once its setup is verified.
    setup_lines: &'a [&'a str],
    /// Run under `noproc` (an empty tmpfs over /proc).
    no_procfs: bool,
    entries: &'a [&'a str],
    /// Entries whose control run cannot work (see [`full_table_entries`]).
    no_control: &'a [&'a str],
    /// The rung the leaky parent's sweep must use for an exec.
    rung: Rung,
    /// The rung for a spawn.
    spawn_rung: Rung,
}

/// The entries that start a child from the caller's own fd table.
const SPAWNS: [&str; 4] = ["posix_spawn", "posix_spawnp", "system", "popen"];

enum Check {
    Done(Vec<String>),
    Skip(String),
}

fn command(v: &Variant, entry: &str) -> Command {
    let cmd = leaky(entry, v.opts, &[]);
    if !v.no_procfs {
        return cmd;
    }
    let mut wrapped = Command::new(harness("noproc"));
    wrapped.arg(cmd.get_program()).args(cmd.get_args());
    wrapped
}

/// Common checks of one run; returns what failed.
fn scene_problems(v: &Variant, what: &str, out: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if !out.success() {
        problems.push(format!("{what}: leaky failed: {}", out.describe()));
        return problems;
    }
    for line in v.setup_lines {
        if !out.stdout.lines().any(|l| l.starts_with(line)) {
            problems.push(format!("{what}: no '{line}' line: {}", out.describe()));
        }
    }
    if probe_runs(&out.stdout) != 1 {
        problems.push(format!(
            "{what}: the probe did not report once: {}",
            out.describe()
        ));
    }
    let hidden = out
        .stdout
        .lines()
        .any(|l| l.starts_with("probe method scan"));
    if v.no_procfs && !hidden {
        problems.push(format!(
            "{what}: /proc was not hidden from the probe: {}",
            out.describe()
        ));
    }
    problems
}

fn check_variant(v: &Variant) -> Check {
    build_once();
    let mut problems = Vec::new();
    for &entry in v.entries {
        if !v.no_control.contains(&entry) {
            let control = run(command(v, entry), Preload::Without, STRICT, SHORT);
            if let Some(reason) = skip_reason(&control) {
                return Check::Skip(reason);
            }
            let mut found = scene_problems(v, &format!("{entry} control"), &control);
            let leaks = parse_leaks(&control.stdout);
            let seen = leaks_seen(&leaks, &parse_fds(&control.stdout));
            if found.is_empty() && (leaks.is_empty() || seen.len() != leaks.len()) {
                found.push(format!(
                    "{entry} control: not every leak reached the probe: {}",
                    control.describe()
                ));
            }
            problems.append(&mut found);
        }

        let out = run(command(v, entry), Preload::With, STRICT_DEBUG, SHORT);
        if let Some(reason) = skip_reason(&out) {
            return Check::Skip(reason);
        }
        let mut found = scene_problems(v, &format!("{entry} strict"), &out);
        if found.is_empty() {
            let leaks = parse_leaks(&out.stdout);
            let fds = parse_fds(&out.stdout);
            let seen = leaks_seen(&leaks, &fds);
            let extra: Vec<i32> = fds.keys().copied().filter(|&n| n > 2).collect();
            if leaks.is_empty() || !seen.is_empty() || !extra.is_empty() {
                found.push(format!(
                    "{entry} strict: {} leaks reached the probe: {}; fds beyond 0-2: {extra:?}\n{}",
                    seen.len(),
                    name_leaks(&leaks, &seen),
                    out.describe()
                ));
            }
            let rung = if SPAWNS.contains(&entry) {
                v.spawn_rung
            } else {
                v.rung
            };
            found.extend(rung_problem(rung, entry, &out));
        }
        problems.append(&mut found);
    }
    Check::Done(problems)
}

/// The rungs named by the library's debug lines for the leaky parent's
/// `entry` call: `libcloexec[PID]: ENTRY PROGRAM (by CALLER): kept ... (sweep by RUNG)`.
/// Lines of other calls are left out: the shell that `system` and `popen`
/// start makes its own `execve`, with room in its fd table, and `noproc`
/// execs the leaky parent itself before the scene is set.
fn rungs_used<'a>(entry: &str, stderr: &'a str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|line| line.split_once("]: "))
        .filter(|(head, _)| head.starts_with("libcloexec["))
        .filter(|(_, rest)| rest.split(' ').next() == Some(entry))
        .filter(|(_, rest)| !rest.contains("/leaky (by "))
        .filter_map(|(_, rest)| rest.rsplit_once("(sweep by "))
        .map(|(_, rung)| rung.trim_end_matches(')'))
        .collect()
}

/// Says what is wrong unless the leaky parent swept exactly once, by `rung`.
fn rung_problem(rung: Rung, entry: &str, out: &Outcome) -> Option<String> {
    let used = rungs_used(entry, &out.stderr);
    (used != [rung.label()]).then(|| {
        format!(
            "{entry} strict: the sweep must use {} and used {used:?}: {}",
            rung.label(),
            out.describe()
        )
    })
}

/// noproc exits 77 with "SKIP: ..." when no mount namespace can be made.
fn skip_reason(out: &Outcome) -> Option<String> {
    if out.code != Some(77) {
        return None;
    }
    out.stderr
        .lines()
        .find(|l| l.starts_with("SKIP:"))
        .map(str::to_string)
}

fn assert_variant(name: &str, v: &Variant) {
    match check_variant(v) {
        Check::Skip(reason) => missing(
            &format!("a mount namespace for {name}"),
            &format!("noproc hides /proc in one: {reason}"),
        ),
        Check::Done(problems) => assert!(
            problems.is_empty(),
            "{name}: {} problem(s):\n\n{}",
            problems.len(),
            problems.join("\n\n")
        ),
    }
}

fn seccomp(err: &str) {
    let opts = ["--seccomp-close-range", err];
    let line = format!("seccomp-ok close_range {err}");
    assert_variant(
        &format!("seccomp {err}"),
        &Variant {
            opts: &opts,
            setup_lines: &[&line],
            no_procfs: false,
            entries: &ENTRIES,
            no_control: &[],
            rung: Rung::Proc,
            spawn_rung: Rung::Proc,
        },
    );
}

#[test]
fn close_range_enosys_uses_proc() {
    seccomp("ENOSYS");
}

#[test]
fn close_range_eperm_uses_proc() {
    seccomp("EPERM");
}

#[test]
fn close_range_einval_uses_proc() {
    seccomp("EINVAL");
}

#[test]
fn full_fd_table_uses_close_range() {
    assert_variant(
        "full fd table",
        &Variant {
            opts: &["--fill-fds"],
            setup_lines: &["fill-ok"],
            no_procfs: false,
            entries: &full_table_entries(),
            no_control: &["system"],
            rung: Rung::CloseRange,
            spawn_rung: Rung::Probing,
        },
    );
}

#[test]
fn full_fd_table_and_no_close_range_uses_probing() {
    assert_variant(
        "full fd table + seccomp ENOSYS",
        &Variant {
            opts: &["--seccomp-close-range", "ENOSYS", "--fill-fds"],
            setup_lines: &["seccomp-ok close_range ENOSYS", "fill-ok"],
            no_procfs: false,
            entries: &full_table_entries(),
            no_control: &["system"],
            rung: Rung::Probing,
            spawn_rung: Rung::Probing,
        },
    );
}

#[test]
fn no_procfs_uses_close_range() {
    assert_variant(
        "no procfs",
        &Variant {
            opts: &[],
            setup_lines: &[],
            no_procfs: true,
            entries: &ENTRIES,
            no_control: &[],
            rung: Rung::CloseRange,
            spawn_rung: Rung::Probing,
        },
    );
}

#[test]
fn no_procfs_and_no_close_range_uses_probing() {
    assert_variant(
        "no procfs + seccomp ENOSYS",
        &Variant {
            opts: &["--seccomp-close-range", "ENOSYS"],
            setup_lines: &["seccomp-ok close_range ENOSYS"],
            no_procfs: true,
            entries: &ENTRIES,
            no_control: &[],
            rung: Rung::Probing,
            spawn_rung: Rung::Probing,
        },
    );
}
