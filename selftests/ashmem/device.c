// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/ashmem node: it exists, has the right type and mode, any user can
 * open it, every open is a new empty region, unknown ioctls are refused.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

TEST(node_is_char_device_mode_0666)
{
	struct stat st;

	ASSERT_EQ(0, stat(ASHMEM_DEVICE, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0666, st.st_mode & 07777);
	/* A misc device: major 10. */
	EXPECT_EQ(10, major(st.st_rdev));
}

TEST(fd_is_the_device_itself)
{
	struct stat node, fd_st;
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, stat(ASHMEM_DEVICE, &node));
	ASSERT_EQ(0, fstat(fd, &fd_st));
	/* libcutils checks exactly this to recognise an ashmem fd. */
	EXPECT_TRUE(S_ISCHR(fd_st.st_mode));
	EXPECT_EQ(node.st_rdev, fd_st.st_rdev);
	close(fd);
}

TEST(unprivileged_user_can_open)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		if (become_uid(NOBODY))
			_exit(10);
		fd = open(ASHMEM_DEVICE, O_RDWR);
		if (fd < 0)
			_exit(12);
		if (ioctl(fd, ASHMEM_GET_SIZE) != 0)
			_exit(13);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST(fresh_fd_has_size_zero)
{
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, ASHMEM_GET_SIZE));
	close(fd);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	ASSERT_LE(0, fd);
	/* Right magic, number past the last command. */
	EXPECT_EQ(-1, ioctl(fd, _IO(__ASHMEMIOC, 12)));
	EXPECT_EQ(ENOTTY, errno);
	/* Another driver's magic. */
	EXPECT_EQ(-1, ioctl(fd, _IO('T', 1)));
	EXPECT_EQ(ENOTTY, errno);
	/* A known number with the wrong direction bits. */
	EXPECT_EQ(-1, ioctl(fd, _IOR(__ASHMEMIOC, 4, int)));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

TEST_HARNESS_MAIN
