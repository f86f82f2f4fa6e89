// SPDX-License-Identifier: GPL-2.0
/*
 * ashmem_purge_demo: unpinned ashmem purged under memory pressure inside a
 * cgroup, printed for a person to read.
 *
 * A child in a cgroup with memory.max = 64 MiB keeps a pinned 4 MiB region
 * and an unpinned 32 MiB "cache" region, then allocates 40 MiB of ordinary
 * memory. Reclaim inside the cgroup calls the driver's shrinker, which purges
 * the cache; the child is not OOM-killed, PIN reports ASHMEM_WAS_PURGED, the
 * cache reads as zero and the pinned data is intact.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ashmem_uapi.h"
#include "demo.h"

#define MiB (1024 * 1024)
#define CGROUP "/sys/fs/cgroup/ashmem-demo"
#define LIMIT (64 * MiB)
#define PINNED_SIZE (4 * MiB)
#define CACHE_SIZE (32 * MiB)
#define ANON_SIZE (40 * MiB)

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void show_shrinker_count(void)
{
	char cmd[] = "for d in /sys/kernel/debug/shrinker/ashmem-*; do "
		     "echo \"  $d/count (memcg id, pages per node):\"; "
		     "sed 's/^/    /' $d/count; done";

	if (system(cmd) != 0)
		printf("  (no ashmem shrinker in debugfs)\n");
}

static void show_fdinfo(int fd, const char *title)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	printf("%s (%s, pages):\n", title, path);
	f = fopen(path, "r");
	if (!f) {
		printf("  cannot open: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "pinned") || strstr(line, "purged"))
			printf("  %s", line);
	fclose(f);
}

static int region(const char *name, size_t size, char **map)
{
	int fd = open(ASHMEM_DEVICE, O_RDWR);

	if (fd < 0 || ioctl(fd, ASHMEM_SET_NAME, name) || ioctl(fd, ASHMEM_SET_SIZE, size))
		return -1;
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return *map == MAP_FAILED ? -1 : fd;
}

static uint64_t checksum(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static int child(void)
{
	struct ashmem_pin all = { 0, 0 };
	char *pinned, *cache, *anon;
	uint64_t sum;
	int pfd, cfd, ret;
	size_t i;

	pfd = region("demo-pinned", PINNED_SIZE, &pinned);
	cfd = region("demo-cache", CACHE_SIZE, &cache);
	if (pfd < 0 || cfd < 0)
		return fail("creating the regions");
	for (i = 0; i < PINNED_SIZE; i++)
		pinned[i] = (char)(i * 7 + 3);
	sum = checksum(pinned, PINNED_SIZE);
	memset(cache, 0xca, CACHE_SIZE);
	printf("child %d in %s: demo-pinned %d MiB (checksum %016llx), demo-cache %d MiB, both "
	       "written\n", getpid(), CGROUP, PINNED_SIZE / MiB, (unsigned long long)sum,
	       CACHE_SIZE / MiB);
	if (ioctl(cfd, ASHMEM_UNPIN, &all))
		return fail("ASHMEM_UNPIN");
	printf("ASHMEM_UNPIN demo-cache (whole region)\n");
	show_fdinfo(cfd, "demo-cache fdinfo");
	printf("shrinker count, before pressure:\n");
	show_shrinker_count();
	show_file("cgroup memory.current", CGROUP "/memory.current", NULL);

	printf("allocating %d MiB of anonymous memory (limit %d MiB)...\n", ANON_SIZE / MiB,
	       LIMIT / MiB);
	anon = malloc(ANON_SIZE);
	if (!anon)
		return fail("malloc");
	memset(anon, 0xaa, ANON_SIZE);
	printf("... done, still alive\n");
	show_file("cgroup memory.current", CGROUP "/memory.current", NULL);
	show_fdinfo(cfd, "demo-cache fdinfo");
	printf("shrinker count, after pressure:\n");
	show_shrinker_count();

	ret = ioctl(cfd, ASHMEM_PIN, &all);
	printf("ASHMEM_PIN demo-cache -> %s\n", ret == ASHMEM_WAS_PURGED ? "ASHMEM_WAS_PURGED" :
	       ret == ASHMEM_NOT_PURGED ? "ASHMEM_NOT_PURGED" : strerror(errno));
	printf("demo-cache first byte now 0x%02x (was 0xca), last byte 0x%02x\n",
	       (unsigned char)cache[0], (unsigned char)cache[CACHE_SIZE - 1]);
	printf("demo-pinned checksum %016llx: %s\n", (unsigned long long)checksum(pinned, PINNED_SIZE),
	       checksum(pinned, PINNED_SIZE) == sum ? "intact" : "CHANGED");
	show_file("driver summary", "/sys/kernel/debug/ashmem/summary", NULL);
	return ret == ASHMEM_WAS_PURGED && checksum(pinned, PINNED_SIZE) == sum ? 0 : 1;
}

int main(void)
{
	char limit[32];
	int status;
	pid_t pid;

	if (write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory"))
		return fail("enabling the memory controller");
	if (mkdir(CGROUP, 0755) && errno != EEXIST)
		return fail("mkdir " CGROUP);
	snprintf(limit, sizeof(limit), "%d", LIMIT);
	if (write_file(CGROUP "/memory.max", limit))
		return fail("setting memory.max");
	printf("cgroup %s: memory.max = %d MiB, no swap\n", CGROUP, LIMIT / MiB);

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		char self[32];

		snprintf(self, sizeof(self), "%d", getpid());
		if (write_file(CGROUP "/cgroup.procs", self))
			_exit(fail("joining the cgroup"));
		_exit(child());
	}
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		printf("child killed by signal %d\n", WTERMSIG(status));
	else
		printf("child exited with status %d\n", WEXITSTATUS(status));
	show_file("cgroup memory.events", CGROUP "/memory.events", "oom");
	rmdir(CGROUP);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
