// SPDX-License-Identifier: GPL-2.0
/*
 * mmap of an ashmem region: size checks, the prot mask (at mmap and at
 * mprotect), shared and private mappings, the backing file the first mmap
 * creates, sharing across fork and SCM_RIGHTS, /proc/PID/maps naming, the
 * map_files bypass (CVE-2020-0009), the SET_SIZE/mmap race (CVE-2017-13216),
 * first mmaps racing each other, and mappings outliving the fd.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

/* Size checks */

TEST(mmap_with_size_zero_is_einval)
{
	size_t pg = page_size();
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, mmap_errno(fd, pg, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EINVAL, mmap_errno(fd, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	close(fd);
}

TEST(mmap_longer_than_page_aligned_size_is_einval)
{
	size_t pg = page_size();
	int fd = region_new(NULL, pg), fd2 = region_new(NULL, pg + 1);

	ASSERT_LE(0, fd);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(EINVAL, mmap_errno(fd, 2 * pg, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, mmap_errno(fd, 2 * pg, PROT_READ, MAP_PRIVATE));
	/* pg + 1 rounds up to two pages, not three. */
	EXPECT_EQ(EINVAL, mmap_errno(fd2, 3 * pg, PROT_READ, MAP_SHARED));
	close(fd);
	close(fd2);
}

TEST(mmap_of_page_aligned_length_for_unaligned_size_works)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p;

	p = region_new_mapped(NULL, pg + 1, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	/* The whole last page is usable, not only the byte below the size. */
	p[2 * pg - 1] = 0x5a;
	p[pg] = 0xa5;
	EXPECT_EQ(0x5a, p[2 * pg - 1]);
	EXPECT_EQ(0xa5, p[pg]);
	munmap(p, 2 * pg);
	close(fd);
}

TEST(mmap_shorter_than_size_works)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p;

	p = region_new_mapped(NULL, 4 * pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	p[0] = 1;
	EXPECT_EQ(1, p[0]);
	EXPECT_EQ(4 * pg, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	munmap(p, pg);
	close(fd);
}

TEST(failed_mmap_does_not_create_backing_file)
{
	size_t pg = page_size();
	unsigned long id;
	int fd = region_new("early", pg);
	void *p;

	ASSERT_LE(0, fd);
	/* Too long, then outside the mask: both refused. */
	EXPECT_EQ(EINVAL, mmap_errno(fd, 2 * pg, PROT_READ, MAP_SHARED));
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ));
	EXPECT_EQ(EPERM, mmap_errno(fd, pg, PROT_READ | PROT_WRITE, MAP_SHARED));
	/* So the region is still open to change. */
	EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_GET_FILE_ID, &id)));
	EXPECT_EQ(0, ERRNO_OF(set_size(fd, 2 * pg)));
	EXPECT_EQ(0, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, "later")));
	p = map_shared(fd, 2 * pg, PROT_READ);
	ASSERT_MAPPED(p);
	munmap(p, 2 * pg);
	close(fd);
}

/* Prot mask at mmap time */

TEST(mmap_shared_write_outside_mask_is_eperm)
{
	size_t pg = page_size();
	int fd = region_new_masked(NULL, pg, PROT_READ);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EPERM, mmap_errno(fd, pg, PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EPERM, mmap_errno(fd, pg, PROT_READ | PROT_WRITE, MAP_SHARED));
	close(fd);
}

TEST(mmap_private_write_outside_mask_is_eperm)
{
	size_t pg = page_size();
	int fd = region_new_masked(NULL, pg, PROT_READ);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EPERM, mmap_errno(fd, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	close(fd);
}

TEST(mmap_exec_outside_mask_is_eperm)
{
	size_t pg = page_size();
	int fd, full;

	/* On a noexec /dev the VFS refuses PROT_EXEC before the driver. */
	if (dev_is_noexec())
		SKIP(return, "/dev is mounted noexec");
	fd = region_new(NULL, pg);
	full = region_new(NULL, pg);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, full);
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EPERM, mmap_errno(fd, pg, PROT_READ | PROT_EXEC, MAP_SHARED));
	/* The control: with the default mask the same mapping works. */
	EXPECT_EQ(0, mmap_errno(full, pg, PROT_READ | PROT_EXEC, MAP_SHARED));
	close(fd);
	close(full);
}

