//! `cloexec --profile` in each shell's own syntax, sourced by the real
//! shell: the library goes in front of `LD_PRELOAD` by its absolute path, an
//! existing value is kept behind it, sourcing twice (or in a nested shell
//! that inherited it) adds nothing, and the settings are exported.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::TempDir;

fn cloexec() -> Command {
    common::build_once();
    let mut cmd = Command::new(common::root().join("target/release/cloexec"));
    cmd.env_remove("LD_PRELOAD").env_remove("SHELL");
    cmd
}

fn library() -> String {
    std::fs::canonicalize(common::lib_path())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The shells to try: name, program, the flags that skip its start-up
/// files, and how it sources a file and prints `LD_PRELOAD` and `CLOEXEC_KEEP`.
const SHELLS: [(&str, &str, &[&str], &str); 8] = [
    ("sh", "sh", &[], POSIX),
    ("bash", "bash", &["--norc", "--noprofile"], POSIX),
    ("dash", "dash", &[], POSIX),
    ("zsh", "zsh", &["-f"], POSIX),
    ("ksh", "ksh", &[], POSIX),
    ("fish", "fish", &["--no-config"], FISH),
    ("tcsh", "tcsh", &["-f"], CSH),
    ("csh", "csh", &["-f"], CSH),
];
const POSIX: &str = ". \"$P\"; . \"$P\"; printf '[%s] %s %s\\n' \"${LD_PRELOAD-unset}\" \"$CLOEXEC_KEEP\" \"$ASAN_OPTIONS\"";
const FISH: &str = "source $P; source $P; echo \"[$LD_PRELOAD] $CLOEXEC_KEEP $ASAN_OPTIONS\"";
const CSH: &str = "source $P; source $P; echo \"[$LD_PRELOAD] $CLOEXEC_KEEP $ASAN_OPTIONS\"";

/// Sources `profile` twice in `shell` with `LD_PRELOAD` as `before` and
/// `ASAN_OPTIONS` as `asan`; returns the shell's `[LD_PRELOAD]
/// CLOEXEC_KEEP ASAN_OPTIONS` line.
fn sourced(
    (name, program, flags, script): (&str, &str, &[&str], &str),
    profile: &PathBuf,
    before: Option<&str>,
    asan: Option<&str>,
) -> String {
    let mut cmd = Command::new(program);
    cmd.args(flags)
        .arg("-c")
        .arg(script)
        .env("P", profile)
        .env_remove("LD_PRELOAD")
        .env_remove("CLOEXEC_KEEP")
        .env_remove("ASAN_OPTIONS")
        .stdin(std::process::Stdio::null());
    if let Some(value) = before {
        cmd.env("LD_PRELOAD", value);
    }
    if let Some(value) = asan {
        cmd.env("ASAN_OPTIONS", value);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim_end().to_owned()
}

#[test]
fn each_shell_sources_its_own_lines() {
    let dir = TempDir::new("profile");
    let lib = library();
    // An existing library that does not exist: the loader only warns.
    let other = "/nonexistent/libother.so";
    for shell in SHELLS {
        let (name, program, ..) = shell;
        if !common::require(program, "its profile line is tested in the real shell") {
            continue;
        }
        // Chosen by --shell, and the same text when chosen by $SHELL.
        let out = cloexec()
            .args(["--keep", "3", "--profile", "--shell", name])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        let by_env = cloexec()
            .args(["--keep", "3", "--profile"])
            .env("SHELL", format!("/usr/bin/{name}"))
            .output()
            .unwrap();
        assert_eq!(
            out.stdout, by_env.stdout,
            "{name}: $SHELL picks the same syntax"
        );
        let profile = dir.write(
            &format!("profile.{name}"),
            &String::from_utf8_lossy(&out.stdout),
        );

        // The sanitizer's switch is added once, to what is there, unless
        // the user already chose.
        assert_eq!(
            sourced(shell, &profile, None, None),
            format!("[{lib}] 3 verify_asan_link_order=0"),
            "{name}"
        );
        assert_eq!(
            sourced(shell, &profile, Some(other), Some("detect_leaks=0")),
            format!("[{lib} {other}] 3 detect_leaks=0:verify_asan_link_order=0"),
            "{name}"
        );
        let nested = format!("{other}:{lib}");
        assert_eq!(
            sourced(
                shell,
                &profile,
                Some(&nested),
                Some("verify_asan_link_order=1")
            ),
            format!("[{nested}] 3 verify_asan_link_order=1"),
            "{name}: already there"
        );
    }
}

#[test]
fn unknown_shells_and_unquotable_paths() {
    let out = cloexec()
        .args(["--profile", "--shell", "nushell"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // An unknown $SHELL gets today's POSIX line.
    let out = cloexec()
        .arg("--profile")
        .env("SHELL", "/usr/bin/nu")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("case "));
    // fish cannot hold a quote in the path safely: refused, not mangled.
    let out = cloexec()
        .args([
            "--profile",
            "--shell",
            "fish",
            "--log-file",
            "/tmp/it's.log",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
}
