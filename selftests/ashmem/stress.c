// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress, with the pinning invariants checked all the time.
 *
 * Workers (threads, and processes sharing regions across fork) pin, unpin,
 * write, check, map and unmap, fault pages in and out (MADV_DONTNEED) and read
 * them with pread(2), each on pages it alone owns, while a purger calls
 * ASHMEM_PURGE_ALL_CACHES in a loop and writes 2 and 3 to
 * /proc/sys/vm/drop_caches (which makes the shrinker purge). Every page holds
 * a stamp derived from its region, its page number and a generation that its
 * owner bumps on each write, so a worker knows what each of its pages must
 * hold:
 * - a page that stayed pinned always holds its current stamp, exactly;
 * - an unpinned page (a purge may be punching it while we read) holds, word
 *   by word, its stamp or zeros, nothing else;
 * - PIN returning ASHMEM_NOT_PURGED: every page of the range holds its stamp;
 *   ASHMEM_WAS_PURGED: every page holds its stamp or is all zero, and at
 *   least one page that was unpinned is all zero;
 * - GET_PIN_STATUS is IS_UNPINNED exactly when a page of the range is.
 * The first broken invariant stops the run and is reported with the region,
 * page, generation and the words found. Each test also asserts that purges
 * really happened (WAS_PURGED seen), so it cannot pass without testing.
 *
 * Runs ASHMEM_STRESS_SECONDS seconds per test (default 2): a time budget, the
 * checks do not depend on timing. Needs root (PURGE_ALL_CACHES, drop_caches).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define DEFAULT_SECONDS		2
/* The harness timeout of each test; the run time is capped well below it. */
#define TIMEOUT_SECONDS		600
#define MAX_SECONDS		300
/* A worker that has not stopped this long after the deadline hangs. */
#define GRACE_SECONDS		120

#define DROP_CACHES		"/proc/sys/vm/drop_caches"

/* Most pages one worker owns in one region. */
#define SLICE_PAGES		16

/* Counters, summed over every worker (threads and processes alike). */
enum counter {
	C_OPS, C_PIN, C_WAS_PURGED, C_NOT_PURGED, C_PAGES_PURGED, C_UNPIN,
	C_STATUS, C_REMAP, C_PREAD, C_DONTNEED, C_PURGE_ALL, C_PURGE_PAGES,
	C_DROP, C_SCAN, C_REGIONS, C_CLOSED_UNPINNED, C_COUNT
};

/*
 * What every worker, thread or process, shares: in a MAP_SHARED anonymous
 * mapping made before any fork.
 */
struct stress {
	long long deadline_ms;
	int stop;
	int failed;
	char why[1024];
	long count[C_COUNT];
};

/* The model of pages [first, first + n) of a region, owned by one worker. */
struct slice {
	size_t first, n;
	unsigned int gen[SLICE_PAGES];
	unsigned char unpinned[SLICE_PAGES];
};

/* A worker's access to one region and the slice of it it owns. */
struct view {
	int fd;
	unsigned char *map;	/* shared mapping of the whole region, or NULL */
	size_t pages;		/* of the region */
	unsigned int tag;	/* the region's part of every stamp */
	struct slice *sl;
	char name[32];
};

struct worker {
	struct stress *s;
	struct view *views;
	int nviews;
	unsigned int rng;
	int id;
	unsigned char *buf;	/* one page, for pread */
};

static void count(struct stress *s, enum counter c, long n)
{
	__atomic_fetch_add(&s->count[c], n, __ATOMIC_RELAXED);
}

static long counted(struct stress *s, enum counter c)
{
	return __atomic_load_n(&s->count[c], __ATOMIC_RELAXED);
}

static int running(struct stress *s)
{
	return !__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) &&
	       now_ms() < s->deadline_ms;
}

/* Records the first failure (later ones are dropped) and stops everyone. */
static void __attribute__((format(printf, 2, 3)))
stress_fail(struct stress *s, const char *fmt, ...)
{
	va_list ap;

	if (!__atomic_exchange_n(&s->failed, 1, __ATOMIC_ACQ_REL)) {
		va_start(ap, fmt);
		vsnprintf(s->why, sizeof(s->why), fmt, ap);
		va_end(ap);
	}
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
}

