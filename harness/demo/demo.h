// SPDX-License-Identifier: GPL-2.0
/* What the demo programs share: printing a file for a person, and failing. */
#ifndef ASHMEM_DEMO_H
#define ASHMEM_DEMO_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Prints the lines of `path` that contain `match` (all when NULL), indented. */
static inline void show_file(const char *title, const char *path, const char *match)
{
	char line[512];
	FILE *f = fopen(path, "r");

	printf("%s (%s):\n", title, path);
	if (!f) {
		printf("  cannot open: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (!match || strstr(line, match))
			printf("  %s", line);
	fclose(f);
}

static inline int fail(const char *what)
{
	printf("%s failed: %s\n", what, strerror(errno));
	return 1;
}

#endif
