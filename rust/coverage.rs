// SPDX-License-Identifier: GPL-2.0

//! Coverage of the driver's blocks, for the tests only (`make module COVERAGE=1`, see
//! `docs/testing.md`).
//!
//! That build sets `cfg(ashmem_coverage)`, instruments the crate and the C shim with sanitizer
//! coverage and links `coverage.c`, which records the blocks that run and shows them in debugfs.
//! [`Coverage`] sets that up first at module load and, dropped last at unload, logs what ran
//! after the last read. In every other build it is nothing.
//!
//! Owns: nothing of the driver. Needs: nothing of the driver.

/// The coverage build's record, in `coverage.c`.
#[cfg(ashmem_coverage)]
mod record {
    extern "C" {
        /// Creates the debugfs files (see `coverage.c`); without them the hits are only counted.
        fn ashmem_coverage_init();
        /// Removes them, and logs the blocks hit since the last read.
        fn ashmem_coverage_exit();
    }

    pub(super) fn init() {
        // SAFETY: Called once, at module load; the record itself needs no setup.
        unsafe { ashmem_coverage_init() }
    }

    pub(super) fn exit() {
        // SAFETY: Called once, when the module goes (unloaded, or its init failed after the
        // record was set up), after every other part of the module is gone (the record is set
        // up first, dropped last); an open file of the record holds a module reference, so none
        // is open (and none opens while the module is not live).
        unsafe { ashmem_coverage_exit() };
    }
}

/// The coverage record's files, in a coverage build; nothing otherwise.
pub(crate) struct Coverage(());

impl Coverage {
    /// Sets up the record's files. Called first at module load.
    pub(crate) fn init() -> Self {
        #[cfg(ashmem_coverage)]
        record::init();
        Self(())
    }
}

#[cfg(ashmem_coverage)]
impl Drop for Coverage {
    fn drop(&mut self) {
        record::exit();
    }
}
