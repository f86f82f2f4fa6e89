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
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ashmem_uapi.h"

/* The prefix of the backing file's name (not part of what GET_NAME returns). */
#define ASHMEM_NAME_PREFIX	"dev/ashmem/"

/* All the bits a prot mask may hold. */
#define PROT_RWX		(PROT_READ | PROT_WRITE | PROT_EXEC)

/* An unprivileged identity for the tests that drop root. */
#define NOBODY			65534

/* Seconds a forked helper may live before it is killed (no test may hang). */
#define CHILD_ALARM		20

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

/* The monotonic clock, in milliseconds and in seconds. */
static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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

/* region_new() with the prot mask narrowed to mask. -1 on error. */
static inline int region_new_masked(const char *name, size_t size,
				    unsigned long mask)
{
	int fd = region_new(name, size);
	int err;

	if (fd < 0 || !set_prot_mask(fd, mask))
		return fd;
	err = errno;
	close(fd);
	errno = err;
	return -1;
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
 * A new region of size bytes (named name, unless NULL) with its first len
 * bytes mapped shared with prot: the mapping, and *fd. MAP_FAILED when any
 * step failed (errno kept, *fd -1, nothing left open).
 */
static inline void *region_new_mapped(const char *name, size_t size, size_t len,
				      int prot, int *fd)
{
	void *map;
	int err;

	*fd = region_new(name, size);
	if (*fd < 0)
		return MAP_FAILED;
	map = map_shared(*fd, len, prot);
	if (map != MAP_FAILED)
		return map;
	err = errno;
	close(*fd);
	*fd = -1;
	errno = err;
	return MAP_FAILED;
}

/*
 * region_new() with the backing file made, no page touched (one page mapped
 * and unmapped again). The fd, -1 on error (errno kept, nothing left open).
 */
static inline int region_with_file(const char *name, size_t size)
{
	size_t pg = page_size();
	int fd;
	void *p = region_new_mapped(name, size, pg, PROT_READ | PROT_WRITE, &fd);

	if (p == MAP_FAILED)
		return -1;
	munmap(p, pg);
	return fd;
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

/*
 * fork(), the child with an alarm of CHILD_ALARM seconds: a helper process
 * that gets stuck is killed rather than hang the test. Wait for it with
 * wait_child().
 */
static inline pid_t fork_child(void)
{
	pid_t pid = fork();

	if (pid == 0)
		alarm(CHILD_ALARM);
	return pid;
}

/* Drop to uid (and the same gid, no supplementary groups) for good: 0, or -1. */
static inline int become_uid(uid_t uid)
{
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid))
		return -1;
	return geteuid() == uid ? 0 : -1;
}

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE	4	/* linux/module.h, since 6.0 */
#endif

/*
 * finit_module(2) of the module file $ASHMEM_KO (set by the guest job), as
 * kmod loads it: a file compressed as distributions and DKMS install modules
 * (.ko.xz, .ko.zst, .ko.gz: Debian's) is decompressed by the kernel. 0, or
 * the errno it failed with (ENOENT without $ASHMEM_KO).
 */
static inline int load_module_file(void)
{
	const char *ko = getenv("ASHMEM_KO");
	const char *dot = ko ? strrchr(ko, '.') : NULL;
	int flags = 0, fd, err = 0;

	if (!ko)
		return ENOENT;
	if (dot && (!strcmp(dot, ".xz") || !strcmp(dot, ".zst") || !strcmp(dot, ".gz")))
		flags = MODULE_INIT_COMPRESSED_FILE;
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (syscall(SYS_finit_module, fd, "", flags) != 0)
		err = errno;
	close(fd);
	return err;
}

/*
 * Turn on the READ_IMPLIES_EXEC personality (PROT_READ then brings
 * PROT_EXEC at mmap and mprotect): 0, or -1. The harness runs every test in
 * its own process, so this does not leak into other tests.
 */
