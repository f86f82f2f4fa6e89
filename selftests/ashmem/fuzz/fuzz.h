/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the parts of the fuzzer share. selftests/ashmem/fuzz.c is the program
 * (its top comment tells what it does), built from:
 *   fuzz.c         the driver: configuration, workers, seeds and replay, the
 *                  record of operations and the failure reports, the tests;
 *   fuzz/model.c   the model: what a worker owns (regions, backing files,
 *                  mappings, pin state, data) and the rules that say what
 *                  each call must answer;
 *   fuzz/ops.c     the operations, one function per operation with its
 *                  hostile arguments, and the draw of the next one;
 *   fuzz/guide.c   coverage guidance: the driver's coverage window, and the
 *                  corpus of operation sequences that reached new blocks.
 * Each .c file defines _GNU_SOURCE and _FILE_OFFSET_BITS=64 before this.
 */
#ifndef ASHMEM_FUZZ_H
#define ASHMEM_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ashmem_uapi.h"
#include "ashmem_test.h"

/* ---- sizes and limits ---- */

/* The kernel's page size (fuzz.c sets it from sysconf() before main). */
extern uint32_t fuzz_page_size;
#define PG			fuzz_page_size
#define WORDS			(PG / 4)
#define MAX_REGIONS		6	/* open regions per worker */
#define MAX_FDS			3	/* fds per region (the first and dups) */
#define MAX_MAPS		10	/* mappings per worker */
#define DATA_PAGES		24	/* pages of a region whose contents are modelled */
#define MAP_PAGES		32	/* longest mapping modelled page by page */
#define BIG_MAP_PAGES		4096	/* longest mapping made at all (never touched) */
#define MANY_REGION_PAGES	65536	/* many-ranges mode: largest region size drawn */
#define SCATTER_PAGES		4096	/* many-ranges mode: longest span of a scatter */
#define PIN_PAGES_MAX		(0xffffffffULL / PG)	/* pages a 32-bit pin offset reaches */
#define RBUF_SIZE		(4 * PG)
#define DESC_LEN		240
#define HIST			6
#define MSG_LEN			4096
#define MB_ENTRIES		64

#define IS64			(sizeof(long) == 8)
/*
 * prot bits beyond PROT_READ|WRITE|EXEC|SEM the kernel accepts for any
 * mapping: arm64's PROT_BTI (0x10) where the CPU has BTI, also for 32-bit
 * processes; none on x86-64. fuzz.c probes them once.
 */
extern unsigned int g_prot_arch;
#ifndef PROT_SEM
#define PROT_SEM		0x8	/* asm-generic/mman-common.h */
#endif
/* Largest file size of the 64-bit kernel (MAX_LFS_FILESIZE). */
#define MAX_FILE_SIZE		((unsigned long long)LLONG_MAX)

/* Pointers that no mapping can cover. */
#define PTR_LOW			0x1000UL	/* below mmap_min_addr */
/* A page-aligned address nothing maps (no mapping is ever placed that low). */
#define PAGE_LOW		((void *)(uintptr_t)PG)
#if __SIZEOF_LONG__ == 8
#define PTR_KERNEL		0xffff888000000000UL
#define PTR_NONCANON		0x8000000000000000UL
#define NONUSER_PTRS		1	/* they fail access_ok() itself */
#else
#define PTR_KERNEL		0xfffff000UL	/* above the compat TASK_SIZE */
#define PTR_NONCANON		0xfffffff0UL
#define NONUSER_PTRS		0
#endif

enum ptrkind { P_VALID, P_NULL, P_LOW, P_GUARD, P_STRADDLE, P_RDONLY, P_KERNEL,
	       P_NONCANON, P_TIGHT, P_SHORT };

#define RO_PIN_OFF		0
#define RO_NAME_OFF		64
#define RO_NAME			"ro-name"

/* ---- random numbers: xoshiro256**, seeded through splitmix64 ---- */

struct rng {
	uint64_t s[4];
};

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void rng_init(struct rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rnd(struct rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n), n > 0. */
static inline uint32_t below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rnd(r) >> 32) * (uint64_t)n) >> 32);
}

static inline int chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

static inline uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

/* ---- the model: what a worker owns, and what it reports ---- */

/* Unpinned pages of a region: sorted, disjoint page intervals [s, e). */
struct pinset {
	uint64_t *s, *e;
	unsigned int n, cap;
};

struct region;

