// SPDX-License-Identifier: GPL-2.0
/*
 * The fuzzer's model (see fuzz.h): what each worker owns and what its pages
 * must hold, and the rules, from ashmem-abi.md and the VFS, that say what a
 * call must answer. The operations (ops.c) ask these; nothing here makes a
 * system call.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include "fuzz.h"

uint64_t pages_of(unsigned long long bytes)
{
	return bytes / PG + (bytes % PG != 0);
}

/* ---- page contents: the stamps written and what a read must find ---- */

static inline uint32_t stamp(uint32_t gen, uint32_t j)
{
	uint32_t v = (gen * 0x9e3779b1u) ^ (j * 0x85ebca77u + 0x27d4eb2fu);

	return v ? v : 1;
}

void fill_page(unsigned char *p, uint32_t gen)
{
	uint32_t *w = (uint32_t *)p;
	uint32_t j;

	for (j = 0; j < WORDS; j++)
		w[j] = stamp(gen, j);
}

/*
 * Compare n bytes read from byte offset at of a page that should hold stamp
 * gen (0: zeros); tolerant: any 32-bit word may also be zero. The offset of
 * the first bad byte, or -1.
 */
long check_in_page(const unsigned char *got, size_t at, size_t n,
		   uint32_t gen, int tolerant)
{
	size_t i;

	if (at % 4 == 0 && n % 4 == 0 && ((uintptr_t)got % 4) == 0) {
		const uint32_t *w = (const uint32_t *)got;

		for (i = 0; i < n / 4; i++) {
			uint32_t want = gen ? stamp(gen, at / 4 + i) : 0;

			if (w[i] != want && !(tolerant && w[i] == 0))
				return at + 4 * i;
		}
		return -1;
	}
	for (i = 0; i < n; i++) {
		size_t o = at + i;
		unsigned char want = gen ? (stamp(gen, o / 4) >> (8 * (o % 4))) & 0xff : 0;

		if (got[i] != want && !(tolerant && got[i] == 0))
			return o;
	}
	return -1;
}

/* ---- pinset: the unpinned pages of a region ---- */

static int ps_has(const struct pinset *ps, uint64_t p)
{
	unsigned int i;

	for (i = 0; i < ps->n; i++)
		if (ps->s[i] <= p && p < ps->e[i])
			return 1;
	return 0;
}

int ps_any(const struct pinset *ps, uint64_t a, uint64_t b)
{
	unsigned int i;

	for (i = 0; i < ps->n; i++)
		if (ps->s[i] < b && a < ps->e[i])
			return 1;
	return 0;
}

uint64_t ps_count(const struct pinset *ps)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < ps->n; i++)
		n += ps->e[i] - ps->s[i];
	return n;
}

static void ps_reserve(struct pinset *ps, unsigned int n)
{
	if (n <= ps->cap)
		return;
	ps->cap = n + 16;
	ps->s = realloc(ps->s, ps->cap * sizeof(*ps->s));
	ps->e = realloc(ps->e, ps->cap * sizeof(*ps->e));
	if (!ps->s || !ps->e)
		abort();
}

void ps_add(struct pinset *ps, uint64_t a, uint64_t b)
{
	unsigned int i, j = 0, n = ps->n;
	uint64_t *s, *e;

	if (a >= b)
		return;
	s = malloc((n + 1) * sizeof(*s));
	e = malloc((n + 1) * sizeof(*e));
	if (!s || !e)
		abort();
	for (i = 0; i < n && ps->e[i] < a; i++, j++) {
		s[j] = ps->s[i];
		e[j] = ps->e[i];
	}
	for (; i < n && ps->s[i] <= b; i++) {
		if (ps->s[i] < a)
			a = ps->s[i];
		if (ps->e[i] > b)
			b = ps->e[i];
	}
	s[j] = a;
	e[j++] = b;
	for (; i < n; i++, j++) {
		s[j] = ps->s[i];
		e[j] = ps->e[i];
	}
	ps_reserve(ps, j);
	memcpy(ps->s, s, j * sizeof(*s));
	memcpy(ps->e, e, j * sizeof(*e));
	ps->n = j;
	free(s);
	free(e);
}

