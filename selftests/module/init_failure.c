// SPDX-License-Identifier: GPL-2.0
/*
 * Loading ashmem_linux while an allocation inside its init function fails:
 * the load must fail with ENOMEM (or, where the kernel can do without what
 * failed, work), leave nothing of the module behind (no /dev/ashmem, no
 * shrinker, no entry cache, no debugfs directory), and a load after it must
 * work. Each allocation of the init fails in turn, for N = 1, 2, ... until N
 * is past the last one.
 *
 * The loading thread's fail-nth (/proc/thread-self/fail-nth) alone cannot
 * single out the init's allocations: finit_module(2) makes thousands of its
 * own first (the module's memory, its sections, its sysfs). With the fault
 * injection stack filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER),
 * failslab and fail_page_alloc count an allocation, for fail-nth too
 * (lib/fault-inject.c, should_fail_ex), only when a return address on its
 * stack is within [require-start, require-end): here the text of
 * do_one_initcall(), the function that calls a module's init and is on the
 * stack only while it runs (load_module's work comes before it, the KUnit
 * suites' after it, from the module notifier). The reject range is emptied:
 * kmem_cache_create()'s allocations fail too. It reports its own failure
 * with a warning and a stack dump, which the guest's console check excuses
 * for the module's entry cache only (harness/guest-checks.sh). A second test
 * does it one step at a time (the filter's range: the kernel function the
 * step calls), so that each step's failure is made on every run.
 *
 * Runs as root in the test guest, with the module's file named by
 * $ASHMEM_KO; leaves the module loaded. What leaked, the guest job's
 * kmemleak scan finds; what the kernel said, the console check. Skips on a
 * kernel without fault injection or its stack filter (Debian's kernels: the
 * debug test kernel has both).
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "ashmem_uapi.h"
#include "ashmem_test.h"

#define MODULE_NAME	"ashmem_linux"
#define FAIL_NTH	"/proc/thread-self/fail-nth"
#define KUNIT_FILTER	"/sys/module/kunit/parameters/filter_glob"
#define FAILSLAB	"/sys/kernel/debug/failslab/"
#define FAIL_PAGE_ALLOC	"/sys/kernel/debug/fail_page_alloc/"
/* More allocations than the init makes: a loop that never ends fails. */
#define MAX_NTH		2000

/* A knob set for the test, with what it held before. */
struct knob {
	const char *path;
	char value[32];
	char saved[32];
};

static const char *const knob_paths[] = {
	/* Sleeping (GFP_KERNEL) and order-0 allocations count too, none is reported. */
	FAILSLAB "ignore-gfp-wait",
	FAILSLAB "verbose",
	FAIL_PAGE_ALLOC "ignore-gfp-wait",
	FAIL_PAGE_ALLOC "ignore-gfp-highmem",
	FAIL_PAGE_ALLOC "min-order",
	FAIL_PAGE_ALLOC "verbose",
	/* The stack filter: do_one_initcall()'s text, as deep as the filter looks; none rejected. */
	FAILSLAB "require-start",
	FAILSLAB "require-end",
	FAILSLAB "reject-start",
	FAILSLAB "reject-end",
	FAILSLAB "stacktrace-depth",
	FAIL_PAGE_ALLOC "require-start",
	FAIL_PAGE_ALLOC "require-end",
	FAIL_PAGE_ALLOC "reject-start",
	FAIL_PAGE_ALLOC "reject-end",
	FAIL_PAGE_ALLOC "stacktrace-depth",
};
#define NKNOBS	(sizeof(knob_paths) / sizeof(knob_paths[0]))

static int module_loaded(void)
{
	struct stat st;

	return stat("/sys/module/" MODULE_NAME "/initstate", &st) == 0;
}

static int unload(void)
{
	return syscall(SYS_delete_module, MODULE_NAME, O_NONBLOCK) == 0 ? 0 : errno;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/*
 * The text of the kernel function name, from /proc/kallsyms: its address in
 * *start, the next symbol's in *end. 0, or -1 when it is not there (or the
 * addresses are hidden).
 */
static int kernel_function(const char *name, unsigned long *start, unsigned long *end)
{
	char line[512], sym[256], type;
	unsigned long addr, next = ~0UL;
	FILE *f = fopen("/proc/kallsyms", "re");

	*start = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %255s", &addr, &type, sym) == 3 &&
		    (type == 'T' || type == 't') && !strcmp(sym, name))
			*start = addr;
	if (*start) {
		rewind(f);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%lx %c %255s", &addr, &type, sym) == 3 &&
			    addr > *start && addr < next)
				next = addr;
	}
	fclose(f);
	*end = next;
	return *start && next != ~0UL ? 0 : -1;
}

