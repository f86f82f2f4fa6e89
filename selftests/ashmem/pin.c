// SPDX-License-Identifier: GPL-2.0
/*
 * ASHMEM_PIN, ASHMEM_UNPIN and ASHMEM_GET_PIN_STATUS: argument checks in the
 * documented order, range bookkeeping (merge, split, overlap, len == 0), and
 * pinned data kept whatever is purged.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

static int pin_op(int fd, unsigned long cmd, size_t offset, size_t len)
{
	struct ashmem_pin pin = { .offset = offset, .len = len };

	return ioctl(fd, cmd, &pin);
}

static int pin(int fd, size_t offset, size_t len)
{
	return pin_op(fd, ASHMEM_PIN, offset, len);
}

static int unpin(int fd, size_t offset, size_t len)
{
	return pin_op(fd, ASHMEM_UNPIN, offset, len);
}

static int pin_status(int fd, size_t offset, size_t len)
{
	return pin_op(fd, ASHMEM_GET_PIN_STATUS, offset, len);
}

/* A region of PAGES pages, mapped shared once (so it has its backing file). */
FIXTURE(region)
{
	int fd;
	size_t pg;
	unsigned char *map;
};

#define PAGES 8

FIXTURE_SETUP(region)
{
	self->pg = page_size();
	self->fd = region_new("pin-test", PAGES * self->pg);
	ASSERT_LE(0, self->fd);
	self->map = map_shared(self->fd, PAGES * self->pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(self->map);
}

FIXTURE_TEARDOWN(region)
{
	munmap(self->map, PAGES * self->pg);
	close(self->fd);
}

TEST(pin_ioctls_before_mmap_are_einval)
{
	size_t pg = page_size();
	int fd = region_new(NULL, 4 * pg);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(fd, 0, pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin(fd, 0, pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin_status(fd, 0, pg)));
	close(fd);
}

TEST(pin_ioctls_bad_pointer_is_efault_even_before_mmap)
{
	int fd = region_new(NULL, page_size());
	void *bad = unmapped_address();

	ASSERT_LE(0, fd);
	/* The argument is read first: EFAULT before the EINVAL of no mmap. */
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_PIN, bad)));
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_UNPIN, bad)));
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_GET_PIN_STATUS, bad)));
	close(fd);
}

TEST_F(region, pin_ioctls_bad_pointer_is_efault_and_changes_nothing)
{
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(self->fd, ASHMEM_UNPIN, unmapped_address())));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, pages_start_pinned)
{
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 3 * self->pg, self->pg));
}

TEST_F(region, unpin_then_pin_round_trip)
{
	EXPECT_EQ(0, unpin(self->fd, self->pg, 2 * self->pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, self->pg, self->pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, self->pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 3 * self->pg, self->pg));
	EXPECT_LE(0, pin(self->fd, self->pg, 2 * self->pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, len_zero_means_to_the_end)
{
	EXPECT_EQ(0, unpin(self->fd, 5 * self->pg, 0));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 4 * self->pg, self->pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 5 * self->pg, self->pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 7 * self->pg, self->pg));
	EXPECT_LE(0, pin(self->fd, 0, 0));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, misaligned_offset_is_einval)
{
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, 1, self->pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin(self->fd, self->pg / 2, self->pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin_status(self->fd, 3, self->pg)));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, misaligned_len_is_einval)
{
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, 0, self->pg + 1)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin(self->fd, 0, 100)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin_status(self->fd, 0, self->pg - 1)));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

/*
 * Pages are the kernel's, not 4096 bytes: arm64 kernels have 16K (Debian's
 * arm64-16k, Apple silicon) or 64K pages, and Android has 16K-page devices.
 * A caller that assumes 4096 gets EINVAL, the ABI's answer for a misaligned
 * range, and nothing changes: never a silently rounded or partial range.
 */
#define SIZE_4K 4096

TEST_F(region, offset_aligned_to_4096_but_not_to_the_page_size_is_einval)
{
	size_t pg = self->pg;

	if (pg == SIZE_4K)
		SKIP(return, "the page size is 4096: every 4096-aligned offset is page-aligned");
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, SIZE_4K, pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, pg + SIZE_4K, 0)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin(self->fd, pg - SIZE_4K, pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin_status(self->fd, 2 * pg + SIZE_4K, pg)));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, len_of_4096_bytes_on_larger_pages_is_einval_and_unpins_nothing)
{
	size_t pg = self->pg;

	if (pg == SIZE_4K)
		SKIP(return, "the page size is 4096: a 4096-byte length is one whole page");
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, 0, SIZE_4K)));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, pg, pg - SIZE_4K)));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, pg, pg + SIZE_4K)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin_status(self->fd, pg, SIZE_4K)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin(self->fd, 0, SIZE_4K)));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, pg));
}

TEST_F(region, pin_status_answers_for_whole_pages_of_the_kernels_size)
{
	size_t pg = self->pg;

	ASSERT_EQ(0, unpin(self->fd, pg, pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, pg, pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 2 * pg, pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 2 * pg, 0));
	/* Ranges across the unpinned page, from either side. */
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 0, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, pg, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 0, 3 * pg));
	EXPECT_LE(0, pin(self->fd, pg, pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, offset_plus_len_overflowing_32_bits_is_einval)
{
	size_t offset = 0xffffffffUL & ~(self->pg - 1);

	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, offset, 2 * self->pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin(self->fd, self->pg, offset)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin_status(self->fd, offset, offset)));
}

