// SPDX-License-Identifier: GPL-2.0
/*
 * Which blocks of the driver ran, for the tests only: this object is linked
 * in by `make module COVERAGE=1` alone (never by DKMS or a user's build; see
 * Kbuild and docs/testing.md, "Coverage"). The rest of the module is then
 * built with sanitizer coverage (trace-pc): every block calls
 * __sanitizer_cov_trace_pc(), defined here, in an object that is itself not
 * instrumented. A block is recorded by the call's return address, as a slot
 * of the module's text: (address - text base) / 4, which is one slot per call
 * site, since two calls are at least 5 bytes apart.
 *
 * Everything that runs the module's code counts: any task (threads, forked
 * children, 32-bit programs, one that crashes), kernel threads (the KUnit
 * suites at load, reclaim calling the shrinker) and interrupts, with no
 * per-task state and nothing to change in the test programs.
 *
 * debugfs, directory ashmem_coverage (root only):
 *   hits    every block hit since the module was loaded: a header line with
 *           the text bases, then one slot per line, "t SLOT" (core text) or
 *           "i SLOT" (init text), in hex
 *   window  the core-text slots hit since the last write to this file, as
 *           32-bit numbers; writing anything empties it (the fuzzer's
 *           feedback, which must not disturb hits)
 * Both files' operations have owner = THIS_MODULE: an open one keeps the
 * module loaded (debugfs holds that reference while the file is open).
 *
 * What an instance of the module ran is lost when it is unloaded, and the
 * tests unload it (lifecycle.c, unload.c), so ashmem_coverage_exit(), last at
 * unload, logs (KERN_DEBUG: not on the console) every slot hit since hits was
 * last opened (all of them if it never was), as "ashmem_linux: coverage at
 * exit: t SLOT ..." (and "i SLOT ..." for init text), which the guest job
 * collects from the kernel log.
 */
#include <linux/bitmap.h>
#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/types.h>

/* Core text covered: 1 MiB (the instrumented debug-kernel module has 128 KiB). */
#define COV_TEXT_SLOTS	(1UL << 18)
/* Init text covered: 64 KiB. */
#define COV_INIT_SLOTS	(1UL << 14)
/* Slots per line of the exit log. */
#define COV_EXIT_PER_LINE	64

static unsigned long cov_text[BITS_TO_LONGS(COV_TEXT_SLOTS)];
static unsigned long cov_window[BITS_TO_LONGS(COV_TEXT_SLOTS)];
static unsigned long cov_init[BITS_TO_LONGS(COV_INIT_SLOTS)];
/* What the last open of hits showed, for the exit log. */
static unsigned long cov_shown[BITS_TO_LONGS(COV_TEXT_SLOTS)];
static bool cov_was_shown;
/* Where init text was while it ran (it is freed, and its base cleared, after init). */
static unsigned long cov_init_base;
/* Hits outside both ranges: the bitmaps are too small (shown in hits). */
static atomic_long_t cov_outside = ATOMIC_LONG_INIT(0);
static struct dentry *cov_dir;

void __sanitizer_cov_trace_pc(void);
void ashmem_coverage_init(void);
void ashmem_coverage_exit(void);

static __always_inline void cov_mark(unsigned long *map, unsigned long slot)
{
	/* Test first: a block runs again and again, its bit is set once. */
	if (!test_bit(slot, map))
		set_bit(slot, map);
}

void notrace __sanitizer_cov_trace_pc(void)
{
	unsigned long pc = (unsigned long)__builtin_return_address(0);
	const struct module_memory *text = &THIS_MODULE->mem[MOD_TEXT];
	const struct module_memory *init = &THIS_MODULE->mem[MOD_INIT_TEXT];
	unsigned long slot = (pc - (unsigned long)text->base) / 4;

	if (pc - (unsigned long)text->base < text->size && slot < COV_TEXT_SLOTS) {
		cov_mark(cov_text, slot);
		cov_mark(cov_window, slot);
		return;
	}
	slot = (pc - (unsigned long)init->base) / 4;
	if (pc - (unsigned long)init->base < init->size && slot < COV_INIT_SLOTS) {
		WRITE_ONCE(cov_init_base, (unsigned long)init->base);
		cov_mark(cov_init, slot);
		return;
	}
	atomic_long_inc(&cov_outside);
}

