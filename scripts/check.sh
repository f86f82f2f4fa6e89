#!/usr/bin/env bash
# The whole test run: dependencies, test kernel, module (warnings as errors,
# clippy), rustfmt, selftests in a QEMU guest. Ends with "N passed, N failed".
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0   (env: SERIES=7.2, KVM=1, KERNEL_SRC=DIR)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")
cd "$top"
series=${SERIES:-7.2}

step() { printf '\n== %s\n' "$*" >&2; }

step "dependencies"
scripts/deps.sh
# shellcheck source=scripts/toolchain.sh
. scripts/toolchain.sh

step "test kernel $series"
kdir=$(scripts/test-kernel.sh "$series")
ksrc=$(realpath "$kdir/source")
echo "$kdir" >&2

out=$top/build/$(basename "$kdir")
step "module (clippy, warnings as errors)"
make --no-print-directory module KDIR="$kdir" MO="$out/module" CLIPPY=1

step "rustfmt"
make --no-print-directory fmt-check KDIR="$kdir"

step "selftests (64-bit and 32-bit)"
# From scratch: the binary of a test source since removed must not run.
rm -rf "$out/selftests"
make --no-print-directory -C selftests/ashmem KSRC="$ksrc" OUT="$out/selftests" >/dev/null

step "guest run"
root=$out/guest-root
rm -rf "$root"
mkdir -p "$root/lib/modules" "$root/selftests"
cp "$out/module/ashmem_linux.ko" "$root/lib/modules/"
cp -r "$out/selftests/64" "$out/selftests/32" "$root/selftests/"
cp scripts/guest/selftests-job.sh "$root/job"
guest=0
LOGDIR=$out/logs scripts/guest-run.sh "$kdir" "$root" | tee "$out/results.tap" || guest=$?

step "results"
# Per build, then the total that CI reads (the last line).
for part in "selftest: 64-bit" "selftest: 32-bit" "kunit:"; do
	printf '%s ' "$part"
	awk -v want="# $part" '/^# (selftest|kunit): / { on = index($0, want) == 1 } on' \
		"$out/results.tap" | scripts/tap-summary.sh | tail -n 1 || true
done
summary=0
scripts/tap-summary.sh <"$out/results.tap" || summary=$?
[ "$guest" = 0 ] || echo "guest run failed (status $guest): logs in $out/logs" >&2
[ "$guest" = 0 ] && [ "$summary" = 0 ]
