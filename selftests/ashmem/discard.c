// SPDX-License-Identifier: GPL-2.0
/*
 * Discarding pages with madvise(MADV_REMOVE), as Chromium's discardable
 * memory (WebView, Chrome) does on a writable shared mapping of a region: the
 * kernel punches a hole in the region's backing file (fallocate
 * PUNCH_HOLE|KEEP_SIZE on the mapping's file), the pages are freed and read
 * as zero afterwards, in every mapping and through read(2).
 *
 * What else these tests pin down:
 * - the driver's bookkeeping: a user's MADV_REMOVE frees the user's own pages,
 *   it is not a purge. Pin state, GET_PIN_STATUS, fdinfo's pinned/unpinned/
 *   purged counts and the purge LRU stay as they were; a later PIN says
 *   ASHMEM_NOT_PURGED; a purge of a range the user already emptied is
 *   harmless (and then PIN says ASHMEM_WAS_PURGED, as after any purge);
 * - what stays refused: MADV_REMOVE on a mapping that may not be written
 *   (EACCES), and fallocate, ftruncate and writes through any other open
 *   file of the backing inode (map_files, /proc/PID/fd), of a writable region
 *   too (attack.c covers read-only ones).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#define PAGES		8
#define SEED		0xd15c
#define NEW_SEED	0x2e5e

/* A region of PAGES pages, mapped shared read/write, every page stamped. */
FIXTURE(discardable)
{
	int fd;
	size_t pg;
	unsigned char *map;
};

FIXTURE_SETUP(discardable)
{
	self->pg = page_size();
	self->map = region_new_stamped("discardable", PAGES, SEED, &self->fd);
	ASSERT_MAPPED(self->map);
}

FIXTURE_TEARDOWN(discardable)
{
	region_release(self->fd, self->map, PAGES * self->pg);
}

/* PAGE(), MAP_PAGES_ARE() and READ_PAGES_ARE() are ashmem_test.h's. */
#define REMOVE(first, n) \
	ERRNO_OF(madvise(PAGE(first), (n) * self->pg, MADV_REMOVE))

/*
 * How many of the n pages from p are in memory, by mincore(): for a shared
 * mapping of a shmem file it reports the file's page cache, so a punched hole
 * shows as not resident. Call it before touching the pages through the
 * mapping (a read fault would allocate them again). -1 on error.
 */
static int resident(const void *p, size_t n)
{
	unsigned char vec[PAGES * 4];
	size_t i;
	int count = 0;

	if (n > sizeof(vec) || mincore((void *)p, n * page_size(), vec) < 0)
		return -1;
	for (i = 0; i < n; i++)
		count += vec[i] & 1;
	return count;
}

/* fdinfo's pinned/unpinned/purged page counts, as one "P/U/X" string. */
static void pin_counts(int fd, char *buf, size_t len)
{
	char p[32] = "?", u[32] = "?", x[32] = "?";

	fdinfo_value(fd, "pinned", p, sizeof(p));
	fdinfo_value(fd, "unpinned", u, sizeof(u));
	fdinfo_value(fd, "purged", x, sizeof(x));
	snprintf(buf, len, "%s/%s/%s", p, u, x);
}

/* The pages */

