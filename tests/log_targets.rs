//! `CLOEXEC_LOG_TO` (README "Logging"; cloexec(1) LOGGING): lines sent to
//! real receivers, and read back by `cloexec report`.
//!
//! - syslog: a real `rsyslogd` that the test starts with its own
//!   configuration, socket and output files (no system service);
//! - the journal: a real `systemd-journald`, started inside a private mount
//!   namespace with tmpfs over `/run/systemd` and `/run/log` and its own
//!   `journald.conf` in an overlay `/etc`, so it binds its sockets and keeps
//!   its journal there; `journalctl -D` reads it back, field by field;
//! - a missing socket and a full one: the exec goes on, nothing is written
//!   anywhere else, and no send blocks.

mod common;

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Preload, SHORT, TempDir, build_once, harness, leaky, parse_leaks, require, require_root, root,
    run,
};
use serde_json::Value;

/// The leaky parent's pid, from the names of its temp files.
fn leaky_pid(stdout: &str) -> u32 {
    let at = stdout
        .find("cloexec-harness-")
        .expect("a temp file of leaky's")
        + 16;
    stdout[at..]
        .split('-')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("its pid")
}

/// `cloexec report --json FILE`.
fn report_json(file: &Path) -> Value {
    build_once();
    let out = Command::new(root().join("target/release/cloexec"))
        .args(["report", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until `path` holds `lines` lines that contain `needle`.
fn wait_for(path: &Path, needle: &str, lines: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().filter(|l| l.contains(needle)).count() >= lines || Instant::now() > deadline
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Rsyslogd(Child);

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn syslog_lines_reach_a_real_rsyslogd() {
    if !require("/usr/sbin/rsyslogd", "receives the syslog datagrams") {
        return;
    }
    build_once();
    let dir = TempDir::new("rsyslog");
    std::fs::create_dir(dir.join("work")).unwrap();
    let d = dir.path().display();
    let conf = dir.write(
        "rsyslog.conf",
        &format!(
            "global(workDirectory=\"{d}/work\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{d}/log.sock\")\n\
             template(name=\"fields\" type=\"string\" string=\"%syslogfacility-text% %syslogseverity-text% %programname% %procid% %msg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{d}/messages\" template=\"RSYSLOG_TraditionalFileFormat\")\n\
             *.* action(type=\"omfile\" file=\"{d}/fields\" template=\"fields\")\n"
        ),
    );
    let daemon = Rsyslogd(
        Command::new("/usr/sbin/rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("rsyslogd.err")).unwrap(),
            ))
            .spawn()
            .expect("cannot start rsyslogd"),
    );
    let socket = dir.join("log.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        socket.exists(),
        "rsyslogd made no socket: {}",
        dir.read("rsyslogd.err")
    );

    let target = format!("syslog:{}", socket.display());
    let out = run(
        leaky("execv", &[], &[]),
        Preload::With,
        &[
            ("CLOEXEC_LOG", "info"),
            ("CLOEXEC_LOG_TO", &target),
            ("CLOEXEC_KEEP", "bad-"),
        ],
        SHORT,
    );
    assert!(out.success(), "{}", out.describe());
    assert!(!out.stderr.contains("libcloexec["), "{}", out.describe());
    let pid = leaky_pid(&out.stdout);
    let leaks = parse_leaks(&out.stdout);
    let probe = harness("probe");

    let fields = wait_for(&dir.join("fields"), "libcloexec", 2);
    let mut lines: Vec<&str> = fields
        .lines()
        .filter(|l| l.contains("libcloexec"))
        .collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{fields}\n{}", dir.read("rsyslogd.err"));
    // rsyslog parsed PRI, tag and pid as glibc's syslog() format (the
    // message keeps the space after the tag's colon, as in RFC 3164).
    assert_eq!(
        lines[0],
        format!(
            "user info libcloexec {pid}  execv {} (by leaky): swept {}",
            probe.display(),
            lines[0].split_once(": swept ").unwrap().1
        )
    );
    assert_eq!(
        lines[1],
        format!("user warning libcloexec {pid}  warning: CLOEXEC_KEEP: ignoring \"bad-\"")
    );
    let messages = wait_for(&dir.join("messages"), "libcloexec", 2);
    assert!(
        messages
            .lines()
            .any(|l| l.contains(&format!(" libcloexec[{pid}]: execv "))),
        "{messages}"
    );
    drop(daemon);

    // The syslog file feeds the report, grouped by the caller.
    let json = report_json(&dir.join("messages"));
    assert_eq!(json["callers"][0]["caller"], "leaky", "{json:#}");
    assert_eq!(
        json["callers"][0]["programs"][0]["program"],
        probe.to_str().unwrap()
    );
    assert_eq!(json["fds"], leaks.len(), "{json:#}\n{messages}");
    assert_eq!(
        json["warnings"][0]["text"],
        "CLOEXEC_KEEP: ignoring \"bad-\""
    );
}

#[test]
fn a_missing_or_full_socket_drops_the_line_and_never_blocks() {
    build_once();
    let dir = TempDir::new("full-socket");
    let missing = format!("syslog:{}", dir.join("nobody-listens").display());
    let journal = format!("journal:{}", dir.join("no-journal").display());
    for target in [&missing, &journal] {
        let out = run(
            leaky("execv", &[], &[]),
            Preload::With,
            &[("CLOEXEC_LOG", "debug"), ("CLOEXEC_LOG_TO", target)],
            SHORT,
        );
        assert!(out.success(), "{}", out.describe());
        let leaks = parse_leaks(&out.stdout);
        let arrived = common::leaks_seen(&leaks, &common::parse_fds(&out.stdout));
        assert!(
            !leaks.is_empty() && arrived.is_empty(),
            "not swept: {}",
            out.describe()
        );
        assert!(!out.stderr.contains("libcloexec["), "{}", out.describe());
    }
    // A receiver that never reads: its queue fills (at
    // net.unix.max_dgram_qlen datagrams, 10 by default), and every later
    // line is dropped without blocking the exec.
    let path = dir.join("full.sock");
    let receiver = UnixDatagram::bind(&path).unwrap();
    let target = format!("journal:{}", path.display());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut runs = 0;
    while runs < 40 {
        let out = run(
            leaky("execv", &[], &[]),
            Preload::With,
            &[("CLOEXEC_LOG", "debug"), ("CLOEXEC_LOG_TO", &target)],
            SHORT,
        );
        assert!(
            out.success() && !out.timed_out,
            "run {runs}: {}",
            out.describe()
        );
        runs += 1;
        assert!(Instant::now() < deadline, "{runs} runs took too long");
    }
    receiver.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut queued = 0;
    while receiver.recv(&mut buf).is_ok() {
        queued += 1;
    }
    assert!(
        queued > 0 && queued < 2 * runs,
        "{queued} datagrams queued for {runs} runs of two lines: the queue never filled?"
    );
}

/// One journal entry: field -> values (journalctl writes a field that
/// occurs more than once as an array).
fn fields(entry: &Value) -> BTreeMap<String, Vec<String>> {
    entry
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let values = match v {
                Value::Array(items) if items.iter().all(Value::is_string) => items
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect(),
                Value::String(s) => vec![s.clone()],
                other => vec![other.to_string()],
            };
            (k.clone(), values)
        })
        .collect()
}

#[test]
fn journal_entries_reach_a_real_journald() {
    if !require_root("starts systemd-journald in a private mount namespace")
        || !require(
            "/lib/systemd/systemd-journald",
            "receives the journal datagrams",
        )
        || !require("journalctl", "reads the journal back")
    {
        return;
    }
    build_once();
    let dir = TempDir::new("journald");
    let d = dir.path().display();
    let lib = common::lib_path();
    let leaky = harness("leaky");
    let probe = harness("probe");
    let script = format!(
        "mkdir -p /etc/systemd\n\
         printf '[Journal]\\nStorage=volatile\\nReadKMsg=no\\nForwardToSyslog=no\\nForwardToWall=no\\nForwardToConsole=no\\n' > /etc/systemd/journald.conf\n\
         mount -t tmpfs tmpfs /run/systemd\n\
         mkdir -p /run/log && mount -t tmpfs tmpfs /run/log\n\
         /lib/systemd/systemd-journald > {d}/journald.out 2>&1 &\n\
         J=$!; trap 'kill $J 2>/dev/null' EXIT\n\
         for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/dev-log ] && break; sleep 0.05; done\n\
         env LD_PRELOAD={lib} CLOEXEC_LOG=info CLOEXEC_LOG_TO=journal CLOEXEC_KEEP=bad- {leaky} execv -- {probe} > {d}/journal.out\n\
         env LD_PRELOAD={lib} CLOEXEC_LOG=info CLOEXEC_LOG_TO=syslog:/run/systemd/journal/dev-log {leaky} execve -- {probe} > {d}/syslog.out\n\
         for i in $(seq 200); do n=$(journalctl -D /run/log/journal -t libcloexec -o json --no-pager | wc -l); [ $n -ge 3 ] && break; sleep 0.05; done\n\
         journalctl -D /run/log/journal -o json --no-pager > {d}/journal.json\n",
        lib = lib.display(),
        leaky = leaky.display(),
        probe = probe.display(),
    );
    let before = common::real_etc();
    let Some(out) = common::in_private_etc(dir.path(), &script) else {
        return;
    };
    assert_eq!(common::real_etc(), before);
    assert!(
        out.status.success(),
        "{out:?}\n{}",
        dir.read("journald.out")
    );
    let json_path = dir.join("journal.json");
    let entries: Vec<Value> = dir
        .read("journal.json")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ours: Vec<BTreeMap<String, Vec<String>>> = entries
        .iter()
        .map(fields)
        .filter(|f| {
            f.get("SYSLOG_IDENTIFIER")
                .is_some_and(|v| v == &["libcloexec"])
        })
        .collect();
    let one = |f: &BTreeMap<String, Vec<String>>, name: &str| -> String {
        match f.get(name).map(Vec::as_slice) {
            Some([v]) => v.clone(),
            other => panic!("{name}: {other:?} in {f:#?}"),
        }
    };

    // Through the native protocol: the sweep line's fields, one per fd.
    let journal_out = dir.read("journal.out");
    let pid = leaky_pid(&journal_out).to_string();
    let leaks = parse_leaks(&journal_out);
    let native: Vec<_> = ours
        .iter()
        .filter(|f| one(f, "_TRANSPORT") == "journal")
        .collect();
    assert_eq!(native.len(), 2, "{ours:#?}\n{}", dir.read("journald.out"));
    let warning = native.iter().find(|f| one(f, "PRIORITY") == "4").unwrap();
    assert_eq!(
        one(warning, "MESSAGE"),
        "warning: CLOEXEC_KEEP: ignoring \"bad-\""
    );
    assert_eq!(one(warning, "SYSLOG_PID"), pid);
    let sweep = native.iter().find(|f| one(f, "PRIORITY") == "6").unwrap();
    assert_eq!(one(sweep, "SYSLOG_PID"), pid);
    assert_eq!(one(sweep, "CLOEXEC_CALL"), "execv");
    assert_eq!(one(sweep, "CLOEXEC_PROGRAM"), probe.to_str().unwrap());
    assert_eq!(one(sweep, "CLOEXEC_CALLER"), "leaky");
    assert_eq!(one(sweep, "CLOEXEC_MODE"), "sweep");
    assert_eq!(one(sweep, "CLOEXEC_FDS"), leaks.len().to_string());
    let want: Vec<String> = leaks
        .iter()
        .map(|(fd, leak)| format!("{fd} ({})", leak.target))
        .collect();
    assert_eq!(sweep["CLOEXEC_FD"], want);
    let message = one(sweep, "MESSAGE");
    assert!(
        message.starts_with(&format!("execv {} (by leaky): swept ", probe.display())),
        "{message}"
    );

    // Through journald's syslog socket: our syslog format parses there too.
    let syslog_pid = leaky_pid(&dir.read("syslog.out")).to_string();
    let via_syslog: Vec<_> = ours
        .iter()
        .filter(|f| one(f, "_TRANSPORT") == "syslog")
        .collect();
    assert_eq!(via_syslog.len(), 1, "{ours:#?}");
    assert_eq!(one(via_syslog[0], "SYSLOG_PID"), syslog_pid);
    assert_eq!(one(via_syslog[0], "PRIORITY"), "6");
    assert_eq!(one(via_syslog[0], "SYSLOG_FACILITY"), "1");
    assert!(
        one(via_syslog[0], "MESSAGE")
            .starts_with(&format!("execve {} (by leaky): swept ", probe.display())),
        "{via_syslog:#?}"
    );

    // `journalctl -o json` feeds the report.
    let json = report_json(&json_path);
    assert_eq!(json["execs"], 2, "{json:#}");
    assert_eq!(json["callers"][0]["caller"], "leaky");
    let calls = &json["callers"][0]["programs"][0]["calls"];
    assert_eq!(
        (calls["execv"].as_u64(), calls["execve"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        json["warnings"][0]["text"],
        "CLOEXEC_KEEP: ignoring \"bad-\""
    );
}
