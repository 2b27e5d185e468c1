//! Reading the library's log lines back: the format is a contract (README,
//! "The log line format"; cloexec(1), LOG LINE FORMAT), and this is its one
//! parser. Pure functions over `&str`.
//!
//! ```text
//! libcloexec[PID]: CALL PROGRAM (by CALLER): swept FD (TARGET), FD (TARGET) and N more
//! libcloexec[PID]: CALL PROGRAM (by CALLER): would sweep FD (TARGET), ...
//! libcloexec[PID]: CALL PROGRAM (by CALLER): kept FD (TARGET) [RULE], ... (sweep by METHOD)
//! libcloexec[PID]: CALL PROGRAM (by CALLER): kept nothing beyond stdio (sweep by METHOD)
//! libcloexec[PID]: CALL PROGRAM (by CALLER): pass-through program, nothing swept
//! libcloexec[PID]: warning: TEXT
//! libcloexec[PID]: error: TEXT
//! ```
//!
//! ` (by CALLER)` came later: lines without it (older versions) are read
//! with no caller. A line longer than the library's buffer ends with
//! ` ...[cut]`: its complete entries are read and the rest is only counted
//! as cut. The same lines arrive inside other formats: after a syslog
//! file's timestamp and host, or as a journal entry (`journalctl -o json`,
//! see [`from_journal_json`]).

/// The entry points the library names in its lines.
pub const CALLS: [&str; 13] = [
    "execve",
    "execv",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "fexecve",
    "execveat",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
];

/// What marks a cut line (the library's `CUT_MARK` without its newline).
pub const CUT_MARK: &str = " ...[cut]";

const PREFIX: &str = "libcloexec[";

/// One line of the library's.
#[derive(Debug, PartialEq)]
pub struct Line<'a> {
    pub pid: u32,
    /// True if the line ends with [`CUT_MARK`].
    pub cut: bool,
    pub body: Body<'a>,
}

/// What a line says.
#[derive(Debug, PartialEq)]
pub enum Body<'a> {
    /// Fds swept (or, in audit mode, that would be) for one exec or spawn.
    Sweep {
        launch: Launch<'a>,
        audit: bool,
        fds: Vec<Fd<'a>>,
        /// Swept fds the line only counts (`and N more`).
        unlisted: u64,
    },
    /// The inheritable fds beyond stdio that were kept, each with its rule.
    Kept {
        launch: Launch<'a>,
        fds: Vec<KeptFd<'a>>,
    },
    /// A pass-through program (K7): nothing swept.
    PassThrough(Launch<'a>),
    Warning(&'a str),
    Error(&'a str),
    /// Another line of the library's (a debug note, or a line cut before
    /// its verb).
    Other(&'a str),
}

/// The call, the program it runs and the program that called, as logged.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Launch<'a> {
    pub call: &'a str,
    pub program: &'a str,
    /// The calling program's basename; None in lines of older versions.
    pub caller: Option<&'a str>,
}

/// A swept fd and its `/proc/self/fd` target.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Fd<'a> {
    pub fd: u32,
    pub target: &'a str,
}

/// A kept fd, its target and the rule's label (`K3 inherited`).
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct KeptFd<'a> {
    pub fd: u32,
    pub target: &'a str,
    pub rule: &'a str,
}

/// Parses one line, or returns None if it is not the library's. The line
/// may carry text before the library's prefix (a program's unterminated
/// output on the same stderr) and may end with a newline.
pub fn parse(line: &str) -> Option<Line<'_>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let at = line.find(PREFIX)?;
    let rest = &line[at + PREFIX.len()..];
    let (pid, rest) = rest.split_once("]: ")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid = pid.parse().ok()?;
    let (rest, cut) = match rest.strip_suffix(CUT_MARK) {
        Some(kept) => (kept, true),
        None => (rest, false),
    };
    let body = if let Some(text) = rest.strip_prefix("warning: ") {
        Body::Warning(text)
    } else if let Some(text) = rest.strip_prefix("error: ") {
        Body::Error(text)
    } else {
        launch_body(rest, cut).unwrap_or(Body::Other(rest))
    };
    Some(Line { pid, cut, body })
}

