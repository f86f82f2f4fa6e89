// SPDX-License-Identifier: GPL-2.0

//! Diagnostics: a registry of the live regions, and `ashmem/summary` in debugfs (root only).
//!
//! The summary gives the totals (regions, bytes reserved, pages resident, pinned, unpinned and
//! purged, LRU pages, shrinker scans, pages purged by the shrinker and by
//! `ASHMEM_PURGE_ALL_CACHES`) and one line per region: id, creator tgid and comm, size, resident,
//! pinned, unpinned and purged pages, name (comm and name escaped as in fdinfo). Reading it copies
//! the registry's references out under the registry lock, with the memory allocated before, and
//! then takes each region's lock for a moment: it never holds a lock that the shrinker waits on,
//! and the registry lock is held only as long as it takes to copy pointers.
//!
//! The summary's `file_operations` are our own, with `owner` set: an open summary holds a
//! module reference, so `rmmod` is refused until it is closed (the kernel crate's debugfs files
//! have no owner, and closing one after the module was removed called into freed memory).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use kernel::{
    alloc::KVVec,
    bindings,
    ffi::{c_int, c_void},
    fmt,
    list::{List, ListArc},
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::Arc,
};

use crate::{
    fops::FileOperations,
    region::{Escaped, Region, RegionStats},
    THIS_MODULE,
};

/// The live regions, linked through the regions themselves, so that adding one allocates
/// nothing.
struct Registry {
    list: List<Region>,
    len: usize,
}

kernel::sync::global_lock! {
    // SAFETY: `Diagnostics::new` calls `init` at module load, before the device is registered
    // and so before any region exists.
    unsafe(uninit) static REGIONS: Mutex<Registry> = Registry { list: List::new(), len: 0 };
}

/// The id of the next region.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An id for a new region.
pub(crate) fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Relaxed)
}

/// Adds a new region to the registry, which keeps its `ListArc`.
pub(crate) fn register(region: ListArc<Region>) {
    let mut registry = REGIONS.lock();
    registry.list.push_back(region);
    registry.len += 1;
}

/// Removes a region from the registry, when its file is released.
pub(crate) fn unregister(region: &Region) {
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
    // Regions are listed as they were registered, which two racing opens may do out of the
    // order of their ids.
    regions.sort_unstable_by_key(|region: &Arc<Region>| region.id());
    Ok(regions)
}

/// The debugfs directory and its summary file; removed when dropped.
///
/// # Invariants
///
/// `dir` is null, an error pointer, or a debugfs directory this value created and removes on
/// drop.
pub(crate) struct Diagnostics {
    dir: *mut bindings::dentry,
}

// SAFETY: The dentry is only passed to `debugfs_remove`, which may be called from any task.
unsafe impl Send for Diagnostics {}
// SAFETY: No `&self` method uses the dentry.
unsafe impl Sync for Diagnostics {}

impl Diagnostics {
    /// Sets up the registry and creates `ashmem/summary` in debugfs. Called once, at module load,
    /// before the device is registered. Without debugfs there is no summary, only the registry.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Called once, from module init, before any region can exist.
        unsafe { REGIONS.init() };
        // INVARIANT: null, an error, or the directory made here.
        Ok(Self { dir: create_dir() })
    }
}

#[cfg(CONFIG_DEBUG_FS)]
fn create_dir() -> *mut bindings::dentry {
    // SAFETY: The names are NUL-terminated strings; a null parent is the debugfs root. The
    // operations are a static table whose `open` needs no private data. Given an error as
    // parent, `debugfs_create_file_full` creates nothing. Failures are not fatal: the driver
    // works without its summary.
    unsafe {
        let dir = bindings::debugfs_create_dir(c"ashmem".as_char_ptr(), core::ptr::null_mut());
        bindings::debugfs_create_file_full(
            c"summary".as_char_ptr(),
            0o400,
            dir,
            core::ptr::null_mut(),
            core::ptr::null(),
            SUMMARY_FOPS.as_raw(),
        );
        dir
    }
}

#[cfg(not(CONFIG_DEBUG_FS))]
fn create_dir() -> *mut bindings::dentry {
    core::ptr::null_mut()
}

