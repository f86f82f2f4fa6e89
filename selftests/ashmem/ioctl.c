// SPDX-License-Identifier: GPL-2.0
/*
 * The ashmem ioctls, one test per rule or errno: SET_NAME/GET_NAME,
 * SET_SIZE/GET_SIZE, SET_PROT_MASK/GET_PROT_MASK (with the READ_IMPLIES_EXEC
 * personality), GET_FILE_ID, unknown commands and PURGE_ALL_CACHES.
 *
 * Built as a 64-bit and a 32-bit program; both must give the same results
 * (the 32-bit one goes through the compat ioctl path).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

/* SET_NAME / GET_NAME */

TEST(get_name_of_unnamed_region_is_default)
{
	char name[ASHMEM_NAME_LEN];
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ(ASHMEM_NAME_DEF, name);
	close(fd);
}

TEST(get_name_after_empty_name_is_default)
{
	char name[ASHMEM_NAME_LEN];
	int fd = region_new("something", 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, ""));
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ(ASHMEM_NAME_DEF, name);
	close(fd);
}

TEST(set_name_reads_back_without_prefix)
{
	char name[ASHMEM_NAME_LEN];
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, "my-region"));
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ("my-region", name);
	close(fd);
}

TEST(set_name_can_be_changed_before_mmap)
{
	char name[ASHMEM_NAME_LEN];
	int fd = region_new("first", 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, "second-longer-name"));
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, "third"));
	ASSERT_EQ(0, get_name(fd, name));
	/* The shorter last name must not show a tail of the longer one. */
	EXPECT_STREQ("third", name);
	close(fd);
}

TEST(set_name_of_255_bytes_is_kept_whole)
{
	char in[ASHMEM_NAME_LEN], out[ASHMEM_NAME_LEN];
	int fd = region_new(NULL, 0), i;

	ASSERT_LE(0, fd);
	for (i = 0; i < ASHMEM_NAME_LEN - 1; i++)
		in[i] = 'a' + i % 26;
	in[ASHMEM_NAME_LEN - 1] = '\0';
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, in));
	ASSERT_EQ(0, get_name(fd, out));
	EXPECT_STREQ(in, out);
	close(fd);
}

TEST(set_name_of_300_bytes_is_truncated_to_255)
{
	char in[301], out[ASHMEM_NAME_LEN];
	int fd = region_new(NULL, 0), i;

	ASSERT_LE(0, fd);
	for (i = 0; i < 300; i++)
		in[i] = 'A' + i % 26;
	in[300] = '\0';
	/* Longer names are truncated, not refused. */
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, in));
	ASSERT_EQ(0, get_name(fd, out));
	EXPECT_EQ(ASHMEM_NAME_LEN - 1, strlen(out));
	EXPECT_EQ(0, memcmp(in, out, ASHMEM_NAME_LEN - 1));
	close(fd);
}

TEST(get_name_writes_only_string_and_nul)
{
	unsigned char buf[ASHMEM_NAME_LEN];
	size_t deflen = strlen(ASHMEM_NAME_DEF);
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	/* Default name. */
	memset(buf, 0xAA, sizeof(buf));
	ASSERT_EQ(0, ioctl(fd, ASHMEM_GET_NAME, buf));
	EXPECT_STREQ(ASHMEM_NAME_DEF, (char *)buf);
	EXPECT_TRUE(all_bytes_are(buf + deflen + 1, sizeof(buf) - deflen - 1, 0xAA));
	/* A set name. */
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, "abc"));
	memset(buf, 0xAA, sizeof(buf));
	ASSERT_EQ(0, ioctl(fd, ASHMEM_GET_NAME, buf));
	EXPECT_STREQ("abc", (char *)buf);
	EXPECT_TRUE(all_bytes_are(buf + 4, sizeof(buf) - 4, 0xAA));
	close(fd);
}

TEST(get_name_needs_room_only_for_string_and_nul)
{
	size_t pg = page_size();
	char *page = page_before_hole();
	char *buf;
	int fd = region_new("abc", 0);

	ASSERT_LE(0, fd);
	ASSERT_NOT_NULL(page);
	/* "abc" and its NUL end exactly at the last mapped byte. */
	buf = page + pg - 4;
	memset(buf, 0xAA, 4);
	EXPECT_EQ(0, ERRNO_OF(ioctl(fd, ASHMEM_GET_NAME, buf)));
	EXPECT_EQ(0, memcmp(buf, "abc", 4));
	munmap(page, pg);
	close(fd);
}

