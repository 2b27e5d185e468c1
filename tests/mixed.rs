//! Mixed cases (README "What is kept: the keep rules"): one exec carries an
//! accidental leak and a deliberate fd together, and under the default
//! `smart` policy only the deliberate one may arrive.
//!
//! The probe is `ls -l /proc/self/fd` in the new program. Every test runs the
//! same thing without the library first, as the control that shows the leak
//! does arrive when nothing sweeps it, so an absence under the library means
//! something. The C parent is `tests/fixtures/fdtool.c`, compiled once with
//! `cc`; the Python parents are `tests/fixtures/mixed_*.py`, run with the
//! real `/usr/bin/python3`.

mod common;

use common::{Preload, SHORT, TempDir, clean_command, fixture, run_in};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The probe every new program runs: it lists its own fds.
const PROBE: [&str; 3] = ["/bin/ls", "-l", "/proc/self/fd"];

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

/// Creates the files a parent opens in `dir`; each holds its own name.
fn files(dir: &TempDir, names: &[&str]) {
    for name in names {
        dir.write(name, name);
    }
}

/// `fdtool OPS... -- ls -l /proc/self/fd` (ops that end in `system:` make the `--` part unused).
fn fdtool_cmd(lib: Preload, ops: &[String]) -> Command {
    let mut cmd = clean_command(fdtool(), lib);
    cmd.args(ops).arg("--").args(PROBE);
    cmd
}

