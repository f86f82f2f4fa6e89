// SPDX-License-Identifier: GPL-2.0
/*
 * Coverage guidance (see fuzz.h): the driver's coverage window and the
 * corpus of operation sequences.
 *
 * A module built with `make module COVERAGE=1` records which of its blocks
 * ran; its debugfs file ashmem_coverage/window lists those that ran since it
 * was last emptied, as 32-bit slot numbers (one per block). The fuzzer
 * empties it when a test starts, and reads it to learn how many blocks its
 * operations have reached (every mode), and, in the guided mode, whether the
 * operation it just ran reached a block that no operation before it did.
 *
 * A sequence is a list of operation seeds: operation i runs with the worker's
 * PRNG seeded with seed i (random_op() then draws what to do and its
 * arguments), on a worker that starts with nothing open or mapped. Another
 * seed for the same operation changes its arguments, any other seed the
 * operation; inserting, deleting, splicing and repeating seeds change the
 * order. The start of a sequence up to an operation that reached new blocks
 * is kept in the corpus, and most new sequences are mutations of kept ones,
 * often with more operations appended.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64

#include "fuzz.h"

/* ---- the coverage window ---- */

int cov_available(void)
{
	return access(COV_WINDOW, R_OK | W_OK) == 0;
}

int cov_init(struct cov *c)
{
	memset(c, 0, sizeof(*c));
	c->seen = calloc(COV_SLOTS / 8, 1);
	c->cap = 16384;
	c->buf = malloc(c->cap * sizeof(*c->buf));
	if (!c->seen || !c->buf)
		return -1;
	return cov_reset(c);
}

