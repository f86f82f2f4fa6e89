// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifecycle: the module cannot be unloaded while a region is open, the
 * device keeps working after the refused unload, and once everything is
 * closed it unloads and loads again.
 *
 * The module file is found through $ASHMEM_KO, set by the guest job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_test.h"

static int unload_module(void)
{
	return syscall(SYS_delete_module, ASHMEM_MODULE, O_NONBLOCK);
}

static int load_module(void)
{
	return load_module_file() ? -1 : 0;
}

static int module_refcount(void)
{
	FILE *f = fopen("/sys/module/" ASHMEM_MODULE "/refcnt", "r");
	int n = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

TEST(open_fd_holds_a_module_reference)
{
	int before = module_refcount();
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	ASSERT_LE(0, before);
	ASSERT_LE(0, fd);
	EXPECT_EQ(before + 1, module_refcount());
	close(fd);
	EXPECT_EQ(before, module_refcount());
}

TEST(unload_refused_while_fd_open_and_device_keeps_working)
{
	struct stat st;
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	ASSERT_LE(0, fd);
	/*
	 * delete_module(2) reports a module that is in use as EWOULDBLOCK
	 * (kmod's rmmod prints "Module ashmem_linux is in use").
	 */
	EXPECT_EQ(-1, unload_module());
	EXPECT_EQ(EWOULDBLOCK, errno);
	/* Still loaded, the fd and the node still work. */
	EXPECT_EQ(0, stat("/sys/module/" ASHMEM_MODULE, &st));
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
	fd = open(ASHMEM_DEVICE, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
}

TEST(unload_after_close_succeeds_and_reload_works)
{
	struct stat st;
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, unload_module());
	EXPECT_NE(0, stat("/sys/module/" ASHMEM_MODULE, &st));
	EXPECT_NE(0, stat(ASHMEM_DEVICE, &st));
	ASSERT_EQ(0, load_module());
	ASSERT_EQ(0, stat(ASHMEM_DEVICE, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0666, st.st_mode & 07777);
	fd = open(ASHMEM_DEVICE, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
}

TEST_HARNESS_MAIN
