//! `cloexec fds [PID]...`: each open fd of a running process, whether it
//! is inheritable, and what the library would do with it at the process's
//! next exec, as far as that can be seen from outside (see `outside`).
//!
//! Everything comes from `/proc/PID`: `fd/N` (the target), `fdinfo/N`
//! (`flags`, octal, with `O_CLOEXEC` standing for `FD_CLOEXEC`; `lock:`
//! lines), `environ`, `cmdline`, `exe`, `maps` (is the library loaded?) and
//! `net/{tcp,tcp6,unix}` (listening sockets).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use clap::Parser;
use serde::Serialize;

use crate::outside;
use crate::term::{self, paint};

#[derive(Parser, Debug)]
#[command(
    name = "cloexec fds",
    about = "List a process's open fds: which are inheritable, and which the library would sweep at its next exec.",
    after_help = "\
From outside a process the rules K2 (CLOEXEC_KEEP), K6 (protocol variables in
its environment), K7 (a pass-through shell) and K9 (a lock, seen in fdinfo)
can be seen. K3 (inherited when the library loaded), K4 (dup2/F_SETFD intent),
K5 (the next exec's arguments) and K8 (the next program) cannot: an fd marked
'sweep' may still be kept by them. A listening socket is kept only if the
process re-execs itself (K10).

Exit status: 0; 2 for bad usage; 125 if a process cannot be read (no such
process, another user's, or it exited while being read). See cloexec(1)."
)]
pub struct Args {
    /// Processes to list (default: the caller's parent, i.e. the shell)
    #[arg(value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pids: Vec<u32>,
    /// Print the listing as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> i32 {
    let pids = if args.pids.is_empty() {
        vec![std::os::unix::process::parent_id()]
    } else {
        args.pids.clone()
    };
    let proc_root = Path::new("/proc");
    let mut status = 0;
    let mut listed = Vec::new();
    for pid in pids {
        match read_process(proc_root, pid) {
            Ok(process) => listed.push(process),
            Err(message) => status = crate::fail(crate::EXIT_FAILED, &format!("fds: {message}")),
        }
    }
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&listed).unwrap_or_default();
        json.push('\n');
        json
    } else {
        let blocks: Vec<String> = listed.iter().map(render).collect();
        blocks.join("\n")
    };
    if let Err(e) = term::print(&text) {
        return crate::fail(
            crate::EXIT_FAILED,
            &format!("write error: {}", crate::preload::plain_error(&e)),
        );
    }
    status
}

/// One process as listed.
#[derive(Serialize, Debug)]
pub struct Process {
    pub pid: u32,
    /// `/proc/PID/exe`, or "?" if it cannot be read (a zombie).
    pub exe: String,
    pub argv0: String,
    /// Whether `libcloexec.so` is mapped into the process.
    pub library_loaded: bool,
    pub policy: &'static str,
    pub mode: String,
    /// K7: the process itself is a pass-through program.
    pub passthrough: bool,
    pub fds: Vec<Row>,
}

#[derive(Serialize, Debug)]
pub struct Row {
    pub fd: u32,
    pub target: String,
    /// No `FD_CLOEXEC`: the fd reaches the next program unless swept.
    pub inheritable: bool,
    /// `stdio`, `closes`, `kept`, `sweep` or `sweep-unless-self`.
    pub verdict: &'static str,
    /// The rule or fact behind the verdict.
    pub why: String,
}

/// `flags` bit of `O_CLOEXEC` (octal 02000000), which fdinfo shows for
/// an fd with `FD_CLOEXEC`.
const O_CLOEXEC: u32 = 0o2000000;

