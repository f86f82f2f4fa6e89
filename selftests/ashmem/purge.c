// SPDX-License-Identifier: GPL-2.0
/*
 * Purging: PURGE_ALL_CACHES and its count, ASHMEM_WAS_PURGED on re-pin, zeros
 * in purged pages (mapping and read(2)), untouched pinned pages, the LRU of
 * unpinned ranges (pin and close take ranges off it, oldest purged first),
 * drop_caches, and the "ashmem" shrinker as debugfs shows it: its per-memory-
 * cgroup count and its scan.
 *
 * Every test starts from an empty LRU (a PURGE_ALL_CACHES in the fixture), so
 * counts are exact. PURGE_ALL_CACHES needs CAP_SYS_ADMIN: the tests skip when
 * not run as root. Refusal without the capability is tested in ioctl.c.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define PAGES		8
#define SEED		0x5eed
#define OTHER_SEED	0x0dd

#define DROP_CACHES	"/proc/sys/vm/drop_caches"

/*
 * A region of PAGES pages, mapped shared, every page stamped (page i with
 * page number i and SEED), and an empty LRU to start from.
 */
FIXTURE(region)
{
	int fd;
	size_t pg;
	unsigned char *map;
};

FIXTURE_SETUP(region)
{
	if (geteuid() != 0)
		SKIP(return, "PURGE_ALL_CACHES needs root");
	self->pg = page_size();
	self->map = region_new_stamped("purge-test", PAGES, SEED, &self->fd);
	ASSERT_MAPPED(self->map);
	ASSERT_LE(0, purge_all_caches(self->fd)) {
		TH_LOG("PURGE_ALL_CACHES: %s", strerror(errno));
	}
}

FIXTURE_TEARDOWN(region)
{
	region_release(self->fd, self->map, PAGES * self->pg);
}

/* PAGE(), MAP_PAGES_ARE() and READ_PAGES_ARE() are ashmem_test.h's. */

/* A second region of n pages, stamped with OTHER_SEED. */
static int other_region(size_t n, void **map)
{
	int fd;

	*map = region_new_stamped("purge-other", n, OTHER_SEED, &fd);
	return fd;
}

/* PURGE_ALL_CACHES */

TEST_F(region, purge_all_caches_returns_the_unpinned_page_count)
{
	size_t pg = self->pg;
	void *map;
	int fd = other_region(PAGES, &map);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unpin_range(self->fd, pg, 3 * pg));
	ASSERT_EQ(0, unpin_range(fd, 3 * pg, 0));
	/* 3 pages of one region, 5 of the other. */
	EXPECT_EQ(8, purge_all_caches(self->fd));
	EXPECT_EQ(0, purge_all_caches(self->fd));
	munmap(map, PAGES * pg);
	close(fd);
}

TEST_F(region, purge_all_caches_counts_overlapping_unpins_once)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, pg, 2 * pg));
	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, 3 * pg));
	ASSERT_EQ(0, unpin_range(self->fd, pg, 2 * pg));
	/* Pages 1 to 4. */
	EXPECT_EQ(4, purge_all_caches(self->fd));
}

TEST_F(region, purge_all_caches_from_any_region_purges_every_region)
{
	size_t pg = self->pg;
	void *map;
	int fd = other_region(PAGES, &map);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unpin_range(fd, 0, 2 * pg));
	/* Asked through the fixture's region, which has nothing unpinned. */
	EXPECT_EQ(2, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, 2 * pg));
	EXPECT_TRUE(pages_are(map, 2, 0, OTHER_SEED, PAGE_ZERO));
	EXPECT_TRUE(pages_are((char *)map + 2 * pg, PAGES - 2, 2, OTHER_SEED,
			      PAGE_STAMPED));
	munmap(map, PAGES * pg);
	close(fd);
}

/*
 * Counts are in pages of the kernel's size: 5000 bytes are one page on a
 * 16K kernel, two on a 4K one; an unpin that assumes 4096-byte pages on a
 * kernel with larger ones is EINVAL and puts nothing on the LRU.
 */