fn python(lib: Preload, script: &str, scratch: &TempDir) -> Command {
    let mut cmd = clean_command("/usr/bin/python3", lib);
    // No __pycache__ for leaky.py in the source tree.
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(fixture(script))
        .arg(scratch.path());
    cmd
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
fn probe(lib: Preload, scratch: &TempDir, cmd: Command) -> (FdTable, String) {
    let o = run_in(cmd, lib, scratch, SHORT);
    assert!(o.success(), "the run failed:\n{o}");
    (FdTable::parse(&o.stdout), o.to_string())
}

fn op(kind: &str, path: &Path) -> String {
    format!("{kind}:{}", path.display())
}

/// The C parent's three ways to exec, each with a leak and a `dup2`'d fd.
fn c_parent_leak_and_dup2(last: &[&str]) {
    for lib in Preload::ALL {
        let s = TempDir::new("c");
        files(&s, &["leaked", "meant"]);
        let mut ops = vec![
            op("leak", &s.join("leaked")),
            format!("{}:20", op("dup2", &s.join("meant"))),
        ];
        ops.extend(last.iter().map(|o| o.to_string()));
        let (fds, shown) = probe(lib, &s, fdtool_cmd(lib, &ops));
        let leaked = !fds.on(&s.join("leaked")).is_empty();
        let meant = fds.has(20, &s.join("meant"));
        match lib {
            Preload::Without => assert!(
                leaked && meant,
                "control {last:?}: without the library both fds should arrive:\n{shown}"
            ),
            Preload::With => assert!(
                !leaked && meant,
                "{last:?}: only the dup2'd fd 20 may arrive (leak arrived: {leaked}, \
                 fd 20 arrived: {meant}):\n{shown}"
            ),
            Preload::Strict => assert!(
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
        for lib in [Preload::Without, Preload::With] {
            let s = TempDir::new("argv");
            files(&s, &["leaked", "named"]);
            let mut cmd = clean_command(fdtool(), lib);
            cmd.arg(op("leak", &s.join("leaked")))
                .arg(format!("leakat:30:{}", s.join("named").display()))
                .args(&last);
            let o = run_in(cmd, lib, &s, SHORT);
            let fds = FdTable::parse(&o.stdout);
            let read = o.stdout.starts_with("named\n");
            let leaked = !fds.on(&s.join("leaked")).is_empty();
            match lib {
                Preload::Without => assert!(
                    read && leaked,
                    "control {last:?}: without the library both fds should arrive:\n{o}"
                ),
                _ => assert!(
                    read && !leaked && o.success(),
                    "{last:?}: fd 30 is named as /dev/fd/30 and must arrive, the leak \
                     must not (leak arrived: {leaked}):\n{o}"
                ),
            }
        }
    }
}

#[test]
fn python_ctypes_leak_and_pass_fds() {
    for lib in Preload::ALL {
        let s = TempDir::new("pass_fds");
        files(&s, &["leaked", "meant", "reused"]);
        let o = run_in(python(lib, "mixed_pass_fds.py", &s), lib, &s, SHORT);
        let shown = o.to_string();
        assert!(o.success(), "the Python parent failed:\n{shown}");
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
        let meant = !pass_fds.on(&s.join("meant")).is_empty();
        let leaked = !open_fds.on(&s.join("leaked")).is_empty();
        let reused = reused.has(number, &s.join("reused"));
        match lib {
            Preload::Without => assert!(
                meant && leaked && reused,
                "control: without the library the passed fd and both leaks should arrive:\n{shown}"
            ),
            Preload::With => {
                assert!(meant, "the pass_fds fd must arrive:\n{shown}");
                assert!(!leaked, "the ctypes leak must be swept:\n{shown}");
                assert!(
                    !reused,
                    "fd {number} was closed and reused for a leak; the intent recorded for \
                     the old file (in CPython's vfork child) must not keep it:\n{shown}"
                );
            }
            Preload::Strict => assert!(
                !meant && !leaked && !reused,
                "strict keeps only 0-2, pass_fds included:\n{shown}"
            ),
        }
    }
}

/// Runs a Python parent whose single section must show `kept` (file, fd or
/// any) arriving and the ctypes leak swept.
fn python_mixed(script: &str, kept: &[(&str, Option<u32>)]) {
    for lib in Preload::ALL {
        let s = TempDir::new("py");
        files(&s, &["leaked", "meant", "meant-dup2"]);
        let o = run_in(python(lib, script, &s), lib, &s, SHORT);
        let shown = o.to_string();
        assert!(o.success(), "the Python parent failed:\n{shown}");
        let parts = sections(&o.stdout);
        assert_eq!(parts.len(), 1, "expected one section:\n{shown}");
        let fds = parts.values().next().expect("one section");
        let leaked = !fds.on(&s.join("leaked")).is_empty();
        let arrived: Vec<bool> = (kept.iter())
            .map(|(name, fd)| match fd {
                Some(fd) => fds.has(*fd, &s.join(name)),
                None => !fds.on(&s.join(name)).is_empty(),
            })
            .collect();
        match lib {
            Preload::Without => assert!(
                leaked && arrived.iter().all(|a| *a),
                "control: without the library every fd should arrive:\n{shown}"
            ),
            Preload::With => assert!(
                !leaked && arrived.iter().all(|a| *a),
                "only {kept:?} may arrive (leak arrived: {leaked}, kept arrived: \
                 {arrived:?}):\n{shown}"
            ),
            Preload::Strict => assert!(
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
fn with_inherited_7(lib: Preload, file: &Path, ops: &[String]) -> Command {
    let mut cmd = clean_command("/bin/bash", lib);
    cmd.args(["-c", r#""$@" 7<"$0""#])
        .arg(file)
        .arg(fdtool())
        .args(ops)
        .arg("--")
        .args(PROBE);
    cmd
}

/// After fd 7 was `how` (inherited, dup2'd), closed, and reused for a leak:
/// the control must see the leak arrive, the library must sweep it.
fn assert_reuse_swept(lib: Preload, reused: bool, how: &str, shown: &str) {
    match lib {
        Preload::Without => assert!(reused, "control: the leak on fd 7 should arrive:\n{shown}"),
        _ => assert!(
            !reused,
            "fd 7 was {how}, closed, and reused for a leak: the leak must be swept:\n{shown}"
        ),
    }
}

/// K3: an inherited fd 7 arrives; once the program closes it and a leak lands
/// on 7, the leak is swept.
#[test]
fn inherited_fd_number_reused_for_a_leak_is_swept() {
    for lib in Preload::ALL {
        let s = TempDir::new("k3");
        files(&s, &["inherited", "reused"]);
        let (fds, shown) = probe(lib, &s, with_inherited_7(lib, &s.join("inherited"), &[]));
        let inherited = fds.has(7, &s.join("inherited"));
        match lib {
            Preload::Strict => assert!(!inherited, "strict sweeps inherited fd 7:\n{shown}"),
            _ => assert!(inherited, "inherited fd 7 must arrive:\n{shown}"),
        }
        if lib == Preload::Strict {
            continue; // bash already swept fd 7: there is nothing to close and reuse.
        }

        let ops = [
            "close:7".to_string(),
            format!("leakat:7:{}", s.join("reused").display()),
        ];
        let (fds, shown) = probe(lib, &s, with_inherited_7(lib, &s.join("inherited"), &ops));
        let reused = fds.has(7, &s.join("reused"));
        assert_reuse_swept(lib, reused, "inherited", &shown);
    }
}

/// K4: a `dup2`'d fd 7 arrives; once the program closes it and a leak lands on
/// 7, the leak is swept.
#[test]
fn dup2_fd_number_reused_for_a_leak_is_swept() {
    for lib in Preload::ALL {
        let s = TempDir::new("k4");
        files(&s, &["meant", "reused"]);
        let dup2 = format!("{}:7", op("dup2", &s.join("meant")));
        let (fds, shown) = probe(lib, &s, fdtool_cmd(lib, std::slice::from_ref(&dup2)));
        let meant = fds.has(7, &s.join("meant"));
        match lib {
            Preload::Strict => assert!(!meant, "strict sweeps the dup2'd fd 7:\n{shown}"),
            _ => assert!(meant, "the dup2'd fd 7 must arrive:\n{shown}"),
        }

        let ops = [
            dup2,
            "close:7".to_string(),
            format!("leakat:7:{}", s.join("reused").display()),
        ];
        let (fds, shown) = probe(lib, &s, fdtool_cmd(lib, &ops));
        let reused = fds.has(7, &s.join("reused"));
        assert_reuse_swept(lib, reused, "dup2'd", &shown);
    }
}

/// `strict` as the core issue defined it: only 0-2 and `CLOEXEC_KEEP` reach
/// the child, whatever was inherited, leaked or dup2'd. The pass-through list
/// is left at its default here: strict keeps only K2.
#[test]
fn strict_keeps_only_0_to_2_and_the_keep_list() {
    for keep in [None, Some("21")] {
        for lib in [Preload::Without, Preload::Strict] {
            let s = TempDir::new("strict");
            files(&s, &["inherited", "leaked", "meant", "listed"]);
            let ops = [
                op("leak", &s.join("leaked")),
                format!("{}:20", op("dup2", &s.join("meant"))),
                format!("{}:21", op("dup2", &s.join("listed"))),
            ];
            let mut cmd = with_inherited_7(lib, &s.join("inherited"), &ops);
            if lib == Preload::Strict {
                cmd.env_remove("CLOEXEC_PASSTHROUGH");
                if let Some(keep) = keep {
                    cmd.env("CLOEXEC_KEEP", keep);
                }
            }
            let (fds, shown) = probe(lib, &s, cmd);
            let listed = fds.has(21, &s.join("listed"));
            match lib {
                Preload::Without => assert!(
                    fds.has(7, &s.join("inherited"))
                        && fds.has(20, &s.join("meant"))
                        && listed
                        && !fds.on(&s.join("leaked")).is_empty(),
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