static inline int enable_read_implies_exec(void)
{
	int cur = personality(0xffffffff);

	if (cur < 0 || personality((unsigned long)cur | READ_IMPLIES_EXEC) < 0)
		return -1;
	return (personality(0xffffffff) & READ_IMPLIES_EXEC) ? 0 : -1;
}

/* 1 when the device's file system is mounted noexec (the VFS then refuses PROT_EXEC). */
static inline int dev_is_noexec(void)
{
	struct statvfs sv;

	return statvfs(ASHMEM_DEVICE, &sv) == 0 && (sv.f_flag & ST_NOEXEC);
}

/*
 * A message of one data byte and room for one fd in its control part, for
 * send_fd() and recv_fd(); fd_msg_init() points the header at the rest.
 */
struct fd_msg {
	char byte;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr hdr;
};

static inline struct msghdr *fd_msg_init(struct fd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->byte = 'f';
	m->iov.iov_base = &m->byte;
	m->iov.iov_len = 1;
	m->hdr.msg_iov = &m->iov;
	m->hdr.msg_iovlen = 1;
	m->hdr.msg_control = m->u.buf;
	m->hdr.msg_controllen = sizeof(m->u.buf);
	return &m->hdr;
}

/* Pass fd over a Unix socket (SCM_RIGHTS): 0, or -1 with errno. */
static inline int send_fd(int sock, int fd)
{
	struct fd_msg m;
	struct msghdr *msg = fd_msg_init(&m);
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg);

	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, msg, 0) == 1 ? 0 : -1;
}

/*
 * Receive the one fd send_fd() passed; flags for recvmsg (MSG_CMSG_CLOEXEC).
 * The fd, or -1 when none came.
 */
static inline int recv_fd(int sock, int flags)
{
	struct fd_msg m;
	struct msghdr *msg = fd_msg_init(&m);
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, msg, flags) != 1)
		return -1;
	cmsg = CMSG_FIRSTHDR(msg);
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET ||
	    cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

/*
 * A worker thread racing the main thread, once per iteration (iterations are
 * numbered from 1). The two meet only through these atomics and
 * sched_yield(), never a sleeping wait, so the worker is already at work
 * when the main thread makes the call it races:
 *
 *	worker:	while ((it = race_worker_next(r, &seen))) {
 *			while (... && race_going(r, it))
 *				the racing call;
 *			race_worker_done(r, it);
 *		}
 *	main:	for each iteration it: race_start(r, it); the call;
 *		race_stop(r, it); check; then race_quit(r).
 */
struct race {
	int go;		/* iteration the main thread started */
	int running;	/* iteration the worker is at work in */
	int stop;	/* iteration the main thread is done in */
	int done;	/* iteration the worker stopped in, -1 once it quit */
	int quit;
};

