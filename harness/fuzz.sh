#!/usr/bin/env bash
# `make fuzz`: run selftests/ashmem/fuzz.c in the test guest (2 vCPUs), the
# 64-bit and the 32-bit program, for SECONDS in all (SECONDS/4 per test), with
# the module loaded. Prints the seed and the number of operations; fails on
# any mismatch the fuzzer reports, a module that does not unload afterwards,
# or a kernel splat. COVERAGE=1 loads the module built with `make module
# COVERAGE=1`: the tests then say how many of the driver's blocks they
# reached, and the coverage-guided test runs (it skips otherwise). TESTS="-t
# NAME ..." runs only those tests, BITS=64 (or 32) only that program.
#
# The seed defaults to one from the clock; both programs use the same one.
# OPS=N gives each test an operation budget instead of (with SECONDS: as well
# as) a time; it is what a failure's replay line asks for.
set -euo pipefail

usage() {
	echo "usage: $0 SECONDS [SEED]   (env: SERIES=sid|trixie|sid-arm64-16k|...|7.2|7.3|7.2-debug, OPS=N, WORKERS=N, KVM=1, COVERAGE=1, TESTS=\"-t NAME...\", BITS=64|32)" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
seconds=$1 seed=${2:-}
[[ $seconds =~ ^[0-9]+$ ]] || usage
[ -n "$seed" ] || seed=$(printf '0x%x' "$(date +%s%N)")
[[ $seed =~ ^(0x[0-9a-fA-F]+|[0-9]+)$ ]] || { echo "fuzz: SEED must be a number (decimal or 0x...)" >&2; exit 2; }
ops=${OPS:-} workers=${WORKERS:-}
[ -z "$ops" ] || [[ $ops =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: OPS must be a positive number" >&2; exit 2; }
[ -z "$workers" ] || [[ $workers =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: WORKERS must be a positive number" >&2; exit 2; }
[ "$seconds" -gt 0 ] || [ -n "$ops" ] || { echo "fuzz: give SECONDS > 0, or OPS" >&2; exit 2; }
per_test=
if [ "$seconds" -gt 0 ]; then
	per_test=$((seconds / 4))
	[ "$per_test" -ge 1 ] || per_test=1
fi

top=$(realpath "$(dirname "$0")/..")
cd "$top"
# shellcheck source=harness/guest-root.sh
. harness/guest-root.sh
guest_root fuzz
rm -rf "$out/fuzz-build"
harness/guest-cc.sh "${SERIES:-sid}" --run make --no-print-directory -C "$top/selftests/ashmem" KSRC="$ksrc" \
	OUT="$out/fuzz-build" "$out/fuzz-build/64/fuzz" "$out/fuzz-build/32/fuzz" >&2
cp "$out/fuzz-build/64/fuzz" "$root/bin/fuzz64"
cp "$out/fuzz-build/32/fuzz" "$root/bin/fuzz32"
printf 'FUZZ_SEED=%s\nFUZZ_SECONDS=%s\nFUZZ_OPS=%s\nFUZZ_WORKERS=%s\nFUZZ_TESTS="%s"\nFUZZ_BITS="%s"\n' \
	"$seed" "$per_test" "$ops" "$workers" "${TESTS:-}" "${BITS:-64 32}" | cat - harness/guest/fuzz-job.sh >"$root/job"

echo "fuzz: seed $seed on $(basename "$kdir"), ${per_test:+$per_test s per test}${ops:+${per_test:+, }$ops operations per test}"
# Room for both programs' four tests, booting, and a debug kernel's slowness.
rc=0
TIMEOUT=${TIMEOUT:-$((seconds + 600))} LOGDIR=$out/logs harness/guest-run.sh "$kdir" "$root" \
	| tee "$out/fuzz.out" || rc=$?
total=$(sed -n 's/^# fuzz: \([0-9][0-9]*\) operations .*/\1/p' "$out/fuzz.out" | awk '{ s += $1 } END { print s + 0 }')
echo "fuzz: $total operations, seed $seed ($(basename "$kdir"); output in $out/fuzz.out)"
if [ "$rc" != 0 ]; then
	echo "fuzz: FAILED (replay: make fuzz SECONDS=$seconds SEED=$seed${ops:+ OPS=$ops}${workers:+ WORKERS=$workers} SERIES=${SERIES:-sid}; a failing op's own replay line is above)" >&2
	exit "$rc"
fi
