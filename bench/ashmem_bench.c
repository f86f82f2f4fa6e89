// SPDX-License-Identifier: GPL-2.0
/*
 * ashmem_bench: /dev/ashmem against memfd_create(), side by side, in one run.
 *
 * Each figure is measured in rounds that run the ashmem case and its baseline
 * in turn, the first of the two alternating by round, so both see the same
 * machine and neither always follows the other; the median round is reported.
 * Prints a table on stdout and writes JSON to the file given with -o.
 *
 * usage: ashmem_bench [-q] [-l | -t | -r] [-o FILE]
 *   -q: few repetitions, for a smoke test; -l: only the lifecycle and its
 *   breakdown; -t: only the thread figure and its controls; -r: only the
 *   reclaim figures (the shrinker's count and scan with 100,000 ranges, the
 *   count of a removed cgroup's range under its parent, and the kernel
 *   memory of a range)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ashmem_uapi.h"

#define KiB 1024UL
#define MiB (1024 * KiB)

static long page;
static int quick;
/* CPUs online: the thread figures mean nothing with one. */
static long cpus;
/*
 * Two threads of plain computation did not give 1.5x to 2.1x one: the host had
 * no second core free, or was busy during some rounds.
 */
static int host_busy;

static double tsc_hz;

/*
 * The CPU's cycle counter: x86's TSC, arm64's virtual counter (CNTVCT_EL0, a
 * fixed frequency). "TSC" below means whichever this is.
 */
static inline uint64_t cycle_counter(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
#error "no cycle counter for this architecture"
#endif
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Seconds, from the TSC: the test guest has no clock better than jiffies
 * (10 ms), so the TSC is the time base, converted once against the clock
 * over a long enough interval. Ratios do not depend on the conversion.
 */
static double now(void)
{
	return cycle_counter() / tsc_hz;
}

static void calibrate(double seconds)
{
	double w0 = wall(), w1;
	uint64_t t0 = cycle_counter();

	while ((w1 = wall()) - w0 < seconds)
		;
	tsc_hz = (cycle_counter() - t0) / (w1 - w0);
}

static void die(const char *what)
{
	fprintf(stderr, "ashmem_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Round `r` of a figure: the ashmem case and its baseline in turn, the first
 * of the two alternating by round, so neither always follows the other.
 */
#define IN_TURN(r, ashmem_case, baseline) \
	do {                              \
		if ((r) % 2) {            \
			baseline;         \
			ashmem_case;      \
		} else {                  \
			ashmem_case;      \
			baseline;         \
		}                         \
	} while (0)

/* A region of `size` bytes; mapped shared when `map` is not NULL. */
static int ashmem_region(size_t size, char **map)
{
	int fd = open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open " ASHMEM_DEVICE);
	if (ioctl(fd, ASHMEM_SET_SIZE, size))
		die("ASHMEM_SET_SIZE");
	if (map) {
		*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (*map == MAP_FAILED)
			die("mmap ashmem");
	}
	return fd;
}

static int memfd_region(size_t size, char **map)
{
	int fd = memfd_create("bench", MFD_CLOEXEC);

	if (fd < 0)
		die("memfd_create");
	if (ftruncate(fd, size))
		die("ftruncate");
	if (map) {
		*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (*map == MAP_FAILED)
			die("mmap memfd");
	}
	return fd;
}

/* A figure: the ashmem value, its baseline, and what the ratio means. */
struct figure {
	const char *key, *what, *unit;
	double ashmem, baseline, ratio;
	const char *baseline_name, *target;
	int met;
};

static struct figure figures[24];
static int nfigures;

static void add(const char *key, const char *what, const char *unit, double ashmem,
		const char *baseline_name, double baseline, double ratio, const char *target,
		int met)
{
	figures[nfigures++] = (struct figure){ key, what, unit, ashmem, baseline, ratio,
					       baseline_name, target, met };
}

/*
 * 1. Region lifecycle: open, name, size 64 KiB, mmap, touch a page, munmap,
 * close. Besides ashmem and memfd, two floors for ashmem: the memfd lifecycle
 * plus the open and close of a second file, /dev/null (any char device), or a
 * /dev/ashmem region that is named and sized but never mapped (a region with
 * no backing file: what a region costs beyond the shmem file).
 */
enum lc_kind { LC_MEMFD, LC_ASHMEM, LC_MEMFD_NULL, LC_MEMFD_REGION };

static double lifecycle(enum lc_kind kind, int n)
{
	double t0 = now();

	for (int i = 0; i < n; i++) {
		int fd, extra = -1;
		char *p;

		if (kind == LC_MEMFD_NULL) {
			extra = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (extra < 0)
				die("open /dev/null");
		} else if (kind == LC_MEMFD_REGION) {
			extra = open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC);
			if (extra < 0 || ioctl(extra, ASHMEM_SET_NAME, "bench") ||
			    ioctl(extra, ASHMEM_SET_SIZE, 64 * KiB))
				die("unmapped region");
		}
		if (kind == LC_ASHMEM) {
			fd = open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC);
			if (fd < 0 || ioctl(fd, ASHMEM_SET_NAME, "bench") ||
			    ioctl(fd, ASHMEM_SET_SIZE, 64 * KiB))
				die("ashmem lifecycle");
		} else {
			fd = memfd_create("bench", MFD_CLOEXEC);
			if (fd < 0 || ftruncate(fd, 64 * KiB))
				die("memfd lifecycle");
		}
		p = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("lifecycle mmap");
		p[0] = 1;
		munmap(p, 64 * KiB);
		close(fd);
		if (extra >= 0)
			close(extra);
	}
	return n / (now() - t0);
}

/*
 * 1b. Where the lifecycle's time goes: TSC ticks per step, summed over `n`
 * iterations and divided by `n`. The steps are those of lifecycle(); memfd has
 * no name step (the name is an argument of memfd_create).
 */
enum step { ST_CREATE, ST_NAME, ST_SIZE, ST_MMAP, ST_TOUCH, ST_MUNMAP, ST_CLOSE, NSTEPS };

static const char *const step_key[NSTEPS] = {
	"create", "name", "size", "mmap", "touch", "munmap", "close",
};

static const char *const step_what[NSTEPS] = {
	"create: open(/dev/ashmem) | memfd_create",
	"name: ASHMEM_SET_NAME | (none)",
	"size: ASHMEM_SET_SIZE | ftruncate",
	"first mmap (ashmem: creates the shmem file)",
	"touch one page",
	"munmap",
	"close (ashmem: region file + shmem file)",
};

/* The TSC, not reordered with the instructions around it. */
static inline uint64_t ticks(void)
{
#if defined(__aarch64__)
	__asm__ volatile("isb" ::: "memory");
#else
	__builtin_ia32_lfence();
#endif
	return cycle_counter();
}

static void lifecycle_steps(int use_ashmem, int n, double out[NSTEPS])
{
	uint64_t sum[NSTEPS] = { 0 };

	for (int i = 0; i < n; i++) {
		uint64_t t[NSTEPS + 1];
		int fd;
		char *p;

		t[0] = ticks();
		fd = use_ashmem ? open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC) :
				  memfd_create("bench", MFD_CLOEXEC);
		if (fd < 0)
			die("lifecycle steps: create");
		t[1] = ticks();
		if (use_ashmem && ioctl(fd, ASHMEM_SET_NAME, "bench"))
			die("ASHMEM_SET_NAME");
		t[2] = ticks();
		if (use_ashmem ? ioctl(fd, ASHMEM_SET_SIZE, 64 * KiB) : ftruncate(fd, 64 * KiB))
			die("lifecycle steps: size");
		t[3] = ticks();
		p = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("lifecycle steps: mmap");
		t[4] = ticks();
		p[0] = 1;
		t[5] = ticks();
		munmap(p, 64 * KiB);
		t[6] = ticks();
		close(fd);
		t[7] = ticks();
		for (int s = 0; s < NSTEPS; s++)
			sum[s] += t[s + 1] - t[s];
	}
	for (int s = 0; s < NSTEPS; s++)
		out[s] = (double)sum[s] / n;
}