static unsigned int rnd(unsigned int *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static unsigned int rng_seed(int id)
{
	unsigned int x = (unsigned int)getpid() * 2654435761u ^
			 (unsigned int)id * 40503u ^ (unsigned int)now_ms();

	return x ? x : 1;
}

/* The stamp seed of generation gen of region tag (see stamp_word()). */
static unsigned int seed_of(unsigned int tag, unsigned int gen)
{
	return (tag & 0x7ff) << 20 | (gen & 0xfffff);
}

/* What a page that is not exactly in the expected state holds. */
static void describe(char *out, size_t outlen, const void *p, size_t pageno,
		     unsigned int seed)
{
	size_t words = page_size() / sizeof(uint64_t), j, zero = 0, stamped = 0;
	const uint64_t *w = p;
	size_t other = words;

	for (j = 0; j < words; j++) {
		if (!w[j])
			zero++;
		else if (w[j] == stamp_word(seed, pageno, j))
			stamped++;
		else if (other == words)
			other = j;
	}
	if (other == words) {
		snprintf(out, outlen, "%zu words zero, %zu hold the stamp",
			 zero, stamped);
		return;
	}
	snprintf(out, outlen,
		 "%zu words zero, %zu hold the stamp, word %zu is %#llx (stamp %#llx)",
		 zero, stamped, other, (unsigned long long)w[other],
		 (unsigned long long)stamp_word(seed, pageno, other));
}

/* 1 when every word of the page is its stamp or zero. */
static int stamp_or_zero(const void *p, size_t pageno, unsigned int seed)
{
	size_t words = page_size() / sizeof(uint64_t), j;
	const uint64_t *w = p;

	for (j = 0; j < words; j++)
		if (w[j] && w[j] != stamp_word(seed, pageno, j))
			return 0;
	return 1;
}

/*
 * Page i of the view's slice: through the mapping, or with pread(2) into the
 * worker's buffer (via_read, or when the view has no mapping). NULL when the
 * read failed (recorded).
 */
static const unsigned char *slice_page(struct worker *w, struct view *v,
				       size_t i, int via_read)
{
	size_t pg = page_size(), pageno = v->sl->first + i;
	ssize_t n;

	if (v->map && !via_read)
		return v->map + pageno * pg;
	n = pread(v->fd, w->buf, pg, (off_t)(pageno * pg));
	if (n != (ssize_t)pg) {
		stress_fail(w->s, "%s page %zu: pread returned %zd (%s)",
			    v->name, pageno, n, n < 0 ? strerror(errno) : "short");
		return NULL;
	}
	return w->buf;
}

/*
 * Checks page i of the slice against the model: a pinned page holds its
 * stamp exactly; an unpinned one, word by word, its stamp or zeros. Returns
 * the page state, or -1 after recording a failure.
 */
static int check_page(struct worker *w, struct view *v, size_t i, int via_read,
		      const char *when)
{
	struct slice *sl = v->sl;
	size_t pageno = sl->first + i;
	unsigned int seed = seed_of(v->tag, sl->gen[i]);
	const unsigned char *p = slice_page(w, v, i, via_read);
	const char *how = (v->map && !via_read) ? "the mapping" : "pread";
	char what[160];
	int st;

	if (!p)
		return -1;
	st = page_state(p, pageno, seed);
	if (!sl->unpinned[i] && st != PAGE_STAMPED) {
		describe(what, sizeof(what), p, pageno, seed);
		stress_fail(w->s,
			    "%s page %zu stayed pinned (generation %u) but lost its data, read through %s %s by worker %d: %s",
			    v->name, pageno, sl->gen[i], how, when, w->id, what);
		return -1;
	}
	if (sl->unpinned[i] && st == PAGE_OTHER && !stamp_or_zero(p, pageno, seed)) {
		describe(what, sizeof(what), p, pageno, seed);
		stress_fail(w->s,
			    "%s page %zu is unpinned (generation %u) and holds data that is neither its own nor zeros, read through %s %s by worker %d: %s",
			    v->name, pageno, sl->gen[i], how, when, w->id, what);
		return -1;
	}
	return st;
}

static int check_pages(struct worker *w, struct view *v, size_t a, size_t b,
		       int via_read, const char *when)
{
	size_t i;

	for (i = a; i < b; i++)
		if (check_page(w, v, i, via_read, when) < 0)
			return -1;
	return 0;
}

/* Writes a new generation into the pinned pages of [a, b) through base. */
static void write_pages(struct view *v, unsigned char *base, size_t a, size_t b)
{
	size_t pg = page_size(), i;
	struct slice *sl = v->sl;

	for (i = a; i < b; i++) {
		if (sl->unpinned[i])
			continue;
		sl->gen[i]++;
		stamp_pages(base + (sl->first + i) * pg, 1, sl->first + i,
			    seed_of(v->tag, sl->gen[i]));
	}
}

static int op_unpin(struct worker *w, struct view *v, size_t a, size_t b)
{
	size_t pg = page_size(), i;
	struct slice *sl = v->sl;

	/* What stayed pinned until now still holds its data. */
	if (check_pages(w, v, a, b, 0, "before UNPIN"))
		return -1;
	if (unpin_range(v->fd, (sl->first + a) * pg, (b - a) * pg)) {
		stress_fail(w->s, "%s: UNPIN of pages %zu-%zu: %s", v->name,
			    sl->first + a, sl->first + b - 1, strerror(errno));
		return -1;
	}
	for (i = a; i < b; i++)
		sl->unpinned[i] = 1;
	count(w->s, C_UNPIN, 1);
	return 0;
}

/*
 * PIN [a, b) and check that its answer is exact: NOT_PURGED when every page
 * holds its data, WAS_PURGED when a page that was unpinned reads zero. Purged
 * pages get a new stamp. via_read: check with pread instead of the mapping.
 */
static int op_pin(struct worker *w, struct view *v, size_t a, size_t b,
		  int via_read)
{
	size_t pg = page_size(), i, zero = 0, was_unpinned = 0;
	struct slice *sl = v->sl;
	char when[96];
	int ret, st;

	ret = pin_range(v->fd, (sl->first + a) * pg, (b - a) * pg);
	if (ret != ASHMEM_NOT_PURGED && ret != ASHMEM_WAS_PURGED) {
		stress_fail(w->s, "%s: PIN of pages %zu-%zu returned %d (%s)",
			    v->name, sl->first + a, sl->first + b - 1, ret,
			    ret < 0 ? strerror(errno) : "not a PIN result");
		return -1;
	}
	snprintf(when, sizeof(when), "after PIN of pages %zu-%zu returned %s",
		 sl->first + a, sl->first + b - 1,
		 ret == ASHMEM_WAS_PURGED ? "ASHMEM_WAS_PURGED" : "ASHMEM_NOT_PURGED");
	for (i = a; i < b; i++) {
		/* check_page() takes pages unpinned until now as unpinned. */
		st = check_page(w, v, i, via_read, when);
		if (st < 0)
			return -1;
		if (!sl->unpinned[i])
			continue;
		was_unpinned++;
		if (st == PAGE_OTHER) {
			/* Part stamp, part zero: a purge tore it while pinned. */
			char what[160];

			describe(what, sizeof(what), slice_page(w, v, i, via_read),
				 sl->first + i, seed_of(v->tag, sl->gen[i]));
			stress_fail(w->s, "%s page %zu (generation %u) is neither intact nor all zero %s: %s",
				    v->name, sl->first + i, sl->gen[i], when, what);
			return -1;
		}
		if (st == PAGE_ZERO) {
			if (ret == ASHMEM_NOT_PURGED) {
				stress_fail(w->s, "%s page %zu (generation %u) reads all zero %s: pinned data was purged",
					    v->name, sl->first + i, sl->gen[i], when);
				return -1;
			}
			zero++;
		}
	}
	if (ret == ASHMEM_WAS_PURGED && !zero) {
		stress_fail(w->s, "%s: every page holds its data %s (%zu of them were unpinned)",
			    v->name, when, was_unpinned);
		return -1;
	}
	for (i = a; i < b; i++)
		sl->unpinned[i] = 0;
	/* Purged pages start a new generation (not through pread). */
	if (zero && v->map) {
		for (i = a; i < b; i++)
			if (page_state(v->map + (sl->first + i) * pg, sl->first + i,
				       seed_of(v->tag, sl->gen[i])) == PAGE_ZERO)
				write_pages(v, v->map, i, i + 1);
	}
	count(w->s, C_PIN, 1);
	count(w->s, ret == ASHMEM_WAS_PURGED ? C_WAS_PURGED : C_NOT_PURGED, 1);
	count(w->s, C_PAGES_PURGED, zero);
	return 0;
}

static int op_status(struct worker *w, struct view *v, size_t a, size_t b)
{
	size_t pg = page_size(), i;
	struct slice *sl = v->sl;
	int want = ASHMEM_IS_PINNED, ret;

	for (i = a; i < b; i++)
		if (sl->unpinned[i])
			want = ASHMEM_IS_UNPINNED;
	ret = range_pin_status(v->fd, (sl->first + a) * pg, (b - a) * pg);
	if (ret != want) {
		stress_fail(w->s, "%s: GET_PIN_STATUS of pages %zu-%zu returned %d (%s), expected %s",
			    v->name, sl->first + a, sl->first + b - 1, ret,
			    ret < 0 ? strerror(errno) : "wrong",
			    want == ASHMEM_IS_PINNED ? "ASHMEM_IS_PINNED" :
			    "ASHMEM_IS_UNPINNED");
		return -1;
	}
	count(w->s, C_STATUS, 1);
	return 0;
}

/*
 * A second shared mapping of only the slice (at its offset): check through
 * it, sometimes write a new generation through it and check that through the
 * first mapping, then unmap it.
 */
static int op_remap(struct worker *w, struct view *v)
{
	size_t pg = page_size();
	struct slice *sl = v->sl;
	unsigned char *p, *base;
	struct view tmp = *v;
	int ret = 0;

	p = mmap(NULL, sl->n * pg, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
		 (off_t)(sl->first * pg));
	if (p == MAP_FAILED) {
		stress_fail(w->s, "%s: mmap of pages %zu-%zu: %s", v->name,
			    sl->first, sl->first + sl->n - 1, strerror(errno));
		return -1;
	}
	/* Page pageno of the region is at base + pageno * pg. */
	base = p - sl->first * pg;
	tmp.map = base;
	if (check_pages(w, &tmp, 0, sl->n, 0, "in a new mapping"))
		ret = -1;
	if (!ret && rnd(&w->rng) % 2) {
		write_pages(v, base, 0, sl->n);
		if (v->map && check_pages(w, v, 0, sl->n, 0,
					  "after a write through another mapping"))
			ret = -1;
	}
	if (munmap(p, sl->n * pg)) {
		stress_fail(w->s, "%s: munmap: %s", v->name, strerror(errno));
		ret = -1;
	}
	count(w->s, C_REMAP, 1);
	return ret;
}

/* Drop the page table entries of [a, b): the next access faults them in. */
static int op_dontneed(struct worker *w, struct view *v, size_t a, size_t b)
{
	size_t pg = page_size();
	struct slice *sl = v->sl;

	if (madvise(v->map + (sl->first + a) * pg, (b - a) * pg, MADV_DONTNEED)) {
		stress_fail(w->s, "%s: MADV_DONTNEED: %s", v->name, strerror(errno));
		return -1;
	}
	count(w->s, C_DONTNEED, 1);
	return check_pages(w, v, a, b, 0, "after MADV_DONTNEED");
}

/* One random operation on a random range of one of the worker's slices. */
static int worker_op(struct worker *w)
{
	struct view *v = &w->views[rnd(&w->rng) % w->nviews];
	size_t n = v->sl->n;
	size_t a = rnd(&w->rng) % n;
	size_t b = a + 1 + rnd(&w->rng) % (n - a);
	int ret;

	count(w->s, C_OPS, 1);
	switch (rnd(&w->rng) % 14) {
	case 0:
	case 1:
		write_pages(v, v->map, a, b);
		return 0;
	case 2:
	case 3:
		return check_pages(w, v, 0, n, 0, "in a full check");
	case 4:
	case 5:
	case 6:
		return op_unpin(w, v, a, b);
	case 7:
	case 8:
	case 9:
		return op_pin(w, v, a, b, 0);
	case 10:
		return op_status(w, v, a, b);
	case 11:
		return op_remap(w, v);
	case 12:
		ret = check_pages(w, v, a, b, 1, "in a check");
		count(w->s, C_PREAD, 1);
		return ret;
	default:
		return op_dontneed(w, v, a, b);
	}
}

/* Pin what is still unpinned, then check everything: the end of a worker. */
static void worker_finish(struct worker *w)
{
	int i;

	for (i = 0; i < w->nviews && !w->s->failed; i++) {
		if (op_pin(w, &w->views[i], 0, w->views[i].sl->n, 0))
			return;
		if (check_pages(w, &w->views[i], 0, w->views[i].sl->n, 1,
				"at the end"))
			return;
	}
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;

	w->buf = malloc(page_size());
	if (!w->buf) {
		stress_fail(w->s, "worker %d: out of memory", w->id);
		return NULL;
	}
	while (running(w->s)) {
		if (worker_op(w))
			break;
		if (!(rnd(&w->rng) % 8))
			sched_yield();
	}
	worker_finish(w);
	free(w->buf);
	return NULL;
}

/* The shrinker's purge count in the debugfs summary, -1 if unavailable. */
static long long shrinker_purged(void)
{
	unsigned long long v;

	return summary_value("shrinker_pages_purged", &v) ? -1 : (long long)v;
}

/*
 * The purger: in turns of 100 ms, PURGE_ALL_CACHES in a loop, then writes of
 * 2 and 3 to drop_caches only (so that the shrinker finds ranges to purge).
 */
static void purge_loop(struct stress *s, int fd)
{
	unsigned int rng = rng_seed(-1);
	long long phase_end = now_ms() + 100;
	int drop_phase = 0, drops = 0;

	while (running(s)) {
		if (now_ms() >= phase_end) {
			drop_phase = !drop_phase;
			phase_end = now_ms() + 100;
		}
		if (drop_phase) {
			const char *level = drops++ % 2 ? "3" : "2";

			if (write_text(DROP_CACHES, level)) {
				stress_fail(s, "echo %s > %s: %s", level,
					    DROP_CACHES, strerror(errno));
				return;
			}
			count(s, C_DROP, 1);
			usleep(2000 + rnd(&rng) % 3000);
		} else {
			int n = purge_all_caches(fd);

			if (n < 0) {
				stress_fail(s, "PURGE_ALL_CACHES: %s", strerror(errno));
				return;
			}
			count(s, C_PURGE_ALL, 1);
			count(s, C_PURGE_PAGES, n);
			usleep(rnd(&rng) % 500);
		}
	}
}

static void *purge_thread(void *arg)
{
	struct stress *s = arg;
	int fd = region_new("stress-purger", 0);

	if (fd < 0) {
		stress_fail(s, "purger: open: %s", strerror(errno));
		return NULL;
	}
	purge_loop(s, fd);
	close(fd);
	return NULL;
}

FIXTURE(stress)
{
	struct stress *s;
	int seconds;
	long long shrinker_before;
};

FIXTURE_SETUP(stress)
{
	const char *env = getenv("ASHMEM_STRESS_SECONDS");
	int fd;

	if (geteuid() != 0)
		SKIP(return, "PURGE_ALL_CACHES and drop_caches need root");
	self->seconds = env ? atoi(env) : DEFAULT_SECONDS;
	if (self->seconds < 1)
		self->seconds = 1;
	if (self->seconds > MAX_SECONDS) {
		TH_LOG("ASHMEM_STRESS_SECONDS capped to %d", MAX_SECONDS);
		self->seconds = MAX_SECONDS;
	}
	self->s = mmap(NULL, sizeof(*self->s), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_MAPPED(self->s);
	memset(self->s, 0, sizeof(*self->s));
	self->shrinker_before = shrinker_purged();
	/* Nothing left over from earlier tests on the purge list. */
	fd = region_new(NULL, 0);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, purge_all_caches(fd));
	close(fd);
}

FIXTURE_TEARDOWN(stress)
{
	if (self->s && self->s != MAP_FAILED)
		munmap(self->s, sizeof(*self->s));
}

static void start(struct stress *s, int seconds)
{
	s->deadline_ms = now_ms() + seconds * 1000LL;
}

/* The counts, and the verdict: no invariant broken, and purges did happen. */
#define REPORT(s, shrinker_before) do { \
	long long __after = shrinker_purged(); \
	TH_LOG("%ld ops: %ld PIN (%ld ASHMEM_WAS_PURGED with %ld pages purged, %ld ASHMEM_NOT_PURGED), %ld UNPIN, %ld GET_PIN_STATUS, %ld remaps, %ld preads, %ld MADV_DONTNEED", \
	       counted(s, C_OPS), counted(s, C_PIN), counted(s, C_WAS_PURGED), \
	       counted(s, C_PAGES_PURGED), counted(s, C_NOT_PURGED), \
	       counted(s, C_UNPIN), counted(s, C_STATUS), counted(s, C_REMAP), \
	       counted(s, C_PREAD), counted(s, C_DONTNEED)); \
	TH_LOG("purger: %ld PURGE_ALL_CACHES (%ld pages), %ld drop_caches writes, shrinker purged %lld pages", \
	       counted(s, C_PURGE_ALL), counted(s, C_PURGE_PAGES), \
	       counted(s, C_DROP), \
	       (shrinker_before) < 0 || __after < 0 ? -1LL : __after - (shrinker_before)); \
	EXPECT_FALSE((s)->failed) { \
		TH_LOG("%s", (s)->why); \
	} \
	EXPECT_LT(0, counted(s, C_WAS_PURGED)) { \
		TH_LOG("no PIN ever returned ASHMEM_WAS_PURGED: nothing was tested"); \
	} \
	EXPECT_LT(0, counted(s, C_DROP)); \
} while (0)

