// SPDX-License-Identifier: GPL-2.0
/*
 * The shrinker when a user has made very many ranges, and across nodes: its
 * count stays exact (the lists count the pages of their entries instead of a
 * walk adding them up), a scan looks at no more ranges than it purges plus a
 * few busy ones (a region whose lock is held, here by a PIN over a hundred
 * thousand ranges, does not make every scan walk all of them with the list
 * lock held), and PURGE_ALL_CACHES reaches the lists of every node the kernel
 * has. (Ranges of a removed cgroup: removed_cgroup.c.)
 *
 * Ranges are made the way a hostile user would: every other page of a large,
 * never-touched region unpinned, one range per two pages.
 *
 * Needs root (PURGE_ALL_CACHES, debugfs); the shrinker's debugfs files need
 * CONFIG_SHRINKER_DEBUG, and the node tests a NUMA kernel with two nodes (the
 * test guest: GUEST_NUMA=2 harness/guest-run.sh): the tests skip without them.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

/* The entries a scan may pass over, busy, before it stops (rust/lru.rs). */
#define SCAN_BUSY_LIMIT		16

#define NEED_ROOT() do { \
	if (geteuid() != 0) \
		SKIP(return, "needs root (PURGE_ALL_CACHES, debugfs)"); \
} while (0)

/*
 * A region of 2 * n - 1 pages (n at most MAX_RANGES_PER_REGION) with a
 * backing file but no page ever touched, every even page unpinned: n one-page
 * ranges, the lowest page the least recently unpinned. The fd, -1 on error.
 */
static int region_with_ranges(size_t n)
{
	size_t pg = page_size(), i;
	int fd = region_with_file("reclaim-many", (2 * n - 1) * pg);

	if (fd < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (unpin_range(fd, 2 * i * pg, pg)) {
			close(fd);
			return -1;
		}
	return fd;
}

/* The memory cgroup of this process, as the shrinker's files name it. */
static unsigned long long own_memcg_ino(void)
{
	char memcg[4096];

	if (memcg_self_dir(memcg, sizeof(memcg)))
		return 0;
	return cgroup_ino(memcg);
}

/* Nodes: the lists of every node the kernel has. */

#define NODE1	"/sys/devices/system/node/node1"
#ifndef MPOL_BIND
#define MPOL_BIND	2
#endif
#ifndef MPOL_DEFAULT
#define MPOL_DEFAULT	0
#endif

/* The first CPU of node nid, -1 when it has none. */
static int first_cpu_of_node(int nid)
{
	char path[128], buf[256];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", nid);
	if (read_text(path, buf, sizeof(buf)) <= 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	return atoi(buf);
}

/* Run on node nid's first CPU, and allocate from its memory only. */
static int bind_to_node(int nid)
{
	unsigned long mask = 1UL << nid;
	cpu_set_t cpus;
	int cpu = first_cpu_of_node(nid);

	if (cpu < 0)
		return -1;
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		return -1;
	return syscall(SYS_set_mempolicy, MPOL_BIND, &mask, sizeof(mask) * 8);
}

/* Skip unless the kernel has two nodes, each with a CPU. */
#define NEED_TWO_NODES() do { \
	if (access(NODE1, F_OK)) \
		SKIP(return, "one NUMA node (no %s): needs a NUMA kernel and GUEST_NUMA=2", NODE1); \
	if (first_cpu_of_node(0) < 0 || first_cpu_of_node(1) < 0) \
		SKIP(return, "a node without CPUs"); \
} while (0)

/*
 * Bound to node 0, then to node 1: unpin 16 one-page ranges of fd on each
 * (node nid's at every other page from page 32 * nid), then back to the
 * default memory policy.
 */
static void unpin_on_each_node(struct __test_metadata *_metadata, int fd)
{
	size_t pg = page_size(), i;
	int nid;

	for (nid = 0; nid < 2; nid++) {
		ASSERT_EQ(0, bind_to_node(nid)) {
			TH_LOG("binding to node %d: %s", nid, strerror(errno));
		}
		/* Many ranges, so that some LRU entries are surely new slab objects. */
		for (i = 0; i < 16; i++)
			ASSERT_EQ(0, unpin_range(fd, (32 * nid + 2 * i) * pg, pg));
	}
	syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0);
}

FIXTURE(reclaim)
{
	char dir[512];
	unsigned long long ino;
	int fd;
};

FIXTURE_SETUP(reclaim)
{
	NEED_ROOT();
	self->fd = -1;
	NEED_SHRINKER_DIR(self->dir);
	self->ino = own_memcg_ino();
	ASSERT_NE(0, self->ino);
	/* Scans are of node 0: with more nodes, make every entry there. */
	if (!access(NODE1, F_OK))
		ASSERT_EQ(0, bind_to_node(0));
	/* Start from an empty LRU, so counts are exact. */
	self->fd = region_new("reclaim", page_size());
	ASSERT_LE(0, self->fd);
	ASSERT_LE(0, purge_all_caches(self->fd));
}