static void ps_sub(struct pinset *ps, uint64_t a, uint64_t b)
{
	unsigned int i, j = 0, n = ps->n;
	uint64_t *s, *e;

	if (a >= b || !n)
		return;
	s = malloc(2 * n * sizeof(*s));
	e = malloc(2 * n * sizeof(*e));
	if (!s || !e)
		abort();
	for (i = 0; i < n; i++) {
		if (ps->e[i] <= a || ps->s[i] >= b) {
			s[j] = ps->s[i];
			e[j++] = ps->e[i];
			continue;
		}
		if (ps->s[i] < a) {
			s[j] = ps->s[i];
			e[j++] = a;
		}
		if (ps->e[i] > b) {
			s[j] = b;
			e[j++] = ps->e[i];
		}
	}
	ps_reserve(ps, j);
	memcpy(ps->s, s, j * sizeof(*s));
	memcpy(ps->e, e, j * sizeof(*e));
	ps->n = j;
	free(s);
	free(e);
}

/* ---- regions, backing files, mappings: references and data ---- */

static void backing_put(struct backing *bk)
{
	if (--bk->refs == 0)
		free(bk);
}

/* The region's file is released: its ranges leave the LRU, nothing purges it any more. */
void region_put(struct region *rg)
{
	struct backing *bk = rg->bk;
	uint64_t p;

	if (--rg->refs > 0)
		return;
	if (bk) {
		for (p = 0; p < DATA_PAGES && p < bk->file_pages; p++)
			if (ps_has(&rg->pins, p))
				bk->uncertain[p] = 1;
		bk->owner = NULL;
		backing_put(bk);
	}
	free(rg->pins.s);
	free(rg->pins.e);
	free(rg);
}

static int exposed(const struct backing *bk, uint64_t p)
{
	return bk->owner && ps_has(&bk->owner->pins, p);
}

uint32_t bk_gen(const struct backing *bk, uint64_t p)
{
	return p < DATA_PAGES ? bk->gen[p] : 0;
}

int bk_tolerant(const struct backing *bk, uint64_t p)
{
	return p < DATA_PAGES && (bk->uncertain[p] || exposed(bk, p));
}

/* Written, pinned and never possibly purged: certainly a page of the file. */
int known_present(const struct backing *bk, uint64_t p)
{
	return p < DATA_PAGES && p < bk->file_pages && bk->gen[p] && !bk_tolerant(bk, p);
}

/* Check n bytes read from the backing file at offset off. 1 when they match. */
int check_file_bytes(struct worker *w, struct backing *bk, unsigned long long off,
		     const unsigned char *got, size_t n, const char *how)
{
	while (n) {
		uint64_t p = off / PG;
		size_t at = off % PG, k = PG - at;
		long bad;

		if (k > n)
			k = n;
		bad = check_in_page(got, at, k, bk_gen(bk, p), bk_tolerant(bk, p));
		if (bad >= 0) {
			fail(w, "%s: byte %llu of the file (page %llu) is 0x%02x, expected %s (stamp %u%s)",
			     how, (unsigned long long)(p * PG + bad), (unsigned long long)p,
			     got[bad - at], bk_gen(bk, p) ? "its stamp" : "0",
			     bk_gen(bk, p), bk_tolerant(bk, p) ? " or 0" : "");
			return 0;
		}
		got += k;
		off += k;
		n -= k;
	}
	return 1;
}

void mb_add(struct worker *w, int type, void *obj, uint64_t a, uint64_t b, long result)
{
	struct mb_entry *e;

	if (w->mbox->n >= MB_ENTRIES) {
		fail(w, "mailbox full");
		return;
	}
	e = &w->mbox->e[w->mbox->n++];
	e->type = type;
	e->obj = obj;
	e->a = a;
	e->b = b;
	e->result = result;
}

/* Apply a PIN that succeeded with result was_purged. */
void model_pin(struct region *rg, uint64_t s, uint64_t e, int was_purged)
{
	uint64_t p;

	if (was_purged && rg->bk)
		for (p = s; p < e && p < DATA_PAGES; p++)
			if (ps_has(&rg->pins, p))
				rg->bk->uncertain[p] = 1;
	ps_sub(&rg->pins, s, e);
}

void model_write(struct worker *w, struct backing *bk, uint64_t p, uint32_t gen)
{
	bk->gen[p] = gen;
	bk->uncertain[p] = 0;
	if (w->in_child && bk->inherited)
		mb_add(w, MB_WRITE, bk, p, gen, 0);
}

/* Forget page i of a mapping; the whole mapping once no page is left. */
void map_forget_page(struct mapping *m, size_t i)
{
	if (m->tracked) {
		if (!m->mapped[i])
			return;
		m->mapped[i] = 0;
	}
	m->live--;
}

void map_release(struct mapping *m)
{
	if (m->shared)
		backing_put(m->bk);
	else {
		m->rg->anon--;
		region_put(m->rg);
	}
	m->used = 0;
}

