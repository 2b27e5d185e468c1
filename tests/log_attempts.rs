//! One log line per exec that happens (README, "Logging"): exec attempts that will
//! fail (a PATH search done by hand: CPython's `_posixsubprocess`, a C loop
//! calling `execv` per directory) sweep nothing, since they return to their
//! caller, and log at debug what they left; the exec that runs sweeps and
//! its line lists everything swept for it. The harness is
//! `c-harness/attempts.c`.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const PYTHON: &str = "/usr/bin/python3";

fn library_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("libcloexec["))
        .collect()
}

/// A sweep line for an exec that ran (info), as opposed to a failed
/// attempt's "will fail" line (debug) or a "kept" line (debug).
fn is_sweep_line(line: &str) -> bool {
    line.contains(": swept ") || line.contains(": would sweep ")
}

/// A scratch tree for a PATH search: `missing` (never created), `empty`,
/// `noexec` (holds NAME without an execute bit), and the leak file.
struct Search {
    dir: TempDir,
}

impl Search {
    fn new(tag: &str, name: &str) -> Search {
        let dir = TempDir::new(tag);
        std::fs::create_dir(dir.join("empty")).unwrap();
        std::fs::create_dir(dir.join("noexec")).unwrap();
        dir.write(&format!("noexec/{name}"), "#!/bin/sh\n");
        dir.write("leak", "leaked on purpose\n");
        Search { dir }
    }

    /// The directories that fail, in search order.
    fn failing(&self) -> Vec<String> {
        ["missing", "empty", "noexec"]
            .iter()
            .map(|d| self.path(d))
            .collect()
    }

