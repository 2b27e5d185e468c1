//! The `cloexec` command: its arguments, exit codes and environment, its
//! `--profile` lines run by real shells, and end to end, that a program it
//! starts really runs under the library.
//!
//! Every child starts from this process's environment without `LD_PRELOAD`
//! and without any `CLOEXEC_*` variable, so a developer's own settings
//! cannot change the outcome.

mod common;

use common::{PYTHON, TempDir, build_once, require, root, text, unpreloaded};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wrapper_path() -> PathBuf {
    root().join("target/release/cloexec")
}

/// The library as the wrapper names it: canonical.
fn library() -> PathBuf {
    fs::canonicalize(root().join("target/release/libcloexec.so")).expect("library built")
}

fn cloexec<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    build_once();
    let mut cmd = unpreloaded(wrapper_path());
    // `--profile` writes the syntax of `$SHELL`; these tests source its
    // POSIX line, whatever shell the developer running them uses.
    cmd.env("SHELL", "/bin/sh").args(args);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Asserts a failure with exit `code`, nothing on stdout and exactly one
/// stderr line, `cloexec: …`.
fn assert_error(out: &Output, code: i32, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: stderr {stderr:?}");
    assert!(
        out.stdout.is_empty(),
        "{what}: stdout {:?}",
        text(&out.stdout)
    );
    assert!(
        stderr.starts_with("cloexec: ") && stderr.ends_with('\n') && stderr.lines().count() == 1,
        "{what}: stderr is not one 'cloexec: ' line: {stderr:?}"
    );
}

