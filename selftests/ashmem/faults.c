// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures, one at a time. Each operation runs with the N-th
 * allocation of the calling thread failing (/proc/thread-self/fail-nth:
 * slab and page allocations, the kernel's and the driver's alike), for N = 1,
 * 2, ... until the operation completes without reaching an N-th allocation.
 * Each time the operation must either work (the allocation that failed was
 * one the kernel can do without) or fail with ENOMEM; after a failure the
 * region must be as it was, and the operation, repeated without a failure,
 * must work. What leaked, kmemleak finds (the guest job scans after every
 * program); what the kernel said, the console check.
 *
 * Each test runs in a memory cgroup of its own, so that the first region and
 * the first unpinned range make the cgroup's counters and list too (those are
 * allocations as well), and no other region shares them.
 *
 * Needs a kernel with CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB,
 * CONFIG_FAIL_PAGE_ALLOC and CONFIG_FAULT_INJECTION_DEBUG_FS (the debug test
 * kernel); elsewhere (Debian's kernels) every test skips, saying so. The
 * debugfs controls are set for the test and set back after it: failures of
 * sleeping (GFP_KERNEL) and order-0 allocations too, and none reported in
 * the kernel log. The probability stays 0: only the test's own thread ever
 * sees a failure.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define FAIL_NTH	"/proc/thread-self/fail-nth"
#define FAULTS_CGROUP	CGROUP2_ROOT "/ashmem-selftest-faults"
/* More allocations than any operation here makes: a loop that never ends fails. */
#define MAX_NTH		400
#define NPAGES		8
#define SEED		26
#define NAME		"faults"

#define FAILSLAB_TIMES	"/sys/kernel/debug/failslab/times"
#define MAKE_IT_FAIL	"/proc/thread-self/make-it-fail"

/*
 * The fault-injection controls the tests set, and to what; set in this
 * order, set back in the reverse one. Besides fail-nth, failslab may fail
 * slab allocations of a task that asks for it (make-it-fail), as many as
 * times says: 0 but while the summary test wants failures in a row.
 */
static const struct knob {
	const char *path, *value;
} knobs[] = {
	{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/failslab/verbose", "0" },
	{ FAILSLAB_TIMES, "0" },
	{ "/sys/kernel/debug/failslab/interval", "1" },
	{ "/sys/kernel/debug/failslab/task-filter", "Y" },
	{ "/sys/kernel/debug/failslab/probability", "100" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/min-order", "0" },
	{ "/sys/kernel/debug/fail_page_alloc/verbose", "0" },
};
#define NKNOBS	(sizeof(knobs) / sizeof(knobs[0]))

FIXTURE(faults)
{
	struct child_cgroup child;
	char saved[NKNOBS][32];
	int knobs_set;
	int nth;		/* this thread's fail-nth */
	size_t pg;
	/* The last call's errno, and whether its N-th allocation was reached. */
	int err;
	int injected;
	/* Calls that failed for memory, and calls that worked despite a failed allocation. */
	int enomem, absorbed;
	/* failslab's times while a call runs (0: only its N-th allocation fails), and its fd. */
	int in_a_row, times;
};

FIXTURE_SETUP(faults)
{
	const char *step;
	unsigned int i;
	int err;

	self->pg = page_size();
	if (geteuid() != 0)
		SKIP(return, "needs root (fault-injection controls in debugfs, a cgroup)");
	if (access(FAIL_NTH, F_OK))
		SKIP(return, "kernel without CONFIG_FAULT_INJECTION: no %s (the debug test kernel has it)",
		     FAIL_NTH);
	for (i = 0; i < NKNOBS; i++)
		if (access(knobs[i].path, F_OK))
			SKIP(return, "no %s (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)",
			     knobs[i].path);
	for (i = 0; i < NKNOBS; i++) {
		ASSERT_LE(0, read_text(knobs[i].path, self->saved[i], sizeof(self->saved[i])));
		self->saved[i][strcspn(self->saved[i], "\n")] = '\0';
	}
	self->knobs_set = 1;
	for (i = 0; i < NKNOBS; i++) {
		ASSERT_EQ(0, write_text(knobs[i].path, knobs[i].value)) {
			TH_LOG("%s: %s", knobs[i].path, strerror(errno));
		}
	}
	if (access(CGROUP2_ROOT "/cgroup.controllers", F_OK) || !cgroup2_has_memory())
		SKIP(return, "needs cgroup v2 with the memory controller at %s", CGROUP2_ROOT);
	err = child_cgroup_make(&self->child, FAULTS_CGROUP, &step);
	ASSERT_EQ(0, err) {
		TH_LOG("%s for %s: %s", step, FAULTS_CGROUP, strerror(err));
	}
	ASSERT_EQ(0, cgroup_enter(FAULTS_CGROUP, 0));
	self->nth = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->nth);
}

FIXTURE_TEARDOWN_PARENT(faults)
{
	unsigned int i;

	for (i = NKNOBS; self->knobs_set && i-- > 0;)
		if (write_text(knobs[i].path, self->saved[i])) {
			TH_LOG("restoring %s: %s", knobs[i].path, strerror(errno));
			_metadata->exit_code = KSFT_FAIL;
		}
	if (child_cgroup_remove(&self->child, FAULTS_CGROUP)) {
		TH_LOG("rmdir %s: %s", FAULTS_CGROUP, strerror(errno));
		_metadata->exit_code = KSFT_FAIL;
	}
}

/* From now on, the n-th allocation of this thread fails (0: none does). */
static int nth_arm(int fd, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : -1;
}

/* Stops failing; 1 when the armed allocation was reached (and failed). */
static int nth_disarm(int fd)
{
	char buf[16] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0 || nth_arm(fd, 0))
		return -1;
	buf[n] = '\0';
	return atoi(buf) == 0;
}

/*
 * failslab's times: how many slab allocations fail once the n-th one did (it
 * counts as one). A write, not a pwrite: the debugfs file cannot seek.
 */
static int times_set(int fd, int times)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d\n", times);

	return write(fd, buf, len) == len ? 0 : -1;
}

