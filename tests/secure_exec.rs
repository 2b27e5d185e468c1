//! Secure execution (SPEC §3): in a setuid process, every `CLOEXEC_*`
//! variable is ignored and no log file is ever opened.
//!
//! Run for real: the loader ignores `LD_PRELOAD` paths in a secure-execution
//! process, so the test preloads through `/etc/ld.so.preload` inside a
//! private mount namespace, where `/etc` is an overlay that only this test
//! sees. The program is a copy of a tiny C program made setuid to `nobody`.
//! Needs root and `unshare -m`; skips with a reason otherwise.

mod common;

use common::{TempDir, build_once, lib_path};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAM: &str = r#"
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <unistd.h>
int main(void) {
    char line[512];
    int loaded = 0;
    FILE *maps = fopen("/proc/self/maps", "re");
    while (maps && fgets(line, sizeof line, maps))
        loaded |= strstr(line, "libcloexec.so") != NULL;
    printf("secure=%lu loaded=%d\n", getauxval(AT_SECURE), loaded);
    fflush(stdout);
    /* A leaked fd and an exec, so that the library has something to do. */
    (void)open("/dev/null", 0);
    execl("/bin/true", "true", (char *)0);
    return 1;
}
"#;

/// A scratch directory the setuid program (running as nobody) can reach.
fn scratch() -> TempDir {
    let dir = TempDir::new("secure");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn compile(dir: &Path) -> PathBuf {
    let src = dir.join("secure.c");
    fs::write(&src, PROGRAM).unwrap();
    let exe = dir.join("secure");
    let status = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    exe
}

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
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to make a setuid program and a mount namespace");
        return;
    }
    build_once();
    let lib = lib_path();
    let scratch = scratch();
    let dir = scratch.path();
    let plain = compile(dir);
    let setuid = dir.join("secure-setuid");
    fs::copy(&plain, &setuid).unwrap();
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
        eprintln!("skipped: unshare -m or overlayfs is not available here");
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
