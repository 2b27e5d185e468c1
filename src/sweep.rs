//! The sweep: mark every fd outside the keep set close-on-exec.
//!
//! A ladder of three methods, each complete on its own:
//!
//! 1. [`by_close_range`]: `close_range(lo, hi, CLOSE_RANGE_CLOEXEC)` once
//!    per gap between kept ranges: k+1 system calls, whatever the number of
//!    open fds. Linux ≥ 5.11.
//! 2. [`by_proc`]: raw `getdents64` over `/proc/self/fd` into a stack
//!    buffer, then one `F_SETFD` per open fd outside the keep set.
//!    Used when `close_range` is missing or blocked.
//! 3. [`by_probing`]: `F_SETFD` on every number from 3 up to the soft
//!    `RLIMIT_NOFILE`, capped at [`PROBE_CAP`]. Used when `/proc` cannot be
//!    opened (no procfs, or no free fd: `EMFILE`).
//!
//! Async-signal-safety: every step is a raw system call on stack memory (no
//! `opendir`, which allocates; never glibc's `closefrom`, which can abort).
//! The only shared state is one atomic flag. So the sweep runs in a vfork
//! child, a fork child of a threaded program, and a signal handler.

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::keepset::KeepSet;
use crate::sys::{self, Errno};

/// The probing loop stops here even if the soft limit is higher: at
/// `nofile = 1073741816` a full loop would take minutes. fds at or above
/// this number are left as they are when neither `close_range` nor `/proc`
/// is available.
pub const PROBE_CAP: u32 = 1 << 20;

/// Set once `close_range` said it is unsupported (`ENOSYS`, old kernel;
/// `EINVAL`, no `CLOSE_RANGE_CLOEXEC`) or not allowed (`EPERM`, seccomp).
/// Sticky: the answer will not change for this process. Atomic because
/// threads may exec concurrently.
static CLOSE_RANGE_UNUSABLE: AtomicBool = AtomicBool::new(false);

/// Which rung of the ladder did the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    CloseRange,
    Proc,
    Probing,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Method::CloseRange => "close_range",
            Method::Proc => "/proc/self/fd",
            Method::Probing => "probing",
        }
    }
}

/// Marks every fd outside `keep` close-on-exec, by the best method that works.
pub fn sweep(keep: &KeepSet) -> Method {
    if !CLOSE_RANGE_UNUSABLE.load(Ordering::Relaxed) {
        match by_close_range(keep) {
            Ok(()) => return Method::CloseRange,
            Err(Errno::ENOSYS | Errno::EINVAL | Errno::EPERM) => {
                CLOSE_RANGE_UNUSABLE.store(true, Ordering::Relaxed);
            }
            // Anything else is a passing failure: fall back this time only.
            Err(_) => {}
        }
    }
    if by_proc(keep).is_ok() {
        return Method::Proc;
    }
    by_probing(keep);
    Method::Probing
}

/// Rung 1. Safe anywhere: one system call per gap, no memory.
pub fn by_close_range(keep: &KeepSet) -> Result<(), Errno> {
    keep.gaps()
        .try_for_each(|gap| sys::close_range_cloexec(gap.lo, gap.hi))
}

/// Rung 2. Safe anywhere: raw `getdents64` into a 1 KiB stack buffer.
pub fn by_proc(keep: &KeepSet) -> Result<(), Errno> {
    for_each_open_fd(|fd| {
        if !keep.contains(fd as u32) {
            // EBADF: closed meanwhile by another thread; nothing to do.
            let _ = sys::set_cloexec(fd);
        }
    })
}

/// Rung 3. Safe anywhere: `fcntl` only. Costs one system call per number
/// up to the soft limit (capped), open or not.
pub fn by_probing(keep: &KeepSet) {
    probe_below(keep, probe_end(), |fd| {
        let _ = sys::set_cloexec(fd);
    });
}

/// Calls `mark` with every number below `end` that `keep` does not hold.
fn probe_below(keep: &KeepSet, end: u32, mut mark: impl FnMut(c_int)) {
    for gap in keep.gaps() {
        if gap.lo >= end {
            break;
        }
        for fd in gap.lo..=gap.hi.min(end - 1) {
            mark(fd as c_int);
        }
    }
}

/// The fds below this number that one spawn's sweep can note with a bit
/// each (512 bytes of the hook's stack).
pub const MARK_BITS: usize = 4096;

/// How many higher fds one spawn's sweep can note. A leak beyond them is
/// left as it is for that spawn (capacities fail open), and a debug line
/// says so.
pub const MARK_SPILL: usize = 32;

/// The fds one spawn's sweep marked close-on-exec, so that they can be
/// given back as they were once the spawn returns.
pub struct Marks {
    low: [u64; MARK_BITS / 64],
    high: [c_int; MARK_SPILL],
    high_len: usize,
    /// Leaks left unmarked for want of room.
    pub unnoted: usize,
}

