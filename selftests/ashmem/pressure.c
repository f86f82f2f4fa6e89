// SPDX-License-Identifier: GPL-2.0
/*
 * Reclaim inside a memory cgroup, as in a Waydroid or redroid container: a
 * process in a cgroup with a small memory.max holds far more unpinned ashmem
 * than the limit, then allocates anonymous memory. With no swap, the only way
 * to make room is to purge unpinned ranges, which the kernel can reach only
 * through a memcg-aware shrinker. The process must not be OOM-killed, the
 * oldest unpinned ranges must have been purged (and read as zeros, never
 * stale data), and its pinned region must be intact.
 *
 * The work runs in a forked worker that moves itself into the cgroup; it
 * reports through a shared page, and the test checks the report, the
 * worker's exit status and the cgroup's memory.events.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define MiB		(1024UL * 1024)

/* The cgroup's limit, and what the worker holds inside it. */
#define LIMIT_MB	64
#define PINNED_MB	8
#define NR_UNPINNED	16
#define UNPINNED_MB	16
#define ANON_MB		48
/* At least the oldest this many unpinned regions must have been purged. */
#define OLDEST_PURGED	12

#define PINNED_SEED	1
#define UNPINNED_SEED	100

#define PRESSURE_CGROUP	CGROUP2_ROOT "/ashmem-selftest-pressure"

/* How far the worker got: where it stopped if it did not finish. */
enum stage {
	STAGE_START,
	STAGE_ENTER_CGROUP,
	STAGE_PINNED_REGION,
	STAGE_UNPINNED_REGIONS,
	STAGE_ANON_MEMORY,
	STAGE_CHECK,
	STAGE_DONE,
};

static const char *const stage_names[] = {
	"start", "entering the cgroup", "filling the pinned region",
	"filling and unpinning regions", "allocating anonymous memory",
	"checking the regions", "done",
};

/* What the worker saw, written into a shared page. */
struct report {
	int stage;
	int err;
	int failed_region;
	/* PIN's answer for each unpinned region, oldest first. */
	int pin_ret[NR_UNPINNED];
	/* Its pages, read back with read(2): zero, intact, anything else. */
	unsigned int zero[NR_UNPINNED];
	unsigned int stamped[NR_UNPINNED];
	unsigned int other[NR_UNPINNED];
	/* Its first and last pages through the mapping agree with read(2). */
	int mapping_agrees[NR_UNPINNED];
	int pinned_intact;
};

/* Count the zero, intact and other pages of a region through read(2). */
static int count_pages_by_read(int fd, size_t npages, unsigned int seed,
			       struct report *r, int i)
{
	enum { CHUNK = 16 };
	size_t pg = page_size(), done, j;
	char *buf = malloc(CHUNK * pg);
	int ret = 0;

	if (!buf)
		return -1;
	if (lseek(fd, 0, SEEK_SET) != 0)
		ret = -1;
	for (done = 0; !ret && done < npages; done += CHUNK) {
		if (read(fd, buf, CHUNK * pg) != (ssize_t)(CHUNK * pg)) {
			ret = -1;
			break;
		}
		for (j = 0; j < CHUNK; j++) {
			switch (page_state(buf + j * pg, done + j, seed)) {
			case PAGE_ZERO:
				r->zero[i]++;
				break;
			case PAGE_STAMPED:
				r->stamped[i]++;
				break;
			default:
				r->other[i]++;
			}
		}
	}
	free(buf);
	return ret;
}

/* What page pageno of region i reads as through read(2). */
static int page_state_by_read(int fd, size_t pageno, unsigned int seed)
{
	size_t pg = page_size();
	char *buf = malloc(pg);
	int st = -1;

	if (buf && pread(fd, buf, pg, pageno * pg) == (ssize_t)pg)
		st = page_state(buf, pageno, seed);
	free(buf);
	return st;
}

