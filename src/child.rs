//! What a fork child did with its fds between its fork and its exec: the
//! evidence for K11 (it curated its table), K12 (it took a pipe as its own
//! channel) and K13 (it made the fd itself).
//!
//! "After the fork" is seen by a `pthread_atfork` child handler
//! ([`on_fork_child`]), which glibc and musl run in the child of every
//! `fork()` (not of `vfork()`, `clone()` or `posix_spawn`). It empties the
//! tables and sets [`WATCH`]; from then on the creation hooks (`open`,
//! `pipe`, `socket`, `accept`, `dup`, …) and the close hooks (`close`,
//! `close_range`, `closefrom`) report here. In every other process [`WATCH`]
//! is zero and those hooks cost one compare before the real call. What a
//! fork costs: the handler's few stores, plus one word per 64 fds the
//! parent's own fork child tables had used (zero in a process that is not
//! itself a fork child).
//!
//! A vfork child runs no handler, and it shares its parent's memory: the
//! library does not see its opens and closes as a child's (K4 still sees
//! its `dup2`s). Where a vfork child of a fork child reports here, its acts
//! land in that fork child's tables: at worst the fork child keeps more.
//!
//! Lock-free statics of atomics, written by raw system calls' results only:
//! safe in a fork child of a threaded program and in a signal handler.

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::numbers::MAX_FD;
use crate::sys::{self, FileId, OpenFile};

/// Non-zero while the hooks must report creations and closes: bit 0 in a
/// fork child. The naked trampolines of `open` and `openat` test this byte.
pub static WATCH: AtomicU8 = AtomicU8::new(0);

/// The [`WATCH`] bit of a fork child.
pub const IN_FORK_CHILD: u8 = 1;

/// The `pthread_atfork` child handler: a new fork child starts with empty
/// tables. Async-signal-safe (atomic stores only), as a handler that runs
/// in the child of a threaded program must be.
pub extern "C" fn on_fork_child() {
    CURATED.store(false, Ordering::Relaxed);
    MADE.clear();
    CLOSED.clear();
    WATCH.fetch_or(IN_FORK_CHILD, Ordering::Release);
}

/// Whether this process is a fork child that has not exec'd.
pub fn in_fork_child() -> bool {
    WATCH.load(Ordering::Relaxed) & IN_FORK_CHILD != 0
}

/// K11: the child closed fds it was not going to pass on.
static CURATED: AtomicBool = AtomicBool::new(false);

/// K11: whether this fork child curated its table.
pub fn curated() -> bool {
    in_fork_child() && CURATED.load(Ordering::Relaxed)
}

/// Reports that the fork child calls `close_range` or `closefrom`: it
/// closes (or marks) every fd of a range, so it has chosen what stays.
pub fn closing_range() {
    if in_fork_child() {
        CURATED.store(true, Ordering::Relaxed);
    }
}

/// Reports that the fork child is about to `close(fd)` (the hook calls this
/// before the real call, while the fd still says what it is).
///
/// - A pipe end: K12 remembers it, so the other end is the child's own.
/// - Any other fd that is already close-on-exec and that the child did not
///   make itself: the child is closing what would have closed anyway, as a
///   child that walks its fd table closing everything it does not pass on
///   does (K11). Sockets do not count: a careless child closes its
///   parent's end of a socketpair much as it closes a pipe's.
pub fn closing(fd: c_int) {
    if !in_fork_child() || CURATED.load(Ordering::Relaxed) {
        return;
    }
    let Ok(info) = sys::fstat_open_file(fd) else {
        return;
    };
    if info.is_pipe() {
        if let Ok(flags) = sys::fcntl_getfl(fd) {
            CLOSED.add(info.id, access(flags));
        }
        return;
    }
    if info.is_socket() || MADE.contains(fd) {
        return;
    }
    if sys::fcntl_getfd(fd).is_ok_and(|f| f & libc::FD_CLOEXEC != 0) {
        CURATED.store(true, Ordering::Relaxed);
    }
}

/// Reports an fd the fork child created (K13), whatever its flags: made
/// after the fork, it is something the child set up.
pub fn made(fd: c_int) {
    if in_fork_child() {
        MADE.insert(fd);
    }
}