/*
 * Checks every page of a view's slice once more, as the test process sees
 * it, after all workers are done and every page is pinned; then purges all
 * caches and checks again (nothing pinned may go).
 */
static int final_check(struct stress *s, struct view *views, int n)
{
	struct worker w = { .s = s, .id = 0 };
	int i, pass;

	w.buf = malloc(page_size());
	if (!w.buf)
		return -1;
	for (pass = 0; pass < 2 && !s->failed; pass++) {
		if (pass && purge_all_caches(views[0].fd) < 0)
			stress_fail(s, "PURGE_ALL_CACHES: %s", strerror(errno));
		for (i = 0; i < n && !s->failed; i++) {
			check_pages(&w, &views[i], 0, views[i].sl->n, 0,
				    pass ? "after the final purge" : "after the run");
			check_pages(&w, &views[i], 0, views[i].sl->n, 1,
				    pass ? "after the final purge" : "after the run");
		}
	}
	free(w.buf);
	return s->failed ? -1 : 0;
}

/* Several threads on one region, each on its own pages; a purger thread. */
TEST_F_TIMEOUT(stress, threads_on_disjoint_pages_of_one_region_keep_pinned_data_and_get_exact_was_purged,
	       TIMEOUT_SECONDS)
{
	enum { THREADS = 4, PAGES = 8 };
	size_t pg = page_size();
	struct slice slices[THREADS];
	struct view views[THREADS];
	struct worker workers[THREADS];
	pthread_t threads[THREADS], purger;
	unsigned char *map;
	void *p;
	int fd, i;

	fd = region_mapped("stress-threads", THREADS * PAGES * pg, &p);
	ASSERT_LE(0, fd);
	map = p;
	memset(slices, 0, sizeof(slices));
	for (i = 0; i < THREADS; i++) {
		slices[i].first = i * PAGES;
		slices[i].n = PAGES;
		views[i] = (struct view){ .fd = fd, .map = map,
			.pages = THREADS * PAGES, .tag = 1, .sl = &slices[i] };
		snprintf(views[i].name, sizeof(views[i].name), "region");
		write_pages(&views[i], map, 0, PAGES);
		workers[i] = (struct worker){ .s = self->s, .views = &views[i],
			.nviews = 1, .rng = rng_seed(i), .id = i };
	}
	start(self->s, self->seconds);
	ASSERT_EQ(0, pthread_create(&purger, NULL, purge_thread, self->s));
	for (i = 0; i < THREADS; i++)
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, worker_thread,
					    &workers[i]));
	for (i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	pthread_join(purger, NULL);
	final_check(self->s, views, THREADS);
	REPORT(self->s, self->shrinker_before);
	munmap(map, THREADS * PAGES * pg);
	close(fd);
}

