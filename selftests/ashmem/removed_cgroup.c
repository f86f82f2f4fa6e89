// SPDX-License-Identifier: GPL-2.0
/*
 * When the memory cgroup a region's ranges were unpinned in is removed, as
 * Android removes an app's cgroup when the app dies while system_server or
 * SurfaceFlinger still hold its ashmem:
 *
 *  - the kernel moves the cgroup's LRU lists to the parent's, and the
 *    shrinker's count for the parent includes every page of the moved
 *    ranges (it counted one page per range: reclaim then reached a range of
 *    thousands of pages only at its lowest priorities);
 *  - reclaim of the parent reaches them at the priority at which reclaim of
 *    the live cgroup reaches a range of the same size;
 *  - ranges unpinned later are listed, and counted, with the cgroup of the
 *    task that unpins them;
 *  - an open region keeps no removed cgroup alive (the region held a
 *    reference to its creator's memory cgroup, so the parent's cgroup.stat
 *    counted a dying cgroup for as long as the fd was open).
 *
 * Each test works in a parent cgroup of its own, so the parent's counts are
 * the test's alone. Needs root and cgroup v2 with the memory controller; the
 * counts are read through the shrinker's debugfs files (SHRINKER_DEBUG, the
 * debug kernel) or, where the kernel has no such files, through the vmscan
 * trace events (Debian's kernels).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define PARENT		CGROUP2_ROOT "/ashmem-selftest-parent"
#define CREATOR		PARENT "/creator"
#define SIBLING		PARENT "/sibling"

/* Pages of the range the tests unpin in the creator's cgroup. */
#define RANGE_PAGES	16384

/* Seconds the kernel gets to take a removed cgroup offline, or to free it. */
#define RELEASE_SECONDS	60

FIXTURE(removed)
{
	char home[4096];
	struct child_cgroup parent;
};

FIXTURE_SETUP(removed)
{
	const char *step;
	int err;

	if (geteuid() != 0)
		SKIP(return, "needs root (cgroups)");
	if (!cgroup2_has_memory())
		SKIP(return, "no cgroup v2 with the memory controller at %s", CGROUP2_ROOT);
	ASSERT_EQ(0, cgroup_self_dir(self->home, sizeof(self->home)));
	cgroup_remove(CREATOR);
	cgroup_remove(SIBLING);
	err = child_cgroup_make(&self->parent, PARENT, &step);
	ASSERT_EQ(0, err) {
		TH_LOG("%s %s: %s", step, PARENT, strerror(err));
	}
	ASSERT_EQ(0, write_text(PARENT "/cgroup.subtree_control", "+memory"));
	ASSERT_EQ(0, mkdir(CREATOR, 0755));
	ASSERT_EQ(0, mkdir(SIBLING, 0755));
}

FIXTURE_TEARDOWN_PARENT(removed)
{
	cgroup_remove(CREATOR);
	cgroup_remove(SIBLING);
	if (child_cgroup_remove(&self->parent, PARENT)) {
		TH_LOG("rmdir %s: %s", PARENT, strerror(errno));
		_metadata->exit_code = KSFT_FAIL;
	}
}

/*
 * A region of npages pages with its backing file, no page touched, made by
 * this process in the cgroup dir; back in home when this returns. The fd.
 */
