//! Secure execution (README "Settings", man page SECURE EXECUTION): in a setuid
//! process, every `CLOEXEC_*` variable is ignored and no log file is ever
//! opened.
//!
//! Run for real: the loader ignores `LD_PRELOAD` paths in a secure-execution
//! process, so the test preloads through `/etc/ld.so.preload` inside a
//! private mount namespace, where `/etc` is an overlay that only this test
//! sees. The program is `target/harness/secure` (`c-harness/secure.c`),
//! once as it is and once as a copy made setuid to `nobody`.
//!
//! The program runs as `nobody`, and the loader silently skips a preload it
//! cannot open, so the library and both programs are copied into a fresh
//! 0755 directory that `nobody` can reach (the checkout may sit under a 0700
//! home or a `mktemp -d` directory), on a mount that honours setuid.
//! Needs root and `unshare -m`: fails without them under
//! `CLOEXEC_TEST_REQUIRE=1`, else skips with the reason.

mod common;

use common::{build_once, harness, install, lib_path, missing, require_root, scratch_for_nobody};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Runs `program` with the library in `/etc/ld.so.preload` of a private
/// overlay, with hostile settings. Returns its stdout and stderr, or `None`
/// when namespaces are not available here.
fn run_preloaded(dir: &Path, lib: &Path, program: &Path, log: &Path) -> Option<(String, String)> {
    for sub in ["upper", "work"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let script = format!(
        "mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/upper,workdir={d}/work /etc || exit 97\n\
         echo {lib} > /etc/ld.so.preload\n\
         exec {program}",
        d = dir.display(),
        lib = lib.display(),
        program = program.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env_remove("LD_PRELOAD")
        .env("CLOEXEC_LOG", "debug")
        .env("CLOEXEC_LOG_FILE", log)
        .env("CLOEXEC_KEEP", "not-a-number")
        .env("CLOEXEC_MODE", "audit")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.code() == Some(97)
        || stderr.contains("unshare failed")
        || stderr.contains("Operation not permitted")
    {
        return None;
    }
    assert!(
        out.status.success(),
        "status {:?}, stderr {stderr}",
        out.status
    );
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), stderr))
}

#[test]
fn settings_are_ignored_and_no_log_file_is_opened() {
    if !require_root("makes a setuid program and a mount namespace") {
        return;
    }
    build_once();
    let Some(scratch) = scratch_for_nobody("secure") else {
        missing(
            "a directory that nobody can reach on a mount that allows setuid",
            "/tmp, /var/tmp and /run were tried",
        );
        return;
    };
    let dir = scratch.path();
    let lib = dir.join("libcloexec.so");
    install(&lib_path(), &lib, 0o644);
    let plain = dir.join("secure");
    install(&harness("secure"), &plain, 0o755);
    let setuid = dir.join("secure-setuid");
    install(&harness("secure"), &setuid, 0o755);
    let status = Command::new("chown")
        .arg("nobody")
        .arg(&setuid)
        .status()
        .unwrap();
    assert!(status.success());
    fs::set_permissions(&setuid, fs::Permissions::from_mode(0o4755)).unwrap();

    // Control: the same settings in a normal process are used (and logged).
    let control_log = dir.join("control.log");
    let Some((stdout, _)) = run_preloaded(dir, &lib, &plain, &control_log) else {
        missing(
            "unshare -m or overlayfs",
            "the library is preloaded through a private /etc/ld.so.preload",
        );
        return;
    };
    assert!(stdout.contains("secure=0 loaded=1"), "{stdout}");
    let control = fs::read_to_string(&control_log).expect("the control run writes its log file");
    assert!(
        control.contains("CLOEXEC_KEEP: ignoring \"not-a-number\""),
        "{control}"
    );
    assert!(
        control.contains("would sweep"),
        "audit mode was used: {control}"
    );

    // A directory the setuid program (running as nobody) could write to, so
    // that only the library's own rule keeps the file from being created.
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o1777)).unwrap();
    let secure_log = logs.join("secure.log");
    let (stdout, stderr) =
        run_preloaded(dir, &lib, &setuid, &secure_log).expect("worked for the control");
    assert!(
        stdout.contains("secure=1 loaded=1"),
        "the library is loaded in a secure process: {stdout}"
    );
    assert!(
        !secure_log.exists(),
        "no log file is ever opened in secure execution"
    );
    assert!(
        !stderr.contains("not-a-number"),
        "CLOEXEC_KEEP was not even parsed: {stderr}"
    );
}