TEST(purge_all_caches_counts_pages_of_the_kernels_size)
{
	size_t pg = page_size(), pages = (5000 + pg - 1) / pg;
	unsigned char *p;
	int fd;

	if (geteuid() != 0)
		SKIP(return, "PURGE_ALL_CACHES needs root");
	p = region_new_mapped("purge-5000", 5000, pages * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	fill_pattern(p, pages * pg, 3);
	ASSERT_LE(0, purge_all_caches(fd));
	ASSERT_EQ(0, unpin_range(fd, 0, 0));
	EXPECT_EQ((int)pages, purge_all_caches(fd)) {
		TH_LOG("page size %zu: 5000 bytes are %zu pages", pg, pages);
	}
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, 0));
	EXPECT_TRUE(all_bytes_are(p, pages * pg, 0));
	munmap(p, pages * pg);
	close(fd);
}

TEST_F(region, an_unpin_of_4096_bytes_on_larger_pages_puts_nothing_on_the_lru)
{
	if (self->pg == 4096)
		SKIP(return, "the page size is 4096: a 4096-byte unpin is one whole page");
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin_range(self->fd, 0, 4096)));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin_range(self->fd, 4096, self->pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin_range(self->fd, self->pg, self->pg - 4096)));
	EXPECT_EQ(0, purge_all_caches(self->fd));
	EXPECT_TRUE(MAP_PAGES_ARE(0, PAGES, PAGE_STAMPED));
}

/* What a purge leaves behind */

TEST_F(region, pin_of_a_purged_range_reports_was_purged)
{
	ASSERT_EQ(0, unpin_range(self->fd, 2 * self->pg, 2 * self->pg));
	ASSERT_EQ(2, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * self->pg, 2 * self->pg));
}

TEST_F(region, purged_pages_read_as_zero_through_the_mapping)
{
	ASSERT_EQ(0, unpin_range(self->fd, 2 * self->pg, 3 * self->pg));
	ASSERT_EQ(3, purge_all_caches(self->fd));
	ASSERT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * self->pg, 3 * self->pg));
	EXPECT_TRUE(MAP_PAGES_ARE(2, 3, PAGE_ZERO));
}

TEST_F(region, purged_pages_read_as_zero_through_read)
{
	ASSERT_EQ(0, unpin_range(self->fd, 2 * self->pg, 3 * self->pg));
	ASSERT_EQ(3, purge_all_caches(self->fd));
	ASSERT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * self->pg, 3 * self->pg));
	EXPECT_EQ(1, READ_PAGES_ARE(2, 3, PAGE_ZERO));
	EXPECT_EQ(1, READ_PAGES_ARE(0, 2, PAGE_STAMPED));
}

TEST_F(region, purged_pages_can_be_written_again_after_pinning)
{
	ASSERT_EQ(0, unpin_range(self->fd, 0, 0));
	ASSERT_EQ(PAGES, purge_all_caches(self->fd));
	ASSERT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 0));
	stamp_pages(self->map, PAGES, 0, SEED);
	EXPECT_TRUE(MAP_PAGES_ARE(0, PAGES, PAGE_STAMPED));
	EXPECT_EQ(1, READ_PAGES_ARE(0, PAGES, PAGE_STAMPED));
}

TEST_F(region, pages_never_unpinned_keep_their_contents_across_a_purge)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, 2 * pg));
	ASSERT_EQ(0, unpin_range(self->fd, 6 * pg, pg));
	ASSERT_EQ(3, purge_all_caches(self->fd));
	EXPECT_TRUE(MAP_PAGES_ARE(0, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(4, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(7, 1, PAGE_STAMPED));
	EXPECT_EQ(1, READ_PAGES_ARE(4, 2, PAGE_STAMPED));
}

TEST_F(region, pages_pinned_again_before_a_purge_keep_their_contents)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 0, 0));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 3 * pg, 2 * pg));
	ASSERT_EQ(PAGES - 2, purge_all_caches(self->fd));
	EXPECT_TRUE(MAP_PAGES_ARE(3, 2, PAGE_STAMPED));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 0));
	EXPECT_TRUE(MAP_PAGES_ARE(0, 3, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(3, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(5, 3, PAGE_ZERO));
}

TEST_F(region, pin_overlapping_a_purged_part_reports_was_purged)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, 2 * pg));
	ASSERT_EQ(2, purge_all_caches(self->fd));
	/* Page 3 was purged, pages 4 and 5 were never unpinned. */
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 3 * pg, 3 * pg));
	/* Page 2 still is purged. */
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, pg, 2 * pg));
}

