// SPDX-License-Identifier: GPL-2.0
/*
 * Android's libcutils use of ashmem, as an Android 16 process inside a
 * container does it, written from the documented sequence (not from AOSP's
 * code):
 *
 *  1. the boot id is the contents of /proc/sys/kernel/random/boot_id with
 *     surrounding whitespace trimmed;
 *  2. the device is "/dev/ashmem" followed by the boot id, opened
 *     O_RDWR | O_CLOEXEC; there is no fallback to plain /dev/ashmem;
 *  3. fstat() of it must show a character device with a non-zero st_rdev;
 *  4. any later fd counts as ashmem only if fstat() shows a character device
 *     with that same st_rdev.
 *
 * On top of that it does what every Android process does with a region:
 * create (open, SET_NAME, SET_SIZE), map, write, and pass the fd over a Unix
 * socket (SCM_RIGHTS) to a second process, which checks it is ashmem by its
 * own open of the device, maps it, reads what the first wrote and answers.
 * The second process runs as an app uid (10000) when started as root.
 *
 * TAP on stdout. With --expect-no-device, the case is an Android 16 process in
 * a container that binds only /dev/ashmem: opening must fail with ENOENT.
 *
 *   android-cutils [--expect-no-device]
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define BOOT_ID_PATH	"/proc/sys/kernel/random/boot_id"
#define REGION_NAME	"cutils-test"
#define APP_UID		10000
#define WORDS		3000	/* 12,000 bytes: not a whole number of pages */

static int n, failed;

