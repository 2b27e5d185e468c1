//! The keep rules as far as they can be seen from outside a process, for
//! `cloexec fds`: what its environment (`/proc/PID/environ`) tells the
//! library. Pure functions over the environment's `NAME=VALUE` entries.
//!
//! This mirrors the rules of SPEC §2 in the command's own code: the library
//! is a `no_std` cdylib whose modules the command cannot link. What the
//! environment shows:
//! - the settings (`CLOEXEC_POLICY`, `CLOEXEC_MODE`, `CLOEXEC_PASSTHROUGH`);
//! - K2, `CLOEXEC_KEEP`;
//! - K6, the fd-passing conventions, assuming the next exec hands on this
//!   environment (what `execv`, `execvp`, `system` and `posix_spawn` with
//!   `environ` do);
//! - K7, whether the process itself is a pass-through program.
//!
//! `/proc/PID/environ` is the environment the process started with, which
//! is also what the library read when it was loaded.

use std::ops::RangeInclusive;

/// The highest fd number a rule can name (fds are `int`s).
const MAX_FD: u32 = i32::MAX as u32;

/// The programs that sweep nothing (K7) unless `CLOEXEC_PASSTHROUGH` says
/// otherwise; the library's default.
pub const DEFAULT_PASSTHROUGH: [&str; 8] = [
    "bash", "sh", "dash", "zsh", "ksh", "mksh", "fish", "busybox",
];

/// The library's settings as the environment gives them.
#[derive(Debug, PartialEq)]
pub struct Settings {
    pub strict: bool,
    /// `sweep`, `audit` or `off`.
    pub mode: String,
    pub passthrough: Vec<String>,
}

/// One fd range some rule keeps, and why.
#[derive(Debug, PartialEq, Clone)]
pub struct Kept {
    pub fds: RangeInclusive<u32>,
    /// `K2 keep-list`, `K6 LISTEN_FDS`, ...
    pub why: String,
}

fn split_entry(entry: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(entry).ok()?;
    text.split_once('=')
}

/// The value of `name`: the first entry, as glibc's `getenv` finds it.
fn var<'a>(env: &[&'a [u8]], name: &str) -> Option<&'a str> {
    env.iter()
        .filter_map(|e| split_entry(e))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

pub fn settings(env: &[&[u8]]) -> Settings {
    let mode = match var(env, "CLOEXEC_MODE") {
        Some(m @ ("audit" | "off")) => m.to_owned(),
        _ => "sweep".to_owned(),
    };
    let passthrough = match var(env, "CLOEXEC_PASSTHROUGH") {
        Some(list) => list
            .split(',')
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
        None => DEFAULT_PASSTHROUGH.map(str::to_owned).to_vec(),
    };
    Settings {
        strict: var(env, "CLOEXEC_POLICY") == Some("strict"),
        mode,
        passthrough,
    }
}

/// K7: whether a program (by path or `argv[0]`) is pass-through.
pub fn is_passthrough(program: &str, names: &[String]) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    !base.is_empty() && names.iter().any(|n| n == base)
}

/// Every fd range that K2, and under the smart policy K6, keep.
pub fn kept_by_env(env: &[&[u8]], pid: u32, strict: bool) -> Vec<Kept> {
    let mut kept = Vec::new();
    let mut add = |fds: RangeInclusive<u32>, why: String| kept.push(Kept { fds, why });
    if let Some(list) = var(env, "CLOEXEC_KEEP") {
        for range in keep_list(list) {
            add(range, "K2 keep-list".into());
        }
    }
    if strict {
        return kept;
    }
    let listen_pid_ok = var(env, "LISTEN_PID").is_none_or(|p| p.parse() == Ok(pid));
    for (name, value) in env.iter().filter_map(|e| split_entry(e)) {
        let why = |what: &str| format!("K6 {what}");
        match name {
            // A count, not an fd: never read as the generic `*_FDS` below.
            "LISTEN_FDS" => {
                if let (true, Ok(n @ 1..)) = (listen_pid_ok, value.parse::<u32>()) {
                    add(3..=3u32.saturating_add(n - 1).min(MAX_FD), why(name));
                }
            }
            "MAKEFLAGS" | "MFLAGS" | "CARGO_MAKEFLAGS" => {
                if let Some((r, w)) = jobserver_fds(value) {
                    add(r..=r, why(&format!("{name} jobserver")));
                    add(w..=w, why(&format!("{name} jobserver")));
                }
            }
            "NGINX" | "GUNICORN_FD" | "SERVER_STARTER_PORT" | "WAYLAND_SOCKET" => {
                for fd in numbers(value) {
                    add(fd..=fd, why(name));
                }
            }
            _ if names_fds(name) => {
                for fd in numbers(value) {
                    add(fd..=fd, why(name));
                }
            }
            _ => {}
        }
        for fd in told_in_value(value) {
            add(fd..=fd, why(&format!("'=N' or 'fd:N' in {name}")));
        }
    }
    kept
}

/// A `CLOEXEC_KEEP` list; bad parts are skipped, as the library skips them.
fn keep_list(list: &str) -> Vec<RangeInclusive<u32>> {
    list.split(',')
        .filter_map(|part| {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let (lo, hi) = (fd_number(lo)?, fd_number(hi)?);
            (lo <= hi).then_some(lo..=hi)
        })
        .collect()
}

/// Decimal digits only, at most `i32::MAX`.
fn fd_number(digits: &str) -> Option<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n <= MAX_FD)
}