TEST_F(region, range_past_the_page_aligned_size_is_einval)
{
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, 6 * self->pg, 4 * self->pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(self->fd, PAGES * self->pg, self->pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin(self->fd, 0, (PAGES + 1) * self->pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(pin_status(self->fd, 9 * self->pg, 0)));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST(unaligned_size_is_rounded_up_to_whole_pages)
{
	size_t pg = page_size();
	int fd;
	void *p;

	p = region_new_mapped(NULL, 2 * pg + 1, 3 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	EXPECT_EQ(0, unpin(fd, 2 * pg, pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(fd, 2 * pg, 0));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(fd, 3 * pg, pg)));
	munmap(p, 3 * pg);
	close(fd);
}

/* 5000 bytes: two pages of 4096 bytes, one of 16384 (a size from a 4K world). */
TEST(size_of_5000_bytes_is_whole_pages_of_the_kernels_size)
{
	size_t pg = page_size(), pages = (5000 + pg - 1) / pg;
	int fd;
	void *p;

	TH_LOG("page size %zu: 5000 bytes are %zu pages", pg, pages);
	p = region_new_mapped(NULL, 5000, pages * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EINVAL, mmap_errno(fd, (pages + 1) * pg, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(fd, pages * pg, pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(unpin(fd, 0, (pages + 1) * pg)));
	EXPECT_EQ(0, unpin(fd, 0, pages * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(fd, (pages - 1) * pg, pg));
	EXPECT_LE(0, pin(fd, 0, 0));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(fd, 0, pages * pg));
	munmap(p, pages * pg);
	close(fd);
}

TEST_F(region, pin_in_the_middle_splits_the_range)
{
	size_t pg = self->pg;

	EXPECT_EQ(0, unpin(self->fd, 0, 6 * pg));
	EXPECT_LE(0, pin(self->fd, 2 * pg, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 0, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 2 * pg, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 4 * pg, 2 * pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 6 * pg, 2 * pg));
}

TEST_F(region, adjacent_and_overlapping_unpins_merge)
{
	size_t pg = self->pg;

	EXPECT_EQ(0, unpin(self->fd, 0, pg));
	EXPECT_EQ(0, unpin(self->fd, pg, pg));
	EXPECT_EQ(0, unpin(self->fd, 3 * pg, 2 * pg));
	EXPECT_EQ(0, unpin(self->fd, pg, 3 * pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 0, pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 4 * pg, pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 5 * pg, 0));
	/* One pin over the whole span pins every page of it. */
	EXPECT_LE(0, pin(self->fd, 0, 5 * pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, unpinning_twice_is_harmless)
{
	EXPECT_EQ(0, unpin(self->fd, self->pg, self->pg));
	EXPECT_EQ(0, unpin(self->fd, self->pg, self->pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, self->pg, self->pg));
	EXPECT_LE(0, pin(self->fd, self->pg, self->pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 0));
}

TEST_F(region, pinning_a_pinned_range_is_not_purged)
{
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin(self->fd, 0, 0));
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin(self->fd, self->pg, self->pg));
}

TEST_F(region, status_of_a_mixed_range_is_unpinned)
{
	EXPECT_EQ(0, unpin(self->fd, 5 * self->pg, self->pg));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 0, 0));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, pin_status(self->fd, 4 * self->pg, 2 * self->pg));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(self->fd, 0, 5 * self->pg));
}

/*
 * Unpinned pages may be purged at any time; whatever happens, PIN's answer
 * and the contents agree: NOT_PURGED with the data intact, or WAS_PURGED
 * with zeros.
 */
TEST_F(region, repinned_pages_hold_their_data_or_report_was_purged)
{
	size_t pg = self->pg;
	int ret;

	fill_pattern(self->map, PAGES * pg, 7);
	ASSERT_EQ(0, unpin(self->fd, 2 * pg, 3 * pg));
	ret = pin(self->fd, 2 * pg, 3 * pg);
	ASSERT_LE(0, ret);
	if (ret == ASHMEM_NOT_PURGED) {
		EXPECT_TRUE(check_pattern(self->map, PAGES * pg, 7));
	} else {
		EXPECT_EQ(ASHMEM_WAS_PURGED, ret);
		EXPECT_TRUE(all_bytes_are(self->map + 2 * pg, 3 * pg, 0));
	}
}

TEST_F(region, pinned_pages_survive_purge_all_caches)
{
	size_t pg = self->pg;

	fill_pattern(self->map, 4 * pg, 9);
	ASSERT_EQ(0, unpin(self->fd, 4 * pg, 4 * pg));
	EXPECT_LE(0, ioctl(self->fd, ASHMEM_PURGE_ALL_CACHES));
	EXPECT_TRUE(check_pattern(self->map, 4 * pg, 9));
}

TEST(ten_thousand_unpinned_ranges_round_trip)
{
	enum { RANGES = 10000 };
	size_t pg = page_size();
	int fd;
	size_t i;
	void *p;
	int bad = 0;

	p = region_new_mapped("many-ranges", 2 * RANGES * pg, pg, PROT_READ, &fd);
	ASSERT_MAPPED(p);
	/* Every other page: 10,000 separate ranges. */
	for (i = 0; i < RANGES; i++)
		bad += unpin(fd, 2 * i * pg, pg) != 0;
	EXPECT_EQ(0, bad);
	for (i = 0; i < RANGES; i++)
		bad += pin_status(fd, 2 * i * pg, pg) != ASHMEM_IS_UNPINNED ||
		       pin_status(fd, (2 * i + 1) * pg, pg) != ASHMEM_IS_PINNED;
	EXPECT_EQ(0, bad);
	EXPECT_LE(0, pin(fd, 0, 0));
	EXPECT_EQ(ASHMEM_IS_PINNED, pin_status(fd, 0, 0));
	munmap(p, pg);
	close(fd);
}

TEST_HARNESS_MAIN