/// K13: every fd the fork child made, and the range kept whole when one
/// was made beyond the table.
pub fn made_fds() -> impl Iterator<Item = u32> {
    let live = in_fork_child();
    MADE.iter().filter(move |_| live)
}

/// K13's fail-open range: fds from [`MADE_CAPACITY`] up, once the child
/// made one there.
pub fn made_beyond() -> Option<(u32, u32)> {
    (in_fork_child() && MADE.beyond.load(Ordering::Relaxed))
        .then_some((MADE_CAPACITY as u32, MAX_FD))
}

/// K12: whether the fork child closed any pipe end (only then is its fd
/// table worth walking at exec).
pub fn closed_pipe_ends() -> bool {
    in_fork_child() && CLOSED.len.load(Ordering::Relaxed) > 0
}

/// K12: whether the pipe end `info`, open with `flags` (`F_GETFL`), is the
/// other end of one the child closed: same pipe, other direction. When the
/// table overflowed, every pipe end counts (capacities fail open).
pub fn is_own_channel(info: &OpenFile, flags: c_int) -> bool {
    info.is_pipe()
        && (CLOSED.full.load(Ordering::Relaxed) || CLOSED.other_end(info.id, access(flags)))
}

/// The direction of an open pipe end, `O_RDONLY`, `O_WRONLY` or `O_RDWR`
/// (a FIFO may be open both ways), stored plus one so that 0 is empty.
fn access(flags: c_int) -> u32 {
    (flags & libc::O_ACCMODE) as u32 + 1
}

/// fds below this number are recorded one bit each (8 KiB); one made at or
/// above it keeps every fd from it up.
pub const MADE_CAPACITY: usize = 65536;

const MADE_WORDS: usize = MADE_CAPACITY / 64;

/// The fds made in this fork child.
struct Made {
    bits: [AtomicU64; MADE_WORDS],
    /// One past the highest word used: what a new fork child clears.
    end: AtomicUsize,
    beyond: AtomicBool,
}

static MADE: Made = Made {
    bits: [const { AtomicU64::new(0) }; MADE_WORDS],
    end: AtomicUsize::new(0),
    beyond: AtomicBool::new(false),
};

impl Made {
    fn clear(&self) {
        let end = self.end.swap(0, Ordering::Relaxed).min(MADE_WORDS);
        for word in self.bits.iter().take(end) {
            word.store(0, Ordering::Relaxed);
        }
        self.beyond.store(false, Ordering::Relaxed);
    }

    fn insert(&self, fd: c_int) {
        let Ok(fd) = usize::try_from(fd) else { return };
        match self.bits.get(fd / 64) {
            Some(word) => {
                word.fetch_or(1 << (fd % 64), Ordering::Relaxed);
                self.end.fetch_max(fd / 64 + 1, Ordering::Relaxed);
            }
            None => self.beyond.store(true, Ordering::Relaxed),
        }
    }

    fn contains(&self, fd: c_int) -> bool {
        let Ok(fd) = usize::try_from(fd) else {
            return false;
        };
        match self.bits.get(fd / 64) {
            Some(word) => word.load(Ordering::Relaxed) & 1 << (fd % 64) != 0,
            None => self.beyond.load(Ordering::Relaxed),
        }
    }

    fn iter(&'static self) -> impl Iterator<Item = u32> {
        let end = self.end.load(Ordering::Relaxed).min(MADE_WORDS);
        self.bits
            .iter()
            .take(end)
            .enumerate()
            .flat_map(|(w, word)| {
                let mut bits = word.load(Ordering::Relaxed);
                core::iter::from_fn(move || {
                    if bits == 0 {
                        return None;
                    }
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    Some(w as u32 * 64 + b)
                })
            })
    }
}

/// How many closed pipe ends K12 remembers; past them, every pipe end
/// left open is kept.
pub const CLOSED_CAPACITY: usize = 32;

struct ClosedEnd {
    dev: AtomicU64,
    ino: AtomicU64,
    access: AtomicU32,
}

