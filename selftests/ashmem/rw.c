// SPDX-License-Identifier: GPL-2.0
/*
 * read, lseek, write and /proc/PID/fdinfo of an ashmem fd: the errors before
 * the backing file exists, reads and seeks (SEEK_DATA/SEEK_HOLE too) of the
 * backing file at the fd's own position, write refused, and the fdinfo lines.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
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

/*
 * A region of size bytes whose first len bytes are mapped shared and filled
 * with the pattern of seed. The fd, or -1; *map gets the mapping.
 */
static int filled_region(size_t size, size_t len, unsigned int seed,
			 unsigned char **map)
{
	int fd;
	unsigned char *p = region_new_mapped(NULL, size, len, PROT_READ | PROT_WRITE, &fd);

	if (p != MAP_FAILED) {
		fill_pattern(p, len, seed);
		*map = p;
	}
	return fd;
}

/* Errors before there is anything to read */

TEST(read_with_size_zero_returns_zero)
{
	char buf[16];
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, read(fd, buf, sizeof(buf)));
	/* Also when the size went back to zero. */
	ASSERT_EQ(0, set_size(fd, 4097));
	ASSERT_EQ(0, set_size(fd, 0));
	EXPECT_EQ(0, read(fd, buf, sizeof(buf)));
	close(fd);
}

TEST(read_before_mmap_is_ebadf)
{
	char buf[16];
	int fd = region_new(NULL, page_size());

	ASSERT_LE(0, fd);
	EXPECT_EQ(EBADF, ERRNO_OF(read(fd, buf, sizeof(buf))));
	close(fd);
}

TEST(lseek_with_size_zero_is_einval)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, ERRNO_OF(lseek(fd, 0, SEEK_SET)));
	EXPECT_EQ(EINVAL, ERRNO_OF(lseek(fd, 0, SEEK_END)));
	close(fd);
}

TEST(lseek_before_mmap_is_ebadf)
{
	int fd = region_new(NULL, page_size());

	ASSERT_LE(0, fd);
	EXPECT_EQ(EBADF, ERRNO_OF(lseek(fd, 0, SEEK_SET)));
	EXPECT_EQ(EBADF, ERRNO_OF(lseek(fd, 0, SEEK_CUR)));
	close(fd);
}

/* Reading the backing file */

TEST(read_returns_data_written_through_mapping)
{
	size_t pg = page_size(), len = 2 * pg;
	unsigned char *p, *buf = malloc(len);
	int fd = filled_region(len, len, 21, &p);

	ASSERT_NOT_NULL(buf);
	ASSERT_LE(0, fd);
	memset(buf, 0, len);
	EXPECT_EQ((ssize_t)len, read(fd, buf, len));
	EXPECT_TRUE(check_pattern(buf, len, 21));
	/* Later writes through the mapping are seen too. */
	p[0] ^= 0xff;
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	EXPECT_EQ(1, read(fd, buf, 1));
	EXPECT_EQ(p[0], buf[0]);
	munmap(p, len);
	close(fd);
	free(buf);
}

TEST(read_advances_the_fd_position)
{
	size_t pg = page_size();
	unsigned char *p, buf[100];
	int fd = filled_region(pg, pg, 22, &p);

	ASSERT_LE(0, fd);
	ASSERT_EQ(100, read(fd, buf, 100));
	EXPECT_EQ(0, memcmp(buf, p, 100));
	EXPECT_EQ(100, lseek(fd, 0, SEEK_CUR));
	ASSERT_EQ(100, read(fd, buf, 100));
	EXPECT_EQ(0, memcmp(buf, p + 100, 100));
	EXPECT_EQ(200, lseek(fd, 0, SEEK_CUR));
	munmap(p, pg);
	close(fd);
}

