// SPDX-License-Identifier: GPL-2.0
/*
 * The fuzzer's operations (see fuzz.h): one function per operation, drawing
 * its arguments (often hostile) from the worker's PRNG, making the call and
 * checking the outcome against the model (model.c); random_op() draws the
 * next one by weight.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fuzz.h"

/* ---- what to work on, and the pointers to pass ---- */

/* The names of enum ptrkind (fuzz.h), for the operations' descriptions. */
static const char *const ptr_names[] = {
	"valid", "NULL", "unmapped", "PROT_NONE", "into PROT_NONE", "read-only",
	"kernel", "non-canonical", "ends at PROT_NONE", "1 byte short",
};

static long sys_ioctl(int fd, unsigned long cmd, unsigned long arg)
{
	return syscall(SYS_ioctl, fd, cmd, arg);
}

/* Region operations that a forked child must not do to its parent's regions. */
static int child_locked(struct worker *w, struct region *rg)
{
	return w->in_child && rg->inherited;
}

static void lock_release(struct worker *w, int release)
{
	if (release && g_threads && !w->in_child)
		pthread_rwlock_wrlock(&g_forklock);
}

static void unlock_release(struct worker *w, int release)
{
	if (release && g_threads && !w->in_child)
		pthread_rwlock_unlock(&g_forklock);
}

static struct region *pick_region(struct worker *w)
{
	unsigned int i, n = 0, k;

	for (i = 0; i < MAX_REGIONS; i++)
		n += !!w->slots[i];
	if (!n)
		return NULL;
	k = below(&w->rng, n);
	for (i = 0; i < MAX_REGIONS; i++)
		if (w->slots[i] && !k--)
			return w->slots[i];
	return NULL;
}

static int pick_fd(struct worker *w, struct region *rg)
{
	return rg->fds[below(&w->rng, rg->nfds)];
}

static struct mapping *pick_map(struct worker *w, int tracked_only)
{
	unsigned int i, n = 0, k;

	for (i = 0; i < MAX_MAPS; i++)
		n += w->maps[i].used && (!tracked_only || w->maps[i].tracked);
	if (!n)
		return NULL;
	k = below(&w->rng, n);
	for (i = 0; i < MAX_MAPS; i++)
		if (w->maps[i].used && (!tracked_only || w->maps[i].tracked) && !k--)
			return &w->maps[i];
	return NULL;
}

static const char *acc_name(int acc)
{
	return acc == O_RDWR ? "O_RDWR" : acc == O_RDONLY ? "O_RDONLY" : "O_WRONLY";
}

/* A pointer of the given kind for an argument of sz bytes. */
static unsigned long bad_ptr(struct worker *w, int kind, size_t sz)
{
	switch (kind) {
	case P_NULL:
		return 0;
	case P_LOW:
		return PTR_LOW;
	case P_GUARD:
		return (unsigned long)(w->guard + 64);
	case P_STRADDLE:
		return (unsigned long)(w->guard - (sz > 1 ? sz / 2 : 0));
	case P_KERNEL:
		return PTR_KERNEL;
	case P_NONCANON:
		return PTR_NONCANON;
	}
	return (unsigned long)w->arena;
}

static int pick_bad_kind(struct worker *w)
{
	static const int kinds[] = { P_NULL, P_LOW, P_GUARD, P_STRADDLE, P_KERNEL, P_NONCANON };

	return kinds[below(&w->rng, sizeof(kinds) / sizeof(kinds[0]))];
}

/* ---- the ioctls ---- */

static void do_set_size(struct worker *w, struct region *rg, size_t size)
{
	long r;
	int err;

	begin_op(w, "SET_SIZE r%u %#zx", rg->id, size);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_SET_SIZE, size);
	err = errno;
	if (!expect(w, r, err, rg->bk ? EINVAL : 0, -1) || r < 0)
		return;
	rg->size = size;
}

static size_t random_size(struct worker *w)
{
	const unsigned long long big[] = {
		(unsigned long long)BIG_MAP_PAGES * PG, 1ULL << 30, 0x80001000ULL,
		0xfffff000ULL, 0xffffffffULL, 0x100000000ULL, 0x100001000ULL,
		1ULL << 40, (MAX_FILE_SIZE + 1) & ~(PG - 1ULL), MAX_FILE_SIZE & ~(PG - 1ULL),
		MAX_FILE_SIZE + 1, ~0ULL, ~0ULL & ~(PG - 1ULL), ~0ULL - PG + 2,
		(unsigned long long)(MAP_PAGES + 8) * PG,
	};
	unsigned int c;
	unsigned long long v;

	/* Only in many-ranges mode: the other modes draw what they always drew. */
	if (g_many && chance(&w->rng, 30))
		return (size_t)(1 + below(&w->rng, MANY_REGION_PAGES)) * PG;
	c = below(&w->rng, 100);
	if (c < 60)
		return (size_t)(1 + below(&w->rng, DATA_PAGES)) * PG;
	if (c < 72)
		return (size_t)(1 + below(&w->rng, DATA_PAGES)) * PG - 1 - below(&w->rng, PG - 1);
	if (c < 78)
		return 1 + below(&w->rng, 64);
	if (c < 82)
		return 0;
	v = big[below(&w->rng, sizeof(big) / sizeof(big[0]))];
	return (size_t)v;	/* truncated to 32 bits in the 32-bit program */
}

static void op_set_size(struct worker *w, struct region *rg);
static void op_get_size(struct worker *w, struct region *rg)
{
	/*
	 * The ioctl syscall returns an int: the size's low 32 bits, sign-extended
	 * (as with every ashmem driver); and those that look like an errno come
	 * back as one. 32-bit ARM's C library takes -4096 for one too (its
	 * syscall stubs test r0 >= -4096): there a size whose low 32 bits are
	 * 0xfffff000 reads as errno 4096.
	 */
	long r, want = (int)rg->size;
	int err;
#ifdef __arm__
	const long lowest_errno = -4096;
#else
	const long lowest_errno = -4095;
#endif

	begin_op(w, "GET_SIZE r%u", rg->id);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_GET_SIZE, rnd(&w->rng));
	err = errno;
	if (want < 0 && want >= lowest_errno) {
		if (r != -1 || err != -want)
			fail(w, "returned %ld (%s), expected -1 with errno %ld", r,
			     errname(r < 0 ? err : 0), -want);
		return;
	}
	if (r != want)
		fail(w, "returned %ld (%s), expected %ld (size %#zx)", r, errname(r < 0 ? err : 0),
		     want, rg->size);
}

static void op_set_size(struct worker *w, struct region *rg)
{
	if (child_locked(w, rg))
		return op_get_size(w, rg);
	do_set_size(w, rg, random_size(w));
}

static void do_set_name(struct worker *w, struct region *rg, int kind, size_t len)
{
	unsigned char *p = w->arena + 16;
	unsigned long ptr;
	size_t i, stored;
	int want, alt = -1, err;
	long r;

	switch (kind) {
	case P_VALID:
		break;
	case P_TIGHT:	/* the NUL is the last accessible byte */
		p = w->guard - len - 1;
		break;
	case P_SHORT:	/* no NUL before the inaccessible page */
		p = w->guard - len;
		break;
	}
	for (i = 0; i < len; i++)
		p[i] = 1 + below(&w->rng, 255);
	if (kind != P_SHORT)
		p[len] = 0;
	ptr = (unsigned long)p;
	if (kind == P_RDONLY) {
		ptr = (unsigned long)(w->rdonly + RO_NAME_OFF);
		len = strlen(RO_NAME);
	} else if (kind != P_VALID && kind != P_TIGHT && kind != P_SHORT) {
		ptr = bad_ptr(w, kind, 1);
		len = 0;
	}
	begin_op(w, "SET_NAME r%u length %zu (%s)", rg->id, len, ptr_names[kind]);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_SET_NAME, ptr);
	err = errno;
	if (kind == P_VALID || kind == P_TIGHT || kind == P_RDONLY) {
		want = rg->bk ? EINVAL : 0;
	} else {
		/* Which of two errors comes first is not part of the ABI. */
		want = EFAULT;
		if (rg->bk)
			alt = EINVAL;
	}
	if (!expect(w, r, err, want, alt) || r < 0)
		return;
	stored = len < ASHMEM_NAME_LEN - 1 ? len : ASHMEM_NAME_LEN - 1;
	memcpy(rg->name, (void *)ptr, stored);
	rg->namelen = stored;
}