/*
 * Controls for the breakdown, TSC ticks per open and per close: what opening
 * and closing a file costs with nothing of ours in it.
 */
enum control { CT_NULL, CT_ASHMEM, CT_MEMFD, NCONTROLS };

static const char *const control_key[NCONTROLS] = { "devnull", "ashmem", "memfd" };

static const char *const control_what[NCONTROLS] = {
	"open+close /dev/null (a char device)",
	"open+close /dev/ashmem (never mapped)",
	"memfd_create+close",
};

static void open_close(enum control c, int n, double *open_ticks, double *close_ticks)
{
	uint64_t so = 0, sc = 0;

	for (int i = 0; i < n; i++) {
		uint64_t t0, t1, t2;
		int fd;

		t0 = ticks();
		fd = c == CT_MEMFD ? memfd_create("bench", MFD_CLOEXEC) :
				     open(c == CT_NULL ? "/dev/null" : ASHMEM_DEVICE,
					  O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die(control_what[c]);
		t1 = ticks();
		close(fd);
		t2 = ticks();
		so += t1 - t0;
		sc += t2 - t1;
	}
	*open_ticks = (double)so / n;
	*close_ticks = (double)sc / n;
}

/* The breakdown's results: medians over the rounds, in TSC ticks. */
static double steps_med[2][NSTEPS];
static double controls_med[NCONTROLS][2];
/* Lifecycles per second: memfd, and the two floors (see lifecycle()). */
static double floors_med[3];
static int have_breakdown;
/* Bytes per range: charged unpinned, all slab unpinned, charged purged. */
static double range_bytes[3];
static int have_range_bytes;

static void breakdown(int rounds, int n)
{
	double v[2][NSTEPS][9], c[NCONTROLS][2][9], f[3][9];

	for (int r = 0; r < rounds; r++) {
		double one[NSTEPS];

		f[0][r] = lifecycle(LC_MEMFD, n);
		f[1][r] = lifecycle(LC_MEMFD_NULL, n);
		f[2][r] = lifecycle(LC_MEMFD_REGION, n);

		for (int kind = 0; kind < 2; kind++) {
			lifecycle_steps(kind == 0, n, one);
			for (int s = 0; s < NSTEPS; s++)
				v[kind][s][r] = one[s];
		}
		for (int k = 0; k < NCONTROLS; k++)
			open_close(k, n, &c[k][0][r], &c[k][1][r]);
	}
	for (int kind = 0; kind < 2; kind++)
		for (int s = 0; s < NSTEPS; s++)
			steps_med[kind][s] = median(v[kind][s], rounds);
	for (int k = 0; k < NCONTROLS; k++)
		for (int j = 0; j < 2; j++)
			controls_med[k][j] = median(c[k][j], rounds);
	for (int k = 0; k < 3; k++)
		floors_med[k] = median(f[k], rounds);
	have_breakdown = 1;
}

static void print_breakdown(void)
{
	double ta = 0, tm = 0;

	printf("\nlifecycle breakdown, TSC ticks per iteration (median of the rounds' means):\n");
	printf("%-46s %10s %10s %10s\n", "step", "ashmem", "memfd", "ashmem-memfd");
	for (int s = 0; s < NSTEPS; s++) {
		printf("%-46s %10.0f %10.0f %10.0f\n", step_what[s], steps_med[0][s],
		       steps_med[1][s], steps_med[0][s] - steps_med[1][s]);
		ta += steps_med[0][s];
		tm += steps_med[1][s];
	}
	printf("%-46s %10.0f %10.0f %10.0f   (memfd/ashmem %.3f)\n", "sum of the steps", ta, tm,
	       ta - tm, tm / ta);
	printf("%-46s %10s %10s\n", "control", "open", "close");
	for (int k = 0; k < NCONTROLS; k++)
		printf("%-46s %10.0f %10.0f\n", control_what[k], controls_med[k][0],
		       controls_med[k][1]);
	printf("floors for the lifecycle figure (lifecycles per s; ratio to memfd measured with them):\n");
	printf("%-46s %10.4g\n", "memfd", floors_med[0]);
	printf("%-46s %10.4g %10.3f\n", "memfd + open/close /dev/null", floors_med[1],
	       floors_med[1] / floors_med[0]);
	printf("%-46s %10.4g %10.3f\n", "memfd + an unmapped region (open..close)", floors_med[2],
	       floors_med[2] / floors_med[0]);
}

/* 2. Fault-in: write one byte per page of a fresh shared mapping. */
static double fault_in(int use_ashmem, size_t size)
{
	char *p;
	int fd = use_ashmem ? ashmem_region(size, &p) : memfd_region(size, &p);
	double t0 = now(), mbps;

	for (size_t off = 0; off < size; off += page)
		p[off] = 1;
	mbps = size / MiB / (now() - t0);
	munmap(p, size);
	close(fd);
	return mbps;
}

/* PIN or UNPIN of npages pages from page pg (npages 0: to the end). */
static void pin_op_len(int fd, int cmd, size_t pg, size_t npages)
{
	struct ashmem_pin pin = { (uint32_t)(pg * page), (uint32_t)(npages * page) };

	if (ioctl(fd, cmd, &pin) < 0)
		die(cmd == ASHMEM_PIN ? "ASHMEM_PIN" : "ASHMEM_UNPIN");
}

static void pin_op(int fd, int cmd, size_t pg)
{
	pin_op_len(fd, cmd, pg, 1);
}

/*
 * 3. PIN/UNPIN latency with `ranges` unpinned ranges in the region: every
 * other page of the first 2 * ranges pages is unpinned; the operation is
 * UNPIN then PIN of a page in the middle of them, which merges with its two
 * neighbours and splits again.
 */
static double pin_latency(int fd, size_t ranges, int n)
{
	/* An odd page, so pinned, between two unpinned ones (next to page 0 for one range). */
	size_t mid = ranges > 1 ? 2 * (ranges / 2) - 1 : 1;
	double t0;

	for (size_t i = 0; i < ranges; i++)
		pin_op(fd, ASHMEM_UNPIN, 2 * i);
	t0 = now();
	for (int i = 0; i < n; i++) {
		pin_op(fd, ASHMEM_UNPIN, mid);
		pin_op(fd, ASHMEM_PIN, mid);
	}
	t0 = (now() - t0) / n * 1e9;
	for (size_t i = 0; i < ranges; i++)
		pin_op(fd, ASHMEM_PIN, 2 * i);
	return t0;
}

/* 4. Purge: pages per second freed by PURGE_ALL_CACHES, or by punching a memfd. */
static double purge(int use_ashmem, size_t size)
{
	struct ashmem_pin all = { 0, 0 };
	char *p;
	int fd = use_ashmem ? ashmem_region(size, &p) : memfd_region(size, &p);
	double t0, rate;

	memset(p, 1, size);
	if (use_ashmem && ioctl(fd, ASHMEM_UNPIN, &all))
		die("ASHMEM_UNPIN");
	t0 = now();
	if (use_ashmem) {
		if (ioctl(fd, ASHMEM_PURGE_ALL_CACHES) < 0)
			die("ASHMEM_PURGE_ALL_CACHES (needs CAP_SYS_ADMIN)");
	} else if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size)) {
		die("fallocate");
	}
	rate = size / page / (now() - t0);
	munmap(p, size);
	close(fd);
	return rate;
}

