// SPDX-License-Identifier: GPL-2.0

//! Pin bookkeeping: which pages of a region are unpinned, and which of those were purged.
//!
//! Pages start pinned. [`PinRanges`] keeps the unpinned ones as disjoint ranges in a red-black
//! tree keyed by first page, so every operation costs O(log n) in the number of ranges, plus
//! O(log n) for each range it removes (a range is removed at most once after it is made, so
//! that part is amortised).
//!
//! A range is either purgeable (its pages still hold data) or purged (its pages were freed and
//! read as zero). Pages keep that state until they are pinned again, so `ASHMEM_PIN` reports
//! `ASHMEM_WAS_PURGED` exactly when one of its pages was purged. Adjacent ranges in the same
//! state are always merged, purged ones too, so the tree never holds more ranges than there are
//! runs of pages in one state: what it takes stays proportional to what the user made.
//!
//! A purgeable range carries a [`RangeLink`]: for a region, its entry on the purge LRU. A range
//! made by `ASHMEM_UNPIN` gets a new link (it is the most recently unpinned); a range that is
//! only trimmed or moved by `ASHMEM_PIN` keeps its link, and so its place on the LRU; a range
//! that is pinned or merged away drops its link.
//!
//! No method allocates: tree nodes and links come from a [`NodePool`] the caller fills before
//! taking the region's lock (charged to the calling task's memory cgroup). Nodes and links an
//! operation frees go back to that pool, as far as it has room, so a region that keeps its pool
//! between operations unpins and pins again without allocating; the nodes of purged ranges that
//! merge, and of ranges removed at release, are freed. A link the caller may not reuse (see
//! [`RangeLink::reusable`]) is freed instead.
//!
//! One operation may need half a million nodes (an `ASHMEM_UNPIN` over a region whose every
//! other page was purged makes a range between each two): the pool's arrays are `KVVec`s, which
//! fall back to `vmalloc` when no physically contiguous block of that size is free, and are
//! allocated with `__GFP_NOWARN`, so a size the user chose never asks the page allocator for a
//! large contiguous block, nor warns; it fails with `ENOMEM` only when memory is exhausted.
//!
//! An operation may remove a million ranges: its loops yield every [`YIELD_EVERY`] steps on
//! kernels that want that (the caller holds only a mutex).
//!
//! Owns: [`PinRanges`], [`NodePool`], and the [`RangeLink`] trait that a purgeable range's link
//! implements.
//!
//! Needs: `sched`, to yield; nothing else of the driver. The LRU entry is a [`RangeLink`] this
//! module never names, so the KUnit tests below run it with a link of their own.

use kernel::{
    alloc::KVVec,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
};

/// Steps of a loop over ranges between two offers to yield the CPU.
const YIELD_EVERY: usize = 1024;

/// Counts the steps of a long loop, and yields every [`YIELD_EVERY`] of them.
struct Steps(usize);

impl Steps {
    fn new() -> Self {
        Self(0)
    }

    fn step(&mut self) {
        self.0 += 1;
        if self.0 % YIELD_EVERY == 0 {
            crate::sched::yield_now();
        }
    }
}

/// What a purgeable range carries so that the purger can find it.
pub(crate) trait RangeLink: Sized {
    /// The range this link belongs to is now the pages `[start, end)`. A link not placed before,
    /// or unplaced since, becomes the most recently unpinned.
    fn place(&mut self, start: usize, end: usize);

    /// The link no longer belongs to a range: the purger must not find it any more.
    fn unplace(&mut self);

    /// Whether the calling task may use this unplaced link for a range it makes: a region's
    /// LRU entry must be charged to the task whose call makes the range, so that its cgroup's
    /// reclaim finds it.
    fn reusable(&self) -> bool {
        true
    }
}

/// A run of unpinned pages; its first page is the tree key.
pub(crate) struct PinRange<L> {
    /// One past the last page.
    end: usize,
    /// The link of a purgeable range; `None` once its pages were purged.
    link: Option<L>,
}

/// A range as seen from outside: pages `[start, end)`, purged or not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) purged: bool,
}

type Reservation<L> = RBTreeNodeReservation<usize, PinRange<L>>;