TEST(mmap_within_read_only_mask_works)
{
	size_t pg = page_size();
	int fd = region_new_masked(NULL, pg, PROT_READ);
	void *p;

	ASSERT_LE(0, fd);
	p = map_shared(fd, pg, PROT_READ);
	ASSERT_MAPPED(p);
	EXPECT_TRUE(all_bytes_are(p, pg, 0));
	munmap(p, pg);
	close(fd);
}

/* Prot mask at mprotect time */

TEST(mprotect_write_beyond_mask_is_eacces)
{
	size_t pg = page_size();
	int fd = region_new_masked(NULL, pg, PROT_READ);
	void *p;

	ASSERT_LE(0, fd);
	p = map_shared(fd, pg, PROT_READ);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EACCES, ERRNO_OF(mprotect(p, pg, PROT_WRITE)));
	EXPECT_EQ(EACCES, ERRNO_OF(mprotect(p, pg, PROT_READ | PROT_WRITE)));
	munmap(p, pg);
	close(fd);
}

TEST(mprotect_exec_beyond_mask_is_eacces)
{
	size_t pg = page_size();
	int fd = region_new_masked(NULL, pg, PROT_READ | PROT_WRITE);
	void *p;

	ASSERT_LE(0, fd);
	p = map_shared(fd, pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EACCES, ERRNO_OF(mprotect(p, pg, PROT_READ | PROT_EXEC)));
	munmap(p, pg);
	close(fd);
}

TEST(mprotect_private_mapping_beyond_mask_is_eacces)
{
	size_t pg = page_size();
	int fd = region_new_masked(NULL, pg, PROT_READ);
	void *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_MAPPED(p);
	/* A private mapping could copy-on-write; the mask still forbids it. */
	EXPECT_EQ(EACCES, ERRNO_OF(mprotect(p, pg, PROT_READ | PROT_WRITE)));
	munmap(p, pg);
	close(fd);
}

TEST(mprotect_within_mask_is_allowed)
{
	size_t pg = page_size();
	int fd = region_new_masked(NULL, pg, PROT_READ | PROT_WRITE);
	unsigned char *p;

	ASSERT_LE(0, fd);
	p = map_shared(fd, pg, PROT_READ);
	ASSERT_MAPPED(p);
	EXPECT_EQ(0, ERRNO_OF(mprotect(p, pg, PROT_READ | PROT_WRITE)));
	p[0] = 7;
	EXPECT_EQ(7, p[0]);
	munmap(p, pg);
	close(fd);
}

/* Narrowing the mask after a first mapping */

TEST(mask_narrowed_after_mmap_governs_later_mmaps)
{
	size_t pg = page_size();
	int fd;
	unsigned char *rw, *ro;

	rw = region_new_mapped(NULL, pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(rw);
	fill_pattern(rw, pg, 3);
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ));
	EXPECT_EQ(EPERM, mmap_errno(fd, pg, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EPERM, mmap_errno(fd, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	ro = map_shared(fd, pg, PROT_READ);
	ASSERT_MAPPED(ro);
	EXPECT_TRUE(check_pattern(ro, pg, 3));
	munmap(ro, pg);
	munmap(rw, pg);
	close(fd);
}

TEST(mask_narrowed_after_mmap_governs_later_mprotect)
{
	size_t pg = page_size();
	int fd;
	void *rw, *ro;

	rw = region_new_mapped(NULL, pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(rw);
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ));
	ro = map_shared(fd, pg, PROT_READ);
	ASSERT_MAPPED(ro);
	EXPECT_EQ(EACCES, ERRNO_OF(mprotect(ro, pg, PROT_READ | PROT_WRITE)));
	munmap(ro, pg);
	munmap(rw, pg);
	close(fd);
}

TEST(mask_narrowed_after_mmap_leaves_earlier_mapping_writable)
{
	size_t pg = page_size();
	int fd;
	unsigned char *rw;

	rw = region_new_mapped(NULL, pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(rw);
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ));
	/* The mask governs later mmaps only. */
	rw[0] = 9;
	EXPECT_EQ(9, rw[0]);
	ASSERT_EQ(0, mprotect(rw, pg, PROT_READ));
	EXPECT_EQ(0, ERRNO_OF(mprotect(rw, pg, PROT_READ | PROT_WRITE)));
	rw[1] = 10;
	EXPECT_EQ(10, rw[1]);
	munmap(rw, pg);
	close(fd);
}