/*
 * Regions shared across fork. The test process makes the regions, maps and
 * stamps them, then forks: two worker processes of two threads each (every
 * thread owns a slice of every region; the first process works through the
 * mappings it inherited, the second maps the inherited fds again), a purger
 * process, and an observer process that keeps reading every page of every
 * region through its own mappings and pread: each word must be zero or a
 * stamp of that region and page (of any generation), never another region's
 * or page's data.
 */
#define FORK_REGIONS	3
#define FORK_PROCS	2
#define FORK_THREADS	2
#define FORK_SLICE	4
#define FORK_PAGES	(FORK_PROCS * FORK_THREADS * FORK_SLICE)

struct shared_model {
	struct slice slices[FORK_PROCS * FORK_THREADS][FORK_REGIONS];
};

static void fork_worker_process(struct stress *s, struct shared_model *m,
				int proc, const int *fds, unsigned char **maps)
{
	size_t pg = page_size();
	struct view views[FORK_THREADS][FORK_REGIONS];
	struct worker workers[FORK_THREADS];
	pthread_t threads[FORK_THREADS];
	int r, t;

	for (r = 0; r < FORK_REGIONS; r++) {
		unsigned char *map = maps[r];

		if (proc == 1) {
			/* Map the inherited fd anew, at another address. */
			map = map_shared(fds[r], FORK_PAGES * pg,
					 PROT_READ | PROT_WRITE);
			if (map == MAP_FAILED) {
				stress_fail(s, "process %d: mmap of region %d: %s",
					    proc, r, strerror(errno));
				_exit(1);
			}
			munmap(maps[r], FORK_PAGES * pg);
		}
		for (t = 0; t < FORK_THREADS; t++) {
			struct view *v = &views[t][r];

			*v = (struct view){ .fd = fds[r], .map = map,
				.pages = FORK_PAGES, .tag = 10 + r,
				.sl = &m->slices[proc * FORK_THREADS + t][r] };
			snprintf(v->name, sizeof(v->name), "region %d", r);
		}
	}
	for (t = 0; t < FORK_THREADS; t++) {
		workers[t] = (struct worker){ .s = s, .views = views[t],
			.nviews = FORK_REGIONS, .rng = rng_seed(t),
			.id = proc * FORK_THREADS + t };
		if (pthread_create(&threads[t], NULL, worker_thread, &workers[t])) {
			stress_fail(s, "process %d: pthread_create failed", proc);
			_exit(1);
		}
	}
	for (t = 0; t < FORK_THREADS; t++)
		pthread_join(threads[t], NULL);
	_exit(0);
}

