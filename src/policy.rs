//! The keep decision: which fds an exec must leave alone (SPEC §2).
//!
//! Pure functions. The argv and environment arrive as iterators of byte
//! slices, and the two facts that need the kernel (an fd's current identity
//! and the caller's pid) arrive as closures, so everything here is tested
//! and property-tested without preloading anything.

use core::ffi::c_int;

use crate::keepset::KeepSet;
use crate::settings::{MAX_FD, NameList, Policy, parse_fd};
use crate::sys::FileId;

/// Why an fd was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// fds 0-2, never touched.
    Stdio,
    /// K2: named by `CLOEXEC_KEEP`.
    KeepList,
    /// K3: open at load and still the same file.
    Inherited,
    /// K4: made inheritable on purpose and still the same file.
    Intent,
    /// K5: named by an argument (`/dev/fd/N`), or the fd `fexecve`/`execveat` runs.
    Argv,
    /// K6: named by an fd-passing convention in the new environment.
    Protocol,
}

impl Rule {
    pub fn label(self) -> &'static str {
        match self {
            Rule::Stdio => "stdio",
            Rule::KeepList => "K2 keep-list",
            Rule::Inherited => "K3 inherited",
            Rule::Intent => "K4 intent",
            Rule::Argv => "K5 argv",
            Rule::Protocol => "K6 protocol",
        }
    }
}

/// What one exec or spawn hands to the new program.
pub struct ExecRequest<A, E> {
    /// The arguments (for `system`/`popen`, the command string).
    pub args: A,
    /// The environment the new program gets.
    pub env: E,
    /// The fd that `fexecve`/`execveat` execute, if any: a script run that
    /// way is read through `/dev/fd/N`, so it must stay open.
    pub program_fd: Option<c_int>,
}

/// The process state the keep rules consult.
pub struct ProcessView<'s, I, N, C, P> {
    pub policy: Policy,
    pub keep_list: &'s KeepSet,
    /// K3 records: fds open at load, with their identity then.
    pub inherited: I,
    /// K4 records: fds made inheritable on purpose, with their identity then.
    pub intents: N,
    /// The identity of what an fd refers to now (`fstat`), `None` if closed.
    pub identity_now: C,
    /// The caller's pid (`getpid`), asked only when a rule needs it.
    pub own_pid: P,
}

/// Calls `sink(rule, lo, hi)` for every range some rule keeps.
pub fn for_each_kept<'a, A, E, I, N, C, P>(
    exec: ExecRequest<A, E>,
    view: ProcessView<'_, I, N, C, P>,
    sink: &mut dyn FnMut(Rule, u32, u32),
) where
    A: Iterator<Item = &'a [u8]>,
    E: Iterator<Item = &'a [u8]>,
    I: Iterator<Item = (c_int, FileId)>,
    N: Iterator<Item = (c_int, FileId)>,
    C: FnMut(c_int) -> Option<FileId>,
    P: FnMut() -> u32,
{
    let ProcessView {
        policy,
        keep_list,
        inherited,
        intents,
        mut identity_now,
        mut own_pid,
    } = view;
    sink(Rule::Stdio, 0, 2);
    for r in keep_list.ranges() {
        sink(Rule::KeepList, r.lo, r.hi);
    }
    if let Some(fd) = exec.program_fd.and_then(|fd| u32::try_from(fd).ok()) {
        sink(Rule::Argv, fd, fd);
    }
    if policy == Policy::Strict {
        return;
    }
    let mut still_same = |(fd, then): (c_int, FileId)| {
        let fd_u32 = u32::try_from(fd).ok()?;
        (identity_now(fd) == Some(then)).then_some(fd_u32)
    };
    for fd in inherited.filter_map(&mut still_same) {
        sink(Rule::Inherited, fd, fd);
    }
    for fd in intents.filter_map(&mut still_same) {
        sink(Rule::Intent, fd, fd);
    }
    for arg in exec.args {
        fds_in_arg(arg, &mut own_pid, &mut |fd| sink(Rule::Argv, fd, fd));
    }
    fds_in_env(exec.env, &mut own_pid, &mut |lo, hi| {
        sink(Rule::Protocol, lo, hi)
    });
}

/// K7: whether the program at `exe` (a path) is one whose inheritable fds
/// are all a user's redirections.
pub fn is_passthrough(exe: &[u8], names: &NameList) -> bool {
    let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
    !base.is_empty() && names.contains(base)
}

/// The leading decimal digits of `s` as an fd, if there are any and they fit.
fn leading_fd(s: &[u8]) -> Option<u32> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_fd(s.get(..digits)?)
}