/// Tree nodes and links allocated ahead of time, so that the range operations never allocate.
///
/// # Invariants
///
/// No link in `links` is placed. The links in `links` answer [`RangeLink::reusable`] alike for
/// any caller: they were made by one caller's fill, or kept by that caller's operations (a link
/// goes back to the pool only if its caller may reuse it), and [`NodePool::keep_reusable`]
/// empties a pool another caller filled before anything is added to it.
pub(crate) struct NodePool<L> {
    nodes: KVVec<Reservation<L>>,
    links: KVVec<L>,
}

impl<L: RangeLink> NodePool<L> {
    /// What [`NodePool::fill`] fills to at least: enough for an `ASHMEM_UNPIN` that makes one
    /// range and an `ASHMEM_PIN` that takes it away, so a region that keeps its pool repeats
    /// that pair without allocating.
    const SPARE: Need = Need { nodes: 2, links: 2 };

    /// The room [`NodePool::fill`] makes for nodes and links freed by operations.
    const ROOM: usize = 4;

    /// Past this many slots for either kind, [`NodePool::trim`] frees the pool.
    const MAX_ROOM: usize = 64;

    /// An empty pool.
    pub(crate) fn new() -> Self {
        // INVARIANT: no links.
        Self {
            nodes: KVVec::new(),
            links: KVVec::new(),
        }
    }

    /// Allocates until the pool holds at least `need.nodes` nodes and `need.links` links (and
    /// never fewer than [`NodePool::SPARE`]), the links made by `new_link`; all accounted, to the
    /// calling task's memory cgroup. Call without locks held.
    pub(crate) fn fill(&mut self, need: Need, mut new_link: impl FnMut() -> Result<L>) -> Result {
        let nodes = need.nodes.max(Self::SPARE.nodes);
        let links = need.links.max(Self::SPARE.links);
        // The arrays' sizes follow the user's ranges: vmalloc-backed, never a large contiguous
        // block, no warning when memory is short.
        self.nodes.reserve(
            nodes.max(Self::ROOM).saturating_sub(self.nodes.len()),
            GFP_KERNEL_ACCOUNT | __GFP_NOWARN,
        )?;
        self.links.reserve(
            links.max(Self::ROOM).saturating_sub(self.links.len()),
            GFP_KERNEL_ACCOUNT | __GFP_NOWARN,
        )?;
        while self.nodes.len() < nodes {
            self.nodes
                .push(Reservation::new(GFP_KERNEL_ACCOUNT)?, GFP_KERNEL_ACCOUNT)?;
        }
        while self.links.len() < links {
            // INVARIANT: a new link is not placed.
            self.links.push(new_link()?, GFP_KERNEL_ACCOUNT)?;
        }
        Ok(())
    }

    fn holds(&self, need: Need) -> bool {
        self.nodes.len() >= need.nodes && self.links.len() >= need.links
    }

    /// Keeps a node an operation freed, if there is room; frees it otherwise. Never allocates.
    fn recycle_node(&mut self, node: Reservation<L>) {
        // Without room the node comes back in the error and is dropped.
        let _ = self.nodes.push_within_capacity(node);
    }

    /// Unplaces a link an operation dropped and keeps it, if there is room and the caller may
    /// reuse it; frees it otherwise. Never allocates.
    fn recycle_link(&mut self, mut link: L) {
        link.unplace();
        if self.links.len() < self.links.capacity() && link.reusable() {
            // INVARIANT: `link` is no longer placed. Within the capacity: never fails.
            let _ = self.links.push_within_capacity(link);
        }
    }

    /// Frees the spare links if the calling task may not reuse them (another cgroup's). All
    /// spare links are one caller's (the type invariant), so the first one answers for all.
    /// Never allocates.
    pub(crate) fn keep_reusable(&mut self) {
        if self.links.first().is_some_and(|link| !link.reusable()) {
            self.links.clear();
        }
    }

    /// Frees what a long-lived pool need not keep: nodes and links beyond [`NodePool::ROOM`],
    /// and the whole pool once an unusually large operation grew it past
    /// [`NodePool::MAX_ROOM`] slots. Never allocates.
    pub(crate) fn trim(&mut self) {
        if self.nodes.capacity() > Self::MAX_ROOM || self.links.capacity() > Self::MAX_ROOM {
            *self = Self::new();
            return;
        }
        self.nodes.truncate(Self::ROOM);
        self.links.truncate(Self::ROOM);
    }
}

