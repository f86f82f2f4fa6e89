// SPDX-License-Identifier: GPL-2.0
/*
 * A million ranges: what any user can make (every other page of large,
 * never-touched regions unpinned; half a million one-page ranges per region,
 * the most a 32-bit pin offset reaches). PIN and UNPIN over all of them,
 * closing the regions, PURGE_ALL_CACHES and the shrinker's count must each
 * finish with the right answer, and none may hold a CPU without yielding or
 * hold a spinlock for long: the soft-lockup detector runs with a short
 * threshold, and any stall report in the kernel log (soft lockup, RCU stall,
 * hung task) fails the test.
 *
 * On fully preemptible kernels (every x86 kernel since 7.0 is PREEMPT or
 * PREEMPT_LAZY) a loop that holds only a mutex is preempted anyway, so the
 * detector would not catch a missing cond_resched() there; it does catch a
 * spinlock held across a loop, and voluntary-preemption kernels elsewhere.
 *
 * ASHMEM_MANY_RANGES: the number of ranges (default 65,536; 8,192 for the
 * 32-bit program, whose compat path is the same for every range). The
 * million-range run is ASHMEM_MANY_RANGES=1048576. Needs root
 * (watchdog_thresh, PURGE_ALL_CACHES, /dev/kmsg).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define MAX_REGIONS		64
#define DEFAULT_RANGES		(sizeof(long) == 8 ? 65536UL : 8192UL)
/* The detector reports a CPU stuck for twice this many seconds. */
#define WATCHDOG_SECONDS	"4"

FIXTURE(many)
{
	char old_thresh[32];
	int kmsg;
	unsigned long ranges;
	int nregions;
	int fds[MAX_REGIONS];
	unsigned long per_region[MAX_REGIONS];
};

FIXTURE_SETUP(many)
{
	const char *env = getenv("ASHMEM_MANY_RANGES");
	unsigned long left;
	int i;

	self->kmsg = -1;
	self->old_thresh[0] = '\0';
	self->nregions = 0;
	if (geteuid() != 0)
		SKIP(return, "needs root (watchdog_thresh, PURGE_ALL_CACHES, /dev/kmsg)");
	if (read_text(WATCHDOG_THRESH, self->old_thresh, sizeof(self->old_thresh)) <= 0)
		SKIP(return, "no %s: the kernel has no lockup detector", WATCHDOG_THRESH);
	self->ranges = env ? strtoul(env, NULL, 0) : DEFAULT_RANGES;
	ASSERT_LT(0, self->ranges);
	ASSERT_GE(MAX_RANGES_PER_REGION * MAX_REGIONS, self->ranges);
	self->kmsg = kmsg_from_now();
	ASSERT_LE(0, self->kmsg);
	ASSERT_EQ(0, write_text(WATCHDOG_THRESH, WATCHDOG_SECONDS));
	for (left = self->ranges, i = 0; left; i++) {
		self->per_region[i] = left < MAX_RANGES_PER_REGION ? left : MAX_RANGES_PER_REGION;
		left -= self->per_region[i];
		self->fds[i] = -1;
	}
	self->nregions = i;
}

FIXTURE_TEARDOWN(many)
{
	char line[1024];
	int i;

	for (i = 0; i < self->nregions; i++)
		if (self->fds[i] >= 0)
			close(self->fds[i]);
	if (self->old_thresh[0])
		write_text(WATCHDOG_THRESH, self->old_thresh);
	if (self->kmsg >= 0) {
		EXPECT_EQ(0, kmsg_stall_reported(self->kmsg, line, sizeof(line))) {
			TH_LOG("the kernel reported a stall: %s", line);
		}
		close(self->kmsg);
	}
}

/* Makes the fixture's regions, backing files included, no page touched. */
static void make_regions(struct __test_metadata *_metadata, FIXTURE_DATA(many) *self)
{
	size_t pg = page_size();
	int i;

	for (i = 0; i < self->nregions; i++) {
		self->fds[i] = region_with_file("many-ranges", (2 * self->per_region[i] - 1) * pg);
		ASSERT_LE(0, self->fds[i]) {
			TH_LOG("region %d with its backing file: %s", i, strerror(errno));
		}
	}
}

/* UNPIN of every even page: per_region[i] one-page ranges in region i. */
static void unpin_every_other_page(struct __test_metadata *_metadata,
				   FIXTURE_DATA(many) *self, const char *what)
{
	size_t pg = page_size();
	double t0 = now_s();
	unsigned long j = 0;
	int i;

	for (i = 0; i < self->nregions; i++)
		for (j = 0; j < self->per_region[i]; j++)
			ASSERT_EQ(0, unpin_range(self->fds[i], 2 * j * pg, pg)) {
				TH_LOG("region %d, range %lu: %s", i, j, strerror(errno));
			}
	TH_LOG("%s: %lu ranges in %.1f s", what, self->ranges, now_s() - t0);
}

/* The fdinfo figure key of the region fd. */
static long long fdinfo_number(int fd, const char *key)
{
	char val[64];

	if (fdinfo_value(fd, key, val, sizeof(val)))
		return -1;
	return strtoll(val, NULL, 10);
}

