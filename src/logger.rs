//! Our `log` logger: formats each line into a fixed stack buffer and hands
//! it to the sink of the log target (`CLOEXEC_LOG_TO`, see [`crate::sink`]),
//! which delivers it with one `write(2)` or one datagram, so lines from
//! concurrent processes stay whole.
//!
//! Most lines come through the `log` facade as text. A sweep line comes as
//! an [`event::Sweep`](crate::event::Sweep) ([`sweep`]): the text line is
//! formatted from it, and the journal takes its fields from the same value.
//!
//! Async-signal-safe: no allocation, no locks, no stdio; raw system calls
//! only. A log file or socket is opened for each line and closed again,
//! so no descriptor of ours ever sits in the host's fd table. If a line
//! cannot be delivered, it is dropped silently.

use core::fmt::{self, Write};

use crate::event;
use crate::once::InitCell;
use crate::settings::{BadParts, Level, LogTarget, Settings};
use crate::{sink, sys};

/// The longest line written; a longer one is cut and ends with [`CUT_MARK`].
pub const LINE_CAPACITY: usize = 1024;
pub const CUT_MARK: &[u8] = b" ...[cut]\n";

/// A line being built in a fixed buffer. Writing past the end cuts the
/// line instead of failing, so formatting always completes.
pub struct LineBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    cut: bool,
}

impl<const N: usize> LineBuf<N> {
    pub const fn new() -> Self {
        LineBuf {
            buf: [0; N],
            len: 0,
            cut: false,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let room = N.saturating_sub(self.len);
        let take = bytes.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + take),
            bytes.get(..take),
        ) {
            dst.copy_from_slice(src);
            self.len += take;
        }
        if take < bytes.len() {
            self.cut = true;
        }
    }

    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The finished line, newline-terminated; a cut line ends with [`CUT_MARK`].
    pub fn finish(&mut self) -> &[u8] {
        if !self.cut && self.len < N {
            self.push(b"\n");
        } else {
            self.cut = true;
            self.len = N.saturating_sub(CUT_MARK.len()).min(self.len);
            // Never leave half a UTF-8 character before the mark.
            while self.len > 0 && self.buf.get(self.len).is_some_and(|&b| b & 0xC0 == 0x80) {
                self.len -= 1;
            }
            let at = self.len;
            if let Some(dst) = self.buf.get_mut(at..at + CUT_MARK.len()) {
                dst.copy_from_slice(CUT_MARK);
                self.len = at + CUT_MARK.len();
            }
        }
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The text so far, with no newline (for embedding in another line).
    pub fn finish_no_newline(&mut self) -> &[u8] {
        let text = self.finish();
        text.strip_suffix(b"\n").unwrap_or(text)
    }
}

impl<const N: usize> Default for LineBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for LineBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Displays bytes that may not be UTF-8 (paths, argv): invalid bytes as `\xNN`.
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for &b in chunk.invalid() {
                f.write_str("\\x")?;
                let hex = b"0123456789abcdef";
                for nibble in [b >> 4, b & 0xF] {
                    let digit = hex.get(usize::from(nibble)).copied().unwrap_or(b'?');
                    f.write_char(char::from(digit))?;
                }
            }
        }
        Ok(())
    }
}

/// Displays the bad parts of a setting: `"3-", "abc" (and 2 more)`.
pub struct BadList<'a, 'b>(pub &'a BadParts<'b>);

impl fmt::Display for BadList<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stored = self.0.stored();
        for (i, part) in stored.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}\"{}\"", Bytes(part))?;
        }
        let more = self.0.count() - stored.len();
        if more > 0 {
            write!(f, " (and {more} more)")?;
        }
        Ok(())
    }
}

struct Logger;

static LOGGER: Logger = Logger;

/// The process's settings (level and log file), given once at load.
static SETTINGS: InitCell<&'static Settings> = InitCell::new();

/// Takes the settings, and installs the logger if they may want a line
/// now: `info` and `debug` log at every exec. At `warn` and `error` lines
/// are rare, so the logger is installed only just before one
/// ([`ensure_installed`]): touching the `log` crate's statics costs each
/// process start a page fault. Called once, by the constructor.
pub fn configure(settings: &'static Settings) {
    SETTINGS.init_once(|| settings);
    if settings.log_level >= Level::Info {
        install(settings.log_level);
    }
}

