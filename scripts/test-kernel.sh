#!/usr/bin/env bash
# Print the prepared test kernel tree (bzImage, Module.symvers, Rust metadata)
# for a Linux series, building it into the cache the first time.
#
# The fragment is selftests/ashmem/config, then selftests/ashmem/config.X.Y
# for the source's own series when that file exists: the options whose name
# differs between kernel versions (see "Kernel versions" in README.md).
set -euo pipefail

usage() { echo "usage: $0 [SERIES]   (default 7.2; KERNEL_SRC=DIR uses your tree)" >&2; exit 2; }
[ $# -le 1 ] || usage
series=${1:-7.2}
here=$(dirname "$(realpath "$0")")
src=$("$here/kernel-source.sh" "$series")
frags=("$here/../selftests/ashmem/config")
version=$(make -s -C "$src" kernelversion)
xy=$(echo "$version" | cut -d. -f1,2)
[ ! -f "$here/../selftests/ashmem/config.$xy" ] || frags+=("$here/../selftests/ashmem/config.$xy")
exec "$here/kernel-build.sh" "$src" "${frags[@]}"
