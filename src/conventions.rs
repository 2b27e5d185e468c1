//! K6: the fds that the environment handed to the new program names.
//!
//! Three kinds of rule, all pure functions over `NAME=VALUE` byte slices:
//!
//! 1. **Named conventions** ([`Convention`]), one table entry each: the
//!    variable's name and how its value names fds. Matched by exact name:
//!    the new program reads them with `getenv`, which is case-sensitive,
//!    and only the first entry of a name counts, as with `getenv`.
//! 2. **An `FD` word in the name** (`NODE_CHANNEL_FD`, `EINHORN_FD_0`,
//!    `UPSTART_FDS`, `APPFD`): every number in the value, split as in K5.
//!    Matched ignoring ASCII case: a lower-case `app_fd` is read by someone
//!    just as well, and where the rules cannot tell, keep.
//! 3. **In any variable**, a number directly after an `=` inside the value,
//!    or after a key `fd:` (any case): the form servers use to hand sockets
//!    to their next self (`127.0.0.1:9000=7`, `…;type=w;fd=3;…`).
//!
//! No other number in the environment counts. Every process carries
//! `SHLVL=3`, `XDG_SESSION_ID=3`, `JOURNAL_STREAM=8:…`: counting those
//! would keep the most common leak slots for every program.

use crate::numbers::{self, MAX_FD, parse_fd};

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
}

/// The named conventions: one line each.
macro_rules! convention_table {
    ($($(#[$doc:meta])* $variant:ident = $name:literal => $reading:ident,)*) => {
        /// A named fd-passing convention of the environment.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Convention {
            $($(#[$doc])* $variant,)*
        }

        impl Convention {
            /// Every convention, in table order.
            pub const ALL: &'static [Convention] = &[$(Convention::$variant,)*];

            /// The variable's name.
            pub const fn name(self) -> &'static [u8] {
                match self {
                    $(Convention::$variant => $name,)*
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
    ListenFds = b"LISTEN_FDS" => ListenCount,
    /// systemd socket activation: whom `LISTEN_FDS` is for.
    ListenPid = b"LISTEN_PID" => ListenPid,
    /// GNU make's jobserver.
    MakeFlags = b"MAKEFLAGS" => Jobserver,
    /// GNU make's jobserver, older name.
    MFlags = b"MFLAGS" => Jobserver,
    /// cargo's jobserver for build scripts.
    CargoMakeFlags = b"CARGO_MAKEFLAGS" => Jobserver,
    /// nginx's binary upgrade: `N;N;…`.
    Nginx = b"NGINX" => Numbers,
    /// gunicorn's re-exec: `N,N`.
    GunicornFd = b"GUNICORN_FD" => Numbers,
    /// Server::Starter: `addr=N;addr=N`.
    ServerStarterPort = b"SERVER_STARTER_PORT" => AfterEquals,
    /// A Wayland client's pre-connected socket.
    WaylandSocket = b"WAYLAND_SOCKET" => Numbers,
}

const _: () = assert!(Convention::ALL.len() <= 32, "`seen` is a u32 bit set");

impl Convention {
    fn from_name(name: &[u8]) -> Option<Convention> {
        Convention::ALL.iter().copied().find(|c| c.name() == name)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Which rule of K6 named an fd, and in which variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// A named convention.
    Convention(Convention),
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
    let mut seen = 0u32;
    let mut listen_count: Option<&[u8]> = None;
    let mut listen_pid: Option<&[u8]> = None;
    for entry in env {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (Some(name), Some(value)) = (entry.get(..eq), entry.get(eq + 1..)) else {
            continue;
        };
        let convention = Convention::from_name(name);
        if let Some(convention) = convention
            && seen & convention.bit() == 0
        {
            seen |= convention.bit();
            let source = Source::Convention(convention);
            match convention.reading() {
                Reading::ListenCount => listen_count = Some(value),
                Reading::ListenPid => listen_pid = Some(value),
                Reading::Jobserver => {
                    if let Some((r, w)) = jobserver_fds(value) {
                        found(source, r, r);
                        found(source, w, w);
                    }
                }
                Reading::Numbers => numbers::numbers(value).for_each(|fd| found(source, fd, fd)),
                Reading::AfterEquals => handed_over(value, &mut |fd| found(source, fd, fd)),
            }
        }
        // A named convention says how its value reads (`LISTEN_FDS=2` is a
        // count, not fd 2); the FD-word rule is for the rest.
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
/// (any case). Only the `=` and `:` bytes are visited: every process's
/// environment passes through here at each exec.
pub fn handed_over(value: &[u8], found: &mut dyn FnMut(u32)) {
    let mut from = 0;
    while let Some(rest) = value.get(from..) {
        let Some(at) = rest.iter().position(|&b| b == b'=' || b == b':') else {
            return;
        };
        let i = from + at;
        from = i + 1;
        let Some(tail) = value.get(i + 1..) else {
            return;
        };
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || tail.get(digits).is_some_and(|&b| numbers::in_part(b)) {
            continue;
        }
        let handed = value.get(i) == Some(&b'=') || after_fd_key(value.get(..i).unwrap_or(&[]));
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
            assert_eq!(Convention::from_name(c.name()), Some(*c));
        }
        assert_eq!(Convention::from_name(b"NGINXX"), None);
        assert_eq!(Convention::from_name(b"nginx"), None, "exact case");
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
            prop_assume!(Convention::from_name(name.as_bytes()).is_none());
            let entry = format!("{name}={value}");
            prop_assert!(singles(&[&entry]).is_empty());
        }

        /// The fast scan finds what the splitting rule says: the all-digit
        /// parts right after `=`, or after a part `fd` and a `:`.
        #[test]
        fn handed_over_matches_the_part_model(value in "[-0-9a-zA-Z=:;,. ]{0,60}") {
            let bytes = value.as_bytes();
            let mut fast = Vec::new();
            handed_over(bytes, &mut |fd| fast.push(fd));
            let mut model = Vec::new();
            let mut previous: Option<numbers::Part<'_>> = None;
            for part in numbers::parts(bytes) {
                if let Some(fd) = part.number() {
                    let before = part.start.checked_sub(1).map(|i| bytes[i]);
                    let key = before == Some(b':') && previous.is_some_and(|p| {
                        p.start + p.bytes.len() + 1 == part.start && p.bytes.eq_ignore_ascii_case(b"fd")
                    });
                    if before == Some(b'=') || key {
                        model.push(fd);
                    }
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