static int region_made_in(const char *dir, const char *home, size_t npages)
{
	int fd;

	if (cgroup_enter(dir, 0))
		return -1;
	fd = region_with_file("removed-cgroup", npages * page_size());
	if (cgroup_enter(home, 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* UNPIN of pages [first, first + n) of fd by this process in the cgroup dir. */
static int unpin_in(const char *dir, const char *home, int fd, size_t first, size_t n)
{
	int ret;

	if (cgroup_enter(dir, 0))
		return -1;
	ret = unpin_range(fd, first * page_size(), n * page_size());
	if (cgroup_enter(home, 0))
		return -1;
	return ret;
}

/* Remove the (empty) cgroup dir: 0, or -1 with errno. */
static int remove_cgroup(const char *dir)
{
	return rmdir(dir);
}

/*
 * The shrinker's count for cgroup ino once it is not 0 (the kernel moves a
 * removed cgroup's lists when it takes the cgroup offline, shortly after the
 * rmdir), waiting up to RELEASE_SECONDS; 0 if it stays 0.
 */
static long long count_once_moved(const char *dir, unsigned long long ino)
{
	long long count = 0;
	int i;

	for (i = 0; i < RELEASE_SECONDS * 100; i++) {
		count = shrinker_count(dir, ino, NULL);
		if (count)
			break;
		usleep(10000);
	}
	return count;
}

/*
 * A range of RANGE_PAGES pages unpinned in the creator's cgroup: its count
 * there is its pages. Once the cgroup is removed the parent's count is its
 * pages too (it was 1: one per entry). A range unpinned afterwards by a task
 * of a sibling cgroup is listed and counted there. A scan of each purges
 * what it lists.
 */
TEST_F_TIMEOUT(removed, a_removed_cgroups_ranges_are_counted_in_full_under_its_parent, 300)
{
	char dir[4096];
	unsigned long long parent_ino = cgroup_ino(PARENT), sibling_ino = cgroup_ino(SIBLING);
	size_t pg = page_size();
	int fd;

	NEED_SHRINKER_DIR(dir);
	fd = region_made_in(CREATOR, self->home, 2 * RANGE_PAGES);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unpin_in(CREATOR, self->home, fd, 0, RANGE_PAGES));
	EXPECT_EQ(RANGE_PAGES, shrinker_count(dir, cgroup_ino(CREATOR), NULL));
	EXPECT_EQ(0, shrinker_count(dir, parent_ino, NULL));

	ASSERT_EQ(0, remove_cgroup(CREATOR));
	EXPECT_EQ(RANGE_PAGES, count_once_moved(dir, parent_ino)) {
		TH_LOG("a range of %d pages of a removed cgroup, under its parent", RANGE_PAGES);
	}

	/* Later ranges: with the cgroup of the task that unpins them. */
	ASSERT_EQ(0, unpin_in(SIBLING, self->home, fd, RANGE_PAGES + 1, RANGE_PAGES - 1));
	EXPECT_EQ(RANGE_PAGES - 1, shrinker_count(dir, sibling_ino, NULL));
	EXPECT_EQ(RANGE_PAGES, shrinker_count(dir, parent_ino, NULL));

	/* Each cgroup's scan purges what it lists. */
	ASSERT_EQ(0, shrinker_scan(dir, parent_ino, 0, RANGE_PAGES));
	EXPECT_EQ(0, shrinker_count(dir, parent_ino, NULL));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, RANGE_PAGES * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(fd, (RANGE_PAGES + 1) * pg, pg));
	ASSERT_EQ(0, shrinker_scan(dir, sibling_ino, 0, RANGE_PAGES));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, (RANGE_PAGES + 1) * pg, pg));
	close(fd);
}

/* nr_dying_subsys_memory of the cgroup dir's cgroup.stat. */
static long long dying_memcgs(const char *dir)
{
	char path[4096 + 16];

	snprintf(path, sizeof(path), "%s/cgroup.stat", dir);
	return keyed_value(path, "nr_dying_subsys_memory");
}

/*
 * Wait until the cgroup dir counts no dying memory cgroup below it, at most
 * RELEASE_SECONDS: the kernel has taken a removed child offline (moved its
 * lists to dir's) before it frees it. The count then, -1 without the file.
 */
static long long wait_dying_gone(const char *dir)
{
	long long dying = dying_memcgs(dir);
	int i;

	for (i = 0; dying > 0 && i < RELEASE_SECONDS * 20; i++) {
		usleep(50000);
		dying = dying_memcgs(dir);
	}
	return dying;
}