/*
 * Evaluates call with the n-th allocation failing, nothing else in between:
 * its value; self->err is the errno it left, self->injected whether the n-th
 * allocation was reached.
 */
#define WITH_NTH_FAILING(n, call) ({						\
	long __ret;								\
	if (self->in_a_row)							\
		ASSERT_EQ(0, times_set(self->times, self->in_a_row));		\
	ASSERT_EQ(0, nth_arm(self->nth, n));					\
	__ret = (long)(call);							\
	self->err = errno;							\
	self->injected = nth_disarm(self->nth);					\
	if (self->in_a_row)							\
		ASSERT_EQ(0, times_set(self->times, 0));			\
	ASSERT_LE(0, self->injected);						\
	self->enomem += self->injected && __ret == -1 && self->err == ENOMEM;	\
	self->absorbed += self->injected && __ret != -1;			\
	__ret;									\
})

/* The outcome of a call that failed: only ENOMEM, and only when a failure was made. */
#define ASSERT_FAILED_FOR_MEMORY(n, what) do {					\
	ASSERT_TRUE(self->injected) {						\
		TH_LOG("%s failed with %s, no allocation failed", what,	\
		       strerror(self->err));					\
	}									\
	ASSERT_EQ(ENOMEM, self->err) {						\
		TH_LOG("%s with allocation %d failing: %s, not ENOMEM", what,	\
		       n, strerror(self->err));					\
	}									\
} while (0)

/* The loop is over: say how many allocations the operation made, and what their failures did. */
#define REPORT(what, n)								\
	ksft_print_msg("%s: %d allocations, each failed in turn: %d times ENOMEM, %d times it worked all the same\n", \
		       what, (n) - 1, self->enomem, self->absorbed)

static void expect_name(struct __test_metadata *_metadata, int fd, const char *want)
{
	char name[ASHMEM_NAME_LEN];

	ASSERT_EQ(0, get_name(fd, name));
	ASSERT_STREQ(want, name);
}

