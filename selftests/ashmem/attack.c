// SPDX-License-Identifier: GPL-2.0
/*
 * What a hostile process would try against a region it holds, or against
 * other users' regions, and that the other programs do not cover already:
 * - widening the prot mask through READ_IMPLIES_EXEC at mmap and mprotect
 *   time, through mremap (grow, move, copy) and remap_file_pages;
 * - reaching past the region's size: mremap growing a mapping, mmap at an
 *   offset;
 * - the backing file reopened through /proc/PID/fd of a map_files fd, or
 *   another process's map_files, and a private writable copy of it;
 * - changing a read-only region's data through the fd (pwrite, ftruncate,
 *   fallocate) or a read-only mapping (MADV_REMOVE);
 * - SET_PROT_MASK and SET_NAME racing mmap;
 * - PURGE_ALL_CACHES without CAP_SYS_ADMIN (root without it, other uids, the
 *   root of a user namespace);
 * - kernel memory through GET_NAME and fdinfo, after longer names;
 * - stale data after a purge: in new mappings, other processes, later uses of
 *   the region, new regions, mlocked pages;
 * - names that try to forge lines in fdinfo, /proc/PID/maps and the debugfs
 *   summary;
 * - what uids 1000 and 65534 can do with their own regions and cannot do
 *   with root's.
 * Most tests need root (they drop privileges in a child where they need to).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

/* A second unprivileged identity, besides NOBODY. */
#define APP_UID			1000

#define SEED			0xa77ac
#define NEED_ROOT() do { \
	if (geteuid() != 0) \
		SKIP(return, "needs root"); \
} while (0)

/*
 * What a child process reports when it fails: a message in memory shared
 * with the parent, and a non-zero exit status.
 */
struct child_report {
	char msg[512];
};

static struct child_report *child_report_new(void)
{
	struct child_report *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (r == MAP_FAILED)
		return NULL;
	r->msg[0] = '\0';
	return r;
}

static void __attribute__((format(printf, 3, 4), noreturn))
child_fail(struct child_report *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	_exit(code);
}

/* The child's exit status is 0; else the test fails with its report. */
#define EXPECT_CHILD_OK(r, status) \
	EXPECT_EQ(0, status) { \
		TH_LOG("%s", (r)->msg); \
	}

/* fork_child() whose child drops to uid at once (or exits with status 2). */
static pid_t fork_as(uid_t uid, struct child_report *r)
{
	pid_t pid = fork_child();

	if (pid == 0 && become_uid(uid))
		child_fail(r, 2, "cannot become uid %d", (int)uid);
	return pid;
}

/*
 * The signal that reading (or writing) the byte at p kills a process with: 0
 * when the access works. Tried in a child.
 */
static int access_signal(volatile unsigned char *p, int write)
{
	pid_t pid = fork_child();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (write)
			*p = 0x5a;
		else
			(void)*p;
		_exit(0);
	}
	st = wait_child(pid);
	return st >= 128 ? st - 128 : (st == 0 ? 0 : -1);
}

/*
 * Prot mask widening: READ_IMPLIES_EXEC
 *
 * Under this personality the kernel turns PROT_READ into
 * PROT_READ|PROT_EXEC, at mmap and at mprotect. A region whose mask lacks
 * PROT_EXEC must never end up executable that way.
 */

TEST(read_implies_exec_mmap_gets_no_exec_outside_the_mask)
{
	size_t pg = page_size();
	int fd = region_new_masked("rie-mmap", pg, PROT_READ | PROT_WRITE);
	int flags[2] = { MAP_SHARED, MAP_PRIVATE };
	char perms[8];
	int i;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, enable_read_implies_exec());
	for (i = 0; i < 2; i++) {
		void *p = mmap(NULL, pg, PROT_READ, flags[i], fd, 0);

		if (p == MAP_FAILED) {
			/* PROT_EXEC was asked for on the caller's behalf. */
			EXPECT_EQ(EPERM, errno);
			continue;
		}
		ASSERT_EQ(0, maps_perms(p, perms));
		EXPECT_EQ('-', perms[2]) {
			TH_LOG("%s mapping is %s", i ? "private" : "shared", perms);
		}
		EXPECT_EQ(EACCES, ERRNO_OF(mprotect(p, pg, PROT_READ | PROT_EXEC)));
		munmap(p, pg);
	}
	close(fd);
}

TEST(read_implies_exec_mprotect_adds_no_exec_outside_the_mask)
{
	size_t pg = page_size();
	int fd = region_new_masked("rie-mprotect", pg, PROT_READ | PROT_WRITE);
	char perms[8];
	void *p;

	ASSERT_LE(0, fd);
	/* Mapped before the personality changes. */
	p = map_shared(fd, pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, mprotect(p, pg, PROT_NONE));
	ASSERT_EQ(0, enable_read_implies_exec());
	/* PROT_READ means PROT_READ|PROT_EXEC now: refused, never granted. */
	if (mprotect(p, pg, PROT_READ) < 0)
		EXPECT_EQ(EACCES, errno);
	ASSERT_EQ(0, maps_perms(p, perms));
	EXPECT_EQ('-', perms[2]) {
		TH_LOG("mapping is %s", perms);
	}
	munmap(p, pg);
	close(fd);
}

/*
 * Prot mask widening: mremap and remap_file_pages
 *
 * A mapping made under a narrow mask has VM_MAYWRITE (VM_MAYEXEC) cleared;
 * growing, moving or copying it with mremap keeps that, so mprotect still
 * cannot add what the mask lacks.
 */

/* A region of pages pages, stamped, with mask PROT_READ; *ro maps npages. */
static int read_only_region(size_t pages, size_t npages, unsigned char **ro)
{
	size_t pg = page_size();
	int fd = region_new("read-only", pages * pg);
	void *rw;

	if (fd < 0)
		return -1;
	rw = map_shared(fd, pages * pg, PROT_READ | PROT_WRITE);
	if (rw == MAP_FAILED)
		goto fail;
	stamp_pages(rw, pages, 0, SEED);
	munmap(rw, pages * pg);
	if (set_prot_mask(fd, PROT_READ))
		goto fail;
	*ro = map_shared(fd, npages * pg, PROT_READ);
	if (*ro != MAP_FAILED)
		return fd;
fail:
	close(fd);
	return -1;
}

/* mprotect cannot make [p, p + len) writable or executable. */
#define EXPECT_STAYS_READ_ONLY(p, len) do { \
	char __perms[8]; \
	EXPECT_EQ(EACCES, ERRNO_OF(mprotect(p, len, PROT_READ | PROT_WRITE))); \
	EXPECT_EQ(EACCES, ERRNO_OF(mprotect((char *)(p) + (len) - page_size(), \
					    page_size(), PROT_WRITE))); \
	if (!dev_is_noexec()) \
		EXPECT_EQ(EACCES, ERRNO_OF(mprotect(p, len, PROT_READ | PROT_EXEC))); \
	ASSERT_EQ(0, maps_perms(p, __perms)); \
	EXPECT_STREQ("r--s", __perms); \
} while (0)

TEST(mremap_grown_mapping_keeps_the_narrowed_mask)
{
	size_t pg = page_size();
	unsigned char *p, *q;
	int fd = read_only_region(4, 1, &p);

	ASSERT_LE(0, fd);
	q = mremap(p, pg, 4 * pg, MREMAP_MAYMOVE);
	ASSERT_MAPPED(q);
	EXPECT_STAYS_READ_ONLY(q, 4 * pg);
	EXPECT_TRUE(pages_are(q, 4, 0, SEED, PAGE_STAMPED));
	munmap(q, 4 * pg);
	close(fd);
}

