// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded, replayable fuzzer of /dev/ashmem that is also an oracle.
 *
 * Workers (threads of one process in one test, separate processes in the
 * other) each own a few regions and run random operations on them: open,
 * close, dup, all eleven ioctls (PIN, UNPIN and GET_FILE_ID included), mmap
 * (shared and private, random prot, flags, length and offset), munmap,
 * mprotect, writes and reads through the mappings, read, pread, lseek,
 * /proc/self/fdinfo, the debugfs summary, and fork (the child runs a few
 * operations of its own and _exits). Arguments are often hostile: NULL,
 * unmapped (below mmap_min_addr), PROT_NONE, read-only (for the GET_*
 * ioctls), kernel-half and non-canonical pointers, buffers that run into an
 * inaccessible page, huge and unaligned sizes, pin ranges that are unaligned,
 * overflow 32 bits, run past the end or are empty, unknown ioctl commands
 * (random numbers, known numbers with the wrong size or direction), prot
 * masks with extra bits, invalid mmap/mprotect flags.
 *
 * Every worker keeps a model of what it owns (name, size, prot mask, backing
 * file, per-page pin state, the data it wrote to every page, its mappings and
 * their protections, the file position) and checks each return value, errno
 * and datum against ashmem-abi.md. Purging is concurrent (all workers call
 * PURGE_ALL_CACHES), so the data rules are: a page pinned since it was
 * written keeps its data; PIN of a range without an unpinned page answers
 * ASHMEM_NOT_PURGED, and after any NOT_PURGED the range holds its data; an
 * unpinned page, or one in a range PIN reported ASHMEM_WAS_PURGED for, reads
 * as its data or as zeros (32-bit word by word, as a purge can race the
 * access), never as anything else. The first mismatch ends that worker and
 * fails the test with the seed, the worker, the operation number, the
 * operation and the ones before it, and the command line that replays it.
 *
 * Replay: every worker draws its operations and their arguments from its own
 * PRNG stream, derived from the seed, the test and the worker's index, and
 * the outcomes that other workers can influence (whether a page was purged)
 * never steer what it does next. So a seed with the same worker count replays
 * each worker's sequence of operations exactly (a forked child's too), and
 * with ASHMEM_FUZZ_WORKERS=1 the whole run is exact, purges included
 * (barring reclaim under memory pressure, which purges too). Only
 * the interleaving of several workers, and so which pages their purges hit,
 * is left to the scheduler. Each test prints a hash of its operation
 * sequences (without the file positions, which SEEK_DATA and SEEK_HOLE take
 * from what was purged), equal across runs with the same seed, budget and
 * worker count. ASHMEM_FUZZ_TRACE=1 prints the operations themselves.
 *
 * Coverage guidance: with a module built with `make module COVERAGE=1`,
 * every test empties the driver's coverage window first and reports how many
 * of the driver's blocks its operations reached, at each tenth of its budget
 * ("fuzz: blocks reached ..."). A fourth test is guided by that coverage: one
 * worker runs short operation sequences (operation seeds, see fuzz/guide.c)
 * from an empty state, reads the window after each operation, keeps the
 * sequence up to an operation that reached a block no operation reached
 * before, and makes most new sequences by mutating kept ones; every
 * operation is checked against the model as in the other modes. It stops at
 * its budget or after FUZZ_GUIDED_DEFAULT_S seconds (ASHMEM_FUZZ_SECONDS
 * sets the time), and skips on a module without coverage. A failure prints
 * the sequence: ASHMEM_FUZZ_SEQUENCE=0x..,0x.. replays it alone.
 *
 * A third test runs the threads mode with many ranges: regions are often
 * large (up to 64 Ki pages, never touched beyond the modelled ones), and
 * half the UNPINs (outside forked children) are scatters: UNPIN of every second
 * or third page over up to 4096 pages, hundreds to thousands of ranges at
 * once; a quarter of the pin ranges then span the whole region. So PIN,
 * UNPIN, close and PURGE_ALL_CACHES keep meeting regions with thousands of
 * ranges, as a hostile user would make them. Its operations are heavier: it
 * runs an eighth of the budget.
 *
 * Environment:
 *   ASHMEM_FUZZ_SEED     the seed (decimal or 0x hex); default: from the clock
 *   ASHMEM_FUZZ_OPS      operations per test, split over the workers
 *                        (default FUZZ_DEFAULT_OPS, 25000; the many-ranges
 *                        test an eighth of it; a forked child's
 *                        operations count too, and a run may end a few
 *                        operations past its budget, always the same ones)
 *   ASHMEM_FUZZ_SECONDS  run each test this long instead (with _OPS: both limits)
 *   ASHMEM_FUZZ_WORKERS  workers per test (default 4, at most 16)
 *   ASHMEM_FUZZ_TRACE=1  print every operation to stderr as it starts
 *   ASHMEM_FUZZ_SEQUENCE the guided test runs this sequence once ("0x..,0x..")
 *
 * Output (TAP comments): at the start of each test
 *   # fuzz: seed 0x..., MODE, W workers (replay: ASHMEM_FUZZ_SEED=0x... ... ./fuzz -t TEST)
 * at its end, what the operations reached, and how many there were
 *   # fuzz: reached: N calls that succeeded, N mappings, ..., N forks
 *   # fuzz: N operations (seed 0x..., MODE, W workers, sequence 0x...)
 * and on a mismatch "# fuzz: FAIL seed ..." lines. A worker killed inside a
 * system call (an oops ends the task) or that finishes no operation for
 * FUZZ_STALL_S seconds (a deadlock) is reported at once, with the operation.
 *
 * Needs root (PURGE_ALL_CACHES) and the module loaded.
 *
 * Layout: this file is the driver (configuration, workers, seeds and replay,
 * reporting, the tests); the model is fuzz/model.c, the operations
 * fuzz/ops.c, what they share fuzz/fuzz.h. The Makefile builds the three
 * into this one program.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "fuzz/fuzz.h"