static inline int load_acquire(int *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static inline void store_release(int *v, int x)
{
	__atomic_store_n(v, x, __ATOMIC_RELEASE);
}

/*
 * Worker: wait for the iteration after *seen and say it runs; its number, or
 * 0 when the main thread asked it to quit (it is then counted as quit).
 */
static inline int race_worker_next(struct race *r, int *seen)
{
	int it;

	while ((it = load_acquire(&r->go)) == *seen && !load_acquire(&r->quit))
		sched_yield();
	if (load_acquire(&r->quit)) {
		store_release(&r->done, -1);
		return 0;
	}
	*seen = it;
	store_release(&r->running, it);
	return it;
}

/* Worker: 1 until the main thread is done with iteration it. */
static inline int race_going(struct race *r, int it)
{
	return load_acquire(&r->stop) != it;
}

static inline void race_worker_done(struct race *r, int it)
{
	store_release(&r->done, it);
}

/* Main thread: start iteration it, return once the worker is at work. */
static inline void race_start(struct race *r, int it)
{
	store_release(&r->go, it);
	while (load_acquire(&r->running) != it)
		sched_yield();
}

/* Main thread: end iteration it, return once the worker stopped. */
static inline void race_stop(struct race *r, int it)
{
	store_release(&r->stop, it);
	while (load_acquire(&r->done) != it)
		sched_yield();
}

/* Main thread: end the worker, return once it quit. */
static inline void race_quit(struct race *r)
{
	store_release(&r->quit, 1);
	while (load_acquire(&r->done) != -1)
		sched_yield();
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
 * Find the /proc/self/maps line of the mapping starting at addr: its
 * permission column (perms has room for 8 bytes), its inode column and its
 * path (what follows the inode, leading blanks and the newline removed; ""
 * for none), each unless NULL. 0 when found, -1 otherwise.
 */
static inline int maps_entry(const void *addr, char *perms, unsigned long long *ino,
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
		char perm[8];
		int n = 0;
		char *p;

		if (sscanf(line, "%lx-%lx %7s %llx %x:%x %llu%n", &start, &end,
			   perm, &offset, &major, &minor, &inode, &n) < 7)
			continue;
		if (start != (unsigned long)addr)
			continue;
		p = line + n;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\n")] = '\0';
		if (perms)
			memcpy(perms, perm, sizeof(perm));
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

/* maps_entry()'s inode and path of the mapping starting at addr. */
static inline int maps_lookup(const void *addr, unsigned long long *ino,
			      char *path, size_t pathlen)
{
	return maps_entry(addr, NULL, ino, path, pathlen);
}

/* The permission column ("r--s"...) of the mapping starting at addr. */
static inline int maps_perms(const void *addr, char perms[8])
{
	return maps_entry(addr, perms, NULL, NULL, 0);
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

/*
 * Pinning, purging, memory cgroups and the shrinker's debugfs files: helpers
 * for purge.c and pressure.c. (pin.c keeps its own pin()/unpin().)
 */
#include <dirent.h>
#include <sys/stat.h>

/*
 * Most one-page ranges one region can hold: pin offsets and lengths are
 * 32-bit, so a range ends at 2^32 - page at most, and a region whose every
 * other page is unpinned holds 2^31 / page ranges (2^19 with 4 KiB pages),
 * in 2^32 / page - 1 pages.
 */
#define MAX_RANGES_PER_REGION	((unsigned long)((1ULL << 31) / page_size()))

static inline int pin_ioctl(int fd, unsigned long cmd, size_t offset, size_t len)
{
	struct ashmem_pin pin = { .offset = offset, .len = len };

	return ioctl(fd, cmd, &pin);
}

/* ASHMEM_PIN: ASHMEM_NOT_PURGED or ASHMEM_WAS_PURGED, -1 on error. */
static inline int pin_range(int fd, size_t offset, size_t len)
{
	return pin_ioctl(fd, ASHMEM_PIN, offset, len);
}

static inline int unpin_range(int fd, size_t offset, size_t len)
{
	return pin_ioctl(fd, ASHMEM_UNPIN, offset, len);
}

/* ASHMEM_GET_PIN_STATUS: ASHMEM_IS_PINNED or ASHMEM_IS_UNPINNED. */
static inline int range_pin_status(int fd, size_t offset, size_t len)
{
	return pin_ioctl(fd, ASHMEM_GET_PIN_STATUS, offset, len);
}

/* PURGE_ALL_CACHES through any region fd: pages on the LRU before it. */
static inline int purge_all_caches(int fd)
{
	return ioctl(fd, ASHMEM_PURGE_ALL_CACHES);
}

/*
 * A region of size bytes mapped shared read/write over its whole size (so it
 * has its backing file): the fd, *map set; -1 on error (errno kept).
 */
static inline int region_mapped(const char *name, size_t size, void **map)
{
	int fd;

	*map = region_new_mapped(name, size, size, PROT_READ | PROT_WRITE, &fd);
	return fd;
}

/*
 * Page contents that cannot be mistaken for zeros or for another page: every
 * 64-bit word of page pageno of the pages stamped with seed holds the seed
 * (with the top bit set, so never zero), the page number and the word index.
 * Word-wise, so that hundreds of MiB stay quick under emulation.
 */
static inline uint64_t stamp_word(unsigned int seed, size_t pageno, size_t word)
{
	return (uint64_t)(seed | 0x80000000u) << 32 |
	       (uint32_t)(pageno << 12 ^ word);
}

static inline void stamp_pages(void *p, size_t npages, size_t first_pageno,
			       unsigned int seed)
{
	size_t words = page_size() / sizeof(uint64_t);
	uint64_t *w = p;
	size_t i, j;

	for (i = 0; i < npages; i++)
		for (j = 0; j < words; j++)
			*w++ = stamp_word(seed, first_pageno + i, j);
}

/*
 * A new region of npages pages (named name) mapped shared read/write over its
 * whole size, every page stamped with seed (page i with page number i): the
 * mapping, and *fd. MAP_FAILED on error (errno kept, *fd -1).
 */
static inline void *region_new_stamped(const char *name, size_t npages,
				       unsigned int seed, int *fd)
{
	size_t size = npages * page_size();
	void *map = region_new_mapped(name, size, size, PROT_READ | PROT_WRITE, fd);

	if (map != MAP_FAILED)
		stamp_pages(map, npages, 0, seed);
	return map;
}

/*
 * Release a region and its mapping of len bytes: for fixture teardowns, which
 * may find either not made (map NULL or MAP_FAILED, fd 0).
 */
static inline void region_release(int fd, void *map, size_t len)
{
	if (map && map != MAP_FAILED)
		munmap(map, len);
	if (fd > 0)
		close(fd);
}

/* What one page holds: its stamp, all zeros, or anything else. */
enum page_state { PAGE_STAMPED, PAGE_ZERO, PAGE_OTHER };

static inline enum page_state page_state(const void *p, size_t pageno,
					 unsigned int seed)
{
	size_t words = page_size() / sizeof(uint64_t);
	const uint64_t *w = p;
	size_t j;

	if (w[0] == 0) {
		for (j = 1; j < words; j++)
			if (w[j])
				return PAGE_OTHER;
		return PAGE_ZERO;
	}
	for (j = 0; j < words; j++)
		if (w[j] != stamp_word(seed, pageno, j))
			return PAGE_OTHER;
	return PAGE_STAMPED;
}

/* 1 when every one of npages pages from p is in state want. */
static inline int pages_are(const void *p, size_t npages, size_t first_pageno,
			    unsigned int seed, enum page_state want)
{
	const char *c = p;
	size_t i;

	for (i = 0; i < npages; i++)
		if (page_state(c + i * page_size(), first_pageno + i, seed) != want)
			return 0;
	return 1;
}

/*
 * The same check through read(2) on the region fd (lseek to offset first):
 * reading never allocates pages for holes, so it works on a region whose
 * pages were purged, inside a cgroup at its limit too. -1 when the read
 * fails.
 */
static inline int read_pages_are(int fd, size_t offset, size_t npages,
				 unsigned int seed, enum page_state want)
{
	size_t pg = page_size();
	char *buf = malloc(pg);
	size_t i;
	int ok = 1;

	if (!buf)
		return -1;
	if (lseek(fd, offset, SEEK_SET) != (off_t)offset)
		ok = -1;
	for (i = 0; ok == 1 && i < npages; i++) {
		if (read(fd, buf, pg) != (ssize_t)pg)
			ok = -1;
		else if (page_state(buf, offset / pg + i, seed) != want)
			ok = 0;
	}
	free(buf);
	return ok;
}

/*
 * In a FIXTURE whose data holds a region's fd, the page size pg and map, the
 * region's pages mapped and stamped with the program's SEED: page i through
 * the mapping, and whether pages [first, first + n) are in state st through
 * the mapping and through read(2) on the fd.
 */
#define PAGE(i)		(self->map + (i) * self->pg)
#define MAP_PAGES_ARE(first, n, st) \
	pages_are(PAGE(first), n, first, SEED, st)
#define READ_PAGES_ARE(first, n, st) \
	read_pages_are(self->fd, (first) * self->pg, n, SEED, st)

/* Write the string s to the file at path: 0, or -1 with errno. */
static inline int write_text(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -1;
	n = write(fd, s, len);
	err = errno;
	close(fd);
	if (n == (ssize_t)len)
		return 0;
	errno = n < 0 ? err : EIO;
	return -1;
}

/* Read the file at path into buf (NUL-terminated): bytes read, -1 on error. */
static inline ssize_t read_text(const char *path, char *buf, size_t buflen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n = 0;
	int err;

	if (fd < 0)
		return -1;
	while (got + 1 < buflen) {
		n = read(fd, buf + got, buflen - 1 - got);
		if (n <= 0)
			break;
		got += n;
	}
	err = errno;
	close(fd);
	buf[got] = '\0';
	if (n < 0) {
		errno = err;
		return -1;
	}
	return got;
}

/* The value of the "key value" line of a flat-keyed file (memory.events...). */
static inline long long keyed_value(const char *path, const char *key)
{
	char buf[4096], *line, *save = NULL;
	size_t keylen = strlen(key);

	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, key, keylen) && line[keylen] == ' ')
			return strtoll(line + keylen + 1, NULL, 10);
	return -1;
}

/* Where cgroup v2 is mounted (the guest job and every systemd host agree). */
#define CGROUP2_ROOT		"/sys/fs/cgroup"

/* 1 when cgroup v2 is mounted at CGROUP2_ROOT with the memory controller. */
static inline int cgroup2_has_memory(void)
{
	char buf[512], *tok, *save = NULL;

	if (read_text(CGROUP2_ROOT "/cgroup.controllers", buf, sizeof(buf)) < 0)
		return 0;
	for (tok = strtok_r(buf, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, "memory"))
			return 1;
	return 0;
}

/* The directory of this process's cgroup v2 (from /proc/self/cgroup). */
static inline int cgroup_self_dir(char *buf, size_t buflen)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *rel = line + 3;

		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		/* "0::/" is the root itself. */
		if (!strcmp(rel, "/"))
			rel = "";
		if (strlen(CGROUP2_ROOT) + strlen(rel) < buflen) {
			memcpy(buf, CGROUP2_ROOT, strlen(CGROUP2_ROOT));
			copy_str(buf + strlen(CGROUP2_ROOT),
				 buflen - strlen(CGROUP2_ROOT), rel);
			found = 0;
		}
		break;
	}
	fclose(f);
	return found;
}

