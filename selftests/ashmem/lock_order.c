// SPDX-License-Identifier: GPL-2.0
/*
 * What a call on a region may wait for. mmap takes the region's lock with
 * the mmap lock held, so nothing may hold the region's lock while it waits
 * for something slow: lseek(SEEK_DATA/SEEK_HOLE) waits for the backing
 * inode's lock, which a hole punch (madvise(MADV_REMOVE), as Chromium's
 * discardable memory purges) holds for as long as it frees pages. It used to
 * wait with the region's lock held, so behind a long punch every mmap of the
 * region, and every ioctl on it, waited too, and the mapping process's mmap
 * lock with them.
 *
 * The test: a process punches a hole over a few hundred MiB of the region's
 * pages; a second one seeks with SEEK_DATA and is seen blocked (state D)
 * behind the punch; then this process maps the region and asks its size.
 * Both must return while the seek still waits. The punch must outlast the
 * steps, so a machine fast enough to finish it first gets a larger region.
 *
 * No root needed.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

/*
 * The state letter of process pid (/proc/PID/stat), '?' when unknown, and
 * (when stime is not NULL) the clock ticks it spent in the kernel.
 */
static char proc_state(pid_t pid, unsigned long *stime)
{
	char path[64], buf[512], *p;
	unsigned long utime;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return '?';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return '?';
	if (stime && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			    &utime, stime) != 2)
		return '?';
	return p[2];
}

/* A child that runs fn(fd, map, len), then writes a byte to done and exits. */
static pid_t spawn(void (*fn)(int, void *, size_t), int fd, void *map, size_t len, int done)
{
	pid_t pid = fork();

	if (pid == 0) {
		fn(fd, map, len);
		if (write(done, "x", 1) != 1)
			_exit(1);
		_exit(0);
	}
	return pid;
}

static void punch(int fd, void *map, size_t len)
{
	(void)fd;
	madvise(map, len, MADV_REMOVE);
}

static void seek_data(int fd, void *map, size_t len)
{
	(void)map;
	(void)len;
	lseek(fd, 0, SEEK_DATA);
}

/* 1 when a byte came on the pipe (the child's call returned). */
static int returned(int rfd)
{
	char c;

	return read(rfd, &c, 1) == 1;
}

struct caller {
	int fd;
	size_t pg;
	volatile int done;
	int mmap_err, size_ret;
};

/* What must not wait for the punch: an mmap of the region, an ioctl on it. */
static void *map_and_ask(void *arg)
{
	struct caller *c = arg;
	void *p = mmap(NULL, c->pg, PROT_READ, MAP_SHARED, c->fd, 0);

	c->mmap_err = p == MAP_FAILED ? errno : 0;
	if (p != MAP_FAILED)
		munmap(p, c->pg);
	c->size_ret = ioctl(c->fd, ASHMEM_GET_SIZE);
	c->done = 1;
	return NULL;
}

enum outcome { NOT_SET_UP, CALLER_FIRST, SEEK_FIRST };

/*
 * One try with a region of mib MiB: its pages made resident, then unmapped
 * (so the punch spends its time freeing pages, not unmapping them, which
 * would keep every new mapping of the file waiting on the kernel's own
 * i_mmap lock). The outcome: whether the mmap and the ioctl returned while
 * a seek was blocked behind the punch, or only after it.
 */
static enum outcome try_once(struct __test_metadata *_metadata, size_t mib)
{
	size_t pg = page_size(), len = mib << 20;
	int punched[2], sought[2], fd, i;
	enum outcome out = NOT_SET_UP;
	struct caller c = { .pg = pg };
	pid_t puncher, seeker;
	pthread_t thread;
	void *map;

	fd = region_new("lock-order", len);
	if (fd < 0)
		return NOT_SET_UP;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return NOT_SET_UP;
	}
	munmap(map, len);
	map = map_shared(fd, len, PROT_READ | PROT_WRITE);
	if (map == MAP_FAILED || pipe2(punched, O_NONBLOCK) || pipe2(sought, O_NONBLOCK)) {
		close(fd);
		return NOT_SET_UP;
	}

	puncher = spawn(punch, fd, map, len, punched[1]);
	/*
	 * The seek starts once the punch is under way: the puncher (which does
	 * nothing but the madvise) has spent two clock ticks in the kernel.
	 */
	for (i = 0; i < 100000; i++) {
		unsigned long stime = 0;

		if (returned(punched[0]) || (proc_state(puncher, &stime) != '?' && stime >= 2))
			break;
		usleep(100);
	}
	seeker = spawn(seek_data, fd, map, len, sought[1]);
	/* The seek must be seen blocked while the punch runs. */
	for (i = 0; i < 100000; i++) {
		if (returned(sought[0]) || returned(punched[0]))
			break;
		if (proc_state(seeker, NULL) == 'D') {
			out = SEEK_FIRST;
			break;
		}
		usleep(100);
	}
	if (out == SEEK_FIRST) {
		c.fd = fd;
		ASSERT_EQ(0, pthread_create(&thread, NULL, map_and_ask, &c));
		for (;;) {
			if (c.done) {
				/* Only a seek still waiting counts. */
				out = returned(sought[0]) ? NOT_SET_UP : CALLER_FIRST;
				break;
			}
			if (returned(sought[0])) {
				out = SEEK_FIRST;
				break;
			}
			usleep(100);
		}
		ASSERT_EQ(0, pthread_join(thread, NULL));
		EXPECT_EQ(0, c.mmap_err);
		EXPECT_EQ((int)len, c.size_ret);
	}
	EXPECT_EQ(0, wait_child(puncher));
	EXPECT_EQ(0, wait_child(seeker));
	close(punched[0]);
	close(punched[1]);
	close(sought[0]);
	close(sought[1]);
	munmap(map, len);
	close(fd);
	return out;
}

FIXTURE(hole_punch)
{
	int unused;
};

FIXTURE_SETUP(hole_punch)
{
}

FIXTURE_TEARDOWN(hole_punch)
{
}

TEST_F_TIMEOUT(hole_punch, mmap_and_ioctls_do_not_wait_for_a_seek_behind_it, 600)
{
	static const size_t sizes_mib[] = { 64, 128, 256 };
	int waited = 0, tried = 0;
	size_t i;

	for (i = 0; i < sizeof(sizes_mib) / sizeof(sizes_mib[0]); i++) {
		enum outcome out = try_once(_metadata, sizes_mib[i]);

		if (out == NOT_SET_UP) {
			TH_LOG("%zu MiB: the punch ended before a seek was seen waiting for it",
			       sizes_mib[i]);
			continue;
		}
		tried++;
		if (out == CALLER_FIRST) {
			TH_LOG("%zu MiB: mmap and GET_SIZE returned while the seek waited",
			       sizes_mib[i]);
			return;
		}
		waited++;
		TH_LOG("%zu MiB: mmap and GET_SIZE returned only after the seek behind the punch",
		       sizes_mib[i]);
	}
	if (!tried)
		SKIP(return, "no punch lasted long enough to see a seek wait for it");
	EXPECT_EQ(0, waited) {
		TH_LOG("in each of %d tries, mmap waited for the seek that waited for the punch",
		       tried);
	}
}

TEST_HARNESS_MAIN
