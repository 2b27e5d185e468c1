//! The fd-passing conventions the general rules cannot read, one table
//! entry each ([`Convention`]), and K6: the fds that the environment handed
//! to the new program names.
//!
//! Each entry says where a convention tells its fds ([`Place`]) and how its
//! value names them ([`Reading`]):
//!
//! - **the new program's environment** (K6), by exact name or by a name's
//!   prefix: `LISTEN_FDS=2` (a count), git's `GIT_TRACE=7` (a variable
//!   whose whole value is an fd);
//! - **the new program's arguments** (K5), an option whose value is not a
//!   plain list of numbers: `--preserve-fds 2` (a count: fds 3 and 4),
//!   sudo's `-C 10` (fds below 10), xterm's `-Sab34`;
//! - **the calling program's own arguments**: socat told `fdout=7` places
//!   its child's channel at 7, often with no act the library sees (the fd
//!   is already there).
//!
//! The rest of K6 is three kinds of rule, all pure functions over
//! `NAME=VALUE` byte slices:
//!
//! 1. **The table's environment entries**, matched by exact name (the new
//!    program reads them with `getenv`, which is case-sensitive; only the
//!    first entry of a name counts, as with `getenv`) or by prefix.
//! 2. **An `FD` word in the name** (`NODE_CHANNEL_FD`, `EINHORN_FD_0`,
//!    `UPSTART_FDS`, `APPFD`): every number in the value, split as in K5.
//!    Matched ignoring ASCII case: a lower-case `app_fd` is read by someone
//!    just as well, and where the rules cannot tell, keep.
//! 3. **In any variable**, a number directly after an `=` inside the value,
//!    or after a key `fd:` or `fd://` (any case): the form servers use to
//!    hand sockets to their next self (`127.0.0.1:9000=7`, `…;type=w;fd=3;…`,
//!    `--bind=fd://5` in `GUNICORN_CMD_ARGS`).
//!
//! No other number in the environment counts. Every process carries
//! `SHLVL=3`, `XDG_SESSION_ID=3`, `JOURNAL_STREAM=8:…`: counting those
//! would keep the most common leak slots for every program.

use crate::numbers::{self, MAX_FD, parse_fd};