TEST(set_name_after_mmap_is_einval_and_name_unchanged)
{
	char name[ASHMEM_NAME_LEN];
	size_t pg = page_size();
	int fd;
	void *p;

	p = region_new_mapped("before", pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, "after")));
	EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, "")));
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ("before", name);
	munmap(p, pg);
	close(fd);
}

TEST(set_name_bad_pointer_is_efault_and_name_unchanged)
{
	char name[ASHMEM_NAME_LEN];
	int fd = region_new("keep", 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, (void *)1)));
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ("keep", name);
	close(fd);
}

TEST(set_name_unmapped_page_is_efault_and_name_unchanged)
{
	char name[ASHMEM_NAME_LEN];
	int fd = region_new("keep", 0);
	void *hole;

	ASSERT_LE(0, fd);
	hole = unmapped_address();
	ASSERT_NOT_NULL(hole);
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, hole)));
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ("keep", name);
	close(fd);
}

TEST(set_name_unterminated_into_unmapped_page_is_efault)
{
	char name[ASHMEM_NAME_LEN];
	size_t pg = page_size();
	char *page = page_before_hole();
	int fd = region_new("keep", 0);

	ASSERT_LE(0, fd);
	ASSERT_NOT_NULL(page);
	/* 16 bytes without a NUL, then the unmapped page. */
	memset(page + pg - 16, 'x', 16);
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_SET_NAME, page + pg - 16)));
	ASSERT_EQ(0, get_name(fd, name));
	EXPECT_STREQ("keep", name);
	munmap(page, pg);
	close(fd);
}

TEST(get_name_bad_pointer_is_efault)
{
	int fd = region_new("name", 0);
	void *hole;

	ASSERT_LE(0, fd);
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_GET_NAME, (void *)1)));
	hole = unmapped_address();
	ASSERT_NOT_NULL(hole);
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_GET_NAME, hole)));
	close(fd);
}

/* SET_SIZE / GET_SIZE */

TEST(get_size_of_fresh_region_is_zero)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
}

