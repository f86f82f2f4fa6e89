// SPDX-License-Identifier: GPL-2.0

//! Who pays: the memory cgroup an allocation is charged to, held as the kernel holds its own
//! long-lived charges.
//!
//! A call pays for what it allocates: everything the driver allocates during an ioctl or an
//! `mmap` (tree nodes, spare pools, LRU entries, the name, the backing file) is charged, like any
//! kernel allocation with `__GFP_ACCOUNT`, to the memory cgroup of the calling task, and a region
//! itself to the task that opens the device. Nothing one holder of a region's fd does is charged
//! to another (see `docs/design.md`, "Who pays").
//!
//! A charge that outlives the call is held as an [`ObjCgroup`]: a reference to the kernel's
//! object cgroup of that memory cgroup, as slab objects hold theirs. When the memory cgroup is
//! removed the kernel points its object cgroups at the parent, so the reference keeps no dying
//! memory cgroup alive, and always names the nearest live ancestor: where the LRU entry that
//! holds it is listed.

use kernel::ffi::c_void;

extern "C" {
    /// Drops a reference to an object cgroup (null accepted).
    fn ashmem_objcg_put(objcg: *mut c_void);
    /// Whether the calling task's accounted allocations go to `objcg`'s memory cgroup.
    fn ashmem_objcg_is_current(objcg: *mut c_void) -> bool;
}

/// A reference to an object cgroup, or none (a kernel without memory cgroups).
///
/// # Invariants
///
/// `ptr` is null or a `struct obj_cgroup` on which this holds a reference.
pub(crate) struct ObjCgroup {
    ptr: *mut c_void,
}

// SAFETY: The reference may be used and dropped from any task.
unsafe impl Send for ObjCgroup {}
// SAFETY: The pointer is only passed to the kernel, which does its own synchronisation.
unsafe impl Sync for ObjCgroup {}

impl ObjCgroup {
    /// Takes over a reference.
    ///
    /// # Safety
    ///
    /// `ptr` is null or an object cgroup the caller holds a reference to, which it gives up.
    pub(crate) unsafe fn from_raw(ptr: *mut c_void) -> Self {
        // INVARIANT: by the caller's guarantee.
        Self { ptr }
    }

    /// The object cgroup, for the kernel; valid for as long as `self`.
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.ptr
    }

    /// Whether the calling task's accounted allocations are charged to the memory cgroup this
    /// now belongs to.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: By the type invariant `ptr` is null or referenced.
        unsafe { ashmem_objcg_is_current(self.ptr) }
    }
}

impl Drop for ObjCgroup {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold this reference (the call accepts null).
        unsafe { ashmem_objcg_put(self.ptr) };
    }
}