TEST_F(region, pin_not_overlapping_a_purged_part_reports_not_purged)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, 2 * pg));
	ASSERT_EQ(2, purge_all_caches(self->fd));
	/* Unpinned after the purge, right next to the purged pages. */
	ASSERT_EQ(0, unpin_range(self->fd, 4 * pg, 2 * pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 4 * pg, 2 * pg));
	EXPECT_TRUE(MAP_PAGES_ARE(4, 2, PAGE_STAMPED));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 0, 2 * pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 6 * pg, 0));
	/* The purged pages themselves still say so. */
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * pg, 2 * pg));
}

TEST_F(region, was_purged_is_reported_for_purged_pages_unpinned_again)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * pg));
	ASSERT_EQ(4, purge_all_caches(self->fd));
	/* Unpinned again without a pin in between: still purged. */
	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * pg));
	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, 4 * pg));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 4 * pg));
	EXPECT_TRUE(MAP_PAGES_ARE(0, 4, PAGE_ZERO));
	/* Pages 4 and 5 were unpinned after the purge and kept their data. */
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 4 * pg, 2 * pg));
	EXPECT_TRUE(MAP_PAGES_ARE(4, 2, PAGE_STAMPED));
}

TEST_F(region, was_purged_is_reported_for_each_purged_page_until_it_is_pinned)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * pg));
	ASSERT_EQ(4, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, pg));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 3 * pg, pg));
	/* Pages 1 and 2 are still purged; pages 0 and 3 no longer count. */
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 4 * pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 0, 4 * pg));
}

TEST_F(region, second_pin_of_a_purged_range_reports_not_purged)
{
	ASSERT_EQ(0, unpin_range(self->fd, self->pg, 2 * self->pg));
	ASSERT_EQ(2, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, self->pg, 2 * self->pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, self->pg, 2 * self->pg));
}

TEST_F(region, pin_status_after_a_purge_is_unpinned_until_pinned)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, 2 * pg));
	ASSERT_EQ(2, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(self->fd, 2 * pg, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(self->fd, 3 * pg, pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(self->fd, 0, 0));
	EXPECT_EQ(ASHMEM_IS_PINNED, range_pin_status(self->fd, 0, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, range_pin_status(self->fd, 4 * pg, 0));
	ASSERT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * pg, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, range_pin_status(self->fd, 0, 0));
}

/* drop_caches: the shrinker is asked to free everything it can. */

TEST_F(region, drop_caches_purges_unpinned_ranges)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, 3 * pg));
	ASSERT_EQ(0, write_text(DROP_CACHES, "2")) {
		TH_LOG("%s: %s", DROP_CACHES, strerror(errno));
	}
	/* Nothing was left for PURGE_ALL_CACHES. */
	EXPECT_EQ(0, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * pg, 3 * pg));
	EXPECT_TRUE(MAP_PAGES_ARE(2, 3, PAGE_ZERO));
	EXPECT_EQ(1, READ_PAGES_ARE(2, 3, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(0, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(5, 3, PAGE_STAMPED));
}

/* What is on the LRU */

TEST_F(region, pinning_a_range_takes_it_off_the_lru)
{
	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * self->pg));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 0, 4 * self->pg));
	EXPECT_EQ(0, purge_all_caches(self->fd));
	EXPECT_TRUE(MAP_PAGES_ARE(0, PAGES, PAGE_STAMPED));
}