/* A new mapped region of NPAGES pages, stamped: its fd and *map. */
static int stamped_region(struct __test_metadata *_metadata, void **map)
{
	int fd;

	*map = region_new_stamped(NAME, NPAGES, SEED, &fd);
	ASSERT_TRUE(*map != MAP_FAILED) {
		TH_LOG("a mapped region: %s", strerror(errno));
	}
	return fd;
}

static void stamped_region_release(int fd, void *map)
{
	munmap(map, NPAGES * page_size());
	close(fd);
}

/* The regions the summary counts: -1 when it cannot be read. */
static long long summary_regions(void)
{
	unsigned long long n;

	return summary_value("regions", &n) ? -1 : (long long)n;
}

TEST_F(faults, open_fails_with_enomem_or_gives_a_new_empty_region)
{
	long long before = summary_regions();
	int n, fd;

	for (n = 1; n <= MAX_NTH; n++) {
		fd = WITH_NTH_FAILING(n, open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC));
		if (fd < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "open");
			/* Nothing of a region is left behind. */
			ASSERT_EQ(before, summary_regions());
			continue;
		}
		expect_name(_metadata, fd, "dev/ashmem");
		ASSERT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
		ASSERT_EQ(PROT_RWX, ioctl(fd, ASHMEM_GET_PROT_MASK));
		ASSERT_EQ(before + 1, summary_regions());
		close(fd);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("open", n);
}

TEST_F(faults, set_name_fails_with_enomem_and_keeps_the_old_name)
{
	int n, fd = region_new("old", self->pg);
	long r;

	ASSERT_LE(0, fd);
	for (n = 1; n <= MAX_NTH; n++) {
		r = WITH_NTH_FAILING(n, ioctl(fd, ASHMEM_SET_NAME, "a new name"));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "SET_NAME");
			expect_name(_metadata, fd, "old");
			continue;
		}
		expect_name(_metadata, fd, "a new name");
		if (!self->injected)
			break;
		ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, "old"));
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("SET_NAME", n);
	close(fd);
}

TEST_F(faults, set_size_fails_with_enomem_and_keeps_the_old_size)
{
	int n, fd = region_new(NAME, self->pg);
	long r;

	ASSERT_LE(0, fd);
	for (n = 1; n <= MAX_NTH; n++) {
		r = WITH_NTH_FAILING(n, ioctl(fd, ASHMEM_SET_SIZE, 3 * self->pg));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "SET_SIZE");
			ASSERT_EQ(self->pg, ioctl(fd, ASHMEM_GET_SIZE));
			continue;
		}
		ASSERT_EQ(3 * self->pg, ioctl(fd, ASHMEM_GET_SIZE));
		if (!self->injected)
			break;
		ASSERT_EQ(0, set_size(fd, self->pg));
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("SET_SIZE", n);
	close(fd);
}

/*
 * The first mmap creates the backing file. Failed, it leaves the region
 * unmapped (name and size still settable), or with its backing file; either
 * way the next mmap works and maps the region's pages.
 */
static void first_mmap(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self,
		       int flags, const char *what)
{
	size_t len = NPAGES * self->pg;
	unsigned long long ino;
	unsigned char *p, *q;
	int n, fd;

	for (n = 1; n <= MAX_NTH; n++) {
		fd = region_new(NAME, len);
		ASSERT_LE(0, fd);
		p = (void *)WITH_NTH_FAILING(n, mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0));
		if (p == MAP_FAILED) {
			ASSERT_FAILED_FOR_MEMORY(n, what);
			ASSERT_EQ(len, ioctl(fd, ASHMEM_GET_SIZE));
			expect_name(_metadata, fd, NAME);
			if (ioctl(fd, ASHMEM_GET_FILE_ID, &ino) < 0) {
				/* No backing file: the region is as it was. */
				ASSERT_EQ(EINVAL, errno);
				ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, NAME));
				ASSERT_EQ(0, set_size(fd, len));
			}
			q = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
			ASSERT_TRUE(q != MAP_FAILED) {
				TH_LOG("%s again, without a failure: %s", what, strerror(errno));
			}
		} else {
			q = p;
		}
		/* The mapping works: its pages hold what is written, shared ones in the file. */
		stamp_pages(q, NPAGES, 0, SEED);
		ASSERT_TRUE(pages_are(q, NPAGES, 0, SEED, PAGE_STAMPED));
		/* Private pages are the mapping's own: the file's stay zero. */
		ASSERT_EQ(1, read_pages_are(fd, 0, NPAGES, SEED,
					    flags & MAP_SHARED ? PAGE_STAMPED : PAGE_ZERO));
		munmap(q, len);
		close(fd);
		if (p != MAP_FAILED && !self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT(what, n);
}