/// The `R,W` of the last `--jobserver-auth=` or `--jobserver-fds=`.
fn jobserver_fds(flags: &str) -> Option<(u32, u32)> {
    let last = ["--jobserver-auth=", "--jobserver-fds="]
        .iter()
        .filter_map(|o| flags.rfind(o).map(|at| at + o.len()))
        .max()?;
    let value = flags[last..].split(' ').next()?;
    let (r, w) = value.split_once(',')?;
    Some((fd_number(r)?, fd_number(w)?))
}

/// A name with `FD` or `FDS` as an `_`-separated word, or ending in either.
fn names_fds(name: &str) -> bool {
    name.ends_with("FD")
        || name.ends_with("FDS")
        || name.split('_').any(|word| word == "FD" || word == "FDS")
}

/// The bytes that split an argument or a value into parts (K5): anything
/// but an ASCII letter or digit and `. _ - / + ~`.
fn is_separator(b: u8) -> bool {
    !(b.is_ascii_alphanumeric() || b"._-/+~".contains(&b))
}

/// The parts of `value` (K5's split) with where each starts.
fn parts(value: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = value.as_bytes();
    let mut start = 0;
    (0..=bytes.len()).filter_map(move |i| {
        if i == bytes.len() || is_separator(bytes[i]) {
            let part = (start, &value[start..i]);
            start = i + 1;
            (!part.1.is_empty()).then_some(part)
        } else {
            None
        }
    })
}

/// Every part of `value` that is only digits, as an fd.
fn numbers(value: &str) -> Vec<u32> {
    parts(value).filter_map(|(_, p)| fd_number(p)).collect()
}

/// Numbers right after an `=` inside the value, or after a key `fd:`.
fn told_in_value(value: &str) -> Vec<u32> {
    let bytes = value.as_bytes();
    let mut found = Vec::new();
    let mut previous: Option<(usize, &str)> = None;
    for (start, part) in parts(value) {
        let before = start.checked_sub(1).map(|i| bytes[i]);
        let after_fd_key = before == Some(b':')
            && previous.is_some_and(|(p_start, p)| {
                p.eq_ignore_ascii_case("fd") && p_start + p.len() + 1 == start
            });
        if before == Some(b'=') || after_fd_key {
            found.extend(fd_number(part));
        }
        previous = Some((start, part));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(env: &[&str], pid: u32) -> Vec<(u32, u32, String)> {
        let env: Vec<&[u8]> = env.iter().map(|e| e.as_bytes()).collect();
        kept_by_env(&env, pid, false)
            .into_iter()
            .map(|k| (*k.fds.start(), *k.fds.end(), k.why))
            .collect()
    }

    fn fds(env: &[&str]) -> Vec<u32> {
        let mut fds: Vec<u32> = kept(env, 1).iter().map(|k| k.0).collect();
        fds.sort_unstable();
        fds.dedup();
        fds
    }

    #[test]
    fn keep_list_and_listen_fds() {
        assert_eq!(
            kept(&["CLOEXEC_KEEP=3,10-12,bad"], 1),
            [
                (3, 3, "K2 keep-list".into()),
                (10, 12, "K2 keep-list".into())
            ]
        );
        assert_eq!(kept(&["LISTEN_FDS=2"], 7), [(3, 4, "K6 LISTEN_FDS".into())]);
        assert_eq!(fds(&["LISTEN_PID=7", "LISTEN_FDS=1"]), [] as [u32; 0]);
        assert_eq!(kept(&["LISTEN_PID=1", "LISTEN_FDS=1"], 1).len(), 1);
        let env: Vec<&[u8]> = vec![b"CLOEXEC_KEEP=5", b"LISTEN_FDS=1"];
        assert_eq!(kept_by_env(&env, 1, true).len(), 1, "strict: K2 only");
    }

    #[test]
    fn protocol_variables() {
        assert_eq!(fds(&["MAKEFLAGS= -j2 --jobserver-auth=3,4"]), [3, 4]);
        // The last option counts, and the fifo form names no fd (the
        // earlier `=3` is still a number told after an `=`).
        let fifo = kept(
            &["MAKEFLAGS=--jobserver-auth=3,4 --jobserver-auth=fifo:/x"],
            1,
        );
        assert!(fifo.iter().all(|k| !k.2.contains("jobserver")), "{fifo:?}");
        assert_eq!(fds(&["NGINX=5;6;"]), [5, 6]);
        assert_eq!(fds(&["GUNICORN_FD=7,8"]), [7, 8]);
        assert_eq!(fds(&["NODE_CHANNEL_FD=9"]), [9]);
        assert_eq!(fds(&["EINHORN_FD_0=10"]), [10]);
        assert_eq!(fds(&["UPSTART_FDS=11"]), [11]);
        assert_eq!(fds(&["X=127.0.0.1:9000=7"]), [7]);
        assert_eq!(fds(&["X=a;type=w;fd=3;b"]), [3]);
        assert_eq!(fds(&["X=FD:5"]), [5]);
        for quiet in [
            "SHLVL=3",
            "XDG_SESSION_ID=3",
            "JOURNAL_STREAM=8:1234",
            "X=xfd:5",
            "X=3.5",
        ] {
            assert_eq!(fds(&[quiet]), [] as [u32; 0], "{quiet}");
        }
    }

    #[test]
    fn settings_and_passthrough() {
        let s = settings(&[b"CLOEXEC_POLICY=strict", b"CLOEXEC_MODE=audit"]);
        assert!(s.strict);
        assert_eq!(s.mode, "audit");
        assert!(is_passthrough("/usr/bin/bash", &s.passthrough));
        assert!(!is_passthrough("/usr/bin/python3", &s.passthrough));
        let none = settings(&[b"CLOEXEC_PASSTHROUGH="]);
        assert!(!is_passthrough("bash", &none.passthrough));
        assert_eq!(settings(&[]).mode, "sweep");
    }
}
