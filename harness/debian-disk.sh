#!/usr/bin/env bash
# A UEFI disk image of a Debian userland, laid out as a Debian user's disk:
# GPT; an EFI system partition with Debian's signed shim as the removable
# boot path (EFI/BOOT/BOOTX64.EFI) and as EFI/debian/shimx64.efi, beside it
# MokManager (mmx64.efi), Debian's signed grub (grubx64.efi) and grub's
# first grub.cfg, which finds the root file system by UUID, as grub-install
# writes it; an ext4 root file system holding the userland, with Debian's
# kernel installed the Debian way (/boot/vmlinuz-RELEASE, the initrd
# initramfs-tools made; Debian's kernel has ext4 and virtio-blk as modules)
# and /boot/grub/grub.cfg booting it. Every EFI binary and the kernel are
# the archive's files (harness/debian-efi.sh, the kernel layer below), never
# re-signed. No loop device or mount of the image: mkfs.fat/mtools and
# mkfs.ext4 -d write the partitions into the file.
#
#   kernel SUITE [PACKAGE...]
#       print the directory of an overlay layer (harness/debian-layer.sh) of
#       SUITE's userland (harness/debian-userland.sh; DEBIAN_EXTRA there
#       adds packages to the userland itself) in which Debian installed the
#       suite's kernel (linux-image-RELEASE: the signed linux-binary,
#       linux-modules), initramfs-tools, zstd and PACKAGEs. Made once per
#       package list (about 2 minutes, 400 MB).
#   image DISK SUITE LAYER...
#       write DISK; its root file system is SUITE's userland seen through
#       the LAYERs, lowest first (the kernel layer among them; upper
#       directories of harness/debian-chroot.sh --overlay runs on top of it
#       add what a test installed). The kernel boots with "root=UUID=... ro
#       console=ttyS0,115200" and
#         APPEND="ARG..."   more arguments (e.g. init=/path, panic=-1)
#         ROOT_FREE=MiB     free space left in the root file system (default 1024)
#         JOB_ROOT=DIR      also write DIR, to boot the disk without firmware
#                           (below)
#
# The disk boots in harness/efi-guest-run.sh (OVMF with Secure Boot). With
# JOB_ROOT=DIR it also boots in harness/guest-run.sh, the disk's kernel
# started directly: GUEST_DISK=DISK harness/guest-run.sh DIR/kernel DIR.
# DIR/kernel holds the disk's /boot/vmlinuz-RELEASE (as
# arch/x86/boot/bzImage); DIR, the initramfs, has the disk's virtio_blk and
# ext4 modules and a job (harness/guest/disk-job.sh) that mounts the root
# file system, mounts /proc, /sys, cgroup2, /dev, /dev/pts, /dev/shm, /run
# and /tmp in it, points the kernel's module loader at the disk's modprobe,
# moves it onto / (as switch_root does) and runs the disk's /job with bash
# as root, with the words of DIR/disk/args as arguments; /job's exit status
# is the guest job's. The disk keeps what the guest wrote: booting it again
# is a reboot.
set -euo pipefail

usage() {
	echo "usage: $0 kernel SUITE [PACKAGE...] | image DISK SUITE LAYER...   (SUITE: sid or trixie, amd64; env APPEND, ROOT_FREE, JOB_ROOT, DEBIAN_EXTRA)" >&2
	exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
shift
here=$(dirname "$(realpath "$0")")

case "$cmd" in
kernel)
	suite=$1
	shift
	case "$suite" in sid | trixie) ;; *) usage ;; esac
	userland=$("$here/debian-userland.sh" "$suite")
	read -r release _ <<<"$("$here/debian-kernel.sh" release "$suite")"
	# DKMS's kernel hook is off while the kernel is installed: a module that
	# another test registered in the shared userland at this moment must not
	# be built into the cached layer (DKMS modules are the caller's, in its
	# own overlay).
	exec "$here/debian-layer.sh" "$userland" "kernel-$release" sh -c '
		hook=/etc/kernel/postinst.d/dkms
		[ ! -x $hook ] || chmod -x $hook
		rc=0
		apt-get -q install -y --no-install-recommends "$@" || rc=$?
		[ ! -f $hook ] || chmod +x $hook
		apt-get clean
		exit $rc' sh "linux-image-$release" initramfs-tools zstd "$@"
	;;
image) [ $# -ge 3 ] || usage ;;
*) usage ;;
esac

disk=$(realpath -m "$1") suite=$2
shift 2
case "$suite" in sid | trixie) ;; *) usage ;; esac
command -v sgdisk >/dev/null && command -v mkfs.fat >/dev/null && command -v mcopy >/dev/null ||
	{ echo "debian-disk: needs gdisk, dosfstools and mtools (harness/deps.sh installs them)" >&2; exit 1; }
userland=$("$here/debian-userland.sh" "$suite")
read -r release _ <<<"$("$here/debian-kernel.sh" release "$suite")"
efi=$("$here/debian-efi.sh" "$suite")
lower=$userland
for layer in "$@"; do
	[ -d "$layer" ] || { echo "debian-disk: no layer $layer" >&2; exit 1; }
	lower=$(realpath "$layer"):$lower
done

job_root=
if [ -n "${JOB_ROOT:-}" ]; then
	job_root=$(realpath -m "$JOB_ROOT")
	rm -rf "$job_root/kernel" "$job_root/disk/modules"
	mkdir -p "$job_root/kernel/arch/x86/boot" "$job_root/disk/modules"
	echo "$release" >"$job_root/kernel/kernel.release"
