//! Parsing of the `CLOEXEC_*` settings: pure functions over byte slices.
//!
//! Read once at load, from two sources with one grammar: the environment's
//! `NAME=VALUE` entries and the `KEY=VALUE` lines of the system
//! configuration file (`#` comments, blank lines). A variable overrides the
//! file's line of the same name, except in a secure-execution process,
//! where only the file counts. A bad part of a value is reported (the
//! caller turns each report into one warning line naming the variable and
//! the bad part) and ignored; the rest of the value is used. A bad setting
//! never stops the host program.

use crate::keepset::KeepSet;
use crate::numbers::parse_fd;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Keep 0-2, `CLOEXEC_KEEP`, and deliberate inheritance (K3-K7).
    Smart,
    /// Keep 0-2 and `CLOEXEC_KEEP` only.
    Strict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Sweep,
    /// Report what would be swept; change nothing.
    Audit,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub fn to_filter(self) -> log::LevelFilter {
        match self {
            Level::Off => log::LevelFilter::Off,
            Level::Error => log::LevelFilter::Error,
            Level::Warn => log::LevelFilter::Warn,
            Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
        }
    }
}

/// The programs that never leak by accident (K7): the shells (some open a
/// redirection's file in the shell itself before the fork: posh, yash:
/// `prog 3>file` opens at 3 and forks, so no act of the child shows it);
/// and a caller that tells its child a number only after the exec, over a
/// channel no rule reads: Midnight Commander types `pwd>&N` into its
/// subshell's terminal, N a pipe it made for the subshell.
pub const DEFAULT_PASSTHROUGH: &[u8] =
    b"bash,sh,dash,zsh,ksh,mksh,fish,busybox,rbash,ksh93,lksh,oksh,loksh,ash,posh,yash,tcsh,csh,rc,es,mc";

/// The programs that receive fds over a private channel (K8): Java's
/// `ProcessBuilder` sends `jspawnhelper` the numbers of the child's pipes.
pub const DEFAULT_HELPERS: &[u8] = b"jspawnhelper";

/// How many names `CLOEXEC_PASSTHROUGH` or `CLOEXEC_HELPERS` may hold, and their total bytes.
pub const NAMES_CAPACITY: usize = 32;
pub const NAMES_BYTES: usize = 512;

/// The longest `CLOEXEC_LOG_FILE` path accepted.
pub const PATH_CAPACITY: usize = 512;

/// The largest configuration file read, in bytes: the stack buffer it is
/// read into at load. A larger file is ignored whole.
pub const FILE_CAPACITY: usize = 4096;

/// The longest socket path accepted: what `sockaddr_un.sun_path` holds,
/// less its NUL.
pub const SOCKET_PATH_CAPACITY: usize = 107;

/// Where `syslog` sends without a socket named: the socket glibc's
/// `syslog()` writes to.
pub const SYSLOG_SOCKET: &[u8] = b"/dev/log";

/// Where `journal` sends without a socket named: journald's native socket.
pub const JOURNAL_SOCKET: &[u8] = b"/run/systemd/journal/socket";

/// Where log lines go (`CLOEXEC_LOG_TO`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    /// Appended to this file (`file:PATH`, or `CLOEXEC_LOG_FILE=PATH`).
    File(PathBuf),
    /// One datagram per line to this syslog socket, as glibc's `syslog()`
    /// writes them.
    Syslog(PathBuf),
    /// One datagram per line to this journald socket, in its native protocol.
    Journal(PathBuf),
}

/// A fixed-capacity list of short names (program basenames).
#[derive(Clone, Debug)]
pub struct NameList {
    bytes: [u8; NAMES_BYTES],
    ends: [u16; NAMES_CAPACITY],
    count: usize,
}

impl NameList {
    pub const fn new() -> Self {
        NameList {
            bytes: [0; NAMES_BYTES],
            ends: [0; NAMES_CAPACITY],
            count: 0,
        }
    }

    fn used(&self) -> usize {
        self.count
            .checked_sub(1)
            .and_then(|last| self.ends.get(last))
            .map_or(0, |&end| usize::from(end))
    }

