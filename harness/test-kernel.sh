#!/usr/bin/env bash
# Print the prepared test kernel tree (bzImage, Module.symvers, Rust metadata)
# for a Linux series, building it into the cache the first time.
#
# The fragment is selftests/ashmem/config, then selftests/ashmem/config.X.Y
# for the source's own series when that file exists: the options whose name
# differs between kernel versions (see docs/kernels.md). The
# debug flavour adds selftests/ashmem/config.debug (KASAN, lockdep, kmemleak,
# ...) and is built with clang (LLVM=1), which KASAN with Rust requires. The
# sig flavour adds selftests/ashmem/config.sig: module signatures enforced,
# the kernel's own build-time key trusted (harness/sign-test.sh).
set -euo pipefail

usage() { echo "usage: $0 [SERIES [debug|sig]]   (default 7.2; SERIES-debug = SERIES debug; KERNEL_SRC=DIR uses your tree)" >&2; exit 2; }
[ $# -le 2 ] || usage
series=${1:-7.2}
flavour=${2:-plain}
case "$series" in *-debug) series=${series%-debug} flavour=debug ;; esac
case "$flavour" in plain | debug | sig) ;; *) usage ;; esac
here=$(dirname "$(realpath "$0")")
src=$("$here/kernel-source.sh" "$series")
frags=("$here/../selftests/ashmem/config")
version=$(make -s -C "$src" kernelversion)
xy=$(echo "$version" | cut -d. -f1,2)
[ ! -f "$here/../selftests/ashmem/config.$xy" ] || frags+=("$here/../selftests/ashmem/config.$xy")
if [ "$flavour" = debug ]; then
	frags+=("$here/../selftests/ashmem/config.debug")
	# kernel-build.sh's make calls read LLVM from the environment; the
	# fragment in the cache key keeps this tree apart from the plain one.
	export LLVM=1
fi
[ "$flavour" != sig ] || frags+=("$here/../selftests/ashmem/config.sig")
exec "$here/kernel-build.sh" "$src" "${frags[@]}"
