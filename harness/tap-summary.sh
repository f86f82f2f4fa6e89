#!/usr/bin/env bash
# Count the results of TAP/KTAP output on stdin and print "N passed, N failed"
# (", N skipped" when any were). A test plan whose results are missing, as when
# a program crashes, counts the missing ones as failed. Before that line, each
# failed case and each plan short of results (the first 40), as "# failed:
# SECTION: ..." (SECTION: the last "# " comment before the case's plan), so the
# last lines of a long run say what failed. Exits 1 on any failure.
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0 < results.tap" >&2; exit 2; }
awk '
function note(what) {
	if (++notes <= 40) noted[notes] = substr(section, 1, 100) ": " what
}
function close_plan() {
	if (planned > seen) {
		missing += planned - seen
		note(sprintf("%d of %d planned results missing", planned - seen, planned))
	}
	planned = 0; seen = 0
}
/^# [^ ]/ { comment = substr($0, 3) }
/^1\.\.[0-9]+/ { close_plan(); planned = substr($1, 4) + 0; section = comment; next }
/^not ok [0-9]+/ { failed++; seen++; note($0); next }
/^ok [0-9]+/ {
	seen++
	if ($0 ~ /# *SKIP/) skipped++; else passed++
	next
}
END {
	close_plan()
	for (i = 1; i <= notes && i <= 40; i++) print "# failed: " noted[i]
	if (notes > 40) printf("# failed: ... and %d more\n", notes - 40)
	failed += missing
	line = sprintf("%d passed, %d failed", passed, failed)
	if (skipped) line = line sprintf(", %d skipped", skipped)
	if (missing) printf("# %d planned results missing, counted as failed\n", missing)
	print line
	exit(failed > 0 || passed == 0)
}'
