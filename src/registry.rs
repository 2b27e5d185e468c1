//! What the process did with its descriptors, in lock-free static memory:
//! the fds it inherited at load (K3), the fds it made inheritable on
//! purpose (K4), and the fds it holds a lock through (K9).
//!
//! Every record carries the identity (`st_dev`, `st_ino`) of the open file,
//! and a record counts at exec only while the fd still refers to that file.
//! That is what makes a reused fd number lose its keep status, and what
//! keeps a record written by a vfork child (it lands in the parent's memory)
//! from ever making the parent keep a different file.
//!
//! Memory is plain atomics: no locks, no allocation, safe in a vfork child,
//! a fork child of a threaded program, and a signal handler. A fork child
//! inherits a copy, so intent recorded before `fork` holds in the child for
//! the same open file.

use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::sys::{self, Errno, FileId};

/// The snapshot covers fds below this number: one `ppoll` over them (no
/// `/proc`), about 12 ns a number, paid by every process at start. Chosen by
/// measurement (`make bench`): 1024 cost 17 µs a process start, 256 about
/// 4 µs. An fd inherited at or above it is not recorded, so it is swept
/// unless another rule (K2, K4–K6) keeps it. Shells hand out 3–255 (bash
/// `exec {fd}>` starts at 10, `<(…)` counts down from 63).
pub const SNAPSHOT_WINDOW: usize = 256;

/// Room for every fd the snapshot can see.
pub const INHERITED_CAPACITY: usize = SNAPSHOT_WINDOW;

/// Intent is recorded for fds below this number only. Intent on a higher fd
/// is not recorded, so that fd is swept (fail closed: a leak is what this
/// library exists to stop); a debug line says so. 65536 fds cost 1 MiB of
/// zero-filled `.bss`, touched only where used.
pub const INTENT_CAPACITY: usize = 65536;

struct Record {
    dev: AtomicU64,
    ino: AtomicU64,
}

impl Record {
    const fn empty() -> Record {
        Record {
            dev: AtomicU64::new(0),
            ino: AtomicU64::new(0),
        }
    }

    fn store(&self, id: FileId) {
        self.dev.store(id.dev, Ordering::Relaxed);
        self.ino.store(id.ino, Ordering::Relaxed);
    }

    fn load(&self) -> FileId {
        FileId {
            dev: self.dev.load(Ordering::Relaxed),
            ino: self.ino.load(Ordering::Relaxed),
        }
    }
}

/// One fd open at load, and what it was. Kept together so that a process
/// with a few inherited fds writes one page of this table, not two.
struct Inherited {
    fd: AtomicU32,
    id: Record,
}

/// The snapshot, its length first: a process with a few inherited fds
/// writes one page of it (each first write to a page of `.bss` costs a page
/// fault, and this happens in every process start).
struct Snapshot {
    len: AtomicUsize,
    entries: [Inherited; INHERITED_CAPACITY],
}

static SNAPSHOT: Snapshot = Snapshot {
    len: AtomicUsize::new(0),
    entries: [const {
        Inherited {
            fd: AtomicU32::new(0),
            id: Record::empty(),
        }
    }; INHERITED_CAPACITY],
};

/// Records one fd open at load. Called only from the constructor.
/// Returns false when the snapshot is full.
pub fn add_inherited(fd: c_int, id: FileId) -> bool {
    let n = SNAPSHOT.len.load(Ordering::Relaxed);
    let Some(slot) = SNAPSHOT.entries.get(n) else {
        return false;
    };
    slot.fd.store(fd as u32, Ordering::Relaxed);
    slot.id.store(id);
    SNAPSHOT.len.store(n + 1, Ordering::Release);
    true
}

/// Every fd recorded at load, with its identity then.
pub fn inherited() -> impl Iterator<Item = (c_int, FileId)> {
    let n = SNAPSHOT.len.load(Ordering::Acquire);
    SNAPSHOT
        .entries
        .iter()
        .take(n)
        .map(|slot| (slot.fd.load(Ordering::Relaxed) as c_int, slot.id.load()))
}

/// K3: records every fd below [`SNAPSHOT_WINDOW`] (and the soft
/// `RLIMIT_NOFILE`) open now, with its identity: one `ppoll` to find them,
/// one `fstat` each. Called only from the constructor.
pub fn snapshot_inherited() {
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; SNAPSHOT_WINDOW];
    for (slot, fd) in fds.iter_mut().zip(0..) {
        slot.fd = fd;
    }
    let mut window = fds.get_mut(3..).unwrap_or(&mut []);
    // ppoll refuses more entries than the soft RLIMIT_NOFILE (EINVAL); only
    // then is the limit worth a system call of its own.
    if sys::poll_now(window) == Err(Errno::EINVAL) {
        let limit = sys::nofile_soft_limit().map_or(0, |n| n.min(SNAPSHOT_WINDOW as u64) as usize);
        window = window.get_mut(..limit.saturating_sub(3)).unwrap_or(&mut []);
        if sys::poll_now(window).is_err() {
            return;
        }
    }
    for slot in window.iter().filter(|s| s.revents & libc::POLLNVAL == 0) {
        if let Ok(id) = sys::fstat_id(slot.fd) {
            add_inherited(slot.fd, id);
        }
    }
}

/// Locks are recorded for fds below this number, as intent is.
pub const LOCK_CAPACITY: usize = INTENT_CAPACITY;

const WORDS: usize = INTENT_CAPACITY / 64;

