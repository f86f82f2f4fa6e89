#!/usr/bin/env bash
# A guest that boots Debian's kernel binary of SUITE (harness/debian-kernel.sh
# boot) with a whole Debian userland as its root file system, on a disk:
#
# - IMAGE: an ext4 disk image (raw, sparse) of SUITE's userland
#   (harness/debian-userland.sh) with PACKAGEs installed in a layer
#   (harness/debian-layer.sh), and on top of that each --layer DIR, later
#   ones on top: the kernel's modules the guest needs (harness/debian-kernel.sh
#   modules SUITE virtio_blk ext4 ...: at least those two, which mount the
#   disk), and a test's own changes (an upper directory of
#   harness/debian-chroot.sh --overlay). The image has --free MiB free
#   (default 2048) for what the guest writes.
# - ROOT: a root for harness/guest-run.sh (the initramfs) whose job loads the
#   disk's virtio_blk and ext4 modules (their files copied from the layers),
#   mounts the disk, mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp
#   and cgroup2 in it, points the kernel's module loader at the disk's
#   modprobe, moves the disk onto / in a mount namespace of its own (as
#   switch_root does) and runs the disk's /job with bash as root with the
#   words of ROOT/disk/args as arguments, then stops what the job left
#   running and unmounts. /job's exit status is the guest job's.
#
# Boot it with: GUEST_DISK=IMAGE GUEST_MEM=4G harness/guest-run.sh KDIR ROOT
# (the disk keeps what the guest wrote: boot it again for a second boot).
set -euo pipefail

usage() {
	echo "usage: $0 SUITE IMAGE ROOT [--free MIB] [--layer DIR]... [PACKAGE...]   (SUITE: sid or trixie)" >&2
	exit 2
}
[ $# -ge 3 ] || usage
suite=$1 image=$(realpath -m "$2") root=$(realpath -m "$3")
shift 3
free=2048 layers=() packages=()
while [ $# -gt 0 ]; do
	case "$1" in
	--free) [ $# -ge 2 ] || usage; free=$2; shift 2 ;;
	--layer) [ $# -ge 2 ] || usage; layers+=("$(realpath "$2")"); shift 2 ;;
	-*) usage ;;
	*) packages+=("$1"); shift ;;
	esac
done
case "$suite" in sid | trixie) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || { echo "debian-disk: needs root (mounts, chroot)" >&2; exit 1; }
here=$(dirname "$(realpath "$0")")
read -r release _ <<<"$("$here/debian-kernel.sh" release "$suite")"
userland=$("$here/debian-userland.sh" "$suite")
# overlayfs lists lower directories top first.
lower=$userland
[ ${#packages[@]} = 0 ] || lower=$("$here/debian-layer.sh" "$suite" "${packages[@]}"):$lower
for l in "${layers[@]}"; do lower=$l:$lower; done

mkdir -p "$(dirname "$image")" "$root/disk/modules"
rm -f "$image" "$root"/disk/modules/*
# In a private mount namespace (the overlay vanishes with it): the image, and
# the modules that mount it, decompressed (busybox's insmod takes plain .ko).
start=$SECONDS
unshare --mount --propagation private -- bash -euo pipefail -c '
	lower=$1 image=$2 free=$3 release=$4 mods=$5
	merged=$(mktemp -d)
	mount -t overlay overlay -o "ro,index=off,lowerdir=$lower" "$merged"
	used=$(du -sx -B1M "$merged" | cut -f1)
	truncate -s "$((used * 115 / 100 + free))M" "$image"
	mkfs.ext4 -q -F -m 0 -i 8192 -L debian-root -d "$merged" "$image"
	n=0
	for ko in $(chroot "$merged" modprobe -a -S "$release" --show-depends virtio_blk ext4 | awk "\$1 == \"insmod\" { print \$2 }"); do
		n=$((n + 1))
		name=$(printf "%02d-%s" "$n" "$(basename "${ko%.xz}")")
		case "$ko" in *.xz) xz -dc "$merged$ko" >"$mods/$name" ;; *) cp "$merged$ko" "$mods/$name" ;; esac
		echo "$name" >>"$mods/order"
	done
	umount "$merged"
	rmdir "$merged"
' debian-disk "$lower" "$image" "$free" "$release" "$root/disk/modules"
[ -s "$root/disk/modules/order" ] ||
	{ echo "debian-disk: no virtio_blk and ext4 modules in the layers (harness/debian-kernel.sh modules)" >&2; exit 1; }
install -m 0755 "$here/guest/disk-job.sh" "$root/job"
[ -f "$root/disk/args" ] || : >"$root/disk/args"
echo "debian-disk: $image ($(du -h --apparent-size "$image" | cut -f1), $(du -h "$image" | cut -f1) written) in $((SECONDS - start)) s; modules: $(tr '\n' ' ' <"$root/disk/modules/order")" >&2
