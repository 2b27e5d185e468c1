//! System-wide use (README "System-wide"; cloexec(1) SYSTEM; cloexec.conf(5)):
//! `cloexec system enable|status|disable` and `/etc/cloexec.conf`, for real,
//! each inside a private mount namespace whose `/etc` is an overlay
//! ([`common::in_private_etc`]), so that the machine's own
//! `/etc/ld.so.preload` is never written (checked after each test).
//!
//! The library, the command and the programs run as `nobody` or setuid are
//! copied into a 0755 scratch directory that `nobody` can reach.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::{
    TempDir, build_once, harness, install, lib_path, missing, parse_fds, parse_leaks, real_etc,
    require, require_root, root, scratch_for_nobody,
};

/// The scratch directory with everything a namespace script runs: the
/// library and `cloexec` beside it (so that `cloexec` finds it), the leaky
/// parent and the probe, the `secure` program and a setuid-to-nobody copy,
/// and an empty preload library to stand for a host's own entry.
fn scratch(tag: &str) -> Option<TempDir> {
    if !require_root("mounts an overlay on /etc in a private mount namespace")
        || !require("setpriv", "runs programs as nobody")
        || !require("unshare", "makes the private mount namespace")
    {
        return None;
    }
    build_once();
    let Some(dir) = scratch_for_nobody(tag) else {
        missing(
            "a directory that nobody can reach on a mount that allows setuid",
            "/tmp, /var/tmp and /run were tried",
        );
        return None;
    };
    let release = root().join("target/release");
    install(&lib_path(), &dir.join("libcloexec.so"), 0o644);
    install(&release.join("cloexec"), &dir.join("cloexec"), 0o755);
    install(&harness("libempty.so"), &dir.join("libempty.so"), 0o644);
    for program in ["leaky", "probe", "secure"] {
        install(&harness(program), &dir.join(program), 0o755);
    }
    install(&harness("secure"), &dir.join("secure-setuid"), 0o755);
    let chown = Command::new("chown")
        .arg("nobody")
        .arg(dir.join("secure-setuid"))
        .status()
        .unwrap();
    assert!(chown.success());
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        dir.join("secure-setuid"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    Some(dir)
}

/// The shell functions every script uses: `run NAME CMD...` runs CMD with
/// its stdout, stderr and status in `$S/NAME.{out,err,rc}`; `snap NAME`
/// copies `/etc/ld.so.preload` and `/etc/cloexec.conf` (if there) to
/// `$S/NAME.preload` and `$S/NAME.conf`.
fn prelude(dir: &Path) -> String {
    format!(
        "S={s}\nC=$S/cloexec\n\
         run() {{ n=$1; shift; if \"$@\" >$S/$n.out 2>$S/$n.err; then echo 0; else echo $?; fi >$S/$n.rc; }}\n\
         snap() {{ for f in preload conf; do rm -f $S/$1.$f; done; \
         if [ -e /etc/ld.so.preload ]; then cp /etc/ld.so.preload $S/$1.preload; fi; \
         if [ -e /etc/cloexec.conf ]; then cp /etc/cloexec.conf $S/$1.conf; fi; }}\n\
         as_nobody() {{ setpriv --reuid nobody --regid nogroup --clear-groups \"$@\"; }}\n",
        s = dir.display()
    )
}

/// What one `run NAME` left: status, stdout, stderr.
struct Ran {
    rc: i32,
    out: String,
    err: String,
}

impl Ran {
    fn read(dir: &TempDir, name: &str) -> Ran {
        Ran {
            rc: dir
                .read(&format!("{name}.rc"))
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name} did not run")),
            out: dir.read(&format!("{name}.out")),
            err: dir.read(&format!("{name}.err")),
        }
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.rc, self.out, self.err
        )
    }
}

/// A snapshot's file, None when it was absent.
fn snapped(dir: &TempDir, name: &str, file: &str) -> Option<Vec<u8>> {
    fs::read(dir.join(&format!("{name}.{file}"))).ok()
}