impl Drop for Diagnostics {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `dir` is null, an error, or our directory, all of which
        // `debugfs_remove` accepts. It removes the summary too, and waits for reads under way;
        // an open summary holds a module reference, so none is open when the module goes.
        #[cfg(CONFIG_DEBUG_FS)]
        unsafe {
            bindings::debugfs_remove(self.dir)
        };
    }
}

/// The summary's operations: a `seq_file` of one record, and `owner`, so that an open summary
/// keeps the module loaded.
static SUMMARY_FOPS: FileOperations = FileOperations::new(bindings::file_operations {
    owner: THIS_MODULE.as_ptr(),
    open: Some(summary_open),
    read: Some(bindings::seq_read),
    llseek: Some(bindings::seq_lseek),
    release: Some(bindings::single_release),
    ..pin_init::zeroed()
});

/// # Safety
///
/// Called by the VFS (through debugfs) with a file of the summary being opened.
unsafe extern "C" fn summary_open(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `file` is being opened; `single_open` makes it a `seq_file` whose show callback
    // needs no private data.
    unsafe { bindings::single_open(file, Some(summary_show), core::ptr::null_mut()) }
}

/// # Safety
///
/// Called by `seq_read` with the summary's `seq_file`.
unsafe extern "C" fn summary_show(m: *mut bindings::seq_file, _: *mut c_void) -> c_int {
    // SAFETY: `m` is valid and exclusively ours for the duration of the call.
    let m = unsafe { SeqFile::from_raw(m) };
    seq_print!(m, "{}", Summary);
    0
}

/// The text of the summary: everything comes from the registry and the LRU.
struct Summary;

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_summary(f)
    }
}

/// One line of the summary's region list.
struct Line {
    region: Arc<Region>,
    stats: RegionStats,
}

fn write_summary(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Ok(regions) = snapshot() else {
        return writeln!(f, "error:\tout of memory");
    };
    let Ok(mut lines) = KVVec::<Line>::with_capacity(regions.len(), GFP_KERNEL) else {
        return writeln!(f, "error:\tout of memory");
    };
    for region in regions {
        let stats = region.stats();
        // Within the capacity reserved above.
        if lines.push(Line { region, stats }, GFP_NOWAIT).is_err() {
            break;
        }
    }
    // Sizes are whatever SET_SIZE was given, up to `usize::MAX` each: the totals saturate.
    let sum = |field: fn(&RegionStats) -> usize| -> usize {
        lines
            .iter()
            .fold(0, |total: usize, l| total.saturating_add(field(&l.stats)))
    };
    let lru = crate::lru::stats();
    writeln!(f, "regions:\t{}", lines.len())?;
    writeln!(f, "bytes_reserved:\t{}", sum(|s| s.size))?;
    writeln!(f, "pages_resident:\t{}", sum(|s| s.resident))?;
    writeln!(f, "pages_pinned:\t{}", sum(|s| s.pinned))?;
    writeln!(f, "pages_unpinned:\t{}", sum(|s| s.unpinned))?;
    writeln!(f, "pages_purged:\t{}", sum(|s| s.purged))?;
    writeln!(f, "lru_pages:\t{}", lru.pages)?;
    writeln!(f, "shrinker_scans:\t{}", lru.scans)?;
    writeln!(f, "shrinker_pages_purged:\t{}", lru.shrinker_purged)?;
    writeln!(f, "purge_all_pages_purged:\t{}", lru.ioctl_purged)?;
    writeln!(
        f,
        "# id\ttgid\tcomm\tsize\tresident\tpinned\tunpinned\tpurged\tname"
    )?;
    for line in &lines {
        let s = &line.stats;
        let creator = line.region.creator();
        // `fmt!` rather than `format_args!`: `Escaped` is a `kernel::fmt::Display`.
        f.write_fmt(fmt!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            line.region.id(),
            creator.tgid,
            Escaped(creator.comm()),
            s.size,
            s.resident,
            s.pinned,
            s.unpinned,
            s.purged,
            Escaped(s.name.as_bytes()),
        ))?;
    }
    Ok(())
}
