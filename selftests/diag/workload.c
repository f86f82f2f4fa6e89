// SPDX-License-Identifier: GPL-2.0
/*
 * workload: processes holding ashmem regions of known sizes, names and page
 * counts, for ashmem-diag to be checked against (selftests/diag/check_diag.py)
 * and shown (make demo).
 *
 *   workload DIR [ROLE...]   roles: alpha beta stable leaker blank zleader
 *                            (default: all)
 *
 * Forks one process per role and names it the way its kind of process is
 * named (see "Names" below). Once every one has set up its regions, writes
 * DIR/ready with a line "ROLE PID" per role and waits. SIGTERM or SIGINT
 * stops it: it kills the role processes, reaps them and exits 0. A role
 * process that dies makes it exit 1; a role process dies with it
 * (PR_SET_PDEATHSIG).
 *
 * Names. diag-alpha and diag-beta only rename their comm (PR_SET_NAME) after
 * the fork: their cmdline stays the workload's. diag-stable and diag-leaker
 * are named like Android apps forked from zygote: the package name written
 * over the argument area (argv[0], the rest NULs) and its last 15 bytes as
 * comm. diag-blank clears its argument area (an empty cmdline). diag-zleader
 * holds its region from a second thread after its main thread has exited:
 * its thread group leader is a zombie while the process lives on. The
 * argument area must hold the longest package name (DIR long enough: 34
 * bytes of arguments do).
 *
 * Sizes are counts of the kernel's pages, written (and named) below as the
 * KiB they are with 4 KiB pages, x86-64's: on a kernel with 16 KiB pages
 * (arm64-16k) "alpha-64k" is 16 pages too, 256 KiB. KiB is that unit, a
 * quarter of the page size.
 *   diag-alpha   "alpha-64k"    64 KiB, mapped, pages 0, 3, 7, 15 written, fd kept
 *                "alpha-128k"  128 KiB, mapped, all 32 pages written, fd closed
 *                "alpha-fdonly" 256 KiB, never mapped, its fd and a dup() of it
 *   diag-beta    "beta cache"    1 MiB, mapped, pages 0-9 written, pages 0-3
 *                               unpinned, fd kept
 *   diag-stable  "stable-a"     32 KiB, mapped, all written, fd kept
 *                "stable-b"      8 KiB, never mapped, fd kept
 *   diag-leaker  "leaky"        16 KiB each, a new one every 0.5 s: mapped,
 *                               first page written, fd closed (up to 2000)
 *   diag-blank   "blank"         4 KiB, mapped, written, fd kept
 *   diag-zleader "orphan"       12 KiB, mapped, all written, fd kept, by the
 *                               second thread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../ashmem/ashmem_uapi.h"

/* A quarter of the kernel's page size: 1024 with 4 KiB pages (set in main). */
static size_t KiB;
#define MAX_ROLES 6
#define LEAK_MAX 2000
#define COMM_MAX 15	/* TASK_COMM_LEN - 1 */

enum { ALPHA, BETA, STABLE, LEAKER, BLANK, ZLEADER };

static const char *const role_names[MAX_ROLES] = {
	"alpha", "beta", "stable", "leaker", "blank", "zleader",
};

/* The package name written over argv[0], NULL: the cmdline is kept. */
static const char *const packages[MAX_ROLES] = {
	[STABLE] = "com.example.steady.persistent",
	[LEAKER] = "com.example.leaky.persistent",
	[BLANK] = "",
};

/* The argument area: argv[0] up to the NUL of the last argument. */
static char *args_start;
static size_t args_len;

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	_exit(1);
}

/* A new region: open, name, size. */
static int region(const char *name, size_t size)
{
	int fd = open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open " ASHMEM_DEVICE);
	if (ioctl(fd, ASHMEM_SET_NAME, name))
		die("ASHMEM_SET_NAME");
	if (ioctl(fd, ASHMEM_SET_SIZE, size))
		die("ASHMEM_SET_SIZE");
	return fd;
}

static char *map(int fd, size_t size)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* Writes one byte into each listed page, so exactly those become resident. */
static void touch(char *p, const int *pages, int n)
{
	for (int i = 0; i < n; i++)
		p[(size_t)pages[i] * 4 * KiB] = (char)(0x5a + i);
}

static void alpha(void)
{
	static const int some[] = { 0, 3, 7, 15 };
	int fd = region("alpha-64k", 64 * KiB);

	touch(map(fd, 64 * KiB), some, 4);
	fd = region("alpha-128k", 128 * KiB);
	memset(map(fd, 128 * KiB), 0xa1, 128 * KiB);
	close(fd);
	fd = region("alpha-fdonly", 256 * KiB);
	if (dup(fd) < 0)
		die("dup");
}