TEST(lseek_set_cur_end_position_reads)
{
	size_t pg = page_size(), size = 2 * pg + 123;
	unsigned char *p, buf[32];
	int fd = filled_region(size, 3 * pg, 23, &p);

	ASSERT_LE(0, fd);
	EXPECT_EQ(10, lseek(fd, 10, SEEK_SET));
	ASSERT_EQ(1, read(fd, buf, 1));
	EXPECT_EQ(p[10], buf[0]);
	EXPECT_EQ(16, lseek(fd, 5, SEEK_CUR));
	ASSERT_EQ(1, read(fd, buf, 1));
	EXPECT_EQ(p[16], buf[0]);
	/* The end is the region's exact size, not the page-aligned one. */
	EXPECT_EQ((off_t)size, lseek(fd, 0, SEEK_END));
	EXPECT_EQ((off_t)size - 10, lseek(fd, -10, SEEK_END));
	EXPECT_EQ(10, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, p + size - 10, 10));
	munmap(p, 3 * pg);
	close(fd);
}

TEST(read_at_end_returns_zero)
{
	size_t pg = page_size();
	unsigned char *p, buf[16];
	int fd = filled_region(pg, pg, 24, &p);

	ASSERT_LE(0, fd);
	ASSERT_EQ((off_t)pg, lseek(fd, 0, SEEK_END));
	EXPECT_EQ(0, read(fd, buf, sizeof(buf)));
	EXPECT_EQ((off_t)pg, lseek(fd, 0, SEEK_CUR));
	munmap(p, pg);
	close(fd);
}

TEST(read_into_bad_buffer_is_efault)
{
	size_t pg = page_size();
	unsigned char *p;
	int fd = filled_region(pg, pg, 25, &p);
	void *hole;

	ASSERT_LE(0, fd);
	hole = unmapped_address();
	ASSERT_NOT_NULL(hole);
	EXPECT_EQ(EFAULT, ERRNO_OF(read(fd, hole, 16)));
	munmap(p, pg);
	close(fd);
}

TEST(seek_data_and_hole_find_the_touched_page)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p, c = 0;

	p = region_new_mapped(NULL, 3 * pg, 3 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	/* Only the middle page gets a page in the backing file. */
	p[pg + 5] = 0x42;
	EXPECT_EQ((off_t)pg, lseek(fd, 0, SEEK_DATA));
	/* The position moved to the data: a read returns its first bytes. */
	EXPECT_EQ((off_t)pg, lseek(fd, 0, SEEK_CUR));
	EXPECT_EQ((off_t)(2 * pg), lseek(fd, pg, SEEK_HOLE));
	EXPECT_EQ(0, lseek(fd, 0, SEEK_HOLE));
	EXPECT_EQ((off_t)(pg + 5), lseek(fd, pg + 5, SEEK_SET));
	EXPECT_EQ(1, read(fd, &c, 1));
	EXPECT_EQ(0x42, c);
	munmap(p, 3 * pg);
	close(fd);
}

TEST(seek_data_past_the_last_data_is_enxio)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p;

	p = region_new_mapped(NULL, 3 * pg, 3 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	p[pg] = 1;
	EXPECT_EQ(ENXIO, ERRNO_OF(lseek(fd, 2 * pg, SEEK_DATA)));
	munmap(p, 3 * pg);
	close(fd);
}

/* write */

TEST(write_before_mmap_is_einval)
{
	int fd = region_new(NULL, page_size());

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, ERRNO_OF(write(fd, "x", 1)));
	close(fd);
}

TEST(write_after_mmap_is_einval)
{
	size_t pg = page_size();
	unsigned char *p;
	int fd = filled_region(pg, pg, 26, &p);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, ERRNO_OF(write(fd, "x", 1)));
	/* And nothing was written. */
	EXPECT_TRUE(check_pattern(p, pg, 26));
	munmap(p, pg);
	close(fd);
}

/* The position belongs to the open file */

TEST(dup_fd_shares_the_position)
{
	size_t pg = page_size();
	unsigned char *p, buf[10];
	int fd = filled_region(pg, pg, 27, &p), dfd;

	ASSERT_LE(0, fd);
	ASSERT_EQ(10, read(fd, buf, 10));
	dfd = dup(fd);
	ASSERT_LE(0, dfd);
	EXPECT_EQ(10, lseek(dfd, 0, SEEK_CUR));
	ASSERT_EQ(10, read(dfd, buf, 10));
	EXPECT_EQ(0, memcmp(buf, p + 10, 10));
	EXPECT_EQ(20, lseek(fd, 0, SEEK_CUR));
	EXPECT_EQ(50, lseek(dfd, 50, SEEK_SET));
	EXPECT_EQ(50, lseek(fd, 0, SEEK_CUR));
	close(dfd);
	munmap(p, pg);
	close(fd);
}