/// K5: every `/dev/fd/N`, `/proc/self/fd/N`, `/proc/thread-self/fd/N` and
/// `/proc/<own pid>/fd/N` in one argument.
pub fn fds_in_arg(arg: &[u8], own_pid: &mut dyn FnMut() -> u32, found: &mut dyn FnMut(u32)) {
    let mut pid = None;
    for (i, _) in arg.iter().enumerate().filter(|&(_, &b)| b == b'/') {
        let Some(at) = arg.get(i..) else { break };
        for prefix in [
            &b"/dev/fd/"[..],
            b"/proc/self/fd/",
            b"/proc/thread-self/fd/",
        ] {
            if let Some(fd) = at.strip_prefix(prefix).and_then(leading_fd) {
                found(fd);
            }
        }
        let Some(rest) = at.strip_prefix(b"/proc/") else {
            continue;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (Some(named_pid), Some(tail)) =
            (rest.get(..digits).and_then(parse_fd), rest.get(digits..))
        else {
            continue;
        };
        if let Some(fd) = tail.strip_prefix(b"/fd/").and_then(leading_fd)
            && *pid.get_or_insert_with(&mut *own_pid) == named_pid
        {
            found(fd);
        }
    }
}

/// The environment variables of the fd-passing conventions (K6).
const PROTOCOL_VARS: [&[u8]; 8] = [
    b"LISTEN_FDS=",
    b"LISTEN_PID=",
    b"MAKEFLAGS=",
    b"MFLAGS=",
    b"CARGO_MAKEFLAGS=",
    b"NGINX=",
    b"GUNICORN_FD=",
    b"SERVER_STARTER_PORT=",
];

/// K6: the fds that the conventions in `env` name, as inclusive ranges.
/// The first entry of a name counts, as with `getenv` in the new program.
pub fn fds_in_env<'a>(
    env: impl Iterator<Item = &'a [u8]>,
    own_pid: &mut dyn FnMut() -> u32,
    found: &mut dyn FnMut(u32, u32),
) {
    let mut seen = [false; PROTOCOL_VARS.len()];
    let mut listen_fds: Option<&[u8]> = None;
    let mut listen_pid: Option<&[u8]> = None;
    for entry in env {
        let Some((index, value)) = PROTOCOL_VARS
            .iter()
            .enumerate()
            .find_map(|(i, name)| entry.strip_prefix(*name).map(|v| (i, v)))
        else {
            continue;
        };
        match seen.get_mut(index) {
            Some(done) if !*done => *done = true,
            _ => continue,
        }
        match index {
            0 => listen_fds = Some(value),
            1 => listen_pid = Some(value),
            2..=4 => {
                if let Some((r, w)) = jobserver_fds(value) {
                    found(r, r);
                    found(w, w);
                }
            }
            5 => each_fd(value, b";:", |fd| found(fd, fd)),
            6 => each_fd(value, b",", |fd| found(fd, fd)),
            _ => {
                for item in value.split(|&b| b == b';') {
                    let after_eq = item.rsplit(|&b| b == b'=').next().unwrap_or(item);
                    if item.contains(&b'=')
                        && let Some(fd) = parse_fd(after_eq.trim_ascii())
                    {
                        found(fd, fd);
                    }
                }
            }
        }
    }
    if let Some(n) = listen_fds
        .and_then(|v| parse_fd(v.trim_ascii()))
        .filter(|&n| n > 0)
    {
        let for_us = match listen_pid {
            None => true,
            Some(pid) => parse_fd(pid.trim_ascii()) == Some(own_pid()),
        };
        if for_us {
            found(3, 3u32.saturating_add(n - 1).min(MAX_FD));
        }
    }
}

fn each_fd(value: &[u8], separators: &[u8], mut found: impl FnMut(u32)) {
    for item in value.split(|b| separators.contains(b)) {
        if let Some(fd) = parse_fd(item.trim_ascii()) {
            found(fd);
        }
    }
}