FIXTURE_TEARDOWN(reclaim)
{
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * Ten thousand ranges of one to three pages in two regions: the count is
 * their pages exactly, after unpins, pins that split ranges and merge them,
 * a scan, and a close; PURGE_ALL_CACHES returns the same figure.
 */
TEST_F_TIMEOUT(reclaim, count_is_the_exact_page_total_of_ten_thousand_ranges, 600)
{
	size_t pg = page_size(), i, pages = 0;
	int a = region_with_file("reclaim-a", 40000 * pg), b;

	ASSERT_LE(0, a) {
		TH_LOG("region with its backing file: %s", strerror(errno));
	}
	b = region_with_ranges(5000);
	ASSERT_LE(0, b);
	pages += 5000;
	/* Ranges of 1, 2 and 3 pages, a pinned page between two. */
	for (i = 0; i < 5000; i++) {
		size_t len = 1 + i % 3;

		ASSERT_EQ(0, unpin_range(a, 8 * i * pg, len * pg));
		pages += len;
	}
	EXPECT_EQ((long long)pages, shrinker_count(self->dir, self->ino, NULL));
	/* Split 1000 three-page ranges in the middle, then merge 1000 pairs. */
	for (i = 2; i < 3000; i += 3) {
		ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(a, (8 * i + 1) * pg, pg));
		pages--;
	}
	EXPECT_EQ((long long)pages, shrinker_count(self->dir, self->ino, NULL));
	for (i = 0; i < 1000; i++) {
		/* Range 3k (one page at 24k) and 3k+1 (two at 24k+8) joined. */
		ASSERT_EQ(0, unpin_range(a, (24 * i + 1) * pg, 7 * pg));
		pages += 7;
	}
	EXPECT_EQ((long long)pages, shrinker_count(self->dir, self->ino, NULL));
	/* The oldest are region b's one-page ranges: a scan of 64 takes 64 pages. */
	ASSERT_EQ(0, shrinker_scan(self->dir, self->ino, 0, 64));
	pages -= 64;
	EXPECT_EQ((long long)pages, shrinker_count(self->dir, self->ino, NULL));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(b, 0, pg));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(b, 126 * pg, pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(b, 128 * pg, pg));
	pages--;
	close(b);
	pages -= 5000 - 65;
	EXPECT_EQ((long long)pages, shrinker_count(self->dir, self->ino, NULL));
	EXPECT_EQ((int)pages, purge_all_caches(self->fd));
	EXPECT_EQ(0, shrinker_count(self->dir, self->ino, NULL));
	close(a);
}

struct pinner {
	int fd;
	volatile int done;
	int ret;
};

static void *pin_everything(void *arg)
{
	struct pinner *t = arg;

	t->ret = pin_range(t->fd, 0, 0);
	t->done = 1;
	return NULL;
}

/*
 * A region with n ranges, unpinned first (the oldest), then one page of
 * another region. While a thread pins the whole first region (its lock held
 * throughout, its ranges still listed until their turn comes), a scan of one
 * page finds those ranges busy: it passes over a few and stops, and leaves
 * the newest range alone. A scan that walked every busy range, with the list
 * lock held, would reach it and purge it.
 *
 * The scan must fall inside the PIN: it starts once the count has dropped
 * (the PIN is removing ranges, so holds the lock) and must end before the
 * PIN returns. On a machine fast enough to finish the PIN first, the test
 * starts again with four times the ranges.
 */