TEST(mremap_moved_mapping_keeps_the_narrowed_mask)
{
	size_t pg = page_size();
	unsigned char *p, *q, *target;
	int fd = read_only_region(2, 2, &p);

	ASSERT_LE(0, fd);
	/* A free place to move to. */
	target = mmap(NULL, 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_MAPPED(target);
	q = mremap(p, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	ASSERT_MAPPED(q);
	ASSERT_TRUE(q == target);
	EXPECT_STAYS_READ_ONLY(q, 2 * pg);
	EXPECT_TRUE(pages_are(q, 2, 0, SEED, PAGE_STAMPED));
	munmap(q, 2 * pg);
	close(fd);
}

TEST(mremap_copies_of_a_shared_mapping_keep_the_narrowed_mask)
{
	size_t pg = page_size();
	unsigned char *p, *copy, *moved;
	int fd = read_only_region(2, 2, &p);

	ASSERT_LE(0, fd);
	/* old_size 0: a second mapping of the same pages. */
	copy = mremap(p, 0, 2 * pg, MREMAP_MAYMOVE);
	ASSERT_MAPPED(copy);
	EXPECT_STAYS_READ_ONLY(copy, 2 * pg);
	EXPECT_TRUE(pages_are(copy, 2, 0, SEED, PAGE_STAMPED));
	munmap(copy, 2 * pg);
	/* MREMAP_DONTUNMAP leaves the old mapping and makes a new one. */
	moved = mremap(p, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	if (moved == MAP_FAILED) {
		EXPECT_EQ(EINVAL, errno);
	} else {
		EXPECT_STAYS_READ_ONLY(moved, 2 * pg);
		munmap(moved, 2 * pg);
	}
	EXPECT_STAYS_READ_ONLY(p, 2 * pg);
	munmap(p, 2 * pg);
	close(fd);
}

TEST(remap_file_pages_cannot_make_a_read_only_mapping_writable)
{
	size_t pg = page_size();
	unsigned char *p;
	char perms[8];
	int fd = read_only_region(2, 2, &p);

	ASSERT_LE(0, fd);
	/*
	 * The kernel maps the backing file again, with the mapping's own
	 * protection; whether that works or not, nothing may become writable.
	 */
	remap_file_pages(p, 2 * pg, 0, 1, 0);
	if (maps_perms(p, perms) == 0) {
		EXPECT_EQ('-', perms[1]) {
			TH_LOG("mapping is %s", perms);
		}
		EXPECT_NE(0, mprotect(p, 2 * pg, PROT_READ | PROT_WRITE));
	}
	munmap(p, 2 * pg);
	close(fd);
}

/* Reaching past the region's size */

/*
 * A shared mapping grown with mremap past PAGE_ALIGN(size) maps nothing
 * there: the access is refused (SIGBUS), the region and its backing file keep
 * their size, and the pages inside are untouched.
 */
TEST(mremap_past_the_size_reaches_no_page_beyond_it)
{
	char path[128];
	size_t pg = page_size();
	struct stat st;
	unsigned char *p, *q;
	int fd;

	p = region_new_mapped("grow", pg + 1, 2 * pg, PROT_READ | PROT_WRITE, &fd);
	ASSERT_MAPPED(p);
	stamp_pages(p, 2, 0, SEED);
	q = mremap(p, 2 * pg, 4 * pg, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		/* Refusing is fine too. */
		TH_LOG("mremap refused: %s", strerror(errno));
		munmap(p, 2 * pg);
		close(fd);
		return;
	}
	EXPECT_EQ(SIGBUS, access_signal(q + 2 * pg, 0));
	EXPECT_EQ(SIGBUS, access_signal(q + 3 * pg, 1));
	EXPECT_EQ(0, access_signal(q + 2 * pg - 1, 1));
	EXPECT_EQ(pg + 1, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	map_files_path(path, sizeof(path), q, 4 * pg);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(pg + 1, (size_t)st.st_size);
	EXPECT_EQ(EINVAL, mmap_errno(fd, 3 * pg, PROT_READ, MAP_SHARED));
	EXPECT_TRUE(pages_are(q, 1, 0, SEED, PAGE_STAMPED));
	munmap(q, 4 * pg);
	close(fd);
}

TEST(mremap_copy_larger_than_the_region_reaches_no_page_beyond_it)
{
	size_t pg = page_size();
	unsigned char *p, *q;
	int fd;

	p = region_new_stamped("grow-copy", 1, SEED, &fd);
	ASSERT_MAPPED(p);
	q = mremap(p, 0, 3 * pg, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		TH_LOG("mremap refused: %s", strerror(errno));
	} else {
		EXPECT_TRUE(pages_are(q, 1, 0, SEED, PAGE_STAMPED));
		EXPECT_EQ(SIGBUS, access_signal(q + pg, 0));
		EXPECT_EQ(SIGBUS, access_signal(q + 2 * pg, 1));
		munmap(q, 3 * pg);
	}
	EXPECT_EQ(pg, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	munmap(p, pg);
	close(fd);
}

TEST(mremap_grown_private_mapping_reads_zeros_beyond_the_size)
{
	size_t pg = page_size();
	unsigned char *shared, *p, *q;
	int fd;

	shared = region_new_stamped("grow-private", 1, SEED, &fd);
	ASSERT_MAPPED(shared);
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_MAPPED(p);
	q = mremap(p, pg, 3 * pg, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		munmap(p, pg);
	} else {
		/* Private and anonymous: zeros, never the shared pages. */
		EXPECT_TRUE(all_bytes_are(q, 3 * pg, 0));
		munmap(q, 3 * pg);
	}
	EXPECT_TRUE(pages_are(shared, 1, 0, SEED, PAGE_STAMPED));
	munmap(shared, pg);
	close(fd);
}

/*
 * The kernel merges a new mapping into an adjacent one of the same file,
 * flags and offsets without calling the driver's mmap. A private mapping of
 * a region must not be such a neighbour for a later mmap of the device:
 * that mmap would skip the prot-mask check (found by the fuzzer, seed
 * 0x753b522bf4da4730, processes mode).
 */
TEST(mmap_next_to_an_earlier_private_mapping_still_checks_the_mask)
{
	size_t pg = page_size();
	char *room, *first, *next;
	int fd = region_new("private-neighbour", 4 * pg);

	ASSERT_LE(0, fd);
	/* Room for four pages, the first two mapped from the region's start. */
	room = mmap(NULL, 4 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_MAPPED(room);
	first = mmap(room, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	ASSERT_TRUE(first == room);
	ASSERT_EQ(0, munmap(room + 2 * pg, 2 * pg));
	ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_PROT_MASK, PROT_WRITE));
	/* Right after it, at the next offset: the merge would fit exactly. */
	next = mmap(room + 2 * pg, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE,
		    fd, 2 * pg);
	EXPECT_TRUE(next == MAP_FAILED) {
		TH_LOG("mapped with PROT_READ outside the mask, merged into the first mapping");
		munmap(next, 2 * pg);
	}
	if (next == MAP_FAILED)
		EXPECT_EQ(EPERM, errno);
	munmap(first, 2 * pg);
	close(fd);
}

/*
 * The length check is on the mapping's length; an offset moves the mapping
 * over the file. Either mmap refuses, or what lies past the size faults.
 */
TEST(mmap_at_an_offset_reaches_no_page_beyond_the_size)
{
	size_t pg = page_size();
	unsigned char *rw, *p;
	int fd;

	rw = region_new_stamped("offset", 2, SEED, &fd);
	ASSERT_MAPPED(rw);
	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, pg);
	if (p == MAP_FAILED) {
		TH_LOG("mmap at an offset refused: %s", strerror(errno));
		EXPECT_EQ(EINVAL, errno);
	} else {
		EXPECT_TRUE(pages_are(p, 1, 1, SEED, PAGE_STAMPED));
		EXPECT_EQ(SIGBUS, access_signal(p + pg, 0));
		EXPECT_EQ(SIGBUS, access_signal(p + pg, 1));
		munmap(p, 2 * pg);
	}
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * pg);
	if (p == MAP_FAILED) {
		EXPECT_EQ(EINVAL, errno);
	} else {
		EXPECT_EQ(SIGBUS, access_signal(p, 1));
		munmap(p, pg);
	}
	EXPECT_EQ(2 * pg, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	munmap(rw, 2 * pg);
	close(fd);
}

/* The backing file reopened (CVE-2020-0009 and its variants) */

TEST(proc_fd_of_a_map_files_fd_cannot_be_mapped)
{
	char path[128];
	size_t pg = page_size();
	int modes[2] = { O_RDONLY, O_RDWR }, i;
	unsigned char *p;
	int fd, mf;

	NEED_ROOT();
	fd = read_only_region(1, 1, &p);
	ASSERT_LE(0, fd);
	map_files_path(path, sizeof(path), p, pg);
	mf = open(path, O_RDONLY);
	ASSERT_LE(0, mf) {
		TH_LOG("open %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mf);
	for (i = 0; i < 2; i++) {
		int again = open(path, modes[i]);

		/* The reopen itself may work: a new file on the same inode. */
		if (again < 0)
			continue;
		EXPECT_EQ(EPERM, mmap_errno(again, pg, PROT_READ, MAP_SHARED));
		/* The VFS refuses a shared writable mapping of an O_RDONLY file. */
		EXPECT_EQ(modes[i] == O_RDWR ? EPERM : EACCES,
			  mmap_errno(again, pg, PROT_READ | PROT_WRITE, MAP_SHARED));
		EXPECT_EQ(EPERM, mmap_errno(again, pg, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE));
		close(again);
	}
	EXPECT_TRUE(pages_are(p, 1, 0, SEED, PAGE_STAMPED));
	close(mf);
	munmap(p, pg);
	close(fd);
}

TEST(map_files_reopen_cannot_make_a_private_writable_copy)
{
	char path[128];
	size_t pg = page_size();
	unsigned char *p;
	int fd, mf;

	NEED_ROOT();
	fd = read_only_region(1, 1, &p);
	ASSERT_LE(0, fd);
	map_files_path(path, sizeof(path), p, pg);
	mf = open(path, O_RDONLY);
	ASSERT_LE(0, mf);
	/* Copy-on-write of a read-only open is what the VFS would allow. */
	EXPECT_EQ(EPERM, mmap_errno(mf, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	EXPECT_EQ(EPERM, mmap_errno(mf, pg, PROT_READ | PROT_EXEC, MAP_PRIVATE));
	close(mf);
	munmap(p, pg);
	close(fd);
}

/*
 * Root may reopen the backing file read-write through map_files; it still
 * cannot change the region's data or size that way: writes, resizes and
 * allocation are refused, and the pages and size stay as they were.
 */
TEST(map_files_reopen_cannot_write_resize_or_allocate_the_backing_file)
{
	char path[128], buf[16] = "overwrite";
	size_t pg = page_size();
	struct stat st;
	unsigned char *p;
	int fd, mf;

	NEED_ROOT();
	fd = read_only_region(2, 2, &p);
	ASSERT_LE(0, fd);
	map_files_path(path, sizeof(path), p, 2 * pg);
	mf = open(path, O_RDWR);
	ASSERT_LE(0, mf) {
		TH_LOG("open %s: %s", path, strerror(errno));
	}
	EXPECT_EQ(EINVAL, ERRNO_OF(pwrite(mf, buf, sizeof(buf), 0)));
	EXPECT_EQ(EINVAL, ERRNO_OF(write(mf, buf, sizeof(buf))));
	EXPECT_EQ(EPERM, ERRNO_OF(ftruncate(mf, 0)));
	EXPECT_EQ(EPERM, ERRNO_OF(ftruncate(mf, 16 * pg)));
	EXPECT_EQ(EOPNOTSUPP, ERRNO_OF(fallocate(mf, 0, 0, 16 * pg)));
	EXPECT_EQ(EOPNOTSUPP, ERRNO_OF(fallocate(mf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						 0, pg)));
	ASSERT_EQ(0, fstat(mf, &st));
	EXPECT_EQ(2 * pg, (size_t)st.st_size);
	EXPECT_TRUE(pages_are(p, 2, 0, SEED, PAGE_STAMPED));
	EXPECT_EQ(1, read_pages_are(fd, 0, 2, SEED, PAGE_STAMPED));
	close(mf);
	munmap(p, 2 * pg);
	close(fd);
}

TEST(map_files_of_another_process_cannot_be_mapped)
{
	struct child_report *r = child_report_new();
	char path[128];
	size_t pg = page_size();
	unsigned long start;
	unsigned char *p;
	pid_t parent = getpid(), pid;
	int fd;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	fd = read_only_region(1, 1, &p);
	ASSERT_LE(0, fd);
	start = (unsigned long)p;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", (int)parent,
		 start, start + pg);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int mf, err;

		mf = open(path, O_RDWR);
		if (mf < 0)
			child_fail(r, 2, "open %s: %s", path, strerror(errno));
		err = mmap_errno(mf, pg, PROT_READ | PROT_WRITE, MAP_SHARED);
		if (err != EPERM)
			child_fail(r, 3, "shared writable mmap of %s: %s", path,
				   err ? strerror(err) : "mapped");
		err = mmap_errno(mf, pg, PROT_READ, MAP_SHARED);
		if (err != EPERM)
			child_fail(r, 4, "shared read-only mmap of %s: %s", path,
				   err ? strerror(err) : "mapped");
		_exit(0);
	}
	EXPECT_CHILD_OK(r, wait_child(pid));
	munmap(p, pg);
	close(fd);
	munmap(r, sizeof(*r));
}

/*
 * A holder of a region whose mask is PROT_READ cannot change its data some
 * other way: writes, truncation and hole punching through the fd fail, and
 * MADV_REMOVE needs a mapping that may be written (VM_MAYWRITE, which the
 * driver cleared).
 */
TEST(read_only_region_data_cannot_be_changed_through_fd_or_madvise)
{
	size_t pg = page_size();
	char buf[16] = "overwrite";
	unsigned char *p;
	int fd = read_only_region(2, 2, &p);

	ASSERT_LE(0, fd);
	EXPECT_NE(0, ERRNO_OF(pwrite(fd, buf, sizeof(buf), 0)));
	EXPECT_NE(0, ERRNO_OF(ftruncate(fd, 0)));
	EXPECT_NE(0, ERRNO_OF(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       0, pg)));
	EXPECT_EQ(EACCES, ERRNO_OF(madvise(p, 2 * pg, MADV_REMOVE)));
	/* Dropping the page tables is allowed, and loses nothing. */
	EXPECT_EQ(0, ERRNO_OF(madvise(p, 2 * pg, MADV_DONTNEED)));
	EXPECT_TRUE(pages_are(p, 2, 0, SEED, PAGE_STAMPED));
	EXPECT_EQ(1, read_pages_are(fd, 0, 2, SEED, PAGE_STAMPED));
	EXPECT_EQ(2 * pg, (size_t)ioctl(fd, ASHMEM_GET_SIZE));
	munmap(p, 2 * pg);
	close(fd);
}

/*
 * SET_PROT_MASK racing mmap.
 *
 * A worker narrows a fresh region's mask step by step, PROT_RWX, then
 * PROT_READ|PROT_EXEC, then PROT_READ, then 0, while the main thread keeps
 * mapping it PROT_READ and probing, with mprotect, what each mapping may
 * become. Every mapping must have been made under one of these masks, as a
 * whole: what it may become is one of them, no more than the mask read
 * before the mmap and no less than the mask read after. A mix (say write
 * allowed but exec not, which no step had) would mean the mask was read
 * piecemeal. A refused mmap is EPERM, and only once the mask lacks
 * PROT_READ.
 */
struct mask_race {
	struct race race;	/* no stop: the worker ends each iteration */
	int fd;
	int mmaps;		/* mmap calls the main thread started */
};

static const unsigned long mask_steps[] = {
	PROT_RWX, PROT_READ | PROT_EXEC, PROT_READ, 0
};

static void *narrow_worker(void *arg)
{
	struct mask_race *r = arg;
	int seen = 0, it, i, k;

	while ((it = race_worker_next(&r->race, &seen))) {
		for (i = 1; i < 4; i++) {
			/*
			 * Let the main thread start one to three mmaps under
			 * each mask, the last of them racing the change.
			 */
			k = load_acquire(&r->mmaps) + 1 + (it + i) % 3;
			while (load_acquire(&r->mmaps) < k &&
			       !load_acquire(&r->race.quit))
				sched_yield();
			if (set_prot_mask(r->fd, mask_steps[i]))
				break;
		}
		race_worker_done(&r->race, it);
	}
	return NULL;
}

/* What the shared read-only mapping p may become, probed with mprotect. */
static long may_bits(void *p, size_t len, int probe_exec)
{
	long may = PROT_READ;

	if (mprotect(p, len, PROT_READ | PROT_WRITE) == 0)
		may |= PROT_WRITE;
	else if (errno != EACCES)
		return -1;
	if (probe_exec) {
		if (mprotect(p, len, PROT_READ | PROT_EXEC) == 0)
			may |= PROT_EXEC;
		else if (errno != EACCES)
			return -1;
	}
	return may;
}

TEST(set_prot_mask_racing_mmap_gives_each_mapping_one_mask_of_the_sequence)
{
	enum { ITERATIONS = 100 };
	size_t pg = page_size();
	int probe_exec = !dev_is_noexec();
	long known = probe_exec ? PROT_RWX : PROT_READ | PROT_WRITE;
	struct mask_race r = { .fd = -1 };
	int i, bad = 0, refused = 0, hist[4] = { 0 };
	pthread_t thread;

	ASSERT_EQ(0, pthread_create(&thread, NULL, narrow_worker, &r));
	ASSERT_EQ(0, pthread_detach(thread));
	for (i = 1; i <= ITERATIONS && !bad; i++) {
		int last = 0;

		r.fd = region_new(NULL, pg);
		ASSERT_LE(0, r.fd);
		race_start(&r.race, i);
		while (!last && !bad) {
			long before, after, may;
			void *p;
			int err, k, step = -1;

			last = load_acquire(&r.race.done) == i;
			before = ioctl(r.fd, ASHMEM_GET_PROT_MASK);
			store_release(&r.mmaps, load_acquire(&r.mmaps) + 1);
			p = map_shared(r.fd, pg, PROT_READ);
			err = errno;
			after = ioctl(r.fd, ASHMEM_GET_PROT_MASK);
			if (p == MAP_FAILED) {
				if (err != EPERM || (after & PROT_READ)) {
					TH_LOG("iteration %d: mmap failed with %s, mask %#lx before, %#lx after",
					       i, strerror(err), before, after);
					bad++;
				}
				refused++;
				sched_yield();
				continue;
			}
			may = may_bits(p, pg, probe_exec);
			munmap(p, pg);
			for (k = 0; k < 4; k++)
				if (may == (long)(mask_steps[k] & known))
					step = k;
			if (step < 0 || (may & ~(before & known)) ||
			    ((after & known) & ~may)) {
				TH_LOG("iteration %d: mapping may become %#lx, mask %#lx before the mmap, %#lx after",
				       i, may, before, after);
				bad++;
				continue;
			}
			hist[step]++;
			/* Let the worker run, on this CPU too. */
			sched_yield();
		}
		close(r.fd);
	}
	race_quit(&r.race);
	TH_LOG("mappings made under rwx %d, r-x %d, r-- %d; %d refused",
	       hist[0], hist[1], hist[2], refused);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, refused);
	/* The masks between the first and the last were met. */
	EXPECT_LT(0, hist[1] + hist[2]);
}

/*
 * SET_NAME racing mmap: the backing file gets the name the region has when
 * it is made, and that stays the name GET_NAME reports.
 */
struct name_race {
	struct race race;
	int fd;
};

static void *rename_worker(void *arg)
{
	struct name_race *r = arg;
	int seen = 0, it, i;

	while ((it = race_worker_next(&r->race, &seen))) {
		for (i = 0; i < 2000 && race_going(&r->race, it); i++)
			if (ioctl(r->fd, ASHMEM_SET_NAME,
				  i & 1 ? "renamed-to-a-longer-name" : "short") < 0)
				break;
		race_worker_done(&r->race, it);
	}
	return NULL;
}

TEST(set_name_racing_mmap_names_the_backing_file_as_get_name_reports)
{
	enum { ITERATIONS = 200 };
	size_t pg = page_size();
	struct name_race r = { .fd = -1 };
	int i, bad = 0, mapped = 0;
	pthread_t thread;

	ASSERT_EQ(0, pthread_create(&thread, NULL, rename_worker, &r));
	ASSERT_EQ(0, pthread_detach(thread));
	for (i = 1; i <= ITERATIONS && !bad; i++) {
		char name[ASHMEM_NAME_LEN], maps[512], want[512];
		void *p;

		r.fd = region_new("first", pg);
		ASSERT_LE(0, r.fd);
		race_start(&r.race, i);
		p = map_shared(r.fd, pg, PROT_READ);
		race_stop(&r.race, i);
		ASSERT_MAPPED(p);
		mapped++;
		ASSERT_EQ(0, get_name(r.fd, name));
		ASSERT_EQ(0, maps_lookup(p, NULL, maps, sizeof(maps)));
		snprintf(want, sizeof(want), "/dev/ashmem/%s (deleted)", name);
		if (strcmp(maps, want)) {
			TH_LOG("iteration %d: GET_NAME \"%s\", maps \"%s\"", i,
			       name, maps);
			bad++;
		}
		if (ioctl(r.fd, ASHMEM_SET_NAME, "too-late") == 0) {
			TH_LOG("iteration %d: SET_NAME after mmap", i);
			bad++;
		}
		munmap(p, pg);
		close(r.fd);
	}
	race_quit(&r.race);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, mapped);
}

/* PURGE_ALL_CACHES without CAP_SYS_ADMIN */

/* Sets or clears cap in the calling thread's effective set. */
static int cap_effective(int cap, int on)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	if (on)
		d[cap / 32].effective |= 1u << (cap % 32);
	else
		d[cap / 32].effective &= ~(1u << (cap % 32));
	return syscall(SYS_capset, &h, d);
}

/*
 * A stamped region of 4 pages, mapped in *map, with pages 1 and 2 unpinned
 * and the rest of the LRU emptied first: what a refused PURGE_ALL_CACHES
 * must leave alone.
 */
static int unpinned_region(unsigned char **map)
{
	size_t pg = page_size();
	unsigned char *p;
	int fd;

	p = region_new_stamped("purge-victim", 4, SEED, &fd);
	if (p == MAP_FAILED)
		return -1;
	*map = p;
	if (purge_all_caches(fd) < 0 || unpin_range(fd, pg, 2 * pg)) {
		munmap(p, 4 * pg);
		close(fd);
		return -1;
	}
	return fd;
}

/* The unpinned pages of unpinned_region() were not purged. */
#define EXPECT_NOTHING_PURGED(fd, map) do { \
	EXPECT_EQ(ASHMEM_NOT_PURGED, pin_range(fd, page_size(), 2 * page_size())); \
	EXPECT_TRUE(pages_are(map, 4, 0, SEED, PAGE_STAMPED)); \
} while (0)

TEST(purge_all_caches_as_root_without_cap_sys_admin_is_eperm_and_purges_nothing)
{
	unsigned char *map;
	int fd;

	NEED_ROOT();
	fd = unpinned_region(&map);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, cap_effective(CAP_SYS_ADMIN, 0));
	ASSERT_EQ(0, geteuid());
	EXPECT_EQ(EPERM, ERRNO_OF(purge_all_caches(fd)));
	EXPECT_EQ(ASHMEM_IS_UNPINNED, range_pin_status(fd, page_size(), 0));
	/* With the capability back (it stayed permitted), it works. */
	ASSERT_EQ(0, cap_effective(CAP_SYS_ADMIN, 1));
	EXPECT_NOTHING_PURGED(fd, map);
	EXPECT_LE(0, purge_all_caches(fd));
	munmap(map, 4 * page_size());
	close(fd);
}