/*
 * Each byte zero or the byte of a stamp of this region and page, of any
 * generation: byte by byte, because the observer reads pages while their
 * owners write them, and neither pread (copy_to_user) nor the 32-bit build's
 * two-halves loads and stores read or write a 64-bit word at once.
 */
static int observe_page(struct stress *s, const unsigned char *p, int region,
			size_t pageno, const char *how)
{
	size_t words = page_size() / sizeof(uint64_t), j;
	uint64_t model = stamp_word(seed_of(10 + region, 0), 0, 0);
	/* The generation's bits (32 to 51) may hold anything. */
	uint64_t any = 0x000fffff00000000ULL;
	int k;

	for (j = 0; j < words; j++) {
		uint64_t v, want;

		memcpy(&v, p + j * sizeof(v), sizeof(v));
		want = (model & ~0xffffffffULL) | (uint32_t)(pageno << 12 ^ j);
		for (k = 0; k < 8; k++) {
			uint64_t byte = 0xffULL << (8 * k);

			if (!(v & byte) || !((v ^ want) & byte & ~any))
				continue;
			stress_fail(s, "observer: region %d page %zu word %zu read through %s is %#llx: byte %d is neither zero nor that of a stamp of this page (%#llx, generation bits aside)",
				    region, pageno, j, how, (unsigned long long)v,
				    k, (unsigned long long)want);
			return -1;
		}
	}
	return 0;
}

