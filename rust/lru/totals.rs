// SPDX-License-Identifier: GPL-2.0

//! The pages on the purge LRU.
//!
//! `list_lru` counts what its entries weigh on each list, and moves that count with the entries
//! when a memory cgroup is removed: each entry weighs its range's pages there (see
//! `memcg_shim.c`), so the shrinker's count for a cgroup and node is the list's own count, exact
//! wherever the kernel moved the entries. What no list answers is the sum over every list, for
//! `ASHMEM_PURGE_ALL_CACHES` (which returns it) and the diagnostics: one counter, changed
//! wherever an entry's weight on a list changes.

use core::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// The pages on every list.
static TOTAL: AtomicIsize = AtomicIsize::new(0);

/// Pages went on (`delta > 0`) or came off the lists.
pub(super) fn add(delta: isize) {
    TOTAL.fetch_add(delta, Relaxed);
}

/// The pages on every list, of every cgroup.
pub(super) fn total() -> usize {
    TOTAL.load(Relaxed).max(0) as usize
}