/// How many nodes and links an operation needs in its pool.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Need {
    pub(crate) nodes: usize,
    pub(crate) links: usize,
}

/// The unpinned pages of one region.
///
/// # Invariants
///
/// Ranges are non-empty and disjoint; no two ranges in the same state (purgeable, purged) are
/// adjacent. The link of each purgeable range was last placed at that range's pages.
/// `unpinned` and `purged` are the page counts of the purgeable and the purged ranges.
pub(crate) struct PinRanges<L> {
    tree: RBTree<usize, PinRange<L>>,
    unpinned: usize,
    purged: usize,
}

impl<L: RangeLink> PinRanges<L> {
    /// No page unpinned.
    pub(crate) fn new() -> Self {
        // INVARIANT: no ranges, no pages.
        Self {
            tree: RBTree::new(),
            unpinned: 0,
            purged: 0,
        }
    }

    /// Unpinned pages that still hold data.
    pub(crate) fn unpinned_pages(&self) -> usize {
        self.unpinned
    }

    /// Unpinned pages that were purged.
    pub(crate) fn purged_pages(&self) -> usize {
        self.purged
    }

    fn span(start: usize, range: &PinRange<L>) -> Span {
        Span {
            start,
            end: range.end,
            purged: range.link.is_none(),
        }
    }

    /// The range with the largest first page below `page`.
    fn last_below(&self, page: usize) -> Option<Span> {
        match self.tree.cursor_lower_bound(&page) {
            Some(cursor) => cursor.peek_prev().map(|(k, r)| Self::span(*k, r)),
            None => self.tree.cursor_back().map(|c| {
                let (k, r) = c.current();
                Self::span(*k, r)
            }),
        }
    }

    /// The range with the smallest first page at or above `page`.
    fn first_from(&self, page: usize) -> Option<Span> {
        let cursor = self.tree.cursor_lower_bound(&page)?;
        let (key, range) = cursor.current();
        Some(Self::span(*key, range))
    }

    fn count(&mut self, purged: bool) -> &mut usize {
        if purged {
            &mut self.purged
        } else {
            &mut self.unpinned
        }
    }

    /// Inserts `[start, end)`, purgeable with `link` or purged without, using a node from
    /// `pool`.
    fn insert(&mut self, start: usize, end: usize, mut link: Option<L>, pool: &mut NodePool<L>) {
        // The callers checked the pool's size before changing anything.
        let Some(node) = pool.nodes.pop() else {
            return;
        };
        if let Some(link) = &mut link {
            link.place(start, end);
        }
        *self.count(link.is_none()) += end - start;
        self.tree
            .insert(node.into_node(start, PinRange { end, link }));
    }

    /// Inserts `[start, end)` as a purgeable range with a new link from `pool`.
    fn insert_purgeable(&mut self, start: usize, end: usize, pool: &mut NodePool<L>) {
        let link = pool.links.pop();
        if link.is_some() {
            self.insert(start, end, link, pool);
        }
    }

    /// Removes the range at `start`, giving its node back to `pool`; returns its link.
    fn take(&mut self, start: usize, pool: &mut NodePool<L>) -> Option<L> {
        let range = self.tree.get_mut(&start)?;
        let (end, link) = (range.end, range.link.take());
        *self.count(link.is_none()) -= end - start;
        if let Some(node) = self.tree.remove_node(&start) {
            pool.recycle_node(node.into_reservation());
        }
        link
    }

    /// Removes the range at `start`, giving its node and its link back to `pool`.
    fn take_and_recycle(&mut self, start: usize, pool: &mut NodePool<L>) {
        if let Some(link) = self.take(start, pool) {
            pool.recycle_link(link);
        }
    }

    /// Shortens the range at `start` to end at `end`.
    fn trim(&mut self, start: usize, end: usize) {
        let Some(range) = self.tree.get_mut(&start) else {
            return;
        };
        let cut = range.end - end;
        range.end = end;
        let purged = match &mut range.link {
            Some(link) => {
                link.place(start, end);
                false
            }
            None => true,
        };
        *self.count(purged) -= cut;
    }