TEST_F(faults, first_shared_mmap_fails_with_enomem_and_the_next_one_works)
{
	first_mmap(_metadata, self, MAP_SHARED, "first shared mmap");
}

TEST_F(faults, first_private_mmap_fails_with_enomem_and_the_next_one_works)
{
	first_mmap(_metadata, self, MAP_PRIVATE, "first private mmap");
}

TEST_F(faults, mmap_of_a_mapped_region_fails_with_enomem_and_keeps_its_data)
{
	int n, fd;
	void *map, *p;

	fd = stamped_region(_metadata, &map);
	for (n = 1; n <= MAX_NTH; n++) {
		p = (void *)WITH_NTH_FAILING(n, mmap(NULL, NPAGES * self->pg, PROT_READ,
						     MAP_SHARED, fd, 0));
		if (p == MAP_FAILED) {
			ASSERT_FAILED_FOR_MEMORY(n, "mmap");
			ASSERT_TRUE(pages_are(map, NPAGES, 0, SEED, PAGE_STAMPED));
			continue;
		}
		ASSERT_TRUE(pages_are(p, NPAGES, 0, SEED, PAGE_STAMPED));
		munmap(p, NPAGES * self->pg);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("mmap of a mapped region", n);
	stamped_region_release(fd, map);
}

/*
 * PIN of a range in the middle of an unpinned one splits it: a node and a
 * link (an LRU entry). Two UNPINs before it used up the spares the first one
 * made, so the PIN has to make more.
 */
static void pin_splitting_a_range(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self,
				  const char *what)
{
	size_t pg = self->pg, i;
	int n, fd;
	void *map;
	long r;

	for (n = 1; n <= MAX_NTH; n++) {
		fd = stamped_region(_metadata, &map);
		ASSERT_EQ(0, unpin_range(fd, 0, 3 * pg));
		ASSERT_EQ(0, unpin_range(fd, 4 * pg, 3 * pg));
		r = WITH_NTH_FAILING(n, pin_range(fd, pg, pg));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "PIN");
			for (i = 0; i < NPAGES; i++) {
				ASSERT_EQ(i == 3 || i == 7 ? ASHMEM_IS_PINNED : ASHMEM_IS_UNPINNED,
					  range_pin_status(fd, i * pg, pg));
			}
			r = pin_range(fd, pg, pg);
			ASSERT_LE(0, r) {
				TH_LOG("PIN again, without a failure: %s", strerror(errno));
			}
		}
		/* Nothing was purged meanwhile (no pressure, no purge): the data stayed. */
		ASSERT_EQ(ASHMEM_NOT_PURGED, r);
		for (i = 0; i < NPAGES; i++) {
			ASSERT_EQ(i == 0 || i == 2 || (i >= 4 && i < 7) ? ASHMEM_IS_UNPINNED :
				  ASHMEM_IS_PINNED, range_pin_status(fd, i * pg, pg));
		}
		ASSERT_TRUE(pages_are(map, NPAGES, 0, SEED, PAGE_STAMPED));
		stamped_region_release(fd, map);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT(what, n);
}

TEST_F(faults, pin_fails_with_enomem_and_leaves_the_range_unpinned)
{
	pin_splitting_a_range(_metadata, self, "PIN");
}

/*
 * PIN as a fresh region's first range operation: its pool of spare nodes and
 * entries is empty, with no room, so the PIN makes the pool's two arrays
 * first, then a node and entries. Failing anywhere, nothing changes.
 */
