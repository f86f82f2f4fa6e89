#!/usr/bin/env bash
# Run a command inside a Debian userland (a chroot made by
# scripts/debian-userland.sh) with /proc, /sys, /dev and /dev/pts mounted, as
# DKMS and a kernel build there need. The mounts are made in a private mount
# namespace of this command only, so they vanish with it: none is left behind
# on the host, and deleting the userland later cannot reach the host's /dev.
set -euo pipefail

usage() { echo "usage: $0 ROOT COMMAND [ARG...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
root=$(realpath "$1")
shift
[ -x "$root/bin/sh" ] || { echo "debian-chroot: $root is not a userland" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debian-chroot: needs root (chroot, mounts)" >&2; exit 1; }

exec unshare --mount --propagation private -- /bin/sh -euc '
	root=$1
	shift
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --rbind /dev "$root/dev"
	exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
		DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"
' debian-chroot "$root" "$@"
