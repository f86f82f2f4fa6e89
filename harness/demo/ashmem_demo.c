// SPDX-License-Identifier: GPL-2.0
/*
 * ashmem_demo: show /dev/ashmem in use, printed for a person to read.
 *
 * A named region is created, mapped by this process and by a forked child,
 * which see each other's writes; then its /proc/self/maps line, its fdinfo
 * and the prot mask at work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ashmem_uapi.h"
#include "demo.h"

#define REGION_NAME "demo-region"
#define REGION_SIZE (64 * 1024)

int main(void)
{
	char name[ASHMEM_NAME_LEN], path[64];
	unsigned long file_id = 0;
	struct stat st;
	/* The child writes into the second page: pages are the kernel's (16K on arm64-16k). */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *shared;
	pid_t pid;
	void *p;
	int fd, status;

	if (stat(ASHMEM_DEVICE, &st))
		return fail("stat " ASHMEM_DEVICE);
	printf("%s: char device %u:%u, mode %04o\n", ASHMEM_DEVICE, major(st.st_rdev),
	       minor(st.st_rdev), st.st_mode & 07777);

	fd = open(ASHMEM_DEVICE, O_RDWR);
	if (fd < 0)
		return fail("open");
	printf("open() -> fd %d, a new region of size %d\n", fd, ioctl(fd, ASHMEM_GET_SIZE));
	if (ioctl(fd, ASHMEM_SET_NAME, REGION_NAME) || ioctl(fd, ASHMEM_SET_SIZE, REGION_SIZE))
		return fail("ASHMEM_SET_NAME/SET_SIZE");
	if (ioctl(fd, ASHMEM_GET_NAME, name))
		return fail("ASHMEM_GET_NAME");
	printf("ASHMEM_SET_NAME \"%s\", ASHMEM_SET_SIZE %d -> GET_NAME \"%s\", GET_SIZE %d\n",
	       REGION_NAME, REGION_SIZE, name, ioctl(fd, ASHMEM_GET_SIZE));

	shared = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shared == MAP_FAILED)
		return fail("mmap");
	strcpy(shared, "written by the parent");
	printf("parent %d: mmap(MAP_SHARED) at %p, wrote \"%s\"\n", getpid(), shared, shared);

	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		/* The child maps the region again through the inherited fd. */
		char *mine = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (mine == MAP_FAILED)
			_exit(fail("child mmap"));
		printf("child  %d: its own mmap at %p reads \"%s\"\n", getpid(), mine, mine);
		strcpy(mine + page, "written by the child");
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("parent %d: reads the child's write at %zu: \"%s\"\n", getpid(), page, shared + page);

	show_file("the mapping", "/proc/self/maps", "/dev/ashmem");
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	show_file("the fd", path, NULL);
	if (ioctl(fd, ASHMEM_GET_FILE_ID, &file_id))
		return fail("ASHMEM_GET_FILE_ID");
	printf("ASHMEM_GET_FILE_ID -> inode %lu\n", file_id);

	printf("ASHMEM_SET_NAME after mmap -> %s\n",
	       ioctl(fd, ASHMEM_SET_NAME, "renamed") ? strerror(errno) : "accepted?!");
	ioctl(fd, ASHMEM_SET_PROT_MASK, PROT_READ);
	printf("ASHMEM_SET_PROT_MASK PROT_READ -> mask %d\n", ioctl(fd, ASHMEM_GET_PROT_MASK));
	p = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("mmap(PROT_READ|PROT_WRITE) now -> %s\n",
	       p == MAP_FAILED ? strerror(errno) : "mapped?!");
	p = mmap(NULL, REGION_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	printf("mmap(PROT_READ) now -> %s; mprotect(PROT_WRITE) -> %s\n",
	       p == MAP_FAILED ? strerror(errno) : "mapped",
	       p != MAP_FAILED && mprotect(p, REGION_SIZE, PROT_READ | PROT_WRITE) ?
	       strerror(errno) : "allowed?!");
	close(fd);
	return 0;
}