    /// Whether any page of `[start, end)` is unpinned.
    pub(crate) fn any_unpinned(&self, start: usize, end: usize) -> bool {
        start < end && self.last_below(end).is_some_and(|s| s.end > start)
    }

    /// Pins `[start, end)`. Returns whether any of its pages had been purged.
    ///
    /// Needs one node in `pool`, and one link when it splits a purgeable range; without them
    /// nothing changes and the need is returned.
    pub(crate) fn pin(
        &mut self,
        start: usize,
        end: usize,
        pool: &mut NodePool<L>,
    ) -> Result<bool, Need> {
        let splits = self
            .last_below(end)
            .is_some_and(|s| s.start < start && s.end > end && !s.purged);
        let need = Need {
            nodes: 1,
            links: usize::from(splits),
        };
        if !pool.holds(need) {
            return Err(need);
        }
        let mut was_purged = false;
        let mut steps = Steps::new();
        // From the right: each step removes or trims the last range overlapping what is left.
        while let Some(s) = self.last_below(end) {
            if s.end <= start {
                break;
            }
            steps.step();
            was_purged |= s.purged;
            if s.start < start {
                // Keep the left part; a right part past `end` becomes its own range.
                self.trim(s.start, start);
                if s.end > end {
                    if s.purged {
                        self.insert(end, s.end, None, pool);
                    } else {
                        self.insert_purgeable(end, s.end, pool);
                    }
                }
                break;
            }
            // A right part past `end` keeps the link, and so its place on the LRU.
            let link = self.take(s.start, pool);
            if s.end > end {
                self.insert(end, s.end, link, pool);
            } else if let Some(link) = link {
                pool.recycle_link(link);
            }
        }
        Ok(was_purged)
    }

    /// Unpins `[start, end)`. Pages already unpinned keep their state; the others become
    /// purgeable, merged with purgeable neighbours into ranges with new links.
    ///
    /// Needs one node and one link in `pool` for each purged range within or touching
    /// `[start, end)`, plus one; without them nothing changes and the need is returned.
    pub(crate) fn unpin(
        &mut self,
        start: usize,
        end: usize,
        pool: &mut NodePool<L>,
    ) -> Result<(), Need> {
        if start >= end {
            return Ok(());
        }
        // Count first, so that a short pool leaves everything unchanged.
        let mut n = 1;
        let mut page = start;
        let mut steps = Steps::new();
        while let Some(s) = self.first_from(page) {
            if s.start > end {
                break;
            }
            steps.step();
            n += usize::from(s.purged);
            page = s.start + 1;
        }
        let need = Need { nodes: n, links: n };
        if !pool.holds(need) {
            return Err(need);
        }

        // `pos`: the first page not yet decided. `run`: first page of the purgeable run being
        // built, which ends at `pos`.
        let mut pos = start;
        let mut run = None;
        if let Some(s) = self.last_below(start) {
            if s.end > start || (s.end == start && !s.purged) {
                if s.purged {
                    pos = s.end;
                } else {
                    self.take_and_recycle(s.start, pool);
                    run = Some(s.start);
                    pos = s.end.max(start);
                }
            }
        }
        while let Some(s) = self.first_from(pos) {
            if s.start > end || (s.start == end && s.purged) {
                break;
            }
            steps.step();
            if s.purged {
                // New pages before it join the run; the run ends there.
                let run_start = run.take().unwrap_or(pos);
                if run_start < s.start {
                    self.insert_purgeable(run_start, s.start, pool);
                }
            } else {
                self.take_and_recycle(s.start, pool);
                run.get_or_insert(pos.min(s.start));
            }
            pos = s.end;
        }
        let run_end = pos.max(end);
        if pos < end {
            run.get_or_insert(pos);
        }
        if let Some(run_start) = run {
            self.insert_purgeable(run_start, run_end, pool);
        }
        Ok(())
    }

    /// The purgeable range starting at `start`: its end and its link.
    pub(crate) fn purgeable(&self, start: usize) -> Option<(usize, &L)> {
        let range = self.tree.get(&start)?;
        Some((range.end, range.link.as_ref()?))
    }

