//! Shared helpers of the integration tests.
//!
//! - Paths: [`root`], [`lib_path`], [`harness`]; [`build_once`] builds them
//!   (`make -s -C <root> all`) once per test binary.
//! - Running: [`run`] spawns a [`Command`] with or without
//!   `LD_PRELOAD=<abs lib path>`, extra env and a timeout, and returns its
//!   [`Outcome`]. Inherited `LD_PRELOAD` and `CLOEXEC_*` are always removed
//!   first, so a control run is really without the library.
//! - Real programs (bash, make, python3, ...): [`clean_command`] gives one a
//!   fixed environment; [`run_in`] (or [`spawn_in`], then
//!   [`Running::finish`]) runs it inside a [`TempDir`] with its output in
//!   files there, so a stray grandchild can't hold the test up.
//! - Reading the harness (see `c-harness/README.md`): [`parse_fds`] reads the
//!   probe's `fd N TARGET` lines, [`parse_leaks`] the leaky parent's
//!   `leak N KIND TARGET` lines, [`leaks_seen`] says which leaks reached the
//!   probe (same number and same target).
//! - [`TempDir`] is a fresh directory per call, safe in parallel, removed on drop.
//! - [`fixture`] is a path under `tests/fixtures`.
//! - The hooks: [`ENTRIES`], [`EXEC_ENTRIES`] and [`HOOKS`], read from
//!   `c-harness/entry_points.h`, the list the C harness uses too.
//! - Other programs: [`unpreloaded`] keeps this process's environment less
//!   `LD_PRELOAD` and `CLOEXEC_*`; [`text`] reads their output; [`PYTHON`].
//! - Prerequisites: [`require`] (a program), [`require_root`], [`missing`]
//!   (anything else) fail under `CLOEXEC_TEST_REQUIRE=1` and skip with the
//!   reason otherwise.
//!
//! Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code)]

mod entry_points;
// Each test binary uses part of these, like the rest of this module.
#[allow(unused_imports)]
pub use entry_points::{ENTRIES, EXEC_ENTRIES, HOOKS};

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Timeout for a single harness run that should take milliseconds.
pub const SHORT: Duration = Duration::from_secs(30);
/// Timeout for a stress run (hundreds of fork+exec).
pub const LONG: Duration = Duration::from_secs(120);

/// The repository root (where `Cargo.toml` and `Makefile` are).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the library, the wrapper and the C harness with
/// `make -s -C <root> all`, once per test binary. Panics with make's output
/// if the build fails.
pub fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new("make")
            .args(["-s", "-C"])
            .arg(root())
            .arg("all")
            .env_remove("LD_PRELOAD")
            .output()
            .expect("cannot run make");
        assert!(
            out.status.success(),
            "make all failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The Python the tests drive (Debian's `python3`, listed in `.ci/packages`).
pub const PYTHON: &str = "/usr/bin/python3";

/// Program output as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `program` with this process's environment less `LD_PRELOAD` and every
/// `CLOEXEC_*` variable, so a developer's own settings cannot change the
/// outcome. (For a fixed environment instead, see [`clean_command`].)
pub fn unpreloaded(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    remove_library_env(&mut cmd);
    cmd
}

/// Removes `LD_PRELOAD` and every inherited `CLOEXEC_*` variable from `cmd`.
fn remove_library_env(cmd: &mut Command) {
    cmd.env_remove("LD_PRELOAD");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CLOEXEC_") {
            cmd.env_remove(&key);
        }
    }
}

/// Absolute path of `target/release/libcloexec.so`.
pub fn lib_path() -> PathBuf {
    root().join("target/release/libcloexec.so")
}

/// Absolute path of the harness program `target/harness/<name>`.
pub fn harness(name: &str) -> PathBuf {
    root().join("target/harness").join(name)
}