/// What follows `PROGRAM` in each kind of launch line.
const VERBS: [&str; 4] = [
    ": swept ",
    ": would sweep ",
    ": kept ",
    ": pass-through program, nothing swept",
];

fn launch_body(rest: &str, cut: bool) -> Option<Body<'_>> {
    let (call, rest) = rest.split_once(' ')?;
    if !CALLS.contains(&call) {
        return None;
    }
    // The first verb ends the program: a target later on the line may hold
    // any text, a program path rarely does.
    let (at, verb) = VERBS
        .iter()
        .filter_map(|v| rest.find(v).map(|at| (at, *v)))
        .min_by_key(|&(at, _)| at)?;
    let (program, caller) = split_caller(&rest[..at]);
    let launch = Launch {
        call,
        program,
        caller,
    };
    let list = &rest[at + verb.len()..];
    match verb {
        ": swept " | ": would sweep " => {
            let (fds, unlisted) = swept_list(list, cut)?;
            Some(Body::Sweep {
                launch,
                audit: verb == ": would sweep ",
                fds,
                unlisted,
            })
        }
        ": kept " => Some(Body::Kept {
            launch,
            fds: kept_list(list, cut)?,
        }),
        _ if list.is_empty() => Some(Body::PassThrough(launch)),
        _ => None,
    }
}

/// `PROGRAM (by CALLER)`, or a `PROGRAM` alone (older lines). The last
/// ` (by ` counts, so a command that holds one is still read.
fn split_caller(text: &str) -> (&str, Option<&str>) {
    match text.strip_suffix(')').and_then(|t| t.rsplit_once(" (by ")) {
        Some((program, caller)) if !caller.is_empty() => (program, Some(caller)),
        _ => (text, None),
    }
}

/// One entry of `journalctl -o json` (a JSON object per line) as the
/// library's text line, `libcloexec[PID]: MESSAGE`; None for another
/// program's entry or a line that is not such an object. journalctl
/// writes a value that is not valid UTF-8 as an array of byte values.
pub fn from_journal_json(line: &str) -> Option<String> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    let text = |name: &str| -> Option<String> {
        match entry.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(bytes) => {
                let bytes: Option<Vec<u8>> = bytes
                    .iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect();
                Some(String::from_utf8_lossy(&bytes?).into_owned())
            }
            _ => None,
        }
    };
    if text("SYSLOG_IDENTIFIER")? != "libcloexec" {
        return None;
    }
    let pid = text("SYSLOG_PID").or_else(|| text("_PID"))?;
    Some(format!("{PREFIX}{pid}]: {}", text("MESSAGE")?))
}

/// `FD (TARGET), FD (TARGET) and N more`. A cut list yields its complete
/// entries; an uncut list must parse to its end.
fn swept_list(list: &str, cut: bool) -> Option<(Vec<Fd<'_>>, u64)> {
    let mut fds = Vec::new();
    let mut rest = list;
    loop {
        let Some((fd, target, after)) = entry(rest, ends_swept_entry) else {
            return cut.then_some((fds, 0));
        };
        fds.push(Fd { fd, target });
        if after.is_empty() {
            return Some((fds, 0));
        }
        if let Some(n) = more_count(after) {
            return Some((fds, n));
        }
        rest = after.strip_prefix(", ")?;
    }
}

/// `FD (TARGET) [RULE], ... (sweep by METHOD)` or `nothing beyond stdio
/// (sweep by METHOD)`.
fn kept_list(list: &str, cut: bool) -> Option<Vec<KeptFd<'_>>> {
    let list = match list.rfind(" (sweep by ") {
        Some(at) if !cut && list.ends_with(')') => &list[..at],
        _ if cut => list,
        _ => return None,
    };
    if list == "nothing beyond stdio" {
        return Some(Vec::new());
    }
    let mut fds = Vec::new();
    let mut rest = list;
    loop {
        let parsed = entry(rest, ends_kept_entry).and_then(|(fd, target, after)| {
            let label = after.strip_prefix(" [")?;
            let close = label.find(']')?;
            Some((fd, target, &label[..close], &label[close + 1..]))
        });
        let Some((fd, target, rule, after)) = parsed else {
            return cut.then_some(fds);
        };
        fds.push(KeptFd { fd, target, rule });
        if after.is_empty() {
            return Some(fds);
        }
        rest = after.strip_prefix(", ")?;
    }
}

