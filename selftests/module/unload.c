// SPDX-License-Identifier: GPL-2.0
/*
 * Loading and unloading ashmem_linux: the module must stay loaded while
 * anything can still reach its code or memory, whatever order a process lets
 * go of things in, and load/unload cycles must not leak.
 *
 * Runs as root in the test guest, with the module loaded and its file named by
 * $ASHMEM_KO. Every test leaves the module loaded again.
 *
 * Refused means delete_module(2) fails with EWOULDBLOCK (== EAGAIN): that is
 * the kernel's errno for a module whose reference count is not zero
 * (kernel/module/main.c, try_stop_module); kmod's rmmod reports it as "Module
 * ashmem_linux is in use". EBUSY is reserved for a module that is still
 * initialising or already going away.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define MODULE_NAME	"ashmem_linux"

static int module_loaded(void)
{
	struct stat st;

	return stat("/sys/module/" MODULE_NAME "/initstate", &st) == 0;
}

/* delete_module(2) as rmmod calls it: 0, or the errno it failed with. */
static int unload(void)
{
	return syscall(SYS_delete_module, MODULE_NAME, O_NONBLOCK) == 0 ? 0 : errno;
}

/* finit_module(2) of $ASHMEM_KO: 0, or the errno it failed with. */
static int load(void)
{
	return load_module_file();
}

static int device_present(void)
{
	struct stat st;

	return stat(ASHMEM_DEVICE, &st) == 0 && S_ISCHR(st.st_mode);
}

/* A mapped, written region of one page: the fd, and the mapping in *map. */
static int mapped_region(void **map)
{
	int fd = region_mapped("unload-test", page_size(), map);

	if (fd >= 0)
		fill_pattern(*map, page_size(), 7);
	return fd;
}

FIXTURE(module)
{
	int unused;
};

FIXTURE_SETUP(module)
{
	ASSERT_NE(NULL, getenv("ASHMEM_KO")) {
		TH_LOG("set ASHMEM_KO to the module file");
	}
	if (!module_loaded())
		ASSERT_EQ(0, load());
	ASSERT_TRUE(device_present());
}

FIXTURE_TEARDOWN(module)
{
	/* The next test, and the guest job after this program, need it loaded. */
	if (!module_loaded())
		EXPECT_EQ(0, load());
}

TEST_F(module, unload_is_refused_while_an_ashmem_fd_is_open)
{
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EWOULDBLOCK, unload());
	EXPECT_TRUE(module_loaded());
	/* The fd still works after the refusal. */
	EXPECT_EQ(0, set_size(fd, page_size()));
	close(fd);
	EXPECT_EQ(0, unload());
	EXPECT_FALSE(module_loaded());
	EXPECT_FALSE(device_present());
}

TEST_F(module, unload_is_refused_while_only_a_mapping_remains)
{
	unsigned char *p;
	int fd = mapped_region((void **)&p);

	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(EWOULDBLOCK, unload());
	/* The mapping still holds its data. */
	EXPECT_TRUE(check_pattern(p, page_size(), 7));
	munmap(p, page_size());
	EXPECT_EQ(0, unload());
}

TEST_F(module, unload_is_refused_while_map_files_holds_the_backing_file)
{
	char path[128], buf[16];
	void *p;
	int fd = mapped_region(&p), mf;

	ASSERT_LE(0, fd);
	map_files_path(path, sizeof(path), p, page_size());
	mf = open(path, O_RDONLY);
	ASSERT_LE(0, mf) {
		TH_LOG("open %s: %s", path, strerror(errno));
	}
	munmap(p, page_size());
	close(fd);
	EXPECT_EQ(EWOULDBLOCK, unload());
	/* What holds the module is a working file. */
	EXPECT_EQ((ssize_t)sizeof(buf), pread(mf, buf, sizeof(buf), 0));
	close(mf);
	EXPECT_EQ(0, unload());
}

TEST_F(module, unload_is_refused_while_a_forked_child_keeps_the_mapping)
{
	int pipefd[2], fd, status;
	unsigned char *p;
	char c = 0;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	fd = mapped_region((void **)&p);
	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The child keeps only its copy of the mapping. */
		close(fd);
		close(pipefd[1]);
		status = read(pipefd[0], &c, 1) == 0 && check_pattern(p, page_size(), 7);
		_exit(status ? 0 : 1);
	}
	close(pipefd[0]);
	munmap(p, page_size());
	close(fd);
	EXPECT_EQ(EWOULDBLOCK, unload());
	close(pipefd[1]);
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(0, unload());
}

/*
 * The debugfs summary: reading it runs the module's code, and so does
 * closing it, so an open summary holds the module like an open region does.
 * (Before its file_operations had an owner, rmmod went through, and the close
 * then oopsed in full_proxy_release on the unloaded module's table.)
 */
TEST_F(module, unload_is_refused_while_the_debugfs_summary_is_open)
{
	char buf[512];
	int fd = open(ASHMEM_SUMMARY, O_RDONLY);

	if (fd < 0)
		SKIP(return, "%s: %s (needs debugfs)", ASHMEM_SUMMARY, strerror(errno));
	EXPECT_LT(0, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EWOULDBLOCK, unload());
	EXPECT_TRUE(module_loaded());
	/* The summary still reads after the refusal. */
	EXPECT_EQ(0, lseek(fd, 0, SEEK_SET));
	EXPECT_LT(0, read(fd, buf, sizeof(buf)));
	close(fd);
	EXPECT_EQ(0, unload());
	EXPECT_FALSE(module_loaded());
}