TEST_F(discardable, madvise_remove_frees_the_pages_and_they_read_zero)
{
	ASSERT_EQ(PAGES, resident(PAGE(0), PAGES));
	ASSERT_EQ(0, REMOVE(2, 4)) {
		TH_LOG("MADV_REMOVE: %s", strerror(REMOVE(2, 4)));
	}
	/* Freed: gone from the page cache before anything touches them. */
	EXPECT_EQ(0, resident(PAGE(2), 4));
	EXPECT_EQ(2, resident(PAGE(0), 2));
	EXPECT_EQ(2, resident(PAGE(6), 2));
	/* Zero through read(2) (allocates nothing) and through the mapping. */
	EXPECT_EQ(1, READ_PAGES_ARE(2, 4, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(2, 4, PAGE_ZERO));
	/* The pages around the hole keep their data. */
	EXPECT_TRUE(MAP_PAGES_ARE(0, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(6, 2, PAGE_STAMPED));
	EXPECT_EQ(PAGES * self->pg, (size_t)ioctl(self->fd, ASHMEM_GET_SIZE));
}

/* The debugfs summary's resident pages (the backing file's page cache). */
TEST_F(discardable, madvise_remove_lowers_the_resident_pages_of_the_summary)
{
	unsigned long long before, after;

	if (summary_value("pages_resident", &before) < 0)
		SKIP(return, "no %s (needs root and debugfs)", ASHMEM_SUMMARY);
	ASSERT_EQ(0, REMOVE(1, 3));
	ASSERT_EQ(0, summary_value("pages_resident", &after));
	EXPECT_EQ(before - 3, after);
}

TEST_F(discardable, madvise_remove_leaves_a_hole_that_seek_hole_finds)
{
	ASSERT_EQ(0, REMOVE(3, 2));
	EXPECT_EQ((off_t)(3 * self->pg), lseek(self->fd, 0, SEEK_HOLE));
	EXPECT_EQ((off_t)(5 * self->pg), lseek(self->fd, 3 * self->pg, SEEK_DATA));
}

TEST_F(discardable, madvise_remove_zeroes_every_mapping_of_the_region)
{
	unsigned char *other = map_shared(self->fd, PAGES * self->pg,
					  PROT_READ | PROT_WRITE);
	pid_t pid;

	ASSERT_MAPPED(other);
	ASSERT_TRUE(pages_are(other, PAGES, 0, SEED, PAGE_STAMPED));
	/* A child mapping the region through the inherited fd sees it too. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char *c = map_shared(self->fd, PAGES * self->pg, PROT_READ);
		int i;

		if (c == MAP_FAILED)
			_exit(2);
		for (i = 0; i < 500 && !pages_are(c + self->pg, 1, 1, 0, PAGE_ZERO); i++)
			usleep(10000);
		_exit(pages_are(c + self->pg, 1, 1, 0, PAGE_ZERO) &&
		      pages_are(c, 1, 0, SEED, PAGE_STAMPED) ? 0 : 1);
	}
	ASSERT_EQ(0, REMOVE(1, 1));
	EXPECT_TRUE(pages_are(other + self->pg, 1, 1, SEED, PAGE_ZERO));
	EXPECT_TRUE(pages_are(other, 1, 0, SEED, PAGE_STAMPED));
	EXPECT_EQ(0, wait_child(pid));
	munmap(other, PAGES * self->pg);
}

TEST_F(discardable, removed_pages_can_be_written_again)
{
	ASSERT_EQ(0, REMOVE(0, PAGES));
	EXPECT_EQ(0, resident(PAGE(0), PAGES));
	stamp_pages(PAGE(0), PAGES, 0, NEW_SEED);
	EXPECT_EQ(1, read_pages_are(self->fd, 0, PAGES, NEW_SEED, PAGE_STAMPED));
}

/*
 * Chromium's discardable cycle: the owner unpins what it no longer uses;
 * when it decides to drop the memory it calls MADV_REMOVE on it; before the
 * next use it pins again and must find zeros, not stale data. The driver did
 * not purge anything, so PIN says ASHMEM_NOT_PURGED (the owner knows what it
 * dropped itself).
 */
TEST_F(discardable, chromium_cycle_unpin_remove_pin_finds_zeros)
{
	int round;

	for (round = 0; round < 3; round++) {
		stamp_pages(PAGE(1), 6, 1, SEED);
		ASSERT_EQ(0, unpin_range(self->fd, self->pg, 6 * self->pg));
		ASSERT_EQ(0, REMOVE(1, 6));
		EXPECT_EQ(0, resident(PAGE(1), 6));
		EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, self->pg, 6 * self->pg));
		EXPECT_EQ(ASHMEM_IS_PINNED, range_pin_status(self->fd, 0, 0));
		EXPECT_EQ(1, READ_PAGES_ARE(1, 6, PAGE_ZERO));
		EXPECT_TRUE(MAP_PAGES_ARE(1, 6, PAGE_ZERO));
		EXPECT_TRUE(MAP_PAGES_ARE(0, 1, PAGE_STAMPED));
		EXPECT_TRUE(MAP_PAGES_ARE(7, 1, PAGE_STAMPED));
	}
}

/* The bookkeeping */

TEST_F(discardable, madvise_remove_of_a_pinned_range_keeps_it_pinned)
{
	char before[96], after[96];

	pin_counts(self->fd, before, sizeof(before));
	ASSERT_EQ(0, REMOVE(0, 4));
	pin_counts(self->fd, after, sizeof(after));
	EXPECT_STREQ("8/0/0", before);
	EXPECT_STREQ(before, after);
	EXPECT_EQ(ASHMEM_IS_PINNED, range_pin_status(self->fd, 0, 4 * self->pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 0, 4 * self->pg));
}

TEST_F(discardable, madvise_remove_of_an_unpinned_range_keeps_it_unpinned)
{
	char before[96], after[96];

	ASSERT_EQ(0, unpin_range(self->fd, 2 * self->pg, 4 * self->pg));
	pin_counts(self->fd, before, sizeof(before));
	ASSERT_EQ(0, REMOVE(0, PAGES));
	pin_counts(self->fd, after, sizeof(after));
	EXPECT_STREQ("4/4/0", before);
	EXPECT_STREQ(before, after);
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(self->fd, 2 * self->pg, self->pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, range_pin_status(self->fd, 0, 2 * self->pg));
}

/*
 * The range stays on the purge LRU: PURGE_ALL_CACHES still counts it (the
 * driver counts unpinned pages, resident or not), purges it (punching an
 * empty range again), and PIN then reports the purge. Nothing else changes.
 */
TEST_F(discardable, purging_a_range_the_user_removed_is_harmless)
{
	char counts[96];
	int before;

	if (geteuid() != 0)
		SKIP(return, "PURGE_ALL_CACHES needs root");
	ASSERT_LE(0, purge_all_caches(self->fd));
	ASSERT_EQ(0, unpin_range(self->fd, 2 * self->pg, 4 * self->pg));
	ASSERT_EQ(0, REMOVE(2, 4));
	before = purge_all_caches(self->fd);
	EXPECT_EQ(4, before);
	pin_counts(self->fd, counts, sizeof(counts));
	EXPECT_STREQ("4/0/4", counts);
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * self->pg, 4 * self->pg));
	EXPECT_EQ(1, READ_PAGES_ARE(2, 4, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(0, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(6, 2, PAGE_STAMPED));
}

/* The other order: the driver purged first, the user removes afterwards. */
TEST_F(discardable, madvise_remove_after_a_purge_is_harmless)
{
	if (geteuid() != 0)
		SKIP(return, "PURGE_ALL_CACHES needs root");
	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * self->pg));
	ASSERT_LE(4, purge_all_caches(self->fd));
	ASSERT_EQ(0, REMOVE(0, 4));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 4 * self->pg));
	EXPECT_EQ(1, READ_PAGES_ARE(0, 4, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(4, 4, PAGE_STAMPED));
}

