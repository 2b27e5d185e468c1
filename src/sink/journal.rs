//! `CLOEXEC_LOG_TO=journal[:SOCKET]`: one datagram per line in journald's
//! native protocol (systemd's `sd_journal_send` format, see
//! systemd.journal-fields(7)): `MESSAGE`, `PRIORITY`,
//! `SYSLOG_IDENTIFIER=libcloexec`, `SYSLOG_PID`, and for a sweep line the
//! event's own fields:
//!
//! | field | value |
//! |---|---|
//! | `CLOEXEC_CALL` | the entry point (`execve` ... `popen`) |
//! | `CLOEXEC_PROGRAM` | the program started (path, command, `fd N`) |
//! | `CLOEXEC_CALLER` | the calling program's basename: whose fds leaked |
//! | `CLOEXEC_MODE` | `sweep`, or `audit` for "would sweep" |
//! | `CLOEXEC_FDS` | how many fds were swept |
//! | `CLOEXEC_FD` | one per listed fd: `N (TARGET)` |
//!
//! Values that may hold any byte (the message, paths) use the protocol's
//! binary form, `NAME\n`, a 64-bit little-endian length, the bytes, `\n`,
//! so a newline in a file name cannot split a field. A field that does not
//! fit in the buffer is left out whole (the `CLOEXEC_FD` fields last), so
//! the datagram always parses.

use core::fmt::{self, Write};

use crate::event::{Sweep, Target};
use crate::settings::PathBuf;

/// Room for every field but the message, which is sent from the line's own
/// buffer.
pub const FIELDS_CAPACITY: usize = 1024;

/// Native-protocol fields being built in a fixed buffer; each is added
/// whole or not at all.
pub struct Fields<const N: usize> {
    buf: [u8; N],
    len: usize,
    full: bool,
}

impl<const N: usize> Fields<N> {
    pub const fn new() -> Self {
        Fields {
            buf: [0; N],
            len: 0,
            full: false,
        }
    }

    /// The fields so far.
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// `NAME=VALUE\n`, for a value that cannot hold a newline (a number, a
    /// word). Returns whether it was added.
    pub fn plain(&mut self, name: &str, value: impl fmt::Display) -> bool {
        let start = self.len;
        self.full = false;
        let _ = writeln!(self, "{name}={value}");
        self.commit(start)
    }

    /// `NAME\n`, the value's length (64-bit little-endian), the value, `\n`:
    /// for any bytes. Returns whether it was added.
    pub fn binary(&mut self, name: &str, value: impl fmt::Display) -> bool {
        let start = self.len;
        self.full = false;
        let _ = writeln!(self, "{name}");
        let size_at = self.len;
        self.push(&[0; 8]);
        let value_at = self.len;
        let _ = write!(self, "{value}");
        let size = self.len.saturating_sub(value_at) as u64;
        let slot = self.buf.get_mut(size_at..value_at);
        if let Some(slot) = slot.and_then(|s| <&mut [u8; 8]>::try_from(s).ok()) {
            *slot = size.to_le_bytes();
        }
        self.push(b"\n");
        self.commit(start)
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) if !self.full => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            _ => self.full = true,
        }
    }

    /// Keeps the field begun at `start` if it fit, else removes it.
    fn commit(&mut self, start: usize) -> bool {
        if self.full {
            self.len = start;
        }
        !self.full
    }
}

impl<const N: usize> Default for Fields<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for Fields<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// The message's name and length, sent before its bytes.
fn message_head(len: usize) -> [u8; 16] {
    let mut head = [0u8; 16];
    let (name, size) = head.split_at_mut(8);
    name.copy_from_slice(b"MESSAGE\n");
    if let Ok(size) = <&mut [u8; 8]>::try_from(size) {
        *size = (len as u64).to_le_bytes();
    }
    head
}

