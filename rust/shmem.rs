// SPDX-License-Identifier: GPL-2.0

//! The shmem file behind a region, and the file operations it is given.
//!
//! A region's pages live in a shmem file created on its first `mmap`. That file must not become
//! a way around the region's prot mask (CVE-2020-0009): opened again, for example through
//! `/proc/PID/map_files/`, it could be mapped with any protection. So the file and its inode get
//! a copy of shmem's `file_operations` whose mmap is refused with `EPERM`, which cannot be
//! written (`write`, splice and `copy_file_range` into it are `EINVAL`, `fallocate` is
//! `EOPNOTSUPP`: the region's data changes only through its mappings), and whose `owner` is this
//! module, so the module stays loaded while any backing file is alive. Mapping through the
//! region itself calls shmem's own `mmap_prepare`, saved when the copy is made.
//!
//! The region's own file (the one its mappings hold as `vm_file`) gets a second copy that differs
//! in one hook: `fallocate` punches holes, and does nothing else. `madvise(MADV_REMOVE)` on a
//! writable shared mapping calls exactly that, `fallocate(PUNCH_HOLE | KEEP_SIZE)` on the
//! mapping's file, and Chromium's discardable memory frees its pages this way. The two tables
//! keep the two kinds of file apart without marking either: a file opened again gets its
//! operations from the inode's `i_fop` (the first table), while the own file is never installed
//! in a file table, so no `fallocate(2)` reaches it; its only callers are the mappings of the
//! region, and `madvise` accepts only shared mappings that may be written (`EACCES` for the
//! mappings of a region whose prot mask lacks `PROT_WRITE`).

use core::{cell::UnsafeCell, mem::MaybeUninit, ptr::NonNull};

use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_char, c_int, c_void},
    fs::File,
    iov::IovIterDest,
    mm::virt::VmaNew,
    prelude::*,
    sync::aref::ARef,
};

use crate::THIS_MODULE;

extern "C" {
    /// Creates an unlinked shmem file of `size` bytes named `name`, sealed against resizing
    /// (see `shmem_shim.c`).
    /// Returns a `struct file *` or an `ERR_PTR`.
    fn ashmem_shmem_file_setup(name: *const c_char, size: bindings::loff_t) -> *mut c_void;
    /// `inode_trylock()` on the file's inode.
    fn ashmem_inode_trylock(file: *mut c_void) -> bool;
    /// `inode_unlock()` on the file's inode.
    fn ashmem_inode_unlock(file: *mut c_void);
    /// Frees the pages of the bytes `[start, end)` of a shmem file whose inode lock is held.
    fn ashmem_shmem_punch_locked(file: *mut c_void, start: bindings::loff_t, end: bindings::loff_t);
}

/// The largest file size the VFS supports on 64-bit (`MAX_LFS_FILESIZE`).
pub(crate) const MAX_FILE_SIZE: usize = i64::MAX as usize;

/// The `mmap_prepare` hook of shmem's file operations.
type MmapPrepare = unsafe extern "C" fn(*mut bindings::vm_area_desc) -> c_int;

/// The `fallocate` hook of shmem's file operations.
type Fallocate = unsafe extern "C" fn(
    *mut bindings::file,
    c_int,
    bindings::loff_t,
    bindings::loff_t,
) -> kernel::ffi::c_long;

/// `FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE` (`include/uapi/linux/falloc.h`: 0x01 and 0x02):
/// the one `fallocate` mode a region's own file accepts, the one `MADV_REMOVE` uses.
const PUNCH_HOLE_KEEP_SIZE: c_int = 0x01 | 0x02;

/// What `fallocate` returns for a mode it does not support, as `vfs_fallocate` does:
/// `-EOPNOTSUPP` (the kernel crate declares no `EOPNOTSUPP`).
const FALLOCATE_UNSUPPORTED: kernel::ffi::c_long = -(bindings::EOPNOTSUPP as kernel::ffi::c_long);

/// The file operations of backing files: shmem's, with mmap refused, no writing, and `owner`
/// set; and those of a region's own backing file, which may in addition punch holes.
///
/// # Invariants
///
/// After [`BackingFops::init`] returned `Ok`, `ops` and `own_ops` hold complete tables,
/// `shmem_mmap` the original shmem `mmap_prepare` and `shmem_fallocate` the original shmem
/// `fallocate` (`None` on a kernel without `CONFIG_TMPFS`); none is written again while the
/// module is loaded.
struct BackingFops {
    ops: UnsafeCell<bindings::file_operations>,
    own_ops: UnsafeCell<bindings::file_operations>,
    shmem_mmap: UnsafeCell<Option<MmapPrepare>>,
    shmem_fallocate: UnsafeCell<Option<Fallocate>>,
}