/// A set of fds, each with the identity of the open file it was recorded
/// for: a bit per fd (what the exec path scans) and a [`Record`] per fd.
struct FdRecords {
    bits: [AtomicU64; WORDS],
    ids: [Record; INTENT_CAPACITY],
    /// One past the highest fd ever recorded: bounds the scan at exec.
    end: AtomicU32,
}

impl FdRecords {
    const fn new() -> Self {
        FdRecords {
            bits: [const { AtomicU64::new(0) }; WORDS],
            ids: [const { Record::empty() }; INTENT_CAPACITY],
            end: AtomicU32::new(0),
        }
    }

    fn bit(&self, fd: c_int) -> Option<(&AtomicU64, u64)> {
        let fd = usize::try_from(fd).ok()?;
        Some((self.bits.get(fd / 64)?, 1u64 << (fd % 64)))
    }

    /// The identity is stored before the bit is published, so a reader
    /// that sees the bit sees this identity or a later one.
    fn record(&self, fd: c_int, id: FileId) -> bool {
        let (Some((word, mask)), Some(record)) = (
            self.bit(fd),
            usize::try_from(fd).ok().and_then(|i| self.ids.get(i)),
        ) else {
            return false;
        };
        record.store(id);
        word.fetch_or(mask, Ordering::Release);
        self.end.fetch_max(fd as u32 + 1, Ordering::Relaxed);
        true
    }

    fn clear(&self, fd: c_int) {
        if let Some((word, mask)) = self.bit(fd) {
            word.fetch_and(!mask, Ordering::Relaxed);
        }
    }

    fn iter(&'static self) -> impl Iterator<Item = (c_int, FileId)> {
        let end = self.end.load(Ordering::Relaxed) as usize;
        let words = end.div_ceil(64).min(WORDS);
        self.bits
            .iter()
            .take(words)
            .enumerate()
            .flat_map(|(w, word)| SetBits(word.load(Ordering::Acquire)).map(move |b| w * 64 + b))
            .filter_map(|fd| self.ids.get(fd).map(|r| (fd as c_int, r.load())))
    }
}

static INTENTS: FdRecords = FdRecords::new();
static LOCKS: FdRecords = FdRecords::new();

/// Records that the process made `fd` inheritable on purpose, while it is
/// the file `id`. Returns false if `fd` is beyond [`INTENT_CAPACITY`].
pub fn record_intent(fd: c_int, id: FileId) -> bool {
    INTENTS.record(fd, id)
}

/// Drops intent for `fd`: the latest act set close-on-exec again.
pub fn clear_intent(fd: c_int) {
    INTENTS.clear(fd);
}

/// Every fd with recorded intent, with the identity it was recorded for.
pub fn intents() -> impl Iterator<Item = (c_int, FileId)> {
    INTENTS.iter()
}

/// Records that the process took a lock through `fd` while it is the file
/// `id`. Returns false if `fd` is beyond [`LOCK_CAPACITY`].
pub fn record_lock(fd: c_int, id: FileId) -> bool {
    LOCKS.record(fd, id)
}

/// Drops the lock record for `fd`: the process unlocked through it.
pub fn clear_lock(fd: c_int) {
    LOCKS.clear(fd);
}

/// Every fd with a recorded lock, with the identity it was recorded for.
pub fn locks() -> impl Iterator<Item = (c_int, FileId)> {
    LOCKS.iter()
}

/// The positions of the set bits of a word, lowest first.
struct SetBits(u64);

impl Iterator for SetBits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let b = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The tables are process-wide statics, so one test drives them all.
    #[test]
    fn records_clear_and_bounds() {
        let a = FileId { dev: 1, ino: 2 };
        let b = FileId { dev: 1, ino: 3 };
        assert!(record_intent(5, a));
        assert!(record_intent(700, b));
        assert!(record_intent(63, a));
        assert!(record_intent(64, b));
        assert!(!record_intent(INTENT_CAPACITY as c_int, a));
        assert!(!record_intent(-1, a));
        let all: Vec<_> = intents().collect();
        assert_eq!(all, [(5, a), (63, a), (64, b), (700, b)]);
        clear_intent(700);
        clear_intent(5);
        assert!(record_intent(64, a), "the latest record wins");
        assert_eq!(intents().collect::<Vec<_>>(), [(63, a), (64, a)]);

        assert!(add_inherited(10, a));
        assert!(add_inherited(251, b));
        assert_eq!(inherited().collect::<Vec<_>>(), [(10, a), (251, b)]);
        for i in 2..INHERITED_CAPACITY {
            assert!(add_inherited(i as c_int + 1000, a));
        }
        assert!(!add_inherited(99, a), "full");
        assert_eq!(inherited().count(), INHERITED_CAPACITY);
    }

    #[test]
    fn lock_records_are_their_own_table() {
        let a = FileId { dev: 7, ino: 2 };
        let b = FileId { dev: 7, ino: 3 };
        assert!(record_lock(3, a));
        assert!(record_lock(4000, b));
        assert!(!record_lock(LOCK_CAPACITY as c_int, a));
        assert!(!record_lock(-5, a));
        assert_eq!(locks().collect::<Vec<_>>(), [(3, a), (4000, b)]);
        assert!(
            !intents().any(|(_, id)| id.dev == 7),
            "a lock is not intent"
        );
        clear_lock(3);
        clear_lock(12345);
        assert!(record_lock(4000, a), "the latest lock's file wins");
        assert_eq!(locks().collect::<Vec<_>>(), [(4000, a)]);
        clear_lock(4000);
        assert_eq!(locks().count(), 0);
    }

    #[test]
    fn set_bits() {
        assert_eq!(SetBits(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
        assert_eq!(SetBits(1 << 63).collect::<Vec<_>>(), [63]);
    }
}