/// Absolute path of `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A new empty directory under the system temp dir, unique per process and
/// call (safe for tests running in parallel), removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir::new_in(&std::env::temp_dir(), tag)
    }

    /// A new empty directory under `parent` (which must exist).
    pub fn new_in(parent: &Path, tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("cloexec-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in this directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes the file `name` in this directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// The contents of the file `name` in this directory, or "" if there is none.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a run gets the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preload {
    /// No `LD_PRELOAD` (a control run).
    Without,
    /// `LD_PRELOAD=<lib_path()>`; with no other setting, the `smart` default.
    With,
    /// `LD_PRELOAD=<lib_path()>`, `CLOEXEC_POLICY=strict` and an empty
    /// `CLOEXEC_PASSTHROUGH`: only fds 0-2 may reach the new program.
    Strict,
}

impl Preload {
    /// The three ways, control first.
    pub const ALL: [Preload; 3] = [Preload::Without, Preload::With, Preload::Strict];

    /// Sets `LD_PRELOAD` and the settings of this way on `cmd`.
    fn apply(self, cmd: &mut Command) {
        match self {
            Preload::Without => {}
            Preload::With => {
                cmd.env("LD_PRELOAD", lib_path());
            }
            Preload::Strict => {
                cmd.env("LD_PRELOAD", lib_path())
                    .env("CLOEXEC_POLICY", "strict")
                    .env("CLOEXEC_PASSTHROUGH", "");
            }
        }
    }
}

/// How a run ended, with everything it wrote.
#[derive(Debug)]
pub struct Outcome {
    /// How the run was preloaded.
    pub preload: Preload,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal ended it.
    pub signal: Option<i32>,
    /// True if it ran past the timeout and was killed.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn new(
        preload: Preload,
        status: ExitStatus,
        timed_out: bool,
        stdout: String,
        stderr: String,
    ) -> Outcome {
        Outcome {
            preload,
            code: status.code(),
            signal: status.signal(),
            timed_out,
            stdout,
            stderr,
        }
    }

    /// True if it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A multi-line summary for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "code {:?}, signal {:?}, timed out {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.signal,
            self.timed_out,
            clip(&self.stdout),
            clip(&self.stderr)
        )
    }
}

/// `[Preload] ` and then [`Outcome::describe`].
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?}] {}", self.preload, self.describe())
    }
}

/// Keeps assertion messages readable: the first and last lines of long output.
fn clip(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 120 {
        return text.to_string();
    }
    format!(
        "{}\n[... {} lines ...]\n{}",
        lines[..60].join("\n"),
        lines.len() - 120,
        lines[lines.len() - 60..].join("\n")
    )
}

/// Runs `cmd` with stdout and stderr captured and stdin from /dev/null.
///
/// Removes inherited `LD_PRELOAD` and `CLOEXEC_*`, then sets `LD_PRELOAD` per
/// `preload` and the pairs in `env`. The child gets its own process group; on
/// timeout the whole group is killed and the outcome has `timed_out` set.
pub fn run(mut cmd: Command, preload: Preload, env: &[(&str, &str)], timeout: Duration) -> Outcome {
    remove_library_env(&mut cmd);
    preload.apply(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = spawn_in_group(&mut cmd, Stdio::piped(), Stdio::piped());
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let (status, timed_out) = wait_or_kill(&mut child, Instant::now() + timeout);
    Outcome::new(
        preload,
        status,
        timed_out,
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
    )
}

/// Spawns `cmd` as the leader of a new process group, stdin from /dev/null.
fn spawn_in_group(cmd: &mut Command, stdout: Stdio, stderr: Stdio) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"))
}