/*
 * The default budget per test (threads, processes): 50,000 operations per
 * program run, 300,000 for the six runs of make check (64- and 32-bit on
 * plain 7.2 and 7.3 and on the debug 7.2 kernel), where 200,000 are wanted.
 * Measured on the plain 7.2 kernel under TCG with 2 vCPUs: 8,000 operations/s
 * (64-bit) and 7,500 (32-bit) on a busy host, about 17,000 on an idle one, so
 * 3 to 7 s per program; the debug kernel is 3-5 times slower.
 */
#define FUZZ_DEFAULT_OPS	25000
#define FUZZ_DEFAULT_WORKERS	4
#define FUZZ_MAX_WORKERS	16
/*
 * Per-test timeouts of the harness: a budget run gets 90 s plus 4 ms per
 * operation (30 times the time measured), a timed run 90 s more than its
 * time. Before that, a worker (or its forked child) that has not finished an
 * operation for FUZZ_STALL_S is reported as stuck, with that operation: the
 * driver must never deadlock.
 */
#define FUZZ_TIMEOUT_BASE	90
#define FUZZ_TIMEOUT_OPS_PER_S	250
#define FUZZ_STALL_S		45
/* The guided test's time limit when ASHMEM_FUZZ_SECONDS does not set one. */
#define FUZZ_GUIDED_DEFAULT_S	60
/* Points of the coverage curve: at each tenth of the budget, and the end. */
#define CURVE_POINTS		11
#define STR_(x)			#x
#define STR(x)			STR_(x)

/* ---- configuration, set in main() ---- */

static uint64_t g_seed;
static uint64_t g_ops = FUZZ_DEFAULT_OPS;
static int g_ops_given;
static unsigned int g_seconds;
static unsigned int g_workers = FUZZ_DEFAULT_WORKERS;
static const char *g_prog = "fuzz";
static int g_trace;			/* print every operation to stderr */
int g_exec_ok;			/* /dev is not noexec */
int g_threads;			/* threads mode: fork needs g_forklock */
int g_many;			/* many-ranges mode: big regions, scatters */
uint32_t fuzz_page_size;		/* the kernel's: 4096, or 16384 on arm64-16k */

unsigned int g_prot_arch;	/* extra prot bits the kernel accepts (fuzz/fuzz.h) */

__attribute__((constructor)) static void fuzz_page_size_init(void)
{
	/*
	 * 0x10 is arm64's PROT_BTI; 0x20 (PROT_MTE) needs a mapping that allows
	 * tags, which a region's is not (its file at mmap is the device's), and
	 * 0x40 is nothing anywhere.
	 */
	static const unsigned int probe[] = { 0x10 };
	size_t i;

	fuzz_page_size = (uint32_t)page_size();
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		/* mprotect() checks prot bits; mmap() ignores unknown ones on x86. */
		void *p = mmap(NULL, fuzz_page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			continue;
		if (!mprotect(p, fuzz_page_size, PROT_READ | probe[i]))
			g_prot_arch |= probe[i];
		munmap(p, fuzz_page_size);
	}
}
static volatile int *g_stop;		/* any worker failed */
pthread_rwlock_t g_forklock;
static __thread struct worker *t_worker;
static struct seq g_replay_seq;		/* ASHMEM_FUZZ_SEQUENCE */
static int g_replay;
/* The coverage window, when the module has one; read by one thread at a time. */
static struct cov g_cov;
static int g_have_cov;