impl Marks {
    pub const fn new() -> Marks {
        Marks {
            low: [0; MARK_BITS / 64],
            high: [0; MARK_SPILL],
            high_len: 0,
            unnoted: 0,
        }
    }

    /// Notes `fd`; false when there is no room for it.
    fn note(&mut self, fd: c_int) -> bool {
        let Ok(n) = usize::try_from(fd) else {
            return false;
        };
        if let Some(word) = self.low.get_mut(n / 64) {
            *word |= 1 << (n % 64);
            return true;
        }
        match self.high.get_mut(self.high_len) {
            Some(slot) => {
                *slot = fd;
                self.high_len += 1;
                true
            }
            None => {
                self.unnoted += 1;
                false
            }
        }
    }

    /// Every fd noted, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = c_int> + '_ {
        let low = self.low.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            core::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some((w * 64 + b) as c_int)
            })
        });
        low.chain(self.high.iter().take(self.high_len).copied())
    }
}

impl Default for Marks {
    fn default() -> Self {
        Self::new()
    }
}

/// Marks every inheritable fd outside `keep` close-on-exec, one at a time,
/// noting each in `marks`: a spawn's child starts from the caller's own fd
/// table, and the caller must get it back as it was. The `/proc/self/fd`
/// walk, then probing to the soft limit without `/proc`; an fd with no
/// room in `marks` is left as it is. Safe anywhere: raw calls, no memory.
pub fn sweep_noting(keep: &KeepSet, marks: &mut Marks) -> Method {
    let mut mark = |fd: c_int| {
        if !keep.contains(fd as u32)
            && sys::fcntl_getfd(fd).is_ok_and(|f| f & libc::FD_CLOEXEC == 0)
            && marks.note(fd)
        {
            let _ = sys::set_cloexec(fd);
        }
    };
    if for_each_open_fd(&mut mark).is_ok() {
        return Method::Proc;
    }
    let end = probe_end();
    for gap in keep.gaps().take_while(|g| g.lo < end) {
        (gap.lo..=gap.hi.min(end - 1)).for_each(|fd| mark(fd as c_int));
    }
    Method::Probing
}

/// Clears close-on-exec again on every fd in `marks` that still has it.
pub fn unmark(marks: &Marks) {
    for fd in marks.iter() {
        if sys::fcntl_getfd(fd).is_ok_and(|f| f & libc::FD_CLOEXEC != 0) {
            let _ = sys::fcntl_setfd(fd, 0);
        }
    }
}

/// One past the last fd the probing rung tries: the soft `RLIMIT_NOFILE`,
/// at most [`PROBE_CAP`].
fn probe_end() -> u32 {
    probe_end_at(sys::nofile_soft_limit().unwrap_or(u64::from(PROBE_CAP)))
}

/// [`probe_end`] for a soft limit of `limit`.
fn probe_end_at(limit: u64) -> u32 {
    limit.min(u64::from(PROBE_CAP)) as u32
}

/// The `getdents64` buffer: small, because the exec path may run on an
/// 8 KiB alternate signal stack; each record of an fd is about 24 bytes.
const DIRENT_BUFFER: usize = 1024;

/// Calls `f` with every open fd of this process (not the directory fd
/// used to list them), via `/proc/self/fd`.
#[inline(never)]
pub fn for_each_open_fd(mut f: impl FnMut(c_int)) -> Result<(), Errno> {
    let dir = sys::open_dir(c"/proc/self/fd")?;
    let mut buf = [0u8; DIRENT_BUFFER];
    let result = loop {
        match sys::getdents64(dir, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                for fd in DirFds::new(buf.get(..n).unwrap_or(&[])) {
                    if fd != dir {
                        f(fd);
                    }
                }
            }
            Err(e) => break Err(e),
        }
    };
    let _ = sys::close(dir);
    result
}

/// The fd numbers named by a buffer of `linux_dirent64` records; `.`, `..`
/// and anything that is not a number are skipped.
struct DirFds<'a> {
    buf: &'a [u8],
}

impl<'a> DirFds<'a> {
    /// Offsets in `struct linux_dirent64`: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
    const RECLEN_AT: usize = 16;
    const NAME_AT: usize = 19;

    fn new(buf: &'a [u8]) -> Self {
        DirFds { buf }
    }
}

