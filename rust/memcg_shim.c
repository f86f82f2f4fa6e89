// SPDX-License-Identifier: GPL-2.0
/*
 * Memory cgroups and the memcg-aware purge list: what the Rust crate cannot
 * reach (static inlines, and the struct fields <linux/list_lru.h> and
 * <linux/memcontrol.h> declare but no exported function reads).
 *
 * Each LRU entry holds a reference to the object cgroup (obj_cgroup) it was
 * charged to. An object cgroup outlives its memory cgroup: when the memory
 * cgroup is removed the kernel points its object cgroups at the parent, so a
 * reference pins no dying memory cgroup, and obj_cgroup_memcg() always names
 * the nearest live ancestor.
 *
 * The purge list counts pages, not entries: each entry adds its range's
 * pages to the nr_items of the list_lru_one it is on, so
 * list_lru_count_one() is the shrinker's count. When a memory cgroup is
 * removed, memcg_reparent_list_lrus() splices its lists into the parent's
 * and adds their nr_items there, under both lists' locks: the pages follow
 * their entries with no help from the driver. The kernel itself changes
 * nr_items by one in list_lru_add() (an entry goes on) and, for the entry
 * taken off, in list_lru_isolate() and list_lru_del(); this file adds the
 * rest of an entry's pages, and takes them off, under the same list lock.
 * The per-node total (list_lru_count_node()) stays a count of entries.
 *
 * Finding the list an entry is on follows the kernel's own rule for
 * list_lru_add_obj() and list_lru_del_obj() (lock_list_lru_of_memcg(), not
 * exported): the list of obj_cgroup_memcg(), or, when that cgroup is being
 * removed and its list was already moved (gone from the xarray, or marked
 * dead with LONG_MIN), its parent's. The lists are moved before the object
 * cgroups (mem_cgroup_css_offline()), so an entry is always found where it is.
 */
#include <linux/list_lru.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/topology.h>

void *ashmem_lru_entry_alloc(struct kmem_cache *cache, struct list_lru *lru,
			     struct obj_cgroup **objcg);
void ashmem_objcg_put(struct obj_cgroup *objcg);
bool ashmem_objcg_is_current(struct obj_cgroup *objcg);
void ashmem_lru_add(struct list_lru *lru, struct list_head *item, int nid,
		    struct obj_cgroup *objcg, long pages);
void ashmem_lru_resize(struct list_lru *lru, int nid, struct obj_cgroup *objcg,
		       long delta);
bool ashmem_lru_del(struct list_lru *lru, struct list_head *item, int nid,
		    struct obj_cgroup *objcg, long pages);
void ashmem_lru_isolate(struct list_lru_one *list, struct list_head *item,
			long pages);
int ashmem_obj_nid(const void *obj);

#ifdef CONFIG_MEMCG
/*
 * The memory cgroup of the calling task, as the kernel charges its accounted
 * allocations (get_mem_cgroup_from_current(), not exported), referenced;
 * NULL without memory cgroups.
 */
static struct mem_cgroup *ashmem_current_memcg_get(void)
{
	struct mem_cgroup *memcg;

	if (mem_cgroup_disabled())
		return NULL;
	rcu_read_lock();
	do {
		memcg = mem_cgroup_from_task(current);
	} while (memcg && !css_tryget(&memcg->css));
	rcu_read_unlock();
	return memcg;
}

/* The same, for a comparison under rcu_read_lock(): no reference. */
static struct mem_cgroup *ashmem_current_memcg(void)
{
	return mem_cgroup_disabled() ? NULL : mem_cgroup_from_task(current);
}

/*
 * The object cgroup that accounted allocations made with @memcg active are
 * charged to: that of @memcg on this node, or of its nearest ancestor that
 * still has one (a cgroup being removed has none). Referenced; NULL for no
 * cgroup. (The kernel's __get_obj_cgroup_from_memcg() is static.)
 */
static struct obj_cgroup *ashmem_objcg_of(struct mem_cgroup *memcg)
{
	struct obj_cgroup *objcg = NULL;
	int nid = numa_node_id();

	rcu_read_lock();
	for (; memcg; memcg = parent_mem_cgroup(memcg)) {
		objcg = rcu_dereference(memcg->nodeinfo[nid]->objcg);
		if (objcg && obj_cgroup_tryget(objcg))
			break;
		objcg = NULL;
	}
	rcu_read_unlock();
	return objcg;
}

/* Call under rcu_read_lock(). */
static struct mem_cgroup *ashmem_objcg_memcg(struct obj_cgroup *objcg)
{
	return objcg ? obj_cgroup_memcg(objcg) : NULL;
}

/* The list of @memcg on node @nid, or NULL when it has none. */
static struct list_lru_one *ashmem_lru_one(struct list_lru *lru, int nid,
					   struct mem_cgroup *memcg)
{
	int idx = memcg_kmem_id(memcg);

	if (lru->memcg_aware && idx >= 0) {
		struct list_lru_memcg *mlru = xa_load(&lru->xa, idx);

		return mlru ? &mlru->node[nid] : NULL;
	}
	return &lru->node[nid].lru;
}
#else
static struct mem_cgroup *ashmem_current_memcg_get(void)
{
	return NULL;
}

static struct mem_cgroup *ashmem_current_memcg(void)
{
	return NULL;
}

static struct obj_cgroup *ashmem_objcg_of(struct mem_cgroup *memcg)
{
	return NULL;
}

static struct mem_cgroup *ashmem_objcg_memcg(struct obj_cgroup *objcg)
{
	return NULL;
}

