//! The keep set: the descriptors an exec must leave alone, as sorted,
//! disjoint, merged ranges in a fixed-capacity array.
//!
//! Every keep rule adds to one value of this type; the sweep then walks the
//! gaps between its ranges. No allocation, so it can live on the stack of a
//! vfork child.

/// How many disjoint ranges one keep set holds. Adjacent and overlapping
/// ranges merge, so this bounds distinct *islands* of kept fds, not fds.
pub const KEEP_CAPACITY: usize = 128;

/// An inclusive range of descriptor numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdRange {
    pub lo: u32,
    pub hi: u32,
}

impl FdRange {
    pub const fn new(lo: u32, hi: u32) -> Self {
        FdRange { lo, hi }
    }

    pub const fn contains(&self, fd: u32) -> bool {
        self.lo <= fd && fd <= self.hi
    }
}

/// A set of kept descriptors. Invariant: `ranges[..len]` is sorted by `lo`,
/// and no two ranges overlap or touch.
#[derive(Clone, Debug)]
pub struct KeepSet {
    ranges: [FdRange; KEEP_CAPACITY],
    len: usize,
    overflowed: bool,
}

impl Default for KeepSet {
    fn default() -> Self {
        Self::new()
    }
}

impl KeepSet {
    pub const fn new() -> Self {
        KeepSet {
            ranges: [FdRange::new(0, 0); KEEP_CAPACITY],
            len: 0,
            overflowed: false,
        }
    }

    /// A set that already holds fds 0, 1 and 2, which are never touched.
    pub fn with_stdio() -> Self {
        let mut set = Self::new();
        set.insert_range(0, 2);
        set
    }

    /// The ranges, sorted and disjoint.
    pub fn ranges(&self) -> &[FdRange] {
        self.ranges.get(..self.len).unwrap_or(&[])
    }

    /// Whether a range found the set full and was joined to a neighbour.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    pub fn contains(&self, fd: u32) -> bool {
        let ranges = self.ranges();
        let after = ranges.partition_point(|r| r.hi < fd);
        ranges.get(after).is_some_and(|r| r.contains(fd))
    }

    pub fn insert(&mut self, fd: u32) {
        self.insert_range(fd, fd)
    }

    /// Adds `lo..=hi` (swapped if reversed), merging with every range it
    /// overlaps or touches. When the set is full and the range merges with
    /// nothing, it is joined to its nearer neighbour, so the fds between
    /// are kept too: capacities fail open (a missed leak is the world as it
    /// was), and [`KeepSet::overflowed`] says it happened.
    pub fn insert_range(&mut self, lo: u32, hi: u32) {
        let (mut lo, mut hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let ranges = self.ranges();
        // Ranges start..end are the ones that overlap or touch lo..=hi.
        let start = ranges.partition_point(|r| r.hi.saturating_add(1) < lo);
        let end = ranges.partition_point(|r| r.lo <= hi.saturating_add(1));
        let merged = end.saturating_sub(start);
        if merged > 0 {
            if let (Some(first), Some(last)) = (ranges.get(start), ranges.get(end - 1)) {
                lo = lo.min(first.lo);
                hi = hi.max(last.hi);
            }
        } else if self.len == KEEP_CAPACITY {
            self.overflowed = true;
            self.join_nearer(start, lo, hi);
            return;
        }
        let new_len = self.len + 1 - merged;
        // Move the tail so that exactly one slot remains at `start`.
        self.move_tail(end, start + 1);
        if let Some(slot) = self.ranges.get_mut(start) {
            *slot = FdRange::new(lo, hi);
        }
        self.len = new_len;
    }

    /// A full set takes `lo..=hi`, which falls between `ranges[at - 1]` and
    /// `ranges[at]`, by stretching the nearer of the two over it. Neither
    /// then touches another range: the gaps beside it are unchanged.
    fn join_nearer(&mut self, at: usize, lo: u32, hi: u32) {
        let before = at.checked_sub(1).and_then(|i| self.ranges.get(i)).copied();
        let after = self.ranges().get(at).copied();
        let stretch_before = match (before, after) {
            (Some(b), Some(a)) => lo - b.hi <= a.lo - hi,
            (Some(_), None) => true,
            _ => false,
        };
        let (index, range) = if stretch_before {
            (at.wrapping_sub(1), before.map(|b| FdRange::new(b.lo, hi)))
        } else {
            (at, after.map(|a| FdRange::new(lo, a.hi)))
        };
        if let (Some(slot), Some(range)) = (self.ranges.get_mut(index), range) {
            *slot = range;
        }
    }

    /// Moves `ranges[from..len]` to start at `to`, without a panicking path
    /// (`copy_within` has one).
    fn move_tail(&mut self, from: usize, to: usize) {
        let moved = self.len.saturating_sub(from);
        let mut step = |i: usize| {
            if let Some(r) = self.ranges.get(from + i).copied()
                && let Some(dst) = self.ranges.get_mut(to + i)
            {
                *dst = r;
            }
        };
        if to > from {
            (0..moved).rev().for_each(&mut step);
        } else {
            (0..moved).for_each(&mut step);
        }
    }

    /// The gaps between kept ranges, up to `u32::MAX`: what a sweep marks.
    pub fn gaps(&self) -> Gaps<'_> {
        Gaps {
            ranges: self.ranges(),
            next_free: 0,
        }
    }
}