fi
work=$disk.d
rm -rf "$work" "$disk"
mkdir -p "$work/top/boot/grub" "$work/esp/EFI/BOOT" "$work/esp/EFI/debian" "$work/root"
trap 'rm -rf "$work"' EXIT
uuid=$(cat /proc/sys/kernel/random/uuid)

# grub's first grub.cfg, on the ESP, as grub-install writes it for the
# signed grub (whose prefix is the ESP's EFI/debian; shim started from
# EFI/BOOT loads grubx64.efi from there and grub reads EFI/BOOT's copy).
printf 'search.fs_uuid %s root\nset prefix=($root)'\''/boot/grub'\''\nconfigfile $prefix/grub.cfg\n' \
	"$uuid" >"$work/esp/EFI/debian/grub.cfg"
for d in BOOT debian; do
	cp "$efi/grubx64.efi" "$efi/mmx64.efi" "$work/esp/EFI/$d/"
	[ $d = BOOT ] || cp "$efi/shimx64.efi" "$work/esp/EFI/$d/shimx64.efi"
	[ $d = debian ] || cp "$efi/shimx64.efi" "$work/esp/EFI/$d/BOOTX64.EFI"
done
cp "$work/esp/EFI/debian/grub.cfg" "$work/esp/EFI/BOOT/grub.cfg"
cat >"$work/top/boot/grub/grub.cfg" <<GRUB
set timeout=0
menuentry 'Debian GNU/Linux, with Linux $release' {
	search --no-floppy --fs-uuid --set=root $uuid
	linux /boot/vmlinuz-$release root=UUID=$uuid ro console=ttyS0,115200${APPEND:+ $APPEND}
	initrd /boot/initrd.img-$release
}
GRUB
lower=$work/top:$lower

# The partitions: the ESP at 1 MiB, then the root file system.
esp_mib=64
unshare --mount --propagation private -- /bin/sh -euc '
	lower=$1 root=$2 disk=$3 esp_mib=$4 free_mib=$5 uuid=$6 esp=$7 release=$8 job_root=$9
	# A read-only overlay (no upper directory): the layers merged.
	mount -t overlay overlay -o "ro,index=off,lowerdir=$lower" "$root"
	for f in "boot/vmlinuz-$release" "boot/initrd.img-$release"; do
		[ -f "$root/$f" ] || { echo "debian-disk: no /$f in the root: is the kernel layer among the layers?" >&2; exit 1; }
	done
	if [ -n "$job_root" ]; then
		# The kernel, and the modules that mount the root, decompressed
		# (busybox insmod takes plain .ko), in the order they load.
		cp "$root/boot/vmlinuz-$release" "$job_root/kernel/arch/x86/boot/bzImage"
		mods=$job_root/disk/modules n=0
		for ko in $(chroot "$root" modprobe -a -S "$release" --show-depends virtio_blk ext4 | awk "\$1 == \"insmod\" { print \$2 }"); do
			n=$((n + 1))
			name=$(printf "%02d-%s" "$n" "$(basename "$ko" | sed -E "s/\.(xz|zst)$//")")
			case "$ko" in
			*.xz) xz -dc "$root$ko" >"$mods/$name" ;;
			*.zst) zstd -qdc "$root$ko" >"$mods/$name" ;;
			*) cp "$root$ko" "$mods/$name" ;;
			esac
			echo "$name" >>"$mods/order"
		done
		[ -s "$mods/order" ] || { echo "debian-disk: no virtio_blk and ext4 modules in the root" >&2; exit 1; }
	fi
	used_mib=$(($(du -sx --block-size=1M "$root" | cut -f1) * 11 / 10))
	root_mib=$((used_mib + free_mib))
	truncate -s $(((1 + esp_mib + root_mib + 1) * 1048576)) "$disk"
	sgdisk -o -n "1:2048:+${esp_mib}M" -t 1:ef00 -c "1:EFI system partition" \
		-n 2:0:0 -t 2:8304 -c 2:root "$disk" >/dev/null
	# 512-byte clusters: FAT32 needs at least 65525 of them (fewer make it
	# FAT16 by the specification, and mtools refuses it).
	mkfs.fat -F 32 -s 1 -n ESP --offset 2048 "$disk" $((esp_mib * 1024)) 2>&1 >/dev/null |
		grep -v "^Warning: block count mismatch" >&2 || true
	mcopy -s -i "$disk@@1M" "$esp/EFI" ::/
	mkfs.ext4 -q -F -L root -U "$uuid" -E offset=$(((1 + esp_mib) * 1048576)) -d "$root" "$disk" "${root_mib}M"
	echo "debian-disk: $disk: ESP ${esp_mib} MiB, root ${root_mib} MiB (${used_mib} used)" >&2
' debian-disk "$lower" "$work/root" "$disk" "$esp_mib" "${ROOT_FREE:-1024}" "$uuid" "$work/esp" "$release" "$job_root"
# The table holds both partitions and checks out.
[ "$(sgdisk -p "$disk" | grep -cE '^ +[12] ')" = 2 ] && sgdisk -v "$disk" | grep -q 'No problems found' ||
	{ sgdisk -p "$disk" >&2; sgdisk -v "$disk" >&2; exit 1; }
if [ -n "$job_root" ]; then
	install -m 0755 "$here/guest/disk-job.sh" "$job_root/job"
	[ -f "$job_root/disk/args" ] || : >"$job_root/disk/args"
	echo "debian-disk: $job_root: a root for harness/guest-run.sh; modules: $(tr '\n' ' ' <"$job_root/disk/modules/order")" >&2
fi
