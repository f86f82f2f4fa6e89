// SPDX-License-Identifier: GPL-2.0
/*
 * What the Rust crate cannot reach: macros and static inline functions, and
 * <linux/shmem_fs.h>, which is not part of the kernel crate's bindings.
 * Each function is a call or two, nothing more.
 */
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/memcontrol.h>
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
unsigned int ashmem_nr_node_ids(void);
struct mem_cgroup *ashmem_memcg_of_current(void);
void ashmem_memcg_put(struct mem_cgroup *memcg);
void *ashmem_lru_entry_alloc(struct kmem_cache *cache, struct list_lru *lru);

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

/*
 * The size of an array indexed by node id (without CONFIG_NUMA, nr_node_ids
 * is a macro). Node ids below it may still be impossible: loops over nodes go
 * through ashmem_next_possible_node().
 */
unsigned int ashmem_nr_node_ids(void)
{
	return nr_node_ids;
}

/*
 * The memory cgroup of the current task's mm, with a reference; NULL without
 * CONFIG_MEMCG (then a static inline stub). mem_cgroup_put() is a static
 * inline.
 */
struct mem_cgroup *ashmem_memcg_of_current(void)
{
	return get_mem_cgroup_from_mm(current->mm);
}

void ashmem_memcg_put(struct mem_cgroup *memcg)
{
	mem_cgroup_put(memcg);
}

/*
 * An LRU entry, charged to and so listed under the active memory cgroup,
 * which the caller set to the region's (kmem_cache_alloc_lru() is a macro).
 */
void *ashmem_lru_entry_alloc(struct kmem_cache *cache, struct list_lru *lru)
{
	return kmem_cache_alloc_lru(cache, lru, GFP_KERNEL);
}

/*
 * Charging to a region's memory cgroup, node iteration, yielding: each a
 * static inline or a macro of the kernel.
 */
struct mem_cgroup *ashmem_set_active_memcg(struct mem_cgroup *memcg);
int ashmem_memcg_kmem_id(struct mem_cgroup *memcg);
int ashmem_next_possible_node(int nid);
int ashmem_obj_nid(const void *obj);
void ashmem_cond_resched(void);

/*
 * Charge the current task's kernel allocations to @memcg (NULL: to its own
 * cgroup) until the returned previous value is set back.
 */
struct mem_cgroup *ashmem_set_active_memcg(struct mem_cgroup *memcg)
{
	return set_active_memcg(memcg);
}

/*
 * The index of @memcg's lists in a memcg-aware list_lru; negative for the
 * root, and for every cgroup when kernel memory is not accounted (then all
 * entries are on the per-node lists).
 */
int ashmem_memcg_kmem_id(struct mem_cgroup *memcg)
{
	return memcg_kmem_id(memcg);
}

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

/* The node of a slab object: the list_lru_add_obj() lists it on that node. */
int ashmem_obj_nid(const void *obj)
{
	return page_to_nid(virt_to_page(obj));
}

/* A no-op on fully preemptible kernels, a scheduling point on the others. */
void ashmem_cond_resched(void)
{
	cond_resched();
}