/*
 * 5. Threads on independent regions: UNPIN/PIN pairs per second, in total.
 * Two controls say how far the guest itself lets two threads scale: the same
 * number of syscalls on private memfds, and a loop with no syscall at all (the
 * host's spare cores; QEMU runs each vCPU on a host thread). A third line runs
 * a driver ioctl that allocates nothing and leaves the purge LRU alone
 * (GET_PIN_STATUS, twice per pair).
 */
enum work { W_PIN, W_MEMFD, W_COMPUTE, W_STATUS };

struct worker {
	int fd;
	enum work work;
	double seconds;
	long ops;
	pthread_barrier_t *start;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	double t0;
	long ops = 0;

	/*
	 * All threads start timing together, once all exist: a thread that ran
	 * alone while the next was being set up would count time it did not share.
	 */
	pthread_barrier_wait(w->start);
	t0 = now();

	while (now() - t0 < w->seconds) {
		for (int i = 0; i < 100; i++) {
			if (w->work == W_MEMFD) {
				/* The same number of syscalls on a private memfd. */
				char c = (char)i;

				if (pwrite(w->fd, &c, 1, page) != 1 || pread(w->fd, &c, 1, page) != 1)
					die("pwrite/pread");
			} else if (w->work == W_STATUS) {
				struct ashmem_pin pin = { (uint32_t)page, (uint32_t)page };

				if (ioctl(w->fd, ASHMEM_GET_PIN_STATUS, &pin) < 0 ||
				    ioctl(w->fd, ASHMEM_GET_PIN_STATUS, &pin) < 0)
					die("ASHMEM_GET_PIN_STATUS");
			} else if (w->work == W_COMPUTE) {
				/* About as long as a pair of syscalls, in user space only. */
				volatile unsigned x = i;

				for (int k = 0; k < 200; k++)
					x = x * 1103515245u + 12345u;
			} else {
				pin_op(w->fd, ASHMEM_UNPIN, 1);
				pin_op(w->fd, ASHMEM_PIN, 1);
			}
		}
		ops += 100;
	}
	w->seconds = now() - t0;
	w->ops = ops;
	return NULL;
}

