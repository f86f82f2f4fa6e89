// SPDX-License-Identifier: GPL-2.0

//! The ashmem user-space ABI: ioctl numbers, argument layouts and return values.
//!
//! The numbers must match Android's `linux/ashmem.h` bit for bit; they are spelled out with the
//! kernel's `_IO*` helpers and checked against the raw values at compile time.

use kernel::ioctl::{_IO, _IOR, _IOW};

/// The ioctl magic of ashmem, `'w'`.
const MAGIC: u32 = 0x77;

/// Length of the name buffer of `ASHMEM_SET_NAME` and `ASHMEM_GET_NAME`, NUL included.
pub(crate) const ASHMEM_NAME_LEN: usize = 256;

/// `struct ashmem_pin`: a byte range of a region, both fields page-aligned.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct AshmemPin {
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

// SAFETY: `AshmemPin` is two `u32`s with no padding; every bit pattern is valid.
unsafe impl kernel::transmute::FromBytes for AshmemPin {}
// SAFETY: `AshmemPin` is two `u32`s with no padding, so it has no uninitialised bytes.
unsafe impl kernel::transmute::AsBytes for AshmemPin {}

pub(crate) const ASHMEM_SET_NAME: u32 = _IOW::<[u8; ASHMEM_NAME_LEN]>(MAGIC, 1);
pub(crate) const ASHMEM_GET_NAME: u32 = _IOR::<[u8; ASHMEM_NAME_LEN]>(MAGIC, 2);
pub(crate) const ASHMEM_SET_SIZE: u32 = _IOW::<usize>(MAGIC, 3);
pub(crate) const ASHMEM_GET_SIZE: u32 = _IO(MAGIC, 4);
pub(crate) const ASHMEM_SET_PROT_MASK: u32 = _IOW::<usize>(MAGIC, 5);
pub(crate) const ASHMEM_GET_PROT_MASK: u32 = _IO(MAGIC, 6);
pub(crate) const ASHMEM_PIN: u32 = _IOW::<AshmemPin>(MAGIC, 7);
pub(crate) const ASHMEM_UNPIN: u32 = _IOW::<AshmemPin>(MAGIC, 8);
/// Takes a pointer to `struct ashmem_pin` although encoded without an argument.
pub(crate) const ASHMEM_GET_PIN_STATUS: u32 = _IO(MAGIC, 9);
pub(crate) const ASHMEM_PURGE_ALL_CACHES: u32 = _IO(MAGIC, 10);
pub(crate) const ASHMEM_GET_FILE_ID: u32 = _IOR::<usize>(MAGIC, 11);

/// 32-bit encodings of the ioctls whose argument is a `size_t` or `unsigned long`.
pub(crate) const COMPAT_ASHMEM_SET_SIZE: u32 = _IOW::<u32>(MAGIC, 3);
pub(crate) const COMPAT_ASHMEM_SET_PROT_MASK: u32 = _IOW::<u32>(MAGIC, 5);
pub(crate) const COMPAT_ASHMEM_GET_FILE_ID: u32 = _IOR::<u32>(MAGIC, 11);

/// `ASHMEM_PIN` result: no page of the range was purged while unpinned.
pub(crate) const ASHMEM_NOT_PURGED: isize = 0;
/// `ASHMEM_PIN` result: some page of the range was purged; its contents are zero.
pub(crate) const ASHMEM_WAS_PURGED: isize = 1;
/// `ASHMEM_GET_PIN_STATUS` result: every page of the range is pinned.
pub(crate) const ASHMEM_IS_PINNED: isize = 1;
/// `ASHMEM_GET_PIN_STATUS` result: some page of the range is unpinned.
pub(crate) const ASHMEM_IS_UNPINNED: isize = 0;

/// Protection bits of `ASHMEM_SET_PROT_MASK`, as in `mmap(2)`.
pub(crate) const PROT_READ: usize = 0x1;
pub(crate) const PROT_WRITE: usize = 0x2;
pub(crate) const PROT_EXEC: usize = 0x4;
/// The prot mask of a new region, and the widest one can ever have.
pub(crate) const PROT_MASK_ALL: usize = PROT_READ | PROT_WRITE | PROT_EXEC;

/// The name `ASHMEM_GET_NAME` reports for a region without a name, and the name of such a
/// region's backing file.
pub(crate) const ASHMEM_NAME_DEFAULT: &[u8] = b"dev/ashmem";
/// Prefix of the backing file's name when the region has a name: `dev/ashmem/<name>`.
pub(crate) const ASHMEM_NAME_PREFIX: &[u8] = b"dev/ashmem/";

// The values Android's userspace is compiled with (x86-64 and its 32-bit compat).
#[cfg(CONFIG_X86_64)]
const _: () = {
    assert!(ASHMEM_SET_NAME == 0x4100_7701);
    assert!(ASHMEM_GET_NAME == 0x8100_7702);
    assert!(ASHMEM_SET_SIZE == 0x4008_7703);
    assert!(ASHMEM_GET_SIZE == 0x7704);
    assert!(ASHMEM_SET_PROT_MASK == 0x4008_7705);
    assert!(ASHMEM_GET_PROT_MASK == 0x7706);
    assert!(ASHMEM_PIN == 0x4008_7707);
    assert!(ASHMEM_UNPIN == 0x4008_7708);
    assert!(ASHMEM_GET_PIN_STATUS == 0x7709);
    assert!(ASHMEM_PURGE_ALL_CACHES == 0x770a);
    assert!(ASHMEM_GET_FILE_ID == 0x8008_770b);
    assert!(COMPAT_ASHMEM_SET_SIZE == 0x4004_7703);
    assert!(COMPAT_ASHMEM_SET_PROT_MASK == 0x4004_7705);
    assert!(COMPAT_ASHMEM_GET_FILE_ID == 0x8004_770b);
};