/*
 * The directory of the memory cgroup this process is charged to: its own
 * cgroup when the memory controller is enabled there, else the nearest
 * ancestor where it is (the root at the latest).
 */
static inline int memcg_self_dir(char *buf, size_t buflen)
{
	char probe[4096 + 16];
	struct stat st;
	char *slash;

	if (cgroup_self_dir(buf, buflen))
		return -1;
	while (strcmp(buf, CGROUP2_ROOT)) {
		snprintf(probe, sizeof(probe), "%s/memory.max", buf);
		if (!stat(probe, &st))
			break;
		slash = strrchr(buf, '/');
		if (!slash)
			return -1;
		*slash = '\0';
	}
	return 0;
}

/*
 * The id of a cgroup as the kernel prints it (mem_cgroup_id(), the debugfs
 * shrinker files): the inode number of its directory. 0 on error.
 */
static inline unsigned long long cgroup_ino(const char *dir)
{
	struct stat st;

	if (stat(dir, &st))
		return 0;
	return st.st_ino;
}

/* Move process pid (0: the caller) into the cgroup dir. */
static inline int cgroup_enter(const char *dir, pid_t pid)
{
	char path[4096 + 16], num[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(num, sizeof(num), "%d", (int)pid);
	return write_text(path, num);
}

/*
 * Make sure the root's children get the memory controller. *enabled_here is
 * set when this call turned it on (so the caller can turn it off again).
 */
static inline int cgroup2_enable_memory(int *enabled_here)
{
	char buf[512];

	*enabled_here = 0;
	if (read_text(CGROUP2_ROOT "/cgroup.subtree_control", buf, sizeof(buf)) < 0)
		return -1;
	if (strstr(buf, "memory"))
		return 0;
	if (write_text(CGROUP2_ROOT "/cgroup.subtree_control", "+memory"))
		return -1;
	*enabled_here = 1;
	return 0;
}

/*
 * Remove the cgroup dir (best effort, for teardown): kill whatever still runs
 * in it, wait up to about 10 s until it is empty, then rmdir. 0 when the
 * directory is gone.
 */
static inline int cgroup_remove(const char *dir)
{
	char path[4096 + 16];
	struct stat st;
	int i;

	if (stat(dir, &st))
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
	write_text(path, "1");
	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	for (i = 0; i < 1000; i++) {
		if (keyed_value(path, "populated") <= 0)
			break;
		usleep(10000);
	}
	return rmdir(dir);
}

/*
 * A child cgroup of the root with the memory controller, made for one test:
 * child_cgroup_make() in FIXTURE_SETUP, child_cgroup_remove() in
 * FIXTURE_TEARDOWN_PARENT (which runs once the test process is gone, and so
 * out of the cgroup).
 */
struct child_cgroup {
	int memory_enabled_here;	/* this test turned +memory on at the root */
	int made;			/* the directory was made */
};

/*
 * Make the cgroup dir, after removing a leftover of an interrupted run, with
 * the memory controller enabled for the root's children: 0, or the errno of
 * the step that failed, *step naming it ("+memory" or "mkdir"). A failed
 * setup gets no teardown, so a failed mkdir turns +memory off again.
 */
static inline int child_cgroup_make(struct child_cgroup *cg, const char *dir,
				    const char **step)
{
	int err;

	cgroup_remove(dir);
	*step = "+memory";
	if (cgroup2_enable_memory(&cg->memory_enabled_here))
		return errno;
	*step = "mkdir";
	err = mkdir(dir, 0755) ? errno : 0;
	if (err && cg->memory_enabled_here)
		write_text(CGROUP2_ROOT "/cgroup.subtree_control", "-memory");
	cg->made = !err;
	return err;
}

/*
 * Remove the cgroup dir if it was made (killing what still runs in it), and
 * turn +memory off if this test turned it on: 0, or -1 with errno when the
 * directory would not go.
 */
static inline int child_cgroup_remove(struct child_cgroup *cg, const char *dir)
{
	int err = cg->made && cgroup_remove(dir) ? errno : 0;

	if (cg->memory_enabled_here)
		write_text(CGROUP2_ROOT "/cgroup.subtree_control", "-memory");
	errno = err;
	return err ? -1 : 0;
}

/* The shrinkers' debugfs directory (CONFIG_SHRINKER_DEBUG). */
#define SHRINKER_DEBUGFS	"/sys/kernel/debug/shrinker"

/*
 * The debugfs directory of the shrinker named "ashmem": "<name>-<id>", the
 * id being a decimal number. Returns how many matched (the path is that of
 * the first), -1 when the shrinker directory itself cannot be opened.
 */
static inline int ashmem_shrinker_dir(char *buf, size_t buflen)
{
	DIR *d = opendir(SHRINKER_DEBUGFS);
	struct dirent *e;
	int found = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		const char *id = e->d_name + strlen("ashmem-");

		if (strncmp(e->d_name, "ashmem-", strlen("ashmem-")) || !*id ||
		    strspn(id, "0123456789") != strlen(id))
			continue;
		if (!found++)
			snprintf(buf, buflen, "%s/%s", SHRINKER_DEBUGFS, e->d_name);
	}
	closedir(d);
	return found;
}