static void op_get_name(struct worker *w, struct region *rg);
static void op_set_name(struct worker *w, struct region *rg)
{
	unsigned int c = below(&w->rng, 100);
	size_t len = below(&w->rng, 40);

	if (child_locked(w, rg))
		return op_get_name(w, rg);
	if (c < 55)
		return do_set_name(w, rg, P_VALID, len);
	if (c < 60)
		return do_set_name(w, rg, P_VALID, ASHMEM_NAME_LEN - 1);
	if (c < 65)
		return do_set_name(w, rg, P_VALID, ASHMEM_NAME_LEN + below(&w->rng, 100));
	if (c < 70)
		return do_set_name(w, rg, P_VALID, 0);
	if (c < 76)
		return do_set_name(w, rg, P_TIGHT, below(&w->rng, 300));
	if (c < 84)
		return do_set_name(w, rg, P_SHORT, 1 + below(&w->rng, ASHMEM_NAME_LEN - 1));
	if (c < 88)
		return do_set_name(w, rg, P_RDONLY, 0);
	do_set_name(w, rg, pick_bad_kind(w), 0);
}

static void op_get_name(struct worker *w, struct region *rg)
{
	const unsigned char *vis = rg->namelen ? rg->name : (const unsigned char *)ASHMEM_NAME_DEF;
	size_t vlen = rg->namelen ? rg->namelen : strlen(ASHMEM_NAME_DEF);
	unsigned int c = below(&w->rng, 100);
	unsigned char *buf = w->arena + 512;
	int kind, err;
	unsigned long ptr;
	long r;
	size_t i;

	if (c < 70)
		kind = P_VALID;
	else if (c < 78)
		kind = P_TIGHT;
	else if (c < 84)
		kind = P_SHORT;
	else if (c < 89)
		kind = P_RDONLY;
	else
		kind = pick_bad_kind(w);
	if (kind == P_TIGHT)
		buf = w->guard - vlen - 1;
	else if (kind == P_SHORT)
		buf = w->guard - vlen;
	else if (kind == P_STRADDLE)	/* half the name and its NUL fit */
		buf = w->guard - (vlen + 1) / 2;
	if (kind == P_VALID || kind == P_TIGHT || kind == P_SHORT)
		memset(buf, 0xaa, w->guard - buf < 300 ? (size_t)(w->guard - buf) : 300);
	ptr = (unsigned long)buf;
	if (kind == P_RDONLY)
		ptr = (unsigned long)w->rdonly;
	else if (kind != P_VALID && kind != P_TIGHT && kind != P_SHORT && kind != P_STRADDLE)
		ptr = bad_ptr(w, kind, ASHMEM_NAME_LEN);
	begin_op(w, "GET_NAME r%u (%s)", rg->id, ptr_names[kind]);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_GET_NAME, ptr);
	err = errno;
	if (!expect(w, r, err, kind == P_VALID || kind == P_TIGHT ? 0 : EFAULT, -1) || r < 0)
		return;
	if (memcmp(buf, vis, vlen) || buf[vlen]) {
		fail(w, "returned \"%.*s\" (%zu bytes), expected \"%.*s\"", (int)vlen, buf,
		     strnlen((char *)buf, vlen + 1), (int)vlen, vis);
		return;
	}
	/* Only the string and its NUL may be written. */
	for (i = vlen + 1; kind == P_VALID && i < ASHMEM_NAME_LEN; i++)
		if (buf[i] != 0xaa) {
			fail(w, "wrote byte %zu after the name's NUL (0x%02x)", i, buf[i]);
			return;
		}
}

static void op_get_prot_mask(struct worker *w, struct region *rg)
{
	long r;
	int err;

	begin_op(w, "GET_PROT_MASK r%u", rg->id);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_GET_PROT_MASK, rnd(&w->rng));
	err = errno;
	if (r != (long)rg->mask)
		fail(w, "returned %ld (%s), expected %#lx", r, errname(r < 0 ? err : 0), rg->mask);
}

static void op_set_prot_mask(struct worker *w, struct region *rg)
{
	static const unsigned long extra[] = { 0x8, 0x10, 0x80, 0x1000000, 0x80000000UL, ~0UL };
	unsigned int c = below(&w->rng, 100);
	unsigned long mask;
	long r;
	int err;

	if (child_locked(w, rg))
		return op_get_prot_mask(w, rg);
	if (c < 55)	/* a narrowing (or equal) mask */
		mask = rg->mask & below(&w->rng, 8);
	else if (c < 80)	/* any R/W/X combination: may widen */
		mask = below(&w->rng, 8);
	else
		mask = (rg->mask & below(&w->rng, 8)) |
		       extra[below(&w->rng, sizeof(extra) / sizeof(extra[0]))];
	begin_op(w, "SET_PROT_MASK r%u %#lx (mask %#lx)", rg->id, mask, rg->mask);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_SET_PROT_MASK, mask);
	err = errno;
	if (!expect(w, r, err, mask & ~rg->mask ? EINVAL : 0, -1) || r < 0)
		return;
	rg->mask = mask;
}

static void pin_args(struct worker *w, struct region *rg, uint32_t *off, uint32_t *len)
{
	uint64_t ap = pages_of(rg->size), lim = ap < DATA_PAGES + 8 ? ap : DATA_PAGES + 8;
	unsigned int c;
	uint64_t s, n;

	if (g_many && ap && chance(&w->rng, 25)) {
		/* A span anywhere in the region, often over many ranges. */
		ap = ap < PIN_PAGES_MAX ? ap : PIN_PAGES_MAX;
		s = below(&w->rng, ap);
		n = 1 + below(&w->rng, ap - s);
		*off = s * PG;
		*len = n * PG;
		return;
	}
	c = below(&w->rng, 100);
	if (c < 50) {
		s = below(&w->rng, lim + 1);
		n = 1 + below(&w->rng, 8);
		if (s + n > ap)
			n = ap > s ? ap - s : 1;
		*off = s * PG;
		*len = n * PG;
	} else if (c < 62) {
		*off = below(&w->rng, lim + 1) * PG;
		*len = 0;
	} else if (c < 68) {
		*off = below(&w->rng, lim + 1) * PG + 1 + below(&w->rng, PG - 1);
		*len = PG;
	} else if (c < 74) {
		*off = below(&w->rng, lim + 1) * PG;
		*len = 1 + below(&w->rng, 2 * PG);
		if (*len % PG == 0)
			(*len)++;
	} else if (c < 81) {
		s = below(&w->rng, lim + 1);
		*off = s * PG;
		*len = (ap - s + 1 + below(&w->rng, 3)) * PG;
	} else if (c < 87) {
		/* Ranges whose end overflows 32 bits, or ends right at 2^32. */
		const uint32_t top = 0u - PG;	/* the last page a 32-bit offset reaches */
		const uint32_t ov[][2] = {
			{ top, 2 * PG }, { 0x80000000u, 0x80000000u },
			{ PG, top }, { top, 0 }, { top, PG },
		};
		unsigned int k = below(&w->rng, sizeof(ov) / sizeof(ov[0]));

		*off = ov[k][0];
		*len = ov[k][1];
	} else if (c < 92) {
		*off = (ap + 1 + below(&w->rng, 4)) * PG;
		*len = 0;
	} else if (c < 96) {
		*off = ap * PG;
		*len = 0;
	} else {
		s = ap - 1 - below(&w->rng, ap < 4 ? (uint32_t)(ap ? ap : 1) : 4);
		*off = s * PG;
		*len = chance(&w->rng, 50) ? PG : 0;
	}
}

