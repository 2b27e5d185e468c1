//! Exec attempts that will fail, and the fds swept for them.
//!
//! A PATH search done by hand (CPython's `_posixsubprocess` child,
//! daemontools' `pathexec`, a C loop) calls `execv` once per directory. The
//! first attempt's sweep marks the leaks, so the attempt that runs finds
//! nothing left to sweep. To log one line per exec that happens, listing
//! everything swept for it, the guard asks [`will_fail`] before it writes a
//! line (a failing attempt logs at debug) and carries the fds a failing
//! attempt swept to the next attempt of the same thread and argv
//! ([`note_failed`], [`take_carried`]).
//!
//! Async-signal-safe, and safe in a vfork child whose writes land in the
//! parent's memory: raw system calls only, one static record of atomics
//! claimed with a compare-exchange that nobody ever waits for (a claim held
//! elsewhere, by a concurrent thread or the code a signal interrupted, makes
//! this attempt carry nothing), a fixed capacity, and every record tagged
//! with the pid and tid that wrote it: only that same thread of that same
//! process ever reads it back. A carried fd is reported only while it is
//! still open on the same file (device, inode) and still close-on-exec.

use core::ffi::{c_char, c_int};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

use crate::ffi::CStrPtr;
use crate::sys::{self, Errno, FileId};

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
        _ => "error",
    }
}

/// Who made an attempt: the thread (pid and tid, as a vfork child has its
/// own) and a digest of the argv it passed. A PATH search passes the same
/// argv to every attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    thread: u64,
    argv: u64,
}

impl Attempt {
    /// The calling thread's attempt with this argv.
    pub fn current<'a>(argv: impl Iterator<Item = &'a [u8]>) -> Attempt {
        let thread = u64::from(sys::getpid()) << 32 | u64::from(sys::gettid());
        Attempt {
            thread,
            argv: argv_digest(argv),
        }
    }
}

/// FNV-1a over the arguments, each followed by a NUL.
fn argv_digest<'a>(argv: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for arg in argv {
        for &b in arg.iter().chain(&[0u8]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The fds a record carries. Beyond this, a failed attempt's further fds
/// are not carried (the debug line of that attempt counts them; the line
/// of the exec that runs omits them). Its log line lists as many.
pub const CARRIED_CAPACITY: usize = 64;

/// The fds swept for failed attempts of one thread, not yet reported.
pub struct Carried {
    claimed: AtomicBool,
    /// `Attempt::thread` of the writer; 0 when empty.
    thread: AtomicU64,
    argv: AtomicU64,
    len: AtomicUsize,
    fds: [AtomicI32; CARRIED_CAPACITY],
    devs: [AtomicU64; CARRIED_CAPACITY],
    inos: [AtomicU64; CARRIED_CAPACITY],
}

impl Carried {
    pub const fn new() -> Carried {
        Carried {
            claimed: AtomicBool::new(false),
            thread: AtomicU64::new(0),
            argv: AtomicU64::new(0),
            len: AtomicUsize::new(0),
            fds: [const { AtomicI32::new(0) }; CARRIED_CAPACITY],
            devs: [const { AtomicU64::new(0) }; CARRIED_CAPACITY],
            inos: [const { AtomicU64::new(0) }; CARRIED_CAPACITY],
        }
    }

    /// Runs `f` with the record claimed, or not at all if it is claimed
    /// already (never waits: the holder may be the code a signal handler
    /// interrupted, or a vfork child's parent thread).
    fn claimed<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        self.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        let r = f();
        self.claimed.store(false, Ordering::Release);
        Some(r)
    }

    fn is_for(&self, who: Attempt) -> bool {
        self.thread.load(Ordering::Relaxed) == who.thread
            && self.argv.load(Ordering::Relaxed) == who.argv
    }

    fn clear(&self) {
        self.len.store(0, Ordering::Relaxed);
        self.thread.store(0, Ordering::Relaxed);
    }

    /// Adds the fds a failing attempt swept. A record of another thread or
    /// argv is dropped first (a vfork child's leftovers, a stale attempt).
    pub fn note(&self, who: Attempt, swept: impl Iterator<Item = (c_int, FileId)>) {
        self.claimed(|| {
            if !self.is_for(who) {
                self.clear();
                self.thread.store(who.thread, Ordering::Relaxed);
                self.argv.store(who.argv, Ordering::Relaxed);
            }
            let mut len = self.len.load(Ordering::Relaxed);
            for (fd, id) in swept {
                let (Some(f), Some(d), Some(i)) =
                    (self.fds.get(len), self.devs.get(len), self.inos.get(len))
                else {
                    break;
                };
                f.store(fd, Ordering::Relaxed);
                d.store(id.dev, Ordering::Relaxed);
                i.store(id.ino, Ordering::Relaxed);
                len += 1;
            }
            self.len.store(len, Ordering::Relaxed);
        });
    }

    /// Hands `found` each fd carried for this attempt, then empties the
    /// record. A record of another thread or argv is left alone and
    /// reports nothing.
    pub fn take(&self, who: Attempt, found: &mut dyn FnMut(c_int, FileId)) {
        self.claimed(|| {
            if !self.is_for(who) {
                return;
            }
            let len = self.len.load(Ordering::Relaxed).min(CARRIED_CAPACITY);
            for ((f, d), i) in self.fds.iter().zip(&self.devs).zip(&self.inos).take(len) {
                let id = FileId {
                    dev: d.load(Ordering::Relaxed),
                    ino: i.load(Ordering::Relaxed),
                };
                found(f.load(Ordering::Relaxed), id);
            }
            self.clear();
        });
    }
}

