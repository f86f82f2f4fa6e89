// SPDX-License-Identifier: GPL-2.0

//! The pages on the purge LRU, per memory cgroup and node, kept beside the list.
//!
//! `list_lru` counts entries, and reclaim wants pages: a range may be one page or a million.
//! Adding the entries' pages up on every `count_objects` call walked the whole list with its
//! lock held. Instead each entry, when it goes on or comes off the list or changes size, adds
//! its change to one counter: that of its region's cgroup and of the node it is listed on. A
//! count reads one counter.
//!
//! The counters of a cgroup live in a [`CgroupPages`], shared by the regions of that cgroup
//! through [`CgroupPagesRef`]s and found by reclaim in a table keyed by [`ListKey`]: the
//! cgroup, or the per-node lists of the root. A table entry lives while a region of its cgroup
//! does, which keeps the cgroup itself alive, so a key is never reused while it is in the
//! table.
//!
//! When a cgroup is removed, `list_lru` moves its entries to its parent's lists, but their
//! pages stay on the removed cgroup's counters, which nothing reads any more: the parent's
//! count is then low by those pages. [`count`] answers at least one page per entry on the list,
//! so such ranges are still found, and purged, by the parent's reclaim.

use core::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use kernel::{
    ffi::c_uint,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::Arc,
};

use crate::memcg::{ListKey, Memcg};

extern "C" {
    /// The size of an array indexed by node id.
    fn ashmem_nr_node_ids() -> c_uint;
}

/// The pages of one node's list of one cgroup, alone on its cache line: the CPUs of a node
/// unpin and pin there all the time.
#[repr(align(64))]
pub(crate) struct NodePages(AtomicIsize);

impl NodePages {
    /// Changes the count by `delta` pages.
    pub(crate) fn add(&self, delta: isize) {
        self.0.fetch_add(delta, Relaxed);
    }

    fn get(&self) -> usize {
        self.0.load(Relaxed).max(0) as usize
    }
}

/// The page counters of one cgroup, one per node id.
pub(crate) struct CgroupPages {
    nodes: KVec<NodePages>,
}

impl CgroupPages {
    fn new() -> Result<Self> {
        // SAFETY: A plain read of a kernel variable, fixed after boot.
        let n = unsafe { ashmem_nr_node_ids() } as usize;
        let mut nodes = KVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..n {
            nodes.push(NodePages(AtomicIsize::new(0)), GFP_KERNEL_ACCOUNT)?;
        }
        Ok(Self { nodes })
    }

    /// The counter of node `nid`, or `None` for a node id the kernel does not have.
    pub(crate) fn node(&self, nid: usize) -> Option<&NodePages> {
        self.nodes.get(nid)
    }
}

/// A table entry: the counters and the regions that use them.
struct Listed {
    pages: Arc<CgroupPages>,
    users: usize,
}

/// The counters of every cgroup that has a region, by the lists they count.
struct Table {
    /// `None` until the first region is made (an empty tree cannot be built in a `static`).
    tree: Option<RBTree<ListKey, Listed>>,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called at module load, before the device is registered and so before
    // any region can look its cgroup up.
    unsafe(uninit) static TABLE: SpinLock<Table> = Table { tree: None };
}

/// Sets the table up. Called once, at module load, before any region exists.
///
/// # Safety
///
/// Must be called exactly once, before any other function of this module.
pub(super) unsafe fn init() {
    // SAFETY: By the caller's guarantee.
    unsafe { TABLE.init() };
}

/// A region's use of the counters of its cgroup.
///
/// # Invariants
///
/// The table holds an entry for `key` with `pages`, whose `users` counts this value.
pub(crate) struct CgroupPagesRef {
    key: ListKey,
    pages: Arc<CgroupPages>,
}

impl CgroupPagesRef {
    /// The counters of `memcg`, made (and charged to whatever cgroup is being charged) if it
    /// has none yet. Call without locks held; it may allocate.
    pub(crate) fn get(memcg: &Memcg) -> Result<Self> {
        let key = memcg.list_key();
        if let Some(found) = Self::find(key) {
            return Ok(found);
        }
        let pages = Arc::new(CgroupPages::new()?, GFP_KERNEL_ACCOUNT)?;
        let node = RBTreeNode::new(
            key,
            Listed {
                pages: pages.clone(),
                users: 1,
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        let mut table = TABLE.lock();
        let tree = table.tree.get_or_insert_with(RBTree::new);
        if let Some(listed) = tree.get_mut(&key) {
            // Another region of the cgroup was quicker: ours is freed after the unlock.
            listed.users += 1;
            let pages = listed.pages.clone();
            drop(table);
            drop(node);
            // INVARIANT: counted above.
            return Ok(Self { key, pages });
        }
        tree.insert(node);
        // INVARIANT: inserted with one user.
        Ok(Self { key, pages })
    }

    fn find(key: ListKey) -> Option<Self> {
        let mut table = TABLE.lock();
        let listed = table.tree.as_mut()?.get_mut(&key)?;
        listed.users += 1;
        // INVARIANT: counted above.
        Some(Self {
            key,
            pages: listed.pages.clone(),
        })
    }

    /// The counters.
    pub(crate) fn pages(&self) -> &CgroupPages {
        &self.pages
    }
}

impl Drop for CgroupPagesRef {
    fn drop(&mut self) {
        let removed = {
            let mut table = TABLE.lock();
            let tree = table.tree.as_mut();
            match tree {
                Some(tree) => {
                    let last = tree.get_mut(&self.key).is_some_and(|listed| {
                        listed.users -= 1;
                        listed.users == 0
                    });
                    if last {
                        tree.remove_node(&self.key)
                    } else {
                        None
                    }
                }
                None => None,
            }
        };
        // Freed without the lock held.
        drop(removed);
    }
}

/// The pages on the list of the cgroup `memcg` (null: no cgroups) on node `nid`, as far as the
/// counters know them: those of a removed child cgroup, which `list_lru` moved here, are not
/// included (see the module documentation).
///
/// # Safety
///
/// `memcg` is null or a cgroup that stays alive during the call.
pub(super) unsafe fn pages_of(memcg: *mut kernel::ffi::c_void, nid: usize) -> usize {
    // SAFETY: By the caller's guarantee.
    let key = unsafe { ListKey::of(memcg) };
    let table = TABLE.lock();
    table
        .tree
        .as_ref()
        .and_then(|tree| tree.get(&key))
        .and_then(|listed| listed.pages.node(nid))
        .map_or(0, NodePages::get)
}

/// The pages on every list: the sum of all counters, those of removed cgroups included. Takes
/// the table's lock over a walk of every cgroup that has a region: for the diagnostics and
/// `ASHMEM_PURGE_ALL_CACHES`, not for reclaim.
pub(super) fn total() -> usize {
    let table = TABLE.lock();
    let sum = table.tree.as_ref().map_or(0isize, |tree| {
        tree.values()
            .flat_map(|listed| listed.pages.nodes.iter())
            .fold(0, |sum, node| sum.wrapping_add(node.0.load(Relaxed)))
    });
    sum.max(0) as usize
}
