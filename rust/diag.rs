// SPDX-License-Identifier: GPL-2.0

//! Diagnostics: `ashmem/summary` in debugfs (root only).
//!
//! The summary gives the totals (regions, bytes reserved, pages resident, pinned, unpinned and
//! purged, LRU pages, shrinker scans, pages purged by the shrinker and by
//! `ASHMEM_PURGE_ALL_CACHES`) and one line per region: id, creator tgid and comm, size, resident,
//! pinned, unpinned and purged pages, name (comm and name escaped as in fdinfo).
//!
//! The summary's `file_operations` are our own, with `owner` set: an open summary holds a
//! module reference, so `rmmod` is refused until it is closed (the kernel crate's debugfs files
//! have no owner, and closing one after the module was removed called into freed memory).
//!
//! Owns: the debugfs directory, the summary file and its operations, and the summary's text.
//!
//! Needs: a [`RegionSummary`] of each live region, from the region [`registry`] (reading them
//! never holds a lock the shrinker waits on); the LRU's counters ([`crate::lru::stats`]); and
//! [`FileOperations`], for its table. It never sees a region itself.

use kernel::{
    bindings,
    ffi::{c_int, c_void},
    prelude::*,
    seq_file::SeqFile,
    seq_print,
};

use crate::{
    fops::FileOperations,
    region::{registry, Escaped, RegionSummary},
    THIS_MODULE,
};

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
    /// Creates `ashmem/summary` in debugfs. Without debugfs there is no summary.
    pub(crate) fn new() -> Result<Self> {
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
    write_summary(m);
    0
}

/// Writes the text of the summary: everything comes from the registry and the LRU. Nothing
/// here fails but the copy of the regions' summaries: a `seq_file` that overflows is shown
/// again, whole, into a larger buffer.
fn write_summary(m: &SeqFile) {
    let Ok(regions) = registry::summaries() else {
        seq_print!(m, "error:\tout of memory\n");
        return;
    };
    // Sizes are whatever SET_SIZE was given, up to `usize::MAX` each: the totals saturate.
    let sum = |field: fn(&RegionSummary) -> usize| -> usize {
        regions.iter().fold(0, |total: usize, region| {
            total.saturating_add(field(region))
        })
    };
    let lru = crate::lru::stats();
    seq_print!(m, "regions:\t{}\n", regions.len());
    seq_print!(m, "bytes_reserved:\t{}\n", sum(|region| region.size));
    seq_print!(m, "pages_resident:\t{}\n", sum(|region| region.resident));
    seq_print!(m, "pages_pinned:\t{}\n", sum(|region| region.pinned));
    seq_print!(m, "pages_unpinned:\t{}\n", sum(|region| region.unpinned));
    seq_print!(m, "pages_purged:\t{}\n", sum(|region| region.purged));
    seq_print!(m, "lru_pages:\t{}\n", lru.pages);
    seq_print!(m, "shrinker_scans:\t{}\n", lru.scans);
    seq_print!(m, "shrinker_pages_purged:\t{}\n", lru.shrinker_purged);
    seq_print!(m, "purge_all_pages_purged:\t{}\n", lru.ioctl_purged);
    seq_print!(
        m,
        "# id\ttgid\tcomm\tsize\tresident\tpinned\tunpinned\tpurged\tname\n"
    );
    for region in &regions {
        seq_print!(
            m,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            region.id,
            region.creator.tgid,
            Escaped(region.creator.comm()),
            region.size,
            region.resident,
            region.pinned,
            region.unpinned,
            region.purged,
            Escaped(region.name.as_bytes()),
        );
    }
}