/// The pipe ends the fork child closed.
struct Closed {
    ends: [ClosedEnd; CLOSED_CAPACITY],
    len: AtomicUsize,
    full: AtomicBool,
}

static CLOSED: Closed = Closed {
    ends: [const {
        ClosedEnd {
            dev: AtomicU64::new(0),
            ino: AtomicU64::new(0),
            access: AtomicU32::new(0),
        }
    }; CLOSED_CAPACITY],
    len: AtomicUsize::new(0),
    full: AtomicBool::new(false),
};

impl Closed {
    fn clear(&self) {
        self.len.store(0, Ordering::Relaxed);
        self.full.store(false, Ordering::Relaxed);
    }

    fn recorded(&self) -> impl Iterator<Item = &ClosedEnd> {
        self.ends.iter().take(self.len.load(Ordering::Acquire))
    }

    fn add(&self, id: FileId, access: u32) {
        let seen = self.recorded().any(|e| {
            e.dev.load(Ordering::Relaxed) == id.dev
                && e.ino.load(Ordering::Relaxed) == id.ino
                && e.access.load(Ordering::Relaxed) == access
        });
        if seen {
            return;
        }
        let n = self.len.load(Ordering::Relaxed);
        let Some(slot) = self.ends.get(n) else {
            self.full.store(true, Ordering::Relaxed);
            return;
        };
        slot.dev.store(id.dev, Ordering::Relaxed);
        slot.ino.store(id.ino, Ordering::Relaxed);
        slot.access.store(access, Ordering::Relaxed);
        self.len.store(n + 1, Ordering::Release);
    }

    fn other_end(&self, id: FileId, access: u32) -> bool {
        self.recorded().any(|e| {
            e.dev.load(Ordering::Relaxed) == id.dev
                && e.ino.load(Ordering::Relaxed) == id.ino
                && e.access.load(Ordering::Relaxed) != access
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe_info(ino: u64) -> OpenFile {
        OpenFile {
            id: FileId { dev: 9, ino },
            kind: libc::S_IFIFO,
        }
    }

    // The tables are process-wide statics: one test drives them all.
    #[test]
    fn a_fork_child_starts_empty_and_records_until_its_exec() {
        assert!(!in_fork_child());
        made(5);
        assert_eq!(made_fds().count(), 0, "a parent records nothing");
        on_fork_child();
        assert!(in_fork_child() && !curated());
        made(3);
        made(700);
        made(MADE_CAPACITY as c_int - 1);
        assert_eq!(
            made_fds().collect::<Vec<_>>(),
            [3, 700, MADE_CAPACITY as u32 - 1]
        );
        assert_eq!(made_beyond(), None);
        made(MADE_CAPACITY as c_int);
        assert_eq!(made_beyond(), Some((MADE_CAPACITY as u32, MAX_FD)));
        assert!(MADE.contains(700) && !MADE.contains(701));

        CLOSED.add(FileId { dev: 9, ino: 1 }, access(libc::O_RDONLY));
        assert!(
            is_own_channel(&pipe_info(1), libc::O_WRONLY),
            "the other end"
        );
        assert!(
            !is_own_channel(&pipe_info(1), libc::O_RDONLY),
            "the same end"
        );
        assert!(
            !is_own_channel(&pipe_info(2), libc::O_WRONLY),
            "another pipe"
        );
        let file = OpenFile {
            id: FileId { dev: 9, ino: 1 },
            kind: libc::S_IFREG,
        };
        assert!(!is_own_channel(&file, libc::O_WRONLY), "not a pipe");

        closing_range();
        assert!(curated());

        // A grandchild starts empty again.
        on_fork_child();
        assert!(!curated());
        assert_eq!(made_fds().count(), 0);
        assert_eq!(made_beyond(), None);
        assert!(!closed_pipe_ends());
        for ino in 0..CLOSED_CAPACITY as u64 + 1 {
            CLOSED.add(FileId { dev: 9, ino }, access(libc::O_WRONLY));
        }
        assert!(
            is_own_channel(&pipe_info(999), libc::O_RDONLY),
            "a full table keeps every pipe end"
        );
        WATCH.store(0, Ordering::Relaxed);
    }
}