// SAFETY: The cells are written only by `init`, during module load, before any backing file
// exists and before the device is registered; afterwards they are only read.
unsafe impl Sync for BackingFops {}

static BACKING_FOPS: BackingFops = BackingFops {
    ops: UnsafeCell::new(pin_init::zeroed()),
    own_ops: UnsafeCell::new(pin_init::zeroed()),
    shmem_mmap: UnsafeCell::new(None),
    shmem_fallocate: UnsafeCell::new(None),
};

/// Refuses to map a backing file opened anywhere but through its region.
///
/// # Safety
///
/// Called by the mm core as an `mmap_prepare` hook; it touches nothing.
unsafe extern "C" fn backing_mmap_prepare(_desc: *mut bindings::vm_area_desc) -> c_int {
    EPERM.to_errno()
}

/// Punches a hole in a region's own backing file, for `madvise(MADV_REMOVE)`; refuses every
/// other mode with `EOPNOTSUPP`.
///
/// # Safety
///
/// Called by `vfs_fallocate` with a live file whose `f_op` is the own-file table, that is a
/// region's own backing file, after the VFS checks (file open for writing, range valid).
unsafe extern "C" fn own_fallocate(
    file: *mut bindings::file,
    mode: c_int,
    offset: bindings::loff_t,
    len: bindings::loff_t,
) -> kernel::ffi::c_long {
    if mode != PUNCH_HOLE_KEEP_SIZE {
        return FALLOCATE_UNSUPPORTED;
    }
    match BackingFops::shmem_fallocate() {
        // SAFETY: `file` is a live shmem file, as shmem's own hook expects, and the caller's
        // context is that of `vfs_fallocate`, where the hook is normally called.
        Some(punch) => unsafe { punch(file, mode, offset, len) },
        None => FALLOCATE_UNSUPPORTED,
    }
}

impl BackingFops {
    /// Builds the table from the operations of a freshly created shmem file.
    ///
    /// # Safety
    ///
    /// Must be called once, at module load, before any other function of this module.
    unsafe fn init() -> Result {
        let probe = ShmemFile::create_raw(c"dev/ashmem", 0)?;
        // SAFETY: `probe` is a live file; a shmem file's `f_op` points to shmem's static table.
        let shmem_ops: bindings::file_operations = unsafe { *(*probe.as_ptr()).f_op };
        let shmem_mmap = shmem_ops.mmap_prepare.ok_or(EINVAL)?;
        let ops = bindings::file_operations {
            owner: THIS_MODULE.as_ptr(),
            mmap: None,
            mmap_prepare: Some(backing_mmap_prepare),
            write_iter: None,
            splice_write: None,
            fallocate: None,
            // shmem's placement hook asserts (`VM_BUG_ON` with `DEBUG_VM` and THP) that the file
            // has shmem's own operations, which these are not: `mremap` of a region's mapping,
            // or `mmap` of a file opened again, would hit it. The default placement is enough:
            // a region's first mapping is placed by the device file, which has no hook either.
            get_unmapped_area: None,
            ..shmem_ops
        };
        let own_ops = bindings::file_operations {
            fallocate: Some(own_fallocate),
            ..ops
        };
        // SAFETY: By the caller's guarantee nothing reads the cells yet.
        // INVARIANT: every cell is set before the device can create a backing file.
        unsafe {
            *BACKING_FOPS.ops.get() = ops;
            *BACKING_FOPS.own_ops.get() = own_ops;
            *BACKING_FOPS.shmem_mmap.get() = Some(shmem_mmap);
            *BACKING_FOPS.shmem_fallocate.get() = shmem_ops.fallocate;
        }
        Ok(())
    }

    /// The operations of a backing file opened again (the inode's `i_fop`).
    fn ops() -> *const bindings::file_operations {
        BACKING_FOPS.ops.get()
    }

    /// The operations of a region's own backing file, the one its mappings use.
    fn own_ops() -> *const bindings::file_operations {
        BACKING_FOPS.own_ops.get()
    }

    fn shmem_fallocate() -> Option<Fallocate> {
        // SAFETY: By the type invariant the cell is no longer written once a backing file
        // exists, which is the only way to get here.
        unsafe { *BACKING_FOPS.shmem_fallocate.get() }
    }

