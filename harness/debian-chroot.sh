#!/usr/bin/env bash
# Run a command inside a Debian userland (a chroot made by
# harness/debian-userland.sh) with /proc, /sys, /dev and /dev/pts mounted, as
# DKMS and a kernel build there need. The mounts are made in a private mount
# namespace of this command only, so they vanish with it: none is left behind
# on the host, and deleting the userland later cannot reach the host's /dev.
#
#   --overlay DIR   leave ROOT untouched: run in an overlay of it whose
#                   changes go to DIR/upper (DIR/work is overlayfs's), so a
#                   test can install and purge packages in a shared userland;
#                   a later run with the same DIR sees them again
#   --layer DIR     (with --overlay, repeatable) a read-only layer above ROOT,
#                   e.g. an earlier overlay's DIR/upper; later ones on top
#   --bind DIR      (repeatable) the host's directory DIR, at the same path
#                   inside (e.g. this tree, for a cross compiler there)
set -euo pipefail

usage() { echo "usage: $0 [--overlay DIR [--layer DIR]...] [--bind DIR]... ROOT COMMAND [ARG...]" >&2; exit 2; }
overlay='' layers='' binds=''
while [ $# -gt 0 ]; do
	case "$1" in
	--overlay) [ $# -ge 2 ] || usage; overlay=$(realpath -m "$2"); shift 2 ;;
	--layer) [ $# -ge 2 ] || usage; layers="$(realpath "$2"):$layers"; shift 2 ;;
	--bind) [ $# -ge 2 ] || usage; binds="$binds$(realpath "$2")
"; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || usage
[ -n "$overlay" ] || [ -z "$layers" ] || usage
root=$(realpath "$1")
shift
[ -x "$root/bin/sh" ] || { echo "debian-chroot: $root is not a userland" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debian-chroot: needs root (chroot, mounts)" >&2; exit 1; }
[ -z "$overlay" ] || mkdir -p "$overlay/upper" "$overlay/work" "$overlay/merged"

exec unshare --mount --propagation private -- /bin/sh -euc '
	root=$1 overlay=$2 layers=$3 binds=$4
	shift 4
	if [ -n "$overlay" ]; then
		# index=off: an upper directory may later serve as a --layer.
		mount -t overlay overlay -o "index=off,lowerdir=$layers$root,upperdir=$overlay/upper,workdir=$overlay/work" \
			"$overlay/merged"
		root=$overlay/merged
	fi
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --rbind /dev "$root/dev"
	echo "$binds" | while read -r dir; do
		[ -n "$dir" ] || continue
		mkdir -p "$root$dir"
		mount --rbind "$dir" "$root$dir"
	done
	exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
		DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"
' debian-chroot "$root" "$overlay" "$layers" "$binds" "$@"