/// `FD (TARGET)` at the start of `text`: the fd, the target and the text
/// after its `)`. A target may hold parentheses (`/tmp/x (deleted)`), so
/// its end is the first `)` that `ends` accepts what follows.
fn entry(text: &str, ends: fn(&str) -> bool) -> Option<(u32, &str, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let fd = text[..digits].parse().ok()?;
    let inner = text[digits..].strip_prefix(" (")?;
    inner
        .match_indices(')')
        .map(|(at, _)| at)
        .find(|&at| ends(&inner[at + 1..]))
        .map(|at| (fd, &inner[..at], &inner[at + 1..]))
}

fn ends_swept_entry(after: &str) -> bool {
    after.is_empty() || more_count(after).is_some() || starts_next_entry(after)
}

fn ends_kept_entry(after: &str) -> bool {
    after.starts_with(" [") && after.contains(']')
}

/// `, FD (` follows.
fn starts_next_entry(after: &str) -> bool {
    after.strip_prefix(", ").is_some_and(|next| {
        let digits = next.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && next[digits..].starts_with(" (")
    })
}

/// ` and N more`, the whole rest of the line.
fn more_count(after: &str) -> Option<u64> {
    let n = after.strip_prefix(" and ")?.strip_suffix(" more")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// What kind of file a `/proc/PID/fd` target is: `file`, `socket`, `pipe`,
/// `eventfd`, `memfd`, ...
pub fn kind(target: &str) -> &'static str {
    const ANON: [(&str, &str); 7] = [
        ("anon_inode:[eventfd]", "eventfd"),
        ("anon_inode:[eventpoll]", "epoll"),
        ("anon_inode:[timerfd]", "timerfd"),
        ("anon_inode:[signalfd]", "signalfd"),
        ("anon_inode:[pidfd]", "pidfd"),
        ("anon_inode:[io_uring]", "io_uring"),
        ("anon_inode:inotify", "inotify"),
    ];
    if let Some(&(_, kind)) = ANON.iter().find(|(t, _)| *t == target) {
        return kind;
    }
    if target.starts_with("/memfd:") {
        "memfd"
    } else if target.starts_with("/dev/") {
        "device"
    } else if target.starts_with('/') {
        "file"
    } else if target.starts_with("socket:[") {
        "socket"
    } else if target.starts_with("pipe:[") {
        "pipe"
    } else if target.starts_with("anon_inode:") {
        "anon_inode"
    } else if inode_prefix(target).is_some() {
        "namespace"
    } else {
        "other"
    }
}

/// `socket:[123]` -> `socket:[*]`: targets that differ only by an inode
/// number are one kind of leak. Paths are left as they are. The result is
/// also an `--allow` pattern that matches each grouped target.
pub fn group_target(target: &str) -> std::borrow::Cow<'_, str> {
    match inode_prefix(target) {
        Some(prefix) => format!("{prefix}:[*]").into(),
        None => target.into(),
    }
}

