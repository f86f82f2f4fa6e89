#!/usr/bin/env bash
# Put kmod (modprobe, depmod, modinfo, insmod, rmmod, lsmod) and the shared
# libraries it needs into a guest root, under /sbin: the tools a real host
# uses, rather than busybox's applets (the guest job puts /sbin first on
# PATH). They come from the host, or from USERLAND (a Debian userland of
# harness/debian-userland.sh), whose kmod then runs in the guest as it would
# on that Debian host, or for a guest of another architecture from Debian's
# packages of it (USERLAND: the root harness/guest-tools.sh ARCH prints).
set -euo pipefail

usage() { echo "usage: $0 ROOT [USERLAND]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
root=$1 userland=${2:-}
mkdir -p "$root/sbin" "$root/etc"
machine() { readelf -h "$1" | sed -n 's/^ *Machine: *//p'; }
if [ -n "$userland" ]; then
	kmod=/usr/bin/kmod
	[ -x "$userland$kmod" ] || { echo "guest-kmod: no $kmod in $userland" >&2; exit 1; }
	if [ "$(machine "$userland$kmod")" = "$(machine /bin/sh)" ]; then
		libs=$(chroot "$userland" ldd "$kmod" | grep -oE '/[^ ]+' | sed 's/.*/& &/')
	else
		libs=$("$(dirname "$0")/guest-tools.sh" libs "$userland" "$kmod")
	fi
else
	kmod=$(command -v kmod) || { echo "guest-kmod: kmod is not installed" >&2; exit 1; }
	libs=$(ldd "$kmod" | grep -oE '/[^ ]+' | sed 's/.*/& &/')
fi
# "PATH DEST": the file in the userland (or host), and its path in the guest.
while read -r f dest; do
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$userland$f" "$root$dest"
done <<<"$kmod $kmod
$libs"
for tool in modprobe depmod modinfo insmod rmmod lsmod; do
	ln -sf "$kmod" "$root/sbin/$tool"
done
# A user for the non-root checks.
printf 'root:x:0:0:root:/:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$root/etc/group"