/* Whether a line of /proc/slabinfo names the cache. */
static int slabinfo_has(const char *cache)
{
	char line[512];
	size_t len = strlen(cache);
	int found = 0;
	FILE *f = fopen("/proc/slabinfo", "re");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, cache, len) && line[len] == ' ';
	fclose(f);
	return found;
}

/*
 * A region of the device at path that is sized, mapped, written and read
 * back, and whose range is unpinned and pinned again: the module works.
 */
static int works_through(const char *path)
{
	size_t pg = page_size();
	unsigned char *p;
	int fd = open(path, O_RDWR | O_CLOEXEC), ok;

	if (fd < 0)
		return 0;
	if (set_size(fd, 2 * pg)) {
		close(fd);
		return 0;
	}
	p = map_shared(fd, 2 * pg, PROT_READ | PROT_WRITE);
	if (p == MAP_FAILED) {
		close(fd);
		return 0;
	}
	fill_pattern(p, 2 * pg, 26);
	ok = check_pattern(p, 2 * pg, 26) && unpin_range(fd, pg, pg) == 0 &&
	     pin_range(fd, pg, pg) == ASHMEM_NOT_PURGED;
	munmap(p, 2 * pg);
	close(fd);
	return ok;
}

#define OWN_NODE	"/tmp/ashmem-init-failure"

/*
 * Whether the loaded module works: through /dev/ashmem, or, when devtmpfs
 * could not make the node (it leaves that to udev, which the guest lacks),
 * through a node made here from the device's number.
 */
static int module_works(void)
{
	unsigned int major, minor;
	char dev[32];
	int ok;

	if (exists(ASHMEM_DEVICE))
		return works_through(ASHMEM_DEVICE);
	if (read_text("/sys/class/misc/ashmem/dev", dev, sizeof(dev)) < 0 ||
	    sscanf(dev, "%u:%u", &major, &minor) != 2)
		return 0;
	unlink(OWN_NODE);
	if (mknod(OWN_NODE, S_IFCHR | 0600, makedev(major, minor)))
		return 0;
	ok = works_through(OWN_NODE);
	unlink(OWN_NODE);
	return ok;
}

FIXTURE(init_failure)
{
	struct knob knobs[NKNOBS];
	int knobs_set;
	int nth;
	int kunit_filtered;
};

FIXTURE_SETUP(init_failure)
{
	unsigned long start, end;
	unsigned int i;

	self->nth = -1;
	ASSERT_NE(NULL, getenv("ASHMEM_KO")) {
		TH_LOG("set ASHMEM_KO to the module file");
	}
	if (geteuid() != 0)
		SKIP(return, "needs root (finit_module, fault-injection controls in debugfs)");
	if (!exists(FAIL_NTH))
		SKIP(return, "kernel without CONFIG_FAULT_INJECTION: no %s (the debug test kernel has it)",
		     FAIL_NTH);
	for (i = 0; i < NKNOBS; i++)
		if (!exists(knob_paths[i]))
			SKIP(return, "no %s (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS, CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)",
			     knob_paths[i]);
	ASSERT_EQ(0, kernel_function("do_one_initcall", &start, &end)) {
		TH_LOG("no address of do_one_initcall in /proc/kallsyms");
	}
	for (i = 0; i < NKNOBS; i++) {
		const char *name = strrchr(knob_paths[i], '/') + 1;
		struct knob *k = &self->knobs[i];

		k->path = knob_paths[i];
		if (!strcmp(name, "require-start"))
			snprintf(k->value, sizeof(k->value), "%lu", start);
		else if (!strcmp(name, "require-end"))
			snprintf(k->value, sizeof(k->value), "%lu", end);
		else if (!strcmp(name, "reject-start") || !strcmp(name, "reject-end"))
			snprintf(k->value, sizeof(k->value), "0");
		else if (!strcmp(name, "stacktrace-depth"))
			/* The most the filter looks at (MAX_STACK_TRACE_DEPTH). */
			snprintf(k->value, sizeof(k->value), "32");
		else if (!strcmp(name, "min-order"))
			snprintf(k->value, sizeof(k->value), "0");
		else if (!strcmp(name, "verbose"))
			snprintf(k->value, sizeof(k->value), "0");
		else
			snprintf(k->value, sizeof(k->value), "N");
		ASSERT_LE(0, read_text(k->path, k->saved, sizeof(k->saved)));
		k->saved[strcspn(k->saved, "\n")] = '\0';
	}
	self->knobs_set = 1;
	for (i = 0; i < NKNOBS; i++) {
		const char *path = knob_paths[i];

		ASSERT_EQ(0, write_text(path, self->knobs[i].value)) {
			TH_LOG("%s: %s", path, strerror(errno));
		}
	}
	/* The KUnit suites would run at every load that works: they ran at the first. */
	if (exists(KUNIT_FILTER)) {
		ASSERT_EQ(0, write_text(KUNIT_FILTER, "no_suite_during_init_failures"));
		self->kunit_filtered = 1;
	}
	self->nth = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->nth);
	if (module_loaded())
		ASSERT_EQ(0, unload()) {
			TH_LOG("the module must be unloadable: is a region still open?");
		}
}

