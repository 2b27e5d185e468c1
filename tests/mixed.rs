//! Mixed cases of issue #3: one exec carries an accidental leak and a
//! deliberate fd together, and under the default `smart` policy only the
//! deliberate one may arrive.
//!
//! The probe is `ls -l /proc/self/fd` in the new program. Every test runs the
//! same thing without the library first, as the control that shows the leak
//! does arrive when nothing sweeps it, so an absence under the library means
//! something. The C parent is `tests/fixtures/fdtool.c`, compiled once with
//! `cc`; the Python parents are `tests/fixtures/mixed_*.py`, run with the
//! real `/usr/bin/python3`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long one run may take before it is killed as hung.
const LIMIT: Duration = Duration::from_secs(30);

/// The probe every new program runs: it lists its own fds.
const PROBE: [&str; 3] = ["/bin/ls", "-l", "/proc/self/fd"];

/// Which library, if any, a run preloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    /// No `LD_PRELOAD`: the control.
    Without,
    /// The library with no `CLOEXEC_*` setting: the `smart` default.
    Smart,
    /// `CLOEXEC_POLICY=strict` and no pass-through program.
    Strict,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The absolute path of the preload library, built once through the Makefile.
fn library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let status = Command::new("make")
            .args(["-s", "-C"])
            .arg(root())
            .arg("all")
            .status()
            .expect("cannot run make");
        assert!(status.success(), "`make all` failed: {status}");
        let lib = root().join("target/release/libcloexec.so");
        assert!(lib.is_file(), "{} was not built", lib.display());
        lib
    })
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// `tests/fixtures/fdtool.c`, compiled once for this test binary.
fn fdtool() -> &'static Path {
    static FDTOOL: OnceLock<PathBuf> = OnceLock::new();
    FDTOOL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let exe = dir.join("fdtool");
        let tmp = dir.join(format!("fdtool.{}", std::process::id()));
        let status = Command::new("cc")
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&tmp)
            .arg(fixture("fdtool.c"))
            .status()
            .expect("cannot run cc");
        assert!(
            status.success(),
            "cc tests/fixtures/fdtool.c failed: {status}"
        );
        fs::rename(&tmp, &exe).expect("cannot install fdtool");
        exe
    })
}