/* Skip unless the "ashmem" shrinker's debugfs directory is there; set dir. */
#define NEED_SHRINKER_DIR(dir) do { \
	int __n = ashmem_shrinker_dir(dir, sizeof(dir)); \
	if (__n < 0) \
		SKIP(return, "no %s (needs debugfs and CONFIG_SHRINKER_DEBUG)", \
		     SHRINKER_DEBUGFS); \
	ASSERT_EQ(1, __n) { \
		TH_LOG("want exactly one %s/ashmem-<id>", SHRINKER_DEBUGFS); \
	} \
} while (0)

/*
 * What the shrinker's "count" file says for the memory cgroup ino: the sum of
 * its per-node counts, 0 when it has no line (a zero count is not printed).
 * lines, if given, is set to the number of lines for that cgroup. -1 when the
 * file cannot be read or a line does not parse.
 */
static inline long long shrinker_count(const char *shrinker_dir,
				       unsigned long long ino, int *lines)
{
	char path[4096 + 16], buf[65536], *line, *save = NULL;
	long long sum = 0;
	int n = 0;

	snprintf(path, sizeof(path), "%s/count", shrinker_dir);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long id, v;
		char *p = line, *end;

		id = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		if (id != ino)
			continue;
		n++;
		for (p = end; *p; p = end) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (!*p)
				break;
			v = strtoull(p, &end, 10);
			if (end == p)
				return -1;
			sum += v;
		}
	}
	if (lines)
		*lines = n;
	return sum;
}