FIXTURE_TEARDOWN(init_failure)
{
	unsigned int i;

	if (self->nth >= 0)
		pwrite(self->nth, "0", 1, 0);
	for (i = NKNOBS; self->knobs_set && i-- > 0;)
		if (write_text(self->knobs[i].path, self->knobs[i].saved)) {
			TH_LOG("restoring %s: %s", self->knobs[i].path, strerror(errno));
			_metadata->exit_code = KSFT_FAIL;
		}
	if (self->kunit_filtered && write_text(KUNIT_FILTER, "*.*"))
		_metadata->exit_code = KSFT_FAIL;
	/* The guest job, and the programs after this one, need it loaded. */
	if (!module_loaded() && load_module_file())
		_metadata->exit_code = KSFT_FAIL;
}

/* From now on the n-th allocation within the init fails (0: none does). */
static int nth_arm(int fd, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : -1;
}

/* Stops failing; 1 when the armed allocation was reached (and failed), 0 if not, -1. */
static int nth_disarm(int fd)
{
	char buf[16] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0 || nth_arm(fd, 0))
		return -1;
	buf[n] = '\0';
	return atoi(buf) == 0;
}

/* Nothing the init sets up is left: the node, the shrinker, the entry cache, debugfs. */
#define ASSERT_NOTHING_LEFT(n) do {						\
	char __dir[512];							\
	ASSERT_FALSE(module_loaded());						\
	ASSERT_FALSE(exists(ASHMEM_DEVICE)) {					\
		TH_LOG("allocation %d failing: %s left", n, ASHMEM_DEVICE);	\
	}									\
	ASSERT_FALSE(exists("/sys/class/misc/ashmem"));			\
	ASSERT_GE(0, ashmem_shrinker_dir(__dir, sizeof(__dir))) {		\
		TH_LOG("allocation %d failing: shrinker %s left", n, __dir);	\
	}									\
	ASSERT_FALSE(exists("/sys/kernel/slab/ashmem_lru_entry")) {		\
		TH_LOG("allocation %d failing: the entry cache left", n);	\
	}									\
	ASSERT_FALSE(slabinfo_has("ashmem_lru_entry"));				\
	ASSERT_FALSE(exists("/sys/kernel/debug/ashmem")) {			\
		TH_LOG("allocation %d failing: debugfs ashmem/ left", n);	\
	}									\
} while (0)

/*
 * Loads the module with the N-th counted allocation of its init failing, for
 * N = 1, 2, ... until a load makes no N-th one (or, with first_enomem, until
 * a load fails): each load fails with ENOMEM and leaves nothing, or works
 * with a module that works. Counts both; gives the last N made. Leaves the
 * module unloaded.
 */