static const char *pin_cmd_name(unsigned long cmd)
{
	return cmd == ASHMEM_PIN ? "PIN" : cmd == ASHMEM_UNPIN ? "UNPIN" : "GET_PIN_STATUS";
}

static void op_pin(struct worker *w, struct region *rg, unsigned long cmd)
{
	unsigned int c = below(&w->rng, 100);
	struct ashmem_pin *arg = (struct ashmem_pin *)(w->arena + 8 * below(&w->rng, 64));
	uint32_t off, len;
	uint64_t s = 0, e = 0;
	unsigned long ptr;
	int kind, want, err;
	long r;

	pin_args(w, rg, &off, &len);
	if (c < 80)
		kind = P_VALID;
	else if (c < 86)
		kind = P_TIGHT;
	else if (c < 89)
		kind = P_RDONLY;
	else
		kind = pick_bad_kind(w);
	if (kind == P_TIGHT)
		arg = (struct ashmem_pin *)(w->guard - sizeof(*arg));
	if (kind == P_RDONLY) {
		off = len = 0;
		ptr = (unsigned long)(w->rdonly + RO_PIN_OFF);
	} else if (kind == P_VALID || kind == P_TIGHT) {
		arg->offset = off;
		arg->len = len;
		ptr = (unsigned long)arg;
	} else {
		ptr = bad_ptr(w, kind, sizeof(*arg));
	}
	begin_op(w, "%s r%u offset %#x len %#x (%s, size %#zx)", pin_cmd_name(cmd), rg->id,
		 off, len, ptr_names[kind], rg->size);
	r = sys_ioctl(pick_fd(w, rg), cmd, ptr);
	err = errno;
	/* A bad pointer first, then the argument checks in the documented order. */
	if (kind != P_VALID && kind != P_TIGHT && kind != P_RDONLY)
		want = EFAULT;
	else
		want = pin_rule(rg, off, len, &s, &e);
	if (!expect(w, r, err, want, -1) || r < 0)
		return;
	if (cmd == ASHMEM_PIN) {
		int any = ps_any(&rg->pins, s, e);

		if (r != ASHMEM_NOT_PURGED && (r != ASHMEM_WAS_PURGED || !any)) {
			fail(w, "returned %ld, expected %s", r,
			     any ? "ASHMEM_NOT_PURGED or ASHMEM_WAS_PURGED" :
			     "ASHMEM_NOT_PURGED (no page of the range was unpinned)");
			return;
		}
		model_pin(rg, s, e, r == ASHMEM_WAS_PURGED);
		w->count[C_WAS_PURGED] += r == ASHMEM_WAS_PURGED;
		if (w->in_child && rg->inherited)
			mb_add(w, MB_PIN, rg, s, e, r);
	} else if (cmd == ASHMEM_UNPIN) {
		if (r != 0) {
			fail(w, "returned %ld, expected 0", r);
			return;
		}
		ps_add(&rg->pins, s, e);
		w->count[C_UNPIN]++;
		if (w->in_child && rg->inherited)
			mb_add(w, MB_UNPIN, rg, s, e, 0);
	} else {
		long status = ps_any(&rg->pins, s, e) ? ASHMEM_IS_UNPINNED : ASHMEM_IS_PINNED;

		if (r != status)
			fail(w, "returned %ld, expected %s", r,
			     status == ASHMEM_IS_PINNED ? "ASHMEM_IS_PINNED" : "ASHMEM_IS_UNPINNED");
	}
}

/*
 * Many-ranges mode: UNPIN of every second or third page over a span of up to
 * SCATTER_PAGES pages, one page per ioctl: up to 2048 ranges in one
 * operation. Not in a forked child (its mailbox holds a few changes only).
 */
static void op_scatter(struct worker *w, struct region *rg)
{
	uint64_t ap = pages_of(rg->size), s, n, p, stride, made = 0;
	struct ashmem_pin *arg = (struct ashmem_pin *)w->arena;
	int fd, err;
	long r;

	if (!rg->bk || w->in_child || !ap)
		return op_pin(w, rg, ASHMEM_UNPIN);
	ap = ap < PIN_PAGES_MAX ? ap : PIN_PAGES_MAX;
	stride = 2 + below(&w->rng, 2);
	n = 1 + below(&w->rng, ap < SCATTER_PAGES ? ap : SCATTER_PAGES);
	s = below(&w->rng, ap - n + 1);
	fd = pick_fd(w, rg);
	begin_op(w, "UNPIN every %llu pages of r%u, pages %#llx to %#llx", (unsigned long long)stride,
		 rg->id, (unsigned long long)s, (unsigned long long)(s + n));
	for (p = s; p < s + n; p += stride, made++) {
		arg->offset = p * PG;
		arg->len = PG;
		r = sys_ioctl(fd, ASHMEM_UNPIN, (unsigned long)arg);
		err = errno;
		if (!expect(w, r, err, 0, -1))
			return;
		if (r != 0) {
			fail(w, "UNPIN of page %#llx returned %ld, expected 0", (unsigned long long)p, r);
			return;
		}
		ps_add(&rg->pins, p, p + 1);
	}
	w->count[C_UNPIN]++;
	w->count[C_SCATTERED] += made;
}

static void op_purge(struct worker *w, struct region *rg)
{
	long r;
	int err;

	begin_op(w, "PURGE_ALL_CACHES r%u", rg->id);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_PURGE_ALL_CACHES, rnd(&w->rng));
	err = errno;
	expect(w, r, err, 0, -1);
	w->count[C_PURGE]++;
}

static void op_get_file_id(struct worker *w, struct region *rg)
{
	unsigned int c = below(&w->rng, 100), i;
	unsigned long *out = (unsigned long *)(w->arena + 1024);
	unsigned long ptr;
	int kind, want, alt = -1, err;
	long r;

	if (c < 75)
		kind = P_VALID;
	else if (c < 82)
		kind = P_TIGHT;
	else if (c < 87)
		kind = P_RDONLY;
	else
		kind = pick_bad_kind(w);
	if (kind == P_TIGHT)
		out = (unsigned long *)(w->guard - sizeof(*out));
	ptr = (unsigned long)out;
	if (kind == P_RDONLY)
		ptr = (unsigned long)w->rdonly;
	else if (kind != P_VALID && kind != P_TIGHT)
		ptr = bad_ptr(w, kind, sizeof(*out));
	if (kind == P_VALID || kind == P_TIGHT)
		*out = 0;
	begin_op(w, "GET_FILE_ID r%u (%s)", rg->id, ptr_names[kind]);
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_GET_FILE_ID, ptr);
	err = errno;
	if (kind == P_VALID || kind == P_TIGHT) {
		want = rg->bk ? 0 : EINVAL;
	} else {
		want = EFAULT;
		if (!rg->bk)	/* which comes first is not part of the ABI */
			alt = EINVAL;
	}
	if (!expect(w, r, err, want, alt) || r < 0)
		return;
	if (!*out) {
		fail(w, "wrote inode number 0");
		return;
	}
	if (rg->ino && rg->ino != *out) {
		fail(w, "inode number %lu, was %llu before", *out, rg->ino);
		return;
	}
	for (i = 0; i < MAX_REGIONS; i++) {
		struct region *o = w->slots[i];

		if (o && o != rg && o->ino == *out) {
			fail(w, "inode number %lu is also that of r%u", *out, o->id);
			return;
		}
	}
	rg->ino = *out;
}