/* In a child that became uid: PURGE_ALL_CACHES on fd fails with EPERM. */
static int purge_as(uid_t uid, int fd, int keep_sys_admin, struct child_report *r)
{
	pid_t pid = fork_child();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int ret;

		if (keep_sys_admin && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
			child_fail(r, 2, "PR_SET_KEEPCAPS: %s", strerror(errno));
		if (become_uid(uid))
			child_fail(r, 3, "cannot become uid %d", (int)uid);
		if (keep_sys_admin && cap_effective(CAP_SYS_ADMIN, 1))
			child_fail(r, 4, "capset: %s", strerror(errno));
		ret = purge_all_caches(fd);
		if (keep_sys_admin && ret < 0)
			child_fail(r, 5, "uid %d with CAP_SYS_ADMIN: PURGE_ALL_CACHES: %s",
				   (int)uid, strerror(errno));
		if (!keep_sys_admin && (ret >= 0 || errno != EPERM))
			child_fail(r, 6, "uid %d: PURGE_ALL_CACHES returned %d (%s)",
				   (int)uid, ret, ret < 0 ? strerror(errno) : "allowed");
		_exit(0);
	}
	return wait_child(pid);
}

TEST(purge_all_caches_as_uid_1000_is_eperm_and_purges_nothing)
{
	struct child_report *r = child_report_new();
	unsigned char *map;
	int fd;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	fd = unpinned_region(&map);
	ASSERT_LE(0, fd);
	EXPECT_CHILD_OK(r, purge_as(APP_UID, fd, 0, r));
	EXPECT_NOTHING_PURGED(fd, map);
	munmap(map, 4 * page_size());
	close(fd);
	munmap(r, sizeof(*r));
}

