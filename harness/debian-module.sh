#!/usr/bin/env bash
# Build ashmem_linux.ko from this tree for a Debian kernel, inside that
# kernel's Debian userland (harness/debian-userland.sh), with Debian's rustc
# and the build tree scripts/rust-meta.sh makes from Debian's headers. Copies
# the module to OUT and prints its path. Warnings are errors (WERROR=0 to
# relax), as for `make module`.
set -euo pipefail

usage() { echo "usage: $0 SUITE OUT   (SUITE: sid or trixie, or either with -arm64 or -arm64-16k; env WERROR=0)" >&2; exit 2; }
[ $# -eq 2 ] || usage
suite=$1 out=$2
here=$(dirname "$(realpath "$0")")
userland=$("$here/debian-userland.sh" "$suite")
read -r release _ <<<"$("$here/debian-kernel.sh" release "$suite")"

# The DKMS source set (what a user's /usr/src copy holds), built in a /tmp
# directory of its own there: parts running side by side share the userland.
mkdir -p "$userland/tmp"
build=$(mktemp -d "$userland/tmp/ashmem-build.XXXXXX")
trap 'rm -rf "$build"' EXIT
src=$("$here/../scripts/dkms.sh" source "$build")
"$here/debian-chroot.sh" "$userland" make -C "${src#"$userland"}" module \
	KDIR="/lib/modules/$release/build" WERROR="${WERROR:-1}" >&2
mkdir -p "$out"
cp "$src/build/$release/module/ashmem_linux.ko" "$out/"
realpath "$out/ashmem_linux.ko"
