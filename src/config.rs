//! The system configuration file, `/etc/cloexec.conf`: opened and read once
//! at load, and trusted only when it is root's. The thin layer between the
//! file system and [`crate::settings`], which parses the text with the
//! environment's grammar.
//!
//! What a process pays for it:
//! - no file: one failed `openat`, nothing else (no buffer is touched);
//! - a file: `openat`, `fstat` (the trust check, on the opened file, so
//!   what is read is what was checked), one `read` into a stack buffer of
//!   [`CAPACITY`] bytes, `close`.
//!
//! The file is followed through symbolic links (hosts that manage `/etc`
//! with links keep working): trust is decided by the file opened, not by its
//! name. A file that cannot be opened (missing, `EACCES` in a sandbox) is
//! as good as absent and says nothing: a warning in every sandboxed
//! process's stderr would change what it prints. `cloexec system status`
//! says why a file is not used.

use core::ffi::{CStr, c_int};
use core::mem::MaybeUninit;

use crate::sys::{self, Errno, FileInfo};

/// Where the file is.
pub const PATH: &CStr = c"/etc/cloexec.conf";

/// The largest file read. A larger one is ignored whole, with one warning:
/// a line cut short could mean another setting (a name list cut in the
/// middle of a name), and part of a file is not the file its owner wrote.
pub const CAPACITY: usize = crate::settings::FILE_CAPACITY;

/// Why a file that exists is not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a regular file (a FIFO, a device, a directory).
    NotRegular,
    /// Not owned by root, or writable by its group or by others.
    Untrusted { uid: u32, mode: u32 },
    /// Larger than [`CAPACITY`].
    TooLarge { size: u64 },
    /// The read failed.
    Unreadable(Errno),
}

/// What the load found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found<'b> {
    /// No file, or one this process cannot open.
    Absent,
    Refused(Refused),
    /// The file's text.
    Text(&'b [u8]),
}

/// The trust check: a regular file owned by root that neither its group
/// nor others may write, no larger than [`CAPACITY`].
pub fn check(info: FileInfo) -> Result<(), Refused> {
    if info.mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Refused::NotRegular);
    }
    if info.uid != 0 || info.mode & 0o022 != 0 {
        return Err(Refused::Untrusted {
            uid: info.uid,
            mode: info.mode & 0o7777,
        });
    }
    if info.size > CAPACITY as u64 {
        return Err(Refused::TooLarge { size: info.size });
    }
    Ok(())
}

/// Reads the file and hands what was found to `use_it`, while the text is
/// alive (it lives on this call's stack).
pub fn with_file<R>(use_it: impl FnOnce(Found<'_>) -> R) -> R {
    match sys::open_read(PATH) {
        Err(_) => use_it(Found::Absent),
        Ok(fd) => read_open(fd, use_it),
    }
}

/// The present file's path: its own frame, so that a process without the
/// file never touches the buffer's stack pages, and the buffer is never
/// zeroed (only what the kernel writes is read).
#[inline(never)]
fn read_open<R>(fd: c_int, use_it: impl FnOnce(Found<'_>) -> R) -> R {
    let mut buf = [MaybeUninit::<u8>::uninit(); CAPACITY];
    let found = match read_checked(fd, &mut buf) {
        Ok(text) => Found::Text(text),
        Err(why) => Found::Refused(why),
    };
    let _ = sys::close(fd);
    use_it(found)
}

/// `fstat`, the trust check, then reads to the size `fstat` gave (one
/// `read` for a regular file).
fn read_checked(fd: c_int, buf: &mut [MaybeUninit<u8>]) -> Result<&[u8], Refused> {
    let info = sys::fstat_info(fd).map_err(Refused::Unreadable)?;
    check(info)?;
    let want = usize::try_from(info.size)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    let buf = buf.get_mut(..want).unwrap_or(&mut []);
    sys::read_to_fill(fd, buf).map_err(Refused::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(uid: u32, mode: u32, size: u64) -> FileInfo {
        FileInfo { uid, mode, size }
    }

    #[test]
    fn only_roots_regular_files_that_nobody_else_writes() {
        let reg = libc::S_IFREG;
        assert_eq!(check(info(0, reg | 0o644, 10)), Ok(()));
        assert_eq!(check(info(0, reg | 0o600, 10)), Ok(()));
        assert_eq!(check(info(0, reg | 0o444, 0)), Ok(()));
        for mode in [0o664, 0o646, 0o666, 0o1777 & 0o777] {
            assert_eq!(
                check(info(0, reg | mode, 10)),
                Err(Refused::Untrusted { uid: 0, mode }),
                "{mode:o}"
            );
        }
        assert_eq!(
            check(info(1000, reg | 0o644, 10)),
            Err(Refused::Untrusted {
                uid: 1000,
                mode: 0o644
            })
        );
        assert_eq!(
            check(info(0, libc::S_IFIFO | 0o644, 0)),
            Err(Refused::NotRegular)
        );
        assert_eq!(
            check(info(0, libc::S_IFDIR | 0o755, 0)),
            Err(Refused::NotRegular)
        );
        assert_eq!(check(info(0, reg | 0o644, CAPACITY as u64)), Ok(()));
        assert_eq!(
            check(info(0, reg | 0o644, CAPACITY as u64 + 1)),
            Err(Refused::TooLarge {
                size: CAPACITY as u64 + 1
            })
        );
    }
}