/// Runs `body` (after the prelude) in a private /etc, checks that the
/// machine's own files are untouched, and asserts the script itself ran to
/// its end. None when namespaces are not available.
fn in_namespace(dir: &TempDir, body: &str) -> Option<()> {
    let before = real_etc();
    let out = common::in_private_etc(
        dir.path(),
        &format!("{}{body}\necho done\n", prelude(dir.path())),
    )?;
    assert_eq!(real_etc(), before, "the machine's own /etc was changed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.ends_with("done\n"),
        "the script failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

/// The whole cycle on a host whose `/etc/ld.so.preload` held `original`
/// (None: no such file): refused for nobody, enabled, used by new
/// processes (setuid ones and services with an empty environment
/// included), disabled, and the file restored byte for byte.
fn enable_use_disable(original: Option<&str>) {
    let Some(dir) = scratch("system") else { return };
    let s = dir.path().display().to_string();
    let setup = match original {
        None => "rm -f /etc/ld.so.preload".to_owned(),
        Some(text) => format!(
            "printf '%s' '{}' > /etc/ld.so.preload",
            text.replace("$S", &s)
        ),
    };
    let body = format!(
        "{setup}\nrm -f /etc/cloexec.conf\nsnap before\n\
         : > $S/audit.log; chmod 666 $S/audit.log\n\
         run passwd-control as_nobody passwd --help\n\
         run refused as_nobody $C system enable --mode audit\n\
         snap refused\n\
         run enable $C system enable --mode audit --log-to file:$S/audit.log\n\
         snap enabled\n\
         stat -c '%u %a' /etc/cloexec.conf > $S/conf.stat\n\
         run again $C system enable\n\
         snap again\n\
         run maps cat /proc/self/maps\n\
         run passwd as_nobody passwd --help\n\
         run setuid $S/secure-setuid\n\
         run service env -i $S/leaky execv -- $S/probe\n\
         run status $C system status\n\
         run disable $C system disable\n\
         snap disabled\n\
         run disable-again $C system disable\n\
         snap disabled-again\n"
    );
    if in_namespace(&dir, &body).is_none() {
        return;
    }
    let before = snapped(&dir, "before", "preload");

    // Not root: refused, non-zero, nothing changed.
    let refused = Ran::read(&dir, "refused");
    assert_ne!(refused.rc, 0, "{refused}");
    assert!(
        refused.err.contains("must be run as root") && refused.err.contains("nothing was changed"),
        "{refused}"
    );
    assert_eq!(snapped(&dir, "refused", "preload"), before);
    assert_eq!(snapped(&dir, "refused", "conf"), None);

    // Enabled: the path once, every other line kept; the configuration
    // root's and 0644.
    let enable = Ran::read(&dir, "enable");
    assert_eq!(enable.rc, 0, "{enable}");
    let library = format!("{s}/libcloexec.so");
    let enabled = String::from_utf8(snapped(&dir, "enabled", "preload").unwrap()).unwrap();
    assert_eq!(
        enabled.lines().filter(|l| l.trim() == library).count(),
        1,
        "{enabled}"
    );
    if let Some(text) = original {
        for line in text.replace("$S", &s).lines() {
            assert!(
                enabled.lines().any(|l| l == line),
                "{line:?} lost: {enabled}"
            );
        }
    }
    let conf = String::from_utf8(snapped(&dir, "enabled", "conf").unwrap()).unwrap();
    assert!(conf.lines().any(|l| l == "CLOEXEC_MODE=audit"), "{conf}");
    assert!(
        conf.lines()
            .any(|l| l == format!("CLOEXEC_LOG_TO=file:{s}/audit.log")),
        "{conf}"
    );
    assert_eq!(dir.read("conf.stat").trim(), "0 644");
    // Again: idempotent.
    let again = Ran::read(&dir, "again");
    assert_eq!(again.rc, 0, "{again}");
    assert!(again.out.contains("already lists"), "{again}");
    assert_eq!(
        snapped(&dir, "again", "preload"),
        snapped(&dir, "enabled", "preload")
    );

    // A new process maps the library.
    let maps = Ran::read(&dir, "maps");
    assert!(
        maps.out.lines().any(|l| l.ends_with(&library)),
        "not mapped:\n{maps}"
    );
    // A setuid program runs with it, as it did without.
    let (passwd, control) = (Ran::read(&dir, "passwd"), Ran::read(&dir, "passwd-control"));
    assert_eq!(
        (passwd.rc, &passwd.out, &passwd.err),
        (control.rc, &control.out, &control.err),
        "passwd --help as nobody changed:\n{passwd}\n{control}"
    );
    assert_eq!(passwd.rc, 0, "{passwd}");
    // ... and in a setuid program the configuration applies, log target
    // included (it is root's): audit mode logs the leak it would sweep.
    let setuid = Ran::read(&dir, "setuid");
    assert!(setuid.out.contains("secure=1 loaded=1"), "{setuid}");
    let log = dir.read("audit.log");
    assert!(
        log.lines().any(
            |l| l.contains("execl /bin/true (by secure-setuid): would sweep ")
                && l.contains(" (/dev/null)")
        ),
        "the setuid program's line: {log}"
    );
    // A service started with an empty environment obeys the file: audit
    // mode sweeps nothing (every leak reached the probe) and logs a line.
    let service = Ran::read(&dir, "service");
    assert_eq!(service.rc, 0, "{service}");
    let leaks = parse_leaks(&service.out);
    let fds = parse_fds(&service.out);
    assert!(leaks.len() >= 10, "{service}");
    let arrived = common::leaks_seen(&leaks, &fds);
    assert_eq!(
        arrived.len(),
        leaks.len(),
        "audit mode swept something:\n{service}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("execv {s}/probe (by leaky): would sweep "))),
        "the service's line: {log}"
    );
    assert!(!service.err.contains("libcloexec["), "{service}");
    // Status says so.
    let status = Ran::read(&dir, "status");
    assert_eq!(status.rc, 0, "{status}");
    for needle in [
        "on: /etc/ld.so.preload lists the library".to_owned(),
        format!("library: {library} (exists)"),
        "/etc/cloexec.conf: trusted (root's, mode 0644)".to_owned(),
        format!("mode audit, policy smart, log info to file:{s}/audit.log"),
    ] {
        assert!(status.out.contains(&needle), "{needle:?}:\n{status}");
    }

    // Disabled: the file is back byte for byte (or gone, as it was).
    let disable = Ran::read(&dir, "disable");
    assert_eq!(disable.rc, 0, "{disable}");
    assert_eq!(
        snapped(&dir, "disabled", "preload"),
        before,
        "not restored byte for byte: {disable}"
    );
    let again = Ran::read(&dir, "disable-again");
    assert_eq!(again.rc, 0, "{again}");
    assert!(again.out.contains("nothing to do"), "{again}");
    assert_eq!(snapped(&dir, "disabled-again", "preload"), before);
}

#[test]
fn enable_and_disable_where_there_was_no_preload_file() {
    enable_use_disable(None);
}

#[test]
fn enable_and_disable_keep_the_hosts_own_lines() {
    // A comment, a preload of the host's own, and no newline at the end.
    enable_use_disable(Some("# the preload of the host\n$S/libempty.so"));
}

#[test]
fn enable_refuses_a_library_that_does_not_load() {
    let Some(dir) = scratch("system-bad") else {
        return;
    };
    let body = "rm -f /etc/ld.so.preload /etc/cloexec.conf\n\
        printf 'not an ELF file' > $S/libcloexec.so\n\
        run broken $C system enable --mode audit\n\
        snap broken\n\
        run missing $C system enable --library $S/nowhere/libcloexec.so\n\
        snap missing\n";
    if in_namespace(&dir, body).is_none() {
        return;
    }
    for name in ["broken", "missing"] {
        let ran = Ran::read(&dir, name);
        assert_eq!(ran.rc, 1, "{name}: {ran}");
        assert!(ran.err.starts_with("cloexec: system: "), "{name}: {ran}");
        assert_eq!(snapped(&dir, name, "preload"), None, "{name}");
        assert_eq!(snapped(&dir, name, "conf"), None, "{name}");
    }
    assert!(
        Ran::read(&dir, "broken")
            .err
            .contains("does not load cleanly"),
        "{}",
        Ran::read(&dir, "broken")
    );
}

#[test]
fn enable_and_disable_an_image_under_root() {
    let Some(dir) = scratch("system-root") else {
        return;
    };
    let body = "mkdir -p $S/image/etc $S/image/usr/lib\n\
        cp $S/libcloexec.so $S/image/usr/lib/libcloexec.so\n\
        printf '/usr/lib/libother.so\\n' > $S/image/etc/ld.so.preload\n\
        cp $S/image/etc/ld.so.preload $S/image.before\n\
        run enable $C system enable --root $S/image --library /usr/lib/libcloexec.so --log-to syslog\n\
        run status $C system status --root $S/image\n\
        snap host\n\
        cp $S/image/etc/ld.so.preload $S/image.enabled\n\
        run disable $C system disable --root $S/image\n";
    if in_namespace(&dir, body).is_none() {
        return;
    }
    let enable = Ran::read(&dir, "enable");
    assert_eq!(enable.rc, 0, "{enable}");
    assert_eq!(
        dir.read("image.enabled"),
        "/usr/lib/libother.so\n/usr/lib/libcloexec.so\n"
    );
    assert!(
        dir.read("image/etc/cloexec.conf")
            .lines()
            .any(|l| l == "CLOEXEC_LOG_TO=syslog"),
        "{}",
        dir.read("image/etc/cloexec.conf")
    );
    let status = Ran::read(&dir, "status");
    assert!(
        status
            .out
            .contains("library: /usr/lib/libcloexec.so (exists)")
            && status.out.contains("log warn to syslog:/dev/log"),
        "{status}"
    );
    assert_eq!(
        dir.read("image/etc/ld.so.preload"),
        dir.read("image.before")
    );
    assert_eq!(
        snapped(&dir, "host", "preload"),
        None,
        "the host's own /etc was written"
    );
}

/// One run of the leaky parent under `LD_PRELOAD` in the namespace, after
/// `setup` put a configuration file in place: its outcome.
struct ConfCase {
    name: &'static str,
    setup: &'static str,
    env: &'static str,
}

const CONF_CASES: &[ConfCase] = &[
    ConfCase {
        name: "trusted",
        setup: "printf 'CLOEXEC_MODE=audit\\n' > /etc/cloexec.conf",
        env: "",
    },
    ConfCase {
        name: "writable",
        setup: "printf 'CLOEXEC_MODE=audit\\n' > /etc/cloexec.conf; chmod 666 /etc/cloexec.conf",
        env: "",
    },
    ConfCase {
        name: "not-roots",
        setup: "printf 'CLOEXEC_MODE=audit\\n' > /etc/cloexec.conf; chown nobody /etc/cloexec.conf",
        env: "",
    },
    ConfCase {
        name: "bad-lines",
        setup: "printf '# ok\\nCLOEXEC_MODE=audit\\nCLOEXEC_KEEP=3-\\ngarbage\\n' > /etc/cloexec.conf",
        env: "",
    },
    ConfCase {
        name: "env-overrides",
        setup: "printf 'CLOEXEC_MODE=audit\\n' > /etc/cloexec.conf",
        env: "CLOEXEC_MODE=sweep",
    },
    ConfCase {
        name: "too-large",
        setup: "{ printf 'CLOEXEC_MODE=audit\\n'; head -c 5000 /dev/zero | tr '\\0' '#'; } > /etc/cloexec.conf",
        env: "",
    },
    ConfCase {
        name: "fifo",
        setup: "mkfifo /etc/cloexec.conf",
        env: "",
    },
    ConfCase {
        name: "symlink",
        setup: "printf 'CLOEXEC_MODE=audit\\n' > $S/linked.conf; ln -s $S/linked.conf /etc/cloexec.conf",
        env: "",
    },
];

#[test]
fn the_configuration_file_is_trusted_only_when_roots() {
    let Some(dir) = scratch("system-conf") else {
        return;
    };
    let mut body = String::new();
    for case in CONF_CASES {
        body.push_str(&format!(
            "rm -f /etc/cloexec.conf\n{}\n\
             run {} timeout 20 env {} LD_PRELOAD=$S/libcloexec.so $S/leaky execv -- $S/probe\n",
            case.setup, case.name, case.env
        ));
    }
    if in_namespace(&dir, &body).is_none() {
        return;
    }
    // Audit or sweep, and the library's warnings, per case.
    let mut got = BTreeMap::new();
    for case in CONF_CASES {
        let ran = Ran::read(&dir, case.name);
        assert_eq!(ran.rc, 0, "{}: {ran}", case.name);
        let leaks = parse_leaks(&ran.out);
        let arrived = common::leaks_seen(&leaks, &parse_fds(&ran.out));
        let audited = !leaks.is_empty() && arrived.len() == leaks.len();
        assert!(audited || arrived.is_empty(), "{}: {ran}", case.name);
        let warnings: Vec<String> = ran
            .err
            .lines()
            .filter(|l| l.contains("]: warning: "))
            .map(|l| l.split_once("]: warning: ").unwrap().1.to_owned())
            .collect();
        got.insert(case.name, (audited, warnings));
    }
    let untrusted = |mode: &str, uid: u32| {
        vec![format!(
            "/etc/cloexec.conf: owned by uid {uid} with mode {mode}, not by root and writable by no one else; ignored"
        )]
    };
    let nobody: u32 = String::from_utf8(
        Command::new("id")
            .args(["-u", "nobody"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let want: BTreeMap<&str, (bool, Vec<String>)> = [
        ("trusted", (true, vec![])),
        ("writable", (false, untrusted("0666", 0))),
        ("not-roots", (false, untrusted("0644", nobody))),
        (
            "bad-lines",
            (
                true,
                vec![
                    "/etc/cloexec.conf: CLOEXEC_KEEP: ignoring \"3-\"".to_owned(),
                    "/etc/cloexec.conf: ignoring \"garbage\"".to_owned(),
                ],
            ),
        ),
        ("env-overrides", (false, vec![])),
        (
            "too-large",
            (
                false,
                vec!["/etc/cloexec.conf: 5019 bytes, more than 4096; ignored".to_owned()],
            ),
        ),
        (
            "fifo",
            (
                false,
                vec!["/etc/cloexec.conf: not a regular file; ignored".to_owned()],
            ),
        ),
        ("symlink", (true, vec![])),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}
