// SPDX-License-Identifier: GPL-2.0

//! The `ashmem` misc device: its name, node mode and ioctl dispatch.

use kernel::prelude::*;

use crate::{region::Region, uapi};

/// The device name Android's init and libcutils look for.
pub(crate) const DEVICE_NAME: &CStr = c"ashmem";

/// Every user may open `/dev/ashmem`, as on Android, without a udev rule.
pub(crate) const DEVICE_MODE: u16 = 0o666;

/// Handles an ioctl from a 64-bit caller.
pub(crate) fn ioctl(region: &Region, cmd: u32, _arg: usize) -> Result<isize> {
    match cmd {
        uapi::ASHMEM_GET_SIZE => Ok(region.size() as isize),
        _ => Err(ENOTTY),
    }
}

/// Handles an ioctl from a 32-bit caller.
#[cfg(CONFIG_COMPAT)]
pub(crate) fn compat_ioctl(region: &Region, cmd: u32, arg: usize) -> Result<isize> {
    ioctl(region, cmd, arg)
}
