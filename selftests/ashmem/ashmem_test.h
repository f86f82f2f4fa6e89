/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the ashmem selftest programs. Everything here is static
 * inline (every .c file in this directory is its own test program), and works
 * the same in the 64-bit and the -m32 build.
 *
 * Include this after kselftest_harness.h and ashmem_uapi.h, and define
 * _GNU_SOURCE and _FILE_OFFSET_BITS=64 before any system header so that the
 * 32-bit build uses 64-bit off_t and ino_t (stat of a shmem inode, lseek).
 */
#ifndef ASHMEM_TEST_H
#define ASHMEM_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ashmem_uapi.h"

/* The prefix of the backing file's name (not part of what GET_NAME returns). */
#define ASHMEM_NAME_PREFIX	"dev/ashmem/"

/* All the bits a prot mask may hold. */
#define PROT_RWX		(PROT_READ | PROT_WRITE | PROT_EXEC)

/* An unprivileged identity for the tests that drop root. */
#define NOBODY			65534

/*
 * Pointer checks: the harness prints both sides as integers, which does not
 * build for pointers in the 32-bit program, so compare to a truth value.
 */
#define ASSERT_MAPPED(p) \
	ASSERT_TRUE((p) != MAP_FAILED) { \
		TH_LOG("mmap failed: %s", strerror(errno)); \
	}
#define ASSERT_NOT_NULL(p)	ASSERT_TRUE((p) != NULL)

/* errno of a failed call, 0 when the call succeeded (returned >= 0). */
#define ERRNO_OF(expr)		((expr) < 0 ? errno : 0)

static inline size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Open a new region, name it (if name) and size it (if size). -1 on error. */
static inline int region_new(const char *name, size_t size)
{
	int fd = open(ASHMEM_DEVICE, O_RDWR);
	int err;

	if (fd < 0)
		return -1;
	if (name && ioctl(fd, ASHMEM_SET_NAME, name) < 0)
		goto fail;
	if (size && ioctl(fd, ASHMEM_SET_SIZE, size) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static inline int set_size(int fd, size_t size)
{
	return ioctl(fd, ASHMEM_SET_SIZE, size);
}

static inline int set_prot_mask(int fd, unsigned long mask)
{
	return ioctl(fd, ASHMEM_SET_PROT_MASK, mask);
}

/* GET_NAME into buf (ASHMEM_NAME_LEN bytes); buf is "" on failure. */
static inline int get_name(int fd, char *buf)
{
	int ret;

	memset(buf, 0, ASHMEM_NAME_LEN);
	ret = ioctl(fd, ASHMEM_GET_NAME, buf);
	if (ret < 0)
		buf[0] = '\0';
	return ret;
}

/* A shared mapping of the first len bytes of the region, MAP_FAILED on error. */
static inline void *map_shared(int fd, size_t len, int prot)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, 0);
}

/*
 * Try a mapping that is expected to fail: the errno it failed with, or 0 when
 * it succeeded (the mapping is then removed again).
 */
static inline int mmap_errno(int fd, size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, len);
	return 0;
}

/*
 * The exit status of a child, 128 + signal when it was killed, -1 when it
 * could not be waited for.
 */
static inline int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Fill len bytes with a pattern derived from seed; check it back. */
static inline void fill_pattern(void *p, size_t len, unsigned int seed)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		c[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8) + 1);
}

static inline int check_pattern(const void *p, size_t len, unsigned int seed)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 8) + 1))
			return 0;
	return 1;
}

static inline int all_bytes_are(const void *p, size_t len, unsigned char v)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != v)
			return 0;
	return 1;
}

/* Copy src into dst of dstlen bytes, truncating; dst is NUL-terminated. */
static inline void copy_str(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (!dstlen)
		return;
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The name of the /proc/self/map_files entry of the mapping [addr, addr+len). */
static inline void map_files_path(char *buf, size_t buflen, const void *addr,
				  size_t len)
{
	unsigned long start = (unsigned long)addr;

	snprintf(buf, buflen, "/proc/self/map_files/%lx-%lx", start, start + len);
}

/*
 * Find the /proc/self/maps line of the mapping starting at addr: its inode
 * column and its path (what follows the inode, leading blanks and the newline
 * removed; "" for none). 0 when found, -1 otherwise.
 */
static inline int maps_lookup(const void *addr, unsigned long long *ino,
			      char *path, size_t pathlen)
{
	char line[4096 + 256];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		unsigned long long offset, inode;
		unsigned int major, minor;
		char perms[8];
		int n = 0;
		char *p;

		if (sscanf(line, "%lx-%lx %7s %llx %x:%x %llu%n", &start, &end,
			   perms, &offset, &major, &minor, &inode, &n) < 7)
			continue;
		if (start != (unsigned long)addr)
			continue;
		p = line + n;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\n")] = '\0';
		if (ino)
			*ino = inode;
		if (path)
			copy_str(path, pathlen, p);
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

/*
 * The value of the "key:\t" line of /proc/self/fdinfo/<fd> (newline removed)
 * into val. 0 when the line is there, -1 otherwise.
 */
static inline int fdinfo_value(int fd, const char *key, char *val, size_t vallen)
{
	char path[64], line[512];
	size_t keylen = strlen(key);
	FILE *f;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, keylen) || line[keylen] != ':' ||
		    line[keylen + 1] != '\t')
			continue;
		line[strcspn(line, "\n")] = '\0';
		copy_str(val, vallen, line + keylen + 2);
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

/*
 * An address that is certainly not mapped: a page that was mapped and then
 * unmapped again. NULL if that could not be arranged.
 */
static inline void *unmapped_address(void)
{
	size_t pg = page_size();
	void *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, pg);
	return p;
}

/*
 * Two pages of which only the first stays mapped: returns the first page
 * (read/write), the byte after it faults. Release with munmap(p, page_size()).
 */
static inline char *page_before_hole(void)
{
	size_t pg = page_size();
	char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p + pg, pg);
	return p;
}

#endif
