// SPDX-License-Identifier: GPL-2.0

//! The registry of live regions: every region with an open file, for the diagnostics.
//!
//! Owns: the list of regions, linked through the regions themselves (their `registry_links`),
//! so that registering one allocates nothing; the lock of that list; and region ids, given
//! under that lock as a region is listed, so the list is always in id order.
//! Needs: from [`Region`], its id and [`Region::summary`]. A region registers itself when it is
//! made and unregisters when its file is released; the debugfs summary (`diag`) reads
//! [`summaries`].
//!
//! Locks: the registry lock is held only to link, unlink or copy pointers; a region's own lock
//! is taken after it is dropped, never inside it.

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

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

/// The live regions, in id order, and how many there are.
struct Registry {
    list: List<Region>,
    len: usize,
    /// The id of the next region listed.
    next_id: u64,
}

kernel::sync::global_lock! {
    // SAFETY: `RegistryReady::init` calls `init` at module load, before the device is registered
    // and so before any region exists.
    unsafe(uninit) static REGIONS: Mutex<Registry> = Registry {
        list: List::new(),
        len: 0,
        next_id: 1,
    };
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

/// Gives a new region its id and adds it to the registry, which keeps its `ListArc`. The id is
/// taken and the region listed under one lock: the list stays in id order.
pub(super) fn register(region: ListArc<Region>) {
    let mut registry = REGIONS.lock();
    region.id.store(registry.next_id, Relaxed);
    registry.next_id += 1;
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

/// References to the live regions, in the order they were made (by id, the list's order); at
/// most as many as there were when the copy began.
fn snapshot() -> Result<KVVec<Arc<Region>>> {
    let len = REGIONS.lock().len;
    let mut regions = KVVec::with_capacity(len, GFP_KERNEL)?;
    let registry = REGIONS.lock();
    for region in registry.list.iter().take(len) {
        // Within the capacity reserved above: no allocation happens.
        regions.push(region.into(), GFP_NOWAIT)?;
    }
    Ok(regions)
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