static int sweep_init(struct __test_metadata *_metadata, FIXTURE_DATA(init_failure) *self,
		      int first_enomem, int *enomem, int *worked)
{
	int n, err, injected;

	for (n = 1; n <= MAX_NTH; n++) {
		ASSERT_EQ(0, nth_arm(self->nth, n));
		err = load_module_file();
		injected = nth_disarm(self->nth);
		ASSERT_LE(0, injected);
		if (!injected) {
			/* Past the init's last allocation: a plain load. */
			ASSERT_EQ(0, err) {
				TH_LOG("load with no allocation failing: %s", strerror(err));
			}
			ASSERT_EQ(0, unload());
			break;
		}
		if (err == 0) {
			/* What failed, the kernel or the module did without (debugfs). */
			(*worked)++;
			ASSERT_TRUE(module_works()) {
				TH_LOG("allocation %d failing, the load worked: the module does not", n);
			}
			ASSERT_EQ(0, unload());
			continue;
		}
		ASSERT_EQ(ENOMEM, err) {
			TH_LOG("allocation %d of the init failing: the load failed with %s, not ENOMEM",
			       n, strerror(err));
		}
		(*enomem)++;
		ASSERT_NOTHING_LEFT(n);
		if (first_enomem)
			return n;
	}
	ASSERT_GT(MAX_NTH, n);
	return n - 1;
}

TEST_F_TIMEOUT(init_failure, load_fails_with_enomem_and_leaves_nothing_when_an_init_allocation_fails, 1800)
{
	int n, enomem = 0, worked = 0;

	n = sweep_init(_metadata, self, 0, &enomem, &worked);
	ksft_print_msg("the init made %d allocations; each failed in turn: %d times ENOMEM, %d times the load worked all the same\n",
		       n, enomem, worked);
	/* The filter sees the init's allocations, or this tested nothing. */
	ASSERT_LT(0, enomem);
	ASSERT_EQ(0, load_module_file());
	ASSERT_TRUE(module_works());
}

/*
 * The same, one step of the init at a time: the stack filter's range is the
 * text of the kernel function the step calls, so only that step's
 * allocations count, and each of its failures is made on every run. (The
 * sweep above counts the whole init's allocations, whose number differs from
 * one load to the next: 154 in one run, 155 in another, so it can step over
 * one.) Each of these steps cannot do without what it allocates: one of
 * its allocations failing must fail the load; the sweep stops there (the
 * test above made every other failure already).
 */
static const char *const init_steps[] = {
	"shrinker_alloc",		/* the shrinker (lru.rs) */
	"__list_lru_init",		/* the memcg-aware list (lru.rs) */
	"__kmem_cache_create_args",	/* the entry cache (lru.rs) */
	"__shmem_file_setup",		/* the probe of shmem's file operations (shmem.rs) */
	"misc_register",		/* /dev/ashmem (ashmem.rs) */
};

static void filter_on(struct __test_metadata *_metadata, const char *function)
{
	static const char *const knobs[][2] = {
		{ FAILSLAB "require-start", FAILSLAB "require-end" },
		{ FAIL_PAGE_ALLOC "require-start", FAIL_PAGE_ALLOC "require-end" },
	};
	unsigned long start, end;
	char value[32];
	unsigned int i;

	ASSERT_EQ(0, kernel_function(function, &start, &end)) {
		TH_LOG("no address of %s in /proc/kallsyms", function);
	}
	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(value, sizeof(value), "%lu", start);
		ASSERT_EQ(0, write_text(knobs[i][0], value));
		snprintf(value, sizeof(value), "%lu", end);
		ASSERT_EQ(0, write_text(knobs[i][1], value));
	}
}

TEST_F_TIMEOUT(init_failure, each_step_of_the_init_failing_fails_the_load_and_leaves_nothing, 1800)
{
	unsigned int i;

	for (i = 0; i < sizeof(init_steps) / sizeof(init_steps[0]); i++) {
		int n, enomem = 0, worked = 0;

		filter_on(_metadata, init_steps[i]);
		n = sweep_init(_metadata, self, 1, &enomem, &worked);
		ksft_print_msg("%s: allocation %d of it failing failed the load with ENOMEM; %d before it the load did without\n",
			       init_steps[i], n, worked);
		EXPECT_LT(0, enomem) {
			TH_LOG("%s: no failure of it failed the load", init_steps[i]);
		}
	}
	ASSERT_EQ(0, load_module_file());
	ASSERT_TRUE(module_works());
}

TEST_HARNESS_MAIN
