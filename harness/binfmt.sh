#!/usr/bin/env bash
# Let this host run programs of another architecture (a Debian userland of
# that architecture, in a chroot) through QEMU's user-mode emulation: Debian's
# qemu-user-static, registered with the kernel's binfmt_misc with the F flag
# (the interpreter is opened now, so it works inside a chroot). Idempotent;
# needs root. Used for the native arm64 userland (DEBIAN_NATIVE=1, see
# harness/debian-userland.sh).
set -euo pipefail

usage() { echo "usage: $0 ARCH   (arm64)" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in arm64) qarch=aarch64 ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || { echo "binfmt: needs root" >&2; exit 1; }
binfmt=/proc/sys/fs/binfmt_misc
[ ! -e "$binfmt/qemu-$qarch" ] || exit 0
conf=/usr/lib/binfmt.d/qemu-$qarch.conf
if [ ! -f "$conf" ]; then
	echo "binfmt: installing qemu-user-static" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-user-static >&2
fi
[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
[ -e "$binfmt/qemu-$qarch" ] || cat "$conf" >"$binfmt/register"
echo "binfmt: $(head -n 2 "$binfmt/qemu-$qarch" | tr '\n' ' ')" >&2