static double threads(int n, double seconds, enum work work)
{
	struct worker w[2];
	pthread_t t[2];
	pthread_barrier_t start;
	double rate = 0;
	char *p[2];

	pthread_barrier_init(&start, NULL, n);
	for (int i = 0; i < n; i++)
		w[i] = (struct worker){ work == W_PIN || work == W_STATUS ?
						ashmem_region(16 * page, &p[i]) :
						memfd_region(16 * page, &p[i]),
					work, seconds, 0, &start };
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, &w[i]);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		rate += w[i].ops / w[i].seconds;
		munmap(p[i], 16 * page);
		close(w[i].fd);
	}
	pthread_barrier_destroy(&start);
	return rate;
}

/* 5, and its controls: 2 threads vs 1, the rounds alternating the two. */
static void thread_figures(int rounds)
{
	static const struct {
		enum work work;
		const char *key, *what;
	} kinds[] = {
		{ W_PIN, "threads", "UNPIN+PIN pairs/s, 2 threads on own regions vs 1 thread" },
		{ W_STATUS, "threads_status", "GET_PIN_STATUS pairs/s, 2 threads vs 1" },
		{ W_MEMFD, "threads_control",
		  "control: pwrite+pread pairs/s on memfds, 2 threads vs 1" },
		{ W_COMPUTE, "threads_compute", "control: user-space loop, 2 threads vs 1" },
	};
	double a[9], b[9], x, y;

	for (int k = 0; k < 4; k++) {
		for (int r = 0; r < rounds; r++) {
			double s = quick ? 0.2 : 1.0;

			IN_TURN(r, a[r] = threads(2, s, kinds[k].work),
				b[r] = threads(1, s, kinds[k].work));
		}
		x = median(a, rounds);
		y = median(b, rounds);
		if (kinds[k].work != W_PIN)
			add(kinds[k].key, kinds[k].what, "per s", x, "1 thread", y, x / y, "(info)", 1);
		else
			/* With one CPU the figure measures time slicing, not scaling: never "met". */
			add(kinds[k].key, kinds[k].what, "per s", x, "1 thread", y, x / y,
			    cpus >= 2 ? ">= 1.7" : "1 CPU!", cpus >= 2 && x / y >= 1.7);
		/* Beyond 2, something slowed the one-thread rounds. */
		if (kinds[k].work == W_COMPUTE)
			host_busy = cpus >= 2 && (x / y < 1.5 || x / y > 2.1);
	}
}

/* 6. Kernel memory (slab) per open region, from /proc/meminfo. */
static long meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = atol(line + strlen(key) + 1);
	fclose(f);
	return v;
}

/*
 * Opens `n` regions of each kind and keeps them open, in alternating chunks,
 * adding up the growth of Slab per kind: nothing is freed in between, so
 * neither kind reuses objects the other freed. A first chunk of each, not
 * counted, uses up the free objects left from earlier figures.
 */
static void slab_per_region(int n, double *ashmem, double *memfd)
{
	int chunk = n / 4, total = 2 * (n + chunk), used = 0;
	int *fds = calloc(total, sizeof(*fds));
	long grew[2] = { 0, 0 };

	if (!fds)
		die("calloc");
	for (int round = 0; round < 5; round++) {
		for (int kind = 0; kind < 2; kind++) {
			long before = meminfo_kb("Slab");

			for (int i = 0; i < chunk; i++) {
				char *p;

				/* With its backing file, as a memfd always has one. */
				fds[used] = kind == 0 ? ashmem_region(64 * KiB, &p) :
							memfd_region(64 * KiB, &p);
				munmap(p, 64 * KiB);
				used++;
			}
			if (round > 0)
				grew[kind] += meminfo_kb("Slab") - before;
		}
	}
	for (int i = 0; i < used; i++)
		close(fds[i]);
	free(fds);
	*ashmem = grew[0] * 1024.0 / (4 * chunk);
	*memfd = grew[1] * 1024.0 / (4 * chunk);
}

/*
 * 7. Reclaim with many ranges. A user can make 100,000 one-page ranges (every
 * other page of a never-touched region unpinned); reclaim's cost must not
 * grow with them. Measured through the shrinker's debugfs files
 * (CONFIG_SHRINKER_DEBUG), which call the driver's count and scan:
 *  - count: reading the count file (which counts every cgroup's list on
 *    every node) with 100,000 ranges listed, against one range;
 *  - scan: a scan of 64 pages, which purges 64 one-page ranges, in a cgroup
 *    holding 100,000 ranges, against one holding just those 64 (the same
 *    work; the list is all that differs);
 *  - a removed cgroup's range: the count, under the parent, of a range of
 *    16,384 pages unpinned in a cgroup that was then removed, against its
 *    count in that cgroup while it lived (the kernel moves the entries to
 *    the parent: the count must follow them in full).
 * And the kernel memory a range takes, unpinned and purged, from the
 * memory.stat of the cgroup whose task unpinned them (the cgroup that pays),
 * and how much of the kernel's slab growth that is (the rest is charged
 * nowhere).
 */
