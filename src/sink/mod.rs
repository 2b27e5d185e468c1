//! Where a finished log line goes: one module per target, each with one
//! `send` that never blocks, never holds an fd past the call, and drops the
//! line when it cannot be delivered. All async-signal-safe: raw system
//! calls and stack buffers.

pub mod file;
pub mod journal;
pub mod stderr;
pub mod syslog;

/// syslog's severities, which the journal's `PRIORITY=` uses too.
pub fn severity(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Sends one datagram gathered from `pieces` to the Unix socket at `path`,
/// through a socket of its own that is closed at once: the library never
/// leaves an fd in the host's table. A missing socket, a full one, or any
/// other error drops the datagram.
fn send_datagram(path: &[u8], pieces: &[&[u8]]) {
    if let Ok(fd) = crate::sys::unix_datagram_socket() {
        let _ = crate::sys::send_to_unix(fd, path, pieces);
        let _ = crate::sys::close(fd);
    }
}
