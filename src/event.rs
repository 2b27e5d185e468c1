//! What one exec or spawn's report says, as a structure: the logger formats
//! the text line from it, and the journal takes its fields from the same
//! value (never by parsing the text back).

use core::ffi::{CStr, c_int};
use core::fmt::{self, Write};

use crate::logger::{Bytes, LineBuf};
use crate::sys;

/// Who started what: `CALL PROGRAM (by CALLER)`.
#[derive(Clone, Copy)]
pub struct Launched<'a> {
    /// The entry point (`execve` ... `popen`).
    pub call: &'static str,
    /// The path, file or command, or `fd N` for `fexecve`.
    pub program: &'a dyn fmt::Display,
    /// The calling program's basename: whose fds leaked.
    pub caller: &'a [u8],
}

impl fmt::Display for Launched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (by {})",
            self.call,
            self.program,
            Bytes(self.caller)
        )
    }
}

/// One exec or spawn that swept (or, in audit mode, would sweep) fds.
pub struct Sweep<'a> {
    pub launched: Launched<'a>,
    pub audit: bool,
    pub fds: Fds<'a>,
}

impl Sweep<'_> {
    pub fn verb(&self) -> &'static str {
        if self.audit { "would sweep" } else { "swept" }
    }
}

/// The text line's body: `CALL PROGRAM (by CALLER): swept FD (TARGET), …`.
impl fmt::Display for Sweep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.launched, self.verb(), self.fds)
    }
}

/// A list of fds with their targets, and how many more were not listed.
#[derive(Clone, Copy)]
pub struct Fds<'a> {
    pub listed: &'a [c_int],
    pub unlisted: usize,
}

impl Fds<'_> {
    /// Every fd, listed or not.
    pub fn count(&self) -> usize {
        self.listed.len() + self.unlisted
    }
}

/// `FD (TARGET), FD (TARGET) and N more`.
impl fmt::Display for Fds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &fd) in self.listed.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}", Target(fd))?;
        }
        if self.unlisted > 0 {
            write!(f, " and {} more", self.unlisted)?;
        }
        Ok(())
    }
}

/// One fd with what it is, its `/proc/self/fd` link: `5 (/var/log/app.log)`,
/// `6 (socket:[123])`, `7 (?)` when the link cannot be read.
pub struct Target(pub c_int);

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path = LineBuf::<32>::new();
        let _ = write!(path, "/proc/self/fd/{}\0", self.0);
        let path = CStr::from_bytes_until_nul(path.finish()).unwrap_or(c"");
        let mut buf = [0u8; 256];
        match sys::readlink(path, &mut buf) {
            Ok(n) => write!(f, "{} ({})", self.0, Bytes(buf.get(..n).unwrap_or(&[]))),
            Err(_) => write!(f, "{} (?)", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_call_program_caller_and_fds() {
        let program = "/usr/bin/probe";
        let sweep = Sweep {
            launched: Launched {
                call: "execv",
                program: &program,
                caller: b"leaky",
            },
            audit: true,
            fds: Fds {
                listed: &[-1, -2],
                unlisted: 3,
            },
        };
        assert_eq!(
            sweep.to_string(),
            "execv /usr/bin/probe (by leaky): would sweep -1 (?), -2 (?) and 3 more"
        );
        assert_eq!(sweep.fds.count(), 5);
    }
}