static void pin_of_a_fresh_region(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self,
				  const char *what)
{
	size_t pg = self->pg;
	char val[64];
	int n, fd;
	void *map;
	long r;

	for (n = 1; n <= MAX_NTH; n++) {
		fd = stamped_region(_metadata, &map);
		r = WITH_NTH_FAILING(n, pin_range(fd, pg, 2 * pg));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, what);
			ASSERT_EQ(ASHMEM_IS_PINNED, range_pin_status(fd, 0, 0));
			r = pin_range(fd, pg, 2 * pg);
			ASSERT_LE(0, r) {
				TH_LOG("PIN again, without a failure: %s", strerror(errno));
			}
		}
		ASSERT_EQ(ASHMEM_NOT_PURGED, r);
		ASSERT_EQ(0, fdinfo_value(fd, "unpinned", val, sizeof(val)));
		ASSERT_STREQ("0", val);
		/* The region's ranges work on. */
		ASSERT_EQ(0, unpin_range(fd, pg, pg));
		ASSERT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(fd, 0, 0));
		ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(fd, 0, 0));
		ASSERT_TRUE(pages_are(map, NPAGES, 0, SEED, PAGE_STAMPED));
		stamped_region_release(fd, map);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT(what, n);
}

TEST_F(faults, pin_of_a_fresh_region_fails_with_enomem_and_changes_nothing)
{
	pin_of_a_fresh_region(_metadata, self, "PIN of a fresh region");
}

/* UNPIN of a fresh region fills its spares: nodes, LRU entries, their vectors. */
static void unpin_of_a_fresh_region(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self,
				  const char *what)
{
	size_t pg = self->pg;
	char val[64];
	int n, fd;
	void *map;
	long r;

	for (n = 1; n <= MAX_NTH; n++) {
		fd = stamped_region(_metadata, &map);
		r = WITH_NTH_FAILING(n, unpin_range(fd, pg, 2 * pg));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "UNPIN");
			ASSERT_EQ(ASHMEM_IS_PINNED, range_pin_status(fd, 0, 0));
			ASSERT_EQ(0, fdinfo_value(fd, "unpinned", val, sizeof(val)));
			ASSERT_STREQ("0", val);
			ASSERT_EQ(0, unpin_range(fd, pg, 2 * pg)) {
				TH_LOG("UNPIN again, without a failure: %s", strerror(errno));
			}
		}
		ASSERT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(fd, pg, 2 * pg));
		ASSERT_EQ(ASHMEM_IS_PINNED, range_pin_status(fd, 0, pg));
		ASSERT_EQ(0, fdinfo_value(fd, "unpinned", val, sizeof(val)));
		ASSERT_STREQ("2", val);
		ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(fd, 0, 0));
		ASSERT_TRUE(pages_are(map, NPAGES, 0, SEED, PAGE_STAMPED));
		stamped_region_release(fd, map);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT(what, n);
}

TEST_F(faults, unpin_fails_with_enomem_and_leaves_the_range_pinned)
{
	unpin_of_a_fresh_region(_metadata, self, "UNPIN");
}

/*
 * UNPIN of a whole region holding many purged ranges needs a node and a link
 * for each of them: more than the spares, so the pool is filled again,
 * entry by entry. Failing anywhere, nothing changes.
 */