/// Iterator over the complement of a [`KeepSet`] within `0..=u32::MAX`.
pub struct Gaps<'a> {
    ranges: &'a [FdRange],
    /// The lowest fd not yet covered; `u32::MAX + 1` when done.
    next_free: u64,
}

impl Iterator for Gaps<'_> {
    type Item = FdRange;

    fn next(&mut self) -> Option<FdRange> {
        while let Some((first, rest)) = self.ranges.split_first() {
            self.ranges = rest;
            let gap_lo = self.next_free;
            self.next_free = u64::from(first.hi) + 1;
            if u64::from(first.lo) > gap_lo {
                return Some(FdRange::new(gap_lo as u32, first.lo - 1));
            }
        }
        if self.next_free <= u64::from(u32::MAX) {
            let lo = self.next_free as u32;
            self.next_free = u64::from(u32::MAX) + 1;
            return Some(FdRange::new(lo, u32::MAX));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(set: &KeepSet) -> Vec<(u32, u32)> {
        set.ranges().iter().map(|r| (r.lo, r.hi)).collect()
    }

    #[test]
    fn merges_touching_and_overlapping() {
        let mut set = KeepSet::with_stdio();
        set.insert(5);
        set.insert(3);
        assert_eq!(collect(&set), [(0, 3), (5, 5)]);
        set.insert(4);
        assert_eq!(collect(&set), [(0, 5)]);
        set.insert_range(20, 10);
        set.insert_range(8, 12);
        assert_eq!(collect(&set), [(0, 5), (8, 20)]);
    }

    #[test]
    fn gaps_cover_the_rest() {
        let mut set = KeepSet::with_stdio();
        set.insert(7);
        set.insert_range(10, 12);
        let gaps: Vec<_> = set.gaps().map(|g| (g.lo, g.hi)).collect();
        assert_eq!(gaps, [(3, 6), (8, 9), (13, u32::MAX)]);
    }

    #[test]
    fn top_of_range_has_no_trailing_gap() {
        let mut set = KeepSet::with_stdio();
        set.insert(u32::MAX);
        let gaps: Vec<_> = set.gaps().map(|g| (g.lo, g.hi)).collect();
        assert_eq!(gaps, [(3, u32::MAX - 1)]);
    }

    #[test]
    fn a_full_set_keeps_more_not_less() {
        let mut set = KeepSet::new();
        for i in 0..KEEP_CAPACITY as u32 {
            set.insert(i * 10);
        }
        assert!(!set.overflowed());
        assert_eq!(set.ranges().len(), KEEP_CAPACITY);
        // The 129th range: joined to its nearer neighbour (50 is 3 from 53).
        set.insert(53);
        assert!(set.overflowed());
        assert!(set.contains(53), "the new fd is kept");
        assert!(set.contains(51) && set.contains(52), "and the fds between");
        assert!(!set.contains(54) && set.contains(60) && !set.contains(59));
        assert_eq!(set.ranges().len(), KEEP_CAPACITY);
        // Beyond the last range and before the first.
        set.insert(100_000);
        assert!(set.contains(100_000) && set.contains(99_999));
        let mut low = KeepSet::new();
        for i in 0..KEEP_CAPACITY as u32 {
            low.insert(1000 + i * 10);
        }
        low.insert(7);
        assert!(low.contains(7) && low.contains(999) && low.contains(1000));
        // Merging into an existing range still works when full.
        low.insert(1001);
        assert_eq!(low.ranges().len(), KEEP_CAPACITY);
    }

    proptest! {
        /// Past capacity the set keeps a superset of what it was given, and
        /// stays sorted and disjoint.
        #[test]
        fn overflow_keeps_a_superset(fds in proptest::collection::btree_set(0u32..100_000, 0..400)) {
            let mut set = KeepSet::new();
            for &fd in &fds {
                set.insert(fd);
            }
            for fd in &fds {
                prop_assert!(set.contains(*fd));
            }
            for pair in set.ranges().windows(2) {
                prop_assert!(pair[0].hi.saturating_add(1) < pair[1].lo);
            }
            prop_assert!(set.ranges().len() <= KEEP_CAPACITY);
        }

        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u32..300, 0u32..300), 0..120)) {
            let mut set = KeepSet::new();
            let mut model = std::collections::BTreeSet::new();
            for (a, b) in ops {
                set.insert_range(a, b);
                model.extend(a.min(b)..=a.max(b));
            }
            prop_assert!(!set.overflowed(), "at most 150 ranges fit in 300 fds");
            let ranges = set.ranges();
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].hi.saturating_add(1) < pair[1].lo, "sorted, disjoint, not touching");
            }
            for r in ranges {
                prop_assert!(r.lo <= r.hi);
            }
            for fd in 0..310 {
                prop_assert_eq!(set.contains(fd), model.contains(&fd));
            }
            // Gaps and ranges partition the whole fd space.
            let mut covered: u64 = ranges.iter().map(|r| u64::from(r.hi - r.lo) + 1).sum();
            for g in set.gaps() {
                prop_assert!(!set.contains(g.lo) && !set.contains(g.hi));
                covered += u64::from(g.hi - g.lo) + 1;
            }
            prop_assert_eq!(covered, u64::from(u32::MAX) + 1);
        }
    }
}