/// Reads one process; the error is a one-line message naming the pid.
pub fn read_process(proc_root: &Path, pid: u32) -> Result<Process, String> {
    let dir = proc_root.join(pid.to_string());
    let fail = |what: &str, e: &io::Error| describe(&dir, pid, what, e);
    if !dir.is_dir() {
        return Err(format!("{pid}: no such process"));
    }
    let environ = fs::read(dir.join("environ")).map_err(|e| fail("environ", &e))?;
    let env: Vec<&[u8]> = environ
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .collect();
    let cmdline = fs::read(dir.join("cmdline")).map_err(|e| fail("cmdline", &e))?;
    let argv0 =
        String::from_utf8_lossy(cmdline.split(|&b| b == 0).next().unwrap_or(&[])).into_owned();
    let exe = fs::read_link(dir.join("exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".into());
    let maps = fs::read_to_string(dir.join("maps")).map_err(|e| fail("maps", &e))?;
    let library_loaded = maps.lines().any(|l| l.ends_with("/libcloexec.so"));

    let settings = outside::settings(&env);
    let passthrough = !settings.strict
        && (outside::is_passthrough(&exe, &settings.passthrough)
            || outside::is_passthrough(&argv0, &settings.passthrough));
    let kept = outside::kept_by_env(&env, pid, settings.strict);

    let mut numbers: Vec<u32> = fs::read_dir(dir.join("fd"))
        .map_err(|e| fail("fd", &e))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    let mut listening: Option<BTreeSet<u64>> = None;
    let mut rows = Vec::new();
    for fd in numbers {
        // An fd closed since the listing is skipped; a process gone is an error.
        let (target, info) = match (
            fs::read_link(dir.join(format!("fd/{fd}"))),
            fs::read_to_string(dir.join(format!("fdinfo/{fd}"))),
        ) {
            (Ok(target), Ok(info)) => (target.to_string_lossy().into_owned(), info),
            (Err(e), _) | (_, Err(e)) => {
                if dir.join("stat").exists() && e.kind() == io::ErrorKind::NotFound {
                    continue;
                }
                return Err(fail(&format!("fdinfo/{fd}"), &e));
            }
        };
        let Some(flags) = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        else {
            return Err(format!("{pid}: fdinfo/{fd} has no flags line"));
        };
        let inheritable = flags & O_CLOEXEC == 0;
        let locked = info.lines().any(|l| l.starts_with("lock:"));
        let is_listener = |inode: u64| {
            listening
                .get_or_insert_with(|| listening_sockets(&dir))
                .contains(&inode)
        };
        let (verdict, why) = verdict(
            fd,
            inheritable,
            &target,
            locked,
            passthrough,
            settings.strict,
            &kept,
            is_listener,
        );
        rows.push(Row {
            fd,
            target,
            inheritable,
            verdict,
            why,
        });
    }
    if !dir.join("stat").exists() {
        return Err(format!("{pid}: the process exited while being read"));
    }
    Ok(Process {
        pid,
        exe,
        argv0,
        library_loaded,
        policy: if settings.strict { "strict" } else { "smart" },
        mode: settings.mode,
        passthrough,
        fds: rows,
    })
}

/// What the library would do with one fd at the next exec.
#[allow(clippy::too_many_arguments)]
fn verdict(
    fd: u32,
    inheritable: bool,
    target: &str,
    locked: bool,
    passthrough: bool,
    strict: bool,
    kept: &[outside::Kept],
    mut is_listener: impl FnMut(u64) -> bool,
) -> (&'static str, String) {
    if fd <= 2 {
        return ("stdio", "0-2 are never touched".into());
    }
    if !inheritable {
        return ("closes", "FD_CLOEXEC is set".into());
    }
    if passthrough {
        return (
            "kept",
            "K7 pass-through: this program sweeps nothing".into(),
        );
    }
    if let Some(k) = kept.iter().find(|k| k.fds.contains(&fd)) {
        return ("kept", k.why.clone());
    }
    if strict {
        return ("sweep", "strict: not in CLOEXEC_KEEP".into());
    }
    if locked {
        return ("kept", "K9 lock held on it".into());
    }
    let socket_inode = target
        .strip_prefix("socket:[")
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|n| n.parse().ok());
    if socket_inode.is_some_and(&mut is_listener) {
        return (
            "sweep-unless-self",
            "K10 listening socket: kept if it re-execs itself".into(),
        );
    }
    ("sweep", "no rule seen from outside keeps it".into())
}

/// The inodes of listening sockets in the process's network namespace:
/// TCP state `0A` (LISTEN), and unix sockets with `__SO_ACCEPTCON`.
fn listening_sockets(dir: &Path) -> BTreeSet<u64> {
    let mut found = BTreeSet::new();
    for (table, is_listening, inode_column) in [
        ("net/tcp", tcp_listening as fn(&[&str]) -> bool, 9),
        ("net/tcp6", tcp_listening, 9),
        ("net/unix", unix_listening, 6),
    ] {
        let Ok(text) = fs::read_to_string(dir.join(table)) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if is_listening(&fields) {
                found.extend(fields.get(inode_column).and_then(|i| i.parse::<u64>().ok()));
            }
        }
    }
    found
}

fn tcp_listening(fields: &[&str]) -> bool {
    fields.get(3) == Some(&"0A")
}

fn unix_listening(fields: &[&str]) -> bool {
    const SO_ACCEPTCON: u32 = 0x10000;
    fields
        .get(3)
        .and_then(|f| u32::from_str_radix(f, 16).ok())
        .is_some_and(|flags| flags & SO_ACCEPTCON != 0)
}

/// A one-line message for a failed read of `/proc/PID/what`.
fn describe(dir: &Path, pid: u32, what: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "{pid}: permission denied reading /proc/{pid}/{what} (another user's process? run as that user or root)"
        ),
        _ if !dir.join("stat").exists() => format!("{pid}: the process exited while being read"),
        _ => format!(
            "{pid}: cannot read /proc/{pid}/{what}: {}",
            crate::preload::plain_error(e)
        ),
    }
}

