#!/usr/bin/env bash
# `make demo`: build what is missing, boot the test kernel in QEMU, load the
# module and show /dev/ashmem in use, then unpinned ashmem purged under
# memory pressure in a cgroup; it ends with scripts/ashmem-diag's tables of a
# few processes holding regions.
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0   (env: SERIES=7.2, KVM=1)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")
cd "$top"
scripts/deps.sh >&2
# shellcheck source=scripts/toolchain.sh
. scripts/toolchain.sh
kdir=$(scripts/test-kernel.sh "${SERIES:-7.2}")
out=$top/build/$(basename "$kdir")
make --no-print-directory module KDIR="$kdir" MO="$out/module" >&2
root=$out/demo-root
rm -rf "$root"
mkdir -p "$root/lib/modules" "$root/bin"
cp "$out/module/ashmem_linux.ko" "$root/lib/modules/"
for demo in ashmem_demo ashmem_purge_demo; do
	gcc -O2 -Wall -Werror -static -I selftests/ashmem -o "$root/bin/$demo" "scripts/demo/$demo.c"
done
gcc -O2 -Wall -Wextra -Werror -static -o "$root/bin/workload" selftests/diag/workload.c
scripts/guest-python.sh "$root"
cp scripts/ashmem-diag "$root/bin/"
cp scripts/guest/demo-job.sh "$root/job"
scripts/guest-run.sh "$kdir" "$root"
