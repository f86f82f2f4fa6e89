#!/usr/bin/env bash
# Assemble the guest root of the ashmem-diag guest runs (scripts/
# diag-guest-test.sh, harness/diag-chart.sh): the module, Debian's python3
# (harness/guest-python.sh), the tool, the checker and selftests/diag/workload
# (built static here) under /diag, and JOB as /job.
#
#   GUEST_KERNEL=SERIES   the guest's test kernel, when it is not an x86-64
#                         one (sid-arm64-16k...): workload is cross-built
#                         (harness/guest-cc.sh) and python3 is Debian's arm64
#                         one (harness/guest-tools.sh)
set -euo pipefail

usage() { echo "usage: $0 KO JOB ROOT   (ROOT is made anew)" >&2; exit 2; }
[ $# -eq 3 ] || usage
ko=$1 job=$2 root=$3
top=$(realpath "$(dirname "$0")/..")
[ -f "$ko" ] || { echo "diag-guest-root: no module $ko" >&2; exit 1; }
[ -f "$job" ] || { echo "diag-guest-root: no job $job" >&2; exit 1; }

rm -rf "$root"
mkdir -p "$root/lib/modules" "$root/diag"
kernel=${GUEST_KERNEL:-}
tools=
case "$kernel" in *-arm64 | *-arm64-16k) tools=$("$top/harness/guest-tools.sh" arm64) ;; esac
"$top/harness/guest-cc.sh" "$kernel" -O2 -Wall -Wextra -Werror -static -pthread -o "$root/diag/workload" \
	"$top/selftests/diag/workload.c"
cp "$ko" "$root/lib/modules/ashmem_linux.ko"
"$top/harness/guest-python.sh" "$root" $tools
cp "$top/scripts/ashmem-diag" "$top/selftests/diag/check_diag.py" "$root/diag/"
cp "$job" "$root/job"
