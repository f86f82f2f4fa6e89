// SPDX-License-Identifier: GPL-2.0

//! A region: the state behind one open file of `/dev/ashmem`.

use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// The mutable part of a region, guarded by [`Region::state`].
struct RegionState {
    /// The size set with `ASHMEM_SET_SIZE`, stored unrounded.
    size: usize,
}

/// One ashmem region.
#[pin_data]
pub(crate) struct Region {
    #[pin]
    state: Mutex<RegionState>,
}

impl Region {
    /// Creates a new, empty region: size 0, no name, no backing file.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                state <- new_mutex!(RegionState { size: 0 }),
            }),
            GFP_KERNEL,
        )
    }

    /// The size set with `ASHMEM_SET_SIZE`.
    pub(crate) fn size(&self) -> usize {
        self.state.lock().size
    }
}