/* Ask the shrinker to scan nr objects of memory cgroup ino on node nid. */
static inline int shrinker_scan(const char *shrinker_dir, unsigned long long ino,
				int nid, unsigned long nr)
{
	char path[4096 + 16], cmd[96];

	snprintf(path, sizeof(path), "%s/scan", shrinker_dir);
	snprintf(cmd, sizeof(cmd), "%llu %d %lu", ino, nid, nr);
	return write_text(path, cmd);
}

/* The driver's debugfs summary (root only), and the figures it gives. */
#define ASHMEM_SUMMARY		"/sys/kernel/debug/ashmem/summary"

/*
 * The value of the "key:\t" line of the summary's totals (its first lines)
 * into *val (unsigned: a total may saturate at 2^64 - 1): 0, or -1 when the
 * summary or the line is not there.
 */
static inline int summary_value(const char *key, unsigned long long *val)
{
	char buf[4096], *line, *save = NULL;
	size_t keylen = strlen(key);

	if (read_text(ASHMEM_SUMMARY, buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, key, keylen) && line[keylen] == ':' &&
		    line[keylen + 1] == '\t') {
			*val = strtoull(line + keylen + 2, NULL, 10);
			return 0;
		}
	return -1;
}

/*
 * The kernel's reports of a CPU or a task stuck for too long: a walk that
 * holds a spinlock, or a loop that never yields, shows up as one of these.
 */