TEST_F(region, pinning_part_of_a_range_takes_only_that_part_off_the_lru)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin_range(self->fd, 0, 0));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 2 * pg, 2 * pg));
	EXPECT_EQ(PAGES - 2, purge_all_caches(self->fd));
	EXPECT_TRUE(MAP_PAGES_ARE(2, 2, PAGE_STAMPED));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 2 * pg));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 4 * pg, 0));
}

TEST_F(region, unpinning_purged_pages_again_keeps_them_off_the_lru)
{
	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * self->pg));
	ASSERT_EQ(4, purge_all_caches(self->fd));
	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * self->pg));
	/* They are purged already: nothing to count or purge. */
	EXPECT_EQ(0, purge_all_caches(self->fd));
}

TEST_F(region, closing_a_region_takes_its_ranges_off_the_lru)
{
	size_t pg = self->pg;
	void *map;
	int fd = other_region(PAGES, &map);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unpin_range(fd, 0, 5 * pg));
	ASSERT_EQ(0, unpin_range(self->fd, 0, 3 * pg));
	munmap(map, PAGES * pg);
	close(fd);
	EXPECT_EQ(3, purge_all_caches(self->fd));
}

TEST_F(region, closing_a_still_mapped_region_takes_its_ranges_off_the_lru)
{
	size_t pg = self->pg;
	void *map;
	int fd = other_region(PAGES, &map);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unpin_range(fd, 0, 5 * pg));
	ASSERT_EQ(0, unpin_range(self->fd, 0, 3 * pg));
	/* The mapping keeps the backing file, not the region's ranges. */
	close(fd);
	EXPECT_EQ(3, purge_all_caches(self->fd));
	EXPECT_TRUE(pages_are(map, PAGES, 0, OTHER_SEED, PAGE_STAMPED));
	munmap(map, PAGES * pg);
}

TEST_F(region, closing_one_of_two_fds_keeps_the_ranges_on_the_lru)
{
	int dupfd = dup(self->fd);

	ASSERT_LE(0, dupfd);
	ASSERT_EQ(0, unpin_range(self->fd, 0, 3 * self->pg));
	close(dupfd);
	EXPECT_EQ(3, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 3 * self->pg));
}

/* The shrinker in debugfs */

TEST(shrinker_is_listed_in_debugfs_as_ashmem_and_its_id)
{
	char dir[512], path[600];
	struct stat st;

	NEED_SHRINKER_DIR(dir);
	snprintf(path, sizeof(path), "%s/count", dir);
	EXPECT_EQ(0, stat(path, &st));
	snprintf(path, sizeof(path), "%s/scan", dir);
	EXPECT_EQ(0, stat(path, &st));
}

TEST_F(region, shrinker_count_reports_the_unpinned_pages_of_the_own_cgroup)
{
	char dir[512], memcg[4096];
	unsigned long long ino;
	size_t pg = self->pg;
	void *map;
	int fd, lines = -1;

	NEED_SHRINKER_DIR(dir);
	ASSERT_EQ(0, memcg_self_dir(memcg, sizeof(memcg)));
	ino = cgroup_ino(memcg);
	ASSERT_NE(0, ino);
	EXPECT_EQ(0, shrinker_count(dir, ino, &lines));
	EXPECT_EQ(0, lines);

	fd = other_region(PAGES, &map);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unpin_range(self->fd, pg, 3 * pg));
	ASSERT_EQ(0, unpin_range(fd, 6 * pg, 0));
	EXPECT_EQ(5, shrinker_count(dir, ino, &lines)) {
		TH_LOG("memory cgroup %s, id %llu", memcg, ino);
	}
	EXPECT_EQ(1, lines);

	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 2 * pg, pg));
	EXPECT_EQ(4, shrinker_count(dir, ino, &lines));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 0, 0));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(fd, 0, 0));
	EXPECT_EQ(0, shrinker_count(dir, ino, &lines));
	EXPECT_EQ(0, lines);
	munmap(map, PAGES * pg);
	close(fd);
}