/// The `R,W` of the last `--jobserver-auth=` or `--jobserver-fds=` in a
/// make flags value. The `fifo:PATH` form names no fd.
pub fn jobserver_fds(flags: &[u8]) -> Option<(u32, u32)> {
    let mut last = None;
    for (i, _) in flags.iter().enumerate() {
        let at = flags.get(i..)?;
        for option in [&b"--jobserver-auth="[..], b"--jobserver-fds="] {
            if let Some(value) = at.strip_prefix(option) {
                last = Some(value);
            }
        }
    }
    let value = last?;
    let end = value
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let value = value.get(..end)?;
    let comma = value.iter().position(|&b| b == b',')?;
    let r = parse_fd(value.get(..comma)?)?;
    let w = parse_fd(value.get(comma + 1..)?)?;
    Some((r, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{BadParts, parse_names};
    use proptest::prelude::*;

    fn arg_fds(arg: &str, pid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        fds_in_arg(arg.as_bytes(), &mut || pid, &mut |fd| out.push(fd));
        out
    }

    fn env_fds(env: &[&str], pid: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        fds_in_env(
            env.iter().map(|e| e.as_bytes()),
            &mut || pid,
            &mut |lo, hi| out.push((lo, hi)),
        );
        out
    }

    #[test]
    fn argv_paths() {
        assert_eq!(arg_fds("/dev/fd/63", 1), [63]);
        assert_eq!(arg_fds("--file=/dev/fd/7", 1), [7]);
        assert_eq!(arg_fds("/proc/self/fd/12", 1), [12]);
        assert_eq!(arg_fds("/proc/thread-self/fd/12", 1), [12]);
        assert_eq!(arg_fds("/proc/4242/fd/9", 4242), [9]);
        assert!(
            arg_fds("/proc/4243/fd/9", 4242).is_empty(),
            "another process's fd"
        );
        assert_eq!(arg_fds("diff /dev/fd/62 /dev/fd/63", 1), [62, 63]);
        assert!(arg_fds("/dev/fd/", 1).is_empty());
        assert!(arg_fds("/dev/fd/x1", 1).is_empty());
        assert!(arg_fds("/dev/fd/99999999999999", 1).is_empty());
        assert!(arg_fds("/dev/fdx/3", 1).is_empty());
        assert_eq!(arg_fds("/dev/fd/5/", 1), [5]);
    }

    #[test]
    fn pid_is_asked_only_when_needed() {
        let mut asked = 0;
        let mut out = Vec::new();
        fds_in_arg(
            b"/dev/fd/3 /proc/self/fd/4",
            &mut || {
                asked += 1;
                1
            },
            &mut |fd| out.push(fd),
        );
        assert_eq!((asked, out), (0, vec![3, 4]));
    }

    #[test]
    fn listen_fds() {
        assert_eq!(env_fds(&["LISTEN_FDS=2"], 10), [(3, 4)]);
        assert_eq!(env_fds(&["LISTEN_PID=10", "LISTEN_FDS=1"], 10), [(3, 3)]);
        assert!(
            env_fds(&["LISTEN_PID=11", "LISTEN_FDS=1"], 10).is_empty(),
            "for another process"
        );
        assert!(env_fds(&["LISTEN_FDS=-1"], 10).is_empty());
        assert!(env_fds(&["LISTEN_FDS=0"], 10).is_empty());
        assert!(env_fds(&["LISTEN_FDS=abc"], 10).is_empty());
        assert_eq!(env_fds(&["LISTEN_FDS=2147483647"], 10), [(3, MAX_FD)]);
        assert_eq!(
            env_fds(&["LISTEN_FDS=1", "LISTEN_FDS=5"], 10),
            [(3, 3)],
            "first entry counts"
        );
    }

    #[test]
    fn jobserver() {
        assert_eq!(jobserver_fds(b" -j2 --jobserver-auth=3,4"), Some((3, 4)));
        assert_eq!(jobserver_fds(b"--jobserver-fds=5,6 -j"), Some((5, 6)));
        assert_eq!(
            jobserver_fds(b"--jobserver-fds=5,6 --jobserver-auth=7,8"),
            Some((7, 8))
        );
        assert_eq!(
            jobserver_fds(b"--jobserver-auth=7,8 --jobserver-auth=fifo:/tmp/x"),
            None,
            "last wins"
        );
        assert_eq!(jobserver_fds(b"--jobserver-auth=9999999999,"), None);
        assert_eq!(jobserver_fds(b"-j4"), None);
        assert_eq!(
            env_fds(
                &[
                    "MAKEFLAGS= -j2 --jobserver-auth=3,4",
                    "MFLAGS=-j --jobserver-fds=5,6"
                ],
                1
            ),
            [(3, 3), (4, 4), (5, 5), (6, 6)]
        );
        assert_eq!(
            env_fds(
                &["CARGO_MAKEFLAGS=-j --jobserver-fds=8,9 --jobserver-auth=8,9"],
                1
            ),
            [(8, 8), (9, 9)]
        );
    }

    #[test]
    fn server_conventions() {
        assert_eq!(env_fds(&["NGINX=5;6;"], 1), [(5, 5), (6, 6)]);
        assert_eq!(env_fds(&["GUNICORN_FD=7,8"], 1), [(7, 7), (8, 8)]);
        assert_eq!(
            env_fds(&["SERVER_STARTER_PORT=0.0.0.0:80=3;[::]:443=4"], 1),
            [(3, 3), (4, 4)]
        );
        assert!(env_fds(&["SERVER_STARTER_PORT=80"], 1).is_empty());
        assert!(env_fds(&["XNGINX=5", "NGINXX=6"], 1).is_empty());
    }

    #[test]
    fn passthrough_by_basename() {
        let mut names = NameList::new();
        parse_names(b"bash,sh", &mut names, &mut BadParts::new());
        assert!(is_passthrough(b"/usr/bin/bash", &names));
        assert!(is_passthrough(b"sh", &names));
        assert!(!is_passthrough(b"/usr/bin/bashful", &names));
        assert!(!is_passthrough(b"/bin/", &names));
    }

    fn id(n: u64) -> FileId {
        FileId { dev: 1, ino: n }
    }

    fn rules_for(
        policy: Policy,
        args: &[&str],
        env: &[&str],
        now: &[(c_int, u64)],
    ) -> Vec<(Rule, u32, u32)> {
        let mut keep_list = KeepSet::new();
        keep_list.insert(40);
        let mut out = Vec::new();
        for_each_kept(
            ExecRequest {
                args: args.iter().map(|a| a.as_bytes()),
                env: env.iter().map(|e| e.as_bytes()),
                program_fd: Some(30),
            },
            ProcessView {
                policy,
                keep_list: &keep_list,
                inherited: [(10, id(100)), (11, id(101))].into_iter(),
                intents: [(20, id(200)), (21, id(201))].into_iter(),
                identity_now: |fd| now.iter().find(|(f, _)| *f == fd).map(|&(_, i)| id(i)),
                own_pid: || 1,
            },
            &mut |rule, lo, hi| out.push((rule, lo, hi)),
        );
        out
    }

    #[test]
    fn identity_decides_k3_and_k4() {
        // fd 11 and 21 were closed and their numbers reused for other files.
        let now = [(10, 100), (11, 999), (20, 200), (21, 998)];
        let rules = rules_for(
            Policy::Smart,
            &["prog", "/dev/fd/50"],
            &["LISTEN_FDS=1"],
            &now,
        );
        assert_eq!(
            rules,
            [
                (Rule::Stdio, 0, 2),
                (Rule::KeepList, 40, 40),
                (Rule::Argv, 30, 30),
                (Rule::Inherited, 10, 10),
                (Rule::Intent, 20, 20),
                (Rule::Argv, 50, 50),
                (Rule::Protocol, 3, 3),
            ]
        );
    }

    #[test]
    fn strict_keeps_stdio_keep_list_and_program_only() {
        let now = [(10, 100), (20, 200)];
        let rules = rules_for(Policy::Strict, &["/dev/fd/50"], &["LISTEN_FDS=1"], &now);
        assert_eq!(
            rules,
            [
                (Rule::Stdio, 0, 2),
                (Rule::KeepList, 40, 40),
                (Rule::Argv, 30, 30)
            ]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_argv_and_env_never_panic(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
            tails in proptest::collection::vec("[-0-9,;:=/a-z ]{0,40}", 0..8),
            pid in any::<u32>(),
        ) {
            let prefixes = ["/dev/fd/", "/proc/self/fd/", "LISTEN_FDS=", "MAKEFLAGS=--jobserver-auth=", "NGINX=", "GUNICORN_FD=", "SERVER_STARTER_PORT=", "/proc/"];
            let crafted: Vec<Vec<u8>> = tails.iter().enumerate().map(|(i, t)| [prefixes[i % prefixes.len()].as_bytes(), t.as_bytes()].concat()).collect();
            let all: Vec<&[u8]> = args.iter().chain(crafted.iter()).map(|v| v.as_slice()).collect();
            let keep_list = KeepSet::new();
            let mut set = KeepSet::new();
            for_each_kept(
                ExecRequest { args: all.iter().copied(), env: all.iter().copied(), program_fd: None },
                ProcessView {
                    policy: Policy::Smart,
                    keep_list: &keep_list,
                    inherited: core::iter::empty(),
                    intents: core::iter::empty(),
                    identity_now: |_| None,
                    own_pid: || pid,
                },
                &mut |_, lo, hi| {
                    set.insert_range(lo, hi);
                },
            );
            prop_assert!(set.contains(0) && set.contains(1) && set.contains(2));
            for r in set.ranges() {
                prop_assert!(r.lo <= r.hi && r.hi <= MAX_FD);
            }
            for pair in set.ranges().windows(2) {
                prop_assert!(pair[0].hi.saturating_add(1) < pair[1].lo);
            }
        }
    }
}
