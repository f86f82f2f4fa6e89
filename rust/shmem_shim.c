// SPDX-License-Identifier: GPL-2.0
/*
 * What the Rust crate cannot reach: macros and static inline functions, and
 * <linux/shmem_fs.h>, which is not part of the kernel crate's bindings.
 * Each function is a call or two, nothing more.
 */
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/shrinker.h>
#include <linux/slab.h>

struct file *ashmem_shmem_file_setup(const char *name, loff_t size);
struct kmem_cache *ashmem_lru_cache_create(const char *name, unsigned int size,
					   unsigned int align);
struct shrinker *ashmem_shrinker_alloc(const char *name);
bool ashmem_inode_trylock(struct file *file);
void ashmem_inode_unlock(struct file *file);
void ashmem_shmem_punch_locked(struct file *file, loff_t start, loff_t end);

/*
 * Create the shmem file behind a region. VM_NORESERVE, as memfd_create()
 * does: pages are accounted as they are allocated, not the whole size up front.
 * (mk_vma_flags() is a macro.) A region's size is fixed once its backing file
 * exists, so the file is sealed against growing and shrinking (SHMEM_I() is
 * static inline): ftruncate() of the file reopened through
 * /proc/PID/map_files gets EPERM. The purge's hole punching checks no seals.
 */
struct file *ashmem_shmem_file_setup(const char *name, loff_t size)
{
	struct file *file = shmem_file_setup(name, size, mk_vma_flags(VMA_NORESERVE_BIT));

	if (!IS_ERR(file))
		SHMEM_I(file_inode(file))->seals |= F_SEAL_GROW | F_SEAL_SHRINK;
	return file;
}

/*
 * The cache of purge LRU entries (kmem_cache_create() is a macro).
 * SLAB_ACCOUNT charges an entry to the memory cgroup of the task that
 * allocates it, and makes kmem_cache_alloc_lru() create that cgroup's list.
 */
struct kmem_cache *ashmem_lru_cache_create(const char *name, unsigned int size,
					   unsigned int align)
{
	return kmem_cache_create(name, size, align, SLAB_ACCOUNT, NULL);
}

/* The shrinker, per memory cgroup and per node (the flags are macros). */
struct shrinker *ashmem_shrinker_alloc(const char *name)
{
	return shrinker_alloc(SHRINKER_MEMCG_AWARE | SHRINKER_NUMA_AWARE, "%s",
			      name);
}

/* inode_trylock() and inode_unlock() are static inlines. */
bool ashmem_inode_trylock(struct file *file)
{
	return inode_trylock(file_inode(file));
}

void ashmem_inode_unlock(struct file *file)
{
	inode_unlock(file_inode(file));
}

/*
 * Free the pages of [start, end) as fallocate(PUNCH_HOLE | KEEP_SIZE) does
 * (unmap, then truncate the range), with the inode lock already held: reclaim
 * must not sleep on it, so the caller took it with ashmem_inode_trylock().
 */
void ashmem_shmem_punch_locked(struct file *file, loff_t start, loff_t end)
{
	unmap_mapping_range(file->f_mapping, start, end - start, 0);
	shmem_truncate_range(file_inode(file), start, end - 1);
}

/* Node iteration, yielding: each a static inline or a macro of the kernel. */
int ashmem_next_possible_node(int nid);
void ashmem_cond_resched(void);

/*
 * The first possible node after @nid (-1: the first one), -1 after the last.
 * list_lru sets up the lists of possible nodes only, and node ids may have
 * holes.
 */
int ashmem_next_possible_node(int nid)
{
	int next = nid < 0 ? first_node(node_possible_map) :
			     next_node(nid, node_possible_map);

	return next < MAX_NUMNODES ? next : -1;
}

/* A no-op on fully preemptible kernels, a scheduling point on the others. */
void ashmem_cond_resched(void)
{
	cond_resched();
}