TEST(purge_all_caches_follows_cap_sys_admin_not_uid_0)
{
	struct child_report *r = child_report_new();
	unsigned char *map;
	int fd;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	fd = unpinned_region(&map);
	ASSERT_LE(0, fd);
	EXPECT_CHILD_OK(r, purge_as(APP_UID, fd, 1, r));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, page_size(), 2 * page_size()));
	munmap(map, 4 * page_size());
	close(fd);
	munmap(r, sizeof(*r));
}

/*
 * The root of a user namespace (a container's root) has CAP_SYS_ADMIN only
 * in that namespace: not enough to purge every region of the machine.
 */
TEST(purge_all_caches_as_root_of_a_user_namespace_is_eperm)
{
	struct child_report *r = child_report_new();
	unsigned char *map;
	pid_t pid;
	int fd, st;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	fd = unpinned_region(&map);
	ASSERT_LE(0, fd);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (unshare(CLONE_NEWUSER))
			child_fail(r, 99, "unshare(CLONE_NEWUSER): %s", strerror(errno));
		/* uid 0 inside, mapped to our uid 0 outside. */
		write_text("/proc/self/setgroups", "deny");
		if (write_text("/proc/self/uid_map", "0 0 1"))
			child_fail(r, 2, "uid_map: %s", strerror(errno));
		if (purge_all_caches(fd) >= 0 || errno != EPERM)
			child_fail(r, 3, "namespace root: PURGE_ALL_CACHES %s",
				   errno == EPERM ? "allowed" : strerror(errno));
		_exit(0);
	}
	st = wait_child(pid);
	if (st == 99) {
		munmap(map, 4 * page_size());
		close(fd);
		SKIP(return, "no user namespaces: %s", r->msg);
	}
	EXPECT_CHILD_OK(r, st);
	EXPECT_NOTHING_PURGED(fd, map);
	munmap(map, 4 * page_size());
	close(fd);
	munmap(r, sizeof(*r));
}

