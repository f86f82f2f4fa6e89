// SPDX-License-Identifier: GPL-2.0
/*
 * The one thing the Rust crate cannot reach: <linux/shmem_fs.h> is not part
 * of the kernel crate's bindings, and the flags argument is built with the
 * mk_vma_flags() macro.
 */
#include <linux/mm.h>
#include <linux/shmem_fs.h>

struct file *ashmem_shmem_file_setup(const char *name, loff_t size);

/*
 * Create the shmem file behind a region. VM_NORESERVE, as memfd_create()
 * does: pages are accounted as they are allocated, not the whole size up front.
 */
struct file *ashmem_shmem_file_setup(const char *name, loff_t size)
{
	return shmem_file_setup(name, size, mk_vma_flags(VMA_NORESERVE_BIT));
}