    /// Appends a name; false if there is no room.
    pub fn push(&mut self, name: &[u8]) -> bool {
        let start = self.used();
        let end = start + name.len();
        let (Some(dst), Some(end_slot)) = (
            self.bytes.get_mut(start..end),
            self.ends.get_mut(self.count),
        ) else {
            return false;
        };
        dst.copy_from_slice(name);
        *end_slot = end as u16;
        self.count += 1;
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let ends = self.ends.get(..self.count).unwrap_or(&[]);
        ends.iter().scan(0usize, |start, &end| {
            let name = self.bytes.get(*start..usize::from(end)).unwrap_or(&[]);
            *start = usize::from(end);
            Some(name)
        })
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|n| n == name)
    }
}

impl Default for NameList {
    fn default() -> Self {
        Self::new()
    }
}

/// A fixed-capacity path, NUL-terminated for the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathBuf {
    bytes: [u8; PATH_CAPACITY + 1],
    len: usize,
}

impl PathBuf {
    pub fn new(path: &[u8]) -> Option<Self> {
        if path.is_empty() || path.len() > PATH_CAPACITY || path.contains(&0) {
            return None;
        }
        let mut buf = PathBuf {
            bytes: [0; PATH_CAPACITY + 1],
            len: path.len(),
        };
        buf.bytes.get_mut(..path.len())?.copy_from_slice(path);
        Some(buf)
    }

    pub fn as_cstr(&self) -> &core::ffi::CStr {
        core::ffi::CStr::from_bytes_until_nul(&self.bytes).unwrap_or(c"")
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// The settings of one process.
#[derive(Clone, Debug)]
pub struct Settings {
    pub policy: Policy,
    pub mode: Mode,
    /// `CLOEXEC_KEEP`, without 0-2.
    pub keep: KeepSet,
    pub passthrough: NameList,
    /// K8: targets for which nothing is swept.
    pub helpers: NameList,
    pub log_level: Level,
    pub log_to: LogTarget,
}

impl Default for Settings {
    fn default() -> Self {
        let mut passthrough = NameList::new();
        parse_names(DEFAULT_PASSTHROUGH, &mut passthrough, &mut BadParts::new());
        let mut helpers = NameList::new();
        parse_names(DEFAULT_HELPERS, &mut helpers, &mut BadParts::new());
        Settings {
            policy: Policy::Smart,
            mode: Mode::Sweep,
            keep: KeepSet::new(),
            passthrough,
            helpers,
            log_level: Level::Warn,
            log_to: LogTarget::Stderr,
        }
    }
}

/// The bad parts found in one variable's value. Holds the first few; counts all.
#[derive(Clone, Copy, Debug)]
pub struct BadParts<'a> {
    parts: [&'a [u8]; 4],
    count: usize,
}

impl<'a> BadParts<'a> {
    pub const fn new() -> Self {
        BadParts {
            parts: [&[]; 4],
            count: 0,
        }
    }

    pub fn push(&mut self, part: &'a [u8]) {
        if let Some(slot) = self.parts.get_mut(self.count) {
            *slot = part;
        }
        self.count += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Total bad parts, including those not stored.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The stored bad parts.
    pub fn stored(&self) -> &[&'a [u8]] {
        self.parts.get(..self.count.min(4)).unwrap_or(&[])
    }
}

impl Default for BadParts<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// The `CLOEXEC_*` variables, one entry each: the enum, its name, and (in
/// [`Settings::apply`]) an arm the compiler insists on.
macro_rules! setting_table {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// One `CLOEXEC_*` variable.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Setting {
            $($(#[$doc])* $variant,)*
        }

        impl Setting {
            /// Every setting, in table order.
            pub const ALL: &'static [Setting] = &[$(Setting::$variant,)*];

            /// The variable's name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Setting::$variant => $name,)*
                }
            }

            /// The setting a variable name belongs to.
            pub fn from_name(name: &[u8]) -> Option<Setting> {
                Setting::ALL.iter().copied().find(|s| s.name().as_bytes() == name)
            }
        }
    };
}

setting_table! {
    /// fds and ranges never touched (K2).
    Keep = "CLOEXEC_KEEP",
    /// `smart` or `strict`.
    Policy = "CLOEXEC_POLICY",
    /// `sweep`, `audit` or `off`.
    Mode = "CLOEXEC_MODE",
    /// Callers that never leak by accident (K7).
    Passthrough = "CLOEXEC_PASSTHROUGH",
    /// Targets that receive fds over a private channel (K8).
    Helpers = "CLOEXEC_HELPERS",
    /// The log level.
    Log = "CLOEXEC_LOG",
    /// A file to append log lines to: `CLOEXEC_LOG_TO=file:PATH`.
    LogFile = "CLOEXEC_LOG_FILE",
    /// Where log lines go: `stderr`, `file:PATH`, `syslog[:SOCKET]`, `journal[:SOCKET]`.
    LogTo = "CLOEXEC_LOG_TO",
}

/// How many settings there are.
pub const SETTING_COUNT: usize = Setting::ALL.len();

const _: () = assert!(SETTING_COUNT <= 32, "`seen` is a u32 bit set");

impl Setting {
    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Where a setting was read, for its warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Environment,
    /// The system configuration file.
    File,
}

/// What one `NAME=VALUE` entry is.
enum Entry<'a> {
    Setting(Setting, &'a [u8]),
    /// Not a `CLOEXEC_*` setting we know (in the environment: someone
    /// else's variable; in the file: a bad line).
    Unknown,
}

fn entry(text: &[u8]) -> Entry<'_> {
    let Some(eq) = text.iter().position(|&b| b == b'=') else {
        return Entry::Unknown;
    };
    let (Some(name), Some(value)) = (text.get(..eq), text.get(eq + 1..)) else {
        return Entry::Unknown;
    };
    match Setting::from_name(name.trim_ascii_end()) {
        Some(setting) => Entry::Setting(setting, value),
        None => Entry::Unknown,
    }
}