static void op_bad_ioctl(struct worker *w, struct region *rg)
{
	/* Type bytes no VFS or compat ioctl uses. */
	static const unsigned int magics[] = { 0x78, 0xa5, 0x33, 0xee };
	static const unsigned long knowns[] = {
		ASHMEM_SET_NAME, ASHMEM_GET_NAME, ASHMEM_SET_SIZE, ASHMEM_GET_SIZE,
		ASHMEM_SET_PROT_MASK, ASHMEM_GET_PROT_MASK, ASHMEM_PIN, ASHMEM_UNPIN,
		ASHMEM_GET_PIN_STATUS, ASHMEM_PURGE_ALL_CACHES, ASHMEM_GET_FILE_ID,
	};
	unsigned int c = below(&w->rng, 100), tries = 0;
	unsigned long cmd, arg;
	const char *how;
	long r;
	int err;

	do {
		if (c < 40) {
			how = "random number";
			cmd = _IOC(below(&w->rng, 4), __ASHMEMIOC, below(&w->rng, 256),
				   below(&w->rng, 1 << 14));
		} else if (c < 75) {
			unsigned long k = knowns[below(&w->rng, 11)];

			how = "known number, other size or direction";
			if (chance(&w->rng, 50))
				cmd = _IOC(_IOC_DIR(k), _IOC_TYPE(k), _IOC_NR(k),
					   below(&w->rng, 1 << 14));
			else
				cmd = _IOC(below(&w->rng, 4), _IOC_TYPE(k), _IOC_NR(k), _IOC_SIZE(k));
		} else if (c < 88) {
			how = "unused number";
			cmd = _IO(__ASHMEMIOC, chance(&w->rng, 30) ? 0 : 12 + below(&w->rng, 244));
		} else {
			how = "other type";
			cmd = _IOC(below(&w->rng, 4), magics[below(&w->rng, 4)], below(&w->rng, 256),
				   below(&w->rng, 1 << 14));
		}
	} while (known_cmd(cmd) && ++tries < 100);
	if (known_cmd(cmd))
		cmd = _IO(__ASHMEMIOC, 0);
	if (chance(&w->rng, 50))
		arg = chance(&w->rng, 50) ? (unsigned long)w->arena : bad_ptr(w, pick_bad_kind(w), 8);
	else
		arg = (unsigned long)rnd(&w->rng);
	begin_op(w, "ioctl r%u %#lx (%s)", rg->id, cmd, how);
	r = sys_ioctl(pick_fd(w, rg), cmd, arg);
	err = errno;
	expect(w, r, err, ENOTTY, -1);
}

/* ---- close, dup ---- */

static void op_open(struct worker *w);

static void do_close(struct worker *w, struct region *rg, int k)
{
	int last = rg->nfds == 1, release = last && !rg->anon, fd = rg->fds[k], r, err, i;

	begin_op(w, "close r%u fd #%d%s", rg->id, k, release ? " (last reference)" : "");
	lock_release(w, release);
	r = close(fd);
	err = errno;
	unlock_release(w, release);
	if (!expect(w, r, err, 0, -1))
		return;
	rg->fds[k] = rg->fds[--rg->nfds];
	if (last)
		for (i = 0; i < MAX_REGIONS; i++)
			if (w->slots[i] == rg)
				w->slots[i] = NULL;
	region_put(rg);
}

static void op_close(struct worker *w, struct region *rg)
{
	do_close(w, rg, below(&w->rng, rg->nfds));
}

static void op_dup(struct worker *w, struct region *rg)
{
	int cloexec = chance(&w->rng, 50), fd, err;

	if (rg->nfds >= MAX_FDS)
		return op_close(w, rg);
	begin_op(w, "dup r%u%s", rg->id, cloexec ? " (F_DUPFD_CLOEXEC)" : "");
	fd = cloexec ? fcntl(pick_fd(w, rg), F_DUPFD_CLOEXEC, 0) : dup(pick_fd(w, rg));
	err = errno;
	if (!expect(w, fd, err, 0, -1))
		return;
	rg->fds[rg->nfds++] = fd;
	rg->refs++;
}

/* ---- mmap, munmap, mprotect, data ---- */

static struct mapping *free_map(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (!w->maps[i].used)
			return &w->maps[i];
	return NULL;
}

static void do_mmap(struct worker *w, struct region *rg, size_t len, int prot, int flags,
		    long long off, const char *lencls)
{
	struct mapping *m = free_map(w);
	int type = flags & MAP_TYPE, want, alt = -1, err;
	int shared_type = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
	unsigned char *p;
	size_t i;

	begin_op(w, "mmap r%u -> m%u length %#zx (%s) prot %#x flags %#x offset %#llx (size %#zx, mask %#lx, %s)",
		 rg->id, (unsigned int)(m - w->maps), len, lencls, prot, flags,
		 (unsigned long long)off, rg->size,
		 rg->mask, acc_name(rg->acc));
	want = mmap_rule(rg, len, prot, flags, off);
	/* A length no address space has room for may fail before the driver sees it. */
	if (pages_of(len) > BIG_MAP_PAGES)
		alt = ENOMEM;
	p = mmap(NULL, len, prot, flags, pick_fd(w, rg), off);
	err = errno;
	if (!expect(w, p == MAP_FAILED ? -1 : 0, err, want, alt)) {
		if (p != MAP_FAILED)
			munmap(p, len);
		return;
	}
	if (p == MAP_FAILED)
		return;
	w->count[C_MMAP]++;
	if (!rg->bk) {
		struct backing *bk = calloc(1, sizeof(*bk));

		if (!bk)
			abort();
		bk->refs = 1;
		bk->owner = rg;
		bk->file_pages = pages_of(rg->size);
		rg->bk = bk;
	}
	memset(m, 0, sizeof(*m));
	m->used = 1;
	m->id = m - w->maps;
	m->addr = p;
	m->npages = pages_of(len);
	m->tracked = m->npages <= MAP_PAGES;
	m->live = m->npages;
	m->pgoff = off / PG;
	m->maymask = map_maymask(rg, shared_type);
	/* A shared mapping of a read-only fd is made private by the VFS (no VM_SHARED). */
	m->shared = shared_type && rg->acc == O_RDWR;
	if (m->shared) {
		m->bk = rg->bk;
		rg->bk->refs++;
	} else {
		m->rg = rg;
		rg->refs++;
		rg->anon++;
	}
	for (i = 0; m->tracked && i < m->npages; i++) {
		m->mapped[i] = 1;
		m->prot[i] = prot & PROT_RWX;
	}
}

static void op_mmap(struct worker *w, struct region *rg);
static void op_munmap(struct worker *w, struct mapping *m);