TEST(second_open_is_an_independent_region)
{
	size_t pg = page_size();
	unsigned char *pa, *pb, buf[10];
	int fa = filled_region(pg, pg, 28, &pa);
	int fb = filled_region(2 * pg, 2 * pg, 29, &pb);

	ASSERT_LE(0, fa);
	ASSERT_LE(0, fb);
	ASSERT_EQ(10, read(fa, buf, 10));
	EXPECT_EQ(0, memcmp(buf, pa, 10));
	/* b starts at its own position 0 with its own data. */
	EXPECT_EQ(0, lseek(fb, 0, SEEK_CUR));
	ASSERT_EQ(10, read(fb, buf, 10));
	EXPECT_EQ(0, memcmp(buf, pb, 10));
	EXPECT_EQ((off_t)(2 * pg), lseek(fb, 0, SEEK_END));
	EXPECT_EQ(10, lseek(fa, 0, SEEK_CUR));
	munmap(pa, pg);
	munmap(pb, 2 * pg);
	close(fa);
	close(fb);
}

TEST(reopen_through_proc_fd_is_a_new_empty_region)
{
	char path[64], name[ASHMEM_NAME_LEN], buf[4];
	size_t pg = page_size();
	unsigned char *p;
	int fd = filled_region(pg, pg, 30, &p), again;

	ASSERT_LE(0, fd);
	ASSERT_EQ((int)pg, ioctl(fd, ASHMEM_GET_SIZE));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	again = open(path, O_RDWR);
	ASSERT_LE(0, again);
	/* Every open of the device is a new region, whatever the path. */
	EXPECT_EQ(0, ioctl(again, ASHMEM_GET_SIZE));
	ASSERT_EQ(0, get_name(again, name));
	EXPECT_STREQ(ASHMEM_NAME_DEF, name);
	EXPECT_EQ(0, read(again, buf, sizeof(buf)));
	close(again);
	munmap(p, pg);
	close(fd);
}

/* fdinfo */

TEST(fdinfo_shows_size_and_name)
{
	char val[ASHMEM_NAME_LEN + 16];
	/* 4097 bytes: two pages of 4096, one of 16384; mapped whole. */
	size_t pg = page_size(), len = (4097 + pg - 1) / pg * pg;
	int fd = region_new("info-name", 4097);
	void *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fdinfo_value(fd, "size", val, sizeof(val)));
	EXPECT_STREQ("4097", val);
	ASSERT_EQ(0, fdinfo_value(fd, "name", val, sizeof(val)));
	EXPECT_STREQ("info-name", val);
	/* Still there once mapped. */
	p = map_shared(fd, len, PROT_READ);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, fdinfo_value(fd, "size", val, sizeof(val)));
	EXPECT_STREQ("4097", val);
	ASSERT_EQ(0, fdinfo_value(fd, "name", val, sizeof(val)));
	EXPECT_STREQ("info-name", val);
	munmap(p, len);
	close(fd);
}

TEST(fdinfo_inode_matches_file_id)
{
	char val[64];
	size_t pg = page_size();
	unsigned long id = 0;
	int fd;
	void *p;

	p = region_new_mapped("info-inode", pg, pg, PROT_READ, &fd);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, ioctl(fd, ASHMEM_GET_FILE_ID, &id));
	ASSERT_EQ(0, fdinfo_value(fd, "inode", val, sizeof(val)));
	EXPECT_NE(0, id);
	EXPECT_EQ(id, (unsigned long)strtoull(val, NULL, 10)) {
		TH_LOG("fdinfo inode \"%s\"", val);
	}
	munmap(p, pg);
	close(fd);
}

TEST(fdinfo_size_of_large_value_is_not_sign_extended)
{
	char val[64];
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	/* Bit 31 set: a 32-bit caller's size must be taken as unsigned. */
	ASSERT_EQ(0, set_size(fd, (size_t)0x80001000UL));
	ASSERT_EQ(0, fdinfo_value(fd, "size", val, sizeof(val)));
	EXPECT_STREQ("2147487744", val);
	close(fd);
}

TEST_HARNESS_MAIN
