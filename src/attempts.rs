//! Exec attempts that will fail.
//!
//! An exec whose program is missing or not executable returns to its
//! caller, so its sweep must not happen: the caller's fds stay as it left
//! them. A PATH search done by hand (CPython's `_posixsubprocess` child,
//! daemontools' `pathexec`, a C loop) calls `execv` once per directory;
//! with [`will_fail`] only the attempt that runs sweeps, and its log line
//! lists everything swept for the exec that happens.
//!
//! Async-signal-safe: raw system calls (`faccessat2`, `fcntl`) and a stack
//! buffer for the candidate paths of a search.

use core::ffi::{c_char, c_int};

use crate::ffi::CStrPtr;
use crate::sys::{self, Errno};

/// What an exec attempt runs, as far as a cheap check can see.
#[derive(Clone, Copy)]
pub enum Exec {
    /// A path, relative to the working directory or to a directory fd.
    Path { dirfd: c_int, path: *const c_char },
    /// A name looked up in `PATH` (`execvp` and kin without a slash).
    Search {
        file: CStrPtr,
        path_var: Option<&'static [u8]>,
    },
    /// An open fd run as it is (`fexecve`, `execveat` with an empty path).
    Fd(c_int),
}

/// `PATH` when the environment has none: glibc's `confstr(_CS_PATH)`.
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// The longest `DIR/FILE` a search checks; a longer one cannot be judged,
/// and the attempt counts as one that runs.
const CANDIDATE: usize = 512;

/// The errno an attempt will fail with, when a cheap check is sure: the
/// program is missing or not executable. `None` means it runs, or that the
/// check cannot tell (those attempts log as today).
///
/// `path` is read only by the kernel; `file` is read here, so the guard
/// checks it with `sys::path_is_readable` first.
pub fn will_fail(exec: Exec) -> Option<Errno> {
    match exec {
        Exec::Path { dirfd, path } => definite(sys::access_exec(dirfd, path).err()?),
        Exec::Fd(fd) => definite(sys::fcntl_getfd(fd).err()?),
        Exec::Search { file, path_var } => {
            let name = file.bytes()?;
            if name.is_empty() {
                return Some(Errno(libc::ENOENT));
            }
            if name.contains(&b'/') {
                return will_fail(Exec::Path {
                    dirfd: libc::AT_FDCWD,
                    path: file.as_ptr(),
                });
            }
            search_fails(name, path_var.unwrap_or(DEFAULT_PATH))
        }
    }
}

/// Like glibc's `execvp`: fails only if every `PATH` entry fails, with
/// `EACCES` if any entry said so.
#[cold]
#[inline(never)]
fn search_fails(name: &[u8], path_var: &[u8]) -> Option<Errno> {
    let mut buf = [0u8; CANDIDATE];
    let mut failure = Errno(libc::ENOENT);
    for dir in path_var.split(|&b| b == b':') {
        let candidate = candidate(&mut buf, dir, name)?;
        let errno = definite(sys::access_exec(libc::AT_FDCWD, candidate).err()?)?;
        if errno.0 == libc::EACCES {
            failure = errno;
        }
    }
    Some(failure)
}

/// `DIR/NAME\0` in `buf` (an empty DIR is the working directory), or `None`
/// if it does not fit.
fn candidate(buf: &mut [u8; CANDIDATE], dir: &[u8], name: &[u8]) -> Option<*const c_char> {
    let dir = if dir.is_empty() { &b"."[..] } else { dir };
    let len = dir.len() + 1 + name.len();
    buf.get_mut(..dir.len())?.copy_from_slice(dir);
    *buf.get_mut(dir.len())? = b'/';
    buf.get_mut(dir.len() + 1..len)?.copy_from_slice(name);
    *buf.get_mut(len)? = 0;
    Some(buf.as_ptr().cast())
}

/// The errors that make an exec fail for sure; any other leaves it open.
fn definite(errno: Errno) -> Option<Errno> {
    matches!(
        errno.0,
        libc::ENOENT
            | libc::ENOTDIR
            | libc::EACCES
            | libc::ELOOP
            | libc::ENAMETOOLONG
            | libc::EBADF
            | libc::EFAULT
    )
    .then_some(errno)
}

/// The name of an errno [`will_fail`] returns, for the log.
pub fn errno_name(errno: Errno) -> &'static str {
    match errno.0 {
        libc::ENOENT => "ENOENT",
        libc::ENOTDIR => "ENOTDIR",
        libc::EACCES => "EACCES",
        libc::ELOOP => "ELOOP",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::EBADF => "EBADF",
        libc::EFAULT => "EFAULT",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_join_dir_and_name() {
        let mut buf = [0u8; CANDIDATE];
        let p = candidate(&mut buf, b"/usr/bin", b"true").unwrap();
        assert_eq!(p, buf.as_ptr().cast());
        assert_eq!(&buf[..14], b"/usr/bin/true\0");
        candidate(&mut buf, b"", b"x").unwrap();
        assert_eq!(&buf[..4], b"./x\0");
        let long = [b'a'; CANDIDATE];
        assert!(candidate(&mut buf, &long, b"x").is_none());
        // DIR, '/', NAME and the NUL fill the buffer exactly, or overflow it.
        assert!(candidate(&mut buf, &long[..CANDIDATE - 3], b"x").is_some());
        assert!(candidate(&mut buf, &long[..CANDIDATE - 2], b"x").is_none());
    }

    #[test]
    fn search_follows_path_like_execvp() {
        let dir = std::env::temp_dir().join(format!("cloexec-attempts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("plain");
        std::fs::write(&plain, "").unwrap();
        let d = dir.to_str().unwrap();
        let path = format!("/nonexistent-cloexec:{d}").into_bytes();
        let leaked: &'static [u8] = Box::leak(path.into_boxed_slice());
        let fails = |name: &'static core::ffi::CStr| {
            will_fail(Exec::Search {
                file: name.into(),
                path_var: Some(leaked),
            })
        };
        assert_eq!(fails(c"missing-cloexec"), Some(Errno(libc::ENOENT)));
        // No execute bit at all: EACCES even for root.
        assert_eq!(fails(c"plain"), Some(Errno(libc::EACCES)));
        assert_eq!(fails(c""), Some(Errno(libc::ENOENT)));
        let sh = will_fail(Exec::Search {
            file: c"sh".into(),
            path_var: None,
        });
        assert_eq!(sh, None, "sh is in /bin:/usr/bin");
        assert_eq!(fails(c"/nonexistent-cloexec/x"), Some(Errno(libc::ENOENT)));
        assert_eq!(will_fail(Exec::Fd(-1)), Some(Errno(libc::EBADF)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
