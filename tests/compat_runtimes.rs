//! The compatibility matrix for language runtimes: Java, Node, Perl and
//! Python start programs in their own ways (helpers that get fds over a
//! private channel, IPC channels named in the environment, `$^F`,
//! `pass_fds`, `posix_spawn` file actions, start methods, ptys), and each must
//! work the same with the library as without it.
//!
//! Each runtime runs one fixture script (`tests/fixtures/compat/runtimes/`)
//! that covers many sub-cases in one process (runtimes are slow to start),
//! once without and once with the library (default settings), and
//! [`assert_same_behaviour`] compares them. Where the runtime lets a leak
//! through (an fd nobody is told about, opened without close-on-exec next to
//! the deliberate ones), the script prints `leak CASE arrived|absent`: the
//! control run must show it arriving, the run with the library must not.
//! Children report their fds with the static `target/harness/probe`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// One run of a fixture; runtimes on a busy machine can be slow.
const TIMEOUT: Duration = Duration::from_secs(180);

/// `tests/fixtures/compat/runtimes/<name>`.
fn script(name: &str) -> PathBuf {
    fixture("compat/runtimes").join(name)
}

/// Makes the command of one run: the preload, and the run's scratch dir.
type MakeCommand<'a> = &'a dyn Fn(Preload, &TempDir) -> Command;

/// Runs a fixture without and with the library and checks that both behave
/// the same, apart from the `leak CASE ...` lines of the cases in `swept`:
/// each must say `arrived` without the library and `absent` with it.
/// Returns the control run's normalised stdout (the same as the other's).
fn assert_compatible(what: &str, swept: &[&str], make: MakeCommand) -> String {
    let [without, with] = [Preload::Without, Preload::With].map(|preload| {
        let dir = TempDir::new("compat-rt");
        let mut cmd = make(preload, &dir);
        // Only fds 0-2 at the start, so the listings are the same each run.
        close_inherited_fds(&mut cmd);
        let mut out = run_in(cmd, preload, &dir, TIMEOUT);
        out.stdout = normalise(&out.stdout, dir.path());
        out
    });
    assert!(
        without.success() && without.stdout.lines().last() == Some("done"),
        "{what}: the control run without the library failed\n{without}"
    );
    let (without, leaks_without) = split_leaks(without, swept);
    let (with, leaks_with) = split_leaks(with, swept);
    assert_same_behaviour(what, &without, &with);
    for case in swept {
        assert_eq!(
            leaks_without
                .iter()
                .find(|(c, _)| c == case)
                .map(|(_, s)| s.as_str()),
            Some("arrived"),
            "{what}: control: the leak next to {case} must arrive without the library\n{without}"
        );
        assert_eq!(
            leaks_with
                .iter()
                .find(|(c, _)| c == case)
                .map(|(_, s)| s.as_str()),
            Some("absent"),
            "{what}: the leak next to {case} must be swept by the library\n{with}"
        );
    }
    without.stdout
}

/// Checks a runtime that never lets its own leak through: `opened` (the
/// script's line that shows how the runtime opened the held file) is there,
/// and no child listed the file `held`.
fn assert_never_leaks(what: &str, stdout: &str, opened: &str, held: &str) {
    assert!(
        stdout.lines().any(|l| l == opened),
        "{what}: expected the line {opened:?}\n{stdout}"
    );
    assert!(
        !stdout.contains(held),
        "{what}: a child got the runtime's own file {held}\n{stdout}"
    );
}