/*
 * MADV_REMOVE and PURGE_ALL_CACHES on the same unpinned range from two
 * threads: both punch the same pages, one under the inode lock it sleeps on,
 * the other only when a try-lock succeeds. Neither may hang, and pinned pages
 * keep their data throughout.
 */
struct purge_race {
	int fd;
	int stop;
};

static void *purge_loop(void *arg)
{
	struct purge_race *race = arg;

	while (!__atomic_load_n(&race->stop, __ATOMIC_ACQUIRE))
		if (purge_all_caches(race->fd) < 0)
			return (void *)1;
	return NULL;
}

TEST_F(discardable, madvise_remove_racing_purge_all_caches)
{
	struct purge_race race = { .fd = self->fd };
	pthread_t thread;
	void *ret;
	int i;

	if (geteuid() != 0)
		SKIP(return, "PURGE_ALL_CACHES needs root");
	ASSERT_EQ(0, pthread_create(&thread, NULL, purge_loop, &race));
	for (i = 0; i < 300; i++) {
		stamp_pages(PAGE(2), 4, 2, SEED);
		ASSERT_EQ(0, unpin_range(self->fd, 2 * self->pg, 4 * self->pg));
		ASSERT_EQ(0, REMOVE(2, 4));
		ASSERT_LE(0, pin_range(self->fd, 2 * self->pg, 4 * self->pg));
		ASSERT_EQ(1, READ_PAGES_ARE(2, 4, PAGE_ZERO));
	}
	__atomic_store_n(&race.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(thread, &ret));
	EXPECT_TRUE(ret == NULL);
	EXPECT_TRUE(MAP_PAGES_ARE(0, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(6, 2, PAGE_STAMPED));
}

/* What stays refused */

TEST(madvise_remove_is_eacces_where_the_mask_forbids_writing)
{
	size_t pg = page_size();
	unsigned char *p;
	int fd = region_new_masked("discard-ro", 2 * pg, PROT_READ);

	ASSERT_LE(0, fd);
	p = map_shared(fd, 2 * pg, PROT_READ);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EACCES, ERRNO_OF(madvise(p, 2 * pg, MADV_REMOVE)));
	munmap(p, 2 * pg);
	close(fd);
}