/* Blocks reached after so many operations. */
static struct curve {
	uint64_t step, next;
	unsigned int n;
	uint64_t ops[CURVE_POINTS], blocks[CURVE_POINTS];
} g_curve;

static const char *const count_names[NR_COUNTS] = {
	"calls that succeeded", "mappings", "pages written", "pages checked", "bytes read",
	"unpins", "PINs answering WAS_PURGED", "purged pages seen", "PURGE_ALL_CACHES", "forks",
	"pages unpinned by scatters",
};

/* ---- recording operations and failures ---- */

const char *errname(int err)
{
	static __thread char buf[24];	/* "errno " and any int */
	const char *n;

	if (!err)
		return "success";
	n = strerrorname_np(err);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

void begin_op(struct worker *w, const char *fmt, ...)
{
	char *d = w->hist[w->ops % HIST];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d, DESC_LEN, fmt, ap);
	va_end(ap);
	w->desc = d;
	w->ops++;
	/* What follows " | " is context that other workers' purges can change. */
	w->hash = fnv(w->hash, d, strstr(d, " | ") ? (size_t)(strstr(d, " | ") - d) : strlen(d));
	/* Where the parent finds it if this task dies in the kernel. */
	if (w->in_child) {
		w->mbox->last_op = w->ops;
		memcpy(w->mbox->last, d, DESC_LEN);
	} else if (w->res) {
		w->res->last_op = w->ops;
		memcpy(w->res->last, d, DESC_LEN);
	}
	if (g_trace)
		fprintf(stderr, "# fuzz: %s worker %u%s op %llu: %s\n", w->mode, w->index,
			w->in_child ? " child" : "", (unsigned long long)w->ops, d);
}

static size_t replay_line(struct worker *w, char *buf, size_t len)
{
	if (w->seq) {
		size_t n = snprintf(buf, len, "replay: ASHMEM_FUZZ_SEQUENCE=");

		if (n < len)
			n += seq_format(w->seq, buf + n, len - n);
		if (n < len)
			n += snprintf(buf + n, len - n, " %s -t %s", g_prog, w->test);
		return n;
	}
	/* Every worker needs a budget of at least the failing op's number. */
	if (g_seconds && !g_ops_given)
		return snprintf(buf, len,
				"replay: ASHMEM_FUZZ_SEED=0x%llx ASHMEM_FUZZ_WORKERS=%u ASHMEM_FUZZ_OPS=%llu %s -t %s",
				(unsigned long long)g_seed, g_workers,
				(unsigned long long)w->ops * g_workers, g_prog, w->test);
	return snprintf(buf, len,
			"replay: ASHMEM_FUZZ_SEED=0x%llx ASHMEM_FUZZ_WORKERS=%u ASHMEM_FUZZ_OPS=%llu %s -t %s",
			(unsigned long long)g_seed, g_workers,
			(unsigned long long)g_ops, g_prog, w->test);
}

void fail(struct worker *w, const char *fmt, ...)
{
	size_t n, i;
	va_list ap;

	if (w->failed)
		return;
	w->failed = 1;
	n = snprintf(w->msg, MSG_LEN, "fuzz: FAIL seed 0x%llx, %s worker %u%s, op %llu: %s: ",
		     (unsigned long long)g_seed, w->mode, w->index,
		     w->in_child ? " (in a forked child)" : "",
		     (unsigned long long)w->ops, w->desc ? w->desc : "(setup)");
	va_start(ap, fmt);
	if (n < MSG_LEN)
		n += vsnprintf(w->msg + n, MSG_LEN - n, fmt, ap);
	va_end(ap);
	for (i = HIST - 1; i > 0 && n < MSG_LEN; i--) {
		uint64_t k = w->ops - i;

		if (w->ops < i + 1 || k == 0)
			continue;
		n += snprintf(w->msg + n, MSG_LEN - n, "\nfuzz:   op %llu before: %s",
			      (unsigned long long)k, w->hist[(k - 1) % HIST]);
	}
	if (n < MSG_LEN)
		n += snprintf(w->msg + n, MSG_LEN - n, "\nfuzz: ");
	if (n < MSG_LEN)
		replay_line(w, w->msg + n, MSG_LEN - n);
	if (!w->in_child)
		*g_stop = 1;
}