/* The backing file of a region: what its pages must hold. */
struct backing {
	int refs;			/* its region (until released), shared mappings */
	int inherited;			/* (in a forked child) the parent's */
	uint64_t file_pages;		/* pages of the file: size rounded up */
	struct region *owner;		/* whose pins may get it purged; NULL once released */
	uint32_t gen[DATA_PAGES];	/* stamp last written, 0: zeros */
	uint8_t uncertain[DATA_PAGES];	/* may have been purged since (words may be 0) */
};

struct region {
	unsigned int id;		/* per worker, for messages */
	int refs;			/* fds + anonymous mappings (they hold the file) */
	int anon;			/* anonymous (private) mappings of it */
	int inherited;
	int nfds;
	int fds[MAX_FDS];
	int acc;			/* O_RDWR, O_RDONLY or O_WRONLY */
	unsigned char name[ASHMEM_NAME_LEN];
	size_t namelen;
	size_t size;
	unsigned long mask;
	struct backing *bk;		/* once mmapped */
	struct pinset pins;
	long long pos;			/* file position, shared by the dups */
	unsigned long long ino;		/* GET_FILE_ID, 0 until seen */
};

struct mapping {
	int used;
	unsigned int id;
	unsigned char *addr;
	size_t npages;
	int tracked;			/* short enough to model page by page */
	int shared;			/* maps the backing file (else anonymous) */
	struct backing *bk;		/* shared: the backing */
	struct region *rg;		/* anonymous: the region whose file it holds */
	uint64_t pgoff;
	unsigned int maymask;		/* PROT_* mprotect may grant */
	unsigned int live;		/* pages still mapped */
	uint8_t mapped[MAP_PAGES];
	uint8_t prot[MAP_PAGES];
	uint32_t gen[MAP_PAGES];	/* anonymous: stamp last written */
};

/* What a forked child did to the parent's objects, applied after it exits. */
enum { MB_WRITE, MB_PIN, MB_UNPIN };
struct mb_entry {
	int type;
	void *obj;
	uint64_t a, b;
	long result;
};

struct mailbox {
	int n;
	struct mb_entry e[MB_ENTRIES];
	uint64_t ops, hash;
	int failed;
	char msg[MSG_LEN];
	uint64_t last_op;		/* the operation under way, for a child */
	char last[DESC_LEN];		/* killed in the kernel */
};

/* What the operations reached, to show the run was not all early errors. */
enum { C_OK, C_MMAP, C_WRITTEN, C_CHECKED, C_READ, C_UNPIN, C_WAS_PURGED, C_SEEN_PURGED,
       C_PURGE, C_FORK, C_SCATTERED, NR_COUNTS };

struct result {
	uint64_t count[NR_COUNTS];
	uint64_t ops, hash;
	int failed, finished;
	char msg[MSG_LEN];
	uint64_t last_op;		/* the operation under way, for a worker */
	char last[DESC_LEN];		/* killed in the kernel (an oops), or stuck */
	struct mailbox mbox;		/* the worker's forked children's */
};

/* ---- coverage guidance (fuzz/guide.c) ---- */

/* The blocks run since the window was emptied (a module built with COVERAGE=1). */
#define COV_WINDOW		"/sys/kernel/debug/ashmem_coverage/window"
#define COV_SLOTS		(1u << 18)	/* slot numbers are below this */

struct cov {
	uint8_t *seen;			/* a bit per slot read so far */
	uint64_t reached;		/* bits set in seen */
	uint32_t *buf;
	size_t cap;			/* slots buf holds */
};

/* An operation sequence: operation i runs with the PRNG seeded with op[i]. */
#define SEQ_MAX			64
#define SEQ_FRESH_MIN		4
#define SEQ_FRESH_MAX		24
#define SEQ_FRESH_PCT		10	/* new sequences not made from the corpus */
#define CORPUS_MAX		4096

struct seq {
	unsigned int n;
	uint64_t op[SEQ_MAX];
};

struct corpus {
	struct seq *e;
	unsigned int n, cap;
};

struct worker {
	unsigned int index;
	const char *mode;
	const char *test;
	struct rng rng;
	uint64_t budget;		/* 0: no op limit */
	struct timespec deadline;	/* tv_sec 0: no time limit */
	uint64_t ops, hash;
	uint32_t gen;
	unsigned int next_id;
	int in_child;
	int failed;
	char *desc;
	char hist[HIST][DESC_LEN];
	char msg[MSG_LEN];
	struct region *slots[MAX_REGIONS];
	struct mapping maps[MAX_MAPS];
	unsigned char *arena;		/* 2 read/write pages, then guard */
	unsigned char *guard;		/* PROT_NONE */
	unsigned char *rdonly;		/* PROT_READ: a pin {0, 0} and "ro-name" */
	unsigned char *rbuf;
	struct mailbox *mbox;		/* shared with forked children */
	struct result *res;
	uint64_t count[NR_COUNTS];
	const struct seq *seq;		/* guided mode: the sequence under way */
};