#define SHRINKERS	"/sys/kernel/debug/shrinker"
#define CGROUPS		"/sys/fs/cgroup"
#define SCAN_PAGES	64

/* Ranges of the "many" cases: 100,000 (10,000 in a quick run). */
static size_t many_ranges(void)
{
	return quick ? 10000 : 100000;
}

static int write_str(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * memory.stat is up to date after the kernel's periodic flush of its per-CPU
 * counts, every 2 s (FLUSH_TIME, mm/memcontrol.c); before, it may lag by 64
 * pages per CPU (4 times the bytes on a 16K-page kernel: there the quick
 * run's 10,000 ranges read as 0 bytes).
 */
#define STATS_FLUSH_WAIT_US	2500000

static long long stat_value(const char *path, const char *key)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ' ')
			v = atoll(line + strlen(key) + 1);
	fclose(f);
	return v;
}

/* The "ashmem-<id>" directory of the shrinker, or "" when there is none. */
static void shrinker_dir(char *buf, size_t len)
{
	FILE *p = popen("ls " SHRINKERS " 2>/dev/null | grep '^ashmem-[0-9]*$' | head -n1", "r");

	buf[0] = '\0';
	if (p && fgets(buf + strlen(SHRINKERS) + 1, len - strlen(SHRINKERS) - 1, p)) {
		memcpy(buf, SHRINKERS "/", strlen(SHRINKERS) + 1);
		buf[strcspn(buf, "\n")] = '\0';
	}
	if (p)
		pclose(p);
}

/* A child cgroup for the ranges of one case: its inode number (the shrinker's id). */
static unsigned long long make_cgroup(const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), CGROUPS "/%s", name);
	rmdir(path);
	if (mkdir(path, 0755) && errno != EEXIST)
		die(path);
	if (stat(path, &st))
		die(path);
	return st.st_ino;
}

static void enter_cgroup(const char *name)
{
	char path[256], pid[32];

	snprintf(path, sizeof(path), CGROUPS "%s%s/cgroup.procs", *name ? "/" : "", name);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_str(path, pid))
		die(path);
}

/* A region of 2 * n pages with n one-page ranges unpinned (made in the current cgroup). */
static int region_with_ranges(size_t n)
{
	char *p;
	int fd = ashmem_region(2 * n * page, NULL);

	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	munmap(p, page);
	for (size_t i = 0; i < n; i++)
		pin_op(fd, ASHMEM_UNPIN, 2 * i);
	return fd;
}

/* The shrinker's count for cgroup ino (the sum over nodes), from its count file. */
static long long count_of(const char *dir, unsigned long long ino)
{
	char path[600], line[4096];
	long long sum = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/count", dir);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if (strtoull(p, &end, 10) != ino)
			continue;
		for (p = end;; p = end) {
			long long v = strtoll(p, &end, 10);

			if (end == p)
				break;
			sum += v;
		}
	}
	fclose(f);
	return sum;
}

#define DEAD_RANGE_PAGES	16384

/*
 * A range of DEAD_RANGE_PAGES pages unpinned in bench-parent/creator, which
 * is then removed: its count there while it lived, and under bench-parent
 * once the kernel has moved the entries (waiting up to 60 s for that).
 */
static void dead_creator_count(const char *dir, double *live, double *dead)
{
	unsigned long long parent_ino = make_cgroup("bench-parent"), creator_ino;
	int fd;

	if (write_str(CGROUPS "/bench-parent/cgroup.subtree_control", "+memory"))
		die("+memory in bench-parent");
	creator_ino = make_cgroup("bench-parent/creator");
	enter_cgroup("bench-parent/creator");
	fd = ashmem_region(DEAD_RANGE_PAGES * page, NULL);
	{
		char *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED)
			die("mmap");
		munmap(p, page);
	}
	pin_op_len(fd, ASHMEM_UNPIN, 0, 0);
	enter_cgroup("");
	*live = count_of(dir, creator_ino);
	if (rmdir(CGROUPS "/bench-parent/creator"))
		die("rmdir bench-parent/creator");
	*dead = 0;
	for (int i = 0; i < 6000 && !*dead; i++) {
		*dead = count_of(dir, parent_ino);
		if (!*dead)
			usleep(10000);
	}
	close(fd);
	rmdir(CGROUPS "/bench-parent");
}