/* Shared and private mappings */

TEST(two_shared_mappings_see_the_same_data)
{
	size_t pg = page_size();
	int fd;
	unsigned char *a, *b;

	a = region_new_mapped(NULL, 2 * pg, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(a);
	b = map_shared(fd, 2 * pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(b);
	ASSERT_TRUE(a != b);
	fill_pattern(a, 2 * pg, 4);
	EXPECT_TRUE(check_pattern(b, 2 * pg, 4));
	fill_pattern(b + pg, pg, 5);
	EXPECT_TRUE(check_pattern(a + pg, pg, 5));
	munmap(a, 2 * pg);
	munmap(b, 2 * pg);
	close(fd);
}

TEST(private_mapping_is_zero_filled)
{
	size_t pg = page_size();
	int fd;
	unsigned char *shared, *priv;

	shared = region_new_mapped(NULL, 2 * pg, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(shared);
	fill_pattern(shared, 2 * pg, 6);
	priv = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_MAPPED(priv);
	/* Not the shared data: a private anonymous-like mapping. */
	EXPECT_TRUE(all_bytes_are(priv, 2 * pg, 0));
	/* Nor later shared writes. */
	fill_pattern(shared, 2 * pg, 7);
	EXPECT_TRUE(all_bytes_are(priv, 2 * pg, 0));
	munmap(priv, 2 * pg);
	munmap(shared, 2 * pg);
	close(fd);
}

TEST(private_writes_do_not_reach_shared_mapping)
{
	size_t pg = page_size();
	int fd;
	unsigned char *shared, *priv, *again;

	shared = region_new_mapped(NULL, pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(shared);
	fill_pattern(shared, pg, 8);
	priv = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_MAPPED(priv);
	memset(priv, 0xee, pg);
	EXPECT_TRUE(check_pattern(shared, pg, 8));
	again = map_shared(fd, pg, PROT_READ);
	ASSERT_MAPPED(again);
	EXPECT_TRUE(check_pattern(again, pg, 8));
	munmap(again, pg);
	munmap(priv, pg);
	munmap(shared, pg);
	close(fd);
}

TEST(data_persists_across_unmap_and_remap)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p;

	p = region_new_mapped(NULL, 3 * pg, 3 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	fill_pattern(p, 3 * pg, 9);
	ASSERT_EQ(0, munmap(p, 3 * pg));
	/* No mapping left; the open fd keeps the pages. */
	p = map_shared(fd, 3 * pg, PROT_READ);
	ASSERT_MAPPED(p);
	EXPECT_TRUE(check_pattern(p, 3 * pg, 9));
	munmap(p, 3 * pg);
	close(fd);
}

/* The backing file */

TEST(first_mmap_fixes_name_and_size_of_backing_file)
{
	char path[128], maps[512], name[ASHMEM_NAME_LEN];
	size_t pg = page_size();
	struct stat st;
	int fd;
	void *p;

	p = region_new_mapped("fixed", pg + 1, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, "renamed")));
	EXPECT_EQ(EINVAL, ERRNO_OF(set_size(fd, 4 * pg)));
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ("fixed", name);
	EXPECT_EQ(pg + 1, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	/* The backing file has the region's name and exact size. */
	ASSERT_EQ(0, maps_lookup(p, NULL, maps, sizeof(maps)));
	EXPECT_STREQ("/dev/ashmem/fixed (deleted)", maps);
	map_files_path(path, sizeof(path), p, 2 * pg);
	ASSERT_EQ(0, stat(path, &st)) {
		TH_LOG("stat %s: %s", path, strerror(errno));
	}
	EXPECT_EQ(pg + 1, (size_t)st.st_size);
	munmap(p, 2 * pg);
	close(fd);
}

TEST(first_private_mmap_also_creates_backing_file)
{
	size_t pg = page_size();
	unsigned long id = 0;
	int fd = region_new("private", pg);
	void *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EINVAL, ERRNO_OF(set_size(fd, 2 * pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, "other")));
	EXPECT_EQ(0, ERRNO_OF(ioctl(fd, ASHMEM_GET_FILE_ID, &id)));
	EXPECT_NE(0, id);
	munmap(p, pg);
	close(fd);
}

TEST(proc_maps_shows_named_backing_file)
{
	char maps[512];
	size_t pg = page_size();
	unsigned long long ino = 0;
	int fd;
	void *p;

	p = region_new_mapped("selftest-region", pg, pg, PROT_READ, &fd);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, maps_lookup(p, &ino, maps, sizeof(maps)));
	EXPECT_STREQ("/dev/ashmem/selftest-region (deleted)", maps);
	EXPECT_NE(0, ino);
	munmap(p, pg);
	close(fd);
}

/*
 * The ABI says the backing file is "dev/ashmem/<name>" and that GET_NAME of
 * an unnamed region is "dev/ashmem", but not what the backing file of an
 * unnamed region is called. Our reading: either the bare default name
 * "dev/ashmem" (what the historical driver used) or the prefix joined to what
 * GET_NAME returns ("dev/ashmem/dev/ashmem"); never the bare prefix
 * "dev/ashmem/" or anything else. An unnamed region and one named "" must
 * look the same.
 */
TEST(proc_maps_shows_default_backing_file_for_unnamed_region)
{
	char unnamed[512], empty[512];
	size_t pg = page_size();
	int fd = region_new(NULL, pg), fd2 = region_new("", pg);
	void *p, *p2;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, fd2);
	p = map_shared(fd, pg, PROT_READ);
	ASSERT_MAPPED(p);
	p2 = map_shared(fd2, pg, PROT_READ);
	ASSERT_MAPPED(p2);
	ASSERT_EQ(0, maps_lookup(p, NULL, unnamed, sizeof(unnamed)));
	ASSERT_EQ(0, maps_lookup(p2, NULL, empty, sizeof(empty)));
	EXPECT_TRUE(!strcmp(unnamed, "/dev/ashmem (deleted)") ||
		    !strcmp(unnamed, "/dev/ashmem/dev/ashmem (deleted)")) {
		TH_LOG("unnamed region maps as \"%s\"", unnamed);
	}
	EXPECT_STREQ(unnamed, empty);
	munmap(p, pg);
	munmap(p2, pg);
	close(fd);
	close(fd2);
}

