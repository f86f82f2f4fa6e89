#!/usr/bin/env bash
# Build a test kernel from SRC and config fragments into the cache, and print
# the build tree (bzImage, Module.symvers, Rust metadata). The tree is keyed by
# the kernel version, the fragments' contents and the compilers, so it is
# rebuilt only when one of them changes.
set -euo pipefail

usage() { echo "usage: $0 SRC FRAGMENT [FRAGMENT...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
src=$(realpath "$1"); shift

here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/toolchain.sh
. "$here/toolchain.sh"

version=$(make -s -C "$src" kernelversion)
key=$( { echo "$version"; cat "$@"; rustc --version; bindgen --version; gcc --version | head -n 1
	sha256sum "$0" | cut -d' ' -f1; } | sha256sum | cut -c1-12)
out=${XDG_CACHE_HOME:-$HOME/.cache}/ashmem_linux/kernels/$version-$key

# One build of a tree at a time (parallel runs wait for it, then reuse it).
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
if [ -f "$out/.built" ]; then
	echo "$out"
	exit 0
fi

echo "kernel-build: building Linux $version into $out (several minutes)" >&2
rm -rf "$out"
mkdir -p "$out"
log=$out/build.log
jobs=$(($(nproc) + 1))
{
	make -C "$src" O="$out" tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$@"
	make -C "$src" O="$out" olddefconfig
} >"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }

# merge_config.sh only warns when a requested option did not survive; refuse.
missing=0
for frag in "$@"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qxF "$line" "$out/.config" || { echo "kernel-build: $line did not apply" >&2; missing=1; } ;;
		"# CONFIG_"*" is not set") grep -qxF "$line" "$out/.config" || { echo "kernel-build: '$line' did not apply" >&2; missing=1; } ;;
		esac
	done <"$frag"
done
[ "$missing" -eq 0 ] || { echo "kernel-build: config fragment not satisfied (see $out/.config)" >&2; exit 1; }

# `modules` produces Module.symvers; without it modpost misses every symbol.
make -C "$src" O="$out" -j"$jobs" bzImage modules_prepare >>"$log" 2>&1 &&
	make -C "$src" O="$out" -j"$jobs" modules >>"$log" 2>&1 ||
	{ tail -n 40 "$log" >&2; echo "kernel-build: failed, full log in $log" >&2; exit 1; }
touch "$out/.built"
echo "$out"