/// Waits until `child`, a process group leader, has exited or `deadline` has
/// passed, then kills its group and reaps it. Returns its status and whether
/// it ran past the deadline.
fn wait_or_kill(child: &mut Child, deadline: Instant) -> (ExitStatus, bool) {
    let pid = child.id();
    let mut timed_out = false;
    while !exited(pid) {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    // The child is a zombie (or hung) and still holds its process group id,
    // so this reaches only its own group: on timeout the child itself, and
    // always any grandchild still holding the output pipes or files.
    kill_group(pid);
    (child.wait().expect("wait for child"), timed_out)
}

/// True once the child has exited; it is not reaped (WNOWAIT).
fn exited(pid: u32) -> bool {
    // SAFETY: waitid writes only into `info`, a zeroed siginfo_t we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

fn kill_group(pgid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group the child
    // leads (process_group(0)); it touches no memory of ours.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
}

/// A real program with a clean, fixed environment: nothing inherited (no
/// `CLOEXEC_*`, `LD_PRELOAD`, `MAKEFLAGS` or `LISTEN_*`), a standard `PATH`,
/// `LC_ALL=C`, and the library as `preload` says. Builds the library first
/// ([`build_once`]).
pub fn clean_command(program: impl AsRef<OsStr>, preload: Preload) -> Command {
    build_once();
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("LC_ALL", "C");
    preload.apply(&mut cmd);
    cmd
}

/// A program started by [`spawn_in`].
pub struct Running {
    child: Child,
    preload: Preload,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    /// True once it has exited (it is not reaped: [`Running::finish`] still
    /// gets its status).
    pub fn exited(&self) -> bool {
        exited(self.child.id())
    }

    /// Waits for it until `deadline` and kills its process group then (at
    /// once if it has exited); its outcome has `timed_out` set if it was
    /// still running.
    pub fn finish(mut self, deadline: Instant) -> Outcome {
        let (status, timed_out) = wait_or_kill(&mut self.child, deadline);
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        Outcome::new(
            self.preload,
            status,
            timed_out,
            read(&self.stdout),
            read(&self.stderr),
        )
    }
}

/// Starts `cmd` (made by [`clean_command`] with the same `preload`) in its
/// own process group, in `dir` and with `HOME=dir`, stdin from /dev/null,
/// stdout and stderr into files in `dir` (files, not pipes: a stray
/// grandchild in another group can't hold the test up).
pub fn spawn_in(mut cmd: Command, preload: Preload, dir: &TempDir) -> Running {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stdout = dir.join(&format!(".stdout.{n}"));
    let stderr = dir.join(&format!(".stderr.{n}"));
    let create = |path: &Path| {
        std::fs::File::create(path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
    };
    cmd.env("HOME", dir.path()).current_dir(dir.path());
    let child = spawn_in_group(
        &mut cmd,
        Stdio::from(create(&stdout)),
        Stdio::from(create(&stderr)),
    );
    Running {
        child,
        preload,
        stdout,
        stderr,
    }
}

/// [`spawn_in`] and [`Running::finish`] after `timeout`.
pub fn run_in(cmd: Command, preload: Preload, dir: &TempDir, timeout: Duration) -> Outcome {
    spawn_in(cmd, preload, dir).finish(Instant::now() + timeout)
}

/// Makes `cmd` start with only fds 0, 1 and 2: every other fd the test
/// process has (this machine hands out extra inherited fds) is marked
/// close-on-exec in the child just before exec, with
/// `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`. (Marked, not closed: std's own
/// exec-error pipe must stay open until the exec.)
pub fn close_inherited_fds(cmd: &mut Command) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: the closure makes only close_range or fcntl syscalls, which are
    // async-signal-safe and allocate nothing, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) != 0 {
                // A kernel before 5.11 (no CLOSE_RANGE_CLOEXEC): one by
                // one, up to the harness's limit.
                for fd in 3..65536 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
}

/// The probe's report: fd number -> target, from its `fd N TARGET` lines.
pub fn parse_fds(text: &str) -> BTreeMap<i32, String> {
    let mut fds = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        if parts.next() != Some("fd") {
            continue;
        }
        if let (Some(Ok(n)), Some(target)) = (parts.next().map(str::parse), parts.next()) {
            fds.insert(n, target.to_string());
        }
    }
    fds
}

/// One fd the leaky parent opened without close-on-exec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    pub kind: String,
    pub target: String,
}

/// The leaky parent's leaks: fd number -> kind and target, from its
/// `leak N KIND TARGET` lines.
pub fn parse_leaks(text: &str) -> BTreeMap<i32, Leak> {
    let mut leaks = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(4, ' ');
        if parts.next() != Some("leak") {
            continue;
        }
        if let (Some(Ok(n)), Some(kind), Some(target)) =
            (parts.next().map(str::parse), parts.next(), parts.next())
        {
            leaks.insert(
                n,
                Leak {
                    kind: kind.to_string(),
                    target: target.to_string(),
                },
            );
        }
    }
    leaks
}

/// The leaks that reached the probe: same fd number, same target.
pub fn leaks_seen(leaks: &BTreeMap<i32, Leak>, fds: &BTreeMap<i32, String>) -> Vec<i32> {
    leaks
        .iter()
        .filter(|(n, leak)| fds.get(n) == Some(&leak.target))
        .map(|(n, _)| *n)
        .collect()
}

/// A `leaky` command: `leaky ENTRY OPTIONS... -- probe PROBE_ARGS...`.
/// (Its temp files carry its pid and are unlinked at once, so runs in
/// parallel never collide.)
pub fn leaky(entry: &str, options: &[&str], probe_args: &[&str]) -> Command {
    let mut cmd = Command::new(harness("leaky"));
    cmd.arg(entry)
        .args(options)
        .arg("--")
        .arg(harness("probe"))
        .args(probe_args);
    cmd
}

/// How many times the probe reported (its `probe method ...` lines).
pub fn probe_runs(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("probe method "))
        .count()
}

/// The `HARNESS_MARK` the probe saw in its environment, if any.
pub fn probe_mark(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("probe-env HARNESS_MARK "))
}

/// `fd (kind)` for each listed leak, for assertion messages.
pub fn name_leaks(leaks: &BTreeMap<i32, Leak>, fds: &[i32]) -> String {
    let names: Vec<String> = fds
        .iter()
        .map(|n| match leaks.get(n) {
            Some(l) => format!("{n} ({} {})", l.kind, l.target),
            None => n.to_string(),
        })
        .collect();
    names.join(", ")
}