static void op_mmap(struct worker *w, struct region *rg)
{
	uint64_t ap = pages_of(rg->size);
	unsigned int c;
	int prot, flags, type;
	long long off = 0;
	size_t len;
	const char *lencls;

	if (!free_map(w))
		return op_munmap(w, pick_map(w, 0));
	if (child_locked(w, rg) && !rg->bk)
		return op_get_size(w, rg);
	/* prot */
	prot = below(&w->rng, 8);
	if (chance(&w->rng, 60))
		prot &= rg->mask;
	if (chance(&w->rng, 40))
		prot |= PROT_READ;
	if (chance(&w->rng, 4))
		prot |= PROT_SEM;
	/* flags */
	c = below(&w->rng, 100);
	type = c < 48 ? MAP_SHARED : c < 84 ? MAP_PRIVATE : c < 96 ? MAP_SHARED_VALIDATE :
	       (int)(chance(&w->rng, 50) ? 0 : 4 + below(&w->rng, 12));
	flags = type;
	if (chance(&w->rng, 12))
		flags |= MAP_POPULATE;
	if (chance(&w->rng, 5))
		flags |= MAP_NORESERVE;
	if (chance(&w->rng, 3))
		flags |= MAP_LOCKED;
	if (chance(&w->rng, 5))
		flags |= MAP_SYNC;
	if (chance(&w->rng, 2))
		flags |= MAP_HUGETLB;
	if (chance(&w->rng, 2))
		flags |= MAP_GROWSDOWN;
#ifdef MAP_32BIT	/* x86-64 only */
	if (IS64 && chance(&w->rng, 3))
		flags |= MAP_32BIT;
#endif
	/* length */
	c = below(&w->rng, 100);
	if (c < 68) {
		lencls = "pages";
		len = (size_t)(1 + below(&w->rng, ap && ap < MAP_PAGES ? (uint32_t)ap : MAP_PAGES)) * PG;
	} else if (c < 78) {
		lencls = "unaligned";
		len = (size_t)(1 + below(&w->rng, ap && ap < MAP_PAGES ? (uint32_t)ap : MAP_PAGES)) * PG -
		      1 - below(&w->rng, PG - 1);
	} else if (c < 88) {
		lencls = "beyond the size";
		len = (size_t)(ap + 1 + below(&w->rng, 3)) * PG;
		if (ap + 4 > MAP_PAGES)
			len = (MAP_PAGES + 1) * (size_t)PG;
	} else if (c < 91) {
		lencls = "zero";
		len = 0;
	} else if (c < 94 && ap < (IS64 ? (1ULL << 28) : 0xf0000ULL)) {
		lencls = "huge";
		len = IS64 ? (size_t)(1ULL << 40) : (size_t)0xf0000000UL;
	} else if (ap > MAP_PAGES && ap <= BIG_MAP_PAGES) {
		lencls = "whole, not modelled";
		len = ap * PG;
	} else {
		lencls = "one page";
		len = PG;
	}
	/* Populating or locking a long mapping could exhaust the guest. */
	if (pages_of(len) > MAP_PAGES)
		flags &= ~(MAP_POPULATE | MAP_LOCKED);
	/* offset */
	c = below(&w->rng, 100);
	if (c < 12 && ap)
		off = (long long)below(&w->rng, ap < MAP_PAGES ? (uint32_t)ap : MAP_PAGES) * PG;
	else if (c < 16)
		off = 1 + below(&w->rng, PG - 1);
	else if (c < 18)
		off = IS64 ? (1LL << 46) : (1LL << 40);
	do_mmap(w, rg, len, prot, flags, off, lencls);
}

/* munmap pages [i, j) of a mapping, all of them mapped. */
static int do_munmap_run(struct worker *w, struct mapping *m, size_t i, size_t j)
{
	int release = unmap_releases(m, i, j), r, err;
	size_t k;

	lock_release(w, release);
	r = munmap(m->addr + i * PG, (j - i) * PG);
	err = errno;
	unlock_release(w, release);
	if (!expect(w, r, err, 0, -1))
		return 0;
	for (k = i; k < j; k++)
		map_forget_page(m, k);
	if (!m->live)
		map_release(m);
	return 1;
}

static void op_munmap(struct worker *w, struct mapping *m)
{
	unsigned int c = below(&w->rng, 100);
	size_t i, j;
	long r;
	int err;

	if (!m)
		return;
	if (c < 8) {
		unsigned int h = below(&w->rng, 3);

		begin_op(w, "munmap m%u %s", m->id,
			 h == 0 ? "unaligned address" : h == 1 ? "length 0" : "of nothing");
		if (h == 0)
			r = munmap(m->addr + 1, PG);
		else if (h == 1)
			r = munmap(m->addr, 0);
		else
			r = munmap(PAGE_LOW, PG);
		err = errno;
		expect(w, r, err, h == 2 ? 0 : EINVAL, -1);
		return;
	}
	if (!m->tracked || c < 70) {
		begin_op(w, "munmap m%u whole", m->id);
		if (!m->tracked) {
			do_munmap_run(w, m, 0, m->npages);
			return;
		}
		for (i = 0; i < m->npages && m->used && !w->failed;) {
			if (!m->mapped[i]) {
				i++;
				continue;
			}
			for (j = i; j < m->npages && m->mapped[j]; j++)
				;
			if (!do_munmap_run(w, m, i, j))
				return;
			i = j;
		}
		return;
	}
	/* A part of a run of mapped pages. */
	do
		i = below(&w->rng, m->npages);
	while (!m->mapped[i]);
	j = i + 1 + below(&w->rng, 4);
	for (c = i + 1; c < j && c < m->npages && m->mapped[c]; c++)
		;
	j = c;
	begin_op(w, "munmap m%u pages %zu-%zu", m->id, i, j - 1);
	do_munmap_run(w, m, i, j);
}

static void op_mprotect(struct worker *w, struct mapping *m)
{
	static const unsigned int garbage[] = { 0x10, 0x20, 0x40, PROT_GROWSDOWN, PROT_GROWSUP };
	unsigned int c = below(&w->rng, 100), prot, want;
	size_t i, j, k;
	int r, err;

	if (!m)
		return;
	if (c < 3) {
		begin_op(w, "mprotect of nothing");
		r = mprotect(PAGE_LOW, PG, PROT_READ);
		err = errno;
		expect(w, r, err, ENOMEM, -1);
		return;
	}
	do
		i = below(&w->rng, m->npages);
	while (!m->mapped[i]);
	j = i + 1 + below(&w->rng, 6);
	for (k = i + 1; k < j && k < m->npages && m->mapped[k]; k++)
		;
	j = k;
	prot = below(&w->rng, 8);
	if (chance(&w->rng, 60))
		prot &= m->maymask;
	if (chance(&w->rng, 4))
		prot |= PROT_SEM;
	if (c < 8)
		prot |= garbage[below(&w->rng, sizeof(garbage) / sizeof(garbage[0]))];
	begin_op(w, "mprotect m%u pages %zu-%zu %#x%s (may %#x)", m->id, i, j - 1, prot,
		 c < 11 && c >= 8 ? " unaligned" : "", m->maymask);
	if (c >= 8 && c < 11) {
		r = mprotect(m->addr + i * PG + 1 + below(&w->rng, PG - 1), PG, prot);
		err = errno;
		expect(w, r, err, EINVAL, -1);
		return;
	}
	r = mprotect(m->addr + i * PG, (j - i) * PG, prot);
	err = errno;
	want = prot & ~(PROT_RWX | PROT_SEM | g_prot_arch) ? EINVAL : prot & PROT_RWX & ~m->maymask ? EACCES : 0;
	if (!expect(w, r, err, want, -1) || r)
		return;
	for (k = i; k < j; k++)
		m->prot[k] = prot & PROT_RWX;
}

/* A run of 1..4 usable pages [*i, *j); 0 when the mapping has none. */
static int pick_run(struct worker *w, struct mapping *m, unsigned int need, size_t *i, size_t *j)
{
	size_t k, n = 0, pick;

	for (k = 0; k < m->npages; k++)
		n += page_usable(m, k, need);
	if (!n)
		return 0;
	pick = below(&w->rng, n);
	for (k = 0; k < m->npages; k++)
		if (page_usable(m, k, need) && !pick--)
			break;
	*i = k;
	n = 1 + below(&w->rng, 4);
	for (*j = k + 1; *j < m->npages && *j - k < n && page_usable(m, *j, need); (*j)++)
		;
	return 1;
}