    /// Marks the purgeable range starting at `start` purged and drops its link, merging it with
    /// purged neighbours (whose nodes are freed). Returns its page count, or `None` when no
    /// purgeable range starts there.
    pub(crate) fn mark_purged(&mut self, start: usize) -> Option<usize> {
        let range = self.tree.get_mut(&start)?;
        let link = range.link.take()?;
        let end = range.end;
        let pages = end - start;
        drop(link);
        self.unpinned -= pages;
        self.purged += pages;
        // A purged range right after it joins it.
        let mut merged_end = end;
        if let Some(next) = self.first_from(end) {
            if next.start == end && next.purged {
                merged_end = next.end;
                self.tree.remove(&next.start);
            }
        }
        // And it joins a purged range right before it.
        match self.last_below(start) {
            Some(prev) if prev.end == start && prev.purged => {
                self.tree.remove(&start);
                if let Some(prev) = self.tree.get_mut(&prev.start) {
                    prev.end = merged_end;
                }
            }
            _ => {
                if let Some(range) = self.tree.get_mut(&start) {
                    range.end = merged_end;
                }
            }
        }
        Some(pages)
    }

    /// Removes up to `max` ranges, as when the region goes away, so that a caller freeing a
    /// million of them can yield in between. Returns whether any are left.
    pub(crate) fn remove_some(&mut self, max: usize) -> bool {
        for _ in 0..max {
            let Some(start) = self.tree.cursor_front().map(|c| *c.current().0) else {
                break;
            };
            if let Some(range) = self.tree.remove(&start) {
                *self.count(range.link.is_none()) -= range.end - start;
            }
        }
        self.tree.cursor_front().is_some()
    }

    /// The ranges in order.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Span> + '_ {
        self.tree.iter().map(|(k, r)| Self::span(*k, r))
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