    fn shmem_mmap() -> MmapPrepare {
        // SAFETY: By the type invariant the cell is no longer written; `init` set it to `Some`
        // before any `ShmemFile` could be created, which is the only way to get here.
        unsafe { *BACKING_FOPS.shmem_mmap.get() }.unwrap_or(backing_mmap_prepare)
    }
}

/// Proof that the backing file operations are ready; the module holds it.
pub(crate) struct BackingOpsReady(());

impl BackingOpsReady {
    /// Prepares the backing file operations. Called once from module init, before the device
    /// is registered.
    pub(crate) fn init() -> Result<Self> {
        static DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
        if DONE.swap(true, core::sync::atomic::Ordering::Relaxed) {
            return Err(EBUSY);
        }
        // SAFETY: Guarded above to run once; the module calls it at load, before registering
        // the device, so nothing else of this module runs yet.
        unsafe { BackingFops::init() }?;
        Ok(Self(()))
    }
}

/// The shmem file behind a region.
///
/// # Invariants
///
/// `file` is a shmem file whose `f_op` is the own-file table and whose inode's `i_fop` is the
/// backing operations; it holds one module reference for its `f_op`.
#[derive(Clone)]
pub(crate) struct ShmemFile {
    file: ARef<File>,
}

impl ShmemFile {
    /// Creates a plain shmem file of `size` bytes.
    ///
    /// Out of memory is `ENOMEM`: shmem reports a failed inode allocation as `ENOSPC`, which on
    /// its internal mount (no size or inode limit) means nothing else, and which `mmap(2)` never
    /// returns.
    fn create_raw(name: &CStr, size: usize) -> Result<ARef<File>> {
        let size = bindings::loff_t::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
        let file = from_err_ptr(unsafe { ashmem_shmem_file_setup(name.as_char_ptr(), size) })
            .map_err(|err| if err == ENOSPC { ENOMEM } else { err })?;
        let file = NonNull::new(file.cast::<File>()).ok_or(ENOMEM)?;
        // SAFETY: `shmem_file_setup` returned a new file with one reference, which we own.
        Ok(unsafe { ARef::from_raw(file) })
    }

    /// Creates the backing file of a region: `size` bytes, named `name` in `/proc/PID/maps`.
    pub(crate) fn new(name: &CStr, size: usize) -> Result<Self> {
        let file = Self::create_raw(name, size)?;
        let raw = file.as_ptr();
        // SAFETY: The file is new and not yet shared with anyone, so its operations and its
        // private inode's may be replaced. The module reference taken here is dropped by
        // `__fput` through the new `f_op->owner`; the module is live, so `__module_get` is
        // allowed.
        // INVARIANT: `f_op` now is the own-file table, with a module reference, and `i_fop`,
        // which every later open of the inode gets, the table that cannot punch holes.
        unsafe {
            bindings::__module_get(THIS_MODULE.as_ptr());
            (*raw).f_op = BackingFops::own_ops();
            (*(*raw).f_inode).__bindgen_anon_3.i_fop = BackingFops::ops();
        }
        Ok(Self { file })
    }