#[test]
fn help_and_version() {
    for flag in ["--help", "-h"] {
        let out = run(&mut cloexec([flag]));
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(text(&out.stdout).starts_with("Usage: cloexec"), "{flag}");
    }
    let out = run(&mut cloexec(["--version"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("cloexec {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_arguments_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["--"],
        &["--strict"],
        &["--bogus", "true"],
        &["-x", "true"],
        &["--keep"],
        &["--keep", "3-", "true"],
        &["--keep", "abc", "true"],
        &["--keep", "-1", "true"],
        &["--keep", "12-10", "true"],
        &["--keep", "99999999999999999999", "true"],
        &["--keep=", "true"],
        &["--log", "loud", "true"],
        &["--log=INFO", "true"],
        &["--log-file=", "true"],
        &["--strict=yes", "true"],
        &["--profile", "true"],
    ];
    for args in cases {
        assert_error(&run(&mut cloexec(*args)), 2, &format!("{args:?}"));
    }
    // Control: the same options with good values run the command.
    let out = run(&mut cloexec([
        "--keep",
        "3,5,10-12",
        "--keep=4",
        "--log",
        "off",
        "--log-file=x.log",
        "--strict",
        "--audit",
        "--",
        "/bin/true",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn missing_command_exits_127() {
    let name = format!("no-such-command-{}", std::process::id());
    let out = run(&mut cloexec(["--", &name]));
    assert_error(&out, 127, &name);
    assert!(text(&out.stderr).contains(&name));
    let dir_tmp = TempDir::new("wrapper-missing");
    let dir = dir_tmp.path();
    assert_error(
        &run(&mut cloexec([dir.join("absent")])),
        127,
        "absolute path",
    );
}

#[test]
fn not_executable_exits_126() {
    let dir_tmp = TempDir::new("wrapper-noexec");
    let dir = dir_tmp.path();
    let script = dir.join("script");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    assert_error(&run(&mut cloexec([&script])), 126, "mode 0644");
    assert_error(&run(&mut cloexec([&dir])), 126, "a directory");
    // Control: the same file, executable, runs.
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(run(&mut cloexec([&script])).status.code(), Some(0));
}

#[test]
fn command_is_found_on_path_and_status_passes_through() {
    let out = run(cloexec(["sh", "-c", "exit 42"]).env("PATH", "/usr/bin:/bin"));
    assert_eq!(out.status.code(), Some(42), "{}", text(&out.stderr));
}

/// `LD_PRELOAD` as the command sees it, given `before` in the environment.
fn preload_seen(before: Option<&str>) -> String {
    let mut cmd = cloexec(["/usr/bin/printenv", "LD_PRELOAD"]);
    if let Some(value) = before {
        cmd.env("LD_PRELOAD", value);
    }
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout).trim_end_matches('\n').to_owned()
}

#[test]
fn ld_preload_is_set_or_prepended_once() {
    let lib = library().to_string_lossy().into_owned();
    assert_eq!(preload_seen(None), lib);
    assert_eq!(preload_seen(Some("")), lib);
    // The loader complains about the missing library on stderr and goes on.
    let other = "/nonexistent/libother.so";
    assert_eq!(preload_seen(Some(other)), format!("{lib} {other}"));
    for already in [
        lib.clone(),
        format!("{other}:{lib}"),
        format!("{lib} {other}"),
    ] {
        assert_eq!(preload_seen(Some(&already)), already, "added twice");
    }
}

/// A program built with `-fsanitize=address` (gcc's dynamic runtime)
/// aborts at start under a preload unless `ASAN_OPTIONS` has
/// `verify_asan_link_order=0`: `cloexec` adds it to what the user has.
#[test]
fn a_sanitizer_build_runs_under_the_wrapper() {
    if !require("gcc", "builds the program with -fsanitize=address") {
        return;
    }
    let dir = TempDir::new("wrapper-asan");
    let source = dir.write("asan.c", "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { const char *o = getenv(\"ASAN_OPTIONS\"); printf(\"%s\\n\", o ? o : \"\"); return 0; }\n");
    let program = dir.join("asan");
    let built = run(Command::new("gcc")
        .arg("-fsanitize=address")
        .arg("-o")
        .arg(&program)
        .arg(&source));
    assert!(built.status.success(), "{}", text(&built.stderr));
    // Without the switch it aborts under the bare preload: the reason.
    let bare = run(unpreloaded(&program)
        .env("LD_PRELOAD", library())
        .env_remove("ASAN_OPTIONS"));
    assert!(
        !bare.status.success() && text(&bare.stderr).contains("ASan runtime does not come first"),
        "{}",
        text(&bare.stderr)
    );
    for (before, after) in [
        (None, "verify_asan_link_order=0"),
        (
            Some("detect_leaks=0"),
            "detect_leaks=0:verify_asan_link_order=0",
        ),
    ] {
        let mut cmd = cloexec([&program]);
        cmd.env_remove("ASAN_OPTIONS");
        if let Some(value) = before {
            cmd.env("ASAN_OPTIONS", value);
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "{before:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim_end(), after);
    }
    // A choice of the user's is left alone (and then the program aborts).
    let mut cmd = cloexec([&program]);
    cmd.env("ASAN_OPTIONS", "verify_asan_link_order=1");
    let out = run(&mut cmd);
    assert!(!out.status.success(), "{}", text(&out.stdout));
}

fn env_lines(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("CLOEXEC_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn options_set_the_variables() {
    let dir_tmp = TempDir::new("wrapper-vars");
    let dir = dir_tmp.path();
    let out = run(cloexec([
        "--keep",
        "3,10-12",
        "--strict",
        "--audit",
        "--log",
        "debug",
        "--log-file",
        "rel.log",
        "--keep=5",
        "/usr/bin/printenv",
    ])
    .current_dir(dir));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut seen = env_lines(&out);
    seen.sort();
    let log_file = fs::canonicalize(dir).unwrap().join("rel.log");
    assert_eq!(
        seen,
        [
            "CLOEXEC_KEEP=3,10-12,5".to_owned(),
            "CLOEXEC_LOG=debug".to_owned(),
            format!("CLOEXEC_LOG_FILE={}", log_file.display()),
            "CLOEXEC_MODE=audit".to_owned(),
            "CLOEXEC_POLICY=strict".to_owned(),
        ]
    );

    // Without options nothing is set, and what the environment has passes.
    let out = run(cloexec(["/usr/bin/printenv"]).env("CLOEXEC_LOG", "info"));
    assert_eq!(env_lines(&out), ["CLOEXEC_LOG=info"]);
    // An option overrides the environment.
    let out = run(cloexec(["--log", "error", "/usr/bin/printenv"]).env("CLOEXEC_LOG", "info"));
    assert_eq!(env_lines(&out), ["CLOEXEC_LOG=error"]);
}

#[test]
fn library_override() {
    let dir_tmp = TempDir::new("wrapper-override");
    let dir = dir_tmp.path();
    let copy = dir.join("libcloexec.so");
    fs::copy(library(), &copy).unwrap();
    let out = run(cloexec(["/usr/bin/printenv", "LD_PRELOAD"])
        .env("CLOEXEC_LIBRARY", "libcloexec.so")
        .current_dir(dir));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let copy = fs::canonicalize(&copy).unwrap();
    assert_eq!(text(&out.stdout), format!("{}\n", copy.display()));

    let out = run(cloexec(["/bin/true"]).env("CLOEXEC_LIBRARY", dir.join("absent.so")));
    assert_error(&out, 125, "missing CLOEXEC_LIBRARY");
    let spaced = dir.join("a b");
    fs::create_dir(&spaced).unwrap();
    fs::copy(&copy, spaced.join("libcloexec.so")).unwrap();
    let out = run(cloexec(["/bin/true"]).env("CLOEXEC_LIBRARY", spaced.join("libcloexec.so")));
    assert_error(&out, 125, "a path LD_PRELOAD would split");
}

/// Sources `profile` `times` times in `shell`, with `LD_PRELOAD` set to
/// `before`. Returns what the shell then has in `LD_PRELOAD`, and its
/// `export -p` lines that name a `CLOEXEC_*` variable. Only builtins run
/// after the profile, so nothing is loaded with the new `LD_PRELOAD`.
fn source_profile(
    shell: &str,
    profile: &Path,
    times: usize,
    before: Option<&str>,
) -> (String, Vec<String>) {
    let script = format!(
        "{} printf '%s\\n' \"${{LD_PRELOAD-unset}}\"; export -p",
        ". \"$1\";".repeat(times)
    );
    let mut cmd = unpreloaded(shell);
    if shell.ends_with("bash") {
        cmd.args(["--norc", "--noprofile"]);
    }
    cmd.args(["-c", &script, "sh"]).arg(profile);
    if let Some(value) = before {
        cmd.env("LD_PRELOAD", value);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let preload = lines.next().unwrap_or_default().to_owned();
    let exported = lines
        .filter(|l| l.contains("CLOEXEC_"))
        .map(str::to_owned)
        .collect();
    (preload, exported)
}

/// Just the `LD_PRELOAD` of [`source_profile`].
fn preload_after(shell: &str, profile: &Path, times: usize, before: Option<&str>) -> String {
    source_profile(shell, profile, times, before).0
}

#[test]
fn profile_lines_work_in_shells() {
    let dir_tmp = TempDir::new("wrapper-profile");
    let dir = dir_tmp.path();
    let lib = library().to_string_lossy().into_owned();
    let profile = dir.join("profile.sh");
    let out = run(&mut cloexec(["--profile"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    fs::write(&profile, &out.stdout).unwrap();
    let other = "/nonexistent/libother.so";

    for shell in ["/bin/bash", "/bin/dash", "/bin/sh"] {
        if !require(shell, "the profile lines must work in each shell") {
            continue;
        }
        assert_eq!(preload_after(shell, &profile, 1, None), lib, "{shell}");
        assert_eq!(preload_after(shell, &profile, 2, None), lib, "{shell}");
        assert_eq!(
            preload_after(shell, &profile, 2, Some(other)),
            format!("{lib} {other}"),
            "{shell}"
        );
        // Already there (inherited by a nested shell): unchanged.
        let nested = format!("{other}:{lib}");
        assert_eq!(
            preload_after(shell, &profile, 1, Some(&nested)),
            nested,
            "{shell}"
        );
    }

    // The settings go in the profile too, and the log file is absolute.
    let out = run(cloexec([
        "--strict",
        "--keep",
        "3",
        "--log-file",
        "x.log",
        "--profile",
    ])
    .current_dir(dir));
    fs::write(&profile, &out.stdout).unwrap();
    let log = fs::canonicalize(dir).unwrap().join("x.log");
    let (preload, exported) = source_profile("/bin/bash", &profile, 1, None);
    assert_eq!(preload, lib);
    assert_eq!(
        exported,
        [
            "declare -x CLOEXEC_KEEP=\"3\"".to_owned(),
            format!("declare -x CLOEXEC_LOG_FILE=\"{}\"", log.display()),
            "declare -x CLOEXEC_POLICY=\"strict\"".to_owned(),
        ]
    );
}

#[test]
fn profile_quotes_a_strange_library_path() {
    let dir_tmp = TempDir::new("wrapper-quote");
    let dir = dir_tmp.path();
    // Quotes, `$`, backquotes and `!`: everything but the space and colon
    // that LD_PRELOAD itself cannot hold.
    let odd = dir.join("it's$HOME`x`\"q\"!");
    fs::create_dir(&odd).unwrap();
    fs::copy(library(), odd.join("libcloexec.so")).unwrap();
    let odd_lib = fs::canonicalize(odd.join("libcloexec.so")).unwrap();
    let out = run(cloexec(["--profile"]).env("CLOEXEC_LIBRARY", &odd_lib));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let profile = dir.join("profile.sh");
    fs::write(&profile, &out.stdout).unwrap();
    let odd_lib = odd_lib.to_string_lossy();
    for shell in ["/bin/bash", "/bin/dash"] {
        if !require(shell, "the profile lines must work in each shell") {
            continue;
        }
        assert_eq!(
            preload_after(shell, &profile, 2, Some("/x.so")),
            format!("{odd_lib} /x.so"),
            "{shell}"
        );
    }
}

/// Python opens `marker` with libc's `open` (no `O_CLOEXEC`: a leak),
/// `dup2`s it to fd 77 (a deliberate inheritable fd), then execs `ls -l
/// /proc/self/fd`. Returns the fds that the new program has on `marker`.
const LEAKER: &str = "import ctypes, os, sys\n\
fd = ctypes.CDLL(None).open(sys.argv[1].encode(), os.O_RDONLY)\n\
assert fd >= 0\n\
os.dup2(fd, 77)\n\
os.execv('/bin/ls', ['ls', '-l', '/proc/self/fd'])\n";

fn marker_fds(mut cmd: Command, marker: &Path) -> (Vec<u32>, Output) {
    let out = run(cmd.args(["-c", LEAKER]).arg(marker));
    assert_eq!(out.status.code(), Some(0), "{cmd:?}: {}", text(&out.stderr));
    let suffix = format!(" -> {}", marker.display());
    let mut fds: Vec<u32> = text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(&suffix))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect();
    fds.sort_unstable();
    (fds, out)
}

fn python_available() -> bool {
    require(PYTHON, "the program the wrapper starts is a Python script")
}

#[test]
fn wrapped_program_runs_under_the_library() {
    if !python_available() {
        return;
    }
    let dir_tmp = TempDir::new("wrapper-e2e");
    let dir = dir_tmp.path();
    let marker = dir.join("marker");
    fs::write(&marker, "leak me\n").unwrap();

    // Control: without the library both fds reach the new program.
    let (control, _) = marker_fds(unpreloaded(PYTHON), &marker);
    assert_eq!(control.len(), 2, "control run: {control:?}");
    assert!(control.contains(&77));

    let wrapped = |options: &[&str]| {
        let mut cmd = cloexec(options);
        cmd.args(["--", PYTHON]);
        marker_fds(cmd, &marker).0
    };
    // strict keeps only --keep: the leak and fd 77 are both swept.
    assert_eq!(wrapped(&["--strict"]), [] as [u32; 0], "--strict");
    assert_eq!(
        wrapped(&["--strict", "--keep", "77"]),
        [77],
        "--strict --keep 77"
    );
    // smart (the default) sweeps the leak and keeps the dup2 target (K4).
    assert_eq!(wrapped(&[]), [77], "smart");
}

#[test]
fn audit_mode_changes_nothing_and_logs() {
    if !python_available() {
        return;
    }
    let dir_tmp = TempDir::new("wrapper-audit");
    let dir = dir_tmp.path();
    let marker = dir.join("marker");
    fs::write(&marker, "leak me\n").unwrap();
    let (control, _) = marker_fds(unpreloaded(PYTHON), &marker);

    let mut cmd = cloexec([
        "--strict",
        "--audit",
        "--log",
        "info",
        "--log-file",
        "audit.log",
    ]);
    cmd.current_dir(dir).args(["--", PYTHON]);
    let (audited, _) = marker_fds(cmd, &marker);
    assert_eq!(audited, control, "audit mode changed an fd");
    let log = fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert!(
        log.contains("libcloexec[") && log.contains("would"),
        "no audit report in the log file: {log:?}"
    );
}

/// Python ignores SIGPIPE at startup and keeps that across `execv`; block
/// SIGUSR1 as well. `grep` then reports what it was given. std's runtime
/// would reset both if the wrapper let it.
#[test]
fn signal_dispositions_and_mask_pass_through() {
    if !python_available() {
        return;
    }
    build_once();
    let script = "import os, signal, sys\n\
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n\
os.execv(sys.argv[1], sys.argv[1:])\n";
    let signals = |via: &[&OsStr]| {
        let mut cmd = unpreloaded(PYTHON);
        cmd.args(["-c", script]).args(via);
        cmd.args(["/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]);
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let control = signals(&[]);
    let sigpipe_bit = 1u64 << (13 - 1);
    let ignored = control
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    assert_ne!(
        ignored & sigpipe_bit,
        0,
        "control has SIGPIPE ignored: {control}"
    );
    let wrapper = wrapper_path();
    assert_eq!(signals(&[wrapper.as_os_str(), OsStr::new("--")]), control);
}

/// The man page renders without warnings and covers every setting and rule.
#[test]
fn man_page_renders_and_covers_the_settings() {
    if !require("groff", "renders the man page") {
        return;
    }
    let page = root().join("man/cloexec.1");
    let out = Command::new("groff")
        // Plain text: no SGR escapes, no overstrike bold or underline.
        .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
        .arg(&page)
        .output()
        .unwrap_or_else(|e| panic!("cannot run groff: {e}"));
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "", "groff warnings");
    let plain = text(&out.stdout);
    let mut wanted: Vec<String> = [
        "KEEP",
        "POLICY",
        "MODE",
        "PASSTHROUGH",
        "LOG",
        "LOG_FILE",
        "LIBRARY",
    ]
    .iter()
    .map(|v| format!("CLOEXEC_{v}"))
    .collect();
    wanted.extend((2..=7).map(|k| format!("K{k}")));
    wanted.extend(
        [
            "LD_PRELOAD",
            "SECURE EXECUTION",
            "AUDIT MODE",
            "LOGGING",
            "LIMITS",
            "Go",
        ]
        .map(String::from),
    );
    for word in wanted {
        assert!(
            plain.contains(&word),
            "the man page does not mention {word}"
        );
    }
}