/// Every field but the message, for a line at `severity` from process
/// `pid`, with the sweep's own fields if it is one.
pub fn fields<const N: usize>(severity: u8, pid: u32, sweep: Option<&Sweep<'_>>) -> Fields<N> {
    let mut fields = Fields::new();
    fields.plain("PRIORITY", severity);
    fields.plain("SYSLOG_IDENTIFIER", "libcloexec");
    fields.plain("SYSLOG_PID", pid);
    if let Some(sweep) = sweep {
        let launched = sweep.launched;
        fields.plain("CLOEXEC_CALL", launched.call);
        fields.binary("CLOEXEC_PROGRAM", launched.program);
        fields.binary("CLOEXEC_CALLER", crate::logger::Bytes(launched.caller));
        fields.plain("CLOEXEC_MODE", if sweep.audit { "audit" } else { "sweep" });
        fields.plain("CLOEXEC_FDS", sweep.fds.count());
        for &fd in sweep.fds.listed {
            if !fields.binary("CLOEXEC_FD", Target(fd)) {
                break;
            }
        }
    }
    fields
}

/// Sends one line: `message` is its text after `libcloexec[PID]: ` (the
/// journal keeps the identifier and the pid in their own fields).
pub fn send(socket: &PathBuf, severity: u8, message: &[u8], sweep: Option<&Sweep<'_>>) {
    let head = message_head(message.len());
    let fields = fields::<FIELDS_CAPACITY>(severity, crate::sys::getpid(), sweep);
    super::send_datagram(socket.as_bytes(), &[&head, message, b"\n", fields.bytes()]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Fds, Launched};

    /// The native protocol, read back field by field as journald does.
    fn parse(mut data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let nl = data.iter().position(|&b| b == b'\n').expect("a field ends");
            let line = &data[..nl];
            match line.iter().position(|&b| b == b'=') {
                Some(eq) => {
                    out.push((
                        String::from_utf8(line[..eq].to_vec()).unwrap(),
                        line[eq + 1..].to_vec(),
                    ));
                    data = &data[nl + 1..];
                }
                None => {
                    let name = String::from_utf8(line.to_vec()).unwrap();
                    let size =
                        u64::from_le_bytes(data[nl + 1..nl + 9].try_into().unwrap()) as usize;
                    let value = data[nl + 9..nl + 9 + size].to_vec();
                    assert_eq!(data[nl + 9 + size], b'\n');
                    out.push((name, value));
                    data = &data[nl + 10 + size..];
                }
            }
        }
        out
    }

    fn sweep_of(program: &str, fds: &[i32]) -> Vec<(String, Vec<u8>)> {
        let sweep = Sweep {
            launched: Launched {
                call: "posix_spawn",
                program: &program,
                caller: b"leaky\nx",
            },
            audit: false,
            fds: Fds {
                listed: fds,
                unlisted: 2,
            },
        };
        let f = fields::<FIELDS_CAPACITY>(6, 42, Some(&sweep));
        let message = b"a message\nwith a newline";
        let head = message_head(message.len());
        let datagram = [&head[..], message, b"\n", f.bytes()].concat();
        parse(&datagram)
    }

    #[test]
    fn every_field_parses_back() {
        let got = sweep_of("/usr/bin/x y", &[-1, -2]);
        let want: Vec<(String, Vec<u8>)> = [
            ("MESSAGE", &b"a message\nwith a newline"[..]),
            ("PRIORITY", b"6"),
            ("SYSLOG_IDENTIFIER", b"libcloexec"),
            ("SYSLOG_PID", b"42"),
            ("CLOEXEC_CALL", b"posix_spawn"),
            ("CLOEXEC_PROGRAM", b"/usr/bin/x y"),
            ("CLOEXEC_CALLER", b"leaky\nx"),
            ("CLOEXEC_MODE", b"sweep"),
            ("CLOEXEC_FDS", b"4"),
            ("CLOEXEC_FD", b"-1 (?)"),
            ("CLOEXEC_FD", b"-2 (?)"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn fields_that_do_not_fit_are_left_out_whole() {
        let long = "p".repeat(FIELDS_CAPACITY);
        let fds: Vec<i32> = (-200..0).collect();
        let got = sweep_of(&long, &fds);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert!(!names.contains(&"CLOEXEC_PROGRAM"), "{names:?}");
        assert!(names.contains(&"CLOEXEC_CALLER") && names.contains(&"CLOEXEC_FDS"));
        let fd_fields = names.iter().filter(|n| **n == "CLOEXEC_FD").count();
        assert!(fd_fields > 10 && fd_fields < 200, "{fd_fields}");
    }
}
