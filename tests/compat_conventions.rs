//! The conventions the general rules cannot read (README, "Conventions the
//! rules cannot read"), one real program per class, run without and with the
//! library (default settings) and compared:
//!
//! - a variable whose whole value is an fd: git's `GIT_TRACE=N`, from a C
//!   parent that holds a pipe at N (and a planted leak beside it);
//! - a count told in the arguments: `runc run --preserve-fds N`, the
//!   container's probe reporting the fd that arrived;
//! - a number glued to a one-letter option: `s6-log -dN` (its readiness
//!   notification);
//! - a number in the calling program's own arguments: socat told
//!   `EXEC:…,fdout=N` finds its child's channel already at N and does
//!   nothing the library sees;
//! - a number told after the exec: Midnight Commander types `pwd>&N` into
//!   its subshell's terminal (driven in tmux).

mod common;

use common::{
    Outcome, Preload, SHORT, TempDir, assert_same_behaviour, clean_command, close_inherited_fds,
    harness, parse_fds, require, require_root, run_in,
};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Replaces every run of ASCII digits in `text` with `N` (times, inodes).
fn mask_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('N') {
            out.push('N');
        }
    }
    out
}

fn chmod_x(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn probe() -> String {
    harness("probe").display().to_string()
}

/// Runs `case` without the library, then with it, each in a fresh temp dir.
fn both(tag: &str, case: impl Fn(Preload, &TempDir) -> Outcome) -> (Outcome, Outcome) {
    let without = case(Preload::Without, &TempDir::new(tag));
    let with = case(Preload::With, &TempDir::new(tag));
    (without, with)
}

// ------------------------------------------------------- a bare-number variable

/// `GIT_TRACE=N`: git writes its trace to fd N, a pipe its C parent made and
/// reads. The trace names the alias it runs, which execs the probe: the
/// planted leak must reach it only without the library.
#[test]
fn git_trace_to_a_pipe_at_a_told_fd() {
    if !require("git", "GIT_TRACE=N") {
        return;
    }
    let case = |lib: Preload, dir: &TempDir| {
        let leak = dir.join("planted-leak");
        let report = dir.join("report");
        let mut cmd = clean_command(harness("compat_parent"), lib);
        cmd.args(["fork", "pipe"])
            .arg(&leak)
            .args(["--env", "GIT_TRACE={W}", "--"])
            .args(["/usr/bin/env", "git", "-c"])
            .arg(format!(
                "alias.probe=!{} --out {}",
                probe(),
                report.display()
            ))
            .arg("probe")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        let mut outcome = run_in(cmd, lib, dir, SHORT);
        let leaked = parse_fds(&dir.read("report"))
            .values()
            .any(|t| Path::new(t) == leak);
        outcome.stdout = mask_digits(&outcome.stdout.replace(dir.path().to_str().unwrap(), "DIR"));
        (outcome, leaked)
    };
    let (without, leaked_without) = case(Preload::Without, &TempDir::new("git-trace"));
    let (with, leaked_with) = case(Preload::With, &TempDir::new("git-trace"));
    assert_same_behaviour("GIT_TRACE=N", &without, &with);
    assert!(
        with.stdout.contains("channel: ") && with.stdout.contains("trace: "),
        "GIT_TRACE=N: the trace should come through the pipe\n{with}"
    );
    assert!(
        leaked_without,
        "the planted leak should reach the probe without the library\n{without}"
    );
    assert!(
        !leaked_with,
        "the planted leak reached the probe with the library\n{with}"
    );
}

// ------------------------------------------------------------ a count of fds

/// `runc run --preserve-fds N` from a C parent that holds a pipe at the
/// lowest free fd (3 here) and a leak after it: the container's process
/// (the static probe) gets fds 3 .. 3+N-1.
#[test]
fn runc_preserve_fds_hands_the_first_n_to_the_container() {
    if !require("runc", "--preserve-fds N") || !require_root("runc creates namespaces") {
        return;
    }
    let case = |lib: Preload, dir: &TempDir| {
        std::fs::create_dir_all(dir.join("bundle/rootfs")).expect("rootfs");
        std::fs::copy(harness("probe"), dir.join("bundle/rootfs/probe")).expect("probe");
        let spec = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(dir.join("bundle"))
            .status()
            .expect("runc spec");
        assert!(spec.success(), "runc spec failed");
        let path = dir.join("bundle/config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/probe"]);
        config["root"]["readonly"] = true.into();
        std::fs::write(&path, config.to_string()).unwrap();
        let id = format!("cloexec-{}-{lib:?}", std::process::id());
        let mut cmd = clean_command(harness("rules_parent"), lib);
        cmd.args(["pipes", "--", "/usr/sbin/runc", "run", "--bundle"])
            .arg(dir.join("bundle"))
            .args(["--preserve-fds", "{upto}"])
            .arg(&id);
        close_inherited_fds(&mut cmd);
        let mut outcome = run_in(cmd, lib, dir, SHORT);
        outcome.stdout = mask_digits(&outcome.stdout);
        outcome
    };
    let (without, with) = both("runc", case);
    assert_same_behaviour("runc --preserve-fds", &without, &with);
    assert!(
        with.stdout.contains("fd N pipe:[N]"),
        "runc --preserve-fds: the told pipe should reach the container\n{with}"
    );
}

