//! Fork children that build their own fd table (K11 curated, K12 own
//! channel, K13 made in the child), and spawning parents whose fds must be
//! as they left them after the library's sweep (the marks never outlive
//! their call). `c-harness/children.c` sets each case up as a real program
//! does and execs the probe; every case runs without the library first
//! (the control: every fd it prints arrives) and then with it.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Outcome, Preload, SHORT, build_once, harness, parse_fds, run};

/// What one run showed: the fds the case printed under each label, and
/// the fds the probe saw.
struct Seen {
    labelled: BTreeMap<String, Vec<i32>>,
    arrived: BTreeMap<i32, String>,
    outcome: Outcome,
}

impl Seen {
    fn fds(&self, label: &str) -> &[i32] {
        self.labelled.get(label).map_or(&[], Vec::as_slice)
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.outcome
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
    }
}

fn children(preload: Preload, case: &str) -> Seen {
    build_once();
    let mut cmd = Command::new(harness("children"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .args([case, "--"])
        .arg(harness("probe"));
    let outcome = run(cmd, preload, &[], SHORT);
    assert!(outcome.success(), "{case}: failed\n{outcome}");
    assert_eq!(
        outcome
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("child-status ")),
        Some("0"),
        "{case}: the child failed\n{outcome}"
    );
    let mut labelled: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for line in outcome.stdout.lines() {
        let mut words = line.split(' ');
        if let (Some(label @ ("told" | "leak" | "unseen")), Some(n), None) =
            (words.next(), words.next(), words.next())
        {
            labelled
                .entry(label.to_string())
                .or_default()
                .push(n.parse().expect("an fd number"));
        }
    }
    let arrived = parse_fds(&outcome.stdout);
    Seen {
        labelled,
        arrived,
        outcome,
    }
}

/// Runs `case` without and with the library: every labelled fd arrives in
/// the control; with the library `told` fds arrive and the rest do not.
fn told_kept_rest_swept(case: &str) -> Seen {
    let control = children(Preload::Without, case);
    for (label, fds) in &control.labelled {
        for fd in fds {
            assert!(
                control.arrived.contains_key(fd),
                "{case}: control run should see {label} fd {fd}\n{}",
                control.outcome
            );
        }
    }
    let with = children(Preload::With, case);
    assert!(!with.fds("told").is_empty() || !with.fds("unseen").is_empty());
    for fd in with.fds("told") {
        assert!(
            with.arrived.contains_key(fd),
            "{case}: told fd {fd} was swept\n{}",
            with.outcome
        );
    }
    for fd in with.fds("leak").iter().chain(with.fds("unseen")) {
        assert!(
            !with.arrived.contains_key(fd),
            "{case}: fd {fd} arrived\n{}",
            with.outcome
        );
    }
    with
}

#[test]
fn k12_a_pipe_end_the_child_took_as_its_own() {
    let seen = told_kept_rest_swept("own-pipe");
    assert_eq!(seen.fds("told").len(), 1);
    assert_eq!(seen.fds("leak").len(), 3, "a file and both ends of a pipe");
}

#[test]
fn k12_k13_thirty_copies_held_by_a_backgrounded_grandchild() {
    let seen = told_kept_rest_swept("own-pipe-dups");
    assert_eq!(seen.fds("told").len(), 31);
    assert!(
        seen.outcome.stdout.lines().any(|l| l == "eof"),
        "{}",
        seen.outcome
    );
}

#[test]
fn k13_a_file_opened_in_the_child_lands_on_3() {
    let seen = told_kept_rest_swept("made-open");
    assert_eq!(seen.fds("told"), [3], "the lowest free number");
}

#[test]
fn k13_a_pipe_and_a_socket_made_in_the_child() {
    let seen = told_kept_rest_swept("made-pipe");
    assert_eq!(seen.fds("told"), [3, 4]);
    told_kept_rest_swept("made-socket");
    let seen = told_kept_rest_swept("made-accept");
    assert_eq!(seen.fds("told").len(), 2, "the client and the accepted end");
}

#[test]
fn k11_a_child_that_curated_its_table() {
    for case in ["curated", "curated-range"] {
        told_kept_rest_swept(case);
    }
}

#[test]
fn a_careless_child_is_not_curating() {
    let seen = told_kept_rest_swept("careless");
    assert_eq!(seen.fds("unseen").len(), 1);
}

#[test]
fn marks_never_outlive_the_call() {
    for case in [
        "marks-system",
        "marks-popen",
        "marks-spawn",
        "marks-spawnp",
        "marks-execvp",
    ] {
        let with = told_kept_rest_swept(case);
        let told = with.fds("told")[0];
        assert_eq!(
            with.value("getfd"),
            Some(format!("{told} 0").as_str()),
            "{case}: F_GETFD after the call shows the program's own flags\n{}",
            with.outcome
        );
        let strict = children(Preload::Strict, case);
        assert_eq!(
            strict.value("getfd"),
            Some(format!("{} 0", strict.fds("told")[0]).as_str()),
            "{case} under strict: the flags are still the program's\n{}",
            strict.outcome
        );
    }
}