/// Whether `program` can be run here (found on `PATH`, or an existing path).
/// When it cannot: with `CLOEXEC_TEST_REQUIRE=1` (set by `.ci/run`, which
/// installs everything the tests use) the test fails; otherwise it prints
/// why it skips and returns false.
pub fn require(program: &str, why: &str) -> bool {
    let found = if program.contains('/') {
        Path::new(program).exists()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    if !found {
        missing(
            &format!("{program} is not installed"),
            &format!("{why}; .ci/run installs it"),
        );
    }
    found
}

/// Whether the test runs as root (it makes setuid files, mounts, namespaces).
/// When it does not, [`missing`] says so: the test fails under
/// `CLOEXEC_TEST_REQUIRE=1` (CI runs as root), else it prints why it skips.
pub fn require_root(why: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        missing("not running as root", why);
    }
    root
}

/// Reports a missing prerequisite (a program, a privilege, a kernel
/// facility) of a test that is about to return early. Under
/// `CLOEXEC_TEST_REQUIRE=1`, set by `.ci/run` where everything the tests
/// need is there, it fails the test instead: on CI, a skip is a defect.
/// Otherwise it prints `skipped: WHAT (WHY)` on stderr.
pub fn missing(what: &str, why: &str) {
    if std::env::var_os("CLOEXEC_TEST_REQUIRE").is_some_and(|v| v == "1") {
        panic!("required, and missing: {what} ({why})");
    }
    eprintln!("skipped: {what} ({why})");
}

/// The compatibility check: a run with the library (default settings)
/// behaves exactly as the control run without it. Same exit code or
/// signal, same stdout, and the library wrote nothing to stderr.
pub fn assert_same_behaviour(what: &str, without: &Outcome, with: &Outcome) {
    assert_eq!(without.preload, Preload::Without, "{what}: control first");
    assert!(
        !without.timed_out,
        "{what}: the control run timed out\n{without}"
    );
    assert!(
        (with.code, with.signal, with.timed_out) == (without.code, without.signal, false)
            && with.stdout == without.stdout,
        "{what}: behaves differently with the library\n{without}\n{with}"
    );
    assert!(
        !with.stderr.contains("libcloexec["),
        "{what}: the library wrote to stderr at the default level\n{with}"
    );
}

/// True if a user who is neither owner nor group can search `dir` and
/// every directory above it.
fn reachable_by_others(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    dir.ancestors().all(|d| {
        std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o001 != 0)
    })
}

/// True if the filesystem of `dir` honours the setuid bit and allows exec.
fn allows_setuid_exec(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string; statvfs writes only
    // into `st`, a zeroed struct we own.
    let (r, st) = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(path.as_ptr(), &mut st), st)
    };
    r == 0 && st.f_flag & (libc::ST_NOSUID | libc::ST_NOEXEC) == 0
}

/// A fresh 0755 scratch directory that `nobody` can reach, on a mount that
/// honours setuid, for programs that run as nobody or setuid and must load
/// the library (the checkout may sit under a 0700 home or a `mktemp -d`
/// directory): under the first candidate parent that fits. None if there
/// is none.
pub fn scratch_for_nobody(tag: &str) -> Option<TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let candidates = [
        std::env::temp_dir(),
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
        PathBuf::from("/run"),
    ];
    let parent = candidates
        .iter()
        .find(|p| reachable_by_others(p) && allows_setuid_exec(p))?;
    let dir = TempDir::new_in(parent, tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(dir)
}

/// Copies `from` to `to` with `mode`.
pub fn install(from: &Path, to: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `script` with `sh -e` in a private mount namespace (`unshare -m`)
/// whose `/etc` is an overlay with its upper and work directories in
/// `dir`: whatever the script writes to `/etc` stays in `dir`, and the
/// machine's own `/etc` (its `ld.so.preload`, `cloexec.conf`) is never
/// touched. Inherited `LD_PRELOAD` and `CLOEXEC_*` are removed. Returns
/// the output, or None (after [`missing`]) when namespaces or overlayfs
/// are not available here.
pub fn in_private_etc(dir: &Path, script: &str) -> Option<std::process::Output> {
    for sub in ["etc-upper", "etc-work"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let full = format!(
        "mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/etc-upper,workdir={d}/etc-work /etc || exit 97\n\
         set -e\n{script}",
        d = dir.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &full]);
    remove_library_env(&mut cmd);
    let out = cmd.output().expect("cannot run unshare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(97)
        || stderr.contains("unshare failed")
        || stderr.contains("Operation not permitted")
    {
        missing(
            "unshare -m or overlayfs",
            "system-wide tests change /etc only in a private mount namespace",
        );
        return None;
    }
    Some(out)
}

/// What the machine's own `/etc/ld.so.preload` and `/etc/cloexec.conf`
/// hold (None: no such file), to check that a test left them as they were.
pub fn real_etc() -> [(PathBuf, Option<Vec<u8>>); 2] {
    ["/etc/ld.so.preload", "/etc/cloexec.conf"].map(|p| (PathBuf::from(p), std::fs::read(p).ok()))
}