/* The vmscan trace events, for kernels without the shrinker's debugfs files. */
#define TRACEFS		"/sys/kernel/tracing"
#define SLAB_START	TRACEFS "/events/vmscan/mm_shrink_slab_start"

/* Mount tracefs if need be: 0 when the shrinker's trace event is there. */
static int tracefs_ready(void)
{
	struct stat st;

	if (stat(SLAB_START, &st) && mount("tracefs", TRACEFS, "tracefs", 0, NULL) &&
	    errno != EBUSY)
		return -1;
	return stat(SLAB_START, &st);
}

/* What reclaim did with the ashmem shrinker, from the trace. */
struct shrinker_trace {
	int calls;		/* the shrinker's lines */
	long long first_count;	/* "cache items" (the count) of the first line */
	int scan_priority;	/* the priority of the first call that scanned, -1: none */
};

/*
 * Clear the trace, trace the shrinkers while writing "1M" to the cgroup
 * dir's memory.reclaim (its result ignored: purged pages are not LRU pages,
 * so the kernel may say EAGAIN), and read the ashmem shrinker's lines.
 *
 * A line: "... mm_shrink_slab_start: SYMBOL [ashmem_linux] ADDR: nid: N
 * objects to shrink D gfp_flags F cache items C delta X total_scan T
 * priority P". The shrinker scans in that call when total_scan reaches its
 * batch (SHRINK_BATCH, 128) or the count (mm/shrinker.c).
 */
static int reclaim_traced(const char *dir, struct shrinker_trace *t)
{
	char path[4096 + 32], line[1024], state[8];
	bool enabled;
	FILE *f;

	int clear = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);

	memset(t, 0, sizeof(*t));
	t->scan_priority = -1;
	/* Opening the trace with O_TRUNC empties it. */
	if (clear < 0)
		return -1;
	close(clear);
	/*
	 * An event enabled at boot (trace_event=, as the test guests do) is
	 * left as it is: enabling one patches the kernel's text, and under
	 * QEMU's TCG a CPU may still run the int3 of a finished patch ("Oops:
	 * int3" in __schedule, seen once in Debian's 7.2.13 guest).
	 */
	enabled = read_text(SLAB_START "/enable", state, sizeof(state)) > 0 && state[0] == '1';
	if (!enabled && write_text(SLAB_START "/enable", "1"))
		return -1;
	snprintf(path, sizeof(path), "%s/memory.reclaim", dir);
	write_text(path, "1M");
	if (!enabled && write_text(SLAB_START "/enable", "0"))
		return -1;
	f = fopen(TRACEFS "/trace", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long long items, delta, total;
		int prio;
		char *p;

		if (!strstr(line, "mm_shrink_slab_start") || !strstr(line, "[ashmem_linux]"))
			continue;
		p = strstr(line, "cache items ");
		if (!p || sscanf(p, "cache items %lld delta %lld total_scan %lld priority %d",
				 &items, &delta, &total, &prio) != 4)
			continue;
		if (!t->calls++)
			t->first_count = items;
		if (t->scan_priority < 0 && (total >= 128 || total >= items))
			t->scan_priority = prio;
	}
	fclose(f);
	return 0;
}

/*
 * Reclaim of a live cgroup holding a range of RANGE_PAGES pages first scans
 * the ashmem shrinker at some priority (8: the count is the range's pages).
 * A range of the same size whose cgroup was removed is reached by reclaim
 * of the parent at that same priority, its count being the same (it was 1,
 * which reclaim scans only at priority 0). Both are purged.
 */
