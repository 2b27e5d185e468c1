//! `make install` and `make uninstall` into a temporary `DESTDIR` with a
//! `PREFIX`: the three files land where they should, the installed command
//! finds the installed library and applies it, and uninstall removes those
//! three files and nothing else.

mod common;

use common::{PYTHON, TempDir, require, root, text, unpreloaded};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const PREFIX: &str = "/opt/cloexec-test";

/// `make -s -C <root> args…`, with the caller's make and preload settings
/// removed so that only `args` decide.
fn make(args: &[String]) -> Output {
    let mut cmd = Command::new("make");
    cmd.args(["-s", "-C"]).arg(root()).args(args);
    for name in [
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "PREFIX",
        "DESTDIR",
        "LD_PRELOAD",
    ] {
        cmd.env_remove(name);
    }
    cmd.output().expect("run make")
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Python leaks `marker` (libc `open`, no `O_CLOEXEC`) and execs `ls -l
/// /proc/self/fd`; true if the marker is still open in `ls`.
fn leak_seen(mut cmd: Command, marker: &Path) -> bool {
    let script = "import ctypes, os, sys\n\
fd = ctypes.CDLL(None).open(sys.argv[1].encode(), os.O_RDONLY)\n\
assert fd >= 0\n\
os.execv('/bin/ls', ['ls', '-l', '/proc/self/fd'])\n";
    let out = cmd
        .args(["-c", script])
        .arg(marker)
        .output()
        .expect("run python");
    assert_ok(&out, &format!("{cmd:?}"));
    text(&out.stdout)
        .lines()
        .any(|l| l.ends_with(&format!(" -> {}", marker.display())))
}

#[test]
fn install_then_uninstall() {
    let destdir_tmp = TempDir::new("install-destdir");
    let destdir = destdir_tmp.path();
    let vars = [
        format!("DESTDIR={}", destdir.display()),
        format!("PREFIX={PREFIX}"),
    ];
    let staged = destdir.join(PREFIX.trim_start_matches('/'));
    let lib = staged.join("lib/libcloexec.so");
    let bin = staged.join("bin/cloexec");
    let man = staged.join("share/man/man1/cloexec.1");

    // Other software's files in the same directories must survive uninstall.
    let others = [
        staged.join("lib/libother.so"),
        staged.join("bin/other"),
        staged.join("share/man/man1/other.1"),
    ];
    for other in &others {
        fs::create_dir_all(other.parent().unwrap()).unwrap();
        fs::write(other, "not ours\n").unwrap();
    }

    assert_ok(
        &make(&[&["install".to_owned()][..], &vars].concat()),
        "make install",
    );
    let built = root().join("target/release");
    assert_eq!(
        fs::read(&lib).unwrap(),
        fs::read(built.join("libcloexec.so")).unwrap()
    );
    assert_eq!(
        fs::read(&bin).unwrap(),
        fs::read(built.join("cloexec")).unwrap()
    );
    assert_eq!(
        fs::read(&man).unwrap(),
        fs::read(root().join("man/cloexec.1")).unwrap()
    );
    assert_eq!(
        fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        fs::metadata(&lib).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(
        fs::metadata(&man).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let out = unpreloaded(&bin).arg("--version").output().unwrap();
    assert_ok(&out, "installed cloexec --version");
    assert_eq!(
        text(&out.stdout),
        format!("cloexec {}\n", env!("CARGO_PKG_VERSION"))
    );

    // The installed command preloads the installed library, from ../lib.
    let out = unpreloaded(&bin)
        .args(["/usr/bin/printenv", "LD_PRELOAD"])
        .output()
        .unwrap();
    assert_ok(&out, "installed cloexec printenv");
    let installed_lib = fs::canonicalize(&lib).unwrap();
    assert_eq!(text(&out.stdout), format!("{}\n", installed_lib.display()));

    if require(PYTHON, "the leak check runs a Python program") {
        let marker = destdir.join("marker");
        fs::write(&marker, "leak me\n").unwrap();
        assert!(
            leak_seen(unpreloaded(PYTHON), &marker),
            "control run: no leak"
        );
        let mut wrapped = unpreloaded(&bin);
        wrapped.args(["--strict", "--", PYTHON]);
        assert!(!leak_seen(wrapped, &marker), "leak under installed cloexec");
    }

    assert_ok(
        &make(&[&["uninstall".to_owned()][..], &vars].concat()),
        "make uninstall",
    );
    for gone in [&lib, &bin, &man] {
        assert!(!gone.exists(), "{} is still there", gone.display());
    }
    for other in &others {
        assert_eq!(fs::read_to_string(other).unwrap(), "not ours\n");
    }
}

/// Without `PREFIX`, install goes under `/usr/local`. A dry run (`-n`)
/// shows it without writing there.
#[test]
fn default_prefix_is_usr_local() {
    let out = make(&[
        "-n".to_owned(),
        "install".to_owned(),
        "DESTDIR=/staged".to_owned(),
    ]);
    assert_ok(&out, "make -n install");
    let plan = text(&out.stdout);
    for file in [
        "/staged/usr/local/lib/libcloexec.so",
        "/staged/usr/local/bin/cloexec",
        "/staged/usr/local/share/man/man1/cloexec.1",
    ] {
        assert!(plan.contains(file), "{file} not in:\n{plan}");
    }
}
