// SPDX-License-Identifier: GPL-2.0

//! Registration of a misc character device with our own `file_operations` and node mode.
//!
//! The kernel crate's `MiscDeviceRegistration` neither sets a node mode nor lets the driver
//! supply a `file_operations` with `.owner`; this small type does both.

use kernel::{bindings, error::to_result, ffi::c_int, prelude::*, types::Opaque};

use crate::fops::FileOperations;

/// A registered misc device.
///
/// # Invariants
///
/// `inner` holds a `struct miscdevice` registered with `misc_register()`; it stays registered
/// until [`Drop`] calls `misc_deregister()`, exactly once.
#[pin_data(PinnedDrop)]
pub(crate) struct MiscRegistration {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
}

// SAFETY: `misc_deregister()` may be called from any thread.
unsafe impl Send for MiscRegistration {}
// SAFETY: There are no `&self` methods that touch the registration.
unsafe impl Sync for MiscRegistration {}

impl MiscRegistration {
    /// Registers a misc device with a dynamic minor, the node `mode` and the operations `fops`.
    pub(crate) fn register(
        name: &'static CStr,
        mode: u16,
        fops: &'static FileOperations,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut misc: bindings::miscdevice = pin_init::zeroed();
                misc.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                misc.name = name.as_char_ptr();
                misc.mode = mode;
                misc.fops = fops.as_raw();
                // SAFETY: `slot` is valid for writes while it is being initialised.
                unsafe { slot.write(misc) };
                // SAFETY: `slot` holds a fully set up `miscdevice` and is pinned: it does not
                // move or get freed before `drop` deregisters it.
                // INVARIANT: on success the device is registered.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for MiscRegistration {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant the device is registered, and this is the only place
        // that deregisters it.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}