/* Seconds for one read of the shrinker's count file. */
static double count_read(const char *dir)
{
	char path[600], buf[65536];
	double t0 = now();
	int fd;

	snprintf(path, sizeof(path), "%s/count", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return now() - t0;
}

static double count_median(const char *dir, int n)
{
	double v[64];

	for (int i = 0; i < n; i++)
		v[i] = count_read(dir);
	return median(v, n);
}

/* Seconds for one scan of SCAN_PAGES pages of the cgroup ino. */
static double scan_once(const char *dir, unsigned long long ino)
{
	char path[600], cmd[64];
	double t0;

	snprintf(path, sizeof(path), "%s/scan", dir);
	snprintf(cmd, sizeof(cmd), "%llu 0 %d", ino, SCAN_PAGES);
	t0 = now();
	if (write_str(path, cmd))
		die(path);
	return now() - t0;
}

/*
 * Makes the oldest `SCAN_PAGES` ranges of the region (pages 2i, i from
 * *next) purged-and-back: pinned and unpinned again, so they are listed
 * again (at the tail); returns nothing. Used to keep a list at its size.
 */
static void relist(int fd, size_t first, size_t n)
{
	for (size_t i = first; i < first + n; i++) {
		pin_op(fd, ASHMEM_PIN, 2 * i);
		pin_op(fd, ASHMEM_UNPIN, 2 * i);
	}
}

/*
 * Bytes of slab in the whole kernel (/proc/meminfo Slab), less the caches a
 * debug kernel keeps about every allocation (kmemleak's, debugobjects'),
 * which are not the driver's.
 */
static long long slab_total(void)
{
	static const char *const debug_caches[] = {
		"kmemleak_object", "kmemleak_scan_area", "debug_objects_cache",
	};
	long long sum = meminfo_kb("Slab") * 1024;
	char line[512];
	FILE *f = fopen("/proc/slabinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char name[64];
		unsigned long pages, nslabs;

		if (sscanf(line, "%63s %*u %*u %*u %*u %lu : tunables %*u %*u %*u : slabdata %*u %lu",
			   name, &pages, &nslabs) != 3)
			continue;
		for (size_t i = 0; i < sizeof(debug_caches) / sizeof(debug_caches[0]); i++)
			if (!strcmp(name, debug_caches[i]))
				sum -= (long long)nslabs * pages * page;
	}
	if (f)
		fclose(f);
	return sum;
}

static void reclaim_figures(int rounds)
{
	char dir[512], memstat[300];
	double a[9], b[9], one[2], many;
	unsigned long long few_ino, many_ino;
	long long all0, cg0, all1, cg1, cg2;
	int fd_one, fd_few, fd_many, fd_mem, reads = quick ? 8 : 32;
	struct stat st;

	shrinker_dir(dir, sizeof(dir));
	if (stat(CGROUPS "/cgroup.controllers", &st) ||
	    write_str(CGROUPS "/cgroup.subtree_control", "+memory")) {
		printf("reclaim figures: skipped: no cgroup v2 memory controller at " CGROUPS "\n");
		return;
	}
	if (!dir[0]) {
		printf("shrinker count and scan: skipped: no SHRINKER_DEBUG (no " SHRINKERS
		       "/ashmem-<id>)\n");
	} else {
		/* Count: one range, then 100,000, then one again (both one-range phases). */
		fd_one = ashmem_region(2 * page, NULL);
		{
			char *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd_one, 0);

			if (p == MAP_FAILED)
				die("mmap");
			munmap(p, page);
		}
		pin_op(fd_one, ASHMEM_UNPIN, 0);
		if (ioctl(fd_one, ASHMEM_PURGE_ALL_CACHES) < 0)
			die("ASHMEM_PURGE_ALL_CACHES");
		pin_op(fd_one, ASHMEM_UNPIN, 0);
		one[0] = count_median(dir, reads);
		fd_many = region_with_ranges(many_ranges());
		many = count_median(dir, reads);
		close(fd_many);
		one[1] = count_median(dir, reads);
		close(fd_one);
		add("count_100k", quick ? "shrinker count (debugfs count file) with 10,000 ranges vs 1" :
		    "shrinker count (debugfs count file) with 100,000 ranges vs 1", "us",
		    many * 1e6, "1 range", (one[0] + one[1]) / 2 * 1e6,
		    many / ((one[0] + one[1]) / 2), "<= 1.5", many / ((one[0] + one[1]) / 2) <= 1.5);

		/* Scan: two cgroups, one with 100,000 ranges, one with the 64 a scan purges. */
		many_ino = make_cgroup("bench-many");
		few_ino = make_cgroup("bench-few");
		enter_cgroup("bench-many");
		fd_many = region_with_ranges(many_ranges());
		enter_cgroup("bench-few");
		fd_few = region_with_ranges(SCAN_PAGES);
		enter_cgroup("");
		for (int r = 0; r < rounds; r++) {
			IN_TURN(r, a[r] = scan_once(dir, many_ino), b[r] = scan_once(dir, few_ino));
			/*
			 * Put back what the scans purged, each from its own cgroup (a range is
			 * listed under the cgroup that unpins it): the lists keep their size.
			 */
			enter_cgroup("bench-many");
			relist(fd_many, (size_t)r * SCAN_PAGES, SCAN_PAGES);
			enter_cgroup("bench-few");
			relist(fd_few, 0, SCAN_PAGES);
			enter_cgroup("");
		}
		close(fd_many);
		close(fd_few);
		rmdir(CGROUPS "/bench-many");
		rmdir(CGROUPS "/bench-few");
		add("scan_100k", quick ? "64-page scan (debugfs scan file), cgroup of 10,000 ranges vs 64" :
		    "64-page scan (debugfs scan file) in a cgroup of 100,000 ranges vs 64",
		    "us", median(a, rounds) * 1e6, "64 ranges", median(b, rounds) * 1e6,
		    median(a, rounds) / median(b, rounds), "<= 1.5",
		    median(a, rounds) / median(b, rounds) <= 1.5);

		/* A removed cgroup's range, counted under the parent. */
		dead_creator_count(dir, &one[0], &one[1]);
		add("dead_creator_count", "count of a removed cgroup's 16,384-page range, under its parent",
		    "pages", one[1], "live cgroup", one[0], one[0] ? one[1] / one[0] : 0, ">= 1",
		    one[0] == DEAD_RANGE_PAGES && one[1] >= one[0]);
	}

	/*
	 * Memory per range: a region made in the root cgroup, its ranges unpinned by
	 * this task in a cgroup of their own (which pays for them), then purged.
	 */
	make_cgroup("bench-memory");
	snprintf(memstat, sizeof(memstat), CGROUPS "/bench-memory/memory.stat");
	fd_mem = ashmem_region(2 * many_ranges() * page, NULL);
	{
		char *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd_mem, 0);

		if (p == MAP_FAILED)
			die("mmap");
		munmap(p, page);
	}
	enter_cgroup("bench-memory");
	usleep(STATS_FLUSH_WAIT_US);
	all0 = slab_total();
	cg0 = stat_value(memstat, "slab");
	for (size_t i = 0; i < many_ranges(); i++)
		pin_op(fd_mem, ASHMEM_UNPIN, 2 * i);
	usleep(STATS_FLUSH_WAIT_US);
	all1 = slab_total();
	cg1 = stat_value(memstat, "slab");
	if (ioctl(fd_mem, ASHMEM_PURGE_ALL_CACHES) < 0)
		die("ASHMEM_PURGE_ALL_CACHES");
	usleep(STATS_FLUSH_WAIT_US);
	cg2 = stat_value(memstat, "slab");
	close(fd_mem);
	enter_cgroup("");
	rmdir(CGROUPS "/bench-memory");
	range_bytes[0] = (double)(cg1 - cg0) / many_ranges();
	range_bytes[1] = (double)(all1 - all0) / many_ranges();
	range_bytes[2] = (double)(cg2 - cg0) / many_ranges();
	have_range_bytes = 1;
	add("range_bytes", "kernel memory per unpinned range, charged to the unpinner's cgroup",
	    "bytes", range_bytes[0], "all slab", range_bytes[1], range_bytes[0] / range_bytes[1],
	    "(info)", 1);
	add("purged_range_bytes", "kernel memory per purged range, charged to the unpinner's cgroup",
	    "bytes", range_bytes[2], "unpinned", range_bytes[0], range_bytes[2] / range_bytes[0],
	    "(info)", 1);
}