/* Kernel memory through GET_NAME and fdinfo */

/* A name of len bytes of fill (buf has room for the NUL). */
static void name_of_length(char *buf, size_t len, char fill)
{
	memset(buf, fill, len);
	buf[len] = '\0';
}

/* Names that shrink and grow, the empty one (the default name) among them. */
static const size_t name_lengths[] = { 255, 1, 100, 0, 3, 254, 2 };

TEST(get_name_after_longer_names_writes_only_string_and_nul)
{
	unsigned char buf[ASHMEM_NAME_LEN + 64];
	char name[ASHMEM_NAME_LEN];
	int fd = region_new(NULL, 0);
	size_t i;

	ASSERT_LE(0, fd);
	for (i = 0; i < ARRAY_SIZE(name_lengths); i++) {
		const char *want = name;
		size_t wlen;

		name_of_length(name, name_lengths[i], 'a' + i);
		ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, name));
		if (!name_lengths[i])
			want = ASHMEM_NAME_DEF;
		wlen = strlen(want);
		memset(buf, 0xAA, sizeof(buf));
		ASSERT_EQ(0, ioctl(fd, ASHMEM_GET_NAME, buf));
		EXPECT_EQ(0, memcmp(buf, want, wlen + 1)) {
			TH_LOG("name of %zu bytes", name_lengths[i]);
		}
		/* Nothing after the NUL: no tail of an earlier, longer name. */
		EXPECT_TRUE(all_bytes_are(buf + wlen + 1, sizeof(buf) - wlen - 1, 0xAA)) {
			TH_LOG("name of %zu bytes", name_lengths[i]);
		}
	}
	close(fd);
}

/* The driver's escaping of a name in fdinfo and the debugfs summary. */
static void escape_name(char *out, size_t outlen, const char *name)
{
	size_t n = 0;

	for (; *name && n + 5 < outlen; name++) {
		unsigned char c = *name;

		if (c > ' ' && c < 0x7f && c != '\\')
			out[n++] = c;
		else
			n += snprintf(out + n, outlen - n, "\\%03o", c);
	}
	out[n] = '\0';
}

/* The name as /proc/PID/maps shows the path: only newlines escaped. */
static void maps_escape(char *out, size_t outlen, const char *name)
{
	size_t n = 0;

	for (; *name && n + 5 < outlen; name++) {
		if (*name == '\n')
			n += snprintf(out + n, outlen - n, "\\012");
		else
			out[n++] = *name;
	}
	out[n] = '\0';
}

/*
 * The next line at *cursor (its newline replaced by a NUL), NULL at the end.
 * Unlike strtok, empty lines are lines too.
 */
static char *next_line(char **cursor)
{
	char *line = *cursor, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = NULL;
	}
	return line;
}

static int all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/*
 * The whole of /proc/self/fdinfo/<fd> must be exactly: the VFS's pos, flags,
 * mnt_id and ino lines, then the driver's region, inode (once mapped), name,
 * size, pinned, unpinned and purged lines, each "key:\tvalue\n", with
 * numbers only where numbers belong and the name escaped; nothing else, no
 * NUL byte. 0 when it is, else -1 with the reason in why.
 */
static int fdinfo_is_exact(int fd, const char *name, size_t size, int mapped,
			   char *why, size_t whylen)
{
	static const char *const keys[] = {
		"pos", "flags", "mnt_id", "ino", "region", "inode", "name",
		"size", "pinned", "unpinned", "purged",
	};
	char path[64], buf[8192], want[ASHMEM_NAME_LEN * 4 + 1], *line, *cur = buf;
	unsigned long long pages = 0;
	size_t k = 0, pg = page_size();
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	len = read_text(path, buf, sizeof(buf));
	if (len < 0) {
		snprintf(why, whylen, "read %s: %s", path, strerror(errno));
		return -1;
	}
	if ((size_t)len != strlen(buf) || !len || buf[len - 1] != '\n') {
		snprintf(why, whylen, "%zd bytes, a NUL or no final newline", len);
		return -1;
	}
	escape_name(want, sizeof(want), *name ? name : ASHMEM_NAME_DEF);
	for (; (line = next_line(&cur)); k++) {
		char *colon = strchr(line, ':'), *val;

		if (k < ARRAY_SIZE(keys) && !strcmp(keys[k], "inode") && !mapped)
			k++;
		if (k >= ARRAY_SIZE(keys)) {
			snprintf(why, whylen, "extra line \"%s\"", line);
			return -1;
		}
		if (!colon || colon[1] != '\t' ||
		    (size_t)(colon - line) != strlen(keys[k]) ||
		    strncmp(line, keys[k], colon - line)) {
			snprintf(why, whylen, "line \"%s\" where \"%s:\\t\" belongs",
				 line, keys[k]);
			return -1;
		}
		val = colon + 2;
		if (!strcmp(keys[k], "name")) {
			if (strcmp(val, want)) {
				snprintf(why, whylen, "name \"%.250s\", expected \"%.250s\"",
					 val, want);
				return -1;
			}
			continue;
		}
		if (!strcmp(keys[k], "flags") ? val[0] != '0' ||
		    strspn(val, "01234567") != strlen(val) : !all_digits(val)) {
			snprintf(why, whylen, "line \"%s\" is not a number", line);
			return -1;
		}
		if (!strcmp(keys[k], "size") && strtoull(val, NULL, 10) != size) {
			snprintf(why, whylen, "size %s, expected %zu", val, size);
			return -1;
		}
		if (!strcmp(keys[k], "pinned") || !strcmp(keys[k], "unpinned") ||
		    !strcmp(keys[k], "purged"))
			pages += strtoull(val, NULL, 10);
	}
	if (k != ARRAY_SIZE(keys)) {
		snprintf(why, whylen, "%zu lines, \"%s\" missing", k,
			 k < ARRAY_SIZE(keys) ? keys[k] : "?");
		return -1;
	}
	if (pages != (size + pg - 1) / pg) {
		snprintf(why, whylen, "pinned + unpinned + purged = %llu pages for size %zu",
			 pages, size);
		return -1;
	}
	return 0;
}