TEST_F_TIMEOUT(reclaim, scan_passes_over_a_few_busy_ranges_and_stops, 1800)
{
	size_t pg = page_size(), n;
	int tries = 0;

	for (n = 16384; n <= MAX_RANGES_PER_REGION; n *= 4, tries++) {
		struct pinner t = { .done = 0 };
		unsigned char *map;
		long long before, deadline;
		pthread_t thread;
		int newest, seen;

		t.fd = region_with_ranges(n);
		ASSERT_LE(0, t.fd);
		map = region_new_stamped("reclaim-newest", 1, 0x5ca1e, &newest);
		ASSERT_MAPPED(map);
		ASSERT_EQ(0, unpin_range(newest, 0, pg));
		before = shrinker_count(self->dir, self->ino, NULL);
		ASSERT_EQ((long long)n + 1, before);

		ASSERT_EQ(0, pthread_create(&thread, NULL, pin_everything, &t));
		/* Wait until the PIN is under way, without a lock of ours. */
		deadline = now_ms() + 600000;
		while (shrinker_count(self->dir, self->ino, NULL) == before &&
		       !t.done && now_ms() < deadline)
			usleep(1000);
		seen = !t.done;
		ASSERT_EQ(0, shrinker_scan(self->dir, self->ino, 0, 1));
		seen = seen && !t.done;
		ASSERT_EQ(0, pthread_join(thread, NULL));
		ASSERT_EQ(ASHMEM_NOT_PURGED, t.ret);
		close(t.fd);
		if (!seen) {
			/* The PIN did not cover the scan: no conclusion, bigger region. */
			TH_LOG("%zu ranges: the PIN ended before the scan did; again with more",
			       n);
			pin_range(newest, 0, pg);
			munmap(map, pg);
			close(newest);
			ASSERT_LE(0, purge_all_caches(self->fd));
			continue;
		}
		/* Only busy ranges were met: the newest range kept its page. */
		EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(newest, 0, pg)) {
			TH_LOG("a scan of one page walked past %zu busy ranges and purged "
			       "the newest", n);
		}
		EXPECT_TRUE(pages_are(map, 1, 0, 0x5ca1e, PAGE_STAMPED));
		munmap(map, pg);
		close(newest);
		return;
	}
	SKIP(return, "a PIN over %lu ranges never lasted as long as a scan (%d tries)",
	     MAX_RANGES_PER_REGION, tries);
}

/*
 * What the count file says for the memory cgroup ino on node nid: the
 * nid-th number of its line (0 when it has no line).
 */
static long long shrinker_count_on_node(const char *dir, unsigned long long ino, int nid)
{
	char path[4096 + 16], buf[65536], *line, *save = NULL;

	snprintf(path, sizeof(path), "%s/count", dir);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line, *end;
		int i;

		if (strtoull(p, &end, 10) != ino)
			continue;
		for (i = 0, p = end; i <= nid; i++, p = end) {
			long long v = strtoll(p, &end, 10);

			if (end == p)
				return -1;
			if (i == nid)
				return v;
		}
	}
	return 0;
}

/*
 * Ranges unpinned by a task running on node 0 and by one on node 1 are
 * listed, and counted, on those nodes; PURGE_ALL_CACHES, which loops over the
 * nodes the kernel has, purges both, and returns their total.
 */
TEST_F(reclaim, purge_all_caches_purges_the_ranges_listed_on_every_node)
{
	size_t pg = page_size();
	unsigned char *map;
	int fd, nid;
	long long on[2];

	NEED_TWO_NODES();
	map = region_new_stamped("reclaim-nodes", 64, 0x4e0de, &fd);
	ASSERT_MAPPED(map);
	unpin_on_each_node(_metadata, fd);
	for (nid = 0; nid < 2; nid++) {
		on[nid] = shrinker_count_on_node(self->dir, self->ino, nid);
		TH_LOG("node %d: %lld pages listed", nid, on[nid]);
	}
	EXPECT_EQ(32, on[0] + on[1]);
	EXPECT_LT(0, on[1]);
	EXPECT_EQ(32, purge_all_caches(fd));
	EXPECT_EQ(0, shrinker_count(self->dir, self->ino, NULL));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, pg));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 32 * pg, pg));
	EXPECT_TRUE(pages_are(map + pg, 1, 1, 0x4e0de, PAGE_STAMPED));
	munmap(map, 64 * pg);
	close(fd);
}

/*
 * The same without debugfs, so that it runs on distribution kernels (NUMA,
 * no SHRINKER_DEBUG): ranges unpinned by a task bound to each node, whose LRU
 * entries are so allocated there, are all purged by PURGE_ALL_CACHES, and the
 * pinned pages between them keep their data.
 */
TEST(purge_all_caches_reaches_ranges_unpinned_on_each_node)
{
	size_t pg = page_size(), i;
	unsigned char *map;
	int fd, nid;

	NEED_ROOT();
	NEED_TWO_NODES();
	map = region_new_stamped("reclaim-each-node", 64, 0x4e0d2, &fd);
	ASSERT_MAPPED(map);
	/* Whatever earlier programs left on the LRU goes first. */
	ASSERT_LE(0, purge_all_caches(fd));
	unpin_on_each_node(_metadata, fd);
	EXPECT_EQ(32, purge_all_caches(fd));
	for (nid = 0; nid < 2; nid++)
		for (i = 0; i < 16; i++)
			EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, (32 * nid + 2 * i) * pg, pg)) {
				TH_LOG("the range unpinned on node %d at page %zu", nid, 32 * nid + 2 * i);
			}
	EXPECT_TRUE(pages_are(map + pg, 1, 1, 0x4e0d2, PAGE_STAMPED));
	EXPECT_TRUE(pages_are(map + 33 * pg, 1, 33, 0x4e0d2, PAGE_STAMPED));
	munmap(map, 64 * pg);
	close(fd);
}

TEST_HARNESS_MAIN