/// Removes the `leak CASE STATE` lines of the cases in `swept` from the
/// stdout of `out` and returns them as `(CASE, STATE)`.
fn split_leaks(mut out: Outcome, swept: &[&str]) -> (Outcome, Vec<(String, String)>) {
    let mut leaks = Vec::new();
    let mut rest = String::new();
    for line in out.stdout.lines() {
        let leak = line
            .strip_prefix("leak ")
            .and_then(|l| l.rsplit_once(' '))
            .filter(|(case, _)| swept.contains(case));
        match leak {
            Some((case, state)) => leaks.push((case.to_string(), state.to_string())),
            None => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    out.stdout = rest;
    (out, leaks)
}

/// What legitimately differs between two runs: the scratch dir (`DIR`),
/// the numbers of the output files in it, inode numbers in
/// `pipe:[N]`/`socket:[N]`, the probe's pid, and a pty's carriage returns.
fn normalise(text: &str, dir: &Path) -> String {
    let text = text
        .replace(dir.to_str().expect("temp dir path is UTF-8"), "DIR")
        .replace('\r', "");
    let text: String = text
        .lines()
        .map(|line| match line.strip_prefix("probe method ") {
            Some(rest) => format!(
                "probe method {}\n",
                rest.split(" pid ").next().unwrap_or("")
            ),
            None => format!("{line}\n"),
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(['[', '.']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (keep, close) = if tail.starts_with('[') {
            ("[", "]")
        } else if let Some(t) = [".stdout.", ".stderr."]
            .iter()
            .find(|t| tail.starts_with(**t))
        {
            (*t, "")
        } else {
            (".", "")
        };
        let after = &tail[keep.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(keep);
        if keep != "." && digits > 0 && after[digits..].starts_with(close) {
            rest = &after[digits..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

// --- Python -----------------------------------------------------------------

const PYTHON: &str = "/usr/bin/python3";

/// `subprocess` (`pass_fds`, `close_fds=False` with `os.set_inheritable`),
/// `os.system` (its shell told an inheritable fd's number) and `os.popen`,
/// `os.posix_spawn` with file actions (a `DUP2` onto fd 7, an `OPEN` at fd 8),
/// `asyncio` subprocess pipes, `pty.spawn`, and `multiprocessing` under
/// fork, spawn and forkserver (a Pipe, a Queue, a Pool). And a server that
/// re-execs itself (`os.execv` of the same python) with a listening socket
/// it tells its next self nothing about (a `dup`, inheritable, no act of
/// intent: K10 keeps it), which then serves through it.
///
/// Leaks: a ctypes `open` next to `close_fds=False`, `os.system`,
/// `posix_spawn`, `pty.spawn` and the re-exec reaches the child without the
/// library, and so does the listener when a fork child execs another
/// program (`sh`). Next to `pass_fds`
/// and the `multiprocessing` start methods that exec (spawn, forkserver)
/// Python closes it in the child itself (`close_fds=True`), and the fork
/// method execs nothing; those lines are compared, not split off.
#[test]
fn python() {
    if !require(PYTHON, "the Python cases") {
        return;
    }
    let _ = assert_compatible(
        "python",
        &[
            "close_fds=False",
            "os.system",
            "posix_spawn",
            "pty",
            "listener-to-other-program",
            "reexec",
        ],
        &|preload, dir| {
            let mut cmd = clean_command(PYTHON, preload);
            cmd.env("PYTHONDONTWRITEBYTECODE", "1")
                .arg(script("compat.py"))
                .arg(harness("probe"))
                .arg(dir.path());
            cmd
        },
    );
}

// --- Java -------------------------------------------------------------------

/// `Compat.java`, compiled once per test binary (javac is slow); returns the
/// class path.
fn java_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compat-java");
        let scratch = TempDir::new("javac");
        let out = Command::new("javac")
            .arg("-d")
            .arg(scratch.path())
            .arg(script("Compat.java"))
            .env_remove("LD_PRELOAD")
            .output()
            .expect("cannot run javac");
        assert!(
            out.status.success(),
            "javac Compat.java failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::create_dir_all(&target).expect("create the class dir");
        // A rename, so a test binary running at the same time never sees half a file.
        std::fs::rename(scratch.join("Compat.class"), target.join("Compat.class"))
            .expect("install Compat.class");
        target
    })
}

/// `ProcessBuilder` with pipes, with `redirectInput`/`redirectOutput` (and
/// `appendTo`) to files, `inheritIO` and `startPipeline`, in one JVM, under
/// the launch mechanism `mechanism`. Under `POSIX_SPAWN` the JVM starts
/// `jspawnhelper` with the numbers of its pipes in argv (`11:12:14`) and
/// sends it the child's stdio fds over a pipe.
fn java(mechanism: &str) {
    if !require("java", "the Java cases") || !require("javac", "compiling the Java cases") {
        return;
    }
    let classes = java_classes();
    let what = format!("java {mechanism}");
    let stdout = assert_compatible(&what, &[], &|preload, dir| {
        let mut cmd = clean_command("java", preload);
        cmd.args([
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
        ])
        .arg(format!("-Djdk.lang.Process.launchMechanism={mechanism}"))
        .arg("-cp")
        .arg(classes)
        .arg("Compat")
        .arg(harness("probe"))
        .arg(dir.path());
        cmd
    });
    assert_never_leaks(
        &what,
        &stdout,
        "java opens files inheritable: true",
        "held-open",
    );
}

#[test]
fn java_posix_spawn() {
    java("POSIX_SPAWN");
}

#[test]
fn java_vfork() {
    java("VFORK");
}

#[test]
fn java_fork() {
    java("FORK");
}

// --- Node -------------------------------------------------------------------

/// `child_process.fork` with its IPC channel (a message round trip; the
/// channel's fd is named in `NODE_CHANNEL_FD`), `spawn` with extra `stdio`
/// entries (pipes at fds 3 and 4 that the child uses, a file at fd 5), and
/// `cluster` workers sharing one listening socket (port 0), serving requests
/// under both scheduling policies (round robin: the primary accepts and
/// hands each connection over; `none`: the listener itself is sent to every
/// worker).
///
/// Leaks: none to plant; libuv opens every fd with `O_CLOEXEC` (the script
/// checks that for a file it opened, and the listings show it never
/// arrives).
#[test]
fn node() {
    if !require("node", "the Node cases") {
        return;
    }
    let stdout = assert_compatible("node", &[], &|preload, dir| {
        let mut cmd = clean_command("node", preload);
        cmd.arg(script("compat.js"))
            .arg(harness("probe"))
            .arg(dir.path());
        cmd
    });
    assert_never_leaks(
        "node",
        &stdout,
        "node opens files with O_CLOEXEC: true",
        "held-by-node",
    );
}

// --- Perl -------------------------------------------------------------------

/// `system` (list and shell forms), backticks, `open` with `-|` (a command
/// and a fork), an fd made inheritable with `fcntl(F_SETFD, 0)` whose number
/// the child reads from its stdin, and a handle opened under a raised `$^F`
/// whose number the child is told in argv.
///
/// Leaks: a `POSIX::open` (no `O_CLOEXEC`) next to `system`, `open -|`, the
/// `fcntl` case and the `$^F` case.
#[test]
fn perl() {
    if !require("perl", "the Perl cases") {
        return;
    }
    let _ = assert_compatible(
        "perl",
        &["system", "open-pipe", "fcntl", "maxfd"],
        &|preload, dir| {
            let mut cmd = clean_command("perl", preload);
            cmd.arg(script("compat.pl"))
                .arg(harness("probe"))
                .arg(dir.path());
            cmd
        },
    );
}

#[test]
fn normalise_hides_what_differs_between_runs() {
    let dir = Path::new("/tmp/x-1");
    assert_eq!(
        normalise(
            "fd 1 /tmp/x-1/.stdout.12\nfd 4 pipe:[123] 3.5\r\n[7] a.b\nprobe method proc pid 77 rlimit 9",
            dir
        ),
        "fd 1 DIR/.stdout.\nfd 4 pipe:[] 3.5\n[] a.b\nprobe method proc\n"
    );
}