/* Check a call's outcome: want (0: success) or alt (-1: none). 1 when it matched. */
int expect(struct worker *w, long long ret, int err, int want, int alt)
{
	int got = ret < 0 ? err : 0;

	if (got == want || (alt >= 0 && got == alt)) {
		w->count[C_OK] += !got;
		return 1;
	}
	if (alt >= 0)
		fail(w, "%s (returned %lld), expected %s or %s", errname(got), ret,
		     errname(want), errname(alt));
	else
		fail(w, "%s (returned %lld), expected %s", errname(got), ret, errname(want));
	return 0;
}

/* A signal (a fault on memory the model said was accessible, ...): report and die. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct worker *w = t_worker;
	char buf[MSG_LEN];
	int n;

	(void)uc;
	if (!w) {
		n = snprintf(buf, sizeof(buf), "# fuzz: signal %d at %p outside a worker\n",
			     sig, si->si_addr);
		write(2, buf, n);
		_exit(70);
	}
	fail(w, "killed by signal %d (%s) at address %p", sig, strsignal(sig), si->si_addr);
	if (w->in_child) {
		snprintf(w->mbox->msg, MSG_LEN, "%s", w->msg);
		w->mbox->failed = 1;
	} else if (w->res) {
		snprintf(w->res->msg, MSG_LEN, "%s", w->msg);
		w->res->failed = 1;
	}
	n = snprintf(buf, sizeof(buf), "# %s\n", w->msg);
	write(2, buf, n);
	_exit(70);
}

/* ---- the worker ---- */

static int time_is_up(struct worker *w)
{
	struct timespec now;

	if (!w->deadline.tv_sec)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > w->deadline.tv_sec ||
	       (now.tv_sec == w->deadline.tv_sec && now.tv_nsec >= w->deadline.tv_nsec);
}

static int worker_setup(struct worker *w)
{
	unsigned char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	w->arena = p;
	w->guard = p + 2 * PG;
	w->rdonly = p + 3 * PG;
	memset(w->rdonly, 0, PG);
	memcpy(w->rdonly + RO_NAME_OFF, RO_NAME, sizeof(RO_NAME));
	if (mprotect(w->guard, PG, PROT_NONE) || mprotect(w->rdonly, PG, PROT_READ))
		return -1;
	w->rbuf = malloc(RBUF_SIZE);
	w->mbox = &w->res->mbox;
	if (!w->rbuf)
		return -1;
	return 0;
}

/* Close and unmap everything the worker holds; it starts from nothing again. */
static void worker_release(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < MAX_MAPS; i++) {
		struct mapping *m = &w->maps[i];
		size_t k;

		if (!m->used)
			continue;
		/* Never the holes: another thread's mappings may be there now. */
		if (!m->tracked)
			munmap(m->addr, m->npages * PG);
		for (k = 0; m->tracked && k < m->npages; k++)
			if (m->mapped[k])
				munmap(m->addr + k * PG, PG);
		map_release(m);
	}
	for (i = 0; i < MAX_REGIONS; i++) {
		struct region *rg = w->slots[i];

		if (!rg)
			continue;
		while (rg->nfds) {
			close(rg->fds[--rg->nfds]);
			if (rg->nfds)
				region_put(rg);
		}
		w->slots[i] = NULL;
		region_put(rg);
	}
}

static void worker_teardown(struct worker *w)
{
	worker_release(w);
	munmap(w->arena, 4 * PG);
	free(w->rbuf);
}

static void worker_run(struct worker *w)
{
	t_worker = w;
	if (worker_setup(w)) {
		fail(w, "worker setup: %s", errname(errno));
	} else {
		while (!w->failed && !*g_stop) {
			if (w->budget && w->ops >= w->budget)
				break;
			if ((w->ops & 15) == 0 && time_is_up(w))
				break;
			random_op(w);
		}
		worker_teardown(w);
	}
	w->res->ops = w->ops;
	w->res->hash = w->hash;
	memcpy(w->res->count, w->count, sizeof(w->count));
	if (w->failed) {
		snprintf(w->res->msg, MSG_LEN, "%s", w->msg);
		w->res->failed = 1;
	}
	w->res->finished = 1;
	t_worker = NULL;
}