TEST(set_size_is_stored_unrounded)
{
	size_t pg = page_size();
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, set_size(fd, 4097));
	EXPECT_EQ(4097, ioctl(fd, ASHMEM_GET_SIZE));
	ASSERT_EQ(0, set_size(fd, 1));
	EXPECT_EQ(1, ioctl(fd, ASHMEM_GET_SIZE));
	ASSERT_EQ(0, set_size(fd, pg - 1));
	EXPECT_EQ(pg - 1, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	ASSERT_EQ(0, set_size(fd, 3 * pg + 5));
	EXPECT_EQ(3 * pg + 5, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
}

TEST(set_size_keeps_large_values_exactly)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	/* Large, unaligned, and still a positive int for ioctl()'s return. */
	ASSERT_EQ(0, set_size(fd, 0x7ffff001));
	EXPECT_EQ(0x7ffff001, ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
}

TEST(set_size_can_be_changed_repeatedly_before_mmap)
{
	size_t pg = page_size();
	int fd = region_new(NULL, 0);
	void *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, set_size(fd, 10 * pg));
	EXPECT_EQ(10 * pg, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	ASSERT_EQ(0, set_size(fd, 0));
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	ASSERT_EQ(0, set_size(fd, 3));
	EXPECT_EQ(3, ioctl(fd, ASHMEM_GET_SIZE));
	/* The last size is the one mmap goes by: one page, not ten. */
	EXPECT_EQ(EINVAL, mmap_errno(fd, 2 * pg, PROT_READ, MAP_SHARED));
	p = map_shared(fd, pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(p);
	EXPECT_EQ(3, ioctl(fd, ASHMEM_GET_SIZE));
	munmap(p, pg);
	close(fd);
}

TEST(set_size_after_mmap_is_einval_and_size_unchanged)
{
	size_t pg = page_size();
	int fd;
	void *p;

	p = region_new_mapped(NULL, 4097, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EINVAL, ERRNO_OF(set_size(fd, 8 * pg)));
	EXPECT_EQ(EINVAL, ERRNO_OF(set_size(fd, 0)));
	/* Even the size it already has: the backing file exists. */
	EXPECT_EQ(EINVAL, ERRNO_OF(set_size(fd, 4097)));
	EXPECT_EQ(4097, ioctl(fd, ASHMEM_GET_SIZE));
	munmap(p, pg);
	close(fd);
}

/* SET_PROT_MASK / GET_PROT_MASK */

TEST(get_prot_mask_default_is_rwx)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(PROT_READ | PROT_WRITE | PROT_EXEC,
		  ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

TEST(set_prot_mask_narrowing_works)
{
	int fd = region_new_masked(NULL, 0, PROT_READ | PROT_WRITE);

	ASSERT_LE(0, fd);
	EXPECT_EQ(PROT_READ | PROT_WRITE, ioctl(fd, ASHMEM_GET_PROT_MASK));
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ));
	EXPECT_EQ(PROT_READ, ioctl(fd, ASHMEM_GET_PROT_MASK));
	ASSERT_EQ(0, set_prot_mask(fd, 0));
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

TEST(set_prot_mask_to_current_mask_is_allowed)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ERRNO_OF(set_prot_mask(fd, PROT_RWX)));
	EXPECT_EQ(PROT_RWX, ioctl(fd, ASHMEM_GET_PROT_MASK));
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ | PROT_EXEC));
	EXPECT_EQ(0, ERRNO_OF(set_prot_mask(fd, PROT_READ | PROT_EXEC)));
	EXPECT_EQ(PROT_READ | PROT_EXEC, ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

TEST(set_prot_mask_widening_is_einval_and_mask_unchanged)
{
	int fd = region_new_masked(NULL, 0, PROT_READ);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, PROT_READ | PROT_WRITE)));
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, PROT_RWX)));
	/* Swapping one bit for another is a widening too. */
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, PROT_WRITE)));
	EXPECT_EQ(PROT_READ, ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

TEST(set_prot_mask_bits_outside_rwx_are_einval)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, 0x8)));
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, PROT_RWX | 0x8)));
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, PROT_READ | 0x100)));
	/* The top bit of an unsigned long in either ABI's 32 low bits. */
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, 0x80000000UL)));
	EXPECT_EQ(PROT_RWX, ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

TEST(set_prot_mask_after_mmap_is_allowed)
{
	size_t pg = page_size();
	int fd;
	void *p;

	p = region_new_mapped(NULL, pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	EXPECT_EQ(0, ERRNO_OF(set_prot_mask(fd, PROT_READ)));
	EXPECT_EQ(PROT_READ, ioctl(fd, ASHMEM_GET_PROT_MASK));
	munmap(p, pg);
	close(fd);
}

TEST(read_implies_exec_cannot_widen_mask_with_exec)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	/* Narrowed before the personality changes. */
	ASSERT_EQ(0, set_prot_mask(fd, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, enable_read_implies_exec());
	/*
	 * PROT_READ becomes PROT_READ|PROT_EXEC before the subset check, and
	 * PROT_EXEC is not in the mask any more.
	 */
	EXPECT_EQ(EINVAL, ERRNO_OF(set_prot_mask(fd, PROT_READ)));
	EXPECT_EQ(PROT_READ | PROT_WRITE, ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

TEST(read_implies_exec_adds_exec_to_a_read_mask)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, enable_read_implies_exec());
	EXPECT_EQ(0, ERRNO_OF(set_prot_mask(fd, PROT_READ)));
	EXPECT_EQ(PROT_READ | PROT_EXEC, ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

TEST(read_implies_exec_leaves_mask_without_read_alone)
{
	int fd = region_new_masked(NULL, 0, PROT_READ | PROT_WRITE);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, enable_read_implies_exec());
	/* No PROT_READ in the new mask: nothing is added, so it is a subset. */
	EXPECT_EQ(0, ERRNO_OF(set_prot_mask(fd, PROT_WRITE)));
	EXPECT_EQ(PROT_WRITE, ioctl(fd, ASHMEM_GET_PROT_MASK));
	close(fd);
}

/* GET_FILE_ID */

TEST(get_file_id_before_mmap_is_einval)
{
	unsigned long id = 0;
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_GET_FILE_ID, &id)));
	ASSERT_EQ(0, set_size(fd, page_size()));
	EXPECT_EQ(EINVAL, ERRNO_OF(ioctl(fd, ASHMEM_GET_FILE_ID, &id)));
	EXPECT_EQ(0, id);
	close(fd);
}

TEST(get_file_id_matches_map_files_inode)
{
	char path[128];
	size_t pg = page_size();
	unsigned long id = 0;
	struct stat st;
	int fd;
	void *p;

	p = region_new_mapped("file-id", pg, pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, ioctl(fd, ASHMEM_GET_FILE_ID, &id));
	map_files_path(path, sizeof(path), p, pg);
	ASSERT_EQ(0, stat(path, &st)) {
		TH_LOG("stat %s: %s", path, strerror(errno));
	}
	EXPECT_NE(0, id);
	/* A 32-bit caller gets the inode number in its unsigned long. */
	EXPECT_EQ((unsigned long)st.st_ino, id);
	munmap(p, pg);
	close(fd);
}