TEST_F(region, shrinker_count_leaves_out_purged_pages)
{
	char dir[512], memcg[4096];
	unsigned long long ino;
	int lines = -1;

	NEED_SHRINKER_DIR(dir);
	ASSERT_EQ(0, memcg_self_dir(memcg, sizeof(memcg)));
	ino = cgroup_ino(memcg);
	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * self->pg));
	ASSERT_EQ(4, shrinker_count(dir, ino, NULL));
	ASSERT_EQ(4, purge_all_caches(self->fd));
	EXPECT_EQ(0, shrinker_count(dir, ino, &lines));
	EXPECT_EQ(0, lines);
	/* Still unpinned, still purged: not counted either. */
	ASSERT_EQ(0, unpin_range(self->fd, 0, 4 * self->pg));
	EXPECT_EQ(0, shrinker_count(dir, ino, &lines));
}

TEST_F(region, shrinker_scan_purges_the_least_recently_unpinned_range_first)
{
	char dir[512], memcg[4096];
	unsigned long long ino;
	size_t pg = self->pg;

	NEED_SHRINKER_DIR(dir);
	ASSERT_EQ(0, memcg_self_dir(memcg, sizeof(memcg)));
	ino = cgroup_ino(memcg);
	/* Oldest at the higher offset, so offset order would be wrong. */
	ASSERT_EQ(0, unpin_range(self->fd, 5 * pg, pg));
	ASSERT_EQ(0, unpin_range(self->fd, pg, pg));
	ASSERT_EQ(2, shrinker_count(dir, ino, NULL));
	ASSERT_EQ(0, shrinker_scan(dir, ino, 0, 1)) {
		TH_LOG("scan: %s", strerror(errno));
	}
	EXPECT_EQ(1, shrinker_count(dir, ino, NULL));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 5 * pg, pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, pg, pg));
	EXPECT_TRUE(MAP_PAGES_ARE(5, 1, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(1, 1, PAGE_STAMPED));
}

TEST_F(region, shrinker_scan_order_is_global_across_regions)
{
	char dir[512], memcg[4096];
	unsigned long long ino;
	size_t pg = self->pg;
	void *map;
	int fd;

	NEED_SHRINKER_DIR(dir);
	ASSERT_EQ(0, memcg_self_dir(memcg, sizeof(memcg)));
	ino = cgroup_ino(memcg);
	fd = other_region(PAGES, &map);
	ASSERT_LE(0, fd);
	/*
	 * The fixture's region was made first and is unpinned first, but
	 * pinned again; of what stays unpinned, the page of the region made
	 * last is the oldest.
	 */
	ASSERT_EQ(0, unpin_range(self->fd, 0, pg));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 0, pg));
	ASSERT_EQ(0, unpin_range(fd, 2 * pg, pg));
	ASSERT_EQ(0, unpin_range(self->fd, 2 * pg, pg));
	ASSERT_EQ(0, unpin_range(self->fd, 4 * pg, pg));
	ASSERT_EQ(3, shrinker_count(dir, ino, NULL));

	ASSERT_EQ(0, shrinker_scan(dir, ino, 0, 1));
	EXPECT_EQ(2, shrinker_count(dir, ino, NULL));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 2 * pg, pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 2 * pg, pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 4 * pg, pg));
	EXPECT_TRUE(pages_are((char *)map + 2 * pg, 1, 2, OTHER_SEED, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(0, PAGES, PAGE_STAMPED));
	munmap(map, PAGES * pg);
	close(fd);
}

TEST_F(region, unpinning_again_after_a_pin_makes_a_range_the_newest)
{
	char dir[512], memcg[4096];
	unsigned long long ino;
	size_t pg = self->pg;

	NEED_SHRINKER_DIR(dir);
	ASSERT_EQ(0, memcg_self_dir(memcg, sizeof(memcg)));
	ino = cgroup_ino(memcg);
	ASSERT_EQ(0, unpin_range(self->fd, pg, pg));
	ASSERT_EQ(0, unpin_range(self->fd, 3 * pg, pg));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, pg, pg));
	ASSERT_EQ(0, unpin_range(self->fd, pg, pg));
	/* Page 3 is now the least recently unpinned. */
	ASSERT_EQ(0, shrinker_scan(dir, ino, 0, 1));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 3 * pg, pg));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, pg, pg));
}