/*
 * Unpin every other page of the regions, pin each whole region in one PIN,
 * unpin again, and close the regions with every range still unpinned: each
 * step over all the ranges at once.
 */
TEST_F_TIMEOUT(many, pin_unpin_and_close_a_million_ranges_without_a_stall, 7200)
{
	double t0;
	int i;

	make_regions(_metadata, self);
	ASSERT_LE(0, purge_all_caches(self->fds[0]));
	unpin_every_other_page(_metadata, self, "unpin");
	for (i = 0; i < self->nregions; i++)
		EXPECT_EQ((long long)self->per_region[i], fdinfo_number(self->fds[i], "unpinned"));

	t0 = now_s();
	for (i = 0; i < self->nregions; i++) {
		EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fds[i], 0, 0));
		EXPECT_EQ(0, fdinfo_number(self->fds[i], "unpinned"));
	}
	TH_LOG("PIN of each whole region: %.1f s", now_s() - t0);

	unpin_every_other_page(_metadata, self, "unpin again");
	t0 = now_s();
	for (i = 0; i < self->nregions; i++) {
		close(self->fds[i]);
		self->fds[i] = -1;
	}
	TH_LOG("close with every range unpinned: %.1f s", now_s() - t0);
	/* Closing took every range off the LRU. */
	i = open(ASHMEM_DEVICE, O_RDWR);
	ASSERT_LE(0, i);
	EXPECT_EQ(0, purge_all_caches(i));
	close(i);
}

/*
 * PURGE_ALL_CACHES over a million ranges returns their count and purges
 * them all; PIN of each whole region reports it; UNPIN of each whole region
 * then makes a range between every two purged ones (one UNPIN over a million
 * ranges), which the next PURGE_ALL_CACHES purges.
 */
TEST_F_TIMEOUT(many, purge_all_caches_of_a_million_ranges_without_a_stall, 7200)
{
	size_t pg = page_size();
	double t0;
	int i;

	make_regions(_metadata, self);
	ASSERT_LE(0, purge_all_caches(self->fds[0]));
	unpin_every_other_page(_metadata, self, "unpin");
	t0 = now_s();
	EXPECT_EQ((int)self->ranges, purge_all_caches(self->fds[0]));
	TH_LOG("PURGE_ALL_CACHES: %.1f s", now_s() - t0);
	for (i = 0; i < self->nregions; i++)
		EXPECT_EQ((long long)self->per_region[i], fdinfo_number(self->fds[i], "purged"));

	t0 = now_s();
	for (i = 0; i < self->nregions; i++)
		EXPECT_EQ(0, unpin_range(self->fds[i], 0, 0));
	TH_LOG("UNPIN of each whole region over its purged ranges: %.1f s", now_s() - t0);
	t0 = now_s();
	/* The odd pages, unpinned just now, are purged too: one fewer than even ones a region. */
	EXPECT_EQ((int)(self->ranges - self->nregions), purge_all_caches(self->fds[0]));
	TH_LOG("PURGE_ALL_CACHES again: %.1f s", now_s() - t0);
	for (i = 0; i < self->nregions; i++) {
		EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fds[i], 0, 0));
		EXPECT_EQ(0, fdinfo_number(self->fds[i], "purged"));
		EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fds[i], pg, pg));
	}
}

/*
 * The largest pool one call needs. A region of 2^32 / page - 1 pages (the
 * most a 32-bit pin offset reaches) with every other page unpinned holds
 * MAX_RANGES_PER_REGION one-page ranges (2^19 with 4 KiB pages); once they
 * are purged, one UNPIN over the whole region makes a range between each two
 * purged ones, and needs that many tree nodes and LRU entries at once. Their
 * arrays were kmalloc'd: 2^19 + 1 pointers, 4 MiB + 8 bytes, an order-11
 * request beyond the page allocator's largest, which it refuses with a
 * WARNING (a panic with panic_on_warn), and the UNPIN failed with ENOMEM.
 *
 * All of it as an unprivileged user: uid 1000 in a cgroup delegated to it,
 * the purge through memory.reclaim of its own cgroup, as any user with a
 * delegated subtree (a systemd user session) can do. The 32-bit program takes
 * the same path with DELEGATED_RANGES_32 ranges. ASHMEM_MOST_RANGES=N makes
 * N ranges instead (at most the maximum): fewer show the same path, but only
 * the maximum reaches the order-11 request.
 */
#define DELEGATED_CGROUP	CGROUP2_ROOT "/ashmem-selftest-delegated"
#define DELEGATED_WORK		DELEGATED_CGROUP "/work"
#define DELEGATED_RANGES_32	8192UL

/* Reports of a kernel in trouble (a WARNING, an allocation failure's dump). */
static const char *const kernel_reports[] = {
	"WARNING:", "BUG:", "page allocation failure", "Call Trace:", "Oops",
};