/// Where a convention tells its fds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The new environment: the variable of this exact name.
    Env(&'static [u8]),
    /// The new environment: every variable whose name starts with this.
    EnvPrefix(&'static [u8]),
    /// The new program's arguments, whatever the program: this long
    /// option's value (`--opt N`, `--opt=N`).
    Option(&'static [u8]),
    /// The arguments of a target with this basename: this option's value
    /// (`-o N` or `-oN`; `--opt N` or `--opt=N`).
    TargetOption(&'static [u8], &'static [u8]),
    /// The calling program's own arguments, when its basename is the first:
    /// every `KEY=N` with this key.
    CallerKey(&'static [u8], &'static [u8]),
}

/// How a convention's value names fds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// systemd's count: fds 3 .. 3+n-1, if `LISTEN_PID` allows.
    ListenCount,
    /// The pid `LISTEN_FDS` is meant for.
    ListenPid,
    /// make's `--jobserver-auth=R,W` / `--jobserver-fds=R,W` (the last one).
    Jobserver,
    /// Every number in the value, split as in K5.
    Numbers,
    /// The numbers after an `=` in the value (`addr=N;addr=N`).
    AfterEquals,
    /// The whole value is one decimal digit, an fd (git: `1` means stderr,
    /// `2`-`9` an fd; anything longer is a path or a word).
    Digit,
    /// The whole value is one fd number.
    Whole,
    /// A count of fds after stdio: 3 .. 3+n-1 (shifted past the `LISTEN_FDS`
    /// ones when those are kept too: a runtime passes both).
    CountAfterStdio,
    /// Every fd from 3 up to, not including, n (sudo closes from n).
    Below,
    /// Two bytes of a pty's name, then the fd (xterm's `-Sccn`; its
    /// `-S…/N` form is a path the general rule reads).
    PtyThenFd,
}

/// The conventions: one line each.
macro_rules! convention_table {
    ($($(#[$doc:meta])* $variant:ident = $place:ident($($key:literal),+) => $reading:ident,)*) => {
        /// A fd-passing convention the general rules cannot read.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Convention {
            $($(#[$doc])* $variant,)*
        }

        impl Convention {
            /// Every convention, in table order.
            pub const ALL: &'static [Convention] = &[$(Convention::$variant,)*];

            /// Where it tells its fds.
            pub const fn place(self) -> Place {
                match self {
                    $(Convention::$variant => Place::$place($($key),+),)*
                }
            }

            /// How its value names fds.
            pub const fn reading(self) -> Reading {
                match self {
                    $(Convention::$variant => Reading::$reading,)*
                }
            }
        }
    };
}

convention_table! {
    /// systemd socket activation: how many fds, from 3.
    ListenFds = Env(b"LISTEN_FDS") => ListenCount,
    /// systemd socket activation: whom `LISTEN_FDS` is for.
    ListenPid = Env(b"LISTEN_PID") => ListenPid,
    /// GNU make's jobserver.
    MakeFlags = Env(b"MAKEFLAGS") => Jobserver,
    /// GNU make's jobserver, older name.
    MFlags = Env(b"MFLAGS") => Jobserver,
    /// cargo's jobserver for build scripts.
    CargoMakeFlags = Env(b"CARGO_MAKEFLAGS") => Jobserver,
    /// nginx's binary upgrade: `N;N;…`.
    Nginx = Env(b"NGINX") => Numbers,
    /// gunicorn's re-exec: `N,N`.
    GunicornFd = Env(b"GUNICORN_FD") => Numbers,
    /// Server::Starter: `addr=N;addr=N`.
    ServerStarterPort = Env(b"SERVER_STARTER_PORT") => AfterEquals,
    /// A Wayland client's pre-connected socket.
    WaylandSocket = Env(b"WAYLAND_SOCKET") => Numbers,
    /// git's trace destinations (`GIT_TRACE`, `GIT_TRACE_PACKET`, …,
    /// `GIT_TRACE2_EVENT`: every key is `GIT_TRACE` and a suffix).
    GitTrace = EnvPrefix(b"GIT_TRACE") => Digit,
    /// Puma's restart: `PUMA_INHERIT_0=N:tcp://…`.
    PumaInherit = EnvPrefix(b"PUMA_INHERIT_") => Numbers,
    /// Mojolicious's hot deployment: `addr:port:N,…`.
    MojoReuse = Env(b"MOJO_REUSE") => Numbers,
    /// conmon's pipe to the container engine that started it.
    OciSyncPipe = Env(b"_OCI_SYNCPIPE") => Whole,
    /// conmon's start pipe.
    OciStartPipe = Env(b"_OCI_STARTPIPE") => Whole,
    /// runc's pipes to `runc init`.
    LibcontainerInitPipe = Env(b"_LIBCONTAINER_INITPIPE") => Whole,
    /// runc's sync pipe.
    LibcontainerSyncPipe = Env(b"_LIBCONTAINER_SYNCPIPE") => Whole,
    /// runc's log pipe.
    LibcontainerLogPipe = Env(b"_LIBCONTAINER_LOGPIPE") => Whole,
    /// Container runtimes (runc, crun, youki), podman and conmon: the first
    /// N fds after stdio go to the container.
    PreserveFds = Option(b"--preserve-fds") => CountAfterStdio,
    /// sudo: the fds below N reach the command.
    SudoCloseFrom = TargetOption(b"sudo", b"-C") => Below,
    /// sudo, the long form.
    SudoCloseFromLong = TargetOption(b"sudo", b"--close-from") => Below,
    /// xterm as another program's terminal: `-Sccn`.
    XtermSlave = TargetOption(b"xterm", b"-S") => PtyThenFd,
    /// socat's EXEC and SYSTEM addresses: the child's input at N.
    SocatFdIn = CallerKey(b"socat", b"fdin") => Whole,
    /// socat: the child's output at N.
    SocatFdOut = CallerKey(b"socat", b"fdout") => Whole,
}

const _: () = assert!(Convention::ALL.len() <= 64, "`seen` is a u64 bit set");

impl Convention {
    /// The name, prefix, option or key the convention is found by.
    pub const fn name(self) -> &'static [u8] {
        match self.place() {
            Place::Env(name) | Place::EnvPrefix(name) | Place::Option(name) => name,
            Place::TargetOption(_, option) => option,
            Place::CallerKey(_, key) => key,
        }
    }

    /// The environment convention for a variable: by exact name first, then
    /// by prefix.
    fn for_variable(name: &[u8]) -> Option<Convention> {
        let exact = |c: &Convention| matches!(c.place(), Place::Env(n) if n == name);
        let prefix =
            |c: &Convention| matches!(c.place(), Place::EnvPrefix(p) if name.starts_with(p));
        let all = Convention::ALL.iter().copied();
        all.clone().find(exact).or_else(|| all.clone().find(prefix))
    }

    const fn bit(self) -> u64 {
        1 << self as u64
    }
}

/// Which rule of K6 named an fd, and in which variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// A convention of the table, by its exact name.
    Convention(Convention),
    /// A convention of the table, by a prefix; the variable's name.
    Prefixed(Convention, &'a [u8]),
    /// A variable with an `FD` word in its name; the name.
    FdWord(&'a [u8]),
    /// A number after `=` or `fd:` in this variable's value; the name.
    HandedOver(&'a [u8]),
}

/// K6: calls `found(source, lo, hi)` for every fd range the environment
/// names.
pub fn fds_in_env<'a>(
    env: impl Iterator<Item = &'a [u8]>,
    own_pid: &mut dyn FnMut() -> u32,
    found: &mut dyn FnMut(Source<'a>, u32, u32),
) {
    let mut seen = 0u64;
    let mut listen_count: Option<&[u8]> = None;
    let mut listen_pid: Option<&[u8]> = None;
    for entry in env {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (Some(name), Some(value)) = (entry.get(..eq), entry.get(eq + 1..)) else {
            continue;
        };
        let convention = Convention::for_variable(name);
        if let Some(convention) = convention {
            // Exact names count once, as `getenv` reads them; each variable
            // a prefix matches is a name of its own.
            let source = match convention.place() {
                Place::Env(_) => Source::Convention(convention),
                _ => Source::Prefixed(convention, name),
            };
            let first = seen & convention.bit() == 0;
            if let Source::Convention(_) = source {
                seen |= convention.bit();
            }
            match convention.reading() {
                _ if !first => {}
                Reading::ListenCount => listen_count = Some(value),
                Reading::ListenPid => listen_pid = Some(value),
                reading => read_value(reading, value, &mut |lo, hi| found(source, lo, hi)),
            }
        }
        // A convention says how its value reads (`LISTEN_FDS=2` is a count,
        // not fd 2); the FD-word rule is for the rest.
        if convention.is_none() && names_fds(name) {
            numbers::numbers(value).for_each(|fd| found(Source::FdWord(name), fd, fd));
        }
        handed_over(value, &mut |fd| found(Source::HandedOver(name), fd, fd));
    }
    if let Some(n) = listen_count
        .and_then(|v| parse_fd(v.trim_ascii()))
        .filter(|&n| n > 0)
    {
        let for_us = match listen_pid {
            None => true,
            Some(pid) => parse_fd(pid.trim_ascii()) == Some(own_pid()),
        };
        if for_us {
            let source = Source::Convention(Convention::ListenFds);
            found(source, 3, 3u32.saturating_add(n - 1).min(MAX_FD));
        }
    }
}

/// The fds one value names under a reading that needs nothing else:
/// `found(lo, hi)` for each range. The environment's counts and pids
/// ([`Reading::ListenCount`], [`Reading::ListenPid`]) need each other, and
/// are read in [`fds_in_env`].
fn read_value(reading: Reading, value: &[u8], found: &mut dyn FnMut(u32, u32)) {
    let whole = || parse_fd(value.trim_ascii());
    match reading {
        Reading::Numbers => numbers::numbers(value).for_each(|fd| found(fd, fd)),
        Reading::AfterEquals => handed_over(value, &mut |fd| found(fd, fd)),
        Reading::Jobserver => {
            if let Some((r, w)) = jobserver_fds(value) {
                found(r, r);
                found(w, w);
            }
        }
        Reading::Digit => {
            if let [digit] = value
                && digit.is_ascii_digit()
            {
                let fd = u32::from(digit - b'0');
                found(fd, fd);
            }
        }
        Reading::Whole => {
            if let Some(fd) = whole() {
                found(fd, fd);
            }
        }
        Reading::CountAfterStdio => {
            if let Some(n) = whole().filter(|&n| n > 0) {
                found(3, 3u32.saturating_add(n - 1).min(MAX_FD));
            }
        }
        Reading::Below => {
            if let Some(n) = whole().filter(|&n| n > 3) {
                found(3, n - 1);
            }
        }
        Reading::PtyThenFd => {
            if let Some(fd) = value.get(2..).and_then(parse_fd) {
                found(fd, fd);
            }
        }
        Reading::ListenCount | Reading::ListenPid => {}
    }
}

/// K5's options: the fds that one argument, read with the one before it,
/// names through the table's options. Keeps no state, so that the exec
/// path's single pass over the arguments can call it for each one.
///
/// `target` is the basename of the program being started, if known. An
/// argument that does not start with `-`, after one that does not either,
/// is left at its first byte: the exec path runs this over every argument.
pub fn fds_in_option(
    target: Option<&[u8]>,
    previous: Option<&[u8]>,
    arg: &[u8],
    found: &mut dyn FnMut(Convention, u32, u32),
) {
    let dash = |a: &[u8]| a.first() == Some(&b'-');
    if !dash(arg) && !previous.is_some_and(dash) {
        return;
    }
    for &convention in Convention::ALL {
        let option = match convention.place() {
            Place::Option(option) => option,
            Place::TargetOption(program, option) if target == Some(program) => option,
            _ => continue,
        };
        let value = if previous == Some(option) {
            Some(arg)
        } else {
            arg.strip_prefix(option).and_then(|rest| match option {
                [b'-', b'-', ..] => rest.strip_prefix(b"="),
                _ => Some(rest).filter(|r| !r.is_empty()),
            })
        };
        if let Some(value) = value {
            read_value(convention.reading(), value, &mut |lo, hi| {
                found(convention, lo, hi)
            });
        }
    }
}

/// [`fds_in_option`] over the words of a shell command (`system`,
/// `popen`), split at ASCII whitespace.
pub fn fds_in_command(
    target: Option<&[u8]>,
    command: &[u8],
    found: &mut dyn FnMut(Convention, u32, u32),
) {
    let mut previous = None;
    for word in command
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
    {
        fds_in_option(target, previous, word, found);
        previous = Some(word);
    }
}

/// The calling program's own told numbers: when `is_caller` says the
/// caller goes by a program's name in the table, every `KEY=N` of its
/// `args` (after `argv[0]`) with that program's key.
pub fn fds_in_caller_args<'a, I: Iterator<Item = &'a [u8]>>(
    is_caller: &mut dyn FnMut(&[u8]) -> bool,
    args: impl Fn() -> I,
    found: &mut dyn FnMut(Convention, u32),
) {
    for &convention in Convention::ALL {
        let Place::CallerKey(program, key) = convention.place() else {
            continue;
        };
        if !is_caller(program) {
            continue;
        }
        for arg in args().skip(1) {
            let mut previous: Option<numbers::Part<'_>> = None;
            for part in numbers::parts(arg) {
                let keyed = previous.is_some_and(|p| {
                    p.bytes.eq_ignore_ascii_case(key)
                        && p.start + key.len() + 1 == part.start
                        && arg.get(p.start + key.len()) == Some(&b'=')
                });
                if keyed && let Some(fd) = part.number() {
                    found(convention, fd);
                }
                previous = Some(part);
            }
        }
    }
}

/// Whether a variable's name has `FD` or `FDS` as an `_`-separated word,
/// or ends in `FD`/`FDS`, ignoring ASCII case.
pub fn names_fds(name: &[u8]) -> bool {
    let is_fd_word = |w: &[u8]| w.eq_ignore_ascii_case(b"FD") || w.eq_ignore_ascii_case(b"FDS");
    let ends_in = |suffix: &[u8]| {
        name.len()
            .checked_sub(suffix.len())
            .and_then(|at| name.get(at..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
    };
    name.split(|&b| b == b'_').any(is_fd_word) || ends_in(b"FD") || ends_in(b"FDS")
}

/// In any value: every number that directly follows an `=`, or a key `fd:`
/// or `fd://` (any case). Only the `=` and `:` bytes are visited: every process's
/// environment passes through here at each exec.
pub fn handed_over(value: &[u8], found: &mut dyn FnMut(u32)) {
    let mut from = 0;
    while let Some(rest) = value.get(from..) {
        let Some(at) = rest.iter().position(|&b| b == b'=' || b == b':') else {
            return;
        };
        let i = from + at;
        from = i + 1;
        let Some(mut tail) = value.get(i + 1..) else {
            return;
        };
        let is_key = value.get(i) == Some(&b':');
        if is_key && let Some(url) = tail.strip_prefix(b"//") {
            tail = url;
        }
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || tail.get(digits).is_some_and(|&b| numbers::in_part(b)) {
            continue;
        }
        let handed = !is_key || after_fd_key(value.get(..i).unwrap_or(&[]));
        if handed && let Some(fd) = tail.get(..digits).and_then(numbers::number) {
            found(fd);
        }
    }
}

/// Whether `before` (the text up to a `:`) ends with the whole part `fd`.
fn after_fd_key(before: &[u8]) -> bool {
    let Some(key_at) = before.len().checked_sub(2) else {
        return false;
    };
    let key = before.get(key_at..).unwrap_or(&[]);
    let starts_part = key_at
        .checked_sub(1)
        .and_then(|i| before.get(i))
        .is_none_or(|&b| !numbers::in_part(b));
    key.eq_ignore_ascii_case(b"fd") && starts_part
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
    use proptest::prelude::*;

    fn env_fds(env: &[&str], pid: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        fds_in_env(
            env.iter().map(|e| e.as_bytes()),
            &mut || pid,
            &mut |_, lo, hi| out.push((lo, hi)),
        );
        out
    }

    fn singles(env: &[&str]) -> Vec<u32> {
        let mut fds: Vec<u32> = env_fds(env, 1)
            .into_iter()
            .flat_map(|(lo, hi)| lo..=hi)
            .collect();
        fds.sort();
        fds.dedup();
        fds
    }

    #[test]
    fn the_table_names_each_convention_once() {
        for (i, c) in Convention::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "table order is discriminant order");
            match c.place() {
                Place::Env(_) | Place::EnvPrefix(_) => {
                    assert_eq!(Convention::for_variable(c.name()), Some(*c))
                }
                _ => assert_eq!(Convention::for_variable(c.name()), None),
            }
        }
        assert_eq!(Convention::for_variable(b"NGINXX"), None);
        assert_eq!(Convention::for_variable(b"nginx"), None, "exact case");
        assert_eq!(
            Convention::for_variable(b"GIT_TRACE_PACKET"),
            Some(Convention::GitTrace)
        );
        assert_eq!(Convention::for_variable(b"XGIT_TRACE"), None);
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
        assert!(
            env_fds(&["LISTEN_PID=11", "LISTEN_FDS=9"], 10).is_empty(),
            "a count, not fd 9"
        );
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
            singles(&[
                "MAKEFLAGS= -j2 --jobserver-auth=3,4",
                "MFLAGS=-j --jobserver-fds=5,6"
            ]),
            [3, 4, 5, 6]
        );
        assert_eq!(
            singles(&["CARGO_MAKEFLAGS=-j --jobserver-fds=8,9 --jobserver-auth=8,9"]),
            [8, 9]
        );
        assert!(singles(&["MAKEFLAGS=-j4 --jobserver-auth=fifo:/tmp/GMfifo123"]).is_empty());
    }

    #[test]
    fn server_conventions() {
        assert_eq!(singles(&["NGINX=5;6;"]), [5, 6]);
        assert_eq!(singles(&["GUNICORN_FD=7,8"]), [7, 8]);
        assert_eq!(
            singles(&["SERVER_STARTER_PORT=0.0.0.0:80=3;[::]:443=4"]),
            [3, 4]
        );
        assert_eq!(singles(&["WAYLAND_SOCKET=9"]), [9]);
        assert!(singles(&["SERVER_STARTER_PORT=80"]).is_empty());
        assert!(singles(&["XNGINX=5", "NGINXX=6", "nginx=7"]).is_empty());
    }

    #[test]
    fn git_trace_takes_one_digit_as_an_fd() {
        for name in [
            "GIT_TRACE",
            "GIT_TRACE_PACKET",
            "GIT_TRACE_PERFORMANCE",
            "GIT_TRACE_SETUP",
            "GIT_TRACE_CURL",
            "GIT_TRACE2",
            "GIT_TRACE2_EVENT",
            "GIT_TRACE2_PERF",
        ] {
            assert_eq!(singles(&[&format!("{name}=7")]), [7], "{name}");
        }
        assert_eq!(
            env_fds(&["GIT_TRACE=5", "GIT_TRACE_PACKET=6"], 1),
            [(5, 5), (6, 6)],
            "each variable a prefix matches counts"
        );
        for entry in [
            "GIT_TRACE=10",
            "GIT_TRACE=true",
            "GIT_TRACE=/tmp/trace",
            "GIT_TRACE= 7",
            "GIT_TRACE=7 ",
            "GIT_TRACE=",
            "XGIT_TRACE=7",
            "git_trace=7",
        ] {
            assert!(singles(&[entry]).is_empty(), "{entry}");
        }
    }

    #[test]
    fn whole_number_variables() {
        assert_eq!(singles(&["_OCI_SYNCPIPE=5"]), [5]);
        assert_eq!(singles(&["_OCI_STARTPIPE=6"]), [6]);
        assert_eq!(singles(&["_LIBCONTAINER_INITPIPE=7"]), [7]);
        assert_eq!(singles(&["_LIBCONTAINER_SYNCPIPE=8"]), [8]);
        assert_eq!(singles(&["_LIBCONTAINER_LOGPIPE=9"]), [9]);
        assert!(singles(&["_OCI_SYNCPIPE=5x", "_OCI_STARTPIPE=-6"]).is_empty());
        assert!(singles(&["OCI_SYNCPIPE=5"]).is_empty(), "exact name");
    }

    #[test]
    fn servers_that_tell_address_and_fd() {
        assert_eq!(
            singles(&["PUMA_INHERIT_0=3:tcp://0.0.0.0:9292"]),
            [3, 9292],
            "the port reads as a number too: a harmless keep"
        );
        assert_eq!(singles(&["PUMA_INHERIT_1=4:unix:///tmp/puma.sock"]), [4]);
        assert_eq!(
            singles(&["MOJO_REUSE=127.0.0.1:8080:5,*:3000:6"]),
            [5, 6, 3000, 8080]
        );
        assert!(singles(&["PUMA_INHERIT=3:tcp://x", "MOJO_REUSEX=5"]).is_empty());
    }

    #[test]
    fn fd_urls_are_handed_over_in_any_variable() {
        assert_eq!(singles(&["GUNICORN_CMD_ARGS=--bind=fd://5"]), [5]);
        assert_eq!(singles(&["X=fd://12"]), [12]);
        assert_eq!(singles(&["X=a,FD://7;b"]), [7]);
        for entry in [
            "X=xfd://5",
            "X=http://5",
            "X=fd:///5",
            "X=fd://5x",
            "X=fd:/5",
        ] {
            assert!(singles(&[entry]).is_empty(), "{entry}");
        }
    }

    fn option_fds(target: Option<&str>, args: &[&str]) -> Vec<(Convention, u32, u32)> {
        let mut out = Vec::new();
        let mut previous: Option<&[u8]> = None;
        for arg in args {
            fds_in_option(
                target.map(str::as_bytes),
                previous,
                arg.as_bytes(),
                &mut |c, lo, hi| out.push((c, lo, hi)),
            );
            previous = Some(arg.as_bytes());
        }
        out
    }

    #[test]
    fn preserve_fds_is_a_count_after_stdio() {
        use Convention::PreserveFds;
        for target in [Some("runc"), Some("crun"), Some("podman"), None] {
            let two = option_fds(target, &["run", "--preserve-fds", "2", "box"]);
            assert_eq!(two, [(PreserveFds, 3, 4)], "{target:?}");
        }
        assert_eq!(
            option_fds(None, &["--preserve-fds=3"]),
            [(PreserveFds, 3, 5)]
        );
        assert_eq!(
            option_fds(None, &["--preserve-fds=2147483647"]),
            [(PreserveFds, 3, MAX_FD)]
        );
        for args in [
            &["--preserve-fds", "0"][..],
            &["--preserve-fds=-1"],
            &["--preserve-fds"],
            &["--preserve-fdsx=2"],
            &["--preserve-fds2"],
            &["-preserve-fds", "2"],
            &["preserve-fds", "2"],
        ] {
            assert!(option_fds(None, args).is_empty(), "{args:?}");
        }
    }

    #[test]
    fn sudo_close_from_keeps_what_is_below() {
        let sudo = Some("sudo");
        let below = |args: &[&str]| -> Vec<(u32, u32)> {
            option_fds(sudo, args)
                .into_iter()
                .map(|(_, lo, hi)| (lo, hi))
                .collect()
        };
        assert_eq!(below(&["-C", "10", "prog"]), [(3, 9)]);
        assert_eq!(below(&["-C10", "prog"]), [(3, 9)]);
        assert_eq!(below(&["--close-from=6", "prog"]), [(3, 5)]);
        assert_eq!(below(&["--close-from", "4", "prog"]), [(3, 3)]);
        assert!(below(&["-C", "3", "prog"]).is_empty(), "3 passes nothing");
        assert!(below(&["-C"]).is_empty());
        assert!(
            option_fds(Some("env"), &["-C", "10"]).is_empty(),
            "-C means something else elsewhere"
        );
        assert!(option_fds(None, &["-C", "10"]).is_empty());
    }

    #[test]
    fn xterm_tells_its_pty_then_its_fd() {
        let xterm = |arg: &str| -> Vec<u32> {
            option_fds(Some("xterm"), &[arg])
                .into_iter()
                .map(|(_, lo, _)| lo)
                .collect()
        };
        assert_eq!(xterm("-Sab34"), [34]);
        assert_eq!(
            xterm("-Sp34"),
            [4],
            "two bytes of the pty's name, then the fd"
        );
        assert!(
            xterm("-S/dev/pts/3/7").is_empty(),
            "a path: the general rule reads it"
        );
        assert!(xterm("-Sab").is_empty());
        assert!(xterm("-Sabx3").is_empty());
        assert!(option_fds(Some("uxterm2"), &["-Sab34"]).is_empty());
    }

    #[test]
    fn options_are_only_looked_at_next_to_a_dash() {
        assert!(option_fds(Some("sudo"), &["x", "10"]).is_empty());
        assert!(option_fds(Some("sudo"), &["10"]).is_empty());
    }

    #[test]
    fn options_in_a_shell_command() {
        let mut out = Vec::new();
        fds_in_command(
            Some(b"sudo"),
            b"sudo -C 6  runc run --preserve-fds=2 box",
            &mut |c, lo, hi| out.push((c, lo, hi)),
        );
        assert_eq!(
            out,
            [
                (Convention::SudoCloseFrom, 3, 5),
                (Convention::PreserveFds, 3, 4)
            ]
        );
    }

    fn caller_fds(caller: &str, args: &[&str]) -> Vec<u32> {
        let mut out = Vec::new();
        fds_in_caller_args(
            &mut |name| name == caller.as_bytes(),
            || args.iter().map(|a| a.as_bytes()),
            &mut |_, fd| out.push(fd),
        );
        out.sort();
        out
    }

    #[test]
    fn socat_places_its_childs_fds_where_it_is_told() {
        assert_eq!(
            caller_fds("socat", &["socat", "-u", "EXEC:./w.sh,fdout=7", "-"]),
            [7]
        );
        assert_eq!(
            caller_fds("socat", &["socat", "SYSTEM:cat,fdin=5,fdout=6", "TCP:x:80"]),
            [5, 6]
        );
        assert_eq!(
            caller_fds("socat", &["socat", "EXEC:x,FDIN=5"]),
            [5],
            "any case"
        );
        for arg in [
            "EXEC:x,xfdin=5",
            "EXEC:x,fdin=5x",
            "EXEC:x,fdin 5",
            "EXEC:x,fdin==5",
            "fdin",
        ] {
            assert!(caller_fds("socat", &["socat", arg]).is_empty(), "{arg}");
        }
        assert!(caller_fds("socat", &["fdin=9"]).is_empty(), "not argv[0]");
        assert!(
            caller_fds("socat2", &["socat2", "EXEC:x,fdin=5"]).is_empty(),
            "only the named caller"
        );
    }

    #[test]
    fn fd_words_in_names() {
        for name in [
            "NODE_CHANNEL_FD",
            "EINHORN_FD_0",
            "UPSTART_FDS",
            "APP_CHANNEL_FD",
            "APPFD",
            "FD",
            "app_fd",
            "X_Fds_Y",
        ] {
            assert!(names_fds(name.as_bytes()), "{name}");
            assert_eq!(singles(&[&format!("{name}=7")]), [7], "{name}");
        }
        for name in [
            "FDX",
            "FDNAMES",
            "LISTEN_FDNAMES",
            "SHLVL",
            "PWD",
            "AFDB",
            "OLDPWD",
        ] {
            assert!(!names_fds(name.as_bytes()), "{name}");
        }
        assert_eq!(singles(&["EINHORN_FDS=3 4 5"]), [3, 4, 5]);
        assert_eq!(singles(&["APP_FD=6:7"]), [6, 7]);
        assert!(singles(&["APP_FD=-5", "APP_FDX=5"]).is_empty());
    }

    #[test]
    fn numbers_handed_over_in_any_variable() {
        assert_eq!(singles(&["LISTEN=127.0.0.1:9000=7"]), [7]);
        assert_eq!(singles(&["X=a;type=w;fd=3;b"]), [3]);
        assert_eq!(singles(&["X=FD:5"]), [5]);
        assert_eq!(singles(&["X=sock fd:12"]), [12]);
        assert_eq!(singles(&["X=a=1,b=2"]), [1, 2]);
    }

    #[test]
    fn other_numbers_in_the_environment_do_not_count() {
        let env = [
            "SHLVL=3",
            "XDG_SESSION_ID=3",
            "JOURNAL_STREAM=8:123",
            "COLUMNS=80",
            "X=a 5",
            "X=xfd:5",
            "X=fd::5",
            "X=fd: 5",
            "X= = 6",
            "X==-5",
            "X=v=3.5",
            "=9",
        ];
        assert!(singles(&env).is_empty(), "{:?}", singles(&env));
    }

    #[test]
    fn colour_tables_keep_their_codes() {
        let ls = "LS_COLORS=rs=0:di=01;34:ln=01;36:pi=40;33:so=01;35:*.tar=01;31";
        assert_eq!(singles(&[ls]), [0, 1, 40]);
    }

    proptest! {
        #[test]
        fn arbitrary_environments_never_panic(
            env in proptest::collection::vec("[A-Za-z_]{0,12}=[-0-9a-zA-Z,;:=. ]{0,40}", 0..12),
            raw in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..60), 0..6),
            pid in any::<u32>(),
        ) {
            let all: Vec<&[u8]> = env.iter().map(|e| e.as_bytes()).chain(raw.iter().map(|r| r.as_slice())).collect();
            let mut ranges = Vec::new();
            fds_in_env(all.iter().copied(), &mut || pid, &mut |_, lo, hi| ranges.push((lo, hi)));
            for (lo, hi) in ranges {
                prop_assert!(lo <= hi && hi <= MAX_FD);
            }
        }

        /// A variable with no FD word, no `=` or `fd:` in its value (no `f`
        /// at all here) and no
        /// convention's name keeps nothing, whatever numbers it holds.
        #[test]
        fn plain_values_keep_nothing(
            name in "[A-EG-Z][A-EG-Z_]{0,10}",
            value in "[0-9a-eg-z ,;.:-]{0,40}",
        ) {
            prop_assume!(Convention::for_variable(name.as_bytes()).is_none());
            let entry = format!("{name}={value}");
            prop_assert!(singles(&[&entry]).is_empty());
        }

        /// The fast scan finds what the splitting rule says: the all-digit
        /// parts right after `=`, or after a part `fd` and a `:` (or `://`).
        #[test]
        fn handed_over_matches_the_part_model(value in "[-0-9a-zA-Z=:;,./ ]{0,60}") {
            let bytes = value.as_bytes();
            let mut fast = Vec::new();
            handed_over(bytes, &mut |fd| fast.push(fd));
            let mut model = Vec::new();
            let mut previous: Option<numbers::Part<'_>> = None;
            for part in numbers::parts(bytes) {
                let before = part.start.checked_sub(1).map(|i| bytes[i]);
                let key = before == Some(b':') && previous.is_some_and(|p| {
                    p.start + p.bytes.len() + 1 == part.start && p.bytes.eq_ignore_ascii_case(b"fd")
                });
                let url = part.bytes.strip_prefix(b"//").and_then(numbers::number);
                if let Some(fd) = part.number() {
                    if before == Some(b'=') || key {
                        model.push(fd);
                    }
                } else if let (Some(fd), true) = (url, key) {
                    model.push(fd);
                }
                previous = Some(part);
            }
            prop_assert_eq!(fast, model);
        }

        /// A number after `=` in a value is kept under any name.
        #[test]
        fn numbers_after_equals_are_kept(
            name in "[A-Z_]{1,10}",
            key in "[a-z.:]{0,8}",
            fd in 0u32..(1 << 31),
            tail in "(;[a-z]{0,5})?",
        ) {
            let entry = format!("{name}={key}={fd}{tail}");
            prop_assert!(singles(&[&entry]).contains(&fd));
        }
    }
}
