//! `cloexec report` over the library's real output: real leaky programs (the
//! C harness's `leaky`, and a Python program that leaks through ctypes) run
//! under `cloexec --audit --log-file F`, and the report must show each leak
//! with the right program, kind and count; `--fail-on-leak` must fail on
//! that log and pass with an allow-list. This is also the test that the
//! log line format (a documented contract) parses.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{Preload, SHORT, TempDir};
use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";

fn cloexec() -> Command {
    common::build_once();
    Command::new(common::root().join("target/release/cloexec"))
}

/// Runs `cmd` under `cloexec --audit --log-file log`.
fn audit(log: &Path, program: &Path, args: &[&str]) -> common::Outcome {
    let mut cmd = cloexec();
    cmd.arg("--audit")
        .arg("--log-file")
        .arg(log)
        .arg("--")
        .arg(program)
        .args(args);
    let out = common::run(cmd, Preload::Without, &[], SHORT);
    assert!(out.success(), "{}", out.describe());
    out
}

/// `cloexec report ARGS...`: its exit code, stdout and stderr.
fn report(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = cloexec();
    cmd.arg("report").args(args);
    let out = common::run(cmd, Preload::Without, &[("NO_COLOR", "1")], SHORT);
    (out.code, out.stdout, out.stderr)
}