/*
 * Any size may be set before mmap, up to SIZE_MAX. fdinfo's page counts
 * (which any user can read for their own fd) and the summary's totals must
 * round and add such sizes without overflowing (a Rust overflow check is a
 * kernel BUG, which also left the region locked): the counts are exact, the
 * totals saturate.
 */
TEST(fdinfo_and_summary_of_sizes_near_size_max_do_not_overflow)
{
	size_t pg = page_size();
	size_t sizes[] = { SIZE_MAX, SIZE_MAX - pg + 1, SIZE_MAX / 2 + 1 };
	unsigned long long total = 0, want, got;
	char val[64];
	int fds[3], i;

	for (i = 0; i < 3; i++) {
		fds[i] = region_new("huge", 0);
		ASSERT_LE(0, fds[i]);
		ASSERT_EQ(0, set_size(fds[i], sizes[i]));
		ASSERT_EQ(0, fdinfo_value(fds[i], "pinned", val, sizeof(val)));
		want = sizes[i] / pg + (sizes[i] % pg != 0);
		EXPECT_EQ(want, strtoull(val, NULL, 10)) {
			TH_LOG("size %zu: pinned:\t%s", sizes[i], val);
		}
		total = total + sizes[i] < total ? ULLONG_MAX : total + sizes[i];
	}
	if (getuid() == 0 && access(ASHMEM_SUMMARY, R_OK) == 0) {
		ASSERT_EQ(0, summary_value("bytes_reserved", &got));
		/* Other regions may be open too: at least ours, saturated. */
		EXPECT_LE(total, got);
	}
	for (i = 0; i < 3; i++)
		close(fds[i]);
}

TEST(fdinfo_is_exactly_the_documented_lines_through_name_changes)
{
	char name[ASHMEM_NAME_LEN], why[600];
	size_t pg = page_size(), i;
	int fd = region_new(NULL, 3 * pg);
	void *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fdinfo_is_exact(fd, "", 3 * pg, 0, why, sizeof(why))) {
		TH_LOG("fresh region: %s", why);
	}
	for (i = 0; i < ARRAY_SIZE(name_lengths); i++) {
		name_of_length(name, name_lengths[i], 'k' + i);
		ASSERT_EQ(0, ioctl(fd, ASHMEM_SET_NAME, name));
		EXPECT_EQ(0, fdinfo_is_exact(fd, name, 3 * pg, 0, why, sizeof(why))) {
			TH_LOG("after a name of %zu bytes: %s", name_lengths[i], why);
		}
	}
	p = map_shared(fd, 3 * pg, PROT_READ | PROT_WRITE);
	ASSERT_MAPPED(p);
	ASSERT_EQ(0, unpin_range(fd, pg, pg));
	EXPECT_EQ(0, fdinfo_is_exact(fd, name, 3 * pg, 1, why, sizeof(why))) {
		TH_LOG("mapped: %s", why);
	}
	munmap(p, 3 * pg);
	close(fd);
}

/* Stale data after a purge */

/* A stamped region of pages pages whose pages are all unpinned and purged. */
static int purged_region(size_t pages, unsigned int seed, unsigned char **map)
{
	size_t pg = page_size();
	unsigned char *p;
	int fd;

	p = region_new_stamped("stale", pages, seed, &fd);
	if (p == MAP_FAILED)
		return -1;
	*map = p;
	if (unpin_range(fd, 0, 0) || purge_all_caches(fd) < (int)pages) {
		munmap(p, pages * pg);
		close(fd);
		return -1;
	}
	return fd;
}

TEST(purged_pages_read_zero_in_a_new_mapping_and_in_a_child)
{
	size_t pg = page_size();
	struct child_report *r = child_report_new();
	unsigned char *map, *fresh;
	pid_t pid;
	int fd;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	fd = purged_region(4, SEED, &map);
	ASSERT_LE(0, fd);
	/* Still unpinned: a new mapping, read(2) and a child see zeros. */
	fresh = map_shared(fd, 4 * pg, PROT_READ);
	ASSERT_MAPPED(fresh);
	EXPECT_TRUE(pages_are(fresh, 4, 0, SEED, PAGE_ZERO));
	EXPECT_EQ(1, read_pages_are(fd, 0, 4, SEED, PAGE_ZERO));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char *q;

		q = map_shared(fd, 4 * pg, PROT_READ);
		if (q == MAP_FAILED)
			child_fail(r, 2, "mmap: %s", strerror(errno));
		if (!pages_are(q, 4, 0, SEED, PAGE_ZERO))
			child_fail(r, 3, "a new mapping in a child shows more than zeros");
		if (!pages_are(map, 4, 0, SEED, PAGE_ZERO))
			child_fail(r, 4, "the inherited mapping shows more than zeros");
		_exit(0);
	}
	EXPECT_CHILD_OK(r, wait_child(pid));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, 0));
	EXPECT_TRUE(pages_are(map, 4, 0, SEED, PAGE_ZERO));
	munmap(fresh, 4 * pg);
	munmap(map, 4 * pg);
	close(fd);
	munmap(r, sizeof(*r));
}

/*
 * A purge takes the pages out of every process's mappings: a child that
 * mapped and read them before the purge (so they were resident in its page
 * tables) sees zeros after it.
 */
TEST(purge_zeroes_the_pages_in_every_process_that_maps_them)
{
	size_t pg = page_size();
	struct child_report *r = child_report_new();
	int to_child[2], to_parent[2], fd;
	unsigned char *map;
	char c;
	pid_t pid;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	map = region_new_stamped("every-process", 4, SEED, &fd);
	ASSERT_MAPPED(map);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char *q;

		q = map_shared(fd, 4 * pg, PROT_READ);
		if (q == MAP_FAILED)
			child_fail(r, 2, "mmap: %s", strerror(errno));
		/* Fault every page in: resident in this process too. */
		if (!pages_are(q, 4, 0, SEED, PAGE_STAMPED))
			child_fail(r, 3, "the child does not see the data");
		if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
			child_fail(r, 4, "pipe");
		if (!pages_are(q + pg, 2, 1, SEED, PAGE_ZERO))
			child_fail(r, 5, "purged pages still show data in the child");
		if (!pages_are(q, 1, 0, SEED, PAGE_STAMPED) ||
		    !pages_are(q + 3 * pg, 1, 3, SEED, PAGE_STAMPED))
			child_fail(r, 6, "pinned pages lost their data in the child");
		_exit(0);
	}
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	ASSERT_EQ(0, unpin_range(fd, pg, 2 * pg));
	ASSERT_LE(2, purge_all_caches(fd));
	ASSERT_EQ(1, write(to_child[1], "p", 1));
	EXPECT_CHILD_OK(r, wait_child(pid));
	EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, pg, 2 * pg));
	munmap(map, 4 * pg);
	close(fd);
	munmap(r, sizeof(*r));
}

/* 1 when no word of the pages is a stamp of seed (any page number). */
static int no_word_of_seed(const void *p, size_t len, unsigned int seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		if ((uint32_t)(w[i] >> 32) == (seed | 0x80000000u))
			return 0;
	return 1;
}