/* Does unmapping pages [i, j) release the region (its last reference)? */
int unmap_releases(struct mapping *m, size_t i, size_t j)
{
	size_t k, n = 0;

	if (m->shared || m->rg->refs != 1)
		return 0;
	if (!m->tracked)
		return 1;
	for (k = i; k < j; k++)
		n += m->mapped[k];
	return n == m->live;
}

/* May page i of the mapping be touched with access need (PROT_READ/PROT_WRITE)? */
int page_usable(struct mapping *m, size_t i, unsigned int need)
{
	uint64_t bp;

	if (!m->tracked || !m->mapped[i] || !(m->prot[i] & need))
		return 0;
	if (!m->shared)
		return 1;
	bp = m->pgoff + i;
	/* Past the end of the file a shared mapping raises SIGBUS. */
	return bp < m->bk->file_pages && bp < DATA_PAGES;
}

void mark_inherited(struct region *rg, struct backing *bk)
{
	/* The parent's references keep them alive whatever the child closes. */
	if (rg && !rg->inherited) {
		rg->inherited = 1;
		rg->refs += 1000;
	}
	if (bk && !bk->inherited) {
		bk->inherited = 1;
		bk->refs += 1000;
	}
}

/* ---- the rules: what a call must answer ---- */

/*
 * A struct ashmem_pin argument: the documented checks in order. 0 and the
 * page range, or the errno.
 */
int pin_rule(struct region *rg, uint32_t off, uint32_t len, uint64_t *s, uint64_t *e)
{
	uint64_t aligned, o = off, l = len, end;

	if (!rg->bk)
		return EINVAL;
	aligned = pages_of(rg->size) * PG;
	if (!l)
		l = aligned > o ? aligned - o : 0;
	if (o % PG || l % PG)
		return EINVAL;
	end = o + l;
	if (end > 0xffffffffULL || end > aligned)
		return EINVAL;
	*s = o / PG;
	*e = end / PG;
	return 0;
}

/* The commands this program's ABI knows, and (32-bit) the 64-bit encodings
 * the compat path may also honour: neither is "unknown". */
int known_cmd(unsigned long cmd)
{
	static const unsigned long known[] = {
		ASHMEM_SET_NAME, ASHMEM_GET_NAME, ASHMEM_SET_SIZE, ASHMEM_GET_SIZE,
		ASHMEM_SET_PROT_MASK, ASHMEM_GET_PROT_MASK, ASHMEM_PIN, ASHMEM_UNPIN,
		ASHMEM_GET_PIN_STATUS, ASHMEM_PURGE_ALL_CACHES, ASHMEM_GET_FILE_ID,
	};
	unsigned int i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (cmd == known[i])
			return 1;
	if (!IS64 && (cmd == _IOW(__ASHMEMIOC, 3, __u64) || cmd == _IOW(__ASHMEMIOC, 5, __u64) ||
		      cmd == _IOR(__ASHMEMIOC, 11, __u64)))
		return 1;
	return 0;
}

unsigned int map_maymask(struct region *rg, int shared_type)
{
	unsigned int may = 0;

	if (rg->mask & PROT_READ)
		may |= PROT_READ;
	if ((rg->mask & PROT_WRITE) && !(shared_type && rg->acc != O_RDWR))
		may |= PROT_WRITE;
	if ((rg->mask & PROT_EXEC) && g_exec_ok)
		may |= PROT_EXEC;
	return may;
}

/* The errno mmap must fail with, in the order the kernel checks, or 0. */
int mmap_rule(struct region *rg, size_t len, int prot, int flags, long long off)
{
	int type = flags & MAP_TYPE;
	int shared_type = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;

	if (off % PG || off < 0)
		return EINVAL;
	if (flags & MAP_HUGETLB)
		return EINVAL;
	if (!len)
		return EINVAL;
	if (type == MAP_SHARED_VALIDATE && (flags & MAP_SYNC))
		return EOPNOTSUPP;
	if (!shared_type && type != MAP_PRIVATE)
		return EINVAL;
	if (shared_type && (prot & PROT_WRITE) && rg->acc == O_RDONLY)
		return EACCES;
	if (rg->acc == O_WRONLY)
		return EACCES;
	if (!g_exec_ok && (prot & PROT_EXEC))
		return EPERM;
	if (flags & MAP_GROWSDOWN)
		return EINVAL;
	/* The driver. */
	if (!rg->size || rg->size > MAX_FILE_SIZE)
		return EINVAL;
	if (pages_of(len) > pages_of(rg->size))
		return EINVAL;
	if (prot & PROT_RWX & ~rg->mask)
		return EPERM;
	return 0;
}