static void print_range_bytes(void)
{
	printf("\nkernel memory per range (%zu one-page ranges of a region made in another cgroup, "
	       "unpinned in a cgroup of their own):\n", many_ranges());
	printf("  unpinned: %.0f bytes charged to the unpinner's cgroup (memory.stat slab), of %.0f "
	       "bytes the kernel's slab grew per range (debug caches left out; the rest: "
	       "charged nowhere, or slab overhead)\n", range_bytes[0], range_bytes[1]);
	printf("  purged:   %.0f bytes still charged to the unpinner's cgroup (its tree node; the LRU "
	       "entry is freed)\n", range_bytes[2]);
}

static void write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die(path);
	fprintf(f, "{\n  \"schema\": \"ashmem-bench/1\",\n  \"quick\": %s,\n  \"figures\": [\n",
		quick ? "true" : "false");
	for (int i = 0; i < nfigures; i++) {
		struct figure *g = &figures[i];

		char ratio[32];

		/* JSON has no inf or nan: a ratio to a zero baseline is null. */
		if (isfinite(g->ratio))
			snprintf(ratio, sizeof(ratio), "%.4f", g->ratio);
		else
			snprintf(ratio, sizeof(ratio), "null");
		fprintf(f,
			"    {\"key\": \"%s\", \"what\": \"%s\", \"unit\": \"%s\", \"ashmem\": %.6g, "
			"\"baseline\": \"%s\", \"baseline_value\": %.6g, \"ratio\": %s, "
			"\"target\": \"%s\", \"met\": %s}%s\n",
			g->key, g->what, g->unit, g->ashmem, g->baseline_name, g->baseline, ratio,
			g->target, g->met ? "true" : "false", i + 1 < nfigures ? "," : "");
	}
	fprintf(f, "  ],\n  \"cpus_online\": %ld,\n  \"host_busy\": %s,\n", cpus,
		host_busy ? "true" : "false");
	if (have_breakdown) {
		fprintf(f, "  \"lifecycle_breakdown\": {\"unit\": \"TSC ticks per iteration\", "
			   "\"steps\": [\n");
		for (int s = 0; s < NSTEPS; s++)
			fprintf(f, "    {\"step\": \"%s\", \"what\": \"%s\", \"ashmem\": %.1f, "
				   "\"memfd\": %.1f}%s\n",
				step_key[s], step_what[s], steps_med[0][s], steps_med[1][s],
				s + 1 < NSTEPS ? "," : "");
		fprintf(f, "  ], \"controls\": [\n");
		for (int k = 0; k < NCONTROLS; k++)
			fprintf(f, "    {\"control\": \"%s\", \"what\": \"%s\", \"open\": %.1f, "
				   "\"close\": %.1f}%s\n",
				control_key[k], control_what[k], controls_med[k][0],
				controls_med[k][1], k + 1 < NCONTROLS ? "," : "");
		fprintf(f, "  ], \"floors_per_s\": {\"memfd\": %.6g, \"memfd_devnull\": %.6g, "
			   "\"memfd_unmapped_region\": %.6g}},\n",
			floors_med[0], floors_med[1], floors_med[2]);
	}
	fprintf(f, "  \"tsc_hz\": %.0f\n}\n", tsc_hz);
	fclose(f);
}