static void op_check_map(struct worker *w, struct mapping *m)
{
	size_t i, j, k;

	if (!m || !pick_run(w, m, PROT_READ, &i, &j)) {
		begin_op(w, "check: no readable page");
		return;
	}
	begin_op(w, "check m%u pages %zu-%zu (%s)", m->id, i, j - 1, m->shared ? "shared" : "private");
	for (k = i; k < j; k++) {
		const unsigned char *p = m->addr + k * PG;
		long bad;

		w->count[C_CHECKED]++;
		if (m->shared) {
			uint64_t bp = m->pgoff + k;

			bad = check_in_page(p, 0, PG, bk_gen(m->bk, bp), bk_tolerant(m->bk, bp));
			w->count[C_SEEN_PURGED] += bad < 0 && bk_gen(m->bk, bp) &&
						   !*(const uint32_t *)p;
			if (bad >= 0) {
				fail(w, "page %zu (file page %llu) byte %ld is 0x%02x, expected %s (stamp %u%s)",
				     k, (unsigned long long)bp, bad, p[bad],
				     bk_gen(m->bk, bp) ? "its stamp" : "0", bk_gen(m->bk, bp),
				     bk_tolerant(m->bk, bp) ? " or 0" : ", pinned since written");
				return;
			}
		} else {
			bad = check_in_page(p, 0, PG, m->gen[k], 0);
			if (bad >= 0) {
				fail(w, "private page %zu byte %ld is 0x%02x, expected %s (stamp %u)",
				     k, bad, p[bad], m->gen[k] ? "its stamp" : "0", m->gen[k]);
				return;
			}
		}
	}
}

static void op_write_map(struct worker *w, struct mapping *m)
{
	size_t i, j, k;

	if (!m || !pick_run(w, m, PROT_WRITE, &i, &j))
		return op_check_map(w, m);
	begin_op(w, "write m%u pages %zu-%zu (%s)", m->id, i, j - 1, m->shared ? "shared" : "private");
	for (k = i; k < j; k++) {
		uint32_t gen = ++w->gen;

		fill_page(m->addr + k * PG, gen);
		w->count[C_WRITTEN]++;
		if (m->shared)
			model_write(w, m->bk, m->pgoff + k, gen);
		else
			m->gen[k] = gen;
	}
}

/* ---- read, pread, lseek ---- */

static void op_read(struct worker *w, struct region *rg)
{
	int is_pread = chance(&w->rng, 35) || child_locked(w, rg);
	unsigned int c = below(&w->rng, 100);
	long long pos = rg->pos;
	unsigned char *buf = w->rbuf;
	size_t n, avail = 0, valid;
	int kind = P_VALID, want, err;
	long r;

	if (c < 40)
		n = 1 + below(&w->rng, 3 * PG);
	else if (c < 70)
		n = 1 + below(&w->rng, 64);
	else if (c < 80)
		n = 0;
	else
		n = PG * (1 + below(&w->rng, 4));
	if (is_pread) {
		unsigned int o = below(&w->rng, 100);

		if (o < 70 && rg->size <= (size_t)(DATA_PAGES + 2) * PG)
			pos = below(&w->rng, rg->size + 2 * PG);
		else if (o < 80)
			pos = (long long)below(&w->rng, DATA_PAGES + 2) * PG + below(&w->rng, PG);
		else if (o < 88)
			pos = rg->size > 2 * PG ? (long long)(rg->size - below(&w->rng, 2 * PG)) : 0;
		else if (o < 93)
			pos = -1 - (long long)below(&w->rng, PG);
		else
			pos = 1LL << 40;
	}
	c = below(&w->rng, 100);
	valid = n;
	if (c >= 85) {
		kind = c < 90 ? P_STRADDLE : pick_bad_kind(w);
		if (kind == P_STRADDLE) {
			/* The arena has two pages before its PROT_NONE page. */
			valid = below(&w->rng, (n < 2 * PG ? n : 2 * PG) + 1);
			buf = w->guard - valid;
		} else {
			buf = (unsigned char *)bad_ptr(w, kind, n);
			valid = 0;
		}
	}
	if (is_pread)
		begin_op(w, "pread r%u %zu bytes at %lld (%s, %zu accessible; size %#zx, %s)",
			 rg->id, n, pos, ptr_names[kind], valid, rg->size, acc_name(rg->acc));
	else
		begin_op(w, "read r%u %zu bytes (%s, %zu accessible; size %#zx, %s) | at %lld",
			 rg->id, n, ptr_names[kind], valid, rg->size, acc_name(rg->acc), pos);
	if (is_pread)
		r = pread(pick_fd(w, rg), buf, n, pos);
	else
		r = read(pick_fd(w, rg), buf, n);
	err = errno;
	/* The VFS checks, then the driver's. */
	if (is_pread && pos < 0)
		want = EINVAL;
	else if (rg->acc == O_WRONLY)
		want = EBADF;
	else if (NONUSER_PTRS && (kind == P_KERNEL || kind == P_NONCANON))
		want = EFAULT;
	else if (pos > LLONG_MAX - (long long)n)	/* rw_verify_area() */
		want = EINVAL;
	else if (!rg->size)
		want = 0;
	else if (!rg->bk)
		want = EBADF;
	else {
		avail = (unsigned long long)pos >= rg->size ? 0 : rg->size - pos;
		if (avail > n)
			avail = n;
		want = avail && !valid ? EFAULT : 0;
	}
	/* Into a buffer that ends early: a short read, or EFAULT. */
	if (!expect(w, r, err, want, want == 0 && valid < avail ? EFAULT : -1) || r < 0)
		return;
	if ((size_t)r > avail || (valid >= avail && (size_t)r != avail) || (size_t)r > valid ||
	    (avail && !r)) {
		fail(w, "returned %ld, expected %zu%s", r, avail,
		     valid < avail ? " or a short count up to the accessible bytes" : "");
		return;
	}
	if (r > 0 && !check_file_bytes(w, rg->bk, pos, buf, r, "read"))
		return;
	w->count[C_READ] += r;
	if (!is_pread)
		rg->pos = pos + r;
}

static void op_lseek(struct worker *w, struct region *rg)
{
	static const char *const wn[] = { "SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE" };
	unsigned int c = below(&w->rng, 100);
	long long off, base = 0, res = 0;
	int whence, want = 0, alt = -1, err, overflow = 0;
	uint64_t p = DATA_PAGES;
	long long r;

	if (child_locked(w, rg))
		return op_read(w, rg);
	if (c < 28) {
		whence = SEEK_SET;
		off = rg->size <= (size_t)(DATA_PAGES + 2) * PG ? (long long)below(&w->rng, rg->size + 2 * PG) :
		      (long long)below(&w->rng, (DATA_PAGES + 2) * PG);
	} else if (c < 31) {
		whence = SEEK_SET;
		off = -1 - (long long)below(&w->rng, 3 * PG);
	} else if (c < 49) {
		whence = SEEK_CUR;
		off = (long long)below(&w->rng, 4 * PG) - 2 * PG;
	} else if (c < 52) {
		whence = SEEK_CUR;
		off = LLONG_MAX - below(&w->rng, 2);
	} else if (c < 66) {
		whence = SEEK_END;
		off = (long long)below(&w->rng, 4 * PG) - 3 * (long long)PG;
	} else if (c < 79) {
		whence = SEEK_DATA;
		off = (long long)below(&w->rng, (DATA_PAGES + 2) * PG) - (chance(&w->rng, 5) ? 3 * PG : 0);
	} else if (c < 93) {
		whence = SEEK_HOLE;
		off = (long long)below(&w->rng, (DATA_PAGES + 2) * PG) - (chance(&w->rng, 5) ? 3 * PG : 0);
	} else {
		whence = 5 + below(&w->rng, 60);
		off = below(&w->rng, PG);
	}
	begin_op(w, "lseek r%u %lld %s (size %#zx) | from %lld", rg->id, off,
		 whence <= SEEK_HOLE ? wn[whence] : "bad whence", rg->size, rg->pos);
	r = lseek(pick_fd(w, rg), off, whence);
	err = errno;
	if (whence == SEEK_CUR)
		overflow = off > 0 && rg->pos > LLONG_MAX - off;
	if (whence > SEEK_HOLE) {
		want = EINVAL;
	} else if (overflow) {
		/* Which of the errors comes first is not part of the ABI. */
		want = EINVAL;
		if (rg->size && !rg->bk)
			alt = EBADF;
	} else if (!rg->size) {
		want = EINVAL;
	} else if (!rg->bk) {
		want = EBADF;
	} else if (whence == SEEK_SET || whence == SEEK_CUR || whence == SEEK_END) {
		base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? rg->pos : (long long)rg->size;
		if (off > 0 && base > LLONG_MAX - off)
			want = EINVAL;
		else if (base + off < 0)
			want = EINVAL;
		else
			res = base + off;
	} else if (off < 0 || (unsigned long long)off >= rg->size) {
		want = ENXIO;
	} else if (whence == SEEK_DATA) {
		/* No later than the first page certainly holding data. */
		for (p = off / PG; p < DATA_PAGES && !known_present(rg->bk, p); p++)
			;
		if (!known_present(rg->bk, p))
			alt = ENXIO;
	}
	if (!expect(w, r, err, want, alt) || r < 0)
		return;
	if (whence <= SEEK_END) {
		if (r != res) {
			fail(w, "returned %lld, expected %lld", r, res);
			return;
		}
	} else if (whence == SEEK_DATA) {
		if (r < off || (unsigned long long)r >= rg->size ||
		    (known_present(rg->bk, p) && r > (off > (long long)(p * PG) ? off : (long long)(p * PG)))) {
			fail(w, "returned %lld, not data at or after %lld within the size", r, off);
			return;
		}
	} else {
		if (r < off || (unsigned long long)r > rg->size ||
		    ((unsigned long long)r < rg->size && known_present(rg->bk, r / PG))) {
			fail(w, "returned %lld, not a hole at or after %lld (or the size)", r, off);
			return;
		}
	}
	rg->pos = r;
}