/// Installs the logger (idempotent) before a warning or an error.
pub fn ensure_installed() {
    if let Some(settings) = SETTINGS.get() {
        install(settings.log_level);
    }
}

fn install(level: Level) {
    // set_logger fails only if a logger is already set in this library's
    // copy of `log`, i.e. never; then the level still applies.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level.to_filter());
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = Line::begin();
        match record.level() {
            log::Level::Error => line.text.push(b"error: "),
            log::Level::Warn => line.text.push(b"warning: "),
            _ => {}
        }
        let _ = line.text.write_fmt(*record.args());
        line.send(record.level(), None);
    }

    fn flush(&self) {}
}

/// Logs one sweep line at `info`, from its event.
pub fn sweep(event: &event::Sweep<'_>) {
    if log::max_level() < log::LevelFilter::Info {
        return;
    }
    let mut line = Line::begin();
    let _ = write!(line.text, "{event}");
    line.send(log::Level::Info, Some(event));
}

/// A line being built: `libcloexec[PID]: ` and then its body.
struct Line {
    text: LineBuf<LINE_CAPACITY>,
    /// Where the body starts, after the prefix.
    body_at: usize,
}

impl Line {
    fn begin() -> Line {
        let mut text = LineBuf::new();
        let _ = write!(text, "libcloexec[{}]: ", sys::getpid());
        let body_at = text.len();
        Line { text, body_at }
    }

    /// Finishes the line and hands it to the sink of the log target.
    fn send(mut self, level: log::Level, event: Option<&event::Sweep<'_>>) {
        let target = SETTINGS.get().map(|s| &s.log_to);
        match target {
            None | Some(LogTarget::Stderr) => sink::stderr::send(self.text.finish()),
            Some(LogTarget::File(path)) => sink::file::send(path, self.text.finish()),
            Some(LogTarget::Syslog(socket)) => {
                sink::syslog::send(socket, sink::severity(level), self.text.finish_no_newline())
            }
            Some(LogTarget::Journal(socket)) => {
                let body_at = self.body_at;
                let text = self.text.finish_no_newline();
                let message = text.get(body_at..).unwrap_or(text);
                sink::journal::send(socket, sink::severity(level), message, event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_end_with_newline() {
        let mut line = LineBuf::<32>::new();
        let _ = write!(line, "fd {} ok", 7);
        assert_eq!(line.finish(), b"fd 7 ok\n");
    }

    #[test]
    fn long_lines_are_cut_and_marked() {
        let mut line = LineBuf::<32>::new();
        for i in 0..20 {
            let _ = write!(line, "{i},");
        }
        assert!(line.is_cut());
        let out = line.finish().to_vec();
        assert_eq!(out.len(), 32);
        assert!(out.ends_with(CUT_MARK));
        assert!(out.starts_with(b"0,1,2,3,"));
    }

    #[test]
    fn exactly_full_line_is_cut() {
        let mut line = LineBuf::<16>::new();
        line.push(b"0123456789abcdef");
        assert!(!line.is_cut());
        let out = line.finish();
        assert!(
            out.ends_with(CUT_MARK),
            "no room for the newline: marked as cut"
        );
        assert_eq!(out.len(), 16);
    }

    #[test]
    fn cut_never_splits_a_character() {
        let mut line = LineBuf::<16>::new();
        line.push("ééééééééééé".as_bytes());
        let out = line.finish().to_vec();
        assert!(std::str::from_utf8(&out).is_ok(), "{out:?}");
        assert!(out.ends_with(CUT_MARK));
    }

    #[test]
    fn bytes_escape_invalid_utf8() {
        assert_eq!(format!("{}", Bytes(b"a\xffb/\xc3")), "a\\xffb/\\xc3");
        assert_eq!(format!("{}", Bytes("é".as_bytes())), "é");
    }

    #[test]
    fn bad_list() {
        let mut bad = BadParts::new();
        for p in [&b"a"[..], b"b", b"c", b"d", b"e", b"f"] {
            bad.push(p);
        }
        assert_eq!(
            format!("{}", BadList(&bad)),
            "\"a\", \"b\", \"c\", \"d\" (and 2 more)"
        );
    }
}
