// SPDX-License-Identifier: GPL-2.0
/*
 * A process holding ashmem regions while the module's package is upgraded
 * under it (harness/guest/containers-job.sh runs it in a container):
 *
 *   pinned     8 pages, mapped, every page pinned
 *   half       8 pages, mapped, pages 2-5 unpinned, the rest pinned
 *   unpinned   8 pages, mapped, every page unpinned
 *   fd-only    8 pages, written through a mapping that is then unmapped:
 *              only the fd is left
 *
 * every page stamped with its own words (ashmem_test.h). Then it waits, and
 * answers requests in DIR (a directory shared with the host):
 *
 *   DIR/check   holds a LABEL: check every region, write the TAP result to
 *               DIR/result-LABEL (then remove DIR/check)
 *   DIR/stop    close everything and exit 0
 *
 * A check: each region still has its size and name; pinned pages read
 * stamped, through the mapping and through read(2); pin status is unchanged;
 * an unpinned range reads either stamped or, if reclaim purged it, all zero
 * (said which); a new region can be created, mapped and used. With LABEL
 * "repin" it also pins the unpinned ranges again: ASHMEM_NOT_PURGED must go
 * with stamped pages, ASHMEM_WAS_PURGED with zeros.
 *
 *   region_holder DIR
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define PAGES		8
#define SEED		0x2700

struct held {
	const char *name;
	size_t unpin_first, unpin_pages;	/* the unpinned range, in pages */
	int mapped;				/* the mapping is kept */
	int fd;
	char *map;
};

static struct held regions[] = {
	{ "holder-pinned", 0, 0, 1, -1, NULL },
	{ "holder-half", 2, 4, 1, -1, NULL },
	{ "holder-unpinned", 0, PAGES, 1, -1, NULL },
	{ "holder-fd-only", 0, 0, 0, -1, NULL },
};
#define NREGIONS	(sizeof(regions) / sizeof(regions[0]))

static FILE *out;
static int n, failed;

__attribute__((format(printf, 3, 4)))
static void tap(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "%s %d %s\n", ok ? "ok" : "not ok", ++n, name);
	if (fmt && *fmt) {
		fprintf(out, "#   ");
		va_start(ap, fmt);
		vfprintf(out, fmt, ap);
		va_end(ap);
		fprintf(out, "\n");
	}
	if (!ok)
		failed = 1;
}

static int create(struct held *r)
{
	size_t pg = page_size(), size = PAGES * pg;
	char *map = region_new_stamped(r->name, PAGES, SEED + (r - regions), &r->fd);

	if (map == MAP_FAILED)
		return -1;
	if (r->unpin_pages && unpin_range(r->fd, r->unpin_first * pg, r->unpin_pages * pg) < 0)
		return -1;
	if (r->mapped)
		r->map = map;
	else
		munmap(map, size);
	return 0;
}

/* What the unpinned range of r holds: "stamped", "zero" or NULL (other). */
static const char *unpinned_state(struct held *r)
{
	unsigned int seed = SEED + (r - regions);
	char *first = r->map + r->unpin_first * page_size();

	if (pages_are(first, r->unpin_pages, r->unpin_first, seed, PAGE_STAMPED))
		return "stamped";
	if (pages_are(first, r->unpin_pages, r->unpin_first, seed, PAGE_ZERO))
		return "zero (purged by reclaim)";
	return NULL;
}