TEST(get_file_id_matches_proc_maps_inode)
{
	size_t pg = page_size();
	unsigned long long ino = 0;
	unsigned long id = 0;
	int fd;
	void *p;

	p = region_new_mapped(NULL, pg, pg, PROT_READ, &fd);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, ioctl(fd, ASHMEM_GET_FILE_ID, &id));
	ASSERT_EQ(0, maps_lookup(p, &ino, NULL, 0));
	EXPECT_NE(0, ino);
	EXPECT_EQ((unsigned long)ino, id);
	munmap(p, pg);
	close(fd);
}

TEST(get_file_id_differs_between_regions_and_is_stable)
{
	size_t pg = page_size();
	unsigned long a = 0, a2 = 0, b = 0;
	int fa = region_new("a", pg), fb = region_new("b", pg);
	void *pa, *pb;

	ASSERT_LE(0, fa);
	ASSERT_LE(0, fb);
	pa = map_shared(fa, pg, PROT_READ);
	ASSERT_MAPPED(pa);
	pb = map_shared(fb, pg, PROT_READ);
	ASSERT_MAPPED(pb);
	ASSERT_EQ(0, ioctl(fa, ASHMEM_GET_FILE_ID, &a));
	ASSERT_EQ(0, ioctl(fb, ASHMEM_GET_FILE_ID, &b));
	EXPECT_NE(a, b);
	/* Unmapping does not drop the backing file while the fd is open. */
	munmap(pa, pg);
	ASSERT_EQ(0, ioctl(fa, ASHMEM_GET_FILE_ID, &a2));
	EXPECT_EQ(a, a2);
	munmap(pb, pg);
	close(fa);
	close(fb);
}

TEST(get_file_id_bad_pointer_is_efault)
{
	size_t pg = page_size();
	int fd;
	void *p, *hole;

	p = region_new_mapped(NULL, pg, pg, PROT_READ, &fd);
	ASSERT_MAPPED(p);
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_GET_FILE_ID, (void *)1)));
	hole = unmapped_address();
	ASSERT_NOT_NULL(hole);
	EXPECT_EQ(EFAULT, ERRNO_OF(ioctl(fd, ASHMEM_GET_FILE_ID, hole)));
	munmap(p, pg);
	close(fd);
}

/* Unknown commands */

TEST(unknown_command_numbers_are_enotty)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IO(__ASHMEMIOC, 0))));
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IO(__ASHMEMIOC, 12))));
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IOW(__ASHMEMIOC, 13, int), 0)));
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IO(__ASHMEMIOC, 0xff))));
	/* Another magic with an argument that would be a valid pointer. */
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IOR('x', 2, int), &fd)));
	close(fd);
}

TEST(known_number_with_wrong_size_is_enotty)
{
	char buf[ASHMEM_NAME_LEN] = "x";
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	/* SET_SIZE encoded with a 2-byte argument: valid in neither ABI. */
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IOW(__ASHMEMIOC, 3, __u16), 1)));
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	/* SET_NAME and GET_NAME with a 128-byte buffer in the encoding. */
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IOW(__ASHMEMIOC, 1, char[128]), buf)));
	EXPECT_EQ(ENOTTY, ERRNO_OF(ioctl(fd, _IOR(__ASHMEMIOC, 2, char[128]), buf)));
	ASSERT_EQ(0, get_name(fd, buf));
	EXPECT_STREQ(ASHMEM_NAME_DEF, buf);
	close(fd);
}

/* PURGE_ALL_CACHES */

TEST(purge_all_caches_as_root_returns_count)
{
	int fd;

	if (geteuid() != 0)
		SKIP(return, "needs root");
	fd = region_new(NULL, 0);
	ASSERT_LE(0, fd);
	EXPECT_LE(0, ioctl(fd, ASHMEM_PURGE_ALL_CACHES)) {
		TH_LOG("PURGE_ALL_CACHES: %s", strerror(errno));
	}
	close(fd);
}

TEST(purge_all_caches_without_cap_sys_admin_is_eperm)
{
	int fd = region_new(NULL, 0);

	ASSERT_LE(0, fd);
	/* This test process is a child of the harness: drop root for good. */
	ASSERT_EQ(0, become_uid(NOBODY));
	EXPECT_EQ(EPERM, ERRNO_OF(ioctl(fd, ASHMEM_PURGE_ALL_CACHES)));
	/* Everything else still works for the unprivileged caller. */
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
}

TEST_HARNESS_MAIN
