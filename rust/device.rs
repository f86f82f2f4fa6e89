// SPDX-License-Identifier: GPL-2.0

//! The `ashmem` misc device: its name, node mode and ioctl dispatch.
//!
//! Arguments are copied from user space before a region's lock is taken, and results copied
//! back after it is released, so a bad pointer fails with `EFAULT` and changes nothing.
//!
//! Owns: the device's name and mode, and the ioctl dispatch.
//!
//! Needs: [`Region`]'s operations; `lru`'s purge of every range, for `ASHMEM_PURGE_ALL_CACHES`;
//! `uapi` for the numbers.

use kernel::{
    bindings,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

use crate::{region::Region, uapi};

/// The device name Android's init and libcutils look for.
pub(crate) const DEVICE_NAME: &CStr = c"ashmem";

/// Every user may open `/dev/ashmem`, as on Android, without a udev rule.
pub(crate) const DEVICE_MODE: u16 = 0o666;

/// Whether the calling task has the `READ_IMPLIES_EXEC` personality.
fn read_implies_exec() -> bool {
    let task = kernel::current!();
    // SAFETY: `current` is a valid task for the duration of the call; its personality is only
    // changed by the task itself.
    let personality = unsafe { (*task.as_ptr()).personality };
    personality & bindings::READ_IMPLIES_EXEC != 0
}

/// Whether the caller has `CAP_SYS_ADMIN`.
fn has_sys_admin() -> bool {
    // SAFETY: `capable` has no preconditions; it checks the current task's credentials.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

/// `ASHMEM_SET_NAME`: reads the string (truncated to 255 bytes) before touching the region.
fn set_name(region: &Region, arg: usize) -> Result<isize> {
    let mut buf = [0u8; uapi::ASHMEM_NAME_LEN];
    let name = UserSlice::new(UserPtr::from_addr(arg), uapi::ASHMEM_NAME_LEN)
        .reader()
        .strcpy_into_buf(&mut buf)?;
    region.set_name(name)?;
    Ok(0)
}

/// `ASHMEM_GET_NAME`: copies out the name and its NUL, nothing past it.
fn get_name(region: &Region, arg: usize) -> Result<isize> {
    let name = region.name();
    let name = name.with_nul();
    UserSlice::new(UserPtr::from_addr(arg), name.len())
        .writer()
        .write_slice(name)?;
    Ok(0)
}

/// `ASHMEM_GET_FILE_ID`: writes the backing inode number as a `T` (`unsigned long` of the
/// caller's ABI).
fn get_file_id<T: TryFrom<u64> + kernel::transmute::AsBytes>(
    region: &Region,
    arg: usize,
) -> Result<isize> {
    let ino = T::try_from(region.file_id()?).map_err(|_| EOVERFLOW)?;
    UserSlice::new(UserPtr::from_addr(arg), size_of::<T>())
        .writer()
        .write(&ino)?;
    Ok(0)
}

/// Reads the `struct ashmem_pin` argument of the pin ioctls.
fn read_pin(arg: usize) -> Result<uapi::AshmemPin> {
    UserSlice::new(UserPtr::from_addr(arg), size_of::<uapi::AshmemPin>())
        .reader()
        .read()
}

/// `ASHMEM_PURGE_ALL_CACHES`: root only. Purges every unpinned range of every region and
/// returns the pages that were on the LRU before.
fn purge_all_caches() -> Result<isize> {
    if !has_sys_admin() {
        return Err(EPERM);
    }
    Ok(isize::try_from(crate::lru::purge_all::<Region>()).unwrap_or(isize::MAX))
}

/// Handles an ioctl from a 64-bit caller, or a 32-bit one whose argument is the same.
pub(crate) fn ioctl(region: &Region, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        uapi::ASHMEM_SET_NAME => set_name(region, arg),
        uapi::ASHMEM_GET_NAME => get_name(region, arg),
        uapi::ASHMEM_SET_SIZE => region.set_size(arg).map(|()| 0),
        uapi::ASHMEM_GET_SIZE => Ok(region.size() as isize),
        uapi::ASHMEM_SET_PROT_MASK => region.set_prot_mask(arg, read_implies_exec()).map(|()| 0),
        uapi::ASHMEM_GET_PROT_MASK => Ok(region.prot_mask() as isize),
        uapi::ASHMEM_PIN => region.pin(read_pin(arg)?),
        uapi::ASHMEM_UNPIN => region.unpin(read_pin(arg)?),
        uapi::ASHMEM_GET_PIN_STATUS => region.pin_status(read_pin(arg)?),
        uapi::ASHMEM_PURGE_ALL_CACHES => purge_all_caches(),
        uapi::ASHMEM_GET_FILE_ID => get_file_id::<usize>(region, arg),
        _ => Err(ENOTTY),
    }
}

/// Handles an ioctl from a 32-bit caller.
///
/// Three commands carry a 32-bit `size_t` or `unsigned long` and so have their own encoding;
/// the others are the same as for 64-bit callers, with a pointer that the caller's zero-extended
/// `arg` already is (`compat_ptr()` is the identity on x86-64).
#[cfg(CONFIG_COMPAT)]
pub(crate) fn compat_ioctl(region: &Region, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        uapi::COMPAT_ASHMEM_SET_SIZE => ioctl(region, uapi::ASHMEM_SET_SIZE, arg),
        uapi::COMPAT_ASHMEM_SET_PROT_MASK => ioctl(region, uapi::ASHMEM_SET_PROT_MASK, arg),
        uapi::COMPAT_ASHMEM_GET_FILE_ID => get_file_id::<u32>(region, arg),
        _ => ioctl(region, cmd, arg),
    }
}