impl Iterator for DirFds<'_> {
    type Item = c_int;

    fn next(&mut self) -> Option<c_int> {
        loop {
            let reclen_bytes = self.buf.get(Self::RECLEN_AT..Self::RECLEN_AT + 2)?;
            let reclen = usize::from(u16::from_ne_bytes([
                *reclen_bytes.first()?,
                *reclen_bytes.get(1)?,
            ]));
            if reclen < Self::NAME_AT {
                return None;
            }
            let record = self.buf.get(..reclen)?;
            self.buf = self.buf.get(reclen..).unwrap_or(&[]);
            let name = record.get(Self::NAME_AT..)?;
            let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
            if let Some(fd) = crate::numbers::parse_fd(name) {
                return Some(fd as c_int);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &[u8]) -> Vec<u8> {
        let reclen = (DirFds::NAME_AT + name.len() + 1).next_multiple_of(8);
        let mut r = vec![0u8; reclen];
        r[DirFds::RECLEN_AT..DirFds::RECLEN_AT + 2].copy_from_slice(&(reclen as u16).to_ne_bytes());
        r[DirFds::NAME_AT..DirFds::NAME_AT + name.len()].copy_from_slice(name);
        r
    }

    #[test]
    fn parses_dirent_records() {
        let buf: Vec<u8> = [&b"."[..], b"..", b"0", b"17", b"x", b"123456"]
            .iter()
            .flat_map(|n| record(n))
            .collect();
        assert_eq!(DirFds::new(&buf).collect::<Vec<_>>(), [0, 17, 123456]);
    }

    #[test]
    fn truncated_buffers_stop_cleanly() {
        let buf = record(b"42");
        for cut in 0..buf.len() {
            let _ = DirFds::new(&buf[..cut]).count();
        }
        let mut bad = record(b"5");
        bad[DirFds::RECLEN_AT] = 3;
        assert_eq!(DirFds::new(&bad).count(), 0);
    }

    // The three rungs against the real fd table of this test process: each
    // must mark a leaked fd and leave a kept one alone.
    fn check_rung(rung: impl Fn(&KeepSet)) {
        let fds: Vec<c_int> = (0..3)
            .map(|_| {
                use std::os::fd::IntoRawFd;
                let fd = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
                // std opens close-on-exec; a leak has no such flag.
                sys::fcntl_setfd(fd, 0).unwrap();
                fd
            })
            .collect();
        let [leak, kept, leak2] = fds[..] else {
            panic!()
        };
        let mut keep = KeepSet::with_stdio();
        keep.insert(kept as u32);
        // Leave everything else the test harness has open alone.
        for_each_open_fd(|fd| {
            if !fds.contains(&fd) {
                keep.insert(fd as u32);
            }
        })
        .unwrap();
        rung(&keep);
        let cloexec = |fd| sys::fcntl_getfd(fd).unwrap() & libc::FD_CLOEXEC != 0;
        assert!(cloexec(leak) && cloexec(leak2), "leaks marked");
        assert!(!cloexec(kept), "kept fd untouched");
        for fd in fds {
            sys::close(fd).unwrap();
        }
    }

    #[test]
    fn each_rung_is_complete() {
        check_rung(|k| by_close_range(k).unwrap());
        check_rung(|k| by_proc(k).unwrap());
        check_rung(by_probing);
        check_rung(|k| {
            sweep(k);
        });
    }

    #[test]
    fn probing_ends_at_the_soft_limit_capped() {
        assert_eq!(probe_end_at(64), 64);
        assert_eq!(probe_end_at(u64::from(PROBE_CAP) - 1), PROBE_CAP - 1);
        assert_eq!(probe_end_at(u64::from(PROBE_CAP)), PROBE_CAP);
        assert_eq!(probe_end_at(u64::from(PROBE_CAP) + 1), PROBE_CAP);
        // RLIM_INFINITY, and a container's nofile = 1073741816.
        assert_eq!(probe_end_at(u64::MAX), PROBE_CAP);
        assert_eq!(probe_end_at(1_073_741_816), PROBE_CAP);
    }

    #[test]
    fn probing_marks_every_number_outside_the_keep_set_below_its_end() {
        let probed = |keep: &KeepSet, end: u32| {
            let mut fds = Vec::new();
            probe_below(keep, end, |fd| fds.push(fd));
            fds
        };
        let mut keep = KeepSet::with_stdio();
        keep.insert(10);
        let below_64: Vec<c_int> = (3..64).filter(|&fd| fd != 10).collect();
        assert_eq!(probed(&keep, 64), below_64, "up to end - 1, not past it");
        keep.insert(63);
        assert_eq!(probed(&keep, 64), below_64[..below_64.len() - 1]);
        keep.insert(70);
        assert_eq!(
            probed(&keep, 72),
            [
                (3..10).collect::<Vec<_>>(),
                (11..63).collect(),
                (64..70).collect(),
                vec![71]
            ]
            .concat()
        );
        assert!(probed(&keep, 3).is_empty() && probed(&keep, 0).is_empty());
    }
}