/* ---- /proc/self/fdinfo and the debugfs summary ---- */

static int read_all(const char *path, char *buf, size_t len, int *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	*err = errno;
	close(fd);
	buf[got] = 0;
	return n < 0 ? -1 : (int)got;
}

static const char *fdinfo_field(const char *buf, const char *key)
{
	size_t k = strlen(key);
	const char *l;

	for (l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, key, k) && l[k] == ':' && l[k + 1] == '\t')
			return l + k + 2;
	return NULL;
}

static void op_fdinfo(struct worker *w, struct region *rg)
{
	char path[64], buf[4096], name[ASHMEM_NAME_LEN];
	const char *v;
	unsigned long long pages, unp;
	int fd = pick_fd(w, rg), err;
	size_t i, vlen;

	begin_op(w, "fdinfo r%u (size %#zx)", rg->id, rg->size);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_all(path, buf, sizeof(buf), &err) < 0) {
		fail(w, "reading %s: %s", path, errname(err));
		return;
	}
	v = fdinfo_field(buf, "size");
	if (!v || strtoull(v, NULL, 10) != (unsigned long long)rg->size) {
		fail(w, "size line %.30s, expected %llu", v ? v : "missing",
		     (unsigned long long)rg->size);
		return;
	}
	v = fdinfo_field(buf, "inode");
	if (!v != !rg->bk || (v && rg->ino && strtoull(v, NULL, 10) != rg->ino)) {
		fail(w, "inode line %.30s, expected %s %llu", v ? v : "missing",
		     rg->bk ? "one" : "none", rg->ino);
		return;
	}
	/* The name as written when it needs no escaping. */
	vlen = rg->namelen ? rg->namelen : strlen(ASHMEM_NAME_DEF);
	memcpy(name, rg->namelen ? (char *)rg->name : ASHMEM_NAME_DEF, vlen);
	name[vlen] = 0;
	for (i = 0; i < vlen && name[i] > ' ' && name[i] < 0x7f && name[i] != '\\'; i++)
		;
	v = fdinfo_field(buf, "name");
	if (!v || (i == vlen && (strncmp(v, name, vlen) || v[vlen] != '\n'))) {
		fail(w, "name line %.60s, expected %s", v ? v : "missing", name);
		return;
	}
	/* Pinned + unpinned + purged pages: the page-aligned size, unpinned + purged as modelled. */
	if ((unsigned long long)rg->size > ~0ULL - PG)
		return;
	pages = pages_of(rg->size);
	unp = ps_count(&rg->pins);
	{
		const char *pp = fdinfo_field(buf, "pinned"), *up = fdinfo_field(buf, "unpinned"),
			   *gp = fdinfo_field(buf, "purged");
		unsigned long long pin, un, pu;

		if (!pp || !up || !gp)
			return;	/* optional lines */
		pin = strtoull(pp, NULL, 10);
		un = strtoull(up, NULL, 10);
		pu = strtoull(gp, NULL, 10);
		if (un + pu != unp || pin != pages - unp)
			fail(w, "pinned %llu, unpinned %llu, purged %llu; expected %llu unpinned or purged of %llu",
			     pin, un, pu, unp, pages);
	}
}