/*
 * The coverage record of a module built with `make module COVERAGE=1`
 * (rust/coverage.c): its debugfs files are the module's code too, so either
 * one open holds the module.
 */
TEST_F(module, unload_is_refused_while_a_coverage_record_file_is_open)
{
	static const char *const files[] = {
		"/sys/kernel/debug/ashmem_coverage/hits",
		"/sys/kernel/debug/ashmem_coverage/window",
	};
	unsigned int i;
	char buf[512];
	int fd;

	if (access(files[0], F_OK))
		SKIP(return, "no coverage record: the module is not built with make module COVERAGE=1");
	for (i = 0; i < 2; i++) {
		fd = open(files[i], O_RDONLY);
		ASSERT_LE(0, fd);
		EXPECT_LE(0, read(fd, buf, sizeof(buf)));
		EXPECT_EQ(EWOULDBLOCK, unload());
		EXPECT_TRUE(module_loaded());
		EXPECT_EQ(0, lseek(fd, 0, SEEK_SET));
		EXPECT_LE(0, read(fd, buf, sizeof(buf)));
		close(fd);
		EXPECT_EQ(0, unload());
		EXPECT_FALSE(module_loaded());
		ASSERT_EQ(0, load());
	}
}

/*
 * The shrinker's debugfs files are the kernel's, which holds no module
 * reference for them: unloading goes through with one open, and the open
 * file then fails its reads (debugfs cut it off when the shrinker was freed)
 * and closes without touching the module.
 */
TEST_F(module, shrinker_debugfs_file_open_across_unload_is_cut_off_safely)
{
	char dir[512], path[600], buf[256];
	int fd;

	NEED_SHRINKER_DIR(dir);
	snprintf(path, sizeof(path), "%s/count", dir);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_LE(0, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, unload());
	EXPECT_FALSE(module_loaded());
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EIO, errno);
	close(fd);
}

/*
 * Three things hold a region: its fd, a mapping, and the backing file opened
 * again through map_files. Let go of them in each of the six orders; unload is
 * refused until the last one is gone, and then succeeds.
 */
TEST_F(module, unload_succeeds_after_any_release_order_and_not_before)
{
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};
	char path[128];
	int o, step;

	for (o = 0; o < 6; o++) {
		void *p;
		int fd, mf;

		if (!module_loaded())
			ASSERT_EQ(0, load());
		fd = mapped_region(&p);
		ASSERT_LE(0, fd);
		map_files_path(path, sizeof(path), p, page_size());
		mf = open(path, O_RDWR);
		ASSERT_LE(0, mf);
		for (step = 0; step < 3; step++) {
			switch (orders[o][step]) {
			case 0:
				close(fd);
				break;
			case 1:
				munmap(p, page_size());
				break;
			case 2:
				close(mf);
				break;
			}
			if (step < 2)
				ASSERT_EQ(EWOULDBLOCK, unload()) {
					TH_LOG("order %d, after step %d", o, step);
				}
		}
		ASSERT_EQ(0, unload()) {
			TH_LOG("order %d", o);
		}
	}
}

#define KUNIT_FILTER	"/sys/module/kunit/parameters/filter_glob"

/*
 * A hundred load/unload cycles, each with regions that are named, sized,
 * mapped, written, unpinned, purged, pinned again and released; the guest job
 * scans kmemleak afterwards on the debug kernel. The module's KUnit suites
 * would run at every load (they ran at the first): a filter that matches no
 * suite keeps the cycles about loading, and is reset to the default after.
 */
TEST_F_TIMEOUT(module, hundred_load_unload_cycles_with_regions_in_between, 900)
{
	size_t pg = page_size();
	int cycle, i;

	if (access(KUNIT_FILTER, W_OK) == 0)
		ASSERT_EQ(0, write_text(KUNIT_FILTER, "no_suite_during_load_cycles"));
	for (cycle = 0; cycle < 100; cycle++) {
		int fds[4];

		if (!module_loaded())
			ASSERT_EQ(0, load()) {
				TH_LOG("cycle %d", cycle);
			}
		ASSERT_TRUE(device_present());
		for (i = 0; i < 4; i++) {
			unsigned char *p;

			fds[i] = region_mapped("cycle", 4 * pg, (void **)&p);
			ASSERT_LE(0, fds[i]);
			fill_pattern(p, 4 * pg, cycle + i);
			munmap(p, 4 * pg);
			ASSERT_EQ(0, unpin_range(fds[i], pg, 2 * pg));
		}
		ASSERT_LE(0, purge_all_caches(fds[0]));
		for (i = 0; i < 4; i++) {
			/* Half the regions keep their unpinned range until close. */
			if (i % 2)
				EXPECT_EQ(ASHMEM_WAS_PURGED, pin_range(fds[i], pg, 2 * pg));
			close(fds[i]);
		}
		ASSERT_EQ(0, unload()) {
			TH_LOG("cycle %d", cycle);
		}
		ASSERT_FALSE(device_present());
	}
	if (access(KUNIT_FILTER, W_OK) == 0)
		EXPECT_EQ(0, write_text(KUNIT_FILTER, "*.*"));
}

TEST_HARNESS_MAIN
