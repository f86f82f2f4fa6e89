// SPDX-License-Identifier: GPL-2.0

//! The ashmem user-space ABI: ioctl numbers, argument layouts and return values.
//!
//! The numbers must match Android's `linux/ashmem.h` bit for bit; they are spelled out with the
//! kernel's `_IO*` helpers and checked against the raw values at compile time.

use kernel::ioctl::_IO;

/// The ioctl magic of ashmem, `'w'`.
const MAGIC: u32 = 0x77;

pub(crate) const ASHMEM_GET_SIZE: u32 = _IO(MAGIC, 4);

// The values Android's userspace is compiled with (x86-64).
const _: () = {
    assert!(ASHMEM_GET_SIZE == 0x7704);
};