/// The entries of a configuration file's text: each line, trimmed, that is
/// neither blank nor a `#` comment.
pub fn file_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
}

impl Settings {
    /// Builds settings from `NAME=VALUE` environment entries alone (see
    /// [`Settings::from_sources`]). `report` is called once per variable
    /// that has bad parts.
    pub fn from_env<'a>(
        env: impl Iterator<Item = &'a [u8]>,
        secure: bool,
        report: &mut dyn FnMut(Setting, &BadParts<'a>),
    ) -> Settings {
        Settings::from_sources(None, env, secure, &mut |_, setting, bad| {
            if let Some(setting) = setting {
                report(setting, bad);
            }
        })
    }

    /// Builds settings from the configuration file's text (if any) and the
    /// environment's `NAME=VALUE` entries, with one grammar. Within a
    /// source the first entry of a name wins, as with `getenv`; a variable
    /// overrides the file's line. In a secure-execution process every
    /// `CLOEXEC_*` variable is ignored and only the file counts: it is
    /// root's. `report` is called once per setting that has bad parts (with
    /// its source), and once with no setting for the file's lines that are
    /// not settings.
    pub fn from_sources<'a, 'e: 'a>(
        file: Option<&'a [u8]>,
        env: impl Iterator<Item = &'e [u8]>,
        secure: bool,
        report: &mut dyn FnMut(Origin, Option<Setting>, &BadParts<'a>),
    ) -> Settings {
        let mut settings = Settings::default();
        let mut seen = 0u32;
        if let Some(text) = file {
            let mut bad_lines = BadParts::new();
            seen |= settings.apply_source(file_lines(text), Origin::File, &mut bad_lines, report);
            if !bad_lines.is_empty() {
                report(Origin::File, None, &bad_lines);
            }
        }
        if !secure {
            let ours = env
                .map(|entry| -> &'a [u8] { entry })
                .filter(|entry| entry.starts_with(b"CLOEXEC_"));
            seen |= settings.apply_source(ours, Origin::Environment, &mut BadParts::new(), report);
        }
        // Audit mode exists to show what would be swept: unless the user
        // chose a level, show it.
        if settings.mode == Mode::Audit && seen & Setting::Log.bit() == 0 {
            settings.log_level = Level::Info;
        }
        settings
    }

    /// Applies one source's entries over what earlier sources set, and
    /// returns the bit set of the settings it named. Within the source,
    /// `CLOEXEC_LOG_TO` wins over `CLOEXEC_LOG_FILE`, whatever their order.
    /// Entries that are not settings go to `unknown`.
    fn apply_source<'a>(
        &mut self,
        entries: impl Iterator<Item = &'a [u8]>,
        origin: Origin,
        unknown: &mut BadParts<'a>,
        report: &mut dyn FnMut(Origin, Option<Setting>, &BadParts<'a>),
    ) -> u32 {
        let mut seen = 0u32;
        let mut log_file = None;
        for text in entries {
            let Entry::Setting(setting, value) = entry(text) else {
                unknown.push(text);
                continue;
            };
            if seen & setting.bit() != 0 {
                continue;
            }
            seen |= setting.bit();
            if setting == Setting::LogFile {
                log_file = Some(value);
                continue;
            }
            self.apply_reporting(setting, value, origin, report);
        }
        if let Some(value) = log_file.filter(|_| seen & Setting::LogTo.bit() == 0) {
            self.apply_reporting(Setting::LogFile, value, origin, report);
        }
        seen
    }

    fn apply_reporting<'a>(
        &mut self,
        setting: Setting,
        value: &'a [u8],
        origin: Origin,
        report: &mut dyn FnMut(Origin, Option<Setting>, &BadParts<'a>),
    ) {
        let mut bad = BadParts::new();
        self.apply(setting, value, &mut bad);
        if !bad.is_empty() {
            report(origin, Some(setting), &bad);
        }
    }

    fn apply<'a>(&mut self, setting: Setting, value: &'a [u8], bad: &mut BadParts<'a>) {
        match setting {
            Setting::Keep => {
                // A variable replaces the file's list, it does not add to it.
                self.keep = KeepSet::new();
                parse_fd_list(value, &mut self.keep, bad);
            }
            Setting::Policy => {
                let words = [("smart", Policy::Smart), ("strict", Policy::Strict)];
                if let Some(p) = parse_word(value, &words, bad) {
                    self.policy = p;
                }
            }
            Setting::Mode => {
                let words = [
                    ("sweep", Mode::Sweep),
                    ("audit", Mode::Audit),
                    ("off", Mode::Off),
                ];
                if let Some(m) = parse_word(value, &words, bad) {
                    self.mode = m;
                }
            }
            Setting::Passthrough => {
                self.passthrough = NameList::new();
                parse_names(value, &mut self.passthrough, bad);
            }
            Setting::Helpers => {
                self.helpers = NameList::new();
                parse_names(value, &mut self.helpers, bad);
            }
            Setting::Log => {
                let words = [
                    ("off", Level::Off),
                    ("error", Level::Error),
                    ("warn", Level::Warn),
                    ("info", Level::Info),
                    ("debug", Level::Debug),
                ];
                if let Some(l) = parse_word(value, &words, bad) {
                    self.log_level = l;
                }
            }
            Setting::LogFile => {
                let path = value.trim_ascii();
                if path.is_empty() {
                    self.log_to = LogTarget::Stderr;
                } else if let Some(path) = PathBuf::new(path) {
                    self.log_to = LogTarget::File(path);
                } else {
                    bad.push(path);
                }
            }
            Setting::LogTo => {
                if let Some(target) = parse_log_target(value, bad) {
                    self.log_to = target;
                }
            }
        }
    }
}