/// The `NAME` of a `NAME:[DIGITS]` target.
fn inode_prefix(target: &str) -> Option<&str> {
    let (name, rest) = target.split_once(":[")?;
    let digits = rest.strip_suffix(']')?;
    let plain_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let inode = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (plain_name && inode).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(line: &str) -> (Launch<'_>, bool, Vec<(u32, &str)>, u64, bool) {
        match parse(line) {
            Some(Line {
                cut,
                body:
                    Body::Sweep {
                        launch,
                        audit,
                        fds,
                        unlisted,
                    },
                ..
            }) => (
                launch,
                audit,
                fds.iter().map(|f| (f.fd, f.target)).collect(),
                unlisted,
                cut,
            ),
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn swept_lines() {
        let (launch, audit, fds, more, cut) = sweep(
            "libcloexec[42]: execv /bin/ls: swept 3 (/etc/hostname), 4 (socket:[123]) and 2 more\n",
        );
        assert_eq!(launch.call, "execv");
        assert_eq!(launch.program, "/bin/ls");
        assert!(!audit && !cut);
        assert_eq!(fds, [(3, "/etc/hostname"), (4, "socket:[123]")]);
        assert_eq!(more, 2);

        let (_, audit, fds, _, _) =
            sweep("libcloexec[1]: posix_spawn /x: would sweep 7 (anon_inode:[eventfd])");
        assert!(audit);
        assert_eq!(fds, [(7, "anon_inode:[eventfd]")]);
    }

    #[test]
    fn targets_with_parentheses_and_commas() {
        let (_, _, fds, _, _) = sweep(
            "libcloexec[9]: execve /a: swept 3 (/tmp/x (deleted)), 4 (/a, b), 5 (/c) and d), 6 (pipe:[1])",
        );
        assert_eq!(
            fds,
            [
                (3, "/tmp/x (deleted)"),
                (4, "/a, b"),
                (5, "/c) and d"),
                (6, "pipe:[1]")
            ]
        );
    }

    #[test]
    fn system_commands_may_hold_colons() {
        let (launch, _, fds, _, _) =
            sweep("libcloexec[9]: system echo a: b; ls: swept 5 (/var/log/app.log)");
        assert_eq!(launch.call, "system");
        assert_eq!(launch.program, "echo a: b; ls");
        assert_eq!(fds, [(5, "/var/log/app.log")]);
    }

    #[test]
    fn cut_lines_keep_their_complete_entries() {
        let (_, _, fds, more, cut) =
            sweep("libcloexec[9]: execve /a: swept 3 (/x), 4 (/very/long/pa ...[cut]");
        assert!(cut);
        assert_eq!(fds, [(3, "/x")]);
        assert_eq!(more, 0);
        // Cut before the verb: still the library's, counted as cut.
        let line = parse("libcloexec[9]: execve /aaaaaaaa ...[cut]").unwrap();
        assert!(line.cut);
        assert_eq!(line.body, Body::Other("execve /aaaaaaaa"));
    }

    #[test]
    fn kept_lines() {
        let line = parse(
            "libcloexec[10843]: execv /bin/ls: kept 10 (/dev/null) [K3 inherited], 251 (pipe:[548944]) [K3 inherited] (sweep by close_range)",
        )
        .unwrap();
        let Body::Kept { launch, fds } = line.body else {
            panic!("{line:?}")
        };
        assert_eq!(launch.program, "/bin/ls");
        assert_eq!(
            fds,
            [
                KeptFd {
                    fd: 10,
                    target: "/dev/null",
                    rule: "K3 inherited"
                },
                KeptFd {
                    fd: 251,
                    target: "pipe:[548944]",
                    rule: "K3 inherited"
                }
            ]
        );
        let line =
            parse("libcloexec[1]: execve /x: kept nothing beyond stdio (sweep by audit)").unwrap();
        assert!(matches!(line.body, Body::Kept { fds, .. } if fds.is_empty()));
    }

    #[test]
    fn other_lines() {
        assert_eq!(parse("hello world"), None);
        assert_eq!(parse("libcloexec[x]: execv /a: swept 3 (/b)"), None);
        assert_eq!(
            parse("libcloexec[5]: warning: CLOEXEC_KEEP: ignoring \"3-\"")
                .unwrap()
                .body,
            Body::Warning("CLOEXEC_KEEP: ignoring \"3-\"")
        );
        assert_eq!(
            parse("libcloexec[5]: execv /bin/sh: pass-through program, nothing swept")
                .unwrap()
                .body,
            Body::PassThrough(Launch {
                call: "execv",
                program: "/bin/sh",
                caller: None,
            })
        );
        // Not a known call, or an uncut list that does not parse: another line.
        for text in [
            "libcloexec[5]: fd 70000: intent not recorded (beyond 65536); it will be swept",
            "libcloexec[5]: execv /a: swept three",
            "libcloexec[5]: execv /a: swept 3 (/x) trailing",
        ] {
            assert!(
                matches!(parse(text).unwrap().body, Body::Other(_)),
                "{text}"
            );
        }
        // Text before the prefix (unterminated output of a program).
        assert!(matches!(
            parse("partial outputlibcloexec[5]: execv /a: swept 3 (/x)")
                .unwrap()
                .body,
            Body::Sweep { .. }
        ));
    }

    #[test]
    fn callers_are_read_and_older_lines_still_parse() {
        let (launch, _, fds, _, _) =
            sweep("libcloexec[42]: execv /tmp/probe (by leaky): swept 3 (/etc/hostname)");
        assert_eq!(launch.program, "/tmp/probe");
        assert_eq!(launch.caller, Some("leaky"));
        assert_eq!(fds, [(3, "/etc/hostname")]);
        let (launch, _, _, _, _) =
            sweep("libcloexec[42]: system echo (by x) (by my app): would sweep 3 (/a)");
        assert_eq!(launch.program, "echo (by x)");
        assert_eq!(launch.caller, Some("my app"));
        let (launch, _, _, _, _) = sweep("libcloexec[42]: execv /bin/ls: swept 3 (/a)");
        assert_eq!((launch.program, launch.caller), ("/bin/ls", None));
        let line = parse(
            "libcloexec[1]: execve /x (by y): kept nothing beyond stdio (sweep by close_range)",
        )
        .unwrap();
        assert!(matches!(line.body, Body::Kept { launch, .. } if launch.caller == Some("y")));
    }

    #[test]
    fn syslog_files_and_journal_entries() {
        let (launch, _, fds, _, _) = sweep(
            "Dec  5 10:00:01 host libcloexec[77]: posix_spawn /bin/x (by make): swept 4 (pipe:[9])",
        );
        assert_eq!((launch.call, launch.caller), ("posix_spawn", Some("make")));
        assert_eq!(fds, [(4, "pipe:[9]")]);
        let entry = r#"{"__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"libcloexec","SYSLOG_PID":"77","_PID":"78","MESSAGE":"execv /bin/x (by make): swept 4 (pipe:[9])","CLOEXEC_FD":["4 (pipe:[9])"]}"#;
        assert_eq!(
            from_journal_json(entry).as_deref(),
            Some("libcloexec[77]: execv /bin/x (by make): swept 4 (pipe:[9])")
        );
        let bytes = r#"{"SYSLOG_IDENTIFIER":"libcloexec","_PID":"5","MESSAGE":[119,97,114,110,105,110,103,58,32,255]}"#;
        assert_eq!(
            from_journal_json(bytes).as_deref(),
            Some("libcloexec[5]: warning: \u{fffd}")
        );
        assert_eq!(
            from_journal_json(r#"{"SYSLOG_IDENTIFIER":"sshd","SYSLOG_PID":"1","MESSAGE":"x"}"#),
            None
        );
        assert_eq!(from_journal_json("libcloexec[1]: x"), None);
        assert_eq!(from_journal_json("{not json"), None);
    }

    #[test]
    fn kinds_and_groups() {
        for (target, k) in [
            ("/etc/hostname", "file"),
            ("/tmp/x (deleted)", "file"),
            ("/dev/null", "device"),
            ("/memfd:leak (deleted)", "memfd"),
            ("socket:[12]", "socket"),
            ("pipe:[12]", "pipe"),
            ("anon_inode:[eventfd]", "eventfd"),
            ("anon_inode:[eventpoll]", "epoll"),
            ("anon_inode:[weird]", "anon_inode"),
            ("net:[4026531840]", "namespace"),
            ("?", "other"),
        ] {
            assert_eq!(kind(target), k, "{target}");
        }
        assert_eq!(group_target("socket:[12]"), "socket:[*]");
        assert_eq!(group_target("anon_inode:[eventfd]"), "anon_inode:[eventfd]");
        assert_eq!(group_target("/a:[1]"), "/a:[1]");
    }
}