static void op_summary(struct worker *w)
{
	char buf[4096];
	int fd, err = 0;
	ssize_t n;

	begin_op(w, "read the debugfs summary");
	fd = open("/sys/kernel/debug/ashmem/summary", O_RDONLY | O_CLOEXEC);
	/* Not mounted, or not root: nothing to check. */
	if (fd < 0) {
		if (errno != ENOENT && errno != EACCES && errno != EPERM)
			fail(w, "opening it: %s", errname(errno));
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	err = errno;
	close(fd);
	if (n < 0)
		fail(w, "reading it: %s", errname(err));
}

/* ---- open, fork ---- */

static void op_open(struct worker *w)
{
	unsigned int c = below(&w->rng, 100), i;
	int acc = c < 85 ? O_RDWR : c < 95 ? O_RDONLY : O_WRONLY;
	int cloexec = chance(&w->rng, 50), fd, err;
	struct region *rg;

	for (i = 0; i < MAX_REGIONS && w->slots[i]; i++)
		;
	if (i == MAX_REGIONS) {
		rg = pick_region(w);
		while (rg->nfds > 1 && !w->failed)
			do_close(w, rg, 0);
		if (!w->failed)
			do_close(w, rg, 0);
		return;
	}
	begin_op(w, "open %s%s -> r%u", acc_name(acc), cloexec ? "|O_CLOEXEC" : "", w->next_id);
	fd = open(ASHMEM_DEVICE, acc | (cloexec ? O_CLOEXEC : 0));
	err = errno;
	if (!expect(w, fd, err, 0, -1))
		return;
	rg = calloc(1, sizeof(*rg));
	if (!rg)
		abort();
	rg->id = w->next_id++;
	rg->refs = 1;
	rg->nfds = 1;
	rg->fds[0] = fd;
	rg->acc = acc;
	rg->mask = PROT_RWX;
	w->slots[i] = rg;
	/* Often set up for use right away (each step is an operation of its own). */
	if (chance(&w->rng, 65))
		do_set_size(w, rg, (size_t)(1 + below(&w->rng, DATA_PAGES)) * PG -
			    (chance(&w->rng, 20) ? below(&w->rng, PG) : 0));
	if (chance(&w->rng, 30) && !w->failed)
		do_set_name(w, rg, P_VALID, 1 + below(&w->rng, 32));
	if (chance(&w->rng, 50) && rg->size && !w->failed && free_map(w))
		do_mmap(w, rg, pages_of(rg->size) <= MAP_PAGES ? rg->size : PG,
			PROT_READ | PROT_WRITE, chance(&w->rng, 80) ? MAP_SHARED : MAP_PRIVATE, 0,
			"setup");
}

void random_op(struct worker *w);

/* The child drops root: PURGE_ALL_CACHES must then fail with EPERM. */
static void child_drop_root(struct worker *w)
{
	struct region *rg = pick_region(w);
	long r;
	int err;

	if (!rg)
		return;
	begin_op(w, "drop root, PURGE_ALL_CACHES r%u", rg->id);
	if (become_uid(NOBODY)) {
		fail(w, "dropping root: %s", errname(errno));
		return;
	}
	r = sys_ioctl(pick_fd(w, rg), ASHMEM_PURGE_ALL_CACHES, 0);
	err = errno;
	expect(w, r, err, EPERM, -1);
}

static void __attribute__((noreturn)) child_main(struct worker *w, uint64_t seed, unsigned int n)
{
	uint64_t start = w->ops;
	unsigned int i;

	w->in_child = 1;
	rng_init(&w->rng, seed);
	for (i = 0; i < MAX_REGIONS; i++)
		if (w->slots[i])
			mark_inherited(w->slots[i], w->slots[i]->bk);
	for (i = 0; i < MAX_MAPS; i++)
		if (w->maps[i].used)
			mark_inherited(w->maps[i].rg, w->maps[i].bk);
	for (i = 0; i < n && !w->failed; i++)
		random_op(w);
	if (!w->failed && chance(&w->rng, 15))
		child_drop_root(w);
	w->mbox->ops = w->ops - start;
	w->mbox->hash = w->hash;
	w->mbox->failed = w->failed;
	if (w->failed)
		snprintf(w->mbox->msg, MSG_LEN, "%s", w->msg);
	_exit(w->failed ? 1 : 0);
}

static void op_fork(struct worker *w)
{
	uint64_t seed = rnd(&w->rng);
	unsigned int n = 1 + below(&w->rng, 6), i;
	int status = 0;
	pid_t pid;

	if (w->in_child)
		return op_summary(w);
	begin_op(w, "fork, child seed %#llx, %u ops", (unsigned long long)seed, n);
	memset(w->mbox, 0, sizeof(*w->mbox));
	if (g_threads)
		pthread_rwlock_rdlock(&g_forklock);
	pid = fork();
	if (!pid)
		child_main(w, seed, n);
	if (pid > 0 && waitpid(pid, &status, 0) != pid)
		status = -1;
	if (g_threads)
		pthread_rwlock_unlock(&g_forklock);
	if (pid < 0) {
		fail(w, "fork: %s", errname(errno));
		return;
	}
	/* Child stamps were drawn from the same counter: skip past them. */
	w->gen += 64 * n;
	if (w->mbox->failed) {
		fail(w, "the forked child failed:\n%s", w->mbox->msg);
		return;
	}
	if (status) {
		fail(w, "the forked child ended with status %#x (%s %d) during its op %llu: %s",
		     status, WIFSIGNALED(status) ? "signal" : "exit",
		     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
		     (unsigned long long)w->mbox->last_op, w->mbox->last);
		return;
	}
	for (i = 0; i < (unsigned int)w->mbox->n; i++) {
		struct mb_entry *e = &w->mbox->e[i];

		if (e->type == MB_WRITE) {
			struct backing *bk = e->obj;

			bk->gen[e->a] = e->b;
			bk->uncertain[e->a] = 0;
		} else if (e->type == MB_PIN) {
			model_pin(e->obj, e->a, e->b, e->result == ASHMEM_WAS_PURGED);
		} else {
			ps_add(&((struct region *)e->obj)->pins, e->a, e->b);
		}
	}
	w->ops += w->mbox->ops;
	w->hash = w->mbox->hash;
	w->count[C_FORK]++;
}

/* ---- one operation, drawn by weight ---- */

enum {
	OP_OPEN, OP_CLOSE, OP_DUP, OP_SET_NAME, OP_GET_NAME, OP_SET_SIZE, OP_GET_SIZE,
	OP_SET_PROT_MASK, OP_GET_PROT_MASK, OP_PIN, OP_UNPIN, OP_GET_PIN_STATUS, OP_PURGE,
	OP_GET_FILE_ID, OP_BAD_IOCTL, OP_MMAP, OP_MUNMAP, OP_MPROTECT, OP_WRITE, OP_CHECK,
	OP_READ, OP_LSEEK, OP_FDINFO, OP_SUMMARY, OP_FORK, NR_OPS
};

static const unsigned int op_weight[NR_OPS] = {
	[OP_OPEN] = 40, [OP_CLOSE] = 25, [OP_DUP] = 15, [OP_SET_NAME] = 35,
	[OP_GET_NAME] = 30, [OP_SET_SIZE] = 40, [OP_GET_SIZE] = 25, [OP_SET_PROT_MASK] = 30,
	[OP_GET_PROT_MASK] = 15, [OP_PIN] = 75, [OP_UNPIN] = 75, [OP_GET_PIN_STATUS] = 50,
	[OP_PURGE] = 25, [OP_GET_FILE_ID] = 20, [OP_BAD_IOCTL] = 25, [OP_MMAP] = 90,
	[OP_MUNMAP] = 40, [OP_MPROTECT] = 35, [OP_WRITE] = 90, [OP_CHECK] = 90,
	[OP_READ] = 60, [OP_LSEEK] = 40, [OP_FDINFO] = 12, [OP_SUMMARY] = 3, [OP_FORK] = 8,
};

/* The operation a PRNG draws next, by weight: random_op()'s first draw. */
static unsigned int draw_op(struct rng *r)
{
	unsigned int total = 0, k, op;

	for (op = 0; op < NR_OPS; op++)
		total += op_weight[op];
	k = below(r, total);
	for (op = 0; k >= op_weight[op]; op++)
		k -= op_weight[op];
	return op;
}

unsigned int op_kind(uint64_t seed)
{
	struct rng r;

	rng_init(&r, seed);
	return draw_op(&r);
}

void random_op(struct worker *w)
{
	unsigned int op = draw_op(&w->rng);
	struct region *rg;
	struct mapping *m;

	switch (op) {
	case OP_MUNMAP:
	case OP_MPROTECT:
	case OP_WRITE:
	case OP_CHECK:
		m = pick_map(w, op != OP_MUNMAP);
		if (!m)
			break;
		if (op == OP_MUNMAP)
			op_munmap(w, m);
		else if (op == OP_MPROTECT)
			op_mprotect(w, m);
		else if (op == OP_WRITE)
			op_write_map(w, m);
		else
			op_check_map(w, m);
		return;
	case OP_SUMMARY:
		return op_summary(w);
	case OP_FORK:
		return op_fork(w);
	}
	rg = op == OP_OPEN ? NULL : pick_region(w);
	if (!rg)
		return op_open(w);
	switch (op) {
	case OP_CLOSE:
		return op_close(w, rg);
	case OP_DUP:
		return op_dup(w, rg);
	case OP_SET_NAME:
		return op_set_name(w, rg);
	case OP_GET_NAME:
		return op_get_name(w, rg);
	case OP_SET_SIZE:
		return op_set_size(w, rg);
	case OP_GET_SIZE:
		return op_get_size(w, rg);
	case OP_SET_PROT_MASK:
		return op_set_prot_mask(w, rg);
	case OP_GET_PROT_MASK:
		return op_get_prot_mask(w, rg);
	case OP_PIN:
		return op_pin(w, rg, ASHMEM_PIN);
	case OP_UNPIN:
		if (g_many && chance(&w->rng, 50))
			return op_scatter(w, rg);
		return op_pin(w, rg, ASHMEM_UNPIN);
	case OP_GET_PIN_STATUS:
		return op_pin(w, rg, ASHMEM_GET_PIN_STATUS);
	case OP_PURGE:
		return op_purge(w, rg);
	case OP_GET_FILE_ID:
		return op_get_file_id(w, rg);
	case OP_BAD_IOCTL:
		return op_bad_ioctl(w, rg);
	case OP_READ:
		return op_read(w, rg);
	case OP_LSEEK:
		return op_lseek(w, rg);
	case OP_FDINFO:
		return op_fdinfo(w, rg);
	default:	/* OP_MMAP, and the mapping ops without a mapping */
		return op_mmap(w, rg);
	}
}