/* CVE-2020-0009: the backing file reopened through map_files */

TEST(map_files_reopen_cannot_be_mapped_writable)
{
	char path[128];
	size_t pg = page_size();
	int fd, mf;
	unsigned char *p;

	p = region_new_mapped("cve-2020-0009", pg, pg, PROT_READ, &fd);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ));
	map_files_path(path, sizeof(path), p, pg);
	/* As root the open itself works; the mapping must not. */
	mf = open(path, O_RDWR);
	ASSERT_LE(0, mf) {
		TH_LOG("open %s: %s", path, strerror(errno));
	}
	EXPECT_EQ(EPERM, mmap_errno(mf, pg, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_TRUE(all_bytes_are(p, pg, 0));
	close(mf);
	munmap(p, pg);
	close(fd);
}

TEST(map_files_reopen_cannot_be_mapped_at_all)
{
	char path[128];
	size_t pg = page_size();
	int fd, mf;
	void *p;

	p = region_new_mapped("cve-2020-0009-ro", pg, pg, PROT_READ | PROT_WRITE,
			      &fd);
	ASSERT_MAPPED(p);
	map_files_path(path, sizeof(path), p, pg);
	mf = open(path, O_RDONLY);
	ASSERT_LE(0, mf) {
		TH_LOG("open %s: %s", path, strerror(errno));
	}
	EXPECT_EQ(EPERM, mmap_errno(mf, pg, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EPERM, mmap_errno(mf, pg, PROT_READ, MAP_PRIVATE));
	close(mf);
	munmap(p, pg);
	close(fd);
}

/* Sizes no file can have */

TEST(size_above_max_file_size_mmap_is_einval)
{
	size_t pg = page_size();
	/* The lowest size above MAX_LFS_FILESIZE (LLONG_MAX) on 64-bit. */
	size_t over = ((size_t)-1 >> 1) + 1;
	size_t sizes[3];
	unsigned long id;
	int i;

	/*
	 * A 32-bit size_t cannot go above MAX_LFS_FILESIZE of the 64-bit
	 * kernel, and the ABI gives no other reason to refuse such a size.
	 */
	if (sizeof(size_t) < sizeof(long long))
		SKIP(return, "no 32-bit size exceeds MAX_LFS_FILESIZE");
	sizes[0] = SIZE_MAX & ~(pg - 1);
	sizes[1] = SIZE_MAX;	/* PAGE_ALIGN of this wraps to 0 */
	sizes[2] = over;
	for (i = 0; i < 3; i++) {
		int fd = region_new(NULL, sizes[i]);

		ASSERT_LE(0, fd);
		EXPECT_EQ(EINVAL, mmap_errno(fd, pg, PROT_READ, MAP_SHARED)) {
			TH_LOG("size %zx", sizes[i]);
		}
		EXPECT_EQ(EINVAL, mmap_errno(fd, pg, PROT_READ, MAP_PRIVATE)) {
			TH_LOG("size %zx", sizes[i]);
		}
		/* Refused before any backing file was made. */
		EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_GET_FILE_ID, &id)));
		close(fd);
	}
}

