// SPDX-License-Identifier: GPL-2.0
/*
 * The module's version, PACKAGE_VERSION of dkms.conf (Kbuild passes it in).
 * `modinfo ashmem_linux` shows it, and DKMS compares it with a same-named
 * module already in the kernel's tree: without a version the two would look
 * identical and DKMS would refuse to install ours.
 */
#include <linux/module.h>

MODULE_VERSION(ASHMEM_LINUX_VERSION);
