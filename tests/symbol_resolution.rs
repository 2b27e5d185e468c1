//! The load-time symbol walk (`src/nextsym.rs`) must answer exactly what
//! `dlsym(RTLD_NEXT)` answers, for every hooked symbol. The library's debug
//! check (`CLOEXEC_DEBUG_RESOLVE=1`) resolves each symbol both ways and
//! prints one line per symbol; these tests read those lines under the load
//! orders that matter: alone, before and after another preload that
//! interposes some of the same symbols, in a program with more libraries,
//! and in a musl program (where the walk must step aside for `dlsym`).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Preload, TempDir, clean_command, lib_path, require, run};

/// Every symbol the library resolves (src/real.rs).
const HOOKED: [&str; 39] = [
    "execve",
    "execv",
    "execvp",
    "execvpe",
    "fexecve",
    "execveat",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
    "dup2",
    "dup3",
    "fcntl",
    "fcntl64",
    "ioctl",
    "flock",
    "lockf",
    "lockf64",
    "close",
    "close_range",
    "closefrom",
    "open",
    "open64",
    "openat",
    "openat64",
    "__open_2",
    "__open64_2",
    "__openat_2",
    "__openat64_2",
    "creat",
    "creat64",
    "pipe",
    "pipe2",
    "socket",
    "socketpair",
    "accept",
    "accept4",
    "dup",
    "__register_atfork",
];

/// One debug line: `cloexec resolve NAME: same|DIFFERENT ADDR dlsym ADDR by HOW from [OBJECT]`.
struct Resolved {
    name: String,
    same: bool,
    how: String,
    object: String,
}

fn resolved(stderr: &str) -> Vec<Resolved> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("cloexec resolve "))
        .map(|l| {
            let (name, rest) = l.split_once(": ").expect("NAME: ...");
            let how = rest
                .split_once(" by ")
                .and_then(|(_, h)| h.split_once(" from ["))
                .expect("by HOW from [OBJECT]");
            Resolved {
                name: name.to_string(),
                same: rest.starts_with("same "),
                how: how.0.to_string(),
                object: how.1.trim_end_matches(']').to_string(),
            }
        })
        .collect()
}

/// Runs `cmd` with `LD_PRELOAD=preload` and the debug check; returns its lines,
/// after checking that every hooked symbol has one and that all agree with dlsym.
fn check(what: &str, mut cmd: Command, preload: &str) -> Vec<Resolved> {
    cmd.env("CLOEXEC_DEBUG_RESOLVE", "1");
    let out = run(
        cmd,
        Preload::Without,
        &[("LD_PRELOAD", preload), ("CLOEXEC_DEBUG_RESOLVE", "1")],
        Duration::from_secs(20),
    );
    assert!(out.success(), "{what}: {}", out.describe());
    let lines = resolved(&out.stderr);
    let names: Vec<&str> = lines.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, HOOKED, "{what}: {}", out.describe());
    let differ: Vec<&str> = lines
        .iter()
        .filter(|r| !r.same)
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: the walk and dlsym(RTLD_NEXT) disagree on {differ:?}\n{}",
        out.describe()
    );
    lines
}

fn lib() -> String {
    lib_path().to_str().expect("utf-8 library path").to_string()
}

fn by_walk_from_libc(what: &str, lines: &[Resolved]) {
    for r in lines {
        assert!(
            r.how == "walk" && r.object.contains("libc.so"),
            "{what}: {} was found by {} in [{}], expected the walk to find it in libc",
            r.name,
            r.how,
            r.object
        );
    }
}

#[test]
fn alone_every_symbol_comes_from_the_walk_and_matches_dlsym() {
    let lines = check(
        "/bin/true",
        clean_command("/bin/true", Preload::Without),
        &lib(),
    );
    by_walk_from_libc("/bin/true", &lines);
}

#[test]
fn a_program_with_more_libraries_matches_dlsym() {
    // bash needs libtinfo before libc: the walk passes an object that
    // defines none of the names.
    let mut cmd = clean_command("/bin/bash", Preload::Without);
    cmd.args(["-c", "true"]);
    let lines = check("bash", cmd, &lib());
    by_walk_from_libc("bash", &lines);
}

/// Builds a preload library that defines `execve` and `fcntl` (never called).
fn other_preload(dir: &TempDir) -> String {
    let src = dir.write(
        "other.c",
        "int execve(const char *p, char *const a[], char *const e[]) { (void)p; (void)a; (void)e; return -1; }\n\
         int fcntl(int fd, int cmd, ...) { (void)fd; (void)cmd; return -1; }\n",
    );
    let so = dir.join("libother.so");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed for {}", src.display());
    so.to_str().expect("utf-8 temp path").to_string()
}

#[test]
fn another_preload_after_ours_interposes_and_the_walk_finds_it() {
    let dir = TempDir::new("resolve-other");
    let other = other_preload(&dir);
    let preload = format!("{}:{other}", lib());
    let lines = check(
        "ours:other",
        clean_command("/bin/true", Preload::Without),
        &preload,
    );
    for r in &lines {
        let expected = if r.name == "execve" || r.name == "fcntl" {
            "libother.so"
        } else {
            "libc.so"
        };
        assert!(
            r.how == "walk" && r.object.contains(expected),
            "ours:other: {} by {} from [{}], expected the walk to find it in {expected}",
            r.name,
            r.how,
            r.object
        );
    }
}

#[test]
fn another_preload_before_ours_is_not_next() {
    let dir = TempDir::new("resolve-other-first");
    let other = other_preload(&dir);
    let preload = format!("{other}:{}", lib());
    let lines = check(
        "other:ours",
        clean_command("/bin/true", Preload::Without),
        &preload,
    );
    by_walk_from_libc("other:ours", &lines);
}

#[test]
fn under_musl_every_symbol_goes_to_dlsym() {
    if !require("musl-gcc", "a dynamic musl program to preload into") {
        return;
    }
    let dir = TempDir::new("resolve-musl");
    let src = dir.write("main.c", "int main(void) { return 0; }\n");
    let exe = dir.join("musl-true");
    let status = Command::new("musl-gcc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("run musl-gcc");
    assert!(status.success(), "musl-gcc failed");
    let lines = check("musl", clean_command(&exe, Preload::Without), &lib());
    for r in &lines {
        assert_eq!(
            r.how, "dlsym (no walk)",
            "musl: {} was resolved by {}, expected dlsym",
            r.name, r.how
        );
    }
}

#[test]
fn ld_audit_leaves_every_symbol_to_dlsym() {
    // An LD_AUDIT module that cannot be loaded is only warned about by the
    // loader; its presence in the environment is what the walk checks.
    let mut cmd = clean_command("/bin/true", Preload::Without);
    cmd.env("LD_AUDIT", "/nonexistent/audit.so");
    let lines = check("LD_AUDIT", cmd, &lib());
    assert!(
        lines.iter().all(|r| r.how == "dlsym (no walk)"),
        "LD_AUDIT: some symbol was resolved by the walk"
    );
}