/* ---- coverage: the curve, and the guided worker ---- */

static void curve_start(uint64_t budget)
{
	memset(&g_curve, 0, sizeof(g_curve));
	g_curve.step = budget >= 10 ? budget / 10 : 10000;
	g_curve.next = g_curve.step;
}

/* After ops operations: a point of the curve when one is due (or last). */
static void curve_sample(uint64_t ops, int last)
{
	struct curve *c = &g_curve;

	if (!g_have_cov || (!last && ops < c->next))
		return;
	while (c->next <= ops)
		c->next += c->step;
	if (cov_update(&g_cov) < 0 || c->n == CURVE_POINTS)
		return;
	/* The last point replaces one taken at the same count. */
	if (last && c->n && c->ops[c->n - 1] == ops)
		c->n--;
	c->ops[c->n] = ops;
	c->blocks[c->n++] = g_cov.reached;
}

static void curve_print(const char *mname)
{
	char line[512];
	size_t n;
	unsigned int i;

	if (!g_have_cov)
		return;
	n = snprintf(line, sizeof(line), "fuzz: blocks reached (%s), after N operations:", mname);
	for (i = 0; i < g_curve.n && n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, "%s %llu: %llu", i ? "," : "",
			      (unsigned long long)g_curve.ops[i],
			      (unsigned long long)g_curve.blocks[i]);
	ksft_print_msg("%s\n", line);
}

static int worker_done(struct worker *w)
{
	return w->failed || *g_stop || (w->budget && w->ops >= w->budget) || time_is_up(w);
}

/*
 * The guided worker: sequences from nothing, each one's operations with the
 * PRNG seeded by its seeds; those after which the window shows a new block
 * are kept. ASHMEM_FUZZ_SEQUENCE: that sequence, once.
 */
static void worker_run_guided(struct worker *w, uint64_t seed)
{
	struct corpus corpus = { 0 };
	uint64_t sequences = 0, gen = w->gen;
	struct rng mut;
	struct seq s;
	unsigned int i;

	rng_init(&mut, seed);
	t_worker = w;
	if (worker_setup(w)) {
		fail(w, "worker setup: %s", errname(errno));
		goto out;
	}
	while (!worker_done(w)) {
		if (g_replay)
			s = g_replay_seq;
		else
			seq_next(&mut, &corpus, &s);
		w->seq = &s;
		/* Each sequence from the same start, so that it replays alone. */
		w->gen = gen;
		w->next_id = 1;
		for (i = 0; i < s.n && (g_replay || !worker_done(w)); i++) {
			rng_init(&w->rng, s.op[i]);
			random_op(w);
			/* New blocks: the sequence up to here is what reached them. */
			if (g_have_cov && !g_replay && !w->failed && cov_update(&g_cov) > 0) {
				struct seq prefix = s;

				prefix.n = i + 1;
				if (corpus_add(&corpus, &prefix))
					fail(w, "keeping a sequence: out of memory");
			}
		}
		worker_release(w);
		sequences++;
		if (w->failed || g_replay)
			break;
		w->seq = NULL;
		/* Closing and unmapping it all reached new blocks: the whole sequence. */
		if (g_have_cov && cov_update(&g_cov) > 0 && corpus_add(&corpus, &s))
			fail(w, "keeping a sequence: out of memory");
		/* The update above read the window: a point costs nothing more. */
		if (w->ops >= g_curve.next && g_curve.n < CURVE_POINTS) {
			g_curve.ops[g_curve.n] = w->ops;
			g_curve.blocks[g_curve.n++] = g_cov.reached;
			while (g_curve.next <= w->ops)
				g_curve.next += g_curve.step;
		}
	}
	worker_teardown(w);
	ksft_print_msg("fuzz: guided: %llu sequences, %u kept (up to the operation that reached new blocks)\n",
		       (unsigned long long)sequences, corpus.n);
out:
	corpus_free(&corpus);
	w->res->ops = w->ops;
	w->res->hash = w->hash;
	memcpy(w->res->count, w->count, sizeof(w->count));
	if (w->failed) {
		snprintf(w->res->msg, MSG_LEN, "%s", w->msg);
		w->res->failed = 1;
	}
	w->res->finished = 1;
	t_worker = NULL;
}

