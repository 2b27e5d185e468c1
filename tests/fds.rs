//! `cloexec fds PID` on a live process with a known mix of fds, every row
//! checked against the process's own view; and its errors: a missing pid,
//! another user's process, a bad argument. (A process that exits while
//! being read is tested on a fake `/proc` in the command's unit tests: a
//! real one cannot be made to exit at that instant.)

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::TempDir;
use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";

fn cloexec() -> Command {
    common::build_once();
    Command::new(common::root().join("target/release/cloexec"))
}

/// Started by bash with fd 3 open on a file (inherited), LISTEN_FDS=1 and
/// NODE_CHANNEL_FD=41 in its environment. Opens, each on purpose:
/// an inheritable file (leak), a close-on-exec file, a close-on-exec
/// socket, an inheritable socket, an inheritable pipe, fd 41, an
/// inheritable locked file, and inheritable listening unix and TCP sockets.
/// Prints `name fd` for each, then `fd N inheritable T target` for every
/// open fd, then `ready`, and waits for stdin to close.
const SCRIPT: &str = r#"
import ctypes, fcntl, os, socket, sys
d = sys.argv[1]
libc = ctypes.CDLL(None)
def p(n): return os.path.join(d, n).encode()
named = {}
named["inherited"] = 3
named["leak"] = libc.open(p("leak"), os.O_RDWR | os.O_CREAT, 0o600)
named["cloexec_file"] = os.open(p("ce"), os.O_RDWR | os.O_CREAT, 0o600)
named["cloexec_socket"] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).detach()
named["socket"] = libc.socket(1, 2, 0)
r, w = os.pipe2(0)
named["pipe"] = w
os.dup2(named["leak"], 41)
named["node_channel"] = 41
lock = libc.open(p("lock"), os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
named["lock"] = lock
ul = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ul.bind(os.path.join(d, "sock"))
ul.listen()
os.set_inheritable(ul.fileno(), True)
named["unix_listener"] = ul.fileno()
tl = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tl.bind(("127.0.0.1", 0))
tl.listen()
os.set_inheritable(tl.fileno(), True)
named["tcp_listener"] = tl.fileno()
for k, v in named.items():
    print(k, v)
fds = [int(n) for n in os.listdir("/proc/self/fd")]
for fd in sorted(fds):
    try:
        inh = os.get_inheritable(fd)
    except OSError:
        continue  # listdir's own fd
    print("fd", fd, "inheritable", inh, os.readlink("/proc/self/fd/%d" % fd))
print("ready", flush=True)
sys.stdin.read()
"#;

struct Row {
    inheritable: bool,
    target: String,
    verdict: String,
    why: String,
}

fn rows(json: &Value) -> BTreeMap<u64, Row> {
    json[0]["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["fd"].as_u64().unwrap(),
                Row {
                    inheritable: r["inheritable"].as_bool().unwrap(),
                    target: r["target"].as_str().unwrap().to_owned(),
                    verdict: r["verdict"].as_str().unwrap().to_owned(),
                    why: r["why"].as_str().unwrap().to_owned(),
                },
            )
        })
        .collect()
}

