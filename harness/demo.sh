#!/usr/bin/env bash
# `make demo`: build what is missing, boot the test kernel in QEMU, load the
# module and show /dev/ashmem in use, then unpinned ashmem purged under
# memory pressure in a cgroup; it ends with scripts/ashmem-diag's tables of a
# few processes holding regions.
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0   (env: SERIES=sid|trixie|sid-arm64-16k|...|7.2|7.3|7.2-debug, KVM=1)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")
cd "$top"
# shellcheck source=harness/guest-root.sh
. harness/guest-root.sh
guest_root demo
for demo in ashmem_demo ashmem_purge_demo; do
	harness/guest-cc.sh "${SERIES:-sid}" -O2 -Wall -Werror -static -I selftests/ashmem -o "$root/bin/$demo" "harness/demo/$demo.c"
done
harness/guest-cc.sh "${SERIES:-sid}" -O2 -Wall -Wextra -Werror -static -o "$root/bin/workload" selftests/diag/workload.c
harness/guest-python.sh "$root" $guest_tools
cp scripts/ashmem-diag "$root/bin/"
cp harness/guest/demo-job.sh "$root/job"
harness/guest-run.sh "$kdir" "$root"
