// SPDX-License-Identifier: GPL-2.0

//! Offering the CPU in long loops.
//!
//! Owns: [`yield_now`], the one wrapper of `cond_resched()` (see `shmem_shim.c`).
//! Needs: nothing else of the driver. The loops that may run long (over a million ranges, over
//! the whole purge LRU) call it: `pin`, `region` and `lru`.

extern "C" {
    /// `cond_resched()`.
    fn ashmem_cond_resched();
}

/// Lets another task run if this kernel wants loops to offer that (a no-op on fully preemptible
/// kernels). Call only where sleeping is allowed.
pub(crate) fn yield_now() {
    // SAFETY: The callers are in process context and hold no spinlock.
    unsafe { ashmem_cond_resched() };
}