impl Default for Carried {
    fn default() -> Self {
        Self::new()
    }
}

static CARRIED: Carried = Carried::new();

/// Records the fds a failing attempt swept (with what each was), for the
/// attempt of the same thread and argv that runs.
pub fn note_failed(who: Attempt, swept: impl Iterator<Item = (c_int, FileId)>) {
    CARRIED.note(who, swept);
}

/// Hands `found` each fd swept for earlier failed attempts of `who` that is
/// still open on the same file and still close-on-exec, and empties the
/// record.
pub fn take_carried(who: Attempt, found: &mut dyn FnMut(c_int)) {
    CARRIED.take(who, &mut |fd, id| {
        if sys::fstat_id(fd) == Ok(id)
            && sys::fcntl_getfd(fd).is_ok_and(|f| f & libc::FD_CLOEXEC != 0)
        {
            found(fd);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(thread: u64, argv: u64) -> Attempt {
        Attempt { thread, argv }
    }

    fn taken(c: &Carried, w: Attempt) -> Vec<(c_int, FileId)> {
        let mut out = Vec::new();
        c.take(w, &mut |fd, id| out.push((fd, id)));
        out
    }

    const A: FileId = FileId { dev: 1, ino: 2 };
    const B: FileId = FileId { dev: 1, ino: 3 };

    #[test]
    fn failed_attempts_accumulate_and_are_taken_once() {
        let c = Carried::new();
        let me = who(7 << 32 | 7, 42);
        c.note(me, [(3, A)].into_iter());
        c.note(me, [(4, B)].into_iter());
        assert_eq!(taken(&c, me), [(3, A), (4, B)]);
        assert_eq!(taken(&c, me), [], "reset when consumed");
    }

    #[test]
    fn another_thread_or_argv_never_sees_the_record() {
        let c = Carried::new();
        let child = who(9 << 32 | 9, 42);
        let parent = who(7 << 32 | 7, 42);
        c.note(child, [(3, A)].into_iter());
        assert_eq!(taken(&c, parent), [], "a vfork child's record");
        assert_eq!(taken(&c, who(9 << 32 | 9, 43)), [], "another argv");
        // The parent's own failed attempt replaces the child's leftovers.
        c.note(parent, [(5, B)].into_iter());
        assert_eq!(taken(&c, parent), [(5, B)]);
        assert_eq!(taken(&c, child), []);
    }

    #[test]
    fn capacity_bounds_the_record() {
        let c = Carried::new();
        let me = who(1, 1);
        c.note(me, (0..100).map(|fd| (fd, A)));
        c.note(me, [(500, B)].into_iter());
        let got = taken(&c, me);
        assert_eq!(got.len(), CARRIED_CAPACITY);
        assert_eq!(got.last(), Some(&(CARRIED_CAPACITY as c_int - 1, A)));
    }

    #[test]
    fn a_held_claim_makes_the_attempt_carry_nothing() {
        let c = Carried::new();
        let me = who(1, 1);
        c.claimed.store(true, Ordering::Relaxed);
        c.note(me, [(3, A)].into_iter());
        c.claimed.store(false, Ordering::Relaxed);
        assert_eq!(taken(&c, me), []);
    }

    #[test]
    fn argv_digest_tells_argvs_apart() {
        let d = |v: &[&[u8]]| argv_digest(v.iter().copied());
        assert_eq!(d(&[b"true", b"-x"]), d(&[b"true", b"-x"]));
        assert_ne!(d(&[b"true", b"-x"]), d(&[b"true-", b"x"]));
        assert_ne!(d(&[b"true"]), d(&[b"true", b""]));
    }

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
