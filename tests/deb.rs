//! The Debian package (README "System-wide"; `make deb`): built, checked by
//! lintian, installed for real with `dpkg -i`, used, and purged.
//!
//! Installing writes `/usr` and dpkg's database on this machine, so the test
//! takes a lock (tests of two checkouts never install at once) and purges
//! the package whatever happens (a guard's `Drop`, which runs on failure
//! too). `cloexec system enable` from the installed package, and the
//! removal that must disable it again, run inside a private mount
//! namespace with an overlay `/etc`: the machine's own `/etc/ld.so.preload`
//! is checked unchanged at the end.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{TempDir, real_etc, require, require_root, root};

const PACKAGE: &str = "libcloexec";

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    out
}

/// `make deb`, and the package it built.
fn build() -> PathBuf {
    run_ok(
        Command::new("make")
            .args(["-s", "-C"])
            .arg(root())
            .arg("deb")
            .env_remove("LD_PRELOAD"),
    );
    let dir = root().join("target/deb");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop().expect("make deb made no .deb")
}

fn multiarch() -> String {
    let out = run_ok(Command::new("dpkg-architecture").arg("-qDEB_HOST_MULTIARCH"));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Held while the package is installed: purges it on drop, so that a
/// failed assertion never leaves it on the machine.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let out = Command::new("dpkg").args(["--purge", PACKAGE]).output();
        // The library's entry in ld.so.cache goes with it.
        let _ = Command::new("ldconfig").status();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!("dpkg --purge {PACKAGE} failed: {}", text(&out));
        }
    }
}

/// An exclusive lock on a file in /tmp, held until dropped.
struct Lock {
    _file: File,
}

fn lock() -> Lock {
    let file = File::create("/tmp/cloexec-deb-test.lock").unwrap();
    // SAFETY: flock on an fd we own; it touches no memory.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(r, 0, "flock: {}", std::io::Error::last_os_error());
    Lock { _file: file }
}

#[test]
fn the_package_installs_enables_and_purges() {
    if !require_root("installs the package with dpkg -i")
        || !require("dpkg-deb", "builds the package")
        || !require("dpkg-shlibdeps", "computes its dependencies")
        || !require("lintian", "checks the package")
        || !require("unshare", "enables it in a private mount namespace")
    {
        return;
    }
    common::build_once();
    let deb = build();
    let arch_dir = format!("/usr/lib/{}", multiarch());
    let library = format!("{arch_dir}/libcloexec.so");

    // Contents, before anything is installed.
    let listing =
        String::from_utf8(run_ok(Command::new("dpkg-deb").arg("-c").arg(&deb)).stdout).unwrap();
    for path in [
        library.as_str(),
        "/usr/bin/cloexec",
        "/usr/share/man/man1/cloexec.1.gz",
        "/usr/share/man/man5/cloexec.conf.5.gz",
        "/usr/share/doc/libcloexec/copyright",
        "/usr/share/doc/libcloexec/changelog.Debian.gz",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!(".{path}"))),
            "{path} missing:\n{listing}"
        );
    }
    let control = String::from_utf8(
        run_ok(
            Command::new("dpkg-deb")
                .args(["-f"])
                .arg(&deb)
                .arg("Depends"),
        )
        .stdout,
    )
    .unwrap();
    assert!(control.contains("libc6"), "{control}");
    let scripts = TempDir::new("deb-control");
    run_ok(
        Command::new("dpkg-deb")
            .arg("-e")
            .arg(&deb)
            .arg(scripts.path()),
    );
    assert!(
        !scripts.join("postinst").exists(),
        "installing must enable nothing"
    );
    assert!(scripts.read("prerm").contains("cloexec system disable"));

    // lintian: no errors (warnings allowed: see the README).
    let lint = Command::new("lintian").arg(&deb).output().unwrap();
    let report = String::from_utf8_lossy(&lint.stdout);
    assert!(
        !report.lines().any(|l| l.starts_with("E: ")),
        "lintian errors:\n{report}"
    );

    let _lock = lock();
    let etc_before = real_etc();
    assert!(
        !installed(),
        "{PACKAGE} is already installed here; this test installs and purges it itself"
    );
    let guard = Installed;
    run_ok(
        Command::new("dpkg")
            .arg("-i")
            .arg(&deb)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    assert!(installed());
    assert_eq!(real_etc(), etc_before, "installing enabled something");
    for path in [
        library.as_str(),
        "/usr/bin/cloexec",
        "/usr/share/man/man5/cloexec.conf.5.gz",
    ] {
        assert!(Path::new(path).is_file(), "{path} not installed");
    }
    let status = run_ok(Command::new("/usr/bin/cloexec").args(["system", "status"]));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains(&format!("library: {library} (not listed)")),
        "the installed command finds the installed library: {status}"
    );

    // Enabled from the package in a private /etc; then removed there, so
    // that its prerm disables it (dpkg runs with the library preloaded).
    let dir = TempDir::new("deb-etc");
    let d = dir.path().display();
    let script = format!(
        "rm -f /etc/ld.so.preload /etc/cloexec.conf\n\
         /usr/bin/cloexec system enable --mode audit --log-to file:{d}/audit.log > {d}/enable.out\n\
         cp /etc/ld.so.preload {d}/enabled.preload\n\
         cat /proc/self/maps > {d}/maps\n\
         dpkg --purge {PACKAGE} > {d}/purge.out 2> {d}/purge.err\n\
         if [ -e /etc/ld.so.preload ]; then cp /etc/ld.so.preload {d}/after.preload; fi\n\
         /bin/true 2> {d}/after.err\n"
    );
    let out = common::in_private_etc(dir.path(), &script).expect("namespaces");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        dir.read("enabled.preload").lines().any(|l| l == library),
        "{}",
        dir.read("enable.out")
    );
    assert!(
        dir.read("maps").lines().any(|l| l.ends_with(&library)),
        "a new process maps the installed library"
    );
    assert!(
        !installed(),
        "purged inside the namespace: {}",
        dir.read("purge.err")
    );
    assert!(
        !dir.join("after.preload").exists(),
        "the prerm disabled it: {}{}",
        dir.read("purge.out"),
        dir.read("purge.err")
    );
    assert!(
        !dir.read("purge.err").contains("ld.so"),
        "{}",
        dir.read("purge.err")
    );
    assert_eq!(dir.read("after.err"), "", "a process after the removal");
    drop(guard);
    assert!(!installed());
    for path in [library.as_str(), "/usr/bin/cloexec"] {
        assert!(!Path::new(path).exists(), "{path} left after the purge");
    }
    assert_eq!(real_etc(), etc_before, "the machine's own /etc was changed");
}
