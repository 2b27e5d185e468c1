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
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::sys::{self, Errno, FileId};

/// The snapshot's fast path: one `ppoll` over fds below this number (no
/// `/proc`), about 12 ns a number, paid by every process at start. Chosen
/// by measurement (`make bench`): 1024 cost 17 µs a process start, 256
/// about 4 µs. Shells hand out 3–255 (bash `exec {fd}>` starts at 10,
/// `<(…)` counts down from 63); fds beyond it are found by counting (see
/// [`snapshot_inherited`]).
pub const SNAPSHOT_WINDOW: usize = 256;

/// Room for this many inherited fds with their identity. An fd inherited
/// beyond it is still kept, without the identity check (capacities fail
/// open: see [`unrecorded_inherited`]).
pub const INHERITED_CAPACITY: usize = 1024;

/// Without `/proc` the fds beyond the window are found by `ppoll` in
/// windows of [`SNAPSHOT_WINDOW`] numbers up to the soft `RLIMIT_NOFILE`,
/// but never past this number: a process without `/proc` pays about 3 µs
/// per 256 numbers at start, at most about 0.8 ms.
pub const NO_PROC_SCAN_END: usize = 65536;

/// Intent is recorded with identity for fds below this number, and for a
/// few more above it in a small spill table; beyond that, the fds above
/// it are all kept (capacities fail open) and a debug line says so.
/// 65536 fds cost 1 MiB of zero-filled `.bss`, touched only where used.
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

/// A span of fd numbers kept without identity because a table was full;
/// empty while `lo > hi`.
struct Span {
    lo: AtomicU32,
    hi: AtomicU32,
}

impl Span {
    const fn empty() -> Span {
        Span {
            lo: AtomicU32::new(u32::MAX),
            hi: AtomicU32::new(0),
        }
    }

    fn add(&self, lo: u32, hi: u32) {
        self.lo.fetch_min(lo, Ordering::Relaxed);
        self.hi.fetch_max(hi, Ordering::Relaxed);
    }

