#!/usr/bin/env bash
# `make coverage`: which blocks of the driver make check's run on the 7.2
# debug kernel executed (selftests 64- and 32-bit, KUnit, the fuzzer, the
# load/unload and pressure tests, the guest without memory cgroups), per
# function and per source line, read by
# harness/coverage.py from the guest's records of the instrumented module.
# Runs that part of make check first (`SERIES=7.2-debug harness/check.sh`)
# when it has not run yet, or with RUN=1.
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0   (env: RUN=1 runs make check SERIES=7.2-debug first)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")
cd "$top"
# shellcheck source=harness/toolchain.sh
. harness/toolchain.sh
kdir=$(harness/test-kernel.sh 7.2 debug)
out=$top/build/$(basename "$kdir")
if [ "${RUN:-0}" = 1 ] || [ ! -f "$out/module-cov/ashmem_linux.ko" ] || [ ! -s "$out/coverage-records" ]; then
	echo "coverage: running make check SERIES=7.2-debug first" >&2
	# A failing run still says what it ran.
	SERIES=7.2-debug harness/check.sh || echo "coverage: make check SERIES=7.2-debug failed; its coverage follows" >&2
fi
harness/coverage.py "$out/module-cov/ashmem_linux.ko" "$out/coverage-records" "$top" "$out/coverage" >"$out/coverage.tap" || true
cat "$out/coverage/functions"
echo
cat "$out/coverage/unreached"
echo
echo "per source line: $out/coverage/lines"
cat "$out/coverage/summary"