static struct list_lru_one *ashmem_lru_one(struct list_lru *lru, int nid,
					   struct mem_cgroup *memcg)
{
	return &lru->node[nid].lru;
}
#endif

/*
 * The list of @lru on node @nid that an entry charged to @objcg is on,
 * locked. The root's lists (the per-node ones) are never moved, so the
 * walk up ends there at the latest.
 */
static struct list_lru_one *ashmem_lru_lock(struct list_lru *lru, int nid,
					    struct obj_cgroup *objcg)
{
	struct mem_cgroup *memcg;
	struct list_lru_one *l;

	rcu_read_lock();
	memcg = ashmem_objcg_memcg(objcg);
	for (;;) {
		l = ashmem_lru_one(lru, nid, memcg);
		if (l) {
			spin_lock(&l->lock);
			if (READ_ONCE(l->nr_items) != LONG_MIN)
				break;
			spin_unlock(&l->lock);
		}
		memcg = parent_mem_cgroup(memcg);
	}
	rcu_read_unlock();
	return l;
}

/*
 * A new LRU entry from @cache, charged to the memory cgroup of the calling
 * task (kmem_cache_alloc_lru() also makes that cgroup's lists of @lru);
 * *@objcg is set to a reference to the object cgroup it is charged to, the
 * one the entry is listed under (NULL without memory cgroups). The cgroup
 * is made the active one for the allocation, so that the charge and
 * *@objcg name the same cgroup.
 */
void *ashmem_lru_entry_alloc(struct kmem_cache *cache, struct list_lru *lru,
			     struct obj_cgroup **objcg)
{
	struct mem_cgroup *memcg = ashmem_current_memcg_get(), *old;
	void *entry;

	*objcg = ashmem_objcg_of(memcg);
	old = set_active_memcg(memcg);
	entry = kmem_cache_alloc_lru(cache, lru, GFP_KERNEL);
	set_active_memcg(old);
	mem_cgroup_put(memcg);
	if (!entry) {
		obj_cgroup_put(*objcg);
		*objcg = NULL;
	}
	return entry;
}

/* obj_cgroup_put() is a static inline; it accepts NULL. */
void ashmem_objcg_put(struct obj_cgroup *objcg)
{
	obj_cgroup_put(objcg);
}

/*
 * Whether the accounted allocations of the calling task are charged to the
 * memory cgroup @objcg now belongs to. Only pointers are compared, both read
 * under the RCU lock: no reference is taken.
 */
bool ashmem_objcg_is_current(struct obj_cgroup *objcg)
{
	bool same;

	rcu_read_lock();
	same = ashmem_objcg_memcg(objcg) == ashmem_current_memcg();
	rcu_read_unlock();
	return same;
}

/*
 * Puts @item, an entry charged to @objcg and allocated on node @nid, on its
 * list with the weight of @pages (at least one).
 *
 * A list that holds entries has its shrinker bit set (the kernel sets it when
 * a list stops being empty, in __list_lru_add() and when it moves a removed
 * cgroup's list, and clears it only after a count found the list empty): the
 * entry goes on as __list_lru_add() would put it, with its weight, under one
 * lock. An empty list needs the bit set, which only list_lru_add() can do
 * (set_shrinker_bit() is not exported): it counts one, and the rest is added
 * under the lock again. Between the two the entry may be moved to a parent's
 * list: its one page moves with it, and the rest goes wherever it is then.
 */
void ashmem_lru_add(struct list_lru *lru, struct list_head *item, int nid,
		    struct obj_cgroup *objcg, long pages)
{
	struct list_lru_one *l = ashmem_lru_lock(lru, nid, objcg);

	if (l->nr_items > 0) {
		list_add_tail(item, &l->list);
		l->nr_items += pages;
		atomic_long_inc(&lru->node[nid].nr_items);
		spin_unlock(&l->lock);
		return;
	}
	spin_unlock(&l->lock);
	rcu_read_lock();
	list_lru_add(lru, item, nid, ashmem_objcg_memcg(objcg));
	rcu_read_unlock();
	if (pages > 1) {
		l = ashmem_lru_lock(lru, nid, objcg);
		l->nr_items += pages - 1;
		spin_unlock(&l->lock);
	}
}

/*
 * Changes the weight of a listed entry charged to @objcg on node @nid by
 * @delta pages. The caller keeps the entry on the list meanwhile.
 */
void ashmem_lru_resize(struct list_lru *lru, int nid, struct obj_cgroup *objcg,
		       long delta)
{
	struct list_lru_one *l = ashmem_lru_lock(lru, nid, objcg);

	l->nr_items += delta;
	spin_unlock(&l->lock);
}

/*
 * Takes @item, of weight @pages, off its list if it is on one (as
 * list_lru_del() does, with the weight); returns whether it was.
 */
bool ashmem_lru_del(struct list_lru *lru, struct list_head *item, int nid,
		    struct obj_cgroup *objcg, long pages)
{
	struct list_lru_one *l = ashmem_lru_lock(lru, nid, objcg);
	bool listed = !list_empty(item);

	if (listed) {
		list_del_init(item);
		l->nr_items -= pages;
		atomic_long_dec(&lru->node[nid].nr_items);
	}
	spin_unlock(&l->lock);
	return listed;
}

/*
 * list_lru_isolate() with the weight: from a walk callback, @list locked.
 * (The walk itself takes the entry off the per-node count.)
 */
void ashmem_lru_isolate(struct list_lru_one *list, struct list_head *item,
			long pages)
{
	list_del_init(item);
	list->nr_items -= pages;
}

/* The node of a slab object: the list_lru lists it on that node. */
int ashmem_obj_nid(const void *obj)
{
	return page_to_nid(virt_to_page(obj));
}