fn render(p: &Process) -> String {
    let program = if p.exe == "?" { &p.argv0 } else { &p.exe };
    let library = if p.library_loaded {
        format!("libcloexec loaded, {} policy, {} mode", p.policy, p.mode)
    } else {
        format!(
            "libcloexec not loaded: nothing is swept (shown: what a {} policy would do)",
            p.policy
        )
    };
    let mut text = format!(
        "{} {}  {}\n",
        paint(term::PROGRAM, format!("PID {}", p.pid)),
        paint(term::PROGRAM, program),
        paint(term::NOTE, library)
    );
    let mut rows = vec![
        ["FD", "INHERITABLE", "AT NEXT EXEC", "TARGET", "WHY"]
            .map(|h| paint(term::HEADER, h))
            .to_vec(),
    ];
    for row in &p.fds {
        let verdict = match row.verdict {
            "sweep" => paint(term::LEAK, "SWEEP"),
            "sweep-unless-self" => paint(term::LEAK, "sweep*"),
            "kept" => paint(term::KEPT, "kept"),
            other => other.to_owned(),
        };
        rows.push(vec![
            row.fd.to_string(),
            if row.inheritable { "yes" } else { "no" }.to_owned(),
            verdict,
            row.target.clone(),
            paint(term::NOTE, &row.why),
        ]);
    }
    for line in term::table(&rows, &[0]).lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    let sweeps = p.fds.iter().filter(|r| r.verdict == "sweep").count();
    text.push_str(&paint(
        term::NOTE,
        format!(
            "  {sweeps} inheritable fd(s) beyond 0-2 would be swept at the next exec; \
             K3, K4, K5 and K8 cannot be seen from outside and may keep some (see --help)\n"
        ),
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    /// A fake `/proc` root with one process.
    fn fake_proc(tag: &str, pid: u32) -> PathBuf {
        let root = std::env::temp_dir().join(format!("cloexec-fds-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let dir = root.join(pid.to_string());
        fs::create_dir_all(dir.join("fd")).unwrap();
        fs::create_dir_all(dir.join("fdinfo")).unwrap();
        fs::create_dir_all(dir.join("net")).unwrap();
        fs::write(dir.join("environ"), b"LISTEN_FDS=1\0HOME=/root\0").unwrap();
        fs::write(dir.join("cmdline"), b"server\0--port\0").unwrap();
        fs::write(
            dir.join("maps"),
            "7f00-7f01 r-xp 0 0:0 1 /usr/lib/libcloexec.so\n",
        )
        .unwrap();
        fs::write(dir.join("stat"), "1 (server) S").unwrap();
        fs::write(
            dir.join("net/tcp"),
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1\n",
        )
        .unwrap();
        for (fd, target, flags, extra) in [
            (0, "/dev/null", "0100002", ""),
            (3, "socket:[9]", "02", ""),
            (4, "/var/log/app.log", "02100002", ""),
            (5, "/var/log/app.log", "02", ""),
            (
                6,
                "/run/app.pid",
                "02",
                "lock:\t1: FLOCK  ADVISORY  WRITE 1 00:1:2 0 EOF\n",
            ),
            (7, "socket:[555]", "02", ""),
        ] {
            symlink(target, dir.join(format!("fd/{fd}"))).unwrap();
            fs::write(
                dir.join(format!("fdinfo/{fd}")),
                format!("pos:\t0\nflags:\t{flags}\nmnt_id:\t1\n{extra}"),
            )
            .unwrap();
        }
        root
    }

    #[test]
    fn verdicts_from_a_fake_proc() {
        let root = fake_proc("ok", 42);
        let p = read_process(&root, 42).unwrap();
        let rows: Vec<(u32, bool, &str, &str)> = p
            .fds
            .iter()
            .map(|r| (r.fd, r.inheritable, r.verdict, r.why.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (0, true, "stdio", "0-2 are never touched"),
                (3, true, "kept", "K6 LISTEN_FDS"),
                (4, false, "closes", "FD_CLOEXEC is set"),
                (5, true, "sweep", "no rule seen from outside keeps it"),
                (6, true, "kept", "K9 lock held on it"),
                (
                    7,
                    true,
                    "sweep-unless-self",
                    "K10 listening socket: kept if it re-execs itself"
                ),
            ]
        );
        assert!(p.library_loaded);
        assert_eq!(p.argv0, "server");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_process_that_exits_mid_read() {
        let root = fake_proc("exit", 43);
        let dir = root.join("43");
        // The fd is listed but its fdinfo is gone, and so is the process.
        fs::remove_file(dir.join("fdinfo/5")).unwrap();
        fs::remove_file(dir.join("stat")).unwrap();
        assert_eq!(
            read_process(&root, 43).unwrap_err(),
            "43: the process exited while being read"
        );
        // Still alive: the fd was closed meanwhile, and is skipped.
        fs::write(dir.join("stat"), "").unwrap();
        let p = read_process(&root, 43).unwrap();
        assert!(p.fds.iter().all(|r| r.fd != 5));
        assert_eq!(read_process(&root, 44).unwrap_err(), "44: no such process");
        fs::remove_dir_all(root).unwrap();
    }
}