/*
 * Ranges made inside another memory cgroup: the test moves itself into a new
 * child cgroup of the root, makes a region there, unpins pages 2 to 4 and
 * moves back. The region's pages and its LRU entries belong to the child's
 * memory cgroup.
 */
#define CHILD_CGROUP	CGROUP2_ROOT "/ashmem-selftest-purge"

FIXTURE(memcg)
{
	char home[4096];
	struct child_cgroup child;
	int fd;
	size_t pg;
	unsigned char *map;
	unsigned long long child_ino, home_ino;
};

/*
 * Nothing may fail after the mkdir: a failed setup gets no teardown, so the
 * region is made by each test (ranges_in_child()), whose failures do.
 */
FIXTURE_SETUP(memcg)
{
	char memcg[4096];
	const char *step;
	int err;

	if (geteuid() != 0)
		SKIP(return, "needs root");
	if (!cgroup2_has_memory())
		SKIP(return, "no cgroup v2 with the memory controller at %s",
		     CGROUP2_ROOT);
	ASSERT_EQ(0, cgroup_self_dir(self->home, sizeof(self->home)));
	ASSERT_EQ(0, memcg_self_dir(memcg, sizeof(memcg)));
	self->home_ino = cgroup_ino(memcg);
	ASSERT_NE(0, self->home_ino);
	err = child_cgroup_make(&self->child, CHILD_CGROUP, &step);
	ASSERT_EQ(0, err) {
		TH_LOG("%s %s: %s", step, CHILD_CGROUP, strerror(err));
	}
}

/* In the parent, once the test process is gone (and out of the cgroup). */
FIXTURE_TEARDOWN_PARENT(memcg)
{
	/* No EXPECT here: an ASSERT that ended the test leaves its trigger set. */
	if (child_cgroup_remove(&self->child, CHILD_CGROUP)) {
		TH_LOG("rmdir %s: %s", CHILD_CGROUP, strerror(errno));
		_metadata->exit_code = KSFT_FAIL;
	}
}

/* The fixture's region, made in the child cgroup, pages 2 to 4 unpinned. */
static void ranges_in_child(struct __test_metadata *_metadata,
			    FIXTURE_DATA(memcg) *self)
{
	self->child_ino = cgroup_ino(CHILD_CGROUP);
	ASSERT_NE(0, self->child_ino);
	self->pg = page_size();
	ASSERT_EQ(0, cgroup_enter(CHILD_CGROUP, 0)) {
		TH_LOG("entering %s: %s", CHILD_CGROUP, strerror(errno));
	}
	self->map = region_new_stamped("purge-memcg", PAGES, SEED, &self->fd);
	ASSERT_MAPPED(self->map);
	ASSERT_LE(0, purge_all_caches(self->fd));
	ASSERT_EQ(0, unpin_range(self->fd, 2 * self->pg, 3 * self->pg));
	ASSERT_EQ(0, cgroup_enter(self->home, 0)) {
		TH_LOG("back to %s: %s", self->home, strerror(errno));
	}
}

TEST_F(memcg, shrinker_count_puts_ranges_under_the_cgroup_that_made_them)
{
	char dir[512];
	int lines = -1;

	NEED_SHRINKER_DIR(dir);
	ranges_in_child(_metadata, self);
	EXPECT_EQ(3, shrinker_count(dir, self->child_ino, &lines));
	EXPECT_EQ(1, lines);
	EXPECT_EQ(0, shrinker_count(dir, self->home_ino, &lines));
	EXPECT_EQ(0, lines);
}

/*
 * A range is listed under the cgroup of the task whose UNPIN made it (which
 * paid for its LRU entry), whoever created the region; a PIN that splits a
 * range leaves the left part where it was and lists the right part, a new
 * entry, under the cgroup of the task that split it. Each cgroup's scan
 * reaches its own. (Ranges were listed under the region's creator, whoever
 * unpinned them: see docs/design.md, "Who pays".)
 */