/* chown the cgroup dir and the files a delegation hands over to uid. */
static int delegate_cgroup(const char *dir, uid_t uid)
{
	static const char *const files[] = {
		"", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control",
	};
	char path[4096];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, files[i]);
		if (chown(path, uid, uid))
			return -1;
	}
	return 0;
}

FIXTURE(delegated)
{
	struct child_cgroup cg;
};

FIXTURE_SETUP(delegated)
{
	const char *step;
	int err;

	if (geteuid() != 0)
		SKIP(return, "needs root (to delegate a cgroup to uid 1000)");
	if (!cgroup2_has_memory())
		SKIP(return, "no cgroup v2 with the memory controller at %s", CGROUP2_ROOT);
	rmdir(DELEGATED_WORK);
	err = child_cgroup_make(&self->cg, DELEGATED_CGROUP, &step);
	ASSERT_EQ(0, err) {
		TH_LOG("%s %s: %s", step, DELEGATED_CGROUP, strerror(err));
	}
	ASSERT_EQ(0, delegate_cgroup(DELEGATED_CGROUP, 1000));
}

FIXTURE_TEARDOWN_PARENT(delegated)
{
	cgroup_remove(DELEGATED_WORK);
	if (child_cgroup_remove(&self->cg, DELEGATED_CGROUP)) {
		TH_LOG("rmdir %s: %s", DELEGATED_CGROUP, strerror(errno));
		_metadata->exit_code = KSFT_FAIL;
	}
}

TEST_F_TIMEOUT(delegated, unpin_over_the_most_purged_ranges_a_region_holds_succeeds_without_a_warning,
	       7200)
{
	size_t pg = page_size(), n, i;
	char line[1024], val[64];
	int fd, kmsg, tries;
	double t0;

	n = sizeof(long) == 8 ? MAX_RANGES_PER_REGION : DELEGATED_RANGES_32;
	if (getenv("ASHMEM_MOST_RANGES"))
		n = strtoul(getenv("ASHMEM_MOST_RANGES"), NULL, 0);
	ASSERT_LT(0, n);
	ASSERT_GE(MAX_RANGES_PER_REGION, n);
	kmsg = kmsg_from_now();
	ASSERT_LE(0, kmsg);
	/* Root puts the test into the delegated cgroup; the user does the rest. */
	ASSERT_EQ(0, cgroup_enter(DELEGATED_CGROUP, 0));
	ASSERT_EQ(0, become_uid(1000));
	ASSERT_EQ(0, mkdir(DELEGATED_WORK, 0755));
	ASSERT_EQ(0, cgroup_enter(DELEGATED_WORK, 0));
	ASSERT_EQ(0, write_text(DELEGATED_CGROUP "/cgroup.subtree_control", "+memory")) {
		TH_LOG("uid 1000 enabling memory in its delegated cgroup: %s", strerror(errno));
	}

	fd = region_with_file("most-ranges", (2 * n - 1) * pg);
	ASSERT_LE(0, fd);
	t0 = now_s();
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, unpin_range(fd, 2 * i * pg, pg)) {
			TH_LOG("range %zu: %s", i, strerror(errno));
		}
	TH_LOG("%zu one-page ranges unpinned in %.1f s", n, now_s() - t0);

	/* The user's own reclaim purges them (it may report EAGAIN: purged pages are no LRU pages). */
	t0 = now_s();
	for (tries = 0; tries < 20; tries++) {
		if (write_text(DELEGATED_WORK "/memory.reclaim", "1G") && errno != EAGAIN)
			ASSERT_EQ(0, errno) {
				TH_LOG("uid 1000 writing its memory.reclaim: %s", strerror(errno));
			}
		ASSERT_EQ(0, fdinfo_value(fd, "purged", val, sizeof(val)));
		if (strtoull(val, NULL, 10) == n)
			break;
	}
	TH_LOG("memory.reclaim purged %s of %zu ranges in %.1f s (%d writes)", val, n,
	       now_s() - t0, tries + 1);
	ASSERT_EQ(n, strtoull(val, NULL, 10));

	/* One UNPIN over the whole region: a range between each two purged ones. */
	t0 = now_s();
	EXPECT_EQ(0, unpin_range(fd, 0, 0)) {
		TH_LOG("UNPIN over %zu purged ranges: %s", n, strerror(errno));
	}
	TH_LOG("UNPIN over %zu purged ranges: %.1f s", n, now_s() - t0);
	ASSERT_EQ(0, fdinfo_value(fd, "unpinned", val, sizeof(val)));
	EXPECT_EQ(n - 1, strtoull(val, NULL, 10));
	ASSERT_EQ(0, fdinfo_value(fd, "purged", val, sizeof(val)));
	EXPECT_EQ(n, strtoull(val, NULL, 10));
	EXPECT_EQ(0, kmsg_marker_found(kmsg, kernel_reports, ARRAY_SIZE(kernel_reports),
				       line, sizeof(line))) {
		TH_LOG("the kernel reported: %s", line);
	}
	t0 = now_s();
	close(fd);
	TH_LOG("close: %.1f s", now_s() - t0);
	close(kmsg);
}

TEST_HARNESS_MAIN
