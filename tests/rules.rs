//! The keep rules K5 (a number in an argument), K6 (an fd named in the
//! environment), K8 (helper targets), K9 (locks) and K10 (a server's own
//! listener), end to end: `rules_parent` opens two fds of one kind, tells
//! the new program about one of them ("told") in the way the rule reads,
//! and not about the other ("leak"); the probe reports what arrived.
//!
//! Every case runs without the library first (the control: both fds
//! arrive), then with it (the told fd arrives, the leak does not), and
//! where a rule has a boundary, the same setup just across it is swept.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Outcome, Preload, SHORT, TempDir, build_once, harness, parse_fds, run};

/// What one run of `rules_parent` showed.
struct Seen {
    told: i32,
    leak: i32,
    told_arrived: bool,
    leak_arrived: bool,
    outcome: Outcome,
}

fn number(text: &str, key: &str) -> i32 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|n| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no `{key}` line in:\n{text}"))
}

/// Runs `rules_parent OPTIONS SETUP -- PROGRAM ARGS` with a clean
/// environment plus `env`.
fn rules_parent(
    preload: Preload,
    options: &[&str],
    setup: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Seen {
    let parent = harness("rules_parent");
    rules_parent_at(&parent, preload, options, setup, program, args, env)
}

/// [`rules_parent`], the parent run from `parent` (a link to it under
/// another name).
fn rules_parent_at(
    parent: &Path,
    preload: Preload,
    options: &[&str],
    setup: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Seen {
    build_once();
    let mut cmd = Command::new(parent);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .args(options)
        .arg(setup)
        .arg("--")
        .arg(program)
        .args(args);
    let outcome = run(cmd, preload, env, SHORT);
    assert!(
        outcome.success(),
        "{setup} {options:?} {program} {args:?}: failed\n{outcome}"
    );
    let told = number(&outcome.stdout, "told ");
    let leak = number(&outcome.stdout, "leak ");
    let fds = parse_fds(&outcome.stdout);
    Seen {
        told,
        leak,
        told_arrived: fds.contains_key(&told),
        leak_arrived: fds.contains_key(&leak),
        outcome,
    }
}

/// The control run (both fds must arrive, or the case proves nothing), then
/// the run with the library.
fn control_then_with(
    what: &str,
    options: &[&str],
    setup: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Seen {
    let control = rules_parent(Preload::Without, options, setup, program, args, env);
    assert!(
        control.told_arrived && control.leak_arrived,
        "{what}: control run should see both fds {} and {}\n{}",
        control.told,
        control.leak,
        control.outcome
    );
    rules_parent(Preload::With, options, setup, program, args, env)
}

/// The control arrives whole; with the library the told fd arrives and the
/// leak does not.
fn assert_told_kept_leak_swept(
    what: &str,
    options: &[&str],
    setup: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) {
    let with = control_then_with(what, options, setup, program, args, env);
    assert!(
        with.told_arrived,
        "{what}: the told fd {} was swept\n{}",
        with.told, with.outcome
    );
    assert!(
        !with.leak_arrived,
        "{what}: the leak {} arrived\n{}",
        with.leak, with.outcome
    );
}

/// With the library neither fd arrives (the rule does not apply).
fn assert_both_swept(
    what: &str,
    options: &[&str],
    setup: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) {
    let with = control_then_with(what, options, setup, program, args, env);
    assert!(
        !with.told_arrived && !with.leak_arrived,
        "{what}: fds {} and {} should both be swept\n{}",
        with.told,
        with.leak,
        with.outcome
    );
}

fn probe() -> String {
    harness("probe").to_string_lossy().into_owned()
}

/// The probe under another name, as the target a rule looks at.
fn probe_named(dir: &TempDir, name: &str) -> String {
    let path = dir.join(name);
    symlink(harness("probe"), &path).expect("symlink the probe");
    path.to_string_lossy().into_owned()
}

const HOWS: [&[&str]; 3] = [&[], &["--fork"], &["--spawn"]];

/// `sh -c 'exec "$0"' PROBE ARGS...`: the probe accepts no other arguments,
/// so `sh` (pass-through) carries them; the rule reads them at the exec of
/// `sh`.
fn via_sh<'a>(probe: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-c", "exec \"$0\"", probe];
    all.extend_from_slice(args);
    all
}

#[test]
fn k5_a_number_in_an_argument() {
    for how in HOWS {
        for arg in [
            "{told}",
            "--fd={told}",
            "fd:{told}",
            "11:{told}:14",
            ">&{told}",
        ] {
            assert_told_kept_leak_swept(
                &format!("K5 {arg} {how:?}"),
                how,
                "pipes",
                "/bin/sh",
                &via_sh(&probe(), &["--status-fd", arg]),
                &[],
            );
        }
    }
    for arg in ["-{told}", "x{told}", "{told}.0", "v{told}_{told}"] {
        assert_both_swept(
            &format!("K5 {arg}"),
            &[],
            "pipes",
            "/bin/sh",
            &via_sh(&probe(), &[arg]),
            &[],
        );
    }
}

#[test]
fn k6_an_fd_named_in_the_environment() {
    for (name, value) in [
        ("APP_CHANNEL_FD", "{told}"),
        ("NODE_CHANNEL_FD", "{told}"),
        ("EINHORN_FD_0", "{told}"),
        ("UPSTART_FDS", "{told}"),
        ("WAYLAND_SOCKET", "{told}"),
        ("SERVER_SOCKETS", "127.0.0.1:9000={told}"),
        ("PLUGIN_PIPES", "type=r;fd={told};"),
        ("CHANNEL", "FD:{told}"),
    ] {
        assert_told_kept_leak_swept(
            &format!("K6 {name}={value}"),
            &["--env", &format!("{name}={value}")],
            "pipes",
            &probe(),
            &[],
            &[],
        );
    }
    for (name, value) in [
        ("SHLVL", "{told}"),
        ("XDG_SESSION_ID", "{told}"),
        ("JOURNAL_STREAM", "{told}:12345"),
        ("APP_FDX", "{told}"),
    ] {
        assert_both_swept(
            &format!("K6 {name}={value}"),
            &["--env", &format!("{name}={value}")],
            "pipes",
            &probe(),
            &[],
            &[],
        );
    }
}

#[test]
fn k8_a_helper_target_gets_everything() {
    let dir = TempDir::new("rules-k8");
    let helper = probe_named(&dir, "jspawnhelper");
    for how in [&["--spawn"][..], &[]] {
        let with = rules_parent(Preload::With, how, "pipes", &helper, &[], &[]);
        assert!(
            with.told_arrived && with.leak_arrived,
            "K8 jspawnhelper {how:?}: nothing is swept for a helper\n{}",
            with.outcome
        );
    }
    let own = probe_named(&dir, "my-helper");
    let with = rules_parent(
        Preload::With,
        &["--spawn"],
        "pipes",
        &own,
        &[],
        &[("CLOEXEC_HELPERS", "my-helper")],
    );
    assert!(
        with.told_arrived && with.leak_arrived,
        "K8 CLOEXEC_HELPERS=my-helper\n{}",
        with.outcome
    );
    // An empty list means none: the helper's fds are swept like any others.
    assert_both_swept(
        "K8 CLOEXEC_HELPERS=",
        &["--spawn"],
        "pipes",
        &helper,
        &[],
        &[("CLOEXEC_HELPERS", "")],
    );
    let near = probe_named(&dir, "jspawnhelper2");
    assert_both_swept("K8 jspawnhelper2", &["--spawn"], "pipes", &near, &[], &[]);
}

#[test]
fn k9_a_locked_fd_is_kept_an_unlocked_one_swept() {
    for setup in ["flock", "lockf", "fcntl-lock", "ofd-lock"] {
        for how in HOWS {
            assert_told_kept_leak_swept(
                &format!("K9 {setup} {how:?}"),
                how,
                setup,
                &probe(),
                &[],
                &[],
            );
        }
    }
}

#[test]
fn k10_a_listener_is_kept_for_the_same_program_only() {
    let dir = TempDir::new("rules-k10");
    // rules_parent's own name: the exec starts "the same program" again.
    let same = probe_named(&dir, "rules_parent");
    // Beside the listener, a connected socket and a regular file: K10
    // keeps the listener alone, not every other socket nor every non-socket.
    for setup in ["listener", "listener-file"] {
        for how in HOWS {
            assert_told_kept_leak_swept(
                &format!("K10 {setup} same program {how:?}"),
                how,
                setup,
                &same,
                &[],
                &[],
            );
            assert_both_swept(
                &format!("K10 {setup} another program {how:?}"),
                how,
                setup,
                &probe(),
                &[],
                &[],
            );
        }
    }
}

/// A symlink named `name` to `target`: the basename a rule looks at.
fn named(dir: &TempDir, name: &str, target: &str) -> String {
    let path = dir.join(name);
    symlink(target, &path).expect("symlink");
    path.to_string_lossy().into_owned()
}

#[test]
fn k5_told_forms_in_an_argument() {
    for how in HOWS {
        for arg in [
            "fd://{told}",
            "--bind=fd://{told}",
            "-S/dev/pts/3/{told}",
            "/run/app/{told}",
            "-d{told}",
        ] {
            assert_told_kept_leak_swept(
                &format!("K5 {arg} {how:?}"),
                how,
                "pipes",
                "/bin/sh",
                &via_sh(&probe(), &["--opt", arg]),
                &[],
            );
        }
    }
    // The seed's case among them: a re-exec of python3.N beside a leak.
    for arg in [
        "python3.{told}",
        "/usr/lib/python3.{told}",
        "x86_64-{told}",
        "{told}.5",
        "fd/{told}",
        "--d{told}",
        "-dd{told}",
        "fd://x{told}",
    ] {
        assert_both_swept(
            &format!("K5 {arg}"),
            &[],
            "pipes",
            "/bin/sh",
            &via_sh(&probe(), &[arg]),
            &[],
        );
    }
}

#[test]
fn k6_conventions_of_the_table() {
    for (name, value) in [
        ("GIT_TRACE", "{told}"),
        ("GIT_TRACE_PACKET", "{told}"),
        ("GIT_TRACE2_EVENT", "{told}"),
        ("PUMA_INHERIT_0", "{told}:tcp://127.0.0.1:9292"),
        ("MOJO_REUSE", "127.0.0.1:3000:{told}"),
        ("_OCI_SYNCPIPE", "{told}"),
        ("_OCI_STARTPIPE", "{told}"),
        ("_LIBCONTAINER_INITPIPE", "{told}"),
        ("GUNICORN_CMD_ARGS", "--bind=fd://{told}"),
    ] {
        let seen = control_then_with(
            &format!("K6 {name}={value}"),
            &["--env", &format!("{name}={value}")],
            "pipes",
            &probe(),
            &[],
            &[],
        );
        // git reads one digit only: the case proves nothing past fd 9.
        assert!(
            !name.starts_with("GIT_TRACE") || seen.told <= 9,
            "K6 {name}: the told fd {} is past 9 (fds 3-9 are taken here)",
            seen.told
        );
        assert!(
            seen.told_arrived && !seen.leak_arrived,
            "K6 {name}={value}: told {} should arrive, leak {} not\n{}",
            seen.told,
            seen.leak,
            seen.outcome
        );
    }
    for (name, value) in [
        ("GIT_TRACE", "1{told}"),
        ("XGIT_TRACE", "{told}"),
        ("_OCI_SYNCPIPE", "{told}x"),
        ("OCI_SYNCPIPE", "{told}"),
    ] {
        assert_both_swept(
            &format!("K6 {name}={value}"),
            &["--env", &format!("{name}={value}")],
            "pipes",
            &probe(),
            &[],
            &[],
        );
    }
}

#[test]
fn k5_options_that_tell_a_count_or_a_bound() {
    let dir = TempDir::new("rules-k5-options");
    let sudo = named(&dir, "sudo", "/bin/sh");
    let xterm = named(&dir, "xterm", "/bin/sh");
    for how in HOWS {
        // fds 3..told: a count that ends at the told fd, the leak after it.
        for count in [
            &["--preserve-fds", "{upto}"][..],
            &["--preserve-fds={upto}"],
        ] {
            assert_told_kept_leak_swept(
                &format!("K5 {count:?} {how:?}"),
                how,
                "pipes",
                "/bin/sh",
                &via_sh(&probe(), count),
                &[],
            );
        }
        for close_from in [
            &["-C", "{above}"][..],
            &["-C{above}"],
            &["--close-from={above}"],
        ] {
            assert_told_kept_leak_swept(
                &format!("K5 sudo {close_from:?} {how:?}"),
                how,
                "pipes",
                &sudo,
                &via_sh(&probe(), close_from)[..],
                &[],
            );
        }
        assert_told_kept_leak_swept(
            &format!("K5 xterm -Sab{{told}} {how:?}"),
            how,
            "pipes",
            &xterm,
            &via_sh(&probe(), &["-Sab{told}"]),
            &[],
        );
    }
    // The same words to another program, or another option, name nothing
    // more than K5's numbers do.
    let not_sudo = named(&dir, "sudo2", "/bin/sh");
    assert_both_swept(
        "K5 sudo2 -C",
        &[],
        "pipes",
        &not_sudo,
        &via_sh(&probe(), &["-C", "{above}"]),
        &[],
    );
    let not_xterm = named(&dir, "xterm2", "/bin/sh");
    assert_both_swept(
        "K5 xterm2 -Sab",
        &[],
        "pipes",
        &not_xterm,
        &via_sh(&probe(), &["-Sab{told}"]),
        &[],
    );
    assert_both_swept(
        "K5 --preserve-fd (a list, not a count)",
        &[],
        "pipes",
        "/bin/sh",
        &via_sh(&probe(), &["--preserve-fd", "{upto}"]),
        &[],
    );
}

/// A number no fd of this process holds, at or above `from`: free in a
/// child, whatever this process inherited.
fn free_fd(from: i32) -> i32 {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (from..).find(|n| !open.contains(n)).expect("a free fd")
}

#[test]
fn k5_the_callers_own_arguments() {
    let dir = TempDir::new("rules-k5-caller");
    let parent = harness("rules_parent").to_string_lossy().into_owned();
    let socat = PathBuf::from(named(&dir, "socat", &parent));
    let not_socat = PathBuf::from(named(&dir, "socat2", &parent));
    let at = free_fd(40).to_string();
    // socat's EXEC address with fdout=N: the child's channel, made by the
    // caller, already sits at N (no dup2, no fcntl).
    let note = format!("EXEC:prog,fdout={at}");
    for how in HOWS {
        let mut options = how.to_vec();
        options.extend(["--at", &at, "--note", &note]);
        let run = |parent: &Path, preload| {
            rules_parent_at(parent, preload, &options, "pipes", &probe(), &[], &[])
        };
        let control = run(&socat, Preload::Without);
        assert!(
            control.told_arrived && control.leak_arrived && control.told.to_string() == at,
            "caller socat {how:?}: the control should see the told fd at {at} and the leak\n{}",
            control.outcome
        );
        let with = run(&socat, Preload::With);
        assert!(
            with.told_arrived && !with.leak_arrived,
            "caller socat {how:?}: fdout={at} in the caller's arguments keeps {at}, the leak {} goes\n{}",
            with.leak,
            with.outcome
        );
        let other = run(&not_socat, Preload::With);
        assert!(
            !other.told_arrived && !other.leak_arrived,
            "caller socat2 {how:?}: only socat's arguments are read\n{}",
            other.outcome
        );
    }
}