    fn get(&self) -> Option<(u32, u32)> {
        let (lo, hi) = (
            self.lo.load(Ordering::Relaxed),
            self.hi.load(Ordering::Relaxed),
        );
        (lo <= hi).then_some((lo, hi))
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
    /// fds open at load that found no room in `entries`.
    unrecorded: Span,
}

static SNAPSHOT: Snapshot = Snapshot {
    len: AtomicUsize::new(0),
    entries: [const {
        Inherited {
            fd: AtomicU32::new(0),
            id: Record::empty(),
        }
    }; INHERITED_CAPACITY],
    unrecorded: Span::empty(),
};

/// Records one fd open at load. Called only from the constructor. When the
/// table is full the fd is still kept, without identity: returns false.
pub fn add_inherited(fd: c_int, id: FileId) -> bool {
    let n = SNAPSHOT.len.load(Ordering::Relaxed);
    let Some(slot) = SNAPSHOT.entries.get(n) else {
        SNAPSHOT.unrecorded.add(fd as u32, fd as u32);
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

/// The fds open at load beyond [`INHERITED_CAPACITY`]: the span from the
/// lowest to the highest, kept whole (what lies between may be a later
/// leak, kept too: a missed leak is the world as it was).
pub fn unrecorded_inherited() -> Option<(u32, u32)> {
    SNAPSHOT.unrecorded.get()
}

/// K3: records every fd open now above stdio, with its identity. Called
/// only from the constructor.
///
/// The fast path is one `ppoll` over fds 0–255 (an open fd answers 0, a
/// closed one `POLLNVAL`) and one `fstat` for each open fd above stdio.
/// Then `stat("/proc/self/fd").st_size`, the number of open fds (Linux ≥
/// 6.2), says whether any lie beyond the window: only then is
/// `/proc/self/fd` walked. Where the count is missing (an older kernel
/// answers 0) the walk always runs; where `/proc` is missing, `ppoll` scans
/// on up to the soft `RLIMIT_NOFILE`, at most to [`NO_PROC_SCAN_END`].
pub fn snapshot_inherited() {
    let mut fds = window_from(0);
    let mut window = &mut fds[..];
    // ppoll refuses more entries than the soft RLIMIT_NOFILE (EINVAL); only
    // then is the limit worth a system call of its own.
    if sys::poll_now(window) == Err(Errno::EINVAL) {
        let limit = sys::nofile_soft_limit().map_or(0, |n| n.min(SNAPSHOT_WINDOW as u64) as usize);
        window = window.get_mut(..limit).unwrap_or(&mut []);
        if sys::poll_now(window).is_err() {
            return;
        }
    }
    let open = record_open(window, 3) + open_stdio(window);
    let beyond = window.len() as c_int;
    match sys::stat_size(c"/proc/self/fd") {
        Ok(count) if count == open && count > 0 => {}
        Ok(_) => {
            let _ = crate::sweep::for_each_open_fd(|fd| {
                if fd >= beyond {
                    record(fd);
                }
            });
        }
        Err(_) => scan_without_proc(),
    }
}

/// A `ppoll` array for the [`SNAPSHOT_WINDOW`] numbers from `first`.
fn window_from(first: c_int) -> [libc::pollfd; SNAPSHOT_WINDOW] {
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; SNAPSHOT_WINDOW];
    for (slot, fd) in fds.iter_mut().zip(first..) {
        slot.fd = fd;
    }
    fds
}

/// How many of fds 0–2 the polled window shows open.
fn open_stdio(window: &[libc::pollfd]) -> u64 {
    window
        .iter()
        .take(3)
        .filter(|s| s.revents & libc::POLLNVAL == 0)
        .count() as u64
}

/// Records every open fd at or above `from` in a polled window; returns
/// how many were open.
fn record_open(window: &[libc::pollfd], from: c_int) -> u64 {
    let mut open = 0;
    for slot in window.iter().filter(|s| s.revents & libc::POLLNVAL == 0) {
        if slot.fd >= from {
            open += 1;
            record(slot.fd);
        }
    }
    open
}

fn record(fd: c_int) {
    if let Ok(id) = sys::fstat_id(fd) {
        add_inherited(fd, id);
    }
}

/// Without `/proc`: `ppoll` the numbers beyond the window, a window at a time.
#[cold]
fn scan_without_proc() {
    let limit = sys::nofile_soft_limit().map_or(0, |n| n.min(NO_PROC_SCAN_END as u64) as usize);
    let mut first = SNAPSHOT_WINDOW;
    while first < limit {
        let mut fds = window_from(first as c_int);
        let window = fds
            .get_mut(..(limit - first).min(SNAPSHOT_WINDOW))
            .unwrap_or(&mut []);
        if sys::poll_now(window).is_err() {
            return;
        }
        record_open(window, first as c_int);
        first += SNAPSHOT_WINDOW;
    }
}

/// Locks are recorded for fds below this number, as intent is.
pub const LOCK_CAPACITY: usize = INTENT_CAPACITY;

const WORDS: usize = INTENT_CAPACITY / 64;

/// How many fds at or above [`INTENT_CAPACITY`] a table records with
/// identity; past them, every fd from the capacity up is kept.
pub const SPILL_CAPACITY: usize = 32;

/// A set of fds, each with the identity of the open file it was recorded
/// for: a bit per fd (what the exec path scans) and a [`Record`] per fd,
/// a small spill table for higher fds, and a flag for when even that was
/// full.
struct FdRecords {
    bits: [AtomicU64; WORDS],
    ids: [Record; INTENT_CAPACITY],
    /// One past the highest fd ever recorded: bounds the scan at exec.
    end: AtomicU32,
    /// fd + 1 of each spilled record; 0 is a free slot.
    spill_fds: [AtomicI32; SPILL_CAPACITY],
    spill_ids: [Record; SPILL_CAPACITY],
    /// A record found no room: fds from [`INTENT_CAPACITY`] up are kept.
    spill_full: AtomicBool,
}

impl FdRecords {
    const fn new() -> Self {
        FdRecords {
            bits: [const { AtomicU64::new(0) }; WORDS],
            ids: [const { Record::empty() }; INTENT_CAPACITY],
            end: AtomicU32::new(0),
            spill_fds: [const { AtomicI32::new(0) }; SPILL_CAPACITY],
            spill_ids: [const { Record::empty() }; SPILL_CAPACITY],
            spill_full: AtomicBool::new(false),
        }
    }

    fn bit(&self, fd: c_int) -> Option<(&AtomicU64, u64)> {
        let fd = usize::try_from(fd).ok()?;
        Some((self.bits.get(fd / 64)?, 1u64 << (fd % 64)))
    }

    /// The identity is stored before the bit is published, so a reader
    /// that sees the bit sees this identity or a later one. Returns
    /// [`Recorded::Beyond`] when even the spill table is full.
    fn record(&self, fd: c_int, id: FileId) -> Recorded {
        if fd < 0 {
            return Recorded::Invalid;
        }
        let (Some((word, mask)), Some(record)) = (
            self.bit(fd),
            usize::try_from(fd).ok().and_then(|i| self.ids.get(i)),
        ) else {
            return self.spill(fd, id);
        };
        record.store(id);
        word.fetch_or(mask, Ordering::Release);
        self.end.fetch_max(fd as u32 + 1, Ordering::Relaxed);
        Recorded::InTable
    }

    /// A record for an fd above the table: its own slot if it has one, a
    /// free slot claimed with a compare-exchange otherwise.
    #[cold]
    fn spill(&self, fd: c_int, id: FileId) -> Recorded {
        let tag = fd.saturating_add(1);
        let slots = self.spill_fds.iter().zip(&self.spill_ids);
        for (slot, record) in slots.clone() {
            if slot.load(Ordering::Acquire) == tag {
                record.store(id);
                return Recorded::Spilled;
            }
        }
        for (slot, record) in slots {
            if slot.load(Ordering::Relaxed) == 0 {
                record.store(id);
                if slot
                    .compare_exchange(0, tag, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    return Recorded::Spilled;
                }
            }
        }
        self.spill_full.store(true, Ordering::Relaxed);
        Recorded::Beyond
    }

    fn clear(&self, fd: c_int) {
        if let Some((word, mask)) = self.bit(fd) {
            word.fetch_and(!mask, Ordering::Relaxed);
            return;
        }
        let tag = fd.saturating_add(1);
        for slot in &self.spill_fds {
            let _ = slot.compare_exchange(tag, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn iter(&'static self) -> impl Iterator<Item = (c_int, FileId)> {
        let end = self.end.load(Ordering::Relaxed) as usize;
        let words = end.div_ceil(64).min(WORDS);
        let table = self
            .bits
            .iter()
            .take(words)
            .enumerate()
            .flat_map(|(w, word)| SetBits(word.load(Ordering::Acquire)).map(move |b| w * 64 + b))
            .filter_map(|fd| self.ids.get(fd).map(|r| (fd as c_int, r.load())));
        let spilled = self
            .spill_fds
            .iter()
            .zip(&self.spill_ids)
            .filter_map(|(slot, record)| {
                let tag = slot.load(Ordering::Acquire);
                (tag > 0).then(|| (tag - 1, record.load()))
            });
        table.chain(spilled)
    }

    /// The fds kept whole because a record found no room.
    fn beyond(&self) -> Option<(u32, u32)> {
        self.spill_full
            .load(Ordering::Relaxed)
            .then_some((INTENT_CAPACITY as u32, crate::numbers::MAX_FD))
    }
}

/// Where a record went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// In the table, with identity.
    InTable,
    /// In the spill table above it, with identity.
    Spilled,
    /// Nowhere: every fd from [`INTENT_CAPACITY`] up is kept from now on.
    Beyond,
    /// Not an fd.
    Invalid,
}

static INTENTS: FdRecords = FdRecords::new();
static LOCKS: FdRecords = FdRecords::new();

/// Records that the process made `fd` inheritable on purpose, while it is
/// the file `id`.
pub fn record_intent(fd: c_int, id: FileId) -> Recorded {
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
/// `id`.
pub fn record_lock(fd: c_int, id: FileId) -> Recorded {
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

/// The fds kept whole because an intent record found no room.
pub fn intents_beyond() -> Option<(u32, u32)> {
    INTENTS.beyond()
}

/// The fds kept whole because a lock record found no room.
pub fn locks_beyond() -> Option<(u32, u32)> {
    LOCKS.beyond()
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

    const IN: Recorded = Recorded::InTable;

    // The tables are process-wide statics, so one test drives each.
    #[test]
    fn records_clear_and_bounds() {
        let a = FileId { dev: 1, ino: 2 };
        let b = FileId { dev: 1, ino: 3 };
        assert_eq!(record_intent(5, a), IN);
        assert_eq!(record_intent(700, b), IN);
        assert_eq!(record_intent(63, a), IN);
        assert_eq!(record_intent(64, b), IN);
        assert_eq!(record_intent(INTENT_CAPACITY as c_int - 1, b), IN);
        assert_eq!(record_intent(-1, a), Recorded::Invalid);
        clear_intent(INTENT_CAPACITY as c_int - 1);
        let all: Vec<_> = intents().collect();
        assert_eq!(all, [(5, a), (63, a), (64, b), (700, b)]);
        clear_intent(700);
        clear_intent(5);
        assert_eq!(record_intent(64, a), IN, "the latest record wins");
        assert_eq!(intents().collect::<Vec<_>>(), [(63, a), (64, a)]);

        assert!(add_inherited(10, a));
        assert!(add_inherited(251, b));
        assert_eq!(inherited().collect::<Vec<_>>(), [(10, a), (251, b)]);
        for i in 2..INHERITED_CAPACITY {
            assert!(add_inherited(i as c_int + 1000, a));
        }
        assert_eq!(unrecorded_inherited(), None);
        assert!(!add_inherited(99_999, a), "full");
        assert!(!add_inherited(50_000, a), "full");
        assert_eq!(inherited().count(), INHERITED_CAPACITY);
        assert_eq!(
            unrecorded_inherited(),
            Some((50_000, 99_999)),
            "kept without identity"
        );
    }

    #[test]
    fn records_beyond_the_table_spill_then_fail_open() {
        let a = FileId { dev: 7, ino: 2 };
        let b = FileId { dev: 7, ino: 3 };
        let cap = LOCK_CAPACITY as c_int;
        assert_eq!(record_lock(3, a), IN);
        assert_eq!(record_lock(cap - 1, a), IN, "the last slot of the table");
        assert_eq!(
            record_lock(cap, b),
            Recorded::Spilled,
            "the first beyond it"
        );
        assert_eq!(record_lock(-5, a), Recorded::Invalid);
        assert_eq!(
            locks().collect::<Vec<_>>(),
            [(3, a), (cap - 1, a), (cap, b)]
        );
        assert!(
            !intents().any(|(_, id)| id.dev == 7),
            "a lock is not intent"
        );
        assert_eq!(record_lock(cap, a), Recorded::Spilled, "its own slot again");
        clear_lock(cap);
        clear_lock(3);
        clear_lock(12345);
        assert_eq!(locks().collect::<Vec<_>>(), [(cap - 1, a)]);
        assert_eq!(locks_beyond(), None);
        for i in 0..SPILL_CAPACITY as c_int {
            assert_eq!(record_lock(cap + 10 + i, b), Recorded::Spilled);
        }
        assert_eq!(record_lock(cap + 5000, b), Recorded::Beyond);
        assert_eq!(
            locks_beyond(),
            Some((LOCK_CAPACITY as u32, crate::numbers::MAX_FD)),
            "a full table keeps every fd above it"
        );
        assert_eq!(intents_beyond(), None, "each table has its own");
    }

    #[test]
    fn set_bits() {
        assert_eq!(SetBits(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
        assert_eq!(SetBits(1 << 63).collect::<Vec<_>>(), [63]);
    }
}