static void check_region(struct held *r, int repin)
{
	size_t pg = page_size(), size = PAGES * pg, i;
	unsigned int seed = SEED + (r - regions);
	char name[ASHMEM_NAME_LEN] = "", what[96];
	const char *state = NULL;
	int ok, pins_ok = 1, ret;

	ok = ioctl(r->fd, ASHMEM_GET_SIZE) == (long)size &&
	     ioctl(r->fd, ASHMEM_GET_NAME, name) == 0 && !strcmp(name, r->name);
	snprintf(what, sizeof(what), "%s_keeps_its_size_and_name", r->name);
	tap(ok, what, "size %ld, name '%s'", (long)ioctl(r->fd, ASHMEM_GET_SIZE), name);

	/* Pinned pages: still pinned, stamped through the mapping and read(2). */
	ok = 1;
	for (i = 0; i < PAGES; i++) {
		if (i >= r->unpin_first && i < r->unpin_first + r->unpin_pages)
			continue;
		if (range_pin_status(r->fd, i * pg, pg) != ASHMEM_IS_PINNED)
			pins_ok = 0;
		if (r->map && !pages_are(r->map + i * pg, 1, i, seed, PAGE_STAMPED))
			ok = 0;
		if (read_pages_are(r->fd, i * pg, 1, seed, PAGE_STAMPED) != 1)
			ok = 0;
	}
	snprintf(what, sizeof(what), "%s_pinned_pages_stay_pinned_with_their_data", r->name);
	tap(ok && pins_ok, what, "%zu pinned pages checked through %s%s", PAGES - r->unpin_pages,
	    r->map ? "the mapping and read(2)" : "read(2)", pins_ok ? "" : "; pin status changed");

	if (r->unpin_pages) {
		state = unpinned_state(r);
		pins_ok = range_pin_status(r->fd, r->unpin_first * pg, r->unpin_pages * pg) ==
			  ASHMEM_IS_UNPINNED;
		snprintf(what, sizeof(what), "%s_unpinned_pages_stay_unpinned_and_consistent", r->name);
		tap(state && pins_ok, what, "pages %zu-%zu: %s, pin status %s", r->unpin_first,
		    r->unpin_first + r->unpin_pages - 1, state ? state : "neither stamped nor zero",
		    pins_ok ? "unpinned" : "changed");
	}
	if (repin && r->unpin_pages) {
		ret = pin_range(r->fd, r->unpin_first * pg, r->unpin_pages * pg);
		ok = state && ((ret == ASHMEM_NOT_PURGED && !strcmp(state, "stamped")) ||
			       (ret == ASHMEM_WAS_PURGED && strcmp(state, "stamped")));
		snprintf(what, sizeof(what), "%s_pin_again_reports_what_the_pages_hold", r->name);
		tap(ok, what, "PIN: %s, pages %s",
		    ret == ASHMEM_NOT_PURGED ? "ASHMEM_NOT_PURGED" :
		    ret == ASHMEM_WAS_PURGED ? "ASHMEM_WAS_PURGED" : strerror(errno),
		    state ? state : "neither");
		if (ret >= 0)
			r->unpin_pages = 0;
	}
}

/* The loaded module still serves new regions. */
static void check_new_region(void)
{
	int fd = -1, ok;
	char *map = region_new_stamped("holder-new", 2, SEED + 99, &fd);

	ok = map != MAP_FAILED && pages_are(map, 2, 0, SEED + 99, PAGE_STAMPED) &&
	     read_pages_are(fd, 0, 2, SEED + 99, PAGE_STAMPED) == 1;
	tap(ok, "a_new_region_is_created_mapped_and_read_back", "%s",
	    map == MAP_FAILED ? strerror(errno) : "");
	region_release(fd, map, 2 * page_size());
}

static int run_check(const char *dir, const char *label)
{
	char tmp[512], path[512];
	size_t i;

	snprintf(tmp, sizeof(tmp), "%s/.result-%s", dir, label);
	snprintf(path, sizeof(path), "%s/result-%s", dir, label);
	out = fopen(tmp, "we");
	if (!out)
		return -1;
	n = 0;
	failed = 0;
	fprintf(out, "# region holder (pid %d in its container), check '%s'\n", getpid(), label);
	for (i = 0; i < NREGIONS; i++)
		check_region(&regions[i], !strcmp(label, "repin"));
	check_new_region();
	fprintf(out, "1..%d\n", n);
	fclose(out);
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	char path[512], label[64];
	size_t i;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < NREGIONS; i++)
		if (create(&regions[i]) < 0) {
			fprintf(stderr, "region_holder: %s: %s\n", regions[i].name, strerror(errno));
			return 1;
		}
	snprintf(path, sizeof(path), "%s/ready", argv[1]);
	f = fopen(path, "we");
	if (!f)
		return 1;
	fprintf(f, "pid %d: %zu regions of %d pages of %zu bytes\n", getpid(), NREGIONS, PAGES,
		page_size());
	fclose(f);

	for (;;) {
		snprintf(path, sizeof(path), "%s/stop", argv[1]);
		if (access(path, F_OK) == 0)
			break;
		snprintf(path, sizeof(path), "%s/check", argv[1]);
		f = fopen(path, "re");
		if (f) {
			if (fgets(label, sizeof(label), f)) {
				label[strcspn(label, "\n")] = '\0';
				fclose(f);
				if (run_check(argv[1], label) < 0)
					fprintf(stderr, "region_holder: check %s: %s\n", label,
						strerror(errno));
				unlink(path);
			} else {
				fclose(f);
			}
		}
		usleep(100000);
	}
	for (i = 0; i < NREGIONS; i++)
		region_release(regions[i].fd, regions[i].map, PAGES * page_size());
	return 0;
}