fn report_json(log: &Path) -> Value {
    let (code, stdout, stderr) = report(&["--json", log.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The leaks of one program started by `caller`, from the JSON: (kind,
/// target) -> (fds, execs); the unknown fds of a cut line count 0.
fn leaks_of(json: &Value, caller: &str, program: &str) -> BTreeMap<(String, String), (u64, u64)> {
    let entry = json["callers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["caller"] == caller)
        .and_then(|c| {
            c["programs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["program"] == program)
        })
        .unwrap_or_else(|| panic!("{program} by {caller} is not in the report: {json:#}"));
    entry["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                (
                    l["kind"].as_str().unwrap().to_owned(),
                    l["target"].as_str().unwrap().to_owned(),
                ),
                (l["fds"].as_u64().unwrap_or(0), l["execs"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// The report's kind for each kind of leak the harness opens.
fn report_kind(harness_kind: &str) -> &'static str {
    match harness_kind {
        "file" | "dir" | "dup" => "file",
        "socketpair" | "socket" | "high-socket" => "socket",
        "pipe-r" | "pipe-w" | "high-pipe-w" => "pipe",
        "eventfd" => "eventfd",
        "epoll" => "epoll",
        "memfd" => "memfd",
        other => panic!("a leak kind this test does not know: {other}"),
    }
}

#[test]
fn c_harness_leaks_are_reported_by_program_kind_and_count() {
    let dir = TempDir::new("report-c");
    let log = dir.join("leaks.log");
    let probe = common::harness("probe");
    // Two execs and a spawn: the probe is the program each one runs. The
    // expected counts add up each run's leaks per (kind, grouped target);
    // temp files carry leaky's pid, so each run's file is its own target.
    let mut expected: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut total = 0;
    for entry in ["execv", "execve", "posix_spawn"] {
        let leaky = common::harness("leaky");
        let out = audit(&log, &leaky, &[entry, "--", probe.to_str().unwrap()]);
        let leaks = common::parse_leaks(&out.stdout);
        assert!(leaks.len() >= 10, "{}", out.describe());
        total += leaks.len() as u64;
        let mut this_run: BTreeMap<(String, String), u64> = BTreeMap::new();
        for leak in leaks.values() {
            let target = match leak.target.split_once(":[") {
                Some((name, _)) if !leak.target.starts_with('/') && !name.contains('_') => {
                    format!("{name}:[*]")
                }
                _ => leak.target.clone(),
            };
            *this_run
                .entry((report_kind(&leak.kind).to_owned(), target))
                .or_default() += 1;
        }
        for (key, fds) in this_run {
            let counts = expected.entry(key).or_default();
            counts.0 += fds;
            counts.1 += 1;
        }
    }
    let json = report_json(&log);
    // The leaky program is the caller: whose fds leaked.
    let got = leaks_of(&json, "leaky", probe.to_str().unwrap());
    assert_eq!(got, expected, "{}", std::fs::read_to_string(&log).unwrap());
    assert_eq!(json["fds"], total, "{json:#}");
    assert_eq!(json["execs"], 3);
    assert_eq!(json["lines"]["audit"], 3);
    assert_eq!(json["callers"].as_array().unwrap().len(), 1, "{json:#}");
    assert_eq!(json["callers"][0]["fds"], total);
    let calls = &json["callers"][0]["programs"][0]["calls"];
    assert_eq!(calls["execv"], 1);
    assert_eq!(calls["execve"], 1);
    assert_eq!(calls["posix_spawn"], 1);
}

/// Leaks a temp file and a socket through ctypes (no close-on-exec, no act
/// the library counts as intent), then runs /bin/true three times with
/// `close_fds=False`; then leaks twelve files with long names (a line
/// longer than the library's 1024 bytes) and execs /bin/true once more.
const PY_LEAKER: &str = r#"
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None)
leak = libc.open(os.path.join(sys.argv[1], "app.log").encode(), os.O_RDWR | os.O_CREAT, 0o600)
sock = libc.socket(1, 1, 0)  # AF_UNIX, SOCK_STREAM
assert leak >= 3 and sock >= 3
for _ in range(3):
    subprocess.run(["/bin/true"], close_fds=False, check=True)
long_dir = os.path.join(sys.argv[1], "d" * 150)
os.mkdir(long_dir)
for i in range(12):
    assert libc.open(os.path.join(long_dir, "f%02d" % i).encode(), os.O_RDWR | os.O_CREAT, 0o600) >= 3
os.execv("/bin/true", ["true"])
"#;

#[test]
fn python_leaks_cut_lines_and_the_ci_gate() {
    if !common::require(PYTHON, "the Python leaky program") {
        return;
    }
    let dir = TempDir::new("report-py");
    let log = dir.join("leaks.log");
    let work = dir.join("work");
    std::fs::create_dir(&work).unwrap();
    audit(
        &log,
        Path::new(PYTHON),
        &["-c", PY_LEAKER, work.to_str().unwrap()],
    );
    let raw = std::fs::read_to_string(&log).unwrap();
    let app_log = std::fs::canonicalize(&work).unwrap().join("app.log");
    let app_log = app_log.to_str().unwrap();

    let json = report_json(&log);
    let got = leaks_of(&json, "python3", "/bin/true");
    // Three spawns leaked the file and the socket; the last exec leaked them
    // too, in a cut line that names at least these two first.
    assert_eq!(
        got[&("file".to_owned(), app_log.to_owned())],
        (4, 4),
        "{got:?}\n{raw}"
    );
    assert_eq!(got[&("socket".to_owned(), "socket:[*]".to_owned())], (4, 4));
    assert_eq!(
        got[&("cut".to_owned(), "(the rest of a cut line)".to_owned())].1,
        1
    );
    assert_eq!(json["lines"]["cut"], 1, "{raw}");
    assert_eq!(json["execs"], 4);
    // The long names that fit before the cut are counted, and no more.
    let long: u64 = got
        .iter()
        .filter(|((_, t), _)| t.contains("dddd"))
        .map(|(_, (fds, _))| fds)
        .sum();
    assert!((1..12).contains(&long), "{long} of 12 long names: {raw}");

    // The human summary names the program, kinds, targets and the cut.
    let (code, text, _) = report(&[log.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with("cloexec report: 4 execs by 1 caller would sweep "),
        "{text}"
    );
    for needle in [
        "\npython3  4 execs",
        "\n  /bin/true  4 execs",
        "socket:[*]",
        app_log,
        "1 line was cut",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }

    // The gate: fails on the leaks, with the summary ...
    let (code, text, _) = report(&["--fail-on-leak", log.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL: ") && text.contains("/bin/true"),
        "{text}"
    );
    // ... still fails when one kind is allowed ...
    let (code, _, _) = report(&[
        "--fail-on-leak",
        "--allow",
        "true:socket",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    // ... and passes when every leak is allowed (options and a file).
    let allow = dir.write(
        "allow",
        &format!("# accepted leaks\ntrue:{}/*\n", work.display()),
    );
    let (code, text, stderr) = report(&[
        "--fail-on-leak",
        "--allow",
        "true:socket:[*]",
        "--allow",
        "/bin/true:cut",
        "--allow-file",
        allow.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{text}{stderr}");
    assert!(
        text.contains("ok: no leak outside the allow-list"),
        "{text}"
    );
}

#[test]
fn a_clean_run_passes_the_gate_and_stdin_works() {
    let dir = TempDir::new("report-clean");
    // env(1) runs true with nothing leaked: the library writes no line (the
    // log file, made here, stays empty).
    let log = dir.write("clean.log", "");
    audit(&log, Path::new("/usr/bin/env"), &["true"]);
    let (code, text, _) = report(&["--fail-on-leak", log.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("cloexec report: no leaks recorded"),
        "{text}"
    );

    // Standard input, with lines that are not the library's.
    let mut cmd = cloexec();
    cmd.args(["report", "--fail-on-leak"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"make: entering\nlibcloexec[7]: execvp cc: swept 4 (pipe:[99])\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cc") && text.contains("pipe:[*]"), "{text}");
}

#[test]
fn usage_and_read_errors() {
    let (code, stdout, stderr) = report(&["--allow", "nocolon"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("cloexec: report: ") && stderr.lines().count() == 1,
        "{stderr:?}"
    );
    let (code, _, stderr) = report(&["/nonexistent/log"]);
    assert_eq!(code, Some(125));
    assert_eq!(
        stderr,
        "cloexec: report: /nonexistent/log: No such file or directory\n"
    );
    let (code, stdout, _) = report(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("--fail-on-leak") && stdout.contains("--allow"));
}
