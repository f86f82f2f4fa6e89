#!/usr/bin/env bash
# Count the results of TAP/KTAP output on stdin and print "N passed, N failed"
# (", N skipped" when any were). A test plan whose results are missing, as when
# a program crashes, counts the missing ones as failed. Exits 1 on any failure.
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0 < results.tap" >&2; exit 2; }
awk '
function close_plan() {
	if (planned > seen) { missing += planned - seen }
	planned = 0; seen = 0
}
/^1\.\.[0-9]+/ { close_plan(); planned = substr($1, 4) + 0; next }
/^not ok [0-9]+/ { failed++; seen++; next }
/^ok [0-9]+/ {
	seen++
	if ($0 ~ /# *SKIP/) skipped++; else passed++
	next
}
END {
	close_plan()
	failed += missing
	line = sprintf("%d passed, %d failed", passed, failed)
	if (skipped) line = line sprintf(", %d skipped", skipped)
	if (missing) printf("# %d planned results missing, counted as failed\n", missing)
	print line
	exit(failed > 0 || passed == 0)
}'