/*
 * The largest page-aligned size a 32-bit caller can pass. It is below
 * MAX_LFS_FILESIZE, so it must not be refused as too large: that would mean
 * the compat path sign-extended it. Either the mapping works and the backing
 * file has exactly that size, or (a driver may account the whole size) the
 * memory is refused with ENOMEM; never EINVAL. Same value in both builds.
 */
TEST(largest_32bit_size_is_not_sign_extended_at_mmap)
{
	size_t pg = page_size();
	size_t size = (size_t)(0xffffffffUL & ~(unsigned long)(pg - 1));
	char path[128];
	struct stat st;
	int fd = region_new(NULL, size);
	unsigned char *p;

	ASSERT_LE(0, fd);
	p = map_shared(fd, pg, PROT_READ | PROT_WRITE);
	if (p == MAP_FAILED) {
		EXPECT_EQ(ENOMEM, errno);
		close(fd);
		return;
	}
	p[0] = 1;
	map_files_path(path, sizeof(path), p, pg);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(0xfffff000ULL & ~(unsigned long long)(pg - 1),
		  (unsigned long long)st.st_size);
	munmap(p, pg);
	close(fd);
}

/* Sharing between processes */

TEST(fork_child_sees_parent_writes)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p;
	pid_t pid;

	p = region_new_mapped(NULL, 2 * pg, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	fill_pattern(p, 2 * pg, 11);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(check_pattern(p, 2 * pg, 11) ? 0 : 1);
	EXPECT_EQ(0, wait_child(pid));
	munmap(p, 2 * pg);
	close(fd);
}

TEST(fork_parent_sees_child_writes)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p;
	pid_t pid;

	p = region_new_mapped(NULL, 2 * pg, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		fill_pattern(p, 2 * pg, 12);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid));
	EXPECT_TRUE(check_pattern(p, 2 * pg, 12));
	munmap(p, 2 * pg);
	close(fd);
}

TEST(child_mapping_of_inherited_fd_shares_pages)
{
	size_t pg = page_size();
	int fd;
	unsigned char *p;
	pid_t pid;

	p = region_new_mapped(NULL, 2 * pg, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	fill_pattern(p, pg, 13);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char *q;

		munmap(p, 2 * pg);
		q = map_shared(fd, 2 * pg, PROT_READ | PROT_WRITE);
		if (q == MAP_FAILED)
			_exit(2);
		if (!check_pattern(q, pg, 13))
			_exit(3);
		fill_pattern(q + pg, pg, 14);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid));
	EXPECT_TRUE(check_pattern(p + pg, pg, 14));
	munmap(p, 2 * pg);
	close(fd);
}