TEST(region_reused_after_purges_never_shows_old_data)
{
	size_t pg = page_size(), half = page_size() / 2;
	unsigned char *map, *buf = malloc(4 * page_size());
	unsigned int round, old;
	int fd;

	NEED_ROOT();
	ASSERT_NOT_NULL(buf);
	fd = purged_region(4, SEED, &map);
	ASSERT_LE(0, fd);
	for (round = 1; round <= 3; round++) {
		unsigned char *fresh;

		EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fd, 0, 0));
		/* A hole: no data to seek to before the pages are touched. */
		EXPECT_EQ(ENXIO, ERRNO_OF(lseek(fd, 0, SEEK_DATA)));
		ASSERT_EQ((ssize_t)(4 * pg), pread(fd, buf, 4 * pg, 0));
		fresh = map_shared(fd, 4 * pg, PROT_READ);
		ASSERT_MAPPED(fresh);
		for (old = 0; old < round; old++) {
			EXPECT_TRUE(no_word_of_seed(map, 4 * pg, SEED + old));
			EXPECT_TRUE(no_word_of_seed(fresh, 4 * pg, SEED + old));
			EXPECT_TRUE(no_word_of_seed(buf, 4 * pg, SEED + old));
		}
		EXPECT_TRUE(all_bytes_are(map, 4 * pg, 0));
		/* Half of a page written: the other half is zero, not old data. */
		stamp_pages(buf, 1, 1, SEED + round);
		memcpy(map + pg, buf, half);
		EXPECT_TRUE(all_bytes_are(fresh + pg + half, half, 0));
		EXPECT_TRUE(all_bytes_are(map + 2 * pg, 2 * pg, 0));
		munmap(fresh, 4 * pg);
		/* Use it fully, and purge it again. */
		stamp_pages(map, 4, 0, SEED + round);
		ASSERT_EQ(0, unpin_range(fd, 0, 0));
		ASSERT_LE(4, purge_all_caches(fd));
	}
	munmap(map, 4 * pg);
	close(fd);
	free(buf);
}

TEST(purged_and_closed_region_data_does_not_reach_new_regions)
{
	enum { NEW = 8, PAGES = 16 };
	size_t pg = page_size();
	unsigned char *map;
	int fd, i;

	NEED_ROOT();
	fd = purged_region(PAGES, SEED + 77, &map);
	ASSERT_LE(0, fd);
	munmap(map, PAGES * pg);
	close(fd);
	for (i = 0; i < NEW; i++) {
		void *p;
		int nfd = region_mapped("newcomer", PAGES * pg, &p);

		ASSERT_LE(0, nfd);
		EXPECT_TRUE(all_bytes_are(p, PAGES * pg, 0));
		EXPECT_TRUE(no_word_of_seed(p, PAGES * pg, SEED + 77));
		/* Keep these pages, so the next region gets other ones. */
		memset(p, 0xee, PAGES * pg);
		munmap(p, PAGES * pg);
		close(nfd);
	}
}

/*
 * mlocked pages: the purge either frees them (PIN then says WAS_PURGED and
 * they read zero) or leaves them (NOT_PURGED, data intact); never a mix.
 */
TEST(mlocked_pages_are_purged_exactly_as_pin_reports)
{
	size_t pg = page_size();
	unsigned char *map;
	int fd, ret;

	NEED_ROOT();
	map = region_new_stamped("mlocked", 4, SEED, &fd);
	ASSERT_MAPPED(map);
	ASSERT_EQ(0, mlock(map, 4 * pg)) {
		TH_LOG("mlock: %s", strerror(errno));
	}
	ASSERT_LE(0, purge_all_caches(fd));
	ASSERT_EQ(0, unpin_range(fd, pg, 2 * pg));
	ASSERT_LE(0, purge_all_caches(fd));
	ret = pin_range(fd, pg, 2 * pg);
	ASSERT_TRUE(ret == ASHMEM_WAS_PURGED || ret == ASHMEM_NOT_PURGED);
	EXPECT_TRUE(pages_are(map + pg, 2, 1, SEED,
			      ret == ASHMEM_WAS_PURGED ? PAGE_ZERO : PAGE_STAMPED)) {
		TH_LOG("PIN said %s", ret ? "WAS_PURGED" : "NOT_PURGED");
	}
	EXPECT_EQ(1, read_pages_are(fd, pg, 2, SEED,
				    ret == ASHMEM_WAS_PURGED ? PAGE_ZERO : PAGE_STAMPED));
	EXPECT_TRUE(pages_are(map, 1, 0, SEED, PAGE_STAMPED));
	EXPECT_TRUE(pages_are(map + 3 * pg, 1, 3, SEED, PAGE_STAMPED));
	munlock(map, 4 * pg);
	munmap(map, 4 * pg);
	close(fd);
}

/* Names that try to forge lines */

static const char *const hostile_names[] = {
	"two\nlines",
	"evil\npinned:\t0\nsize:\t1",
	"x\n7f0000000000-7f0000001000 rwxp 00000000 00:00 0 [stack]",
	"%n%n%s%s%x%p%%",
	"\x01\x07\x1b[31mred\x7f\t\r",
	"\xff\xfe\x80\xc3\x28 not utf-8",
	"back\\slash\\012",
	"tab\tand space",
	"../../etc/passwd",
	"name:\tforged",
	"trailing newline\n",
};

TEST(hostile_names_are_escaped_in_fdinfo_and_read_back_raw)
{
	char got[ASHMEM_NAME_LEN], why[600];
	size_t pg = page_size(), i;

	for (i = 0; i < ARRAY_SIZE(hostile_names); i++) {
		int fd = region_new(hostile_names[i], pg);
		void *p;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, get_name(fd, got));
		EXPECT_STREQ(hostile_names[i], got);
		EXPECT_EQ(0, fdinfo_is_exact(fd, hostile_names[i], pg, 0, why,
					     sizeof(why))) {
			TH_LOG("name %zu: %s", i, why);
		}
		p = map_shared(fd, pg, PROT_READ);
		ASSERT_MAPPED(p);
		EXPECT_EQ(0, fdinfo_is_exact(fd, hostile_names[i], pg, 1, why,
					     sizeof(why))) {
			TH_LOG("name %zu, mapped: %s", i, why);
		}
		munmap(p, pg);
		close(fd);
	}
}