/* The worker: never returns. Exit status 0 when every step could be done. */
static void worker(const char *cgroup, struct report *r)
{
	size_t pg = page_size();
	size_t pinned_pages = PINNED_MB * MiB / pg;
	size_t region_pages = UNPINNED_MB * MiB / pg;
	int fds[NR_UNPINNED];
	char *maps[NR_UNPINNED];
	char *anon[ANON_MB];
	char name[32];
	char *pinned;
	int pinned_fd, i;

	r->failed_region = -1;
#define STEP(st) (r->stage = (st))
#define FAIL_IF(cond) do { \
	if (cond) { \
		r->err = errno; \
		_exit(1); \
	} \
} while (0)

	STEP(STAGE_ENTER_CGROUP);
	FAIL_IF(cgroup_enter(cgroup, 0));

	STEP(STAGE_PINNED_REGION);
	pinned = region_new_stamped("pressure-pinned", pinned_pages, PINNED_SEED,
				    &pinned_fd);
	FAIL_IF(pinned == MAP_FAILED);

	/* Each one touched whole, then unpinned whole: oldest first. */
	STEP(STAGE_UNPINNED_REGIONS);
	for (i = 0; i < NR_UNPINNED; i++) {
		r->failed_region = i;
		snprintf(name, sizeof(name), "pressure-unpinned-%d", i);
		maps[i] = region_new_stamped(name, region_pages, UNPINNED_SEED + i,
					     &fds[i]);
		FAIL_IF(maps[i] == MAP_FAILED);
		FAIL_IF(unpin_range(fds[i], 0, 0));
	}
	r->failed_region = -1;

	STEP(STAGE_ANON_MEMORY);
	for (i = 0; i < ANON_MB; i++) {
		anon[i] = malloc(MiB);
		FAIL_IF(!anon[i]);
		memset(anon[i], 0xa5, MiB);
	}
	/* Give it back before re-pinning makes every region unpurgeable. */
	for (i = 0; i < ANON_MB; i++)
		free(anon[i]);

	STEP(STAGE_CHECK);
	for (i = 0; i < NR_UNPINNED; i++) {
		r->failed_region = i;
		r->pin_ret[i] = pin_range(fds[i], 0, 0);
		FAIL_IF(r->pin_ret[i] < 0);
		/* read(2) reads holes without allocating pages. */
		FAIL_IF(count_pages_by_read(fds[i], region_pages,
					    UNPINNED_SEED + i, r, i));
		/* The mapping shows the same: no stale page left mapped. */
		r->mapping_agrees[i] =
			page_state(maps[i], 0, UNPINNED_SEED + i) ==
				page_state_by_read(fds[i], 0, UNPINNED_SEED + i) &&
			page_state(maps[i] + (region_pages - 1) * pg,
				   region_pages - 1, UNPINNED_SEED + i) ==
				page_state_by_read(fds[i], region_pages - 1,
						   UNPINNED_SEED + i);
	}
	r->failed_region = -1;
	r->pinned_intact = pages_are(pinned, pinned_pages, 0, PINNED_SEED,
				     PAGE_STAMPED);
	STEP(STAGE_DONE);
	_exit(0);
#undef FAIL_IF
#undef STEP
}

FIXTURE(pressure)
{
	struct child_cgroup child;
};

FIXTURE_SETUP(pressure)
{
	const char *step;
	int err;

	if (geteuid() != 0)
		SKIP(return, "needs root to make a cgroup");
	if (access(CGROUP2_ROOT "/cgroup.controllers", F_OK))
		SKIP(return, "no cgroup v2 mounted at %s", CGROUP2_ROOT);
	if (!cgroup2_has_memory())
		SKIP(return, "the memory controller is not available at %s",
		     CGROUP2_ROOT);
	err = child_cgroup_make(&self->child, PRESSURE_CGROUP, &step);
	if (err && !strcmp(step, "+memory"))
		SKIP(return, "cannot enable the memory controller for %s: %s",
		     CGROUP2_ROOT, strerror(err));
	ASSERT_EQ(0, err) {
		TH_LOG("mkdir %s: %s", PRESSURE_CGROUP, strerror(err));
	}
}

/*
 * In the parent, once the test process is gone: kills a worker that may
 * still be in the cgroup, then removes it.
 */
FIXTURE_TEARDOWN_PARENT(pressure)
{
	/* No EXPECT here: an ASSERT that ended the test leaves its trigger set. */
	if (child_cgroup_remove(&self->child, PRESSURE_CGROUP)) {
		TH_LOG("rmdir %s: %s", PRESSURE_CGROUP, strerror(errno));
		_metadata->exit_code = KSFT_FAIL;
	}
}