static int hits_show(struct seq_file *m, void *v)
{
	unsigned long slot;

	seq_printf(m, "# ashmem_linux coverage: text %lx size %x, init_text %lx, slot = offset / 4, outside %ld\n",
		   (unsigned long)THIS_MODULE->mem[MOD_TEXT].base, THIS_MODULE->mem[MOD_TEXT].size,
		   READ_ONCE(cov_init_base),
		   atomic_long_read(&cov_outside));
	for_each_set_bit(slot, cov_init, COV_INIT_SLOTS)
		seq_printf(m, "i %lx\n", slot);
	for_each_set_bit(slot, cov_shown, COV_TEXT_SLOTS)
		seq_printf(m, "t %lx\n", slot);
	return 0;
}

static int hits_open(struct inode *inode, struct file *file)
{
	/* A copy now, so that the exit log adds exactly what this read missed. */
	bitmap_copy(cov_shown, cov_text, COV_TEXT_SLOTS);
	WRITE_ONCE(cov_was_shown, true);
	return single_open_size(file, hits_show, NULL, 64 * 1024);
}

static const struct file_operations hits_fops = {
	.owner = THIS_MODULE,
	.open = hits_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static int window_show(struct seq_file *m, void *v)
{
	unsigned long slot;

	for_each_set_bit(slot, cov_window, COV_TEXT_SLOTS) {
		u32 s = slot;

		seq_write(m, &s, sizeof(s));
	}
	return 0;
}

static int window_open(struct inode *inode, struct file *file)
{
	return single_open_size(file, window_show, NULL, 64 * 1024);
}

static ssize_t window_write(struct file *file, const char __user *buf, size_t len, loff_t *pos)
{
	bitmap_zero(cov_window, COV_TEXT_SLOTS);
	return len;
}

static const struct file_operations window_fops = {
	.owner = THIS_MODULE,
	.open = window_open,
	.read = seq_read,
	.write = window_write,
	.llseek = seq_lseek,
	.release = single_release,
};

/* Called first at module init. Without debugfs the hits are only counted. */
void ashmem_coverage_init(void)
{
	cov_dir = debugfs_create_dir("ashmem_coverage", NULL);
	debugfs_create_file("hits", 0400, cov_dir, NULL, &hits_fops);
	debugfs_create_file("window", 0600, cov_dir, NULL, &window_fops);
}

/* Logs the slots set in map and not in shown (NULL: none), a line of them at a time. */
static void cov_log(char kind, const unsigned long *map, const unsigned long *shown,
		    unsigned long nbits)
{
	char line[COV_EXIT_PER_LINE * 8 + 1];
	unsigned long slot;
	int n = 0, len = 0;

	for_each_set_bit(slot, map, nbits) {
		if (shown && test_bit(slot, shown))
			continue;
		len += scnprintf(line + len, sizeof(line) - len, " %lx", slot);
		if (++n == COV_EXIT_PER_LINE) {
			printk(KERN_DEBUG "ashmem_linux: coverage at exit: %c%s\n", kind, line);
			n = len = 0;
		}
	}
	if (n)
		printk(KERN_DEBUG "ashmem_linux: coverage at exit: %c%s\n", kind, line);
}

/* Called last at module exit: what this instance ran that hits has not shown. */
void ashmem_coverage_exit(void)
{
	bool shown = READ_ONCE(cov_was_shown);

	debugfs_remove(cov_dir);
	/* cov_shown is empty if hits was never read. */
	cov_log('t', cov_text, cov_shown, COV_TEXT_SLOTS);
	if (!shown)
		cov_log('i', cov_init, NULL, COV_INIT_SLOTS);
}