struct guided_arg {
	struct worker *w;
	uint64_t seed;
};

static void *guided_thread(void *arg)
{
	struct guided_arg *a = arg;

	worker_run_guided(a->w, a->seed);
	return NULL;
}

static void *worker_thread(void *arg)
{
	worker_run(arg);
	return NULL;
}

/* ---- the tests ---- */

enum { MODE_THREADS, MODE_PROCESSES, MODE_MANY_RANGES, MODE_GUIDED };

static const char *const mode_names[] = { "threads", "processes", "many-ranges", "guided" };

static void print_lines(const char *msg)
{
	const char *l = msg, *nl;

	for (; *l; l = nl ? nl + 1 : l + strlen(l)) {
		nl = strchr(l, '\n');
		ksft_print_msg("%.*s\n", (int)(nl ? nl - l : (long)strlen(l)), l);
		if (!nl)
			break;
	}
}

/*
 * Wait for the workers. One that ends without finishing was killed in the
 * kernel (an oops ends the task); one whose operation count (its forked
 * child's included) does not move for FUZZ_STALL_S is stuck. Both are
 * reported at once with the operation under way; a stuck one is not waited
 * for (it cannot be killed either).
 */
static void wait_workers(int mode, const char *mname, struct result *res, pthread_t *th,
			 pid_t *pids)
{
	uint64_t seen[FUZZ_MAX_WORKERS], seen_child[FUZZ_MAX_WORKERS];
	double since[FUZZ_MAX_WORKERS];
	int done[FUZZ_MAX_WORKERS] = { 0 }, left = g_workers, status;
	unsigned int i;

	for (i = 0; i < g_workers; i++) {
		seen[i] = seen_child[i] = 0;
		since[i] = now_s();
	}
	while (left) {
		uint64_t ops = 0;

		usleep(20000);
		/* The guided worker reads the window itself. */
		for (i = 0; mode != MODE_GUIDED && i < g_workers; i++)
			ops += res[i].last_op;
		if (mode != MODE_GUIDED)
			curve_sample(ops, 0);
		for (i = 0; i < g_workers; i++) {
			struct result *r = &res[i];
			const char *how = NULL;
			int forking;

			if (done[i])
				continue;
			status = 0;
			if (mode != MODE_PROCESSES ? pthread_tryjoin_np(th[i], NULL) == 0 :
			    waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				done[i] = 1;
				left--;
				if (status || !r->finished)
					how = "ended";
			} else if (r->last_op != seen[i] || r->mbox.last_op != seen_child[i]) {
				seen[i] = r->last_op;
				seen_child[i] = r->mbox.last_op;
				since[i] = now_s();
			} else if (now_s() - since[i] > FUZZ_STALL_S) {
				done[i] = 1;
				left--;
				how = "is stuck";
			}
			if (!how || r->failed)
				continue;
			r->failed = 1;
			r->ops = r->last_op;
			forking = !strncmp(r->last, "fork", 4);
			snprintf(r->msg, MSG_LEN,
				 "fuzz: FAIL seed 0x%llx, %s worker %u %s (status %#x) in op %llu: %s%s%.*s\n"
				 "fuzz: (%s: see the kernel log)",
				 (unsigned long long)g_seed, mname, i, how, status,
				 (unsigned long long)r->last_op, r->last,
				 forking ? "; its child in: " : "", forking ? DESC_LEN : 0, r->mbox.last,
				 *how == 'e' ? "killed inside a system call, by the kernel" :
				 "no operation finished for " STR(FUZZ_STALL_S) " s");
			/* Now: the test may never end (a stuck task cannot be killed). */
			print_lines(r->msg);
			fflush(stdout);
		}
	}
}