static void beta(void)
{
	static const int first[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct ashmem_pin head = { .offset = 0, .len = 4 * 4 * KiB };
	int fd = region("beta cache", 1024 * KiB);

	touch(map(fd, 1024 * KiB), first, 10);
	if (ioctl(fd, ASHMEM_UNPIN, &head) < 0)
		die("ASHMEM_UNPIN");
}

static void stable(void)
{
	int fd = region("stable-a", 32 * KiB);

	memset(map(fd, 32 * KiB), 0x5b, 32 * KiB);
	region("stable-b", 8 * KiB);
}

static void leak_one(void)
{
	int fd = region("leaky", 16 * KiB);

	map(fd, 16 * KiB)[0] = 1;
	close(fd);
}

static void blank(void)
{
	memset(map(region("blank", 4 * KiB), 4 * KiB), 0x5c, 4 * KiB);
}

/*
 * Names the process as zygote names an app: the package name over the
 * argument area, NULs after it, and as comm the last COMM_MAX bytes of the
 * name. An empty name clears the area; comm then keeps its own name.
 */
static void set_package_name(const char *name, const char *comm)
{
	size_t len = strlen(name);

	if (len + 1 > args_len) {
		fprintf(stderr, "workload: %zu bytes of arguments cannot hold %s\n",
			args_len, name);
		_exit(1);
	}
	memset(args_start, 0, args_len);
	memcpy(args_start, name, len);
	if (len && prctl(PR_SET_NAME, len > COMM_MAX ? name + len - COMM_MAX : name))
		die("PR_SET_NAME");
	if (!len && prctl(PR_SET_NAME, comm))
		die("PR_SET_NAME");
}

static int zleader_ready;

/* diag-zleader's second thread: holds the region, reports readiness once
 * the main thread has exited (the leader is a zombie), then waits. */
static void *orphan_thread(void *arg)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	char path[64], stat[512], *state;
	ssize_t n;
	int fd;

	(void)arg;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		die("PR_SET_PDEATHSIG");
	memset(map(region("orphan", 12 * KiB), 12 * KiB), 0x5d, 12 * KiB);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)getpid());
	for (;;) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die(path);
		n = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		if (n <= 0)
			die(path);
		stat[n] = 0;
		state = strrchr(stat, ')');
		if (state && state[1] == ' ' && state[2] == 'Z')
			break;
		nanosleep(&tick, NULL);
	}
	if (write(zleader_ready, "", 1) != 1)
		die("readiness pipe");
	close(zleader_ready);
	for (;;)
		pause();
	return NULL;
}

/* The role process: set up, report readiness on `ready`, then wait. */
static void role(int which, int ready)
{
	char comm[16];
	struct timespec half = { 0, 500 * 1000 * 1000 };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		die("PR_SET_PDEATHSIG");
	if (getppid() == 1)
		_exit(1);	/* the parent is already gone */
	snprintf(comm, sizeof(comm), "diag-%s", role_names[which]);
	if (packages[which])
		set_package_name(packages[which], comm);
	else if (prctl(PR_SET_NAME, comm))
		die("PR_SET_NAME");
	switch (which) {
	case ALPHA:
		alpha();
		break;
	case BETA:
		beta();
		break;
	case STABLE:
		stable();
		break;
	case LEAKER:
		leak_one();
		break;
	case BLANK:
		blank();
		break;
	case ZLEADER: {
		pthread_t thread;

		zleader_ready = ready;
		errno = pthread_create(&thread, NULL, orphan_thread, NULL);
		if (errno)
			die("pthread_create");
		pthread_exit(NULL);	/* the second thread reports readiness */
	}
	}
	if (write(ready, "", 1) != 1)
		die("readiness pipe");
	close(ready);
	if (which != LEAKER)
		for (;;)
			pause();
	for (int n = 1;; n++) {
		nanosleep(&half, NULL);
		if (n < LEAK_MAX)
			leak_one();
	}
}

int main(int argc, char **argv)
{
	pid_t pids[MAX_ROLES] = { 0 };
	int roles[MAX_ROLES], nroles = 0, pipefd[2], got = 0, sig, status;
	char path[4096], tmp[4096], byte;
	sigset_t set;
	FILE *f;

	KiB = (size_t)sysconf(_SC_PAGESIZE) / 4;
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [alpha|beta|stable|leaker|blank|zleader]...\n",
			argv[0]);
		return 2;
	}
	args_start = argv[0];
	args_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
	for (int i = 2; i < argc; i++) {
		int r;

		for (r = 0; r < MAX_ROLES && strcmp(argv[i], role_names[r]); r++)
			;
		if (r == MAX_ROLES || nroles == MAX_ROLES) {
			fprintf(stderr, "workload: unknown or repeated role %s\n", argv[i]);
			return 2;
		}
		roles[nroles++] = r;
	}
	if (argc == 2)
		for (nroles = 0; nroles < MAX_ROLES; nroles++)
			roles[nroles] = nroles;

	/* Signals are taken with sigwait(); the role processes unblock them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (pipe(pipefd))
		die("pipe");
	for (int i = 0; i < nroles; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			close(pipefd[0]);
			role(roles[i], pipefd[1]);
		}
	}
	close(pipefd[1]);
	/* One byte per ready role; EOF before that means one died. */
	while (got < nroles && read(pipefd[0], &byte, 1) == 1)
		got++;
	close(pipefd[0]);
	if (got < nroles) {
		fprintf(stderr, "workload: %d of %d role processes failed to start\n",
			nroles - got, nroles);
		goto stop;
	}

	snprintf(path, sizeof(path), "%s/ready", argv[1]);
	snprintf(tmp, sizeof(tmp), "%s/.ready.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	for (int i = 0; i < nroles; i++)
		fprintf(f, "%s %d\n", role_names[roles[i]], pids[i]);
	if (fclose(f) || rename(tmp, path))
		die(path);

	for (;;) {
		if (sigwait(&set, &sig))
			die("sigwait");
		if (sig != SIGCHLD)
			break;
		/* A role process died on its own: that is a failure. */
		if (waitpid(-1, &status, WNOHANG) > 0) {
			fprintf(stderr, "workload: a role process died (status 0x%x)\n", status);
			got = -1;
			break;
		}
	}
stop:
	for (int i = 0; i < nroles; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return got == nroles ? 0 : 1;
}