static void unpin_across_purged_ranges(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self,
				  const char *what)
{
	size_t pg = self->pg, i;
	char val[64];
	int n, fd;
	void *map;
	long r;

	for (n = 1; n <= MAX_NTH; n++) {
		fd = stamped_region(_metadata, &map);
		/* Every second page unpinned and purged: four purged ranges. */
		for (i = 0; i < NPAGES; i += 2) {
			ASSERT_EQ(0, unpin_range(fd, i * pg, pg));
		}
		ASSERT_LE(0, purge_all_caches(fd));
		ASSERT_EQ(0, fdinfo_value(fd, "purged", val, sizeof(val)));
		ASSERT_STREQ("4", val);
		r = WITH_NTH_FAILING(n, unpin_range(fd, 0, 0));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "UNPIN across purged ranges");
			for (i = 0; i < NPAGES; i++) {
				ASSERT_EQ(i % 2 ? ASHMEM_IS_PINNED : ASHMEM_IS_UNPINNED,
					  range_pin_status(fd, i * pg, pg));
			}
			ASSERT_EQ(0, fdinfo_value(fd, "unpinned", val, sizeof(val)));
			ASSERT_STREQ("0", val);
			ASSERT_EQ(0, unpin_range(fd, 0, 0));
		}
		ASSERT_EQ(0, fdinfo_value(fd, "unpinned", val, sizeof(val)));
		ASSERT_STREQ("4", val);
		ASSERT_EQ(0, fdinfo_value(fd, "purged", val, sizeof(val)));
		ASSERT_STREQ("4", val);
		/* The purged pages read zero, the others kept their data. */
		ASSERT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, 0));
		for (i = 0; i < NPAGES; i++) {
			ASSERT_TRUE(pages_are((char *)map + i * pg, 1, i, SEED,
					      i % 2 ? PAGE_STAMPED : PAGE_ZERO));
		}
		stamped_region_release(fd, map);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT(what, n);
}

TEST_F(faults, unpin_across_purged_ranges_fails_with_enomem_and_changes_nothing)
{
	unpin_across_purged_ranges(_metadata, self, "UNPIN across purged ranges");
}

/*
 * The same PIN and UNPIN with the N-th allocation and the slab allocation
 * right after it failing (failslab's times, for the test's thread): the
 * arrays of the region's spare nodes and entries grow with kvmalloc, which
 * falls back once to vmalloc, so one failure never makes them fail.
 */
static void in_a_row_begin(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self)
{
	self->times = open(FAILSLAB_TIMES, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, self->times);
	ASSERT_EQ(0, times_set(self->times, 0));
	ASSERT_EQ(0, write_text(MAKE_IT_FAIL, "1"));
	self->in_a_row = 2;
}

static void in_a_row_end(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self)
{
	self->in_a_row = 0;
	ASSERT_EQ(0, write_text(MAKE_IT_FAIL, "0"));
	close(self->times);
}

TEST_F(faults, pin_with_failures_in_a_row_fails_with_enomem_and_leaves_the_range_unpinned)
{
	in_a_row_begin(_metadata, self);
	pin_splitting_a_range(_metadata, self, "PIN, two failures in a row");
	in_a_row_end(_metadata, self);
}

TEST_F(faults, pin_of_a_fresh_region_with_failures_in_a_row_fails_with_enomem_and_changes_nothing)
{
	in_a_row_begin(_metadata, self);
	pin_of_a_fresh_region(_metadata, self, "PIN of a fresh region, two failures in a row");
	in_a_row_end(_metadata, self);
}

TEST_F(faults, unpin_with_failures_in_a_row_fails_with_enomem_and_leaves_the_range_pinned)
{
	in_a_row_begin(_metadata, self);
	unpin_of_a_fresh_region(_metadata, self, "UNPIN, two failures in a row");
	in_a_row_end(_metadata, self);
}

TEST_F(faults, unpin_across_purged_ranges_with_failures_in_a_row_fails_with_enomem_and_changes_nothing)
{
	in_a_row_begin(_metadata, self);
	unpin_across_purged_ranges(_metadata, self, "UNPIN across purged ranges, two failures in a row");
	in_a_row_end(_metadata, self);
}

TEST_F(faults, madvise_remove_fails_with_enomem_or_zeroes_the_pages)
{
	size_t pg = self->pg;
	int n, fd;
	void *map;
	long r;

	fd = stamped_region(_metadata, &map);
	for (n = 1; n <= MAX_NTH; n++) {
		stamp_pages(map, NPAGES, 0, SEED);
		r = WITH_NTH_FAILING(n, madvise((char *)map + 2 * pg, 2 * pg, MADV_REMOVE));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "MADV_REMOVE");
			ASSERT_TRUE(pages_are(map, NPAGES, 0, SEED, PAGE_STAMPED));
			continue;
		}
		ASSERT_EQ(1, read_pages_are(fd, 2 * pg, 2, SEED, PAGE_ZERO));
		ASSERT_EQ(1, read_pages_are(fd, 0, 2, SEED, PAGE_STAMPED));
		ASSERT_EQ(1, read_pages_are(fd, 4 * pg, NPAGES - 4, SEED, PAGE_STAMPED));
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("MADV_REMOVE", n);
	stamped_region_release(fd, map);
}

