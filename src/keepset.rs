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

    /// Whether an insert was refused because the set was full.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    pub fn contains(&self, fd: u32) -> bool {
        let ranges = self.ranges();
        let after = ranges.partition_point(|r| r.hi < fd);
        ranges.get(after).is_some_and(|r| r.contains(fd))
    }

    pub fn insert(&mut self, fd: u32) -> bool {
        self.insert_range(fd, fd)
    }

    /// Adds `lo..=hi` (swapped if reversed), merging with every range it
    /// overlaps or touches. Returns false, and records the overflow, if the
    /// set is full and the range merges with nothing.
    pub fn insert_range(&mut self, lo: u32, hi: u32) -> bool {
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
            return false;
        }
        let new_len = self.len + 1 - merged;
        // Move the tail so that exactly one slot remains at `start`.
        self.move_tail(end, start + 1);
        if let Some(slot) = self.ranges.get_mut(start) {
            *slot = FdRange::new(lo, hi);
        }
        self.len = new_len;
        true
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
    fn overflow_is_refused_and_reported() {
        let mut set = KeepSet::new();
        for i in 0..KEEP_CAPACITY as u32 {
            assert!(set.insert(i * 2));
        }
        assert!(!set.overflowed());
        assert!(!set.insert(10_001));
        assert!(set.overflowed());
        // Merging into an existing range still works when full.
        assert!(set.insert(1));
        assert_eq!(set.ranges().len(), KEEP_CAPACITY - 1);
    }

    proptest! {
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u32..300, 0u32..300), 0..120)) {
            let mut set = KeepSet::new();
            let mut model = std::collections::BTreeSet::new();
            for (a, b) in ops {
                set.insert_range(a, b);
                model.extend(a.min(b)..=a.max(b));
            }
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