#[test]
fn every_row_of_a_live_process() {
    if !common::require(PYTHON, "the live process with a known mix of fds") {
        return;
    }
    let dir = TempDir::new("fds");
    let inherited = dir.write("inherited", "x");
    let mut cmd = Command::new("bash");
    cmd.args(["--norc", "--noprofile", "-c"])
        .arg("exec 3<\"$1\"; exec \"$2\" -c \"$3\" \"$4\"")
        .args([
            "bash".as_ref(),
            inherited.as_os_str(),
            PYTHON.as_ref(),
            SCRIPT.as_ref(),
        ])
        .arg(dir.path())
        .env_remove("LD_PRELOAD")
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .env("NODE_CHANNEL_FD", "41")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    common::close_inherited_fds(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut own_view = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "{own_view}");
        if line == "ready\n" {
            break;
        }
        own_view.push_str(&line);
    }
    let out = cloexec()
        .args(["fds", "--json", &child.id().to_string()])
        .output()
        .unwrap();
    let text = cloexec()
        .args(["fds", &child.id().to_string()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"").unwrap();
    child.wait().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows(&json);

    // Every open fd, with its target and flag, as the process sees them.
    let mut named = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for line in own_view.lines() {
        let parts: Vec<&str> = line.splitn(5, ' ').collect();
        match parts[..] {
            ["fd", n, "inheritable", inh, target] => {
                seen.insert(
                    n.parse::<u64>().unwrap(),
                    (inh == "True", target.to_owned()),
                );
            }
            [name, n] => {
                named.insert(name.to_owned(), n.parse::<u64>().unwrap());
            }
            _ => panic!("{line}"),
        }
    }
    let listed: Vec<u64> = rows.keys().copied().collect();
    let own: Vec<u64> = seen.keys().copied().collect();
    assert_eq!(listed, own, "{own_view}");
    for (fd, (inheritable, target)) in &seen {
        let row = &rows[fd];
        assert_eq!(row.inheritable, *inheritable, "fd {fd}");
        assert_eq!(&row.target, target, "fd {fd}");
    }

    // The verdict of each fd the process opened on purpose.
    let expect = |name: &str, verdict: &str, why: &str| {
        let fd = named[name];
        let row = &rows[&fd];
        assert_eq!(
            (row.verdict.as_str(), row.why.as_str()),
            (verdict, why),
            "{name} (fd {fd})"
        );
    };
    expect("inherited", "kept", "K6 LISTEN_FDS");
    expect("leak", "sweep", "no rule seen from outside keeps it");
    expect("cloexec_file", "closes", "FD_CLOEXEC is set");
    expect("cloexec_socket", "closes", "FD_CLOEXEC is set");
    expect("socket", "sweep", "no rule seen from outside keeps it");
    expect("pipe", "sweep", "no rule seen from outside keeps it");
    expect("node_channel", "kept", "K6 NODE_CHANNEL_FD");
    expect("lock", "kept", "K9 lock held on it");
    for listener in ["unix_listener", "tcp_listener"] {
        expect(
            listener,
            "sweep-unless-self",
            "K10 listening socket: kept if it re-execs itself",
        );
    }
    for fd in 0..3 {
        assert_eq!(rows[&fd].verdict, "stdio");
    }
    // Nothing else is open: each row above is one the test knows.
    assert_eq!(rows.len(), 3 + named.len() + 1, "the pipe's read end too");
    assert_eq!(json[0]["library_loaded"], false);

    // The text form: a header, then one aligned row per fd.
    let text = String::from_utf8_lossy(&text.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("PID {} ", child.id())),
        "{text}"
    );
    let header = lines[1];
    let target_col = header.find("TARGET").unwrap();
    assert_eq!(lines.len(), 2 + rows.len() + 1, "{text}");
    for (line, (fd, row)) in lines[2..].iter().zip(&rows) {
        assert!(line.trim_start().starts_with(&format!("{fd} ")), "{line}");
        assert_eq!(
            &line[target_col..target_col + row.target.len()],
            row.target,
            "{text}"
        );
    }
    assert!(!text.contains('\x1b'), "no colour without a tty");
}

#[test]
fn errors_have_their_exit_codes() {
    // Beyond pid_max: no process can have it.
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let missing = (pid_max + 1).to_string();
    let out = cloexec().args(["fds", &missing]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("cloexec: fds: {missing}: no such process\n")
    );
    // Not a pid: bad usage.
    for bad in ["abc", "0", "-1"] {
        let out = cloexec().args(["fds", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("cloexec: fds: "));
    }
}

#[test]
fn another_users_process_is_a_permission_error() {
    // As root, this process is another user's to `nobody`; otherwise pid 1
    // is (normally) root's.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = TempDir::new("fds-perm");
    let (target, mut cmd) = if root {
        // nobody must be able to run the command wherever the checkout is.
        let copy = dir.join("cloexec");
        common::build_once();
        std::fs::copy(common::root().join("target/release/cloexec"), &copy).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new(&copy);
        std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
        std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
        (std::process::id(), cmd)
    } else {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata("/proc/1").unwrap().uid();
        // SAFETY: getuid has no preconditions.
        if owner == unsafe { libc::getuid() } {
            eprintln!("skipped: pid 1 is this user's, and this user is not root");
            return;
        }
        (1, cloexec())
    };
    let out = cmd.args(["fds", &target.to_string()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.starts_with(&format!("cloexec: fds: {target}: permission denied")),
        "{stderr}"
    );
}