TEST_F_TIMEOUT(pressure, unpinned_ashmem_is_purged_instead_of_oom_at_the_cgroup_limit,
	       300)
{
	char limit[32], peak[32], events[256];
	size_t pg = page_size();
	size_t region_pages = UNPINNED_MB * MiB / pg;
	/* The most that can stay resident under the limit beside the rest. */
	size_t max_resident = (LIMIT_MB - PINNED_MB - ANON_MB) * MiB / pg;
	size_t zero = 0;
	struct report *r;
	struct timespec t0, t1;
	int status, purged = 0, i;
	pid_t pid;

	snprintf(limit, sizeof(limit), "%lu", LIMIT_MB * MiB);
	ASSERT_EQ(0, write_text(PRESSURE_CGROUP "/memory.max", limit)) {
		TH_LOG("memory.max: %s", strerror(errno));
	}
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_MAPPED(r);
	/* Fault the report page in here, so it is not charged to the cgroup. */
	memset(r, 0, sizeof(*r));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		worker(PRESSURE_CGROUP, r);
	status = wait_child(pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (read_text(PRESSURE_CGROUP "/memory.peak", peak, sizeof(peak)) < 0)
		copy_str(peak, sizeof(peak), "?\n");
	TH_LOG("worker: status %d after %ld s, stage \"%s\", memory.peak %.*s",
	       status, (long)(t1.tv_sec - t0.tv_sec), stage_names[r->stage],
	       (int)strcspn(peak, "\n"), peak);
	if (read_text(PRESSURE_CGROUP "/memory.events", events, sizeof(events)) > 0) {
		for (i = 0; events[i]; i++)
			if (events[i] == '\n')
				events[i] = events[i + 1] ? ',' : '\0';
		TH_LOG("memory.events: %s", events);
	}

	/* Not OOM-killed (128 + SIGKILL), and every step was done. */
	EXPECT_EQ(0, status) {
		TH_LOG("the worker stopped while %s (region %d): %s",
		       stage_names[r->stage], r->failed_region,
		       status == 128 + SIGKILL ? "killed by SIGKILL (the OOM killer?)" :
		       strerror(r->err));
	}
	EXPECT_EQ(0, keyed_value(PRESSURE_CGROUP "/memory.events", "oom_kill"));
	EXPECT_EQ(0, keyed_value(PRESSURE_CGROUP "/memory.events", "oom"));
	ASSERT_EQ(STAGE_DONE, r->stage);

	EXPECT_TRUE(r->pinned_intact);
	for (i = 0; i < NR_UNPINNED; i++) {
		/* Every page is its old contents or zero, never anything else. */
		EXPECT_EQ(0, r->other[i]) {
			TH_LOG("region %d: %u pages neither intact nor zero", i,
			       r->other[i]);
		}
		EXPECT_EQ(region_pages, r->zero[i] + r->stamped[i] + r->other[i]);
		EXPECT_TRUE(r->mapping_agrees[i]) {
			TH_LOG("region %d: the mapping and read(2) disagree", i);
		}
		/* PIN's answer agrees with the contents. */
		if (r->pin_ret[i] == ASHMEM_NOT_PURGED) {
			EXPECT_EQ(0, r->zero[i]) {
				TH_LOG("region %d: NOT_PURGED but %u zero pages",
				       i, r->zero[i]);
			}
		} else {
			EXPECT_EQ(ASHMEM_WAS_PURGED, r->pin_ret[i]);
			EXPECT_LT(0, r->zero[i]) {
				TH_LOG("region %d: WAS_PURGED but no zero page", i);
			}
		}
		if (i < OLDEST_PURGED) {
			EXPECT_EQ(ASHMEM_WAS_PURGED, r->pin_ret[i]) {
				TH_LOG("region %d (of the %d oldest) was not purged",
				       i, OLDEST_PURGED);
			}
		}
		zero += r->zero[i];
		purged += r->pin_ret[i] == ASHMEM_WAS_PURGED;
	}
	TH_LOG("%d of %d unpinned regions purged, %zu of %zu pages read as zero",
	       purged, NR_UNPINNED, zero, NR_UNPINNED * region_pages);
	/*
	 * Under the limit, beside the pinned region and the anonymous memory,
	 * at most max_resident pages of the unpinned regions can have stayed.
	 */
	EXPECT_LE(NR_UNPINNED * region_pages - max_resident, zero);
	munmap(r, sizeof(*r));
}

TEST_HARNESS_MAIN