    /// The inode number, as `ASHMEM_GET_FILE_ID` and fdinfo report it.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: A live file always has a valid inode.
        unsafe { (*(*self.file.as_ptr()).f_inode).i_ino }
    }

    /// Pages of the file in memory (not purged, not swapped out).
    pub(crate) fn resident_pages(&self) -> usize {
        // SAFETY: A live file's mapping is valid. `nrpages` changes under the mapping's lock; an
        // unlocked read gives a recent value, as the kernel's own statistics read it.
        unsafe {
            core::ptr::read_volatile(&raw const (*(*self.file.as_ptr()).f_mapping).nrpages) as usize
        }
    }

    /// A new reference to the file, to use without holding the region's lock.
    pub(crate) fn file(&self) -> ARef<File> {
        self.file.clone()
    }

    /// Takes the inode lock if that needs no sleeping: reclaim may run inside a write to this
    /// very file, which holds the lock while it allocates.
    pub(crate) fn try_lock_inode(&self) -> Option<InodeLock<'_>> {
        // SAFETY: The file is live for the duration of the call.
        if unsafe { ashmem_inode_trylock(self.file.as_ptr().cast()) } {
            // INVARIANT: the lock was just taken.
            Some(InodeLock { file: self })
        } else {
            None
        }
    }

    /// Makes `vma`, a private mapping being set up on the region, anonymous: zero-filled and
    /// copy-on-write, sharing nothing with the region's pages.
    ///
    /// Its file becomes this one, as for a shared mapping. The kernel merges a new mapping into
    /// an adjacent one of the same file, flags and offsets without calling the driver's `mmap`:
    /// had the VMA kept the device's file, a later `mmap` of the region next to it would skip the
    /// size and prot-mask checks (`mmap` of `/dev/ashmem` never has this file).
    pub(crate) fn mmap_private(&self, vma: &VmaNew) {
        let vma = vma.as_ptr();
        // SAFETY: `vma` is being set up by `mmap` with the mmap lock held, when the driver may
        // set its file and operations; `vma_set_file` swaps its file reference for one to this
        // live file, and no operations is what makes a VMA anonymous (`vma_set_anonymous()`).
        unsafe {
            bindings::vma_set_file(vma, self.file.as_ptr());
            (*vma).vm_ops = core::ptr::null();
        }
    }

    /// Makes `vma`, a shared mapping being set up on the region, a mapping of this file.
    pub(crate) fn mmap_shared(&self, vma: &VmaNew) -> Result {
        let vma = vma.as_ptr();
        let mut desc = MaybeUninit::<bindings::vm_area_desc>::zeroed();
        // SAFETY: `vma` is being set up by `mmap` with the mmap lock held; `vma_set_file` swaps
        // its file reference for one to this file. `desc` is writable and the file is live.
        unsafe {
            bindings::vma_set_file(vma, self.file.as_ptr());
            bindings::compat_set_desc_from_vma(desc.as_mut_ptr(), self.file.as_ptr(), vma);
        }
        // SAFETY: `compat_set_desc_from_vma` initialised every field the hooks read, and the
        // zeroed rest is valid for this plain C struct.
        let desc = unsafe { desc.assume_init_mut() };
        // SAFETY: `desc` describes a mapping of a shmem file, as shmem's hook expects.
        to_result(unsafe { BackingFops::shmem_mmap()(desc) })?;
        // The VMA already exists: no rmap hiding to enforce, as in `compat_vma_mmap()`.
        desc.action.set_hide_from_rmap_until_complete(false);
        // SAFETY: `desc` was prepared from `vma` by the calls above.
        to_result(unsafe { bindings::__compat_vma_mmap(desc, vma) })
    }
}

/// The inode lock of a backing file, held.
///
/// # Invariants
///
/// The inode lock of `file` is held, and released when this is dropped.
pub(crate) struct InodeLock<'a> {
    file: &'a ShmemFile,
}

impl InodeLock<'_> {
    /// Frees the pages of the bytes `[start, end)` as `fallocate(PUNCH_HOLE | KEEP_SIZE)` does:
    /// they are unmapped, and read as zero from then on. `start < end`, both page-aligned.
    pub(crate) fn punch(&self, start: usize, end: usize) {
        let (Ok(start), Ok(end)) = (
            bindings::loff_t::try_from(start),
            bindings::loff_t::try_from(end),
        ) else {
            return;
        };
        // SAFETY: The file is live and, by the type invariant, its inode lock is held.
        unsafe { ashmem_shmem_punch_locked(self.file.file.as_ptr().cast(), start, end) };
    }
}

impl Drop for InodeLock<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the lock is held, by us.
        unsafe { ashmem_inode_unlock(self.file.file.as_ptr().cast()) };
    }
}

/// Reads from `file` at `*pos` into `iov`, advancing `*pos`.
pub(crate) fn read(file: &File, iov: &mut IovIterDest<'_>, pos: &mut i64) -> Result<usize> {
    // SAFETY: `file` is live and `iov` a valid destination iterator for the duration of the call.
    let ret = unsafe { bindings::vfs_iter_read(file.as_ptr(), iov.as_raw(), pos, 0) };
    if ret < 0 {
        Err(Error::from_errno(ret as i32))
    } else {
        Ok(ret as usize)
    }
}

/// Seeks in `file`, a backing file; returns the new position. `SEEK_DATA` and `SEEK_HOLE` take
/// the inode's lock: call without the region's lock held.
pub(crate) fn llseek(file: &File, offset: i64, whence: c_int) -> Result<i64> {
    // SAFETY: `file` is live for the duration of the call.
    let ret = unsafe { bindings::vfs_llseek(file.as_ptr(), offset, whence) };
    if ret < 0 {
        Err(Error::from_errno(ret as i32))
    } else {
        Ok(ret)
    }
}