static void observer_process(struct stress *s, const int *fds)
{
	size_t pg = page_size(), i;
	unsigned char *maps[FORK_REGIONS], *buf = malloc(pg);
	int r;

	if (!buf)
		_exit(1);
	for (r = 0; r < FORK_REGIONS; r++) {
		maps[r] = map_shared(fds[r], FORK_PAGES * pg, PROT_READ);
		if (maps[r] == MAP_FAILED) {
			stress_fail(s, "observer: mmap: %s", strerror(errno));
			_exit(1);
		}
	}
	while (running(s)) {
		for (r = 0; r < FORK_REGIONS; r++)
			for (i = 0; i < FORK_PAGES; i++) {
				if (observe_page(s, maps[r] + i * pg, r, i, "a mapping"))
					_exit(1);
				if (pread(fds[r], buf, pg, (off_t)(i * pg)) != (ssize_t)pg) {
					stress_fail(s, "observer: pread: %s", strerror(errno));
					_exit(1);
				}
				if (observe_page(s, buf, r, i, "pread"))
					_exit(1);
			}
		count(s, C_SCAN, 1);
		/* Sometimes drop the page tables, to fault everything in again. */
		if (counted(s, C_SCAN) % 4 == 0)
			for (r = 0; r < FORK_REGIONS; r++)
				madvise(maps[r], FORK_PAGES * pg, MADV_DONTNEED);
	}
	_exit(0);
}

static void purger_process(struct stress *s, int fd)
{
	purge_loop(s, fd);
	_exit(0);
}

/* Wait for the children; kill those still running long after the deadline. */
static void reap(struct stress *s, pid_t *pids, int n)
{
	long long give_up = s->deadline_ms + GRACE_SECONDS * 1000LL;
	int left = n, i;

	while (left) {
		for (i = 0; i < n; i++) {
			int status;

			if (!pids[i] || waitpid(pids[i], &status, WNOHANG) != pids[i])
				continue;
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				stress_fail(s, "child %d (pid %d) ended with status %#x",
					    i, (int)pids[i], status);
			pids[i] = 0;
			left--;
		}
		if (left && now_ms() > give_up) {
			stress_fail(s, "%d children still running %d s after the deadline: killed",
				    left, GRACE_SECONDS);
			for (i = 0; i < n; i++)
				if (pids[i])
					kill(pids[i], SIGKILL);
			give_up = now_ms() + 10000000;
		}
		if (left)
			usleep(10000);
	}
}