static void run_mode(struct __test_metadata *_metadata, int mode, const char *test)
{
	const char *mname = mode_names[mode];
	/* Many-ranges operations are heavier: an eighth of the budget. */
	uint64_t ops = mode == MODE_MANY_RANGES ? (g_ops + 7) / 8 : g_ops;
	struct result *res;
	struct worker *ws;
	pthread_t th[FUZZ_MAX_WORKERS];
	pid_t pids[FUZZ_MAX_WORKERS];
	struct sigaction sa = { 0 };
	pthread_rwlockattr_t attr;
	struct timespec deadline = { 0 };
	uint64_t total = 0, hash = 0xcbf29ce484222325ULL, count[NR_COUNTS] = { 0 };
	unsigned int i, j, failures = 0;
	char line[512];
	size_t n;
	struct worker tmp = { .test = test };
	char replay[512];
	struct guided_arg garg;

	if (geteuid() != 0)
		SKIP(return, "needs root (PURGE_ALL_CACHES)");
	g_have_cov = cov_available();
	if (mode == MODE_GUIDED) {
		if (!g_have_cov && !g_replay)
			SKIP(return, "the module has no coverage window (%s): build it with make module COVERAGE=1",
			     COV_WINDOW);
		/* One worker: what a sequence reached is its own. */
		g_workers = 1;
	}
	if (g_have_cov)
		ASSERT_EQ(0, cov_init(&g_cov));
	curve_start(ops);
	ASSERT_EQ(PG, page_size());
	TH_LOG("page size %u, extra prot bits the kernel accepts %#x", PG, g_prot_arch);
	g_exec_ok = !dev_is_noexec();
	/* The oracle assumes PROT_READ does not bring PROT_EXEC along. */
	personality(personality(0xffffffff) & ~READ_IMPLIES_EXEC);
	g_threads = mode != MODE_PROCESSES;
	g_many = mode == MODE_MANY_RANGES;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g_forklock, &attr);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	res = mmap(NULL, sizeof(*res) * g_workers + sizeof(int), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(res != MAP_FAILED);
	g_stop = (volatile int *)(res + g_workers);
	ws = calloc(g_workers, sizeof(*ws));
	ASSERT_NOT_NULL(ws);
	replay_line(&tmp, replay, sizeof(replay));
	if (mode == MODE_GUIDED)
		ksft_print_msg("fuzz: seed 0x%llx, guided, 1 worker, %llu operations or %u s%s\n",
			       (unsigned long long)g_seed, (unsigned long long)ops,
			       g_seconds ? g_seconds : FUZZ_GUIDED_DEFAULT_S,
			       g_replay ? ", replaying ASHMEM_FUZZ_SEQUENCE" : "");
	else if (g_seconds && !g_ops_given)
		ksft_print_msg("fuzz: seed 0x%llx, %s, %u workers, %u s (replay: ASHMEM_FUZZ_SEED=0x%llx ASHMEM_FUZZ_WORKERS=%u ASHMEM_FUZZ_SECONDS=%u %s -t %s)\n",
			       (unsigned long long)g_seed, mname, g_workers, g_seconds,
			       (unsigned long long)g_seed, g_workers, g_seconds, g_prog, test);
	else
		ksft_print_msg("fuzz: seed 0x%llx, %s, %u workers (%s)\n",
			       (unsigned long long)g_seed, mname, g_workers, replay);
	fflush(stdout);

	if (g_seconds || mode == MODE_GUIDED) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += g_seconds ? g_seconds : FUZZ_GUIDED_DEFAULT_S;
	}
	for (i = 0; i < g_workers; i++) {
		struct worker *w = &ws[i];

		w->index = i;
		w->mode = mname;
		w->test = test;
		w->res = &res[i];
		w->hash = 0xcbf29ce484222325ULL;
		w->gen = (i + 1) << 26;
		w->next_id = 1;
		rng_init(&w->rng, g_seed ^ ((uint64_t)(mode + 1) << 56) ^ ((uint64_t)(i + 1) << 40));
		if (g_ops_given || !g_seconds || mode == MODE_GUIDED)
			w->budget = ops / g_workers + (i < ops % g_workers);
		w->deadline = deadline;
	}
	garg.w = &ws[0];
	garg.seed = g_seed ^ 0x6775696465ULL;	/* the mutations' stream */
	for (i = 0; i < g_workers; i++) {
		if (mode == MODE_GUIDED) {
			ASSERT_EQ(0, pthread_create(&th[i], NULL, guided_thread, &garg));
			continue;
		}
		if (mode != MODE_PROCESSES) {
			ASSERT_EQ(0, pthread_create(&th[i], NULL, worker_thread, &ws[i]));
			continue;
		}
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (!pids[i]) {
			worker_run(&ws[i]);
			_exit(0);
		}
	}
	wait_workers(mode, mname, res, th, pids);
	for (i = 0; i < g_workers; i++)
		total += res[i].ops;
	curve_sample(total, 1);
	curve_print(mname);
	total = 0;
	for (i = 0; i < g_workers; i++) {
		for (j = 0; j < NR_COUNTS; j++)
			count[j] += res[i].count[j];
		total += res[i].ops;
		hash = fnv(hash, &res[i].hash, sizeof(res[i].hash));
		if (res[i].failed) {
			failures++;
			if (!strstr(res[i].msg, "see the kernel log"))	/* printed already */
				print_lines(res[i].msg);
		}
	}
	n = snprintf(line, sizeof(line), "fuzz: reached:");
	for (j = 0; j < NR_COUNTS && n < sizeof(line); j++)
		n += snprintf(line + n, sizeof(line) - n, "%s %llu %s", j ? "," : "",
			      (unsigned long long)count[j], count_names[j]);
	ksft_print_msg("%s\n", line);
	ksft_print_msg("fuzz: %llu operations (seed 0x%llx, %s, %u workers, sequence 0x%016llx)\n",
		       (unsigned long long)total, (unsigned long long)g_seed, mname, g_workers,
		       (unsigned long long)hash);
	fflush(stdout);
	free(ws);
	munmap(res, sizeof(*res) * g_workers + sizeof(int));
	if (g_have_cov)
		cov_free(&g_cov);
	EXPECT_EQ(0, failures);
	EXPECT_LT(0, total);
}