TEST_F(faults, purge_all_caches_fails_with_enomem_or_purges_the_unpinned_pages)
{
	size_t pg = self->pg;
	int n, fd;
	void *map;
	long r;

	for (n = 1; n <= MAX_NTH; n++) {
		fd = stamped_region(_metadata, &map);
		ASSERT_EQ(0, unpin_range(fd, 0, 4 * pg));
		r = WITH_NTH_FAILING(n, purge_all_caches(fd));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "PURGE_ALL_CACHES");
			ASSERT_LE(0, purge_all_caches(fd));
		} else {
			ASSERT_LE(4, r);
		}
		ASSERT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, 0));
		ASSERT_EQ(1, read_pages_are(fd, 0, 4, SEED, PAGE_ZERO));
		ASSERT_EQ(1, read_pages_are(fd, 4 * pg, NPAGES - 4, SEED, PAGE_STAMPED));
		stamped_region_release(fd, map);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("PURGE_ALL_CACHES", n);
}

TEST_F(faults, get_file_id_fails_with_enomem_or_gives_the_inode)
{
	unsigned long want = 0, id;
	char val[64];
	int n, fd;
	void *map;
	long r;

	fd = stamped_region(_metadata, &map);
	ASSERT_EQ(0, fdinfo_value(fd, "inode", val, sizeof(val)));
	want = strtoul(val, NULL, 10);
	for (n = 1; n <= MAX_NTH; n++) {
		id = 0;
		r = WITH_NTH_FAILING(n, ioctl(fd, ASHMEM_GET_FILE_ID, &id));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "GET_FILE_ID");
			continue;
		}
		ASSERT_EQ(want, id);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("GET_FILE_ID", n);
	stamped_region_release(fd, map);
}

TEST_F(faults, read_fails_with_enomem_or_reads_the_data)
{
	size_t pg = self->pg;
	char *buf = malloc(2 * pg);
	int n, fd;
	void *map;
	long r;

	ASSERT_NOT_NULL(buf);
	memset(buf, 0, 2 * pg);
	fd = stamped_region(_metadata, &map);
	for (n = 1; n <= MAX_NTH; n++) {
		r = WITH_NTH_FAILING(n, pread(fd, buf, 2 * pg, 3 * pg));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "read");
			continue;
		}
		ASSERT_EQ((long)(2 * pg), r);
		ASSERT_TRUE(pages_are(buf, 2, 3, SEED, PAGE_STAMPED));
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("read", n);
	free(buf);
	stamped_region_release(fd, map);
}

/* Opens and reads path whole into buf: its length, or -1 with errno. */
static ssize_t open_and_read(const char *path, char *buf, size_t len)
{
	ssize_t got = 0, r;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -1;
	while ((r = read(fd, buf + got, len - 1 - got)) > 0)
		got += r;
	err = errno;
	close(fd);
	buf[got] = '\0';
	errno = err;
	return r < 0 ? -1 : got;
}