TEST_F_TIMEOUT(stress, processes_and_threads_sharing_regions_across_fork_keep_pinned_data_and_get_exact_was_purged,
	       TIMEOUT_SECONDS)
{
	size_t pg = page_size();
	struct shared_model *m;
	struct view views[FORK_PROCS * FORK_THREADS * FORK_REGIONS];
	unsigned char *maps[FORK_REGIONS];
	int fds[FORK_REGIONS], r, k, nviews = 0;
	pid_t pids[FORK_PROCS + 2];

	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_MAPPED(m);
	memset(m, 0, sizeof(*m));
	for (r = 0; r < FORK_REGIONS; r++) {
		char name[32];
		void *p;

		snprintf(name, sizeof(name), "stress-fork-%d", r);
		fds[r] = region_mapped(name, FORK_PAGES * pg, &p);
		ASSERT_LE(0, fds[r]);
		maps[r] = p;
		for (k = 0; k < FORK_PROCS * FORK_THREADS; k++) {
			struct view *v = &views[nviews++];

			m->slices[k][r].first = k * FORK_SLICE;
			m->slices[k][r].n = FORK_SLICE;
			*v = (struct view){ .fd = fds[r], .map = maps[r],
				.pages = FORK_PAGES, .tag = 10 + r,
				.sl = &m->slices[k][r] };
			snprintf(v->name, sizeof(v->name), "region %d", r);
			write_pages(v, maps[r], 0, FORK_SLICE);
		}
	}
	start(self->s, self->seconds);
	for (k = 0; k < FORK_PROCS + 2; k++) {
		pids[k] = fork();
		ASSERT_LE(0, pids[k]);
		if (pids[k])
			continue;
		if (k < FORK_PROCS)
			fork_worker_process(self->s, m, k, fds, maps);
		else if (k == FORK_PROCS)
			purger_process(self->s, fds[0]);
		else
			observer_process(self->s, fds);
	}
	reap(self->s, pids, FORK_PROCS + 2);
	final_check(self->s, views, nviews);
	REPORT(self->s, self->shrinker_before);
	TH_LOG("observer: %ld scans of every page", counted(self->s, C_SCAN));
	EXPECT_LT(0, counted(self->s, C_SCAN));
	for (r = 0; r < FORK_REGIONS; r++) {
		munmap(maps[r], FORK_PAGES * pg);
		close(fds[r]);
	}
	munmap(m, sizeof(*m));
}

/*
 * Regions that come and go: each thread opens a region of 1 to 8 pages, maps
 * and stamps it, unpins and pins ranges of it, and ends it one of three ways:
 * all pinned, checked, unmapped and closed; closed while ranges are unpinned
 * and still mapped (the mapping then holds, word by word, stamps or zeros);
 * or unmapped first, then pinned and checked through pread. A purger thread
 * runs all along, so purges race with mmap, munmap and close.
 */
static void *churn_thread(void *arg)
{
	struct worker *w = arg;
	size_t pg = page_size();
	unsigned int regions = 0;

	w->buf = malloc(pg);
	if (!w->buf) {
		stress_fail(w->s, "worker %d: out of memory", w->id);
		return NULL;
	}
	while (running(w->s)) {
		size_t pages = 1 + rnd(&w->rng) % 8, i;
		struct slice sl = { .first = 0, .n = pages };
		/* Tags 100 to 999, a range of 300 per worker. */
		struct view v = { .pages = pages, .sl = &sl,
			.tag = 100 + w->id * 300 + regions++ % 300 };
		int rounds = 1 + rnd(&w->rng) % 4, end = rnd(&w->rng) % 3;
		void *p;

		snprintf(v.name, sizeof(v.name), "region (worker %d, tag %u)",
			 w->id, v.tag);
		v.fd = region_mapped("stress-churn", pages * pg, &p);
		if (v.fd < 0) {
			stress_fail(w->s, "worker %d: new region: %s", w->id,
				    strerror(errno));
			break;
		}
		v.map = p;
		count(w->s, C_REGIONS, 1);
		w->views = &v;
		w->nviews = 1;
		write_pages(&v, v.map, 0, pages);
		while (rounds-- && !w->s->failed) {
			size_t a = rnd(&w->rng) % pages;
			size_t b = a + 1 + rnd(&w->rng) % (pages - a);

			count(w->s, C_OPS, 1);
			if (op_unpin(w, &v, a, b))
				break;
			if (rnd(&w->rng) % 2)
				usleep(rnd(&w->rng) % 1000);
			if (!rounds)
				break;
			count(w->s, C_OPS, 1);
			if (op_pin(w, &v, a, b, 0))
				break;
		}
		if (w->s->failed) {
			munmap(v.map, pages * pg);
			close(v.fd);
			break;
		}
		if (end == 0) {
			op_pin(w, &v, 0, pages, 0);
			check_pages(w, &v, 0, pages, 1, "before close");
			munmap(v.map, pages * pg);
			close(v.fd);
		} else if (end == 1) {
			close(v.fd);
			count(w->s, C_CLOSED_UNPINNED, 1);
			for (i = 0; i < pages; i++)
				if (!stamp_or_zero(v.map + i * pg, i,
						   seed_of(v.tag, sl.gen[i])) ||
				    (!sl.unpinned[i] &&
				     page_state(v.map + i * pg, i,
						seed_of(v.tag, sl.gen[i])) != PAGE_STAMPED)) {
					char what[160];

					describe(what, sizeof(what), v.map + i * pg, i,
						 seed_of(v.tag, sl.gen[i]));
					stress_fail(w->s, "%s page %zu (%s, generation %u), read through a mapping after close: %s",
						    v.name, i, sl.unpinned[i] ? "unpinned" :
						    "pinned", sl.gen[i], what);
					break;
				}
			munmap(v.map, pages * pg);
		} else {
			munmap(v.map, pages * pg);
			v.map = NULL;
			op_pin(w, &v, 0, pages, 1);
			close(v.fd);
		}
	}
	w->views = NULL;
	free(w->buf);
	return NULL;
}