TEST(sixteen_regions_are_each_shared_across_fork)
{
	enum { N = 16 };
	size_t pg = page_size();
	unsigned char *maps[N];
	int fds[N], i;
	pid_t pid;

	for (i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "fork-region-%d", i);
		fds[i] = region_new(name, 2 * pg);
		ASSERT_LE(0, fds[i]);
		maps[i] = map_shared(fds[i], 2 * pg, PROT_READ | PROT_WRITE);
		ASSERT_MAPPED(maps[i]);
		fill_pattern(maps[i], 2 * pg, i);
	}
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (i = 0; i < N; i++) {
			unsigned char *q;

			/* Through the inherited mapping... */
			if (!check_pattern(maps[i], 2 * pg, i))
				_exit(10 + i);
			/* ...and through a new mapping of the inherited fd. */
			q = map_shared(fds[i], 2 * pg, PROT_READ | PROT_WRITE);
			if (q == MAP_FAILED)
				_exit(30 + i);
			if (!check_pattern(q, 2 * pg, i))
				_exit(50 + i);
			fill_pattern(q, 2 * pg, 100 + i);
			munmap(q, 2 * pg);
		}
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid));
	for (i = 0; i < N; i++) {
		EXPECT_TRUE(check_pattern(maps[i], 2 * pg, 100 + i)) {
			TH_LOG("region %d", i);
		}
		munmap(maps[i], 2 * pg);
		close(fds[i]);
	}
}

TEST(fd_passed_over_scm_rights_maps_the_same_pages)
{
	size_t pg = page_size();
	unsigned char *p;
	int sv[2], fd;
	char ack = 0;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	/* Fork first: the child gets the region only through the socket. */
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char name[ASHMEM_NAME_LEN];
		unsigned char *q;
		int rfd;

		close(sv[0]);
		rfd = recv_fd(sv[1], 0);
		if (rfd < 0)
			_exit(2);
		if ((size_t)ioctl(rfd, ASHMEM_GET_SIZE) != 2 * pg)
			_exit(3);
		if (get_name(rfd, name) || strcmp(name, "passed"))
			_exit(4);
		q = map_shared(rfd, 2 * pg, PROT_READ | PROT_WRITE);
		if (q == MAP_FAILED)
			_exit(5);
		if (!check_pattern(q, pg, 15))
			_exit(6);
		fill_pattern(q + pg, pg, 16);
		munmap(q, 2 * pg);
		close(rfd);
		_exit(write(sv[1], "k", 1) == 1 ? 0 : 7);
	}
	close(sv[1]);
	fd = region_new("passed", 2 * pg);
	ASSERT_LE(0, fd);
	p = map_shared(fd, 2 * pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(p);
	fill_pattern(p, pg, 15);
	ASSERT_EQ(0, send_fd(sv[0], fd));
	/* The fd in flight keeps the region: the sender's copy can go. */
	close(fd);
	/* The child writes its byte last, or dies and closes the socket. */
	EXPECT_EQ(1, read(sv[0], &ack, 1));
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_TRUE(check_pattern(p + pg, pg, 16));
	munmap(p, 2 * pg);
	close(sv[0]);
}

/* Mappings outlive the fd */