static const char *const stall_reports[] = {
	"soft lockup", "hard LOCKUP", "rcu_sched self-detected stall",
	"rcu_preempt self-detected stall", "detected stalls on CPUs",
	"blocked for more than",
};

/* /dev/kmsg, read from its end: records logged from now on. -1 on error. */
static inline int kmsg_from_now(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Reads the records logged since kmsg_from_now() (or the last call): 1 when
 * one of them holds one of the n markers (its text copied into line), 0
 * otherwise.
 */
static inline int kmsg_marker_found(int fd, const char *const *markers, size_t n,
				    char *line, size_t len)
{
	char rec[2048];
	ssize_t got;
	size_t i;

	for (;;) {
		got = read(fd, rec, sizeof(rec) - 1);
		if (got < 0 && errno == EPIPE)
			continue;	/* records were overwritten: go on */
		if (got <= 0)
			return 0;
		rec[got] = '\0';
		for (i = 0; i < n; i++)
			if (strstr(rec, markers[i])) {
				copy_str(line, len, strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
				line[strcspn(line, "\n")] = '\0';
				return 1;
			}
	}
}

/* 1 when a record logged since kmsg_from_now() is a stall report (in line). */
static inline int kmsg_stall_reported(int fd, char *line, size_t len)
{
	return kmsg_marker_found(fd, stall_reports, sizeof(stall_reports) / sizeof(stall_reports[0]),
				 line, len);
}

/* The soft-lockup detector's threshold (the report comes after twice that). */
#define WATCHDOG_THRESH		"/proc/sys/kernel/watchdog_thresh"

#endif