__attribute__((format(printf, 3, 4)))
static void tap(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d %s\n", ok ? "ok" : "not ok", ++n, name);
	if (fmt && *fmt) {
		printf("#   ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	if (!ok)
		failed = 1;
	fflush(stdout);
}

/* Step 1: the boot id, trimmed; 0 or -1 with errno. */
static int boot_id(char *buf, size_t len)
{
	char raw[128];
	size_t start = 0, end;
	ssize_t got;
	int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	got = read(fd, raw, sizeof(raw) - 1);
	close(fd);
	if (got < 0)
		return -1;
	end = (size_t)got;
	while (start < end && isspace((unsigned char)raw[start]))
		start++;
	while (end > start && isspace((unsigned char)raw[end - 1]))
		end--;
	if (end - start >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, raw + start, end - start);
	buf[end - start] = '\0';
	return 0;
}

/* The device's st_rdev, learned by the first open (step 3). */
static dev_t ashmem_rdev;

/*
 * Steps 2 and 3: open the suffixed device, check it, remember its st_rdev.
 * The fd, or -1 with errno (ENOENT when the name is missing, ENOTTY when it
 * is not a character device with a device number). path receives the name.
 */
static int cutils_open(char *path, size_t len)
{
	char id[64];
	struct stat st;
	int fd;

	if (boot_id(id, sizeof(id)) < 0)
		return -1;
	snprintf(path, len, "/dev/ashmem%s", id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev == 0) {
		close(fd);
		errno = ENOTTY;
		return -1;
	}
	ashmem_rdev = st.st_rdev;
	return fd;
}

/* Step 4: is fd an ashmem fd? */
static int is_ashmem(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && ashmem_rdev != 0 &&
	       st.st_rdev == ashmem_rdev;
}

/* Create a region as libcutils does: open, SET_NAME, SET_SIZE. */
static int create_region(const char *name, size_t size)
{
	char path[128];
	int fd = cutils_open(path, sizeof(path));

	if (fd < 0)
		return -1;
	if (ioctl(fd, ASHMEM_SET_NAME, name) < 0 || ioctl(fd, ASHMEM_SET_SIZE, size) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static uint32_t word(unsigned int who, size_t i)
{
	return 0x5a000000u | who << 20 | (uint32_t)i;
}

/*
 * The second process: become an app uid (if root), learn the device by its
 * own libcutils open, receive the region, check it, map it, check the first
 * process's words, write its own, report through its exit status and a line
 * on stdout.
 */
static int second_process(int sock, size_t size)
{
	char path[128], name[ASHMEM_NAME_LEN] = "";
	uint32_t *p;
	size_t i;
	int dev, fd;

	if (geteuid() == 0 &&
	    (setgroups(0, NULL) || setgid(APP_UID) || setuid(APP_UID))) {
		printf("#   second process: dropping to uid %d: %s\n", APP_UID, strerror(errno));
		return 1;
	}
	dev = cutils_open(path, sizeof(path));
	if (dev < 0) {
		printf("#   second process: open %s: %s\n", path, strerror(errno));
		return 2;
	}
	close(dev);
	fd = recv_fd(sock, MSG_CMSG_CLOEXEC);
	if (fd < 0) {
		printf("#   second process: recvmsg: %s\n", strerror(errno));
		return 3;
	}
	if (!is_ashmem(fd)) {
		printf("#   second process: received fd is not ashmem by st_rdev\n");
		return 4;
	}
	if ((size_t)ioctl(fd, ASHMEM_GET_SIZE) != size ||
	    ioctl(fd, ASHMEM_GET_NAME, name) < 0 || strcmp(name, REGION_NAME)) {
		printf("#   second process: size %ld, name '%s'\n",
		       (long)ioctl(fd, ASHMEM_GET_SIZE), name);
		return 5;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("#   second process: mmap: %s\n", strerror(errno));
		return 6;
	}
	for (i = 0; i < WORDS; i++)
		if (p[i] != word(1, i)) {
			printf("#   second process: word %zu is %#x\n", i, p[i]);
			return 7;
		}
	for (i = 0; i < WORDS; i++)
		p[i] = word(2, i);
	printf("#   second process: uid %u, %s is char %u:%u, read %d words, wrote its own\n",
	       (unsigned int)getuid(), path, major(ashmem_rdev), minor(ashmem_rdev), WORDS);
	fflush(stdout);
	return 0;
}

static int expect_no_device(void)
{
	char path[128] = "";
	int fd;

	printf("1..1\n");
	errno = 0;
	fd = cutils_open(path, sizeof(path));
	tap(fd < 0 && errno == ENOENT, "android16_open_fails_without_the_suffixed_name",
	    "open %s: %s", path, fd < 0 ? strerror(errno) : "opened");
	return failed;
}

int main(int argc, char **argv)
{
	size_t size = WORDS * sizeof(uint32_t);
	char id[64] = "", path[128] = "", name[ASHMEM_NAME_LEN] = "", maps[8192];
	struct stat st;
	uint32_t *p = MAP_FAILED;
	int fd, region = -1, other, sv[2], status, i, plain_same = 0;
	size_t k;
	pid_t pid;
	FILE *f;

	if (argc == 2 && !strcmp(argv[1], "--expect-no-device"))
		return expect_no_device();
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--expect-no-device]\n", argv[0]);
		return 2;
	}
	printf("1..9\n");

	i = boot_id(id, sizeof(id));
	tap(i == 0 && strlen(id) == 36 && strspn(id, "0123456789abcdef-") == 36,
	    "boot_id_is_read_and_trimmed", "boot id '%s'", id);

	fd = cutils_open(path, sizeof(path));
	if (fd < 0) {
		tap(0, "suffixed_name_opens_as_a_char_device_with_a_device_number",
		    "%s: %s", path, strerror(errno));
		printf("# no device: nothing else to try\n");
		return 1;
	}
	tap(1, "suffixed_name_opens_as_a_char_device_with_a_device_number",
	    "%s is char %u:%u", path, major(ashmem_rdev), minor(ashmem_rdev));
	/* libcutils opens the device, not a region: the fd is one, as well. */
	tap(is_ashmem(fd) && ioctl(fd, ASHMEM_GET_SIZE) == 0, "the_opened_fd_is_an_ashmem_fd",
	    NULL);
	close(fd);

	/* Both names are bound (older Android and Waydroid use the plain one). */
	other = open("/dev/ashmem", O_RDWR | O_CLOEXEC);
	if (other >= 0) {
		plain_same = is_ashmem(other);
		close(other);
	}
	tap(plain_same, "plain_dev_ashmem_is_the_same_device",
	    other < 0 ? "open /dev/ashmem: %s" : NULL, strerror(errno));
	other = open("/dev/null", O_RDONLY | O_CLOEXEC);
	tap(other >= 0 && !is_ashmem(other) && fstat(other, &st) == 0 && S_ISCHR(st.st_mode),
	    "another_char_device_is_not_ashmem_by_st_rdev", NULL);
	if (other >= 0)
		close(other);

	region = create_region(REGION_NAME, size);
	tap(region >= 0 && is_ashmem(region) &&
	    (size_t)ioctl(region, ASHMEM_GET_SIZE) == size &&
	    ioctl(region, ASHMEM_GET_NAME, name) == 0 && !strcmp(name, REGION_NAME),
	    "region_is_created_named_and_sized", "size %zu, name '%s'", size, name);
	if (region < 0)
		return 1;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, region, 0);
	maps[0] = '\0';
	if (p != MAP_FAILED) {
		char line[512];
		unsigned long start = (unsigned long)p;

		for (k = 0; k < WORDS; k++)
			p[k] = word(1, k);
		f = fopen("/proc/self/maps", "re");
		while (f && fgets(line, sizeof(line), f))
			if (strtoul(line, NULL, 16) == start)
				snprintf(maps, sizeof(maps), "%s", line);
		if (f)
			fclose(f);
		maps[strcspn(maps, "\n")] = '\0';
	}
	tap(p != MAP_FAILED && strstr(maps, "/dev/ashmem/" REGION_NAME),
	    "region_maps_shared_and_shows_its_name_in_maps", "%s",
	    p == MAP_FAILED ? strerror(errno) : maps);
	if (p == MAP_FAILED)
		return 1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		alarm(30);
		_exit(second_process(sv[1], size));
	}
	close(sv[1]);
	i = pid > 0 ? send_fd(sv[0], region) : -1;
	status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	tap(i == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "region_passes_over_scm_rights_to_an_app_process",
	    "second process exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	for (k = 0; k < WORDS && p[k] == word(2, k); k++)
		;
	tap(k == WORDS, "first_process_sees_what_the_second_wrote", "%zu of %d words", k, WORDS);
	munmap(p, size);
	close(region);
	close(sv[0]);
	return failed;
}