    fn path(&self, name: &str) -> String {
        self.dir
            .join(name)
            .to_str()
            .expect("utf-8 temp path")
            .into()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

fn attempts(args: &[&str]) -> Command {
    build_once();
    let mut cmd = Command::new(harness("attempts"));
    cmd.args(args);
    cmd
}

/// `attempts pathloop LEAK probe DIR...` over the failing dirs, then the
/// harness dir.
fn pathloop(s: &Search) -> Command {
    let mut args = vec!["pathloop".to_string(), s.path("leak"), "probe".into()];
    args.extend(s.failing());
    args.push(harness_dir());
    attempts(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn harness_dir() -> String {
    harness("probe")
        .parent()
        .and_then(Path::to_str)
        .expect("utf-8 harness dir")
        .into()
}

/// The fd the harness reported with `LABEL N`.
fn reported_fd(stdout: &str, label: &str) -> i32 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{label} N` line in: {stdout}"))
}

fn logged(s: &Search, cmd: Command, preload: Preload, env: &[(&str, &str)]) -> (Outcome, String) {
    let log = s.path("log");
    let _ = std::fs::remove_file(&log);
    let mut all = vec![("CLOEXEC_LOG_FILE", log.as_str())];
    all.extend_from_slice(env);
    let out = run(cmd, preload, &all, SHORT);
    assert!(out.success(), "{}", out.describe());
    (out, s.log())
}

/// Checks the one sweep line: it is for `program` and names the leak.
fn assert_one_line_naming(log: &str, program: &str, fd: i32, leak: &str, verb: &str) {
    let sweeps: Vec<_> = library_lines(log)
        .into_iter()
        .filter(|l| is_sweep_line(l))
        .collect();
    assert_eq!(sweeps.len(), 1, "one sweep line for the one exec:\n{log}");
    let line = sweeps[0];
    assert!(
        line.contains(&format!(" {program} (by ")) && line.contains(&format!("): {verb} ")),
        "not the program that ran ({program}): {line}"
    );
    assert!(
        line.contains(&format!("{fd} ({leak})")),
        "the leak {fd} ({leak}) is missing from: {line}"
    );
}

/// The failed attempts' debug lines, in order.
fn will_fail_lines(log: &str) -> Vec<&str> {
    library_lines(log)
        .into_iter()
        .filter(|l| l.contains(": will fail ("))
        .collect()
}

#[test]
fn c_path_loop_logs_one_line_listing_the_leak() {
    let s = Search::new("attempts-loop", "probe");
    let probe = harness("probe");
    let probe = probe.to_str().unwrap();
    let leak = s.path("leak");

    // The control run: the leak reaches the probe without the library.
    let (control, _) = logged(&s, pathloop(&s), Preload::Without, &[]);
    let fd = reported_fd(&control.stdout, "leak");
    assert_eq!(parse_fds(&control.stdout).get(&fd), Some(&leak), "control");

    let (out, log) = logged(&s, pathloop(&s), Preload::With, &[("CLOEXEC_LOG", "info")]);
    assert_eq!(probe_runs(&out.stdout), 1, "{}", out.describe());
    assert!(
        !parse_fds(&out.stdout).contains_key(&fd),
        "the sweep is unchanged: the leak is swept\n{}",
        out.describe()
    );
    assert_eq!(
        library_lines(&log).len(),
        1,
        "info: one line in all:\n{log}"
    );
    assert_one_line_naming(&log, probe, fd, &leak, "swept");

    let (_, log) = logged(&s, pathloop(&s), Preload::With, &[("CLOEXEC_LOG", "debug")]);
    assert_one_line_naming(&log, probe, fd, &leak, "swept");
    let failed = will_fail_lines(&log);
    let dirs = s.failing();
    assert_eq!(
        failed.len(),
        dirs.len(),
        "a debug line per failed attempt:\n{log}"
    );
    for ((line, dir), errno) in failed.iter().zip(&dirs).zip(["ENOENT", "ENOENT", "EACCES"]) {
        assert!(
            line.contains(&format!(
                "execv {dir}/probe (by attempts): will fail ({errno}), "
            )),
            "{line}"
        );
    }
    for line in &failed {
        assert!(
            line.contains(&format!(", not swept {fd} ({leak})")),
            "a failing attempt marks nothing, and says what it left: {line}"
        );
    }

    // What reads the log sees one exec, not one per directory.
    let json = report_json(&s.path("log"));
    assert_eq!(json["execs"], 1, "{json:#}");
    assert_eq!(json["fds"], 1, "{json:#}");
}

#[test]
fn audit_mode_logs_failing_attempts_at_debug_and_the_exec_once() {
    let s = Search::new("attempts-audit", "probe");
    let probe = harness("probe");
    let probe = probe.to_str().unwrap();
    let leak = s.path("leak");
    let audit = [("CLOEXEC_MODE", "audit"), ("CLOEXEC_LOG", "info")];
    let (out, log) = logged(&s, pathloop(&s), Preload::With, &audit);
    let fd = reported_fd(&out.stdout, "leak");
    assert_eq!(
        parse_fds(&out.stdout).get(&fd),
        Some(&leak),
        "audit sweeps nothing\n{}",
        out.describe()
    );
    assert_eq!(
        library_lines(&log).len(),
        1,
        "info: one line in all:\n{log}"
    );
    assert_one_line_naming(&log, probe, fd, &leak, "would sweep");

    let audit = [("CLOEXEC_MODE", "audit"), ("CLOEXEC_LOG", "debug")];
    let (_, log) = logged(&s, pathloop(&s), Preload::With, &audit);
    assert_one_line_naming(&log, probe, fd, &leak, "would sweep");
    let failed = will_fail_lines(&log);
    assert_eq!(failed.len(), s.failing().len(), "{log}");
    for line in failed {
        assert!(
            line.contains(&format!(", not swept {fd} ({leak})")),
            "a failing attempt marks nothing, whatever the mode: {line}"
        );
    }
}

#[test]
fn cpython_path_search_logs_one_line_for_the_program_that_ran() {
    if !require(
        PYTHON,
        "CPython's _posixsubprocess tries execv once per PATH directory",
    ) {
        return;
    }
    let Some(truth) = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        panic!("no true(1)");
    };
    let s = Search::new("attempts-python", "true");
    std::fs::create_dir(s.dir.join("last")).unwrap();
    std::os::unix::fs::symlink(truth, s.dir.join("last/true")).unwrap();
    let mut dirs = s.failing();
    dirs.push(s.path("last"));
    let script = "import ctypes, os, subprocess, sys\n\
                  fd = ctypes.CDLL(None).open(sys.argv[1].encode(), os.O_RDONLY)\n\
                  print('leak', fd, flush=True)\n\
                  env = dict(os.environ, PATH=sys.argv[2])\n\
                  subprocess.run(['true'], close_fds=False, env=env, check=True)\n";
    let leak = s.path("leak");
    let program = format!("{}/true", s.path("last"));
    for (mode, verb) in [("sweep", "swept"), ("audit", "would sweep")] {
        let python = || {
            let mut cmd = clean_command(PYTHON, Preload::Without);
            cmd.args(["-c", script, &leak, &dirs.join(":")]);
            cmd
        };
        let env = [("CLOEXEC_MODE", mode), ("CLOEXEC_LOG", "info")];
        let (out, log) = logged(&s, python(), Preload::With, &env);
        let fd = reported_fd(&out.stdout, "leak");
        assert_eq!(
            library_lines(&log).len(),
            1,
            "{mode}: one line in all:\n{log}"
        );
        assert_one_line_naming(&log, &program, fd, &leak, verb);

        let env = [("CLOEXEC_MODE", mode), ("CLOEXEC_LOG", "debug")];
        let (_, log) = logged(&s, python(), Preload::With, &env);
        assert_one_line_naming(&log, &program, fd, &leak, verb);
        assert_eq!(
            will_fail_lines(&log).len(),
            s.failing().len(),
            "{mode}:\n{log}"
        );
    }
}

#[test]
fn glibc_execvp_searches_path_itself_one_line() {
    let s = Search::new("attempts-execvp", "probe");
    let leak = s.path("leak");

    // The harness's execvp entry: glibc's search after our one hook call.
    let (out, log) = logged(
        &s,
        leaky("execvp", &[], &[]),
        Preload::With,
        &[("CLOEXEC_LOG", "info")],
    );
    assert_eq!(probe_runs(&out.stdout), 1, "{}", out.describe());
    let lines = library_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains(": execvp probe (by leaky): swept "),
        "{log}"
    );

    // Several PATH directories, only the last holds the program: still one
    // line, at info, and no attempt judged to fail.
    let mut dirs = s.failing();
    dirs.push(harness_dir());
    let mut cmd = attempts(&["execvp", &leak, "probe"]);
    cmd.env("PATH", dirs.join(":"));
    let (out, log) = logged(&s, cmd, Preload::With, &[("CLOEXEC_LOG", "debug")]);
    let fd = reported_fd(&out.stdout, "leak");
    assert_one_line_naming(&log, "probe", fd, &leak, "swept");
    assert!(will_fail_lines(&log).is_empty(), "{log}");

    // A name no PATH directory holds: the attempt fails, and says so at debug.
    let mut cmd = attempts(&["execvp", &leak, "cloexec-no-such-program"]);
    cmd.env("PATH", s.failing().join(":"));
    let log_path = s.path("log");
    let _ = std::fs::remove_file(&log_path);
    let out = run(
        cmd,
        Preload::With,
        &[("CLOEXEC_LOG", "debug"), ("CLOEXEC_LOG_FILE", &log_path)],
        SHORT,
    );
    assert!(!out.success(), "{}", out.describe());
    let log = s.log();
    assert!(
        !library_lines(&log).iter().any(|l| is_sweep_line(l)),
        "{log}"
    );
    assert_eq!(will_fail_lines(&log).len(), 1, "{log}");
}

#[test]
fn a_vfork_childs_failed_attempts_never_reach_the_parents_line() {
    let s = Search::new("attempts-vfork", "probe");
    s.dir.write("leak2", "leaked later\n");
    let probe = harness("probe");
    let probe = probe.to_str().unwrap();
    let (leak, leak2) = (s.path("leak"), s.path("leak2"));
    let mut args = vec![
        "vfork".to_string(),
        leak.clone(),
        leak2.clone(),
        "probe".into(),
        harness_dir(),
    ];
    args.extend(s.failing());
    let cmd = || attempts(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for level in ["info", "debug"] {
        let (out, log) = logged(&s, cmd(), Preload::With, &[("CLOEXEC_LOG", level)]);
        let (fd, fd2) = (
            reported_fd(&out.stdout, "leak"),
            reported_fd(&out.stdout, "leak2"),
        );
        // The child's failing attempts marked nothing; the parent then
        // marked LEAK close-on-exec itself, so only LEAK2 was swept for its
        // exec.
        assert_one_line_naming(&log, probe, fd2, &leak2, "swept");
        let line = library_lines(&log)
            .into_iter()
            .find(|l| is_sweep_line(l))
            .unwrap();
        assert!(
            !line.contains(&format!("{fd} ({leak})")),
            "{level}: the parent reports a fd it did not sweep: {line}"
        );
    }
}

fn report_json(log: &str) -> serde_json::Value {
    let mut cmd = Command::new(root().join("target/release/cloexec"));
    cmd.args(["report", "--json", log]);
    let out = run(cmd, Preload::Without, &[], SHORT);
    assert!(out.success(), "{}", out.describe());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}
