#!/usr/bin/env bash
# Print the prepared test kernel tree (bzImage, Module.symvers, Rust metadata)
# for a Linux series, building it into the cache the first time.
set -euo pipefail

usage() { echo "usage: $0 [SERIES]   (default 7.2; KERNEL_SRC=DIR uses your tree)" >&2; exit 2; }
[ $# -le 1 ] || usage
series=${1:-7.2}
here=$(dirname "$(realpath "$0")")
src=$("$here/kernel-source.sh" "$series")
exec "$here/kernel-build.sh" "$src" "$here/../selftests/ashmem/config"
