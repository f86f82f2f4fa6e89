#!/usr/bin/env bash
# The whole test run, for each kernel series: test kernel, module (warnings as
# errors, clippy), rustfmt, make install/sign, the DKMS lifecycle, then a QEMU
# guest that loads the module DKMS installed with modprobe, as Waydroid does,
# and runs the selftests, and a guest running ashmem-diag against the driver.
# Once: the host unit tests of ashmem-diag and a smoke run of `make bench`.
# Ends with "N passed, N failed" over every case of every kernel.
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0   (env: SERIES=\"7.2 7.3\", KVM=1, KERNEL_SRC=DIR)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")
cd "$top"
read -r -a series <<<"${SERIES:-7.2 7.3}"

step() { printf '\n== %s\n' "$*" >&2; }

step "dependencies"
scripts/deps.sh
# shellcheck source=scripts/toolchain.sh
. scripts/toolchain.sh

guest_failed=()
outs=()
host=$top/build/host
mkdir -p "$host"

step "ashmem-diag host unit tests"
scripts/tests/tap_unittest.py | tee "$host/diag-unit.tap" || true
for s in "${series[@]}"; do
	step "$s: test kernel"
	kdir=$(scripts/test-kernel.sh "$s")
	ksrc=$(realpath "$kdir/source")
	echo "$kdir" >&2
	out=$top/build/$(basename "$kdir")
	outs+=("$s $out")

	step "$s: module (clippy, warnings as errors)"
	make --no-print-directory module KDIR="$kdir" MO="$out/module" CLIPPY=1

	step "$s: rustfmt"
	make --no-print-directory fmt-check KDIR="$kdir"

	step "$s: selftests (64-bit and 32-bit)"
	# From scratch: the binary of a test source since removed must not run.
	rm -rf "$out/selftests"
	make --no-print-directory -C selftests/ashmem KSRC="$ksrc" OUT="$out/selftests" >/dev/null

	step "$s: make install, uninstall, sign"
	scripts/install-test.sh "$kdir" "$out/module" "$out" | tee "$out/packaging.tap"

	step "$s: DKMS lifecycle"
	# Leaves the modules tree DKMS installed in $out/guest/lib/modules.
	scripts/dkms-test.sh "$kdir" "$out" | tee "$out/dkms.tap"

	step "$s: guest run"
	root=$out/guest-root
	rm -rf "$root"
	mkdir -p "$root/selftests" "$root/bin"
	cp -a "$out/guest/." "$root/"
	cp -r "$out/selftests/64" "$out/selftests/32" "$root/selftests/"
	scripts/guest-kmod.sh "$root"
	gcc -O2 -Wall -Werror -static -I selftests/ashmem -o "$root/bin/ashmem-user" scripts/guest/ashmem-user.c
	cp scripts/guest/selftests-job.sh "$root/job"
	rc=0
	LOGDIR=$out/logs scripts/guest-run.sh "$kdir" "$root" | tee "$out/results.tap" || rc=$?
	[ "$rc" = 0 ] || guest_failed+=("$s: guest run failed (status $rc), logs in $out/logs")

	step "$s: ashmem-diag in a guest"
	rc=0
	scripts/diag-guest-test.sh "$kdir" "$out/module/ashmem_linux.ko" "$out/diag" \
		>"$out/diag.tap" || rc=$?
	cat "$out/diag.tap"
	[ "$rc" = 0 ] || guest_failed+=("$s: ashmem-diag guest failed (status $rc), logs in $out/diag/logs")
done

step "make bench (smoke run: it runs and writes valid JSON)"
{
	echo "# bench: make bench QUICK=1"
	echo "1..1"
	if SERIES=${series[0]} scripts/bench.sh -q >"$host/bench.log" 2>&1; then
		echo "ok 1 make_bench_runs_and_writes_valid_json"
	else
		echo "not ok 1 make_bench_runs_and_writes_valid_json"
		tail -n 20 "$host/bench.log" | sed 's/^/#   /'
	fi
} | tee "$host/bench.tap"

step "results"
# Per kernel and part, then the total that CI reads (the last line).
parts=(dkms: packaging: modprobe: "selftest: 64-bit" "selftest: 32-bit" kunit: diag:)
part_re='^# (dkms|packaging|modprobe|selftest|kunit|diag|diag-unit|bench): '
for so in "${outs[@]}"; do
	s=${so%% *} out=${so#* }
	cat "$out/dkms.tap" "$out/packaging.tap" "$out/results.tap" "$out/diag.tap" >"$out/all.tap"
	for part in "${parts[@]}"; do
		printf '%s %s ' "$s" "$part"
		awk -v want="# $part" -v re="$part_re" '$0 ~ re { on = index($0, want) == 1 } on' \
			"$out/all.tap" | scripts/tap-summary.sh | tail -n 1 || true
	done
done
for part in diag-unit bench; do
	printf '%s: ' "$part"
	scripts/tap-summary.sh <"$host/$part.tap" | tail -n 1 || true
done
for f in "${guest_failed[@]}"; do echo "$f" >&2; done
summary=0
{
	cat "$host/diag-unit.tap" "$host/bench.tap"
	for so in "${outs[@]}"; do cat "${so#* }/all.tap"; done
} | scripts/tap-summary.sh || summary=$?
[ ${#guest_failed[@]} = 0 ] && [ "$summary" = 0 ]
