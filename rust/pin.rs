// SPDX-License-Identifier: GPL-2.0

//! Pin bookkeeping: which pages of a region are unpinned, and which of those were purged.
//!
//! Pages start pinned. [`PinRanges`] keeps the unpinned ones as disjoint [`PinRange`]s in a
//! red-black tree keyed by first page, so every operation costs O(log n) in the number of
//! ranges, plus O(log n) for each range it removes (a range is removed at most once after it is
//! made, so that part is amortised).
//!
//! A range is either purgeable (its pages still hold data) or purged (its pages were freed and
//! read as zero). Pages keep that state until they are pinned again, so `ASHMEM_PIN` reports
//! `ASHMEM_WAS_PURGED` exactly when one of its pages was purged. Adjacent purgeable ranges are
//! always merged; purged ranges are left as they are.
//!
//! No method allocates: tree nodes come from a [`NodePool`] the caller fills before taking the
//! region's lock.

use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
};

/// A run of unpinned pages, `[key, end)`; the key is its first page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PinRange {
    /// One past the last page.
    pub(crate) end: usize,
    /// Whether the pages were purged while unpinned.
    pub(crate) purged: bool,
}

type Reservation = RBTreeNodeReservation<usize, PinRange>;

/// Tree nodes allocated ahead of time, so that the range operations never allocate.
pub(crate) struct NodePool {
    nodes: KVec<Reservation>,
}

impl NodePool {
    /// An empty pool.
    pub(crate) fn new() -> Self {
        Self { nodes: KVec::new() }
    }