/* ---- configuration (fuzz.c) ---- */

extern int g_exec_ok;			/* /dev is not noexec */
extern int g_threads;			/* threads mode: fork needs g_forklock */
extern int g_many;			/* many-ranges mode: big regions, scatters */
extern pthread_rwlock_t g_forklock;

/* ---- recording operations and failures (fuzz.c) ---- */

/* The errno's name ("EINVAL"), "success" for 0. */
const char *errname(int err);
/* Start the worker's next operation: its description, for the trace, the hash and reports. */
void begin_op(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The worker's first mismatch: the message, the operations before it, the replay line. */
void fail(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Check a call's outcome: want (0: success) or alt (-1: none). 1 when it matched. */
int expect(struct worker *w, long long ret, int err, int want, int alt);

/* ---- the model (fuzz/model.c) ---- */

/* Page contents: the stamp of generation gen, and what a read found. */
uint64_t pages_of(unsigned long long bytes);
void fill_page(unsigned char *p, uint32_t gen);
long check_in_page(const unsigned char *got, size_t at, size_t n,
		   uint32_t gen, int tolerant);

/* The unpinned pages of a region. */
int ps_any(const struct pinset *ps, uint64_t a, uint64_t b);
uint64_t ps_count(const struct pinset *ps);
void ps_add(struct pinset *ps, uint64_t a, uint64_t b);

/* What a worker owns: references, and what each page must hold. */
void region_put(struct region *rg);
void map_forget_page(struct mapping *m, size_t i);
void map_release(struct mapping *m);
int unmap_releases(struct mapping *m, size_t i, size_t j);
void mark_inherited(struct region *rg, struct backing *bk);
uint32_t bk_gen(const struct backing *bk, uint64_t p);
int bk_tolerant(const struct backing *bk, uint64_t p);
int known_present(const struct backing *bk, uint64_t p);
int page_usable(struct mapping *m, size_t i, unsigned int need);
int check_file_bytes(struct worker *w, struct backing *bk, unsigned long long off,
		     const unsigned char *got, size_t n, const char *how);
void model_pin(struct region *rg, uint64_t s, uint64_t e, int was_purged);
void model_write(struct worker *w, struct backing *bk, uint64_t p, uint32_t gen);
void mb_add(struct worker *w, int type, void *obj, uint64_t a, uint64_t b, long result);

/* The rules: the errno a call must fail with (0: it must work), and more. */
int pin_rule(struct region *rg, uint32_t off, uint32_t len, uint64_t *s, uint64_t *e);
int mmap_rule(struct region *rg, size_t len, int prot, int flags, long long off);
unsigned int map_maymask(struct region *rg, int shared_type);
int known_cmd(unsigned long cmd);

/* ---- the operations (fuzz/ops.c) ---- */

/* One operation, drawn by weight, on what the worker owns. */
void random_op(struct worker *w);
/* Which operation random_op() does with the PRNG seeded with seed. */
unsigned int op_kind(uint64_t seed);

/* ---- coverage guidance (fuzz/guide.c) ---- */

/* Whether the loaded module has a coverage window (built with COVERAGE=1). */
int cov_available(void);
/* Start reading the window: emptied, nothing seen yet. 0 or -1. */
int cov_init(struct cov *c);
int cov_reset(struct cov *c);
void cov_free(struct cov *c);
/* Read the window: the blocks not seen before (added to reached), -1 on error. */
long cov_update(struct cov *c);

/* A new sequence: fresh, or (most of the time) one of the corpus mutated. */
void seq_next(struct rng *r, const struct corpus *c, struct seq *s);
void seq_fresh(struct rng *r, struct seq *s);
/* Keep s; 0, or -1 when out of memory (a full corpus keeps what it has). */
int corpus_add(struct corpus *c, const struct seq *s);
void corpus_free(struct corpus *c);
/* The sequence as ASHMEM_FUZZ_SEQUENCE takes it ("0x..,0x.."), and back. */
size_t seq_format(const struct seq *s, char *buf, size_t len);
int seq_parse(const char *text, struct seq *s);

#endif