    /// When a test link last joined the model LRU; later is more recent.
    static LRU_CLOCK: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);

    /// A link that remembers where it was placed, and when it joined the LRU (0: not on it);
    /// `foreign`: charged to another cgroup than the caller's.
    struct TestLink {
        lru_since: usize,
        start: usize,
        end: usize,
        foreign: bool,
    }

    impl RangeLink for TestLink {
        fn place(&mut self, start: usize, end: usize) {
            if self.lru_since == 0 {
                self.lru_since = LRU_CLOCK.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
            self.start = start;
            self.end = end;
        }

        fn unplace(&mut self) {
            self.lru_since = 0;
        }

        fn reusable(&self) -> bool {
            !self.foreign
        }
    }

    type Ranges = PinRanges<TestLink>;
    type Pool = NodePool<TestLink>;

    const PLENTY: Need = Need {
        nodes: PAGES + 1,
        links: PAGES + 1,
    };

    fn new_link() -> Result<TestLink> {
        Ok(TestLink {
            lru_since: 0,
            start: 0,
            end: 0,
            foreign: false,
        })
    }

    fn refill(pool: &mut Pool) {
        pool.fill(PLENTY, new_link).expect("allocating test nodes");
    }

    fn pool() -> Pool {
        let mut pool = NodePool::new();
        refill(&mut pool);
        pool
    }

    /// The tree as a page map, checking the invariants on the way.
    fn pages_of(ranges: &Ranges) -> [Page; PAGES] {
        let mut pages = [Page::Pinned; PAGES];
        let mut prev: Option<Span> = None;
        let (mut unpinned, mut purged) = (0, 0);
        for s in ranges.iter() {
            assert!(s.start < s.end);
            assert!(s.end <= PAGES);
            if let Some(p) = prev {
                assert!(p.end <= s.start);
                assert!(!(p.end == s.start && p.purged == s.purged));
            }
            if !s.purged {
                let (end, link) = ranges.purgeable(s.start).expect("purgeable range");
                assert_eq!(end, s.end);
                assert_eq!((link.start, link.end), (s.start, s.end));
                unpinned += s.end - s.start;
            } else {
                purged += s.end - s.start;
            }
            for page in &mut pages[s.start..s.end] {
                *page = if s.purged {
                    Page::Purged
                } else {
                    Page::Unpinned
                };
            }
            prev = Some(s);
        }
        assert_eq!(ranges.unpinned_pages(), unpinned);
        assert_eq!(ranges.purged_pages(), purged);
        pages
    }

    fn unpin(r: &mut Ranges, pool: &mut Pool, start: usize, end: usize) {
        r.unpin(start, end, pool).expect("pool is large enough");
        refill(pool);
    }

    fn pin(r: &mut Ranges, pool: &mut Pool, start: usize, end: usize) -> bool {
        let purged = r.pin(start, end, pool).expect("pool is large enough");
        refill(pool);
        purged
    }

    /// When the link of the purgeable range at `start` joined the LRU: its place there.
    fn lru_place(r: &Ranges, start: usize) -> usize {
        let since = r.purgeable(start).expect("purgeable range").1.lru_since;
        assert_ne!(since, 0, "a purgeable range's link is on the LRU");
        since
    }

    #[test]
    fn unpin_merges_adjacent_and_overlapping() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        unpin(&mut r, &mut pool, 0, 2);
        unpin(&mut r, &mut pool, 4, 6);
        unpin(&mut r, &mut pool, 2, 4);
        unpin(&mut r, &mut pool, 5, 9);
        assert_eq!(r.iter().count(), 1);
        assert_eq!(
            r.iter().next(),
            Some(Span {
                start: 0,
                end: 9,
                purged: false
            })
        );
        assert_eq!(r.unpinned_pages(), 9);
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
    fn pinning_part_of_a_range_keeps_its_lru_place_and_unpinning_makes_it_newest() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        unpin(&mut r, &mut pool, 0, 10);
        let first = lru_place(&r, 0);
        // Trimmed at either end: the same place on the LRU, placed anew.
        assert!(!pin(&mut r, &mut pool, 0, 2));
        assert_eq!(lru_place(&r, 2), first);
        assert!(!pin(&mut r, &mut pool, 8, 10));
        assert_eq!(lru_place(&r, 2), first);
        // Split: the left part keeps it, the right part is newer.
        assert!(!pin(&mut r, &mut pool, 4, 5));
        assert_eq!(lru_place(&r, 2), first);
        let right = lru_place(&r, 5);
        assert!(right > first);
        // Unpinned again: merged into one range, the most recently unpinned.
        unpin(&mut r, &mut pool, 0, 10);
        assert!(lru_place(&r, 0) > right);
        pages_of(&r);
    }

    #[test]
    fn unpin_and_pin_again_reuse_the_pool() {
        let (mut r, mut pool) = (PinRanges::new(), NodePool::new());
        pool.fill(Need { nodes: 1, links: 1 }, new_link)
            .expect("allocating test nodes");
        let held = (pool.nodes.len(), pool.links.len());
        for _ in 0..100 {
            r.unpin(3, 9, &mut pool).expect("the pool holds enough");
            assert!(!r.pin(0, 16, &mut pool).expect("the pool holds enough"));
            // Everything the pair took came back, with its link off the LRU.
            assert_eq!((pool.nodes.len(), pool.links.len()), held);
            assert!(pool.links.iter().all(|l| l.lru_since == 0));
        }
        assert_eq!(r.iter().count(), 0);
    }

    #[test]
    fn links_the_caller_may_not_reuse_are_freed_not_kept() {
        let (mut r, mut pool) = (PinRanges::new(), NodePool::new());
        pool.fill(Need { nodes: 1, links: 1 }, new_link)
            .expect("allocating test nodes");
        let held = pool.links.len();
        // A range whose link another cgroup paid for: pinned, its link is freed.
        r.unpin(0, 4, &mut pool).expect("the pool holds enough");
        if let Some(link) = r.tree.get_mut(&0).and_then(|range| range.link.as_mut()) {
            link.foreign = true;
        }
        assert!(!r.pin(0, 4, &mut pool).expect("the pool holds enough"));
        assert_eq!(pool.links.len(), held - 1);
        // Spare links another cgroup paid for go before an operation; the caller's stay.
        pool.fill(Need { nodes: 1, links: 3 }, new_link)
            .expect("allocating test nodes");
        pool.keep_reusable();
        assert_eq!(pool.links.len(), 3);
        for link in pool.links.iter_mut() {
            link.foreign = true;
        }
        pool.keep_reusable();
        assert_eq!(pool.links.len(), 0);
    }

    #[test]
    fn trim_keeps_a_small_pool_and_frees_a_grown_one() {
        let mut pool: Pool = NodePool::new();
        pool.fill(Need { nodes: 1, links: 0 }, new_link)
            .expect("allocating test nodes");
        pool.trim();
        assert_eq!((pool.nodes.len(), pool.links.len()), (2, 2));
        pool.fill(
            Need {
                nodes: 100,
                links: 100,
            },
            new_link,
        )
        .expect("allocating test nodes");
        pool.trim();
        assert_eq!((pool.nodes.len(), pool.links.len()), (0, 0));
        assert_eq!(pool.nodes.capacity(), 0);
    }

    #[test]
    fn pin_reports_purged_pages_only_when_overlapping() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        unpin(&mut r, &mut pool, 0, 4);
        unpin(&mut r, &mut pool, 8, 12);
        assert_eq!(r.mark_purged(8), Some(4));
        assert_eq!(r.mark_purged(8), None);
        assert!(r.purgeable(8).is_none());
        assert!(!pin(&mut r, &mut pool, 0, 4));
        assert!(!pin(&mut r, &mut pool, 4, 8));
        assert!(pin(&mut r, &mut pool, 10, 11));
        assert!(pin(&mut r, &mut pool, 8, 10));
        assert!(!r.any_unpinned(8, 11));
        assert!(r.any_unpinned(11, 12));
        assert_eq!(r.purged_pages(), 1);
    }

    #[test]
    fn purged_ranges_next_to_each_other_merge_into_one() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        // Three ranges unpinned one after the other, so not merged while purgeable: each UNPIN
        // is purged before the next, as reclaim may do.
        unpin(&mut r, &mut pool, 4, 6);
        assert_eq!(r.mark_purged(4), Some(2));
        unpin(&mut r, &mut pool, 8, 10);
        assert_eq!(r.mark_purged(8), Some(2));
        unpin(&mut r, &mut pool, 6, 8);
        assert_eq!(r.iter().count(), 3);
        // Purging the middle one joins all three.
        assert_eq!(r.mark_purged(6), Some(2));
        assert_eq!(r.iter().count(), 1);
        assert_eq!(
            r.iter().next(),
            Some(Span {
                start: 4,
                end: 10,
                purged: true
            })
        );
        assert_eq!(r.purged_pages(), 6);
        // Pinning the middle splits it again, and still reports the purge.
        assert!(pin(&mut r, &mut pool, 6, 7));
        assert_eq!(r.iter().count(), 2);
        pages_of(&r);
    }

    #[test]
    fn purged_pages_unpinned_and_purged_one_by_one_take_one_range() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        for page in 0..1000 {
            unpin(&mut r, &mut pool, page, page + 1);
            assert!(r.mark_purged(page).is_some());
        }
        assert_eq!(r.iter().count(), 1);
        assert_eq!(r.purged_pages(), 1000);
    }

    #[test]
    fn remove_some_removes_at_most_the_number_asked() {
        let (mut r, mut pool) = (PinRanges::new(), pool());
        for i in 0..10 {
            unpin(&mut r, &mut pool, 2 * i, 2 * i + 1);
        }
        r.mark_purged(4);
        assert!(r.remove_some(4));
        assert_eq!(r.iter().count(), 6);
        assert!(!r.remove_some(100));
        assert_eq!(r.iter().count(), 0);
        assert_eq!((r.unpinned_pages(), r.purged_pages()), (0, 0));
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
        unpin(&mut r, &mut pool, 20, 30);
        let before = pages_of(&r);
        let mut empty = NodePool::new();
        let need = r.unpin(0, 16, &mut empty).expect_err("needs nodes");
        assert_eq!(need, Need { nodes: 5, links: 5 });
        assert_eq!(pages_of(&r), before);
        assert_eq!(r.pin(0, 1, &mut empty), Err(Need { nodes: 1, links: 0 }));
        assert_eq!(r.pin(22, 23, &mut empty), Err(Need { nodes: 1, links: 1 }));
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
                    let target = r.iter().find(|s| s.start >= a && !s.purged);
                    if let Some(s) = target {
                        assert_eq!(r.mark_purged(s.start), Some(s.end - s.start));
                        model[s.start..s.end].fill(Page::Purged);
                    }
                }
            }
            assert_eq!(pages_of(&r), model);
        }
    }
}
