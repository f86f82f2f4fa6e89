// SPDX-License-Identifier: GPL-2.0

//! The memory cgroup of a region, and charging to it.
//!
//! A region belongs to the memory cgroup of the task that created it (opened the device): its
//! pages are charged there as that task fills them, and everything the driver allocates for
//! the region is charged there too, whichever task makes the call that allocates (another
//! process may hold the fd and pin, unpin or name the region). [`Memcg::charge`] makes the
//! region's cgroup the active one of the current task for as long as the returned guard lives;
//! allocations with `__GFP_ACCOUNT` (`GFP_KERNEL_ACCOUNT`, or from a `SLAB_ACCOUNT` cache) made
//! meanwhile are charged to it.

use kernel::ffi::{c_int, c_void};

extern "C" {
    /// The memory cgroup of the current task's mm, referenced; null without memcg.
    fn ashmem_memcg_of_current() -> *mut c_void;
    /// Drops a reference taken by `ashmem_memcg_of_current`.
    fn ashmem_memcg_put(memcg: *mut c_void);
    /// `set_active_memcg()`: returns the previous active cgroup.
    fn ashmem_set_active_memcg(memcg: *mut c_void) -> *mut c_void;
    /// `memcg_kmem_id()`: the index of the cgroup's lists in a `list_lru`, negative for the
    /// per-node lists.
    fn ashmem_memcg_kmem_id(memcg: *mut c_void) -> c_int;
}

/// A memory cgroup, referenced: the one a region is charged to and its ranges are listed
/// under.
///
/// # Invariants
///
/// `ptr` is null (no memory cgroups) or a `struct mem_cgroup` on which this holds a reference.
pub(crate) struct Memcg {
    ptr: *mut c_void,
}

// SAFETY: The reference may be used and dropped from any task.
unsafe impl Send for Memcg {}
// SAFETY: The pointer is only passed to the kernel, which does its own synchronisation.
unsafe impl Sync for Memcg {}

impl Memcg {
    /// The memory cgroup of the current task.
    pub(crate) fn of_current() -> Self {
        // SAFETY: No requirements; the reference returned is ours.
        let ptr = unsafe { ashmem_memcg_of_current() };
        // INVARIANT: null or referenced.
        Self { ptr }
    }

    /// Charges the current task's accounted allocations to this cgroup until the guard is
    /// dropped.
    pub(crate) fn charge(&self) -> Charging<'_> {
        // SAFETY: `ptr` is null or referenced for as long as `self`, which the guard borrows;
        // the guard puts the previous value back before that ends.
        let previous = unsafe { ashmem_set_active_memcg(self.ptr) };
        Charging {
            previous,
            _memcg: self,
        }
    }

    /// Which lists of a memcg-aware `list_lru` hold this cgroup's entries: [`ListKey::Node`]
    /// for the root (and for every cgroup when kernel memory is not accounted), where the
    /// per-node lists are used.
    pub(crate) fn list_key(&self) -> ListKey {
        // SAFETY: By the type invariant `ptr` is null or a cgroup we hold a reference to.
        unsafe { ListKey::of(self.ptr) }
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold this reference (the call accepts null).
        unsafe { ashmem_memcg_put(self.ptr) };
    }
}

/// The lists of a memcg-aware `list_lru` that a cgroup's entries go on.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum ListKey {
    /// The per-node lists, shared by the root and, without kernel memory accounting, by all.
    Node,
    /// The lists of the cgroup at this address.
    Cgroup(usize),
}

impl ListKey {
    /// The key of `memcg`.
    ///
    /// # Safety
    ///
    /// `memcg` is null or a cgroup that stays alive during the call.
    pub(crate) unsafe fn of(memcg: *mut c_void) -> Self {
        // SAFETY: By the caller's guarantee `memcg` is null or a live cgroup; the function only
        // reads its id.
        if unsafe { ashmem_memcg_kmem_id(memcg) } < 0 {
            Self::Node
        } else {
            Self::Cgroup(memcg as usize)
        }
    }
}

/// The region's cgroup is the current task's active one: allocations are charged to it.
///
/// # Invariants
///
/// `previous` was the active cgroup when this was made, and is set back when it is dropped.
pub(crate) struct Charging<'a> {
    previous: *mut c_void,
    _memcg: &'a Memcg,
}

impl Drop for Charging<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant this restores what was active before; it is either null
        // or a cgroup its setter keeps alive (the kernel's users nest these like we do).
        unsafe { ashmem_set_active_memcg(self.previous) };
    }
}
