//! The keep rules as far as they can be seen from outside a process, for
//! `cloexec fds`: what its environment (`/proc/PID/environ`) tells the
//! library. Pure functions over the environment's `NAME=VALUE` entries.
//!
//! The rules are the library's own: the command compiles the library's pure
//! modules (`settings`, `conventions`, `numbers`, `keepset`) into itself,
//! so the two can never disagree (README, "What is kept"). What the
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

use crate::conventions::{self, Reading, Source};
use crate::settings::{Mode, Policy};

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

/// The settings as the library reads them at load (a secure-execution
/// process, which ignores them, cannot be told from outside).
fn library_settings(env: &[&[u8]]) -> crate::settings::Settings {
    crate::settings::Settings::from_env(env.iter().copied(), false, &mut |_, _| {})
}

pub fn settings(env: &[&[u8]]) -> Settings {
    let settings = library_settings(env);
    let mode = match settings.mode {
        Mode::Sweep => "sweep",
        Mode::Audit => "audit",
        Mode::Off => "off",
    };
    Settings {
        strict: settings.policy == Policy::Strict,
        mode: mode.to_owned(),
        passthrough: settings
            .passthrough
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect(),
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
    for range in library_settings(env).keep.ranges() {
        kept.push(Kept {
            fds: range.lo..=range.hi,
            why: "K2 keep-list".into(),
        });
    }
    if strict {
        return kept;
    }
    conventions::fds_in_env(env.iter().copied(), &mut || pid, &mut |source, lo, hi| {
        kept.push(Kept {
            fds: lo..=hi,
            why: format!("K6 {}", why(source)),
        });
    });
    kept
}

/// What named an fd in the environment, for the `why` column.
fn why(source: Source<'_>) -> String {
    let text = |name: &[u8]| String::from_utf8_lossy(name).into_owned();
    match source {
        Source::Convention(c) if c.reading() == Reading::Jobserver => {
            format!("{} jobserver", text(c.name()))
        }
        Source::Convention(c) => text(c.name()),
        Source::Prefixed(_, name) => text(name),
        Source::FdWord(name) => text(name),
        Source::HandedOver(name) => format!("'=N' or 'fd:N' in {}", text(name)),
    }
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
        let mut fds: Vec<u32> = kept(env, 1).iter().flat_map(|k| k.0..=k.1).collect();
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
        assert!(
            kept(&["MAKEFLAGS= -j2 --jobserver-auth=3,4"], 1)
                .iter()
                .any(|k| k.2 == "K6 MAKEFLAGS jobserver")
        );
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
        assert_eq!(kept(&["NODE_CHANNEL_FD=9"], 1)[0].2, "K6 NODE_CHANNEL_FD");
        assert_eq!(fds(&["EINHORN_FD_0=10"]), [10]);
        assert_eq!(fds(&["UPSTART_FDS=11"]), [11]);
        assert_eq!(fds(&["X=127.0.0.1:9000=7"]), [7]);
        assert_eq!(
            kept(&["X=a;type=w;fd=3;b"], 1),
            [(3, 3, "K6 '=N' or 'fd:N' in X".into())]
        );
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

    /// Cases from the library's K6 unit tests on which the command's own
    /// copy of the rules used to disagree with the library.
    #[test]
    fn agrees_with_the_library() {
        assert_eq!(fds(&["app_fd=7"]), [7], "FD words ignore case");
        assert_eq!(fds(&["X_Fds_Y=7"]), [7]);
        assert_eq!(fds(&["EINHORN_FDS=3 4 5"]), [3, 4, 5]);
        assert_eq!(
            kept(&["LISTEN_FDS=1", "LISTEN_FDS=5"], 1),
            [(3, 3, "K6 LISTEN_FDS".into())],
            "the first entry counts, as with getenv"
        );
        assert_eq!(fds(&["LISTEN_FDS= 2 "]), [3, 4]);
        assert_eq!(fds(&["LISTEN_FDS=+2"]), [] as [u32; 0]);
        assert_eq!(fds(&["MAKEFLAGS=--jobserver-auth=5,6\t-j"]), [5, 6]);
        let env: Vec<&[u8]> = vec![b"APP_FD=\xff 9"];
        assert_eq!(kept_by_env(&env, 1, false)[0].fds, 9..=9, "not UTF-8");
        let ls = "LS_COLORS=rs=0:di=01;34:ln=01;36:pi=40;33:so=01;35:*.tar=01;31";
        assert_eq!(fds(&[ls]), [0, 1, 40]);
        // Every range the command shows is one the library keeps.
        let env = [
            "LISTEN_PID=1",
            "LISTEN_FDS=2",
            "MAKEFLAGS=-j --jobserver-fds=7,8",
            "WAYLAND_SOCKET=9",
            "SERVER_STARTER_PORT=0.0.0.0:80=10;[::]:443=11",
            "x=a=12",
        ];
        let mut library = Vec::new();
        conventions::fds_in_env(
            env.iter().map(|e| e.as_bytes()),
            &mut || 1,
            &mut |_, lo, hi| library.extend(lo..=hi),
        );
        library.sort_unstable();
        library.dedup();
        assert_eq!(fds(&env), library);
        assert_eq!(library, [3, 4, 7, 8, 9, 10, 11, 12]);
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
        // As the library reads them: words ignore case, names are trimmed.
        assert_eq!(settings(&[b"CLOEXEC_MODE=OFF"]).mode, "off");
        let some = settings(&[b"CLOEXEC_PASSTHROUGH=python3, node"]);
        assert!(is_passthrough("/usr/bin/node", &some.passthrough));
    }
}
