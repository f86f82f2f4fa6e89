// SPDX-License-Identifier: GPL-2.0

//! The `file_operations` of `/dev/ashmem`: the FFI edge between the VFS and [`Region`].
//!
//! The kernel crate's `MiscDevice` builds a `file_operations` without `.owner`, so unloading the
//! module while a region is open would leave the VFS calling freed code. This table carries
//! `owner = THIS_MODULE`: the VFS holds a module reference for every open file, and `rmmod`
//! fails until the last one is closed. It also has the `llseek` and the 32-bit `compat_ioctl`
//! that `MiscDevice` cannot express.
//!
//! Each callback converts its raw arguments once and calls safe code.

use kernel::{
    bindings,
    ffi::{c_int, c_long, c_uint, c_ulong},
    fs::Kiocb,
    iov::IovIterDest,
    mm::virt::VmaNew,
    seq_file::SeqFile,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

use crate::{device, region::Region, shmem::MAX_FILE_SIZE, THIS_MODULE};

/// An immutable `file_operations` table that may live in a `static`.
#[repr(transparent)]
pub(crate) struct FileOperations(bindings::file_operations);

// SAFETY: The table is never written after construction; it holds function pointers and the
// module pointer, which are valid to read from any thread.
unsafe impl Sync for FileOperations {}

impl FileOperations {
    /// A table that may live in a `static`. Every file the module creates needs one with
    /// `owner` set to `THIS_MODULE`, so that an open file keeps the module loaded.
    pub(crate) const fn new(ops: bindings::file_operations) -> Self {
        Self(ops)
    }

    /// A pointer to the table, for registration with the VFS.
    pub(crate) const fn as_raw(&self) -> *const bindings::file_operations {
        &self.0
    }
}

/// The operations of every file opened on `/dev/ashmem`. No `write`: `write(2)` fails with
/// `EINVAL`.
pub(crate) static ASHMEM_FOPS: FileOperations = FileOperations(bindings::file_operations {
    owner: THIS_MODULE.as_ptr(),
    open: Some(ashmem_open),
    release: Some(ashmem_release),
    unlocked_ioctl: Some(ashmem_ioctl),
    #[cfg(CONFIG_COMPAT)]
    compat_ioctl: Some(ashmem_compat_ioctl),
    mmap: Some(ashmem_mmap),
    read_iter: Some(ashmem_read_iter),
    llseek: Some(ashmem_llseek),
    show_fdinfo: Some(ashmem_show_fdinfo),
    ..pin_init::zeroed()
});

/// Borrows the region stored in a file's private data.
///
/// # Safety
///
/// `file` must be a live file of `/dev/ashmem` whose `open` succeeded and whose `release` has
/// not started, and the returned reference must not outlive the current file operation.
unsafe fn region<'a>(file: *mut bindings::file) -> ArcBorrow<'a, Region> {
    // SAFETY: By the caller's guarantee, `private_data` holds the pointer stored by
    // `ashmem_open` via `Arc::into_foreign` and not yet reclaimed by `ashmem_release`.
    unsafe { Arc::<Region>::borrow((*file).private_data) }
}

/// Turns a result into the `long` a file operation returns.
fn to_long(res: kernel::error::Result<isize>) -> c_long {
    match res {
        Ok(ret) => ret as c_long,
        Err(err) => err.to_errno() as c_long,
    }
}

/// # Safety
///
/// Called by the VFS with a file being opened on the misc device.
unsafe extern "C" fn ashmem_open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    match Region::new() {
        Ok(region) => {
            // SAFETY: During `open` the driver owns `private_data`. `misc_open` stored the
            // `miscdevice` there, which we do not need; the region replaces it.
            unsafe { (*file).private_data = region.into_foreign() };
            0
        }
        Err(err) => err.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS once, when the last reference to a file opened on the device goes away.
unsafe extern "C" fn ashmem_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `ashmem_open` stored an `Arc<Region>` in `private_data`, and `release` runs once,
    // after every other file operation has returned, so the reference can be taken back.
    let region = unsafe { Arc::<Region>::from_foreign((*file).private_data) };
    region.release();
    drop(region);
    0
}

/// # Safety
///
/// Called by the VFS with a live file of the device.
unsafe extern "C" fn ashmem_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: The VFS calls `unlocked_ioctl` only between `open` and `release`.
    let region = unsafe { region(file) };
    to_long(device::ioctl(&region, cmd, arg))
}

/// # Safety
///
/// Called by the VFS with a live file of the device, for a 32-bit caller.
#[cfg(CONFIG_COMPAT)]
unsafe extern "C" fn ashmem_compat_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: The VFS calls `compat_ioctl` only between `open` and `release`.
    let region = unsafe { region(file) };
    to_long(device::compat_ioctl(&region, cmd, arg))
}

/// # Safety
///
/// Called by the VFS with a live file of the device and a VMA being set up for it, with the
/// mmap lock held for writing.
unsafe extern "C" fn ashmem_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: The VFS calls `mmap` only between `open` and `release`.
    let region = unsafe { region(file) };
    // SAFETY: `vma` is undergoing its initial setup, as `VmaNew` requires.
    let vma = unsafe { VmaNew::from_raw(vma) };
    match region.mmap(vma) {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with a `kiocb` of a live file of the device and a destination iterator.
unsafe extern "C" fn ashmem_read_iter(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `kiocb` is valid for this call and its file's private data is an `Arc<Region>`.
    let mut kiocb = unsafe { Kiocb::<Arc<Region>>::from_raw(kiocb) };
    // SAFETY: `iter` is a valid destination iterator for this call.
    let iov = unsafe { IovIterDest::from_raw(iter) };
    let region = kiocb.file();
    to_long(region.read(iov, kiocb.ki_pos_mut()).map(|n| n as isize)) as isize
}

/// # Safety
///
/// Called by the VFS with a live file of the device.
unsafe extern "C" fn ashmem_llseek(
    file: *mut bindings::file,
    offset: bindings::loff_t,
    whence: c_int,
) -> bindings::loff_t {
    // SAFETY: The VFS calls `llseek` only between `open` and `release`.
    let region = unsafe { region(file) };
    // SAFETY: `file` is live; reading its position is what every `llseek` does.
    let pos = unsafe { (*file).f_pos };
    match region.llseek(pos, offset, whence) {
        // SAFETY: `file` is live; `vfs_setpos` stores the new position.
        Ok(new) => unsafe { bindings::vfs_setpos(file, new, MAX_FILE_SIZE as bindings::loff_t) },
        Err(err) => err.to_errno().into(),
    }
}

/// # Safety
///
/// Called by the VFS with a live file of the device and a `seq_file` to write to.
unsafe extern "C" fn ashmem_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: The VFS calls `show_fdinfo` only between `open` and `release`.
    let region = unsafe { region(file) };
    // SAFETY: `m` is valid and exclusively ours for the duration of the call.
    let m = unsafe { SeqFile::from_raw(m) };
    region.show_fdinfo(m);
}
