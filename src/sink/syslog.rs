//! `CLOEXEC_LOG_TO=syslog[:SOCKET]`: one datagram per line, as glibc's
//! `syslog()` sends it to `/dev/log`: `<PRI>TIMESTAMP TAG[PID]: MESSAGE`,
//! with no trailing newline, facility `LOG_USER`.
//!
//! The timestamp is left out, as RFC 3164 allows (section 4.3.2: a relay
//! adds its own): glibc writes local time, which needs the time zone
//! database, and a process cannot read files here safely (a vfork child, a
//! signal handler); a UTC time in a field read as local time would be wrong
//! by the zone's offset. Every receiver of the local socket stamps what it
//! receives anyway (rsyslog's `imuxsock` ignores a sent timestamp by
//! default, and so does journald).

use crate::settings::PathBuf;

/// `LOG_USER`, glibc's default facility.
const FACILITY_USER: u8 = 1;

/// `<PRI>` for a severity: facility `LOG_USER` (8) plus the severity
/// (0-7), always two digits.
pub fn priority(severity: u8) -> [u8; 4] {
    let pri = FACILITY_USER * 8 + (severity & 7);
    [b'<', b'0' + pri / 10, b'0' + pri % 10, b'>']
}

/// Sends one line (`libcloexec[PID]: …`, no newline) at `severity`.
pub fn send(socket: &PathBuf, severity: u8, line: &[u8]) {
    super::send_datagram(socket.as_bytes(), &[&priority(severity), line]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_user_facility() {
        let text = |s| String::from_utf8(priority(s).to_vec()).unwrap();
        assert_eq!(text(3), "<11>");
        assert_eq!(text(4), "<12>");
        assert_eq!(text(6), "<14>");
        assert_eq!(text(7), "<15>");
    }
}
