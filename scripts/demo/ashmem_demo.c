// SPDX-License-Identifier: GPL-2.0
/*
 * ashmem_demo: show /dev/ashmem in use, printed for a person to read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ashmem_uapi.h"

int main(void)
{
	struct stat st;
	long ret;
	int fd;

	if (stat(ASHMEM_DEVICE, &st)) {
		perror(ASHMEM_DEVICE);
		return 1;
	}
	printf("%s: char device %u:%u, mode %04o\n", ASHMEM_DEVICE, major(st.st_rdev),
	       minor(st.st_rdev), st.st_mode & 07777);

	fd = open(ASHMEM_DEVICE, O_RDWR);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	printf("open() -> fd %d: a new, empty region\n", fd);
	ret = ioctl(fd, ASHMEM_GET_SIZE);
	printf("ASHMEM_GET_SIZE -> %ld\n", ret);
	ret = ioctl(fd, _IO(__ASHMEMIOC, 12));
	printf("unknown ioctl    -> %ld (%s)\n", ret, ret < 0 ? strerror(errno) : "ok");
	close(fd);
	return 0;
}