/// A private temporary directory, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("libcloexec-mixed-{}-{n}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("cannot create a scratch directory");
        Scratch { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates the files a parent opens; each holds its own name.
    fn files(&self, names: &[&str]) {
        for name in names {
            fs::write(self.path(name), name).expect("cannot write a scratch file");
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A command with a clean, fixed environment (no inherited `CLOEXEC_*`,
/// `LD_PRELOAD`, `MAKEFLAGS` or `LISTEN_*`), preloading as `lib` says.
fn command(program: impl AsRef<OsStr>, lib: Lib) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("LC_ALL", "C");
    match lib {
        Lib::Without => {}
        Lib::Smart => {
            cmd.env("LD_PRELOAD", library());
        }
        Lib::Strict => {
            cmd.env("LD_PRELOAD", library())
                .env("CLOEXEC_POLICY", "strict")
                .env("CLOEXEC_PASSTHROUGH", "");
        }
    }
    cmd
}

/// `fdtool OPS... -- ls -l /proc/self/fd` (ops that end in `system:` make the `--` part unused).
fn fdtool_cmd(lib: Lib, ops: &[String]) -> Command {
    let mut cmd = command(fdtool(), lib);
    cmd.args(ops).arg("--").args(PROBE);
    cmd
}

fn python(lib: Lib, script: &str, scratch: &Scratch) -> Command {
    let mut cmd = command("/usr/bin/python3", lib);
    // No __pycache__ for leaky.py in the source tree.
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(fixture(script))
        .arg(&scratch.dir);
    cmd
}

/// What a run left behind. `status` is `None` if it was killed as hung.
struct Outcome {
    lib: Lib,
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "[{:?}] {status}", self.lib)?,
            None => write!(f, "[{:?}] killed after {LIMIT:?}", self.lib)?,
        }
        write!(
            f,
            "\n--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` in its own process group, stdin from /dev/null, stdout and
/// stderr into files, and kills the group if it is still running after [`LIMIT`].
fn run(lib: Lib, mut cmd: Command, scratch: &Scratch) -> Outcome {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let out = scratch.path(&format!(".stdout.{n}"));
    let err = scratch.path(&format!(".stderr.{n}"));
    let mut child: Child = cmd
        .env("HOME", &scratch.dir)
        .current_dir(&scratch.dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).expect("cannot create a stdout file"))
        .stderr(fs::File::create(&err).expect("cannot create a stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        match child.try_wait().expect("cannot wait for a child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                // The leader, then its whole group, with bash's builtin `kill`.
                let _ = child.kill();
                let _ = Command::new("/bin/bash")
                    .args(["-c", r#"kill -KILL -- "-$1""#, "bash"])
                    .arg(child.id().to_string())
                    .env_clear()
                    .stderr(Stdio::null())
                    .status();
                let _ = child.wait();
                break None;
            }
            None => sleep(Duration::from_millis(5)),
        }
    };
    Outcome {
        lib,
        status,
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    }
}

/// One probe's view of its fds: number → `/proc/self/fd` link.
#[derive(Debug, Default)]
struct FdTable(BTreeMap<u32, String>);

impl FdTable {
    /// Reads the `N -> target` lines of `ls -l /proc/self/fd`; other lines are ignored.
    fn parse(listing: &str) -> FdTable {
        let mut fds = BTreeMap::new();
        for line in listing.lines() {
            if let Some((left, target)) = line.split_once(" -> ")
                && let Some(Ok(fd)) = left.split_whitespace().last().map(str::parse)
            {
                fds.insert(fd, target.to_string());
            }
        }
        FdTable(fds)
    }

    /// The fds open on `file`.
    fn on(&self, file: &Path) -> Vec<u32> {
        let file = file.to_string_lossy();
        (self.0.iter())
            .filter(|(_, target)| **target == *file)
            .map(|(fd, _)| *fd)
            .collect()
    }

    fn has(&self, fd: u32, file: &Path) -> bool {
        self.0
            .get(&fd)
            .is_some_and(|t| *t == *file.to_string_lossy())
    }

    /// The fds other than 0-2 and the probe's own `/proc/<pid>/fd` directory.
    fn extra(&self) -> Vec<u32> {
        (self.0.iter())
            .filter(|(fd, target)| **fd > 2 && !is_proc_fd_dir(target))
            .map(|(fd, _)| *fd)
            .collect()
    }
}

fn is_proc_fd_dir(target: &str) -> bool {
    (target.strip_prefix("/proc/"))
        .and_then(|rest| rest.strip_suffix("/fd"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits the output of a Python parent into its `== name` sections.
fn sections(stdout: &str) -> BTreeMap<String, FdTable> {
    let mut out = BTreeMap::new();
    let mut name = None;
    let mut body = String::new();
    for line in stdout.lines().chain(["== end"]) {
        if let Some(next) = line.strip_prefix("== ") {
            if let Some(name) = name.take() {
                out.insert(name, FdTable::parse(&body));
            }
            name = Some(next.to_string());
            body.clear();
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Runs `cmd(lib)` for a single probe and returns its fd table; the run must succeed.
fn probe(lib: Lib, scratch: &Scratch, cmd: Command) -> (FdTable, String) {
    let o = run(lib, cmd, scratch);
    assert!(
        o.status.is_some_and(|s| s.success()),
        "the run failed:\n{o}"
    );
    (FdTable::parse(&o.stdout), o.to_string())
}

fn op(kind: &str, path: &Path) -> String {
    format!("{kind}:{}", path.display())
}

/// The C parent's three ways to exec, each with a leak and a `dup2`'d fd.
fn c_parent_leak_and_dup2(last: &[&str]) {
    for lib in [Lib::Without, Lib::Smart, Lib::Strict] {
        let s = Scratch::new("c");
        s.files(&["leaked", "meant"]);
        let mut ops = vec![
            op("leak", &s.path("leaked")),
            format!("{}:20", op("dup2", &s.path("meant"))),
        ];
        ops.extend(last.iter().map(|o| o.to_string()));
        let (fds, shown) = probe(lib, &s, fdtool_cmd(lib, &ops));
        let leaked = !fds.on(&s.path("leaked")).is_empty();
        let meant = fds.has(20, &s.path("meant"));
        match lib {
            Lib::Without => assert!(
                leaked && meant,
                "control {last:?}: without the library both fds should arrive:\n{shown}"
            ),
            Lib::Smart => assert!(
                !leaked && meant,
                "{last:?}: only the dup2'd fd 20 may arrive (leak arrived: {leaked}, \
                 fd 20 arrived: {meant}):\n{shown}"
            ),
            Lib::Strict => assert!(
                !leaked && !meant,
                "{last:?}: strict keeps only 0-2 (leak arrived: {leaked}, \
                 fd 20 arrived: {meant}):\n{shown}"
            ),
        }
    }
}

#[test]
fn c_parent_execs_with_a_leak_and_a_dup2() {
    c_parent_leak_and_dup2(&[]);
}

#[test]
fn c_parent_forked_child_execs_with_a_leak_and_a_dup2() {
    c_parent_leak_and_dup2(&["fork"]);
}

#[test]
fn c_parent_system_with_a_leak_and_a_dup2() {
    c_parent_leak_and_dup2(&["system:ls -l /proc/self/fd"]);
}

/// K5: a leak-looking fd is kept when the exec names it as /dev/fd/N, through
/// exec and through system(); the real leak beside it is still swept.
#[test]
fn c_parent_names_a_fd_in_argv_beside_a_leak() {
    let read_then_probe = "cat /dev/fd/30 && echo && ls -l /proc/self/fd";
    for last in [
        vec![
            "--".to_string(),
            "/bin/sh".into(),
            "-c".into(),
            read_then_probe.into(),
        ],
        vec![format!("system:{read_then_probe}")],
    ] {
        for lib in [Lib::Without, Lib::Smart] {
            let s = Scratch::new("argv");
            s.files(&["leaked", "named"]);
            let mut cmd = command(fdtool(), lib);
            cmd.arg(op("leak", &s.path("leaked")))
                .arg(format!("leakat:30:{}", s.path("named").display()))
                .args(&last);
            let o = run(lib, cmd, &s);
            let fds = FdTable::parse(&o.stdout);
            let read = o.stdout.starts_with("named\n");
            let leaked = !fds.on(&s.path("leaked")).is_empty();
            match lib {
                Lib::Without => assert!(
                    read && leaked,
                    "control {last:?}: without the library both fds should arrive:\n{o}"
                ),
                _ => assert!(
                    read && !leaked && o.status.is_some_and(|s| s.success()),
                    "{last:?}: fd 30 is named as /dev/fd/30 and must arrive, the leak \
                     must not (leak arrived: {leaked}):\n{o}"
                ),
            }
        }
    }
}

#[test]
fn python_ctypes_leak_and_pass_fds() {
    for lib in [Lib::Without, Lib::Smart, Lib::Strict] {
        let s = Scratch::new("pass_fds");
        s.files(&["leaked", "meant", "reused"]);
        let o = run(lib, python(lib, "mixed_pass_fds.py", &s), &s);
        let shown = o.to_string();
        assert!(
            o.status.is_some_and(|s| s.success()),
            "the Python parent failed:\n{shown}"
        );
        let parts = sections(&o.stdout);
        let part = |name: &str| {
            (parts.iter())
                .find(|(n, _)| n.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no section {name}:\n{shown}"))
        };
        let (_, pass_fds) = part("pass_fds");
        let (_, open_fds) = part("close_fds_false");
        let (reused_name, reused) = part("reused");
        let number: u32 = (reused_name.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad section {reused_name:?}"));
        let meant = !pass_fds.on(&s.path("meant")).is_empty();
        let leaked = !open_fds.on(&s.path("leaked")).is_empty();
        let reused = reused.has(number, &s.path("reused"));
        match lib {
            Lib::Without => assert!(
                meant && leaked && reused,
                "control: without the library the passed fd and both leaks should arrive:\n{shown}"
            ),
            Lib::Smart => {
                assert!(meant, "the pass_fds fd must arrive:\n{shown}");
                assert!(!leaked, "the ctypes leak must be swept:\n{shown}");
                assert!(
                    !reused,
                    "fd {number} was closed and reused for a leak; the intent recorded for \
                     the old file (in CPython's vfork child) must not keep it:\n{shown}"
                );
            }
            Lib::Strict => assert!(
                !meant && !leaked && !reused,
                "strict keeps only 0-2, pass_fds included:\n{shown}"
            ),
        }
    }
}

/// Runs a Python parent whose single section must show `kept` (file, fd or
/// any) arriving and the ctypes leak swept.
fn python_mixed(script: &str, kept: &[(&str, Option<u32>)]) {
    for lib in [Lib::Without, Lib::Smart, Lib::Strict] {
        let s = Scratch::new("py");
        s.files(&["leaked", "meant", "meant-dup2"]);
        let o = run(lib, python(lib, script, &s), &s);
        let shown = o.to_string();
        assert!(
            o.status.is_some_and(|s| s.success()),
            "the Python parent failed:\n{shown}"
        );
        let parts = sections(&o.stdout);
        assert_eq!(parts.len(), 1, "expected one section:\n{shown}");
        let fds = parts.values().next().expect("one section");
        let leaked = !fds.on(&s.path("leaked")).is_empty();
        let arrived: Vec<bool> = (kept.iter())
            .map(|(name, fd)| match fd {
                Some(fd) => fds.has(*fd, &s.path(name)),
                None => !fds.on(&s.path(name)).is_empty(),
            })
            .collect();
        match lib {
            Lib::Without => assert!(
                leaked && arrived.iter().all(|a| *a),
                "control: without the library every fd should arrive:\n{shown}"
            ),
            Lib::Smart => assert!(
                !leaked && arrived.iter().all(|a| *a),
                "only {kept:?} may arrive (leak arrived: {leaked}, kept arrived: \
                 {arrived:?}):\n{shown}"
            ),
            Lib::Strict => assert!(
                !leaked && arrived.iter().all(|a| !*a),
                "strict keeps only 0-2:\n{shown}"
            ),
        }
    }
}

#[test]
fn python_ctypes_leak_then_system() {
    python_mixed("mixed_system.py", &[("meant", None)]);
}

#[test]
fn python_ctypes_leak_then_fork_and_exec() {
    python_mixed(
        "mixed_fork.py",
        &[("meant", None), ("meant-dup2", Some(20))],
    );
}

/// `bash -c '"$@" 7<"$0"' FILE fdtool OPS -- ls`: fd 7 is inherited by fdtool.
fn with_inherited_7(lib: Lib, file: &Path, ops: &[String]) -> Command {
    let mut cmd = command("/bin/bash", lib);
    cmd.args(["-c", r#""$@" 7<"$0""#])
        .arg(file)
        .arg(fdtool())
        .args(ops)
        .arg("--")
        .args(PROBE);
    cmd
}

/// K3: an inherited fd 7 arrives; once the program closes it and a leak lands
/// on 7, the leak is swept.
#[test]
fn inherited_fd_number_reused_for_a_leak_is_swept() {
    for lib in [Lib::Without, Lib::Smart, Lib::Strict] {
        let s = Scratch::new("k3");
        s.files(&["inherited", "reused"]);
        let (fds, shown) = probe(lib, &s, with_inherited_7(lib, &s.path("inherited"), &[]));
        let inherited = fds.has(7, &s.path("inherited"));
        match lib {
            Lib::Strict => assert!(!inherited, "strict sweeps inherited fd 7:\n{shown}"),
            _ => assert!(inherited, "inherited fd 7 must arrive:\n{shown}"),
        }
        if lib == Lib::Strict {
            continue; // bash already swept fd 7: there is nothing to close and reuse.
        }

        let ops = [
            "close:7".to_string(),
            format!("leakat:7:{}", s.path("reused").display()),
        ];
        let (fds, shown) = probe(lib, &s, with_inherited_7(lib, &s.path("inherited"), &ops));
        let reused = fds.has(7, &s.path("reused"));
        match lib {
            Lib::Without => assert!(reused, "control: the leak on fd 7 should arrive:\n{shown}"),
            _ => assert!(
                !reused,
                "fd 7 was inherited, closed, and reused for a leak: the leak must be swept:\n{shown}"
            ),
        }
    }
}

/// K4: a `dup2`'d fd 7 arrives; once the program closes it and a leak lands on
/// 7, the leak is swept.
#[test]
fn dup2_fd_number_reused_for_a_leak_is_swept() {
    for lib in [Lib::Without, Lib::Smart, Lib::Strict] {
        let s = Scratch::new("k4");
        s.files(&["meant", "reused"]);
        let dup2 = format!("{}:7", op("dup2", &s.path("meant")));
        let (fds, shown) = probe(lib, &s, fdtool_cmd(lib, std::slice::from_ref(&dup2)));
        let meant = fds.has(7, &s.path("meant"));
        match lib {
            Lib::Strict => assert!(!meant, "strict sweeps the dup2'd fd 7:\n{shown}"),
            _ => assert!(meant, "the dup2'd fd 7 must arrive:\n{shown}"),
        }

        let ops = [
            dup2,
            "close:7".to_string(),
            format!("leakat:7:{}", s.path("reused").display()),
        ];
        let (fds, shown) = probe(lib, &s, fdtool_cmd(lib, &ops));
        let reused = fds.has(7, &s.path("reused"));
        match lib {
            Lib::Without => assert!(reused, "control: the leak on fd 7 should arrive:\n{shown}"),
            _ => assert!(
                !reused,
                "fd 7 was dup2'd, closed, and reused for a leak: the leak must be swept:\n{shown}"
            ),
        }
    }
}

/// `strict` as the core issue defined it: only 0-2 and `CLOEXEC_KEEP` reach
/// the child, whatever was inherited, leaked or dup2'd. The pass-through list
/// is left at its default here: strict keeps only K2.
#[test]
fn strict_keeps_only_0_to_2_and_the_keep_list() {
    for keep in [None, Some("21")] {
        for lib in [Lib::Without, Lib::Strict] {
            let s = Scratch::new("strict");
            s.files(&["inherited", "leaked", "meant", "listed"]);
            let ops = [
                op("leak", &s.path("leaked")),
                format!("{}:20", op("dup2", &s.path("meant"))),
                format!("{}:21", op("dup2", &s.path("listed"))),
            ];
            let mut cmd = with_inherited_7(lib, &s.path("inherited"), &ops);
            if lib == Lib::Strict {
                cmd.env_remove("CLOEXEC_PASSTHROUGH");
                if let Some(keep) = keep {
                    cmd.env("CLOEXEC_KEEP", keep);
                }
            }
            let (fds, shown) = probe(lib, &s, cmd);
            let listed = fds.has(21, &s.path("listed"));
            match lib {
                Lib::Without => assert!(
                    fds.has(7, &s.path("inherited"))
                        && fds.has(20, &s.path("meant"))
                        && listed
                        && !fds.on(&s.path("leaked")).is_empty(),
                    "control: without the library every fd should arrive:\n{shown}"
                ),
                _ => {
                    let want: Vec<u32> = keep.iter().map(|_| 21).collect();
                    assert_eq!(
                        fds.extra(),
                        want,
                        "strict with CLOEXEC_KEEP={keep:?}: only 0-2 and the keep list may \
                         arrive:\n{shown}"
                    );
                    assert_eq!(listed, keep.is_some(), "fd 21 is the listed file:\n{shown}");
                }
            }
        }
    }
}
