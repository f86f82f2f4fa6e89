// SPDX-License-Identifier: GPL-2.0
/*
 * Guest helper for the Waydroid-style test: started as root, become UID (and
 * GID UID, no supplementary groups) for good, then use /dev/ashmem as an
 * Android process would: open, SET_SIZE, mmap, write and read back. Prints
 * what failed and exits 1, or exits 0.
 *
 *   ashmem-user UID
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ashmem_uapi.h"

#define SIZE 8192

static int fail(const char *what)
{
	printf("ashmem-user: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	uid_t uid;
	char *p;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s UID\n", argv[0]);
		return 2;
	}
	uid = (uid_t)atoi(argv[1]);
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
		return fail("dropping to the user");
	if (getuid() != uid || geteuid() != uid || setuid(0) == 0) {
		printf("ashmem-user: still privileged\n");
		return 1;
	}
	fd = open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("open " ASHMEM_DEVICE);
	if (ioctl(fd, ASHMEM_SET_SIZE, (size_t)SIZE))
		return fail("ASHMEM_SET_SIZE");
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return fail("mmap");
	memset(p, 0x5a, SIZE);
	if (p[0] != 0x5a || p[SIZE - 1] != 0x5a) {
		printf("ashmem-user: written bytes did not read back\n");
		return 1;
	}
	if (ioctl(fd, ASHMEM_GET_SIZE) != SIZE)
		return fail("ASHMEM_GET_SIZE");
	printf("ashmem-user: uid %u mapped and wrote %d bytes\n", (unsigned int)getuid(), SIZE);
	return 0;
}