TEST_F(faults, fdinfo_fails_with_enomem_or_shows_the_region)
{
	char path[64], buf[4096];
	int n, fd;
	void *map;
	long r;

	fd = stamped_region(_metadata, &map);
	ASSERT_EQ(0, unpin_range(fd, 0, self->pg));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	for (n = 1; n <= MAX_NTH; n++) {
		r = WITH_NTH_FAILING(n, open_and_read(path, buf, sizeof(buf)));
		if (r < 0) {
			ASSERT_FAILED_FOR_MEMORY(n, "fdinfo");
			continue;
		}
		ASSERT_TRUE(strstr(buf, "\nname:\t" NAME "\n") != NULL) {
			TH_LOG("fdinfo:\n%s", buf);
		}
		ASSERT_TRUE(strstr(buf, "\nunpinned:\t1\n") != NULL) {
			TH_LOG("fdinfo:\n%s", buf);
		}
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("fdinfo", n);
	stamped_region_release(fd, map);
}

/*
 * The summary may also say that it ran out of memory itself (the driver
 * copies the list of regions into memory it allocates first), and nothing
 * else then.
 */
/*
 * One outcome of reading the summary with allocations failing: ENOMEM, the
 * driver saying it ran out of memory itself (1), or the summary with the
 * test's region (0).
 */
static int summary_outcome(struct __test_metadata *_metadata, FIXTURE_DATA(faults) *self,
			   int n, long r, const char *buf)
{
	char line[32];

	if (r < 0) {
		ASSERT_FAILED_FOR_MEMORY(n, "summary");
		return 0;
	}
	/* Only that line: the driver copies the regions first, then writes. */
	if (self->injected && !strcmp(buf, "error:\tout of memory\n"))
		return 1;
	ASSERT_EQ(0, strncmp(buf, "regions:\t", 9)) {
		TH_LOG("summary:\n%s", buf);
	}
	snprintf(line, sizeof(line), "\t%d\t", getpid());
	ASSERT_TRUE(strstr(buf, line) != NULL) {
		TH_LOG("no region of pid %d in the summary:\n%s", getpid(), buf);
	}
	return 0;
}

/*
 * The summary may also say that it ran out of memory itself (the driver
 * copies the list of regions into memory it allocates first), and nothing
 * else then. Its allocations fall back once (kvrealloc tries kmalloc twice):
 * one failure never reaches that line, so a second round fails the N-th
 * allocation and the slab allocations right after it (up to two, failslab's
 * times), and that line must come. A round may step over the copy's
 * allocation: how many allocations the kernel makes before it is not the
 * same from one read to the next (the counts of one call differ between
 * runs: open made 6 allocations in one, 7 in another), so N + 1 can land
 * where N did the read before. Up to four rounds are made, until one says
 * so (on 7 December 2026 a whole round of the debug kernel's 64-bit run went
 * without).
 */
TEST_F(faults, summary_fails_with_enomem_or_says_so_or_shows_the_region)
{
	static char buf[64 * 1024];
	int n, fd, times, round, said_so = 0, said_so_in_a_row = 0;
	void *map;
	long r;

	if (access(ASHMEM_SUMMARY, F_OK))
		SKIP(return, "no %s (CONFIG_DEBUG_FS)", ASHMEM_SUMMARY);
	fd = stamped_region(_metadata, &map);
	for (n = 1; n <= MAX_NTH; n++) {
		r = WITH_NTH_FAILING(n, open_and_read(ASHMEM_SUMMARY, buf, sizeof(buf)));
		said_so += summary_outcome(_metadata, self, n, r, buf);
		if (!self->injected)
			break;
	}
	ASSERT_GT(MAX_NTH, n);
	REPORT("summary", n);

	/* The file stays open: its first write made debugfs's per-file data. */
	times = open(FAILSLAB_TIMES, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, times);
	ASSERT_EQ(2, write(times, "0\n", 2));
	ASSERT_EQ(0, write_text(MAKE_IT_FAIL, "1"));
	for (round = 1; round <= 4 && !said_so_in_a_row; round++) {
		for (n = 1; n <= MAX_NTH; n++) {
			ASSERT_EQ(2, write(times, "2\n", 2));
			r = WITH_NTH_FAILING(n, open_and_read(ASHMEM_SUMMARY, buf, sizeof(buf)));
			ASSERT_EQ(2, write(times, "0\n", 2));
			said_so_in_a_row += summary_outcome(_metadata, self, n, r, buf);
			if (!self->injected)
				break;
		}
		ASSERT_GT(MAX_NTH, n);
	}
	ASSERT_EQ(0, write_text(MAKE_IT_FAIL, "0"));
	close(times);
	ksft_print_msg("summary: said it ran out of memory %d times with one allocation failing, %d times with more in a row (%d rounds)\n",
		       said_so, said_so_in_a_row, round - 1);
	EXPECT_LT(0, said_so_in_a_row);
	stamped_region_release(fd, map);
}

TEST_HARNESS_MAIN