/// `stderr`, `file:PATH`, `syslog`, `syslog:SOCKET`, `journal`,
/// `journal:SOCKET`; the word in any case.
fn parse_log_target<'a>(value: &'a [u8], bad: &mut BadParts<'a>) -> Option<LogTarget> {
    let value = value.trim_ascii();
    let (word, path) = match value.iter().position(|&b| b == b':') {
        Some(colon) => (value.get(..colon)?, value.get(colon + 1..)),
        None => (value, None),
    };
    let is = |w: &[u8]| word.eq_ignore_ascii_case(w);
    let socket = |default: &[u8]| {
        let path = path.unwrap_or(default);
        PathBuf::new(path).filter(|_| path.len() <= SOCKET_PATH_CAPACITY)
    };
    let target = if is(b"stderr") && path.is_none() {
        Some(LogTarget::Stderr)
    } else if is(b"file") {
        path.and_then(PathBuf::new).map(LogTarget::File)
    } else if is(b"syslog") {
        socket(SYSLOG_SOCKET).map(LogTarget::Syslog)
    } else if is(b"journal") {
        socket(JOURNAL_SOCKET).map(LogTarget::Journal)
    } else {
        None
    };
    if target.is_none() {
        bad.push(value);
    }
    target
}

/// One word out of a fixed vocabulary, ASCII case-insensitive.
fn parse_word<'a, T: Copy>(
    value: &'a [u8],
    words: &[(&str, T)],
    bad: &mut BadParts<'a>,
) -> Option<T> {
    let word = value.trim_ascii();
    let found = words
        .iter()
        .find(|(w, _)| w.as_bytes().eq_ignore_ascii_case(word))
        .map(|&(_, t)| t);
    if found.is_none() {
        bad.push(word);
    }
    found
}