/* Figures 2 to 6. */
static void other_figures(int rounds)
{
	double a[9], b[9], x, y;

	/* 2 */
	for (int r = 0; r < rounds; r++) {
		size_t size = quick ? 16 * MiB : 256 * MiB;

		IN_TURN(r, a[r] = fault_in(1, size), b[r] = fault_in(0, size));
	}
	x = median(a, rounds);
	y = median(b, rounds);
	add("fault_in", "fault-in of a 256 MiB shared mapping", "MiB/s", x, "memfd", y, x / y,
	    ">= 0.97", x / y >= 0.97);

	/* 3 */
	{
		size_t counts[] = { 1, 100, 10000 };
		double ns[3];
		char *p;
		int fd = ashmem_region(20002 * page, &p);
		int n = quick ? 2000 : 20000;

		for (int c = 0; c < 3; c++) {
			for (int r = 0; r < rounds; r++)
				a[r] = pin_latency(fd, counts[c], n);
			ns[c] = median(a, rounds);
		}
		munmap(p, 20002 * page);
		close(fd);
		add("pin_100", "UNPIN+PIN with 100 unpinned ranges", "ns", ns[1],
		    "1 range", ns[0], ns[1] / ns[0], "(info)", 1);
		add("pin_10000", "UNPIN+PIN with 10,000 unpinned ranges", "ns", ns[2],
		    "1 range", ns[0], ns[2] / ns[0], "<= 3", ns[2] / ns[0] <= 3);
	}

	/* 4 */
	for (int r = 0; r < rounds; r++) {
		size_t size = quick ? 8 * MiB : 64 * MiB;

		IN_TURN(r, a[r] = purge(1, size), b[r] = purge(0, size));
	}
	x = median(a, rounds);
	y = median(b, rounds);
	add("purge", "purge of 64 MiB: PURGE_ALL_CACHES vs fallocate(PUNCH_HOLE)", "pages/s", x,
	    "memfd punch", y, x / y, ">= 0.9", x / y >= 0.9);

	/* 5 */
	thread_figures(rounds);

	/* 6 */
	{
		int n = quick ? 1000 : 10000;

		for (int r = 0; r < (quick ? 1 : 3); r++)
			slab_per_region(n, &a[r], &b[r]);
		x = median(a, quick ? 1 : 3);
		y = median(b, quick ? 1 : 3);
		add("slab", "kernel memory (slab) per open region, 10,000 regions", "bytes", x,
		    "memfd", y, x / y, "<= 1.5", x / y <= 1.5);
	}
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	int rounds, opt, lifecycle_only = 0, threads_only = 0, reclaim_only = 0;
	double a[9], b[9], x, y;
	struct rlimit nofile = { 30000, 30000 };

	while ((opt = getopt(argc, argv, "qltro:")) != -1) {
		if (opt == 'q')
			quick = 1;
		else if (opt == 'l')
			lifecycle_only = 1;
		else if (opt == 't')
			threads_only = 1;
		else if (opt == 'r')
			reclaim_only = 1;
		else if (opt == 'o')
			json = optarg;
		else {
			fprintf(stderr, "usage: %s [-q] [-l | -t | -r] [-o FILE]\n", argv[0]);
			return 2;
		}
	}
	page = sysconf(_SC_PAGESIZE);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 2)
		printf("WARNING: %ld CPU online: the thread figures cannot show scaling\n", cpus);
	rounds = quick ? 3 : 9;
	calibrate(quick ? 0.3 : 1.0);
	if (setrlimit(RLIMIT_NOFILE, &nofile))
		die("setrlimit(RLIMIT_NOFILE)");

	if (threads_only) {
		thread_figures(rounds);
		goto report;
	}
	if (reclaim_only) {
		reclaim_figures(rounds);
		goto report;
	}

	/* 1 */
	for (int r = 0; r < rounds; r++) {
		int n = quick ? 200 : 2000;

		IN_TURN(r, a[r] = lifecycle(LC_ASHMEM, n), b[r] = lifecycle(LC_MEMFD, n));
	}
	x = median(a, rounds);
	y = median(b, rounds);
	add("lifecycle", "region lifecycle (open, name, size 64 KiB, mmap, touch, munmap, close)",
	    "per s", x, "memfd", y, x / y, ">= 0.85", x / y >= 0.85);
	breakdown(rounds, quick ? 200 : 2000);

	if (!lifecycle_only) {
		other_figures(rounds);
		reclaim_figures(rounds);
	}
report:
	printf("%-66s %12s %14s %12s %8s %-8s %s\n", "figure", "ashmem", "baseline", "", "ratio",
	       "target", "met");
	for (int i = 0; i < nfigures; i++) {
		struct figure *g = &figures[i];

		printf("%-66s %12.4g %14.4g %-12s %8.3f %-8s %s\n", g->what, g->ashmem, g->baseline,
		       g->baseline_name, g->ratio, g->target, g->met ? "yes" : "NO");
	}
	printf("(units: lifecycle per s, fault-in MiB/s, pin ns per UNPIN+PIN, purge pages/s, "
	       "threads pairs/s, slab bytes, count and scan us, range bytes; %d rounds%s; "
	       "TSC %.0f MHz)\n", rounds,
	       quick ? ", quick" : "", tsc_hz / 1e6);
	printf("CPUs online: %ld%s\n", cpus, cpus < 2 ? " (WARNING: the thread figures are void)" : "");
	if (host_busy)
		printf("WARNING: the user-space loop gave no 1.5x-2.1x on 2 threads: the host was "
		       "busy, the thread figures are void\n");
	if (have_breakdown)
		print_breakdown();
	if (have_range_bytes)
		print_range_bytes();
	if (json)
		write_json(json);
	return 0;
}