/*
 * A mapping made while the mask allowed writing keeps what it was allowed at
 * mmap time (the mask governs later mmaps only); a mapping made after the
 * mask lost PROT_WRITE cannot discard.
 */
TEST_F(discardable, madvise_remove_follows_the_mask_at_mmap_time)
{
	unsigned char *ro;

	ASSERT_EQ(0, set_prot_mask(self->fd, PROT_READ));
	ro = map_shared(self->fd, PAGES * self->pg, PROT_READ);
	ASSERT_MAPPED(ro);
	EXPECT_EQ(EACCES, ERRNO_OF(madvise(ro, self->pg, MADV_REMOVE)));
	EXPECT_TRUE(pages_are(ro, PAGES, 0, SEED, PAGE_STAMPED));
	EXPECT_EQ(0, REMOVE(0, 1));
	EXPECT_TRUE(pages_are(ro, 1, 0, SEED, PAGE_ZERO));
	munmap(ro, PAGES * self->pg);
}

/* A private mapping is anonymous memory: nothing of the region to remove. */
TEST_F(discardable, madvise_remove_is_eacces_on_a_private_mapping)
{
	unsigned char *priv = mmap(NULL, PAGES * self->pg, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, self->fd, 0);

	ASSERT_MAPPED(priv);
	EXPECT_EQ(EACCES, ERRNO_OF(madvise(priv, self->pg, MADV_REMOVE)));
	EXPECT_TRUE(MAP_PAGES_ARE(0, PAGES, PAGE_STAMPED));
	munmap(priv, PAGES * self->pg);
}

/* An fd opened O_RDONLY maps privately, whatever MAP_SHARED says. */
TEST_F(discardable, madvise_remove_is_eacces_through_a_read_only_open)
{
	unsigned char *p;
	int ro;

	ro = open(ASHMEM_DEVICE, O_RDONLY);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, set_size(ro, self->pg));
	p = map_shared(ro, self->pg, PROT_READ);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EACCES, ERRNO_OF(madvise(p, self->pg, MADV_REMOVE)));
	munmap(p, self->pg);
	close(ro);
}

/*
 * The backing file of a writable region, opened again as root through
 * map_files and through /proc/self/fd of that fd: no mode of fallocate (the
 * one MADV_REMOVE uses included), no ftruncate, no write. Only the region's
 * own mappings may punch holes.
 */
TEST_F(discardable, other_files_of_the_backing_inode_cannot_punch_resize_or_write)
{
	char path[128], again_path[64], buf[16] = "overwrite";
	int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int mf, again, i;

	if (geteuid() != 0)
		SKIP(return, "reopening map_files needs root");
	map_files_path(path, sizeof(path), self->map, PAGES * self->pg);
	mf = open(path, O_RDWR);
	ASSERT_LE(0, mf) {
		TH_LOG("open %s: %s", path, strerror(errno));
	}
	snprintf(again_path, sizeof(again_path), "/proc/self/fd/%d", mf);
	again = open(again_path, O_RDWR);
	ASSERT_LE(0, again);
	for (i = 0; i < 2; i++) {
		int f = i ? again : mf;

		EXPECT_EQ(EOPNOTSUPP, ERRNO_OF(fallocate(f, punch, 0, self->pg)));
		EXPECT_EQ(EOPNOTSUPP, ERRNO_OF(fallocate(f, 0, 0, PAGES * self->pg)));
		EXPECT_EQ(EOPNOTSUPP, ERRNO_OF(fallocate(f, FALLOC_FL_KEEP_SIZE, 0,
							 16 * self->pg)));
		EXPECT_EQ(EOPNOTSUPP, ERRNO_OF(fallocate(f, FALLOC_FL_ZERO_RANGE, 0,
							 self->pg)));
		EXPECT_EQ(EPERM, ERRNO_OF(ftruncate(f, 0)));
		EXPECT_EQ(EPERM, ERRNO_OF(ftruncate(f, 16 * self->pg)));
		EXPECT_EQ(EINVAL, ERRNO_OF(pwrite(f, buf, sizeof(buf), 0)));
	}
	EXPECT_EQ(PAGES, resident(PAGE(0), PAGES));
	EXPECT_TRUE(MAP_PAGES_ARE(0, PAGES, PAGE_STAMPED));
	/* The region's own mapping still may. */
	EXPECT_EQ(0, REMOVE(0, 1));
	EXPECT_EQ(1, READ_PAGES_ARE(0, 1, PAGE_ZERO));
	close(again);
	close(mf);
}

TEST_HARNESS_MAIN
