//! What a user sees (README "Settings" and "Logging"; man page LOGGING and
//! AUDIT MODE): the `info` and `debug` lines, audit mode, `CLOEXEC_MODE=off`,
//! bad settings, and log files that cannot be written. The leaky parent runs
//! the (static, never preloaded) probe through `execve`, so every
//! `libcloexec[…]` line comes from the parent.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;

fn leaky_execve(options: &[&str]) -> Command {
    leaky("execve", options, &[])
}

fn library_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("libcloexec["))
        .collect()
}

/// The leaks the parent reported, and the ones that reached the probe.
fn leaks_and_arrivals(out: &Outcome) -> (BTreeMap<i32, Leak>, Vec<i32>) {
    let leaks = parse_leaks(&out.stdout);
    let seen = leaks_seen(&leaks, &parse_fds(&out.stdout));
    (leaks, seen)
}

#[test]
fn info_names_every_swept_fd_with_its_target() {
    let out = run(
        leaky_execve(&[]),
        Preload::With,
        &[("CLOEXEC_LOG", "info")],
        SHORT,
    );
    assert!(out.success(), "{}", out.describe());
    let (leaks, seen) = leaks_and_arrivals(&out);
    assert!(seen.is_empty(), "swept: {}", out.describe());
    let lines = library_lines(&out.stderr);
    assert_eq!(
        lines.len(),
        1,
        "one line for the one exec: {}",
        out.describe()
    );
    let line = lines[0];
    let pid = line
        .strip_prefix("libcloexec[")
        .and_then(|l| l.split(']').next())
        .unwrap();
    assert!(pid.parse::<u32>().is_ok(), "pid in {line}");
    assert!(
        line.contains(": execve ") && line.contains("/probe (by leaky): swept "),
        "{line}"
    );
    for (fd, leak) in &leaks {
        assert!(
            line.contains(&format!("{fd} ({})", leak.target)),
            "fd {fd} ({}) missing from {line}",
            leak.target
        );
    }
    for kind in ["socket:[", "pipe:[", "anon_inode:[eventfd]"] {
        assert!(line.contains(kind), "{kind} in {line}");
    }
}

#[test]
fn debug_adds_the_kept_fds_and_their_rules() {
    let out = run(
        leaky_execve(&["--keep-dup2", "47"]),
        Preload::With,
        &[("CLOEXEC_LOG", "debug"), ("CLOEXEC_KEEP", "47")],
        SHORT,
    );
    assert!(out.success(), "{}", out.describe());
    let lines = library_lines(&out.stderr);
    let kept = lines
        .iter()
        .find(|l| l.contains(": kept "))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(
        kept.contains("47 (") && kept.contains("[K2 keep-list]"),
        "{kept}"
    );
    assert!(kept.contains("(sweep by close_range)"), "{kept}");
    assert!(
        lines.iter().any(|l| l.contains(": swept ")),
        "{}",
        out.describe()
    );
}

#[test]
fn audit_changes_nothing_and_says_would() {
    let control = run(leaky_execve(&[]), Preload::Without, &[], SHORT);
    let (leaks, seen_without) = leaks_and_arrivals(&control);
    assert_eq!(
        seen_without.len(),
        leaks.len(),
        "control: {}",
        control.describe()
    );

    // No CLOEXEC_LOG: audit mode shows its findings at info by itself.
    let out = run(
        leaky_execve(&[]),
        Preload::With,
        &[("CLOEXEC_MODE", "audit")],
        SHORT,
    );
    let (leaks, seen) = leaks_and_arrivals(&out);
    assert_eq!(
        seen.len(),
        leaks.len(),
        "audit swept nothing: {}",
        out.describe()
    );
    let lines = library_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(
        lines[0].contains(": would sweep ") && !lines[0].contains(": swept "),
        "{}",
        lines[0]
    );
}

#[test]
fn mode_off_changes_nothing_and_says_nothing() {
    let out = run(
        leaky_execve(&[]),
        Preload::With,
        &[("CLOEXEC_MODE", "off"), ("CLOEXEC_LOG", "debug")],
        SHORT,
    );
    let (leaks, seen) = leaks_and_arrivals(&out);
    assert!(!leaks.is_empty());
    assert_eq!(
        seen.len(),
        leaks.len(),
        "off swept nothing: {}",
        out.describe()
    );
    assert!(library_lines(&out.stderr).is_empty(), "{}", out.describe());
}

#[test]
fn a_bad_setting_warns_once_and_the_rest_is_used() {
    let out = run(
        leaky_execve(&["--keep-dup2", "47"]),
        Preload::Strict,
        &[("CLOEXEC_KEEP", "3-,abc,47")],
        SHORT,
    );
    assert!(out.success(), "the program runs on: {}", out.describe());
    let lines = library_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "exactly one line: {}", out.describe());
    assert!(
        lines[0].contains("warning: CLOEXEC_KEEP: ignoring \"3-\", \"abc\""),
        "names the variable and the bad parts: {}",
        lines[0]
    );
    let fds = parse_fds(&out.stdout);
    assert!(
        fds.contains_key(&47),
        "the good part (47) is used: {}",
        out.describe()
    );
    let (leaks, seen) = leaks_and_arrivals(&out);
    let swept_wrongly: Vec<_> = seen.iter().filter(|fd| leaks[fd].kind != "keep").collect();
    assert!(
        swept_wrongly.is_empty(),
        "still sweeping: {}",
        out.describe()
    );
}

#[test]
fn log_file_gets_whole_lines() {
    let dir = TempDir::new("log-file");
    let log = dir.join("cloexec.log");
    let env = [
        ("CLOEXEC_LOG", "info"),
        ("CLOEXEC_LOG_FILE", log.to_str().unwrap()),
    ];
    for _ in 0..3 {
        let out = run(leaky_execve(&[]), Preload::With, &env, SHORT);
        assert!(out.success(), "{}", out.describe());
        assert!(
            library_lines(&out.stderr).is_empty(),
            "the file, not stderr: {}",
            out.describe()
        );
    }
    let text = std::fs::read_to_string(&log).expect("log file written");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "appended, one line per exec: {text}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("libcloexec[") && l.contains(": swept ")),
        "{text}"
    );
    assert!(text.ends_with('\n'));
}

#[test]
fn an_unwritable_log_file_drops_the_line_and_the_exec_goes_on() {
    let dir = TempDir::new("log-unwritable");
    let missing_dir = dir.join("no/such/dir/x.log");
    let a_directory = dir.path().to_str().unwrap().to_owned();
    for path in [missing_dir.to_str().unwrap(), "/dev/full", &a_directory] {
        let env = [
            ("CLOEXEC_LOG", "debug"),
            ("CLOEXEC_LOG_FILE", path),
            ("CLOEXEC_KEEP", "zz"),
        ];
        let out = run(leaky_execve(&[]), Preload::With, &env, SHORT);
        assert!(out.success(), "{path}: {}", out.describe());
        assert_eq!(
            probe_runs(&out.stdout),
            1,
            "{path}: the exec went on: {}",
            out.describe()
        );
        let (_, seen) = leaks_and_arrivals(&out);
        assert!(seen.is_empty(), "{path}: still swept: {}", out.describe());
        assert!(
            library_lines(&out.stderr).is_empty(),
            "{path}: no output anywhere else: {}",
            out.describe()
        );
    }
    assert!(!missing_dir.exists());
}