TEST(random_ops_from_threads_of_one_process_match_the_abi_model)
{
	run_mode(_metadata, MODE_THREADS, "random_ops_from_threads_of_one_process_match_the_abi_model");
}

TEST(random_ops_from_separate_processes_match_the_abi_model)
{
	run_mode(_metadata, MODE_PROCESSES, "random_ops_from_separate_processes_match_the_abi_model");
}

TEST(random_ops_on_regions_with_many_ranges_match_the_abi_model)
{
	run_mode(_metadata, MODE_MANY_RANGES,
		 "random_ops_on_regions_with_many_ranges_match_the_abi_model");
}

TEST(coverage_guided_op_sequences_match_the_abi_model)
{
	run_mode(_metadata, MODE_GUIDED, "coverage_guided_op_sequences_match_the_abi_model");
}

static int env_number(const char *name, unsigned long long *out)
{
	const char *v = getenv(name);
	char *end;

	if (!v || !*v)
		return 0;
	errno = 0;
	*out = strtoull(v, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "%s: %s is not a number\n", name, v);
		exit(KSFT_FAIL);
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	unsigned long long v;
	struct timespec ts;
	int timeout;

	g_prog = argv[0];
	if (env_number("ASHMEM_FUZZ_SEED", &v)) {
		g_seed = v;
	} else {
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x ^= ((uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec) << 17 ^ (uint64_t)getpid() << 40;
		g_seed = splitmix64(&x);
	}
	if (env_number("ASHMEM_FUZZ_OPS", &v)) {
		g_ops = v;
		g_ops_given = 1;
	}
	if (env_number("ASHMEM_FUZZ_SECONDS", &v))
		g_seconds = v;
	if (env_number("ASHMEM_FUZZ_WORKERS", &v)) {
		if (!v || v > FUZZ_MAX_WORKERS) {
			fprintf(stderr, "ASHMEM_FUZZ_WORKERS: 1 to %d\n", FUZZ_MAX_WORKERS);
			exit(KSFT_FAIL);
		}
		g_workers = v;
	}
	if (env_number("ASHMEM_FUZZ_TRACE", &v))
		g_trace = !!v;
	if (getenv("ASHMEM_FUZZ_SEQUENCE")) {
		if (seq_parse(getenv("ASHMEM_FUZZ_SEQUENCE"), &g_replay_seq)) {
			fprintf(stderr, "ASHMEM_FUZZ_SEQUENCE: up to %d numbers, comma-separated\n",
				SEQ_MAX);
			exit(KSFT_FAIL);
		}
		g_replay = 1;
	}
	if (g_ops_given && !g_ops) {
		fprintf(stderr, "ASHMEM_FUZZ_OPS: at least 1\n");
		exit(KSFT_FAIL);
	}
	if (g_seconds && !g_ops_given)
		timeout = FUZZ_TIMEOUT_BASE + g_seconds;
	else
		timeout = FUZZ_TIMEOUT_BASE + (g_ops + FUZZ_TIMEOUT_OPS_PER_S - 1) / FUZZ_TIMEOUT_OPS_PER_S +
			  (g_ops_given && g_seconds ? g_seconds : 0);
	if (timeout > 2000000 || timeout < 0)	/* the harness waits timeout * 1000 ms */
		timeout = 2000000;
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout = timeout;
	return test_harness_run(argc, argv);
}