TEST_F(memcg, ranges_are_listed_under_the_cgroup_that_unpins_them)
{
	char dir[512];

	NEED_SHRINKER_DIR(dir);
	self->child_ino = cgroup_ino(CHILD_CGROUP);
	ASSERT_NE(0, self->child_ino);
	self->pg = page_size();
	ASSERT_EQ(0, cgroup_enter(CHILD_CGROUP, 0));
	self->map = region_new_stamped("purge-unpinner", PAGES, SEED, &self->fd);
	ASSERT_MAPPED(self->map);
	ASSERT_LE(0, purge_all_caches(self->fd));
	ASSERT_EQ(0, cgroup_enter(self->home, 0));

	/* Unpinned from the home cgroup: listed there, not under the creator's. */
	ASSERT_EQ(0, unpin_range(self->fd, 0, 6 * self->pg));
	EXPECT_EQ(6, shrinker_count(dir, self->home_ino, NULL));
	EXPECT_EQ(0, shrinker_count(dir, self->child_ino, NULL));
	/* Split from the child: the right part is the child's. */
	ASSERT_EQ(0, cgroup_enter(CHILD_CGROUP, 0));
	ASSERT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 2 * self->pg, self->pg));
	ASSERT_EQ(0, cgroup_enter(self->home, 0));
	EXPECT_EQ(2, shrinker_count(dir, self->home_ino, NULL));
	EXPECT_EQ(3, shrinker_count(dir, self->child_ino, NULL));
	/* Each cgroup's scan reaches its own. */
	ASSERT_EQ(0, shrinker_scan(dir, self->child_ino, 0, 1024));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 3 * self->pg, 3 * self->pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(self->fd, 0, 2 * self->pg));
	ASSERT_EQ(0, shrinker_scan(dir, self->home_ino, 0, 1024));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 0, 2 * self->pg));
}

TEST_F(memcg, shrinker_scan_of_another_cgroup_leaves_the_ranges_alone)
{
	char dir[512];

	NEED_SHRINKER_DIR(dir);
	ranges_in_child(_metadata, self);
	ASSERT_EQ(0, shrinker_scan(dir, self->home_ino, 0, 1024));
	EXPECT_EQ(3, shrinker_count(dir, self->child_ino, NULL));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(self->fd, 2 * self->pg, 3 * self->pg));
	EXPECT_TRUE(MAP_PAGES_ARE(0, PAGES, PAGE_STAMPED));
}

TEST_F(memcg, shrinker_scan_of_the_cgroup_purges_its_ranges)
{
	char dir[512];

	NEED_SHRINKER_DIR(dir);
	ranges_in_child(_metadata, self);
	ASSERT_EQ(0, shrinker_scan(dir, self->child_ino, 0, 1024));
	EXPECT_EQ(0, shrinker_count(dir, self->child_ino, NULL));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * self->pg, 3 * self->pg));
	EXPECT_TRUE(MAP_PAGES_ARE(2, 3, PAGE_ZERO));
	EXPECT_TRUE(MAP_PAGES_ARE(0, 2, PAGE_STAMPED));
	EXPECT_TRUE(MAP_PAGES_ARE(5, 3, PAGE_STAMPED));
}

TEST_F(memcg, purge_all_caches_reaches_ranges_of_other_cgroups)
{
	ranges_in_child(_metadata, self);
	EXPECT_EQ(3, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * self->pg, 3 * self->pg));
	EXPECT_TRUE(MAP_PAGES_ARE(2, 3, PAGE_ZERO));
}

TEST_F(memcg, drop_caches_reaches_ranges_of_other_cgroups)
{
	ranges_in_child(_metadata, self);
	ASSERT_EQ(0, write_text(DROP_CACHES, "2"));
	EXPECT_EQ(0, purge_all_caches(self->fd));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(self->fd, 2 * self->pg, 3 * self->pg));
	EXPECT_TRUE(MAP_PAGES_ARE(2, 3, PAGE_ZERO));
}

TEST_HARNESS_MAIN