TEST_F_TIMEOUT(stress, regions_opened_mapped_and_closed_while_purging_keep_pinned_data_and_get_exact_was_purged,
	       TIMEOUT_SECONDS)
{
	enum { THREADS = 3 };
	struct worker workers[THREADS];
	pthread_t threads[THREADS], purger;
	int i;

	start(self->s, self->seconds);
	ASSERT_EQ(0, pthread_create(&purger, NULL, purge_thread, self->s));
	for (i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){ .s = self->s, .rng = rng_seed(i),
			.id = i };
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, churn_thread,
					    &workers[i]));
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	pthread_join(purger, NULL);
	REPORT(self->s, self->shrinker_before);
	TH_LOG("%ld regions, %ld closed with ranges unpinned",
	       counted(self->s, C_REGIONS), counted(self->s, C_CLOSED_UNPINNED));
}

/*
 * Opens racing each other: the summary lists the regions by id, however
 * their opens interleave (a region takes its id as it is listed, under the
 * registry's lock; until 7 December 2026 it took it before, and the summary
 * sorted what registered out of order). Eight threads, more than the guest's
 * CPUs, open and close regions (each keeps its last RING open) while this
 * one reads the summary and checks the order of every read.
 */
#define RING	64

struct opener {
	int opens;
	int err;	/* the first open's errno that failed */
};

static void *opener_thread(void *arg)
{
	struct opener *o = arg;
	int ring[RING], i;

	for (i = 0; i < RING; i++)
		ring[i] = -1;
	for (i = 0; i < o->opens && !o->err; i++) {
		if (ring[i % RING] >= 0)
			close(ring[i % RING]);
		ring[i % RING] = open(ASHMEM_DEVICE, O_RDWR | O_CLOEXEC);
		if (ring[i % RING] < 0)
			o->err = errno;
	}
	for (i = 0; i < RING; i++)
		if (ring[i] >= 0)
			close(ring[i]);
	__atomic_store_n(&o->opens, -1, __ATOMIC_RELEASE);
	return NULL;
}

/* The ids of the summary's region lines, in order: how many, -1 if it cannot be read. */
static int summary_ids(char *buf, size_t len, unsigned long long *ids, int max)
{
	char *line, *save = NULL;
	int n = 0;

	if (read_text(ASHMEM_SUMMARY, buf, len) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save))
		if (line[0] >= '0' && line[0] <= '9')
			ids[n++] = strtoull(line, NULL, 10);
	return n;
}

FIXTURE(summary)
{
	int unused;
};

FIXTURE_SETUP(summary)
{
}

FIXTURE_TEARDOWN(summary)
{
}

TEST_F_TIMEOUT(summary, lists_regions_by_id_while_opens_race, TIMEOUT_SECONDS)
{
	enum { THREADS = 8, OPENS = 2000, MAX_IDS = 1024 };
	static char buf[256 * 1024];
	static unsigned long long ids[MAX_IDS];
	struct opener openers[THREADS];
	pthread_t threads[THREADS];
	long reads = 0, listed = 0;
	int i, n, running = THREADS;

	if (access(ASHMEM_SUMMARY, R_OK))
		SKIP(return, "no %s (needs root and debugfs)", ASHMEM_SUMMARY);
	for (i = 0; i < THREADS; i++) {
		openers[i] = (struct opener){ .opens = OPENS };
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, opener_thread, &openers[i]));
	}
	while (running) {
		n = summary_ids(buf, sizeof(buf), ids, MAX_IDS);
		ASSERT_LE(0, n);
		reads++;
		listed += n;
		for (i = 1; i < n; i++)
			ASSERT_LT(ids[i - 1], ids[i]) {
				TH_LOG("summary read %ld: id %llu listed before id %llu",
				       reads, ids[i - 1], ids[i]);
			}
		for (running = 0, i = 0; i < THREADS; i++)
			running += __atomic_load_n(&openers[i].opens, __ATOMIC_ACQUIRE) >= 0;
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		EXPECT_EQ(0, openers[i].err) {
			TH_LOG("open: %s", strerror(openers[i].err));
		}
	}
	TH_LOG("%ld summary reads listed %ld regions", reads, listed);
	EXPECT_LT(0, listed);
}

TEST_HARNESS_MAIN
