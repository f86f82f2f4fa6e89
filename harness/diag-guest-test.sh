#!/usr/bin/env bash
# Run the real scripts/ashmem-diag against the real driver in the QEMU test
# guest: a guest root with the module, Debian's python3, the tool, the checker
# and selftests/diag/workload (harness/diag-guest-root.sh), booted; prints the
# checker's TAP, headed "# diag: ashmem-diag in the guest". Exits non-zero
# when a check fails, the guest fails, or its kernel log shows a splat.
#
#   KDIR  the test kernel tree (harness/test-kernel.sh prints it)
#   KO    the module built against it (ashmem_linux.ko)
#   OUT   output directory: guest root, results.tap, logs/
#   GUEST_KERNEL=SERIES  an arm64 kernel's (harness/diag-guest-root.sh)
set -euo pipefail

usage() { echo "usage: $0 KDIR KO OUT   (env: KVM=1, TIMEOUT=S as for harness/guest-run.sh)" >&2; exit 2; }
[ $# -eq 3 ] || usage
kdir=$1 ko=$2 out=$3
top=$(realpath "$(dirname "$0")/..")
[ -f "$kdir/arch/x86/boot/bzImage" ] || [ -n "${GUEST_KERNEL:-}" ] ||
	{ echo "diag-guest-test: no bzImage in $kdir (for an arm64 kernel set GUEST_KERNEL, harness/diag-guest-root.sh)" >&2; exit 1; }
[ -f "$ko" ] || { echo "diag-guest-test: no module $ko" >&2; exit 1; }
mkdir -p "$out"
out=$(realpath "$out")

root=$out/diag-root
"$top/harness/diag-guest-root.sh" "$ko" "$top/harness/guest/diag-job.sh" "$root"

guest=0
LOGDIR=$out/logs "$top/harness/guest-run.sh" "$kdir" "$root" | tee "$out/results.tap" || guest=$?
summary=0
"$top/harness/tap-summary.sh" <"$out/results.tap" >&2 || summary=$?
[ "$guest" = 0 ] || echo "diag-guest-test: guest run failed (status $guest): logs in $out/logs" >&2
[ "$guest" = 0 ] && [ "$summary" = 0 ]
