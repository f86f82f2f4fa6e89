#!/usr/bin/env bash
# Compile programs for the guest of a test kernel: static C programs of its
# architecture, 64-bit and (-m32) 32-bit.
#
#   guest-cc.sh KERNEL [-m32] GCC-ARGS...   compile (-m32: the 32-bit program)
#   guest-cc.sh KERNEL --run COMMAND...     run COMMAND with CC and CC32 set
#                                           (e.g. make -C selftests/ashmem)
#
# KERNEL is a SERIES value of make check. An x86-64 kernel's programs are
# built by the host's gcc (CC32: gcc -m32). An arm64 kernel's (sid-arm64,
# sid-arm64-16k, trixie-arm64...) are built by Debian's cross compilers in its
# Debian userland (harness/debian-userland.sh: aarch64-linux-gnu-gcc-N, and
# for 32-bit ARM processes, which arm64 runs through CONFIG_COMPAT,
# arm-linux-gnueabihf-gcc-N), with this tree, the kernel cache, the current
# directory and the directories the arguments name (-o FILE, VAR=/DIR)
# visible there at the same paths; the command runs in the current directory.
set -euo pipefail

usage() { echo "usage: $0 KERNEL [-m32] GCC-ARGS... | KERNEL --run COMMAND..." >&2; exit 2; }
[ $# -ge 2 ] || usage
kernel=$1
shift
here=$(dirname "$(realpath "$0")")
case "$kernel" in
*-arm64 | *-arm64-16k) ;;
*)
	if [ "$1" = --run ]; then
		shift
		CC=gcc CC32="gcc -m32" exec "$@"
	fi
	exec gcc "$@"
	;;
esac

userland=$("$here/debian-userland.sh" "$kernel")
# The kernel's gcc: the cross compilers the userland has for it.
cc=$(cd "$userland/usr/bin" && ls aarch64-linux-gnu-gcc-[0-9]* | sort -V | tail -n 1)
cc32=arm-linux-gnueabihf-gcc-${cc##*-}
[ -x "$userland/usr/bin/$cc32" ] || { echo "guest-cc: no $cc32 in $userland" >&2; exit 1; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ashmem_linux
mkdir -p "$cache/debian-kernels"
in_userland() {
	local binds=(--bind "$(realpath "$here/..")" --bind "$cache/debian-kernels" --bind "$PWD") arg path
	for arg in "$@"; do
		path=${arg#*=}
		path=${path#-I}
		case "$path" in /*) ;; *) continue ;; esac
		[ -d "$path" ] || path=$(dirname "$path")
		[ ! -d "$path" ] || binds+=(--bind "$path")
	done
	"$here/debian-chroot.sh" "${binds[@]}" "$userland" env CC="$cc" CC32="$cc32" \
		sh -c 'cd "$1" && shift && exec "$@"' sh "$PWD" "$@"
}
case "$1" in
--run)
	shift
	in_userland "$@"
	;;
-m32)
	shift
	in_userland "$cc32" "$@"
	;;
*) in_userland "$cc" "$@" ;;
esac