void cov_free(struct cov *c)
{
	free(c->seen);
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

int cov_reset(struct cov *c)
{
	int fd = open(COV_WINDOW, O_WRONLY | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, "0", 1) == 1;
	close(fd);
	memset(c->seen, 0, COV_SLOTS / 8);
	c->reached = 0;
	return ok ? 0 : -1;
}

long cov_update(struct cov *c)
{
	size_t got = 0, i;
	long fresh = 0;
	ssize_t n;
	int fd = open(COV_WINDOW, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	for (;;) {
		if (got == c->cap) {
			uint32_t *more = realloc(c->buf, 2 * c->cap * sizeof(*c->buf));

			if (!more) {
				close(fd);
				return -1;
			}
			c->buf = more;
			c->cap *= 2;
		}
		n = read(fd, (char *)c->buf + got * sizeof(*c->buf),
			 (c->cap - got) * sizeof(*c->buf));
		if (n <= 0)
			break;
		got += n / sizeof(*c->buf);
	}
	close(fd);
	if (n < 0)
		return -1;
	for (i = 0; i < got; i++) {
		uint32_t s = c->buf[i];

		if (s >= COV_SLOTS || (c->seen[s / 8] & (1u << (s % 8))))
			continue;
		c->seen[s / 8] |= 1u << (s % 8);
		fresh++;
	}
	c->reached += fresh;
	return fresh;
}

/* ---- sequences and the corpus ---- */

void seq_fresh(struct rng *r, struct seq *s)
{
	unsigned int i;

	s->n = SEQ_FRESH_MIN + below(r, SEQ_FRESH_MAX - SEQ_FRESH_MIN + 1);
	for (i = 0; i < s->n; i++)
		s->op[i] = rnd(r);
}

static const struct seq *corpus_pick(struct rng *r, const struct corpus *c)
{
	/* Half the time one of the newest eighth: what found something last is likely near more. */
	if (c->n >= 8 && chance(r, 50))
		return &c->e[c->n - 1 - below(r, c->n / 8)];
	return &c->e[below(r, c->n)];
}

/* A seed for the same operation as seed, with other arguments. */
static uint64_t same_op_seed(struct rng *r, uint64_t seed)
{
	unsigned int kind = op_kind(seed), tries;
	uint64_t other = seed;

	/* The rarest operation is drawn once in a few hundred. */
	for (tries = 0; tries < 4096; tries++) {
		other = rnd(r);
		if (op_kind(other) == kind)
			break;
	}
	return other;
}

/*
 * One change to s: operations appended, an operation's arguments drawn
 * again, an operation replaced, inserted or deleted, a splice, or a repeat.
 */
static void seq_mutate_once(struct rng *r, const struct corpus *c, struct seq *s)
{
	const struct seq *o;
	unsigned int at, len, from;

	switch (below(r, 8)) {
	case 6:
	case 7:	/* more operations after it: a kept sequence ends where it found something */
		for (len = 1 + below(r, 8); len && s->n < SEQ_MAX; len--)
			s->op[s->n++] = rnd(r);
		break;
	case 5:	/* the same operation, other arguments */
		at = below(r, s->n);
		s->op[at] = same_op_seed(r, s->op[at]);
		break;
	case 0:	/* another operation in one place */
		s->op[below(r, s->n)] = rnd(r);
		break;
	case 1:	/* a new operation somewhere */
		if (s->n == SEQ_MAX)
			break;
		at = below(r, s->n + 1);
		memmove(&s->op[at + 1], &s->op[at], (s->n - at) * sizeof(s->op[0]));
		s->op[at] = rnd(r);
		s->n++;
		break;
	case 2:	/* an operation less */
		if (s->n == 1)
			break;
		at = below(r, s->n);
		memmove(&s->op[at], &s->op[at + 1], (s->n - at - 1) * sizeof(s->op[0]));
		s->n--;
		break;
	case 3:	/* this one's start, then another's end */
		o = corpus_pick(r, c);
		at = below(r, s->n + 1);
		from = below(r, o->n);
		len = o->n - from;
		if (at + len > SEQ_MAX)
			len = SEQ_MAX - at;
		memcpy(&s->op[at], &o->op[from], len * sizeof(s->op[0]));
		s->n = at + len ? at + len : 1;
		break;
	default: /* a run done twice */
		at = below(r, s->n);
		len = 1 + below(r, s->n - at);
		if (s->n + len > SEQ_MAX)
			break;
		memmove(&s->op[at + 2 * len], &s->op[at + len],
			(s->n - at - len) * sizeof(s->op[0]));
		memcpy(&s->op[at + len], &s->op[at], len * sizeof(s->op[0]));
		s->n += len;
		break;
	}
}

void seq_next(struct rng *r, const struct corpus *c, struct seq *s)
{
	unsigned int k;

	if (!c->n || chance(r, SEQ_FRESH_PCT)) {
		seq_fresh(r, s);
		return;
	}
	*s = *corpus_pick(r, c);
	for (k = 1 + below(r, 3); k; k--)
		seq_mutate_once(r, c, s);
}

int corpus_add(struct corpus *c, const struct seq *s)
{
	if (c->n == c->cap) {
		unsigned int cap = c->cap ? 2 * c->cap : 64;
		struct seq *e;

		if (cap > CORPUS_MAX)
			return 0;	/* full: keep what found the most first */
		e = realloc(c->e, cap * sizeof(*e));
		if (!e)
			return -1;
		c->e = e;
		c->cap = cap;
	}
	c->e[c->n++] = *s;
	return 0;
}

void corpus_free(struct corpus *c)
{
	free(c->e);
	memset(c, 0, sizeof(*c));
}

/* "0x1f,0x2e,...": the sequence as ASHMEM_FUZZ_SEQUENCE takes it. */
size_t seq_format(const struct seq *s, char *buf, size_t len)
{
	size_t n = 0;
	unsigned int i;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < s->n && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%#llx", i ? "," : "",
			      (unsigned long long)s->op[i]);
	return n;
}

int seq_parse(const char *text, struct seq *s)
{
	const char *p = text;
	char *end;

	s->n = 0;
	while (*p) {
		if (s->n == SEQ_MAX)
			return -1;
		errno = 0;
		s->op[s->n++] = strtoull(p, &end, 0);
		if (errno || end == p || (*end && *end != ','))
			return -1;
		p = *end ? end + 1 : end;
	}
	return s->n ? 0 : -1;
}
