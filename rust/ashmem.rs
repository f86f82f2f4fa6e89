// SPDX-License-Identifier: GPL-2.0

//! Android anonymous shared memory, `/dev/ashmem`, for hosts that run Android in a container.
//!
//! Every open of the misc device creates a new [`region::Region`]. The ioctl ABI and its error
//! rules are those of Android's ashmem driver; see `uapi` for the numbers.
//!
//! The crate root is `ashmem.rs` rather than `ashmem_linux.rs` so that the module object,
//! `ashmem_linux.ko`, can be composed of several objects.
//!
//! Layout: each module's documentation says what it owns and what it needs. Who uses whom
//! (below the root, which sets everything up), with no cycle:
//!
//! - `fops`, the VFS edge: `device`, `region`, `shmem`; `misc`: `fops`;
//! - `device`, the ioctls: `region`, `lru` (to purge everything), `uapi`;
//! - `region`: `pin`, `lru`, `shmem`, `uapi`, `sched`; its `registry` of live regions
//!   is a child module;
//! - `diag`: `region` (the registry's [`region::RegionSummary`]s), `lru` (its counters), `fops`
//!   (the `file_operations` wrapper);
//! - `lru`: `pin` (the [`pin::RangeLink`] its entries are), `memcg`, `sched`; `pin`: `sched`;
//! - `memcg`, `shmem`, `uapi`, `sched`: nothing of the driver.
//!
//! `lru` knows a region only as a [`lru::RangeOwner`], and `diag` only by its summary.

use kernel::prelude::*;

mod compat;
mod coverage;
mod device;
mod diag;
mod fops;
mod lru;
mod memcg;
mod misc;
mod pin;
mod region;
mod sched;
mod shmem;
mod uapi;

// Linux 7.3 and later: `module!` no longer defines `THIS_MODULE` here (see `compat`).
#[cfg(ashmem_this_module_in_metadata)]
use compat::THIS_MODULE;

module! {
    type: AshmemModule,
    name: "ashmem_linux",
    authors: ["ashmem_linux developers"],
    description: "Android anonymous shared memory (/dev/ashmem)",
    license: "GPL",
}

/// The loaded module: the misc device registration, the purge LRU with its shrinker, the
/// registry of live regions, the diagnostics, and the backing file operations. Fields drop in
/// order: the device goes first.
#[pin_data]
struct AshmemModule {
    #[pin]
    _device: misc::MiscRegistration,
    _lru: lru::LruRegistration,
    _registry: region::registry::RegistryReady,
    _diag: diag::Diagnostics,
    _backing: shmem::BackingOpsReady,
    /// Last, so that its drop logs the blocks the rest of the module's exit ran.
    _coverage: coverage::Coverage,
}

impl kernel::InPlaceModule for AshmemModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // First: the module's own init is recorded too.
            _coverage: coverage::Coverage::init(),
            // All ready before the device can be opened, so before any region exists.
            _backing: shmem::BackingOpsReady::init()?,
            _lru: lru::LruRegistration::register::<region::Region>()?,
            _registry: region::registry::RegistryReady::init()?,
            _diag: diag::Diagnostics::new()?,
            _device <- misc::MiscRegistration::register(
                device::DEVICE_NAME,
                device::DEVICE_MODE,
                &fops::ASHMEM_FOPS,
            ),
        })
    }
}
