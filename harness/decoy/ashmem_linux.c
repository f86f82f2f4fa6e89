// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixture: a module named ashmem_linux, without a version, as a kernel
 * that still carried the staging driver would have in its own tree. The
 * packaging tests put it under kernel/ and check that DKMS installs ours
 * anyway and that modprobe loads ours, from updates/, and never this one.
 */
#include <linux/module.h>

static int __init decoy_init(void)
{
	pr_err("ashmem_linux decoy: the in-tree stand-in was loaded\n");
	return 0;
}
module_init(decoy_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("in-tree ashmem_linux stand-in for the packaging tests");