/// `3,5,10-12`: fds and inclusive ranges. Empty items are skipped.
pub fn parse_fd_list<'a>(value: &'a [u8], keep: &mut KeepSet, bad: &mut BadParts<'a>) {
    for item in value.split(|&b| b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() {
            continue;
        }
        let parsed = match item.iter().position(|&b| b == b'-') {
            None => parse_fd(item).map(|fd| (fd, fd)),
            Some(dash) => {
                let lo = item.get(..dash).map(<[u8]>::trim_ascii).and_then(parse_fd);
                let hi = item
                    .get(dash + 1..)
                    .map(<[u8]>::trim_ascii)
                    .and_then(parse_fd);
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
                    _ => None,
                }
            }
        };
        match parsed {
            Some((lo, hi)) => keep.insert_range(lo, hi),
            None => bad.push(item),
        }
    }
}

/// `bash,sh,dash`: program names. A name with `/` is bad (names are basenames).
pub fn parse_names<'a>(value: &'a [u8], names: &mut NameList, bad: &mut BadParts<'a>) {
    for item in value.split(|&b| b == b',') {
        let name = item.trim_ascii();
        if name.is_empty() {
            continue;
        }
        if name.contains(&b'/') || !names.push(name) {
            bad.push(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::MAX_FD;
    use proptest::prelude::*;

    fn parse(env: &[&[u8]]) -> (Settings, Vec<(String, Vec<String>)>) {
        let mut reports = Vec::new();
        let s = Settings::from_env(env.iter().copied(), false, &mut |var, bad| {
            let parts = bad
                .stored()
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            reports.push((var.name().to_string(), parts));
        });
        (s, reports)
    }

    fn keep_of(s: &Settings) -> Vec<(u32, u32)> {
        s.keep.ranges().iter().map(|r| (r.lo, r.hi)).collect()
    }

    #[test]
    fn defaults() {
        let (s, reports) = parse(&[b"PATH=/bin"]);
        assert_eq!(s.policy, Policy::Smart);
        assert_eq!(s.mode, Mode::Sweep);
        assert_eq!(s.log_level, Level::Warn);
        assert_eq!(s.log_to, LogTarget::Stderr);
        assert!(s.keep.ranges().is_empty());
        assert!(s.passthrough.contains(b"bash") && s.passthrough.contains(b"busybox"));
        assert!(
            s.passthrough.contains(b"mc"),
            "a caller that tells numbers after the exec"
        );
        assert!(!s.passthrough.contains(b"python3"));
        assert_eq!(s.helpers.iter().collect::<Vec<_>>(), [b"jspawnhelper"]);
        assert!(reports.is_empty());
    }

    #[test]
    fn every_variable() {
        let (s, reports) = parse(&[
            b"CLOEXEC_KEEP=3,5,10-12",
            b"CLOEXEC_POLICY=strict",
            b"CLOEXEC_MODE=audit",
            b"CLOEXEC_PASSTHROUGH=make, git",
            b"CLOEXEC_HELPERS=jspawnhelper,my-helper",
            b"CLOEXEC_LOG=Debug",
            b"CLOEXEC_LOG_FILE=/tmp/x.log",
        ]);
        assert!(reports.is_empty(), "{reports:?}");
        assert_eq!(keep_of(&s), [(3, 3), (5, 5), (10, 12)]);
        assert_eq!(s.policy, Policy::Strict);
        assert_eq!(s.mode, Mode::Audit);
        assert_eq!(
            s.passthrough.iter().collect::<Vec<_>>(),
            [b"make".as_slice(), b"git"]
        );
        assert_eq!(
            s.helpers.iter().collect::<Vec<_>>(),
            [b"jspawnhelper".as_slice(), b"my-helper"]
        );
        assert_eq!(s.log_level, Level::Debug);
        let LogTarget::File(path) = &s.log_to else {
            panic!("{:?}", s.log_to)
        };
        assert_eq!(path.as_bytes(), b"/tmp/x.log");
        assert_eq!(path.as_cstr().to_bytes(), b"/tmp/x.log");
    }

    #[test]
    fn bad_parts_are_reported_and_the_rest_used() {
        let (s, reports) =
            parse(&[b"CLOEXEC_KEEP=3-,abc,7,-1,99999999999999999999,12-10,2147483648,9"]);
        assert_eq!(keep_of(&s), [(7, 7), (9, 9)]);
        assert_eq!(reports.len(), 1, "one line per variable");
        assert_eq!(reports[0].0, "CLOEXEC_KEEP");
        assert_eq!(reports[0].1, ["3-", "abc", "-1", "99999999999999999999"]);
    }

    #[test]
    fn unknown_words_keep_the_default() {
        let (s, reports) = parse(&[
            b"CLOEXEC_POLICY=paranoid",
            b"CLOEXEC_MODE=",
            b"CLOEXEC_LOG=loud",
        ]);
        assert_eq!(s.policy, Policy::Smart);
        assert_eq!(s.mode, Mode::Sweep);
        assert_eq!(s.log_level, Level::Warn);
        let vars: Vec<_> = reports.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(vars, ["CLOEXEC_POLICY", "CLOEXEC_MODE", "CLOEXEC_LOG"]);
        assert_eq!(reports[0].1, ["paranoid"]);
    }

    #[test]
    fn audit_shows_its_findings_unless_told_otherwise() {
        let (s, _) = parse(&[b"CLOEXEC_MODE=audit"]);
        assert_eq!(s.log_level, Level::Info);
        let (s, _) = parse(&[b"CLOEXEC_MODE=audit", b"CLOEXEC_LOG=warn"]);
        assert_eq!(s.log_level, Level::Warn);
    }

    #[test]
    fn empty_passthrough_means_none() {
        let (s, reports) = parse(&[b"CLOEXEC_PASSTHROUGH="]);
        assert!(reports.is_empty());
        assert_eq!(s.passthrough.iter().count(), 0);
    }

    #[test]
    fn empty_helpers_means_none_and_bad_names_are_reported() {
        let (s, reports) = parse(&[b"CLOEXEC_HELPERS="]);
        assert!(reports.is_empty());
        assert_eq!(s.helpers.iter().count(), 0);
        let (s, reports) = parse(&[b"CLOEXEC_HELPERS=jspawnhelper,/opt/x/helper,gpg-helper"]);
        assert_eq!(
            s.helpers.iter().collect::<Vec<_>>(),
            [b"jspawnhelper".as_slice(), b"gpg-helper"]
        );
        assert_eq!(
            reports,
            [(
                "CLOEXEC_HELPERS".to_string(),
                vec!["/opt/x/helper".to_string()]
            )]
        );
    }

    #[test]
    fn the_table_names_each_setting_once() {
        for (i, s) in Setting::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "table order is discriminant order");
            assert_eq!(Setting::from_name(s.name().as_bytes()), Some(*s));
            assert!(s.name().starts_with("CLOEXEC_"));
        }
        assert_eq!(Setting::from_name(b"CLOEXEC_KEEPX"), None);
    }

    #[test]
    fn first_entry_wins() {
        let (s, _) = parse(&[b"CLOEXEC_POLICY=strict", b"CLOEXEC_POLICY=smart"]);
        assert_eq!(s.policy, Policy::Strict);
    }

    #[test]
    fn secure_execution_ignores_everything() {
        let env: [&[u8]; 4] = [
            b"CLOEXEC_POLICY=strict",
            b"CLOEXEC_LOG_FILE=/etc/passwd",
            b"CLOEXEC_KEEP=zz",
            b"CLOEXEC_HELPERS=",
        ];
        let mut reports = 0;
        let s = Settings::from_env(env.iter().copied(), true, &mut |_, _| reports += 1);
        assert_eq!(s.policy, Policy::Smart);
        assert_eq!(s.helpers.iter().collect::<Vec<_>>(), [b"jspawnhelper"]);
        assert_eq!(s.log_to, LogTarget::Stderr);
        assert_eq!(reports, 0);
    }

    fn target(value: &str) -> (LogTarget, Vec<(String, Vec<String>)>) {
        let entry = format!("CLOEXEC_LOG_TO={value}");
        let (s, reports) = parse(&[entry.as_bytes()]);
        (s.log_to, reports)
    }

    fn path(p: &str) -> PathBuf {
        PathBuf::new(p.as_bytes()).unwrap()
    }

    #[test]
    fn log_targets() {
        assert_eq!(target("stderr").0, LogTarget::Stderr);
        assert_eq!(target(" STDERR ").0, LogTarget::Stderr);
        assert_eq!(
            target("file:/var/log/x").0,
            LogTarget::File(path("/var/log/x"))
        );
        assert_eq!(target("file:rel/x:y").0, LogTarget::File(path("rel/x:y")));
        assert_eq!(target("syslog").0, LogTarget::Syslog(path("/dev/log")));
        assert_eq!(
            target("syslog:/run/x.sock").0,
            LogTarget::Syslog(path("/run/x.sock"))
        );
        assert_eq!(
            target("journal").0,
            LogTarget::Journal(path("/run/systemd/journal/socket"))
        );
        assert_eq!(
            target("Journal:/tmp/j").0,
            LogTarget::Journal(path("/tmp/j"))
        );
        let long_socket = format!("syslog:/{}", "s".repeat(SOCKET_PATH_CAPACITY));
        let long_file = format!("file:/{}", "f".repeat(PATH_CAPACITY));
        for bad in [
            "",
            "stderr:x",
            "file:",
            "file",
            "syslog:",
            "mail",
            "journald",
            &long_socket,
            &long_file,
        ] {
            let (t, reports) = target(bad);
            assert_eq!(t, LogTarget::Stderr, "{bad:?}");
            assert_eq!(reports.len(), 1, "{bad:?}");
            assert_eq!(reports[0].0, "CLOEXEC_LOG_TO");
            assert_eq!(reports[0].1, [bad.trim()], "{bad:?}");
        }
    }

    #[test]
    fn log_to_wins_over_log_file_in_either_order() {
        for env in [
            [&b"CLOEXEC_LOG_FILE=/tmp/a"[..], b"CLOEXEC_LOG_TO=syslog"],
            [&b"CLOEXEC_LOG_TO=syslog"[..], b"CLOEXEC_LOG_FILE=/tmp/a"],
        ] {
            let (s, reports) = parse(&env);
            assert_eq!(s.log_to, LogTarget::Syslog(path("/dev/log")));
            assert!(reports.is_empty());
        }
        let (s, _) = parse(&[b"CLOEXEC_LOG_FILE="]);
        assert_eq!(s.log_to, LogTarget::Stderr);
    }

    type Reports = Vec<(Origin, Option<String>, Vec<String>)>;

    fn parse_both(file: &str, env: &[&str], secure: bool) -> (Settings, Reports) {
        let mut reports = Vec::new();
        let s = Settings::from_sources(
            Some(file.as_bytes()),
            env.iter().map(|e| e.as_bytes()),
            secure,
            &mut |origin, setting, bad| {
                let parts = bad
                    .stored()
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                reports.push((origin, setting.map(|s| s.name().to_string()), parts));
            },
        );
        (s, reports)
    }

    const FILE: &str = "# written by cloexec system enable\n\
        \n\
        CLOEXEC_MODE=audit\n\
        \t CLOEXEC_LOG_TO = journal \n\
        CLOEXEC_KEEP=7,9\n\
        CLOEXEC_MODE=off\n";

    #[test]
    fn the_file_is_a_source_like_the_environment() {
        let (s, reports) = parse_both(FILE, &["PATH=/bin"], false);
        assert!(reports.is_empty(), "{reports:?}");
        assert_eq!(s.mode, Mode::Audit, "the first line of a name wins");
        assert_eq!(s.log_level, Level::Info, "audit shows its findings");
        assert_eq!(
            s.log_to,
            LogTarget::Journal(path("/run/systemd/journal/socket"))
        );
        assert_eq!(keep_of(&s), [(7, 7), (9, 9)]);
    }

    #[test]
    fn a_variable_overrides_the_files_line() {
        let (s, _) = parse_both(
            FILE,
            &[
                "CLOEXEC_MODE=sweep",
                "CLOEXEC_KEEP=12",
                "CLOEXEC_LOG_FILE=/tmp/mine",
            ],
            false,
        );
        assert_eq!(s.mode, Mode::Sweep);
        assert_eq!(keep_of(&s), [(12, 12)], "replaced, not added to");
        assert_eq!(s.log_to, LogTarget::File(path("/tmp/mine")));
        assert_eq!(s.log_level, Level::Warn);
        let (s, _) = parse_both(FILE, &["CLOEXEC_LOG=debug"], false);
        assert_eq!((s.mode, s.log_level), (Mode::Audit, Level::Debug));
    }

    #[test]
    fn secure_execution_reads_only_the_file() {
        let (s, reports) = parse_both(
            FILE,
            &[
                "CLOEXEC_MODE=sweep",
                "CLOEXEC_LOG_TO=file:/etc/shadow",
                "CLOEXEC_KEEP=zz",
            ],
            true,
        );
        assert_eq!(s.mode, Mode::Audit);
        assert_eq!(
            s.log_to,
            LogTarget::Journal(path("/run/systemd/journal/socket"))
        );
        assert!(reports.is_empty(), "{reports:?}");
    }

    #[test]
    fn bad_lines_and_bad_values_of_the_file_are_reported_with_their_source() {
        let (s, reports) = parse_both(
            "CLOEXEC_KEEP=3-,8\nnot a setting\nCLOEXEC_KEPT=1\nexport CLOEXEC_MODE=audit\nCLOEXEC_POLICY=strict\n",
            &["CLOEXEC_LOG=loud", "CLOEXEC_OTHER=1"],
            false,
        );
        assert_eq!(keep_of(&s), [(8, 8)]);
        assert_eq!(s.policy, Policy::Strict);
        assert_eq!(s.mode, Mode::Sweep);
        let strings = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            reports,
            [
                (Origin::File, Some("CLOEXEC_KEEP".into()), strings(&["3-"])),
                (
                    Origin::File,
                    None,
                    strings(&[
                        "not a setting",
                        "CLOEXEC_KEPT=1",
                        "export CLOEXEC_MODE=audit"
                    ])
                ),
                (
                    Origin::Environment,
                    Some("CLOEXEC_LOG".into()),
                    strings(&["loud"])
                ),
            ]
        );
    }

    #[test]
    fn similar_names_are_not_settings() {
        let (s, _) = parse(&[b"CLOEXEC_KEEPX=3", b"XCLOEXEC_KEEP=4", b"CLOEXEC_KEEP"]);
        assert!(s.keep.ranges().is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), SETTING_COUNT)) {
            let entries: Vec<Vec<u8>> = Setting::ALL
                .iter()
                .zip(&values)
                .map(|(s, v)| [s.name().as_bytes(), b"=", v].concat())
                .collect();
            let (s, _) = parse(&entries.iter().map(|e| e.as_slice()).collect::<Vec<_>>());
            for r in s.keep.ranges() {
                prop_assert!(r.lo <= r.hi && r.hi <= MAX_FD);
            }
            for pair in s.keep.ranges().windows(2) {
                prop_assert!(pair[0].hi < pair[1].lo);
            }
        }

        #[test]
        fn fd_lists_round_trip(fds in proptest::collection::btree_set(0u32..MAX_FD, 0..20)) {
            let text = fds.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(",");
            let mut keep = KeepSet::new();
            let mut bad = BadParts::new();
            parse_fd_list(text.as_bytes(), &mut keep, &mut bad);
            prop_assert!(bad.is_empty());
            for fd in &fds {
                prop_assert!(keep.contains(*fd));
            }
        }
    }
}