// ------------------------------------------- a number glued to a one-letter option

/// `s6-log -dN` writes a newline to fd N once it is ready; the C parent
/// reads it from its pipe.
#[test]
fn s6_log_readiness_to_a_glued_fd() {
    if !require("s6-log", "s6-log -dN") {
        return;
    }
    let (without, with) = both("s6-log", |lib, dir| {
        let mut cmd = clean_command(harness("compat_parent"), lib);
        cmd.args(["fork", "pipe"])
            .arg(dir.join("planted-leak"))
            .args(["--", "/usr/bin/s6-log", "-d{W}", "t"])
            .arg(dir.join("log"));
        run_in(cmd, lib, dir, SHORT)
    });
    assert_same_behaviour("s6-log -dN", &without, &with);
    assert!(
        with.stdout.contains("channel: \n") && with.code == Some(0),
        "s6-log -dN: the readiness newline should arrive\n{with}"
    );
}

// ------------------------------------------------- the caller's own arguments

/// socat `EXEC:SCRIPT,fdout=N`: started with only stdio, socat makes its
/// socketpairs at 3-4 and 5-6, so the child's end is already at 6 and socat
/// neither `dup2`s nor clears its flag. Only socat's own argument tells.
#[test]
fn socat_exec_fdout_already_in_place() {
    if !require("socat", "socat EXEC:…,fdout=N") {
        return;
    }
    let run = |lib: Preload, dir: &TempDir, env: &[(&str, &str)]| {
        let script = dir.write("child.sh", "#!/bin/sh\necho via fd 6 >&6\n");
        chmod_x(&script);
        let mut cmd = clean_command("socat", lib);
        cmd.args(["-u", "EXEC:./child.sh,fdout=6", "-"])
            .envs(env.iter().copied());
        close_inherited_fds(&mut cmd);
        run_in(cmd, lib, dir, SHORT)
    };
    let (without, with) = both("socat", |lib, dir| run(lib, dir, &[]));
    assert_same_behaviour("socat fdout=6", &without, &with);
    assert_eq!(without.stdout, "via fd 6\n", "the control run\n{without}");
    // What kept fd 6: the caller's argument, not an act.
    let dir = TempDir::new("socat-log");
    let log = dir.join("debug.log");
    let log = log.to_str().unwrap();
    run(
        Preload::With,
        &dir,
        &[("CLOEXEC_LOG", "debug"), ("CLOEXEC_LOG_FILE", log)],
    );
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.contains("kept") && l.contains(" 6 (socket:") && l.contains("[K5 argv]")),
        "socat: fd 6 should be kept by K5 from socat's own arguments:\n{text}"
    );
}

// ------------------------------------------------- told after the exec

/// mc's subshell: `cd` in the subshell, back to the panels, which follow
/// (mc reads the directory from a pipe the subshell was told over the
/// terminal). tmux drives it.
#[test]
fn mc_subshell_panel_follows_cd() {
    if !require("mc", "mc's subshell") || !require("tmux", "driving mc") {
        return;
    }
    let (without, with) = both("mc", |lib, dir| {
        let socket = dir.join("tmux.sock");
        // The server, and so mc, runs with the library or without.
        let tmux_as = |lib: Preload, args: &[&str]| {
            let mut cmd = clean_command("tmux", lib);
            cmd.arg("-S")
                .arg(&socket)
                .args(args)
                .env("HOME", dir.path());
            cmd
        };
        let tmux = |args: &[&str]| tmux_as(Preload::Without, args);
        let start = format!(
            "env SHELL=/bin/bash HOME={home} TERM=xterm mc --nocolor {home}",
            home = dir.path().display()
        );
        let mut new = tmux_as(lib, &["new-session", "-d", "-x", "100", "-y", "30"]);
        new.arg(&start);
        assert!(new.status().expect("tmux").success(), "tmux new-session");
        let pane = || {
            let out = tmux(&["capture-pane", "-p"])
                .output()
                .expect("capture-pane");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let wait_for = |what: &str| {
            for _ in 0..100 {
                if pane().contains(what) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        };
        let send = |keys: &[&str]| {
            tmux(&[&["send-keys"][..], keys].concat())
                .status()
                .expect("send-keys");
        };
        let ready = wait_for("Left");
        send(&["C-o"]);
        std::thread::sleep(Duration::from_millis(500));
        send(&["cd /usr/share", "Enter"]);
        std::thread::sleep(Duration::from_millis(500));
        send(&["C-o"]);
        let followed = ready && wait_for("/usr/share ");
        let _ = tmux(&["kill-server"]).status();
        let mut outcome = run_in(Command::new("true"), lib, dir, SHORT);
        outcome.stdout = format!("panels shown: {ready}\npanel followed cd: {followed}\n");
        outcome
    });
    assert_same_behaviour("mc subshell", &without, &with);
    assert!(
        with.stdout.contains("followed cd: true"),
        "mc: the panel should follow the subshell's cd\n{without}\n{with}"
    );
}