/* Lines of /proc/self/maps. */
static int maps_lines(void)
{
	char line[4096 + 256];
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

TEST(hostile_names_forge_no_line_in_proc_maps)
{
	enum { N = ARRAY_SIZE(hostile_names) };
	char path[1200], want[1200], esc[1100];
	size_t pg = page_size(), i;
	void *maps[N];
	int fds[N], before, after;

	before = maps_lines();
	ASSERT_LT(0, before);
	for (i = 0; i < N; i++) {
		fds[i] = region_new(hostile_names[i], pg);
		ASSERT_LE(0, fds[i]);
		/* Read-only and shared: no two of them merge into one line. */
		maps[i] = map_shared(fds[i], pg, PROT_READ);
		ASSERT_MAPPED(maps[i]);
	}
	after = maps_lines();
	/* One line per mapping: a name does not make a line of its own. */
	EXPECT_EQ(before + N, after);
	for (i = 0; i < N; i++) {
		ASSERT_EQ(0, maps_lookup(maps[i], NULL, path, sizeof(path))) {
			TH_LOG("name %zu: no maps line", i);
		}
		maps_escape(esc, sizeof(esc), hostile_names[i]);
		snprintf(want, sizeof(want), "/dev/ashmem/%s (deleted)", esc);
		EXPECT_STREQ(want, path);
	}
	for (i = 0; i < N; i++) {
		munmap(maps[i], pg);
		close(fds[i]);
	}
}

/* The region id fdinfo reports, 0 if none. */
static unsigned long long region_id(int fd)
{
	char val[64];

	if (fdinfo_value(fd, "region", val, sizeof(val)))
		return 0;
	return strtoull(val, NULL, 10);
}

/*
 * The summary's region lines all have the 9 tab-separated fields; the one of
 * region id has comm and name escaped as given. 0, or -1 with why.
 */
static int summary_line_is(unsigned long long id, const char *comm,
			   const char *name, char *why, size_t whylen)
{
	size_t buflen = 1 << 20;
	char *buf = malloc(buflen), *line, *cur = buf;
	char want_comm[80], want_name[ASHMEM_NAME_LEN * 4 + 1];
	int header = 0, found = 0, ret = 0;

	if (!buf || read_text(ASHMEM_SUMMARY, buf, buflen) < 0) {
		snprintf(why, whylen, "read %s: %s", ASHMEM_SUMMARY, strerror(errno));
		free(buf);
		return -1;
	}
	escape_name(want_comm, sizeof(want_comm), comm);
	escape_name(want_name, sizeof(want_name), name);
	while (!ret && (line = next_line(&cur))) {
		char *field[10], *f;
		int n = 0;

		if (line[0] == '#') {
			header = 1;
			continue;
		}
		if (!header)
			continue;
		/* strtok would merge empty fields: split by hand. */
		for (f = line; n < 10; n++) {
			field[n] = f;
			f = strchr(f, '\t');
			if (!f) {
				n++;
				break;
			}
			*f++ = '\0';
		}
		if (n != 9 || f) {
			snprintf(why, whylen, "a region line of %d fields", n);
			ret = -1;
			break;
		}
		if (!all_digits(field[0]) || strtoull(field[0], NULL, 10) != id)
			continue;
		found++;
		if (strcmp(field[2], want_comm) || strcmp(field[8], want_name)) {
			snprintf(why, whylen, "comm \"%.60s\" name \"%.250s\", expected \"%.60s\" and \"%.250s\"",
				 field[2], field[8], want_comm, want_name);
			ret = -1;
		}
	}
	if (!ret && found != 1) {
		snprintf(why, whylen, "%d lines for region %llu", found, id);
		ret = -1;
	}
	free(buf);
	return ret;
}

TEST(hostile_names_and_comm_forge_no_line_in_the_debugfs_summary)
{
	static const char comm[] = "ev\til\n%s\\x";
	char why[800];
	size_t i;

	NEED_ROOT();
	if (access(ASHMEM_SUMMARY, R_OK))
		SKIP(return, "no %s", ASHMEM_SUMMARY);
	/* The creator's comm is part of each region's line. */
	ASSERT_EQ(0, prctl(PR_SET_NAME, comm, 0, 0, 0));
	for (i = 0; i < ARRAY_SIZE(hostile_names); i++) {
		int fd = region_new(hostile_names[i], page_size());
		unsigned long long id;

		ASSERT_LE(0, fd);
		id = region_id(fd);
		ASSERT_NE(0, id);
		EXPECT_EQ(0, summary_line_is(id, comm, hostile_names[i], why,
					     sizeof(why))) {
			TH_LOG("name %zu: %s", i, why);
		}
		close(fd);
	}
}

/* What an unprivileged uid can and cannot do */

/* The whole life of a region, as the calling (unprivileged) process. */
static int use_own_region(struct child_report *r)
{
	size_t pg = page_size();
	char val[64], name[ASHMEM_NAME_LEN];
	unsigned char *p;
	int fd = region_new("mine", 2 * pg);

	if (fd < 0)
		child_fail(r, 10, "open and set up: %s", strerror(errno));
	if (get_name(fd, name) || strcmp(name, "mine"))
		child_fail(r, 11, "GET_NAME \"%s\"", name);
	if (set_prot_mask(fd, PROT_READ | PROT_WRITE))
		child_fail(r, 12, "SET_PROT_MASK: %s", strerror(errno));
	p = map_shared(fd, 2 * pg, PROT_READ | PROT_WRITE);
	if (p == MAP_FAILED)
		child_fail(r, 13, "mmap: %s", strerror(errno));
	stamp_pages(p, 2, 0, SEED);
	if (unpin_range(fd, pg, pg) ||
	    range_pin_status(fd, 0, 0) != ASHMEM_IS_UNPINNED)
		child_fail(r, 14, "UNPIN / GET_PIN_STATUS: %s", strerror(errno));
	if (pin_range(fd, pg, pg) < 0)
		child_fail(r, 15, "PIN: %s", strerror(errno));
	if (read_pages_are(fd, 0, 1, SEED, PAGE_STAMPED) != 1)
		child_fail(r, 16, "read(2) of the own region");
	if (fdinfo_value(fd, "name", val, sizeof(val)) || strcmp(val, "mine"))
		child_fail(r, 17, "own fdinfo unreadable or wrong");
	if (purge_all_caches(fd) >= 0 || errno != EPERM)
		child_fail(r, 18, "PURGE_ALL_CACHES not refused with EPERM");
	munmap(p, 2 * pg);
	close(fd);
	return 0;
}

TEST(unprivileged_uids_can_use_their_own_regions)
{
	struct child_report *r = child_report_new();
	uid_t uids[2] = { APP_UID, NOBODY };
	int i;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	for (i = 0; i < 2; i++) {
		pid_t pid = fork_as(uids[i], r);

		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(use_own_region(r));
		EXPECT_EQ(0, wait_child(pid)) {
			TH_LOG("uid %d: %s", (int)uids[i], r->msg);
		}
	}
	munmap(r, sizeof(*r));
}

/* In a child as uid: opening path must fail with EACCES or EPERM. */
static int open_refused_as(uid_t uid, const char *path, struct child_report *r)
{
	pid_t pid = fork_as(uid, r);

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd;

		fd = open(path, O_RDONLY);
		if (fd >= 0)
			child_fail(r, 3, "uid %d opened %s", (int)uid, path);
		if (errno != EACCES && errno != EPERM)
			child_fail(r, 4, "uid %d: open %s: %s", (int)uid, path,
				   strerror(errno));
		_exit(0);
	}
	return wait_child(pid);
}

TEST(unprivileged_uid_cannot_reach_root_regions_through_proc)
{
	struct child_report *r = child_report_new();
	char path[160];
	size_t pg = page_size();
	unsigned long start;
	unsigned char *p;
	int fd, i;
	uid_t uids[2] = { APP_UID, NOBODY };

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	fd = read_only_region(1, 1, &p);
	ASSERT_LE(0, fd);
	start = (unsigned long)p;
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)getpid(), fd);
		EXPECT_CHILD_OK(r, open_refused_as(uids[i], path, r));
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), fd);
		EXPECT_CHILD_OK(r, open_refused_as(uids[i], path, r));
		snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx",
			 (int)getpid(), start, start + pg);
		EXPECT_CHILD_OK(r, open_refused_as(uids[i], path, r));
	}
	munmap(p, pg);
	close(fd);
	munmap(r, sizeof(*r));
}

TEST(unprivileged_uid_cannot_reopen_its_own_map_files)
{
	struct child_report *r = child_report_new();
	pid_t pid;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	pid = fork_as(APP_UID, r);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char path[128];
		size_t pg = page_size();
		unsigned char *p;
		int fd, mf, err;

		fd = read_only_region(1, 1, &p);
		if (fd < 0)
			child_fail(r, 3, "region: %s", strerror(errno));
		map_files_path(path, sizeof(path), p, pg);
		mf = open(path, O_RDWR);
		if (mf < 0 && errno != EPERM && errno != EACCES)
			child_fail(r, 4, "open %s: %s", path, strerror(errno));
		/* If the open works after all, the mapping still must not. */
		if (mf >= 0) {
			err = mmap_errno(mf, pg, PROT_READ | PROT_WRITE, MAP_SHARED);
			if (err != EPERM)
				child_fail(r, 5, "mmap of the reopened backing file: %s",
					   err ? strerror(err) : "mapped");
		}
		_exit(0);
	}
	EXPECT_CHILD_OK(r, wait_child(pid));
	munmap(r, sizeof(*r));
}

TEST(debugfs_summary_is_root_only)
{
	struct child_report *r = child_report_new();
	unsigned long long regions;
	struct stat st;

	NEED_ROOT();
	ASSERT_NOT_NULL(r);
	if (stat(ASHMEM_SUMMARY, &st))
		SKIP(return, "no %s", ASHMEM_SUMMARY);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_mode & 077) {
		TH_LOG("mode %o", st.st_mode & 07777);
	}
	EXPECT_EQ(0, summary_value("regions", &regions));
	EXPECT_CHILD_OK(r, open_refused_as(APP_UID, ASHMEM_SUMMARY, r));
	EXPECT_CHILD_OK(r, open_refused_as(NOBODY, ASHMEM_SUMMARY, r));
	munmap(r, sizeof(*r));
}

TEST_HARNESS_MAIN
