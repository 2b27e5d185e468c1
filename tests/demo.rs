//! `make demo`, part 1, as a test: `demo/reload_demo.py` runs a server that
//! leaks a log file and a socket through ctypes and re-execs itself on every
//! reload, first without the library (the control: the leak must pile up)
//! and then with it (the count must stay flat, and the library must say what
//! it swept). The CherryPy part needs the network and is not tested here.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Outcome, PYTHON, Preload, require};

/// Reloads per run: enough to see a trend, few enough to stay fast.
const RELOADS: usize = 5;
/// The whole demo takes about a second; this only catches a hang.
const LIMIT: Duration = Duration::from_secs(60);

/// The server's fd counts after its first start and after each reload, and
/// what the library logged, as `reload_demo.py --machine` prints them.
#[derive(Debug, Default)]
struct Report {
    without: Vec<usize>,
    with: Vec<usize>,
    log: Vec<String>,
}

fn numbers(rest: &str) -> Vec<usize> {
    rest.split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("not a count: {n:?}")))
        .collect()
}

fn parse_machine(stdout: &str) -> Report {
    let mut report = Report::default();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("without ") {
            report.without = numbers(rest);
        } else if let Some(rest) = line.strip_prefix("with ") {
            report.with = numbers(rest);
        } else if let Some(rest) = line.strip_prefix("log ") {
            report.log.push(rest.to_string());
        }
    }
    report
}

/// The table of the human output: rows of `reload without with`.
fn parse_table(stdout: &str) -> Report {
    let mut report = Report::default();
    for line in stdout.lines() {
        let cells: Vec<usize> = line
            .split_whitespace()
            .map_while(|c| c.parse().ok())
            .collect();
        if cells.len() == 3 && line.split_whitespace().count() == 3 {
            assert_eq!(
                cells[0],
                report.without.len(),
                "rows out of order: {line:?}"
            );
            report.without.push(cells[1]);
            report.with.push(cells[2]);
        } else if let Some(at) = line.find("libcloexec[") {
            report.log.push(line[at..].to_string());
        }
    }
    report
}

/// Runs the demo driver (itself without the library; it preloads the
/// library into the server's second run only), or None if there is no
/// `/usr/bin/python3` to run it with.
fn run_demo(extra: &[&str]) -> Option<Outcome> {
    if !require(PYTHON, "the demo server is a Python program") {
        return None;
    }
    common::build_once();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(common::root().join("demo/reload_demo.py"))
        .arg("--lib")
        .arg(common::lib_path())
        .args(["--reloads", &RELOADS.to_string()])
        .args(extra);
    let out = common::run(cmd, Preload::Without, &[], LIMIT);
    assert!(out.success(), "reload_demo.py failed: {}", out.describe());
    Some(out)
}

/// What both output formats must show.
fn check(report: &Report, out: &Outcome) {
    let context = || format!("{report:?}\n{}", out.describe());
    assert_eq!(report.without.len(), RELOADS + 1, "{}", context());
    assert_eq!(report.with.len(), RELOADS + 1, "{}", context());
    // The control: without the library every reload leaks at least one more fd.
    for (i, pair) in report.without.windows(2).enumerate() {
        assert!(
            pair[1] > pair[0],
            "without the library reload {} did not leak: {}",
            i + 1,
            context()
        );
    }
    // With it, the count never moves from where both runs started.
    assert_eq!(report.with[0], report.without[0], "{}", context());
    assert!(
        report.with.iter().all(|&n| n == report.with[0]),
        "with the library the fd count changed: {}",
        context()
    );
}

#[test]
fn reload_demo_leaks_without_the_library_and_not_with_it() {
    let Some(out) = run_demo(&["--machine"]) else {
        return;
    };
    let report = parse_machine(&out.stdout);
    check(&report, &out);
    // One info line per reload, each naming the two leaked fds.
    assert_eq!(report.log.len(), RELOADS, "{}", out.describe());
    for line in &report.log {
        assert!(line.starts_with("libcloexec["), "{line:?}");
        assert!(line.contains("execv"), "{line:?}");
        assert!(line.contains("swept"), "{line:?}");
        assert!(
            line.contains("/app.log"),
            "the log file is not named: {line:?}"
        );
        assert!(
            line.contains("socket:["),
            "the socket is not named: {line:?}"
        );
    }
}

#[test]
fn reload_demo_table_shows_the_same_story() {
    let Some(out) = run_demo(&[]) else {
        return;
    };
    let report = parse_table(&out.stdout);
    check(&report, &out);
    assert_eq!(
        report.log.len(),
        1,
        "one log line is shown: {}",
        out.describe()
    );
    assert!(report.log[0].contains("swept"), "{}", out.describe());
}

/// `make demo` ends with `cloexec report` over the log that `--save-log`
/// keeps: one program (the server's interpreter), one exec per reload, the
/// log file and the socket each swept once per reload.
#[test]
fn reload_demo_log_makes_the_closing_report() {
    let dir = common::TempDir::new("demo-report");
    let saved = dir.join("reload.log");
    let Some(_) = run_demo(&["--machine", "--save-log", saved.to_str().unwrap()]) else {
        return;
    };
    let mut cmd = Command::new(common::root().join("target/release/cloexec"));
    cmd.arg("report").arg(&saved);
    let out = common::run(cmd, Preload::Without, &[], LIMIT);
    assert!(out.success(), "{}", out.describe());
    let first = out.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "cloexec report: {RELOADS} execs by 1 caller swept {} fds (in 1 program)",
            2 * RELOADS
        ),
        "{}",
        out.describe()
    );
    for kind in ["file", "socket"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().nth(2) == Some(kind)
                    && l.split_whitespace().next() == Some(&RELOADS.to_string())),
            "no row of {RELOADS} {kind} leaks: {}",
            out.describe()
        );
    }
}
