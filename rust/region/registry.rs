// SPDX-License-Identifier: GPL-2.0

//! The registry of live regions: every region with an open file, for the diagnostics.
//!
//! Owns: the list of regions, linked through the regions themselves (their `registry_links`),
//! so that registering one allocates nothing; the lock of that list; and region ids.
//! Needs: from [`Region`], its id and [`Region::summary`]. A region registers itself when it is
//! made and unregisters when its file is released; the debugfs summary (`diag`) reads
//! [`summaries`].
//!
//! Locks: the registry lock is held only to link, unlink or copy pointers; a region's own lock
//! is taken after it is dropped, never inside it.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use kernel::{
    alloc::KVVec,
    list::{List, ListArc},
    prelude::*,
    sync::Arc,
};

use super::{Region, RegionSummary};

// The one `ListArc` of a region is made with it and held by the registry.
kernel::list::impl_list_arc_safe! {
    impl ListArcSafe<0> for Region { untracked; }
}
kernel::list::impl_list_item! {
    impl ListItem<0> for Region { using ListLinks { self.registry_links }; }
}

/// The live regions, and how many there are.
struct Registry {
    list: List<Region>,
    len: usize,
}

kernel::sync::global_lock! {
    // SAFETY: `RegistryReady::init` calls `init` at module load, before the device is registered
    // and so before any region exists.
    unsafe(uninit) static REGIONS: Mutex<Registry> = Registry { list: List::new(), len: 0 };
}

/// Proof that the registry is set up; the module holds it.
pub(crate) struct RegistryReady(());

impl RegistryReady {
    /// Sets up the registry. Called once, at module load, before the device is registered.
    pub(crate) fn init() -> Result<Self> {
        static DONE: AtomicBool = AtomicBool::new(false);
        if DONE.swap(true, Relaxed) {
            return Err(EBUSY);
        }
        // SAFETY: Guarded above to run once; the module calls it at load, before registering
        // the device, so before any region can exist.
        unsafe { REGIONS.init() };
        Ok(Self(()))
    }
}

/// The id of the next region.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An id for a new region.
pub(super) fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Relaxed)
}

/// Adds a new region to the registry, which keeps its `ListArc`.
pub(super) fn register(region: ListArc<Region>) {
    let mut registry = REGIONS.lock();
    registry.list.push_back(region);
    registry.len += 1;
}

/// Removes a region from the registry, when its file is released.
pub(super) fn unregister(region: &Region) {
    let removed = {
        let mut registry = REGIONS.lock();
        // SAFETY: The registry's list is the only list of regions there is (the only one with
        // `Region`'s list id), so `region` is on it or on none.
        let removed = unsafe { registry.list.remove(region) };
        if removed.is_some() {
            registry.len -= 1;
        }
        removed
    };
    // The reference is dropped without the lock held.
    drop(removed);
}

/// References to the live regions, in the order they were made (by id); at most as many as
/// there were when the copy began.
fn snapshot() -> Result<KVVec<Arc<Region>>> {
    let len = REGIONS.lock().len;
    let mut regions = KVVec::with_capacity(len, GFP_KERNEL)?;
    {
        let registry = REGIONS.lock();
        for region in registry.list.iter().take(len) {
            // Within the capacity reserved above: no allocation happens.
            regions.push(region.into(), GFP_NOWAIT)?;
        }
    }
    sort_by_key(&mut regions, |region: &Arc<Region>| region.id);
    Ok(regions)
}

/// Sorts `items` by `key`, keeping equal keys in their order. Used on regions by id: the list
/// holds them in the order they registered, which differs from the order of their ids only
/// where opens raced between taking an id and registering, so this insertion sort moves a few
/// entries over a short distance. (It also keeps `core::slice::sort` out of the module: objtool
/// misreads that code's panic paths and warns that it falls through.)
fn sort_by_key<T>(items: &mut [T], key: impl Fn(&T) -> u64) {
    for unsorted in 1..items.len() {
        let mut at = unsorted;
        while at > 0 && key(&items[at - 1]) > key(&items[at]) {
            items.swap(at - 1, at);
            at -= 1;
        }
    }
}

/// What the summary shows of each live region, in the order they were made (by id). The
/// registry lock is held only to copy references, with the memory allocated before; each
/// region's lock is then taken for a moment, and the references are dropped without a lock. No
/// lock the shrinker waits on is held: it only tries region locks, and takes no registry lock.
pub(crate) fn summaries() -> Result<KVVec<RegionSummary>> {
    let regions = snapshot()?;
    let mut summaries = KVVec::with_capacity(regions.len(), GFP_KERNEL)?;
    for region in regions {
        // Within the capacity reserved above.
        summaries.push(region.summary(), GFP_NOWAIT)?;
    }
    Ok(summaries)
}

#[cfg(CONFIG_KUNIT)]
#[kernel::macros::kunit_tests(ashmem_registry)]
mod tests {
    use super::sort_by_key;

    /// Sorts `items` (pairs of key and original position) by key; checks the keys ascend and
    /// equal keys keep their order.
    fn sorts(mut items: [(u64, usize); 8]) {
        sort_by_key(&mut items, |item| item.0);
        for pair in items.windows(2) {
            assert!(pair[0].0 < pair[1].0 || (pair[0].0 == pair[1].0 && pair[0].1 < pair[1].1));
        }
    }

    fn numbered(keys: [u64; 8]) -> [(u64, usize); 8] {
        let mut items = [(0, 0); 8];
        for (position, (item, key)) in items.iter_mut().zip(keys).enumerate() {
            *item = (key, position);
        }
        items
    }

    #[test]
    fn sorted_ids_stay_in_place() {
        sorts(numbered([1, 2, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn racing_registrations_come_out_in_id_order() {
        sorts(numbered([1, 3, 2, 4, 6, 5, 8, 7]));
        sorts(numbered([2, 3, 4, 5, 6, 7, 8, 1]));
    }

    #[test]
    fn reversed_and_repeated_keys_are_sorted() {
        sorts(numbered([8, 7, 6, 5, 4, 3, 2, 1]));
        sorts(numbered([3, 1, 3, 1, 2, 2, 0, 0]));
    }

    #[test]
    fn empty_and_single_lists_are_left_alone() {
        let mut none: [u64; 0] = [];
        sort_by_key(&mut none, |id| *id);
        let mut one = [5u64];
        sort_by_key(&mut one, |id| *id);
        assert_eq!(one, [5]);
    }
}