TEST(mappings_keep_backing_alive_after_fd_close)
{
	size_t pg = page_size();
	int fd;
	unsigned char *a, *b;

	a = region_new_mapped(NULL, 3 * pg, 3 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(a);
	b = map_shared(fd, 3 * pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(b);
	fill_pattern(a, pg, 17);
	ASSERT_EQ(0, close(fd));
	EXPECT_TRUE(check_pattern(a, pg, 17));
	/* Pages never touched before the close can still be filled... */
	fill_pattern(a + pg, 2 * pg, 18);
	/* ...and both mappings still share the same backing file. */
	EXPECT_TRUE(check_pattern(b, pg, 17));
	EXPECT_TRUE(check_pattern(b + pg, 2 * pg, 18));
	munmap(a, 3 * pg);
	munmap(b, 3 * pg);
}

/*
 * CVE-2017-13216: SET_SIZE racing with mmap.
 *
 * A worker thread (struct race) is already resizing when the main thread
 * calls mmap().
 */
struct resize_race {
	struct race race;
	size_t small, big;
	int fd;
};

static void *resize_worker(void *arg)
{
	struct resize_race *r = arg;
	int seen = 0, it, i;

	while ((it = race_worker_next(&r->race, &seen))) {
		for (i = 0; i < 2000 && race_going(&r->race, it); i++)
			/*
			 * Big, small, 0: the mmap may see any of them, before and
			 * after it made the backing file. Fails (EINVAL) once the
			 * mmap installed the backing file.
			 */
			if (set_size(r->fd, i % 3 == 0 ? r->big : i % 3 == 1 ? r->small : 0) < 0)
				break;
		race_worker_done(&r->race, it);
	}
	return NULL;
}

TEST(set_size_racing_mmap_never_leaves_mapping_larger_than_size)
{
	enum { ITERATIONS = 300, BIG_PAGES = 64 };
	size_t pg = page_size();
	struct resize_race r = { .small = pg, .big = BIG_PAGES * pg };
	int i, mapped = 0, refused = 0, bad = 0;
	pthread_t thread;

	r.fd = -1;
	ASSERT_EQ(0, pthread_create(&thread, NULL, resize_worker, &r));
	ASSERT_EQ(0, pthread_detach(thread));
	for (i = 1; i <= ITERATIONS && !bad; i++) {
		char path[128];
		struct stat st;
		unsigned char *p;
		size_t size;
		int err;

		r.fd = region_new(NULL, r.big);
		ASSERT_LE(0, r.fd);
		race_start(&r.race, i);
		p = map_shared(r.fd, r.big, PROT_READ | PROT_WRITE);
		err = errno;
		race_stop(&r.race, i);
		size = (size_t)ioctl(r.fd, ASHMEM_GET_SIZE);
		if (p == MAP_FAILED) {
			refused++;
			if (err != EINVAL) {
				TH_LOG("iteration %d: mmap failed with %s", i,
				       strerror(err));
				bad++;
			}
		} else {
			mapped++;
			if (size < r.big) {
				TH_LOG("iteration %d: %zu-byte mapping, final size %zu",
				       i, r.big, size);
				bad++;
			}
			map_files_path(path, sizeof(path), p, r.big);
			if (stat(path, &st) || (size_t)st.st_size < r.big) {
				TH_LOG("iteration %d: backing file too small", i);
				bad++;
			}
			if (set_size(r.fd, r.small) == 0) {
				TH_LOG("iteration %d: SET_SIZE after mmap", i);
				bad++;
			}
			if (!bad)
				p[r.big - 1] = 1;	/* SIGBUS if too small */
			munmap(p, r.big);
		}
		close(r.fd);
	}
	race_quit(&r.race);
	TH_LOG("%d mapped, %d refused", mapped, refused);
	EXPECT_EQ(0, bad);
	/* The mmap must have won at least sometimes, or nothing was tested. */
	EXPECT_LT(0, mapped);
}

/*
 * Two threads' first mmaps, started together: both mappings must be of one
 * backing file, the same pages, the same inode. (mmap(2) holds the process's
 * mmap lock while the driver's mmap runs: the driver sees the two one after
 * the other. Two processes' really race, in the test after this one.)
 */
struct first_mmap_race {
	struct race race;
	size_t len;
	int fd;
	void *map;	/* the worker's mapping, MAP_FAILED if it failed */
	int err;
};

static void *first_mmap_worker(void *arg)
{
	struct first_mmap_race *r = arg;
	int seen = 0, it;

	while ((it = race_worker_next(&r->race, &seen))) {
		r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		r->err = errno;
		race_worker_done(&r->race, it);
	}
	return NULL;
}

TEST(first_mmaps_racing_share_one_backing_file)
{
	enum { ITERATIONS = 200 };
	size_t pg = page_size();
	struct first_mmap_race r = { .len = 2 * pg };
	unsigned long long ino_main, ino_worker;
	pthread_t thread;
	int i;

	ASSERT_EQ(0, pthread_create(&thread, NULL, first_mmap_worker, &r));
	ASSERT_EQ(0, pthread_detach(thread));
	for (i = 1; i <= ITERATIONS; i++) {
		unsigned char *p;

		r.fd = region_new("first-mmap-race", r.len);
		ASSERT_LE(0, r.fd);
		race_start(&r.race, i);
		p = mmap(NULL, r.len, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
		ASSERT_TRUE(p != MAP_FAILED) {
			TH_LOG("iteration %d: mmap: %s", i, strerror(errno));
		}
		race_stop(&r.race, i);
		ASSERT_TRUE(r.map != MAP_FAILED) {
			TH_LOG("iteration %d: the worker's mmap: %s", i, strerror(r.err));
		}
		p[pg] = (unsigned char)i;
		ASSERT_EQ((unsigned char)i, ((unsigned char *)r.map)[pg]) {
			TH_LOG("iteration %d: the two first mappings have different pages", i);
		}
		ASSERT_EQ(0, maps_lookup(p, &ino_main, NULL, 0));
		ASSERT_EQ(0, maps_lookup(r.map, &ino_worker, NULL, 0));
		ASSERT_EQ(ino_main, ino_worker);
		munmap(p, r.len);
		munmap(r.map, r.len);
		close(r.fd);
	}
	race_quit(&r.race);
}

/*
 * The same with the two first mmaps in two processes. Threads of one process
 * map one after the other (mmap(2) holds the process's mmap lock while the
 * driver's mmap runs), two processes' first mmaps run at once: both may make
 * a backing file, only one is installed, and both mappings must be of it.
 */
struct first_mmap_race_shared {
	struct race race;
	int err;			/* the child's mmap's errno, 0 when it mapped */
	unsigned long long ino;		/* the child's mapping's inode */
};

TEST(first_mmaps_of_two_processes_racing_share_one_backing_file)
{
	enum { ITERATIONS = 200 };
	size_t pg = page_size(), len = 2 * pg;
	struct first_mmap_race_shared *sh;
	unsigned long long ino;
	int fds[ITERATIONS + 1], i, seen = 0, it;
	pid_t pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(sh != MAP_FAILED);
	/* Made before the fork: both processes hold every region's fd. */
	for (i = 1; i <= ITERATIONS; i++) {
		fds[i] = region_new("first-mmap-race", len);
		ASSERT_LE(0, fds[i]);
	}
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		while ((it = race_worker_next(&sh->race, &seen))) {
			unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
						fds[it], 0);

			sh->err = p == MAP_FAILED ? errno : 0;
			if (p != MAP_FAILED) {
				/* What the parent's mapping must show, if it is of the same file. */
				p[pg] = (unsigned char)it;
				if (maps_lookup(p, &sh->ino, NULL, 0))
					sh->err = ENOENT;
				munmap(p, len);
			}
			race_worker_done(&sh->race, it);
		}
		_exit(0);
	}
	for (i = 1; i <= ITERATIONS; i++) {
		unsigned char *p;

		race_start(&sh->race, i);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		ASSERT_TRUE(p != MAP_FAILED) {
			TH_LOG("iteration %d: mmap: %s", i, strerror(errno));
		}
		race_stop(&sh->race, i);
		ASSERT_EQ(0, sh->err) {
			TH_LOG("iteration %d: the child's mmap: %s", i, strerror(sh->err));
		}
		ASSERT_EQ((unsigned char)i, p[pg]) {
			TH_LOG("iteration %d: the two first mappings have different pages", i);
		}
		ASSERT_EQ(0, maps_lookup(p, &ino, NULL, 0));
		ASSERT_EQ(sh->ino, ino);
		munmap(p, len);
		close(fds[i]);
	}
	race_quit(&sh->race);
	ASSERT_EQ(0, wait_child(pid));
	munmap(sh, sizeof(*sh));
}

TEST_HARNESS_MAIN
