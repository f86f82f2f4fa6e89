// SPDX-License-Identifier: GPL-2.0

//! What differs between the kernel versions this module builds on, and nothing else (see
//! `docs/kernels.md`). `Kbuild` sets the `cfg`s below from the kernel's version.

/// This module's `struct module`, as the rest of the crate names it: `crate::THIS_MODULE`.
///
/// Up to Linux 7.2, `module!` defines that static in the crate root itself. Linux 7.3 moved it
/// into `ModuleMetadata::THIS_MODULE` of the module's type, so on 7.3 the crate root imports
/// this constant under the old name instead.
#[cfg(ashmem_this_module_in_metadata)]
pub(crate) const THIS_MODULE: kernel::ThisModule =
    <crate::AshmemModule as kernel::ModuleMetadata>::THIS_MODULE;
