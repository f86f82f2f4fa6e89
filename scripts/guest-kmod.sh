#!/usr/bin/env bash
# Put the host's kmod (modprobe, depmod, modinfo, insmod, rmmod, lsmod) and
# the shared libraries it needs into a guest root, under /sbin: the tools a
# real host uses, rather than busybox's applets (the guest job puts /sbin
# first on PATH).
set -euo pipefail

usage() { echo "usage: $0 ROOT" >&2; exit 2; }
[ $# -eq 1 ] || usage
root=$1
kmod=$(command -v kmod) || { echo "guest-kmod: kmod is not installed" >&2; exit 1; }
mkdir -p "$root/sbin" "$root/etc"
for f in "$kmod" $(ldd "$kmod" | grep -oE '/[^ ]+'); do
	mkdir -p "$root$(dirname "$f")"
	cp -L "$f" "$root$f"
done
for tool in modprobe depmod modinfo insmod rmmod lsmod; do
	ln -sf "$kmod" "$root/sbin/$tool"
done
# A user for the non-root checks.
printf 'root:x:0:0:root:/:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$root/etc/group"
