#!/usr/bin/env bash
# `make bench`: run bench/ashmem_bench.c in the test guest (2 vCPUs) and print
# its table; the JSON goes to build/<kernel>/bench.json.
set -euo pipefail

usage() {
	echo "usage: $0 [-q] [-l | -t | -r]   (-q: smoke run, -l: lifecycle only, -t: threads only," \
		"-r: reclaim figures only; env: SERIES=sid|trixie|sid-arm64-16k|...|7.2|7.3|7.2-debug, KVM=1, ICOUNT=1)" >&2
	exit 2
}
args=()
for arg in "$@"; do
	case "$arg" in
	-q | -l | -t | -r) args+=("$arg") ;;
	*) usage ;;
	esac
done
top=$(realpath "$(dirname "$0")/..")
cd "$top"
# shellcheck source=harness/guest-root.sh
. harness/guest-root.sh
guest_root bench
harness/guest-cc.sh "${SERIES:-sid}" -O2 -Wall -Werror -static -pthread -I selftests/ashmem \
	-o "$root/bin/ashmem_bench" bench/ashmem_bench.c
printf 'BENCH_ARGS="%s"\n' "${args[*]}" | cat - harness/guest/bench-job.sh >"$root/job"
if [ "${ICOUNT:-0}" = 1 ]; then
	echo "ICOUNT=1: TSC ticks are guest instructions; the vCPUs take turns, so the thread figures mean nothing"
fi
LOGDIR=$out/logs harness/guest-run.sh "$kdir" "$root" >"$out/bench.out"
# The job prints the table, then the JSON between two marker lines.
sed '/^### bench.json$/,$d' "$out/bench.out"
sed -n '/^### bench.json$/,/^### end$/p' "$out/bench.out" | sed '1d;$d' >"$out/bench.json"
python3 -m json.tool "$out/bench.json" >/dev/null
echo "JSON: $out/bench.json"