TEST_F_TIMEOUT(removed, reclaim_of_the_parent_reaches_a_removed_cgroups_range_as_early_as_the_cgroups_own,
	       300)
{
	struct shrinker_trace live, dead;
	int fd_live, fd_dead, i;

	if (tracefs_ready())
		SKIP(return, "no %s (a kernel without vmscan trace events)", SLAB_START);
	fd_live = region_made_in(SIBLING, self->home, RANGE_PAGES);
	ASSERT_LE(0, fd_live);
	ASSERT_EQ(0, unpin_in(SIBLING, self->home, fd_live, 0, RANGE_PAGES));
	ASSERT_EQ(0, reclaim_traced(SIBLING, &live));
	TH_LOG("live cgroup: %d calls, count %lld, first scan at priority %d",
	       live.calls, live.first_count, live.scan_priority);
	EXPECT_EQ(RANGE_PAGES, live.first_count);
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd_live, 0, 0));
	close(fd_live);
	ASSERT_EQ(0, remove_cgroup(SIBLING));

	fd_dead = region_made_in(CREATOR, self->home, RANGE_PAGES);
	ASSERT_LE(0, fd_dead);
	ASSERT_EQ(0, unpin_in(CREATOR, self->home, fd_dead, 0, RANGE_PAGES));
	ASSERT_EQ(0, remove_cgroup(CREATOR));
	/*
	 * Reclaim of the parent also visits a removed child until the kernel frees
	 * it, and before the child is offline finds the range on the child's own
	 * list: the measure must wait for the move. The kernel frees the child
	 * once it is offline, unless something holds it (the old module's region
	 * did: then the wait ends after RELEASE_SECONDS, long after the offline).
	 */
	TH_LOG("dying memory cgroups under the parent before its reclaim: %lld",
	       wait_dying_gone(PARENT));
	for (i = 0; i < RELEASE_SECONDS * 10; i++) {
		ASSERT_EQ(0, reclaim_traced(PARENT, &dead));
		if (dead.calls)
			break;
		usleep(100000);
	}
	TH_LOG("removed cgroup, its parent's reclaim: %d calls, count %lld, first scan at priority %d",
	       dead.calls, dead.first_count, dead.scan_priority);
	EXPECT_EQ(RANGE_PAGES, dead.first_count);
	EXPECT_LE(0, live.scan_priority);
	EXPECT_EQ(live.scan_priority, dead.scan_priority);
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd_dead, 0, 0));
	close(fd_dead);
}

/*
 * A region created, named, mapped, written, and with ranges unpinned and
 * purged in the creator's cgroup, its fd and mapping kept open: once the
 * cgroup is removed, the kernel frees it (the parent's cgroup.stat counts no
 * dying memory cgroup any more), as it does when no region is open.
 */
TEST_F_TIMEOUT(removed, an_open_region_keeps_no_removed_cgroup_alive, 300)
{
	size_t pg = page_size(), i;
	long long dying = -1;
	unsigned char *map;
	int fd;

	if (dying_memcgs(PARENT) < 0)
		SKIP(return, "no nr_dying_subsys_memory in %s/cgroup.stat", PARENT);
	ASSERT_EQ(0, dying_memcgs(PARENT));
	ASSERT_EQ(0, cgroup_enter(CREATOR, 0));
	map = region_new_stamped("dying", 64, 0xd1e, &fd);
	ASSERT_MAPPED(map);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, unpin_range(fd, 4 * i * pg, 2 * pg));
	ASSERT_LE(0, purge_all_caches(fd));
	ASSERT_EQ(0, unpin_range(fd, 40 * pg, 8 * pg));
	ASSERT_EQ(0, cgroup_enter(self->home, 0));
	ASSERT_EQ(0, remove_cgroup(CREATOR));

	dying = wait_dying_gone(PARENT);
	TH_LOG("dying memory cgroups under the parent with the region open: %lld", dying);
	EXPECT_EQ(0, dying) {
		TH_LOG("the removed cgroup is still alive after %d s", RELEASE_SECONDS);
	}
	/* The region still works: its pages, its ranges. */
	EXPECT_TRUE(pages_are(map + 2 * pg, 2, 2, 0xd1e, PAGE_STAMPED));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(fd, 40 * pg, 8 * pg));
	munmap(map, 64 * pg);
	close(fd);
}

TEST_HARNESS_MAIN