    /// Allocates until the pool holds at least `n` nodes. Call without locks held.
    pub(crate) fn fill(&mut self, n: usize) -> Result {
        while self.nodes.len() < n {
            self.nodes.push(Reservation::new(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn take(&mut self) -> Option<Reservation> {
        self.nodes.pop()
    }
}

/// Why an operation did not run: the pool must first hold this many nodes.
#[derive(Debug)]
pub(crate) struct NeedNodes(pub(crate) usize);

/// The unpinned pages of one region.
///
/// # Invariants
///
/// Ranges are non-empty and disjoint; no two purgeable ranges are adjacent.
pub(crate) struct PinRanges {
    tree: RBTree<usize, PinRange>,
}

impl PinRanges {
    /// No page unpinned.
    pub(crate) fn new() -> Self {
        Self {
            tree: RBTree::new(),
        }
    }

    /// The range with the largest first page below `page`.
    fn last_below(&self, page: usize) -> Option<(usize, PinRange)> {
        let (key, range) = match self.tree.cursor_lower_bound(&page) {
            Some(cursor) => cursor.peek_prev().map(|(k, r)| (*k, *r))?,
            None => self.tree.cursor_back().map(|c| {
                let (k, r) = c.current();
                (*k, *r)
            })?,
        };
        Some((key, range))
    }

    /// The range with the smallest first page at or above `page`.
    fn first_from(&self, page: usize) -> Option<(usize, PinRange)> {
        let cursor = self.tree.cursor_lower_bound(&page)?;
        let (key, range) = cursor.current();
        Some((*key, *range))
    }

    /// Inserts `[start, range.end)` using a node from `pool`.
    fn insert(&mut self, start: usize, range: PinRange, pool: &mut NodePool) {
        // The callers checked the pool's size before changing anything.
        if let Some(node) = pool.take() {
            self.tree.insert(node.into_node(start, range));
        }
    }

    /// Removes the range at `start`, keeping its node for reuse.
    fn remove(&mut self, start: usize, pool: &mut NodePool) {
        if let Some(node) = self.tree.remove_node(&start) {
            // The pool's vector has room: it held this node's predecessor or was filled with
            // capacity to spare; if not, the node is simply freed.
            if pool.nodes.len() < pool.nodes.capacity() {
                let _ = pool.nodes.push(node.into_reservation(), GFP_NOWAIT);
            }
        }
    }

    /// Whether any page of `[start, end)` is unpinned.
    pub(crate) fn any_unpinned(&self, start: usize, end: usize) -> bool {
        start < end && self.last_below(end).is_some_and(|(_, r)| r.end > start)
    }

    /// Pins `[start, end)`. Returns whether any of its pages had been purged.
    ///
    /// Needs one node in `pool` (pinning the middle of a range splits it).
    pub(crate) fn pin(
        &mut self,
        start: usize,
        end: usize,
        pool: &mut NodePool,
    ) -> Result<bool, NeedNodes> {
        if pool.len() < 1 {
            return Err(NeedNodes(1));
        }
        let mut was_purged = false;
        // From the right: each step removes or trims the last range overlapping what is left.
        while let Some((key, range)) = self.last_below(end) {
            if range.end <= start {
                break;
            }
            was_purged |= range.purged;
            if key < start {
                // Keep the left part; a right part past `end` becomes its own range.
                if let Some(left) = self.tree.get_mut(&key) {
                    left.end = start;
                }
                if range.end > end {
                    self.insert(end, range, pool);
                }
                break;
            }
            self.remove(key, pool);
            if range.end > end {
                self.insert(end, range, pool);
            }
        }
        Ok(was_purged)
    }

    /// Unpins `[start, end)`. Pages already unpinned keep their state; the others become
    /// purgeable, merged with purgeable neighbours.
    ///
    /// Needs one node in `pool` for each purged range within or touching `[start, end)`, plus
    /// one; without them nothing changes and the number is returned.
    pub(crate) fn unpin(
        &mut self,
        start: usize,
        end: usize,
        pool: &mut NodePool,
    ) -> Result<(), NeedNodes> {
        if start >= end {
            return Ok(());
        }
        // Count first, so that a short pool leaves everything unchanged.
        let mut need = 1;
        let mut page = start;
        while let Some((key, range)) = self.first_from(page) {
            if key > end {
                break;
            }
            need += usize::from(range.purged);
            page = key + 1;
        }
        if pool.len() < need {
            return Err(NeedNodes(need));
        }

        // `pos`: the first page not yet decided. `run`: first page of the purgeable run being
        // built, which ends at `pos`.
        let mut pos = start;
        let mut run = None;
        if let Some((key, range)) = self.last_below(start) {
            if range.end > start || (range.end == start && !range.purged) {
                if range.purged {
                    pos = range.end;
                } else {
                    self.remove(key, pool);
                    run = Some(key);
                    pos = range.end.max(start);
                }
            }
        }
        while let Some((key, range)) = self.first_from(pos) {
            if key > end || (key == end && range.purged) {
                break;
            }
            if range.purged {
                // New pages before it join the run; the run ends there.
                let run_start = run.take().unwrap_or(pos);
                if run_start < key {
                    self.insert(
                        run_start,
                        PinRange {
                            end: key,
                            purged: false,
                        },
                        pool,
                    );
                }
                pos = range.end;
            } else {
                self.remove(key, pool);
                run.get_or_insert(pos.min(key));
                pos = range.end;
            }
        }
        let run_end = pos.max(end);
        if pos < end {
            run.get_or_insert(pos);
        }
        if let Some(run_start) = run {
            self.insert(
                run_start,
                PinRange {
                    end: run_end,
                    purged: false,
                },
                pool,
            );
        }
        Ok(())
    }

    /// Marks the purgeable range starting at `start` purged. Returns its page count, or `None`
    /// when no purgeable range starts there.
    // Used by the KUnit tests now, and by purging once the shrinker exists.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn mark_purged(&mut self, start: usize) -> Option<usize> {
        let range = self.tree.get_mut(&start)?;
        if range.purged {
            return None;
        }
        range.purged = true;
        Some(range.end - start)
    }

    /// The ranges in order, as `(first page, range)`.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, PinRange)> + '_ {
        self.tree.iter().map(|(k, r)| (*k, *r))
    }
}

#[cfg(CONFIG_KUNIT)]
#[kernel::macros::kunit_tests(ashmem_pin_ranges)]
mod tests {
    use super::*;

    const PAGES: usize = 64;

    /// A page in the model: the obvious per-page answer to compare the tree against.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Page {
        Pinned,
        Unpinned,
        Purged,
    }

    fn pool() -> NodePool {
        let mut pool = NodePool::new();
        pool.fill(PAGES + 1).expect("allocating test nodes");
        pool
    }

    fn refill(pool: &mut NodePool) {
        pool.fill(PAGES + 1).expect("allocating test nodes");
    }

    /// The tree as a page map, checking the invariants on the way.
    fn pages_of(ranges: &PinRanges) -> [Page; PAGES] {
        let mut pages = [Page::Pinned; PAGES];
        let mut prev: Option<(usize, PinRange)> = None;
        for (key, range) in ranges.iter() {
            assert!(key < range.end);
            assert!(range.end <= PAGES);
            if let Some((_, p)) = prev {
                assert!(p.end <= key);
                assert!(!(p.end == key && !p.purged && !range.purged));
            }
            for page in &mut pages[key..range.end] {
                *page = if range.purged {
                    Page::Purged
                } else {
                    Page::Unpinned
                };
            }
            prev = Some((key, range));
        }
        pages
    }

    fn unpin(r: &mut PinRanges, pool: &mut NodePool, start: usize, end: usize) {
        r.unpin(start, end, pool).expect("pool is large enough");
        refill(pool);
    }

    fn pin(r: &mut PinRanges, pool: &mut NodePool, start: usize, end: usize) -> bool {
        let purged = r.pin(start, end, pool).expect("pool is large enough");
        refill(pool);
        purged
    }

    #[test]
    fn unpin_merges_adjacent_and_overlapping() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        unpin(&mut r, &mut pool, 0, 2);
        unpin(&mut r, &mut pool, 4, 6);
        unpin(&mut r, &mut pool, 2, 4);
        unpin(&mut r, &mut pool, 5, 9);
        let all: KVec<(usize, PinRange)> = {
            let mut v = KVec::new();
            for item in r.iter() {
                v.push(item, GFP_KERNEL).expect("alloc");
            }
            v
        };
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0],
            (
                0,
                PinRange {
                    end: 9,
                    purged: false
                }
            )
        );
    }

    #[test]
    fn pin_in_the_middle_splits() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        unpin(&mut r, &mut pool, 0, 10);
        assert!(!pin(&mut r, &mut pool, 4, 6));
        let pages = pages_of(&r);
        assert_eq!(pages[3], Page::Unpinned);
        assert_eq!(pages[4], Page::Pinned);
        assert_eq!(pages[5], Page::Pinned);
        assert_eq!(pages[6], Page::Unpinned);
        assert_eq!(r.iter().count(), 2);
    }

    #[test]
    fn pin_reports_purged_pages_only_when_overlapping() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        unpin(&mut r, &mut pool, 0, 4);
        unpin(&mut r, &mut pool, 8, 12);
        assert_eq!(r.mark_purged(8), Some(4));
        assert!(!pin(&mut r, &mut pool, 0, 4));
        assert!(!pin(&mut r, &mut pool, 4, 8));
        assert!(pin(&mut r, &mut pool, 10, 11));
        assert!(pin(&mut r, &mut pool, 8, 10));
        assert!(!r.any_unpinned(8, 11));
        assert!(r.any_unpinned(11, 12));
    }

    #[test]
    fn unpin_keeps_purged_pages_purged() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        unpin(&mut r, &mut pool, 2, 4);
        r.mark_purged(2);
        unpin(&mut r, &mut pool, 0, 8);
        let pages = pages_of(&r);
        assert_eq!(pages[1], Page::Unpinned);
        assert_eq!(pages[2], Page::Purged);
        assert_eq!(pages[3], Page::Purged);
        assert_eq!(pages[4], Page::Unpinned);
    }

    #[test]
    fn short_pool_changes_nothing() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        for i in 0..4 {
            unpin(&mut r, &mut pool, i * 4, i * 4 + 2);
            r.mark_purged(i * 4);
        }
        let before = pages_of(&r);
        let mut empty = NodePool::new();
        let need = r.unpin(0, 16, &mut empty).expect_err("needs nodes").0;
        assert_eq!(need, 5);
        assert_eq!(pages_of(&r), before);
        assert!(r.pin(0, 1, &mut empty).is_err());
        assert_eq!(pages_of(&r), before);
    }

    /// Thousands of random operations, compared page by page with the model.
    #[test]
    fn random_operations_match_a_page_model() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        let mut model = [Page::Pinned; PAGES];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            // xorshift64*
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        };
        for _ in 0..5000 {
            let a = next(PAGES);
            let b = a + 1 + next(PAGES - a);
            match next(4) {
                0 => {
                    unpin(&mut r, &mut pool, a, b);
                    for p in &mut model[a..b] {
                        if *p == Page::Pinned {
                            *p = Page::Unpinned;
                        }
                    }
                }
                1 => {
                    let expected = model[a..b].contains(&Page::Purged);
                    assert_eq!(pin(&mut r, &mut pool, a, b), expected);
                    model[a..b].fill(Page::Pinned);
                }
                2 => {
                    let expected = model[a..b].iter().any(|p| *p != Page::Pinned);
                    assert_eq!(r.any_unpinned(a, b), expected);
                }
                _ => {
                    // Purge the first purgeable range at or after `a`, as the shrinker would.
                    let target = r.iter().find(|(k, rg)| *k >= a && !rg.purged);
                    if let Some((key, range)) = target {
                        assert_eq!(r.mark_purged(key), Some(range.end - key));
                        model[key..range.end].fill(Page::Purged);
                    }
                }
            }
            assert_eq!(pages_of(&r), model);
        }
    }
}
