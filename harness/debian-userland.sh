#!/usr/bin/env bash
# Print the path of a Debian userland (a chroot) for SUITE's test kernel,
# making it the first time: debootstrap (minbase), then only Debian packages,
# what a Debian user installs to build this module with DKMS: dkms, the
# kernel's headers, the matching linux-source, the suite's rustc, rust-src,
# bindgen and libclang, and the tools a kernel's `make prepare` runs.
#
# sid's kernel comes from sid; "trixie" is trixie with trixie-backports added,
# whose kernels are Rust-enabled (trixie's own 6.12 is not), built with
# trixie's rustc. A few packages more serve the tests (below).
#
# For an arm64 kernel (KERNEL sid-arm64, sid-arm64-16k, trixie-arm64...) the
# userland is the host's architecture with arm64 added (dpkg
# --add-architecture), the one SUITE-arm64 userland for both flavours: the
# headers of both arm64 kernels of the suite (linux-headers-RELEASE:arm64,
# whose .kernelvariables names Debian's cross compilers) and those compilers,
# gcc-N-aarch64-linux-gnu and, for the 32-bit vDSO and the armhf selftests,
# gcc-N-arm-linux-gnueabihf, with their libc for static programs (N: the
# kernel's gcc). rustc, bindgen and the kernel's host tools (linux-kbuild)
# are the host architecture's: rustc cross-compiles for the kernel's target.
#
# DEBIAN_NATIVE=1 makes an arm64 kernel's userland an arm64 Debian instead,
# SUITE-arm64-native, as an arm64 host has it: debootstrap --arch arm64, run
# here through QEMU's user-mode emulation (harness/binfmt.sh), the native
# headers, compilers and rustc, and gcc-N-arm-linux-gnueabihf, which
# scripts/rust-meta.sh asks an arm64 host for (the kernel's 32-bit vDSO).
# Slow: every program in it is emulated. The userland is cached, keyed by the suite, the kernel and
# the versions of the packages named here; a change of any makes a new one.
#
#   DEBIAN_EXTRA="pkg[=version] ..."   more packages (the key includes them)
set -euo pipefail

usage() { echo "usage: $0 KERNEL   (sid or trixie, or either with -arm64 or -arm64-16k; env DEBIAN_EXTRA, DEBIAN_NATIVE=1)" >&2; exit 2; }
[ $# -eq 1 ] || usage
kernel=$1 suite=${1%%-*}
case "$kernel" in sid | trixie | sid-arm64 | sid-arm64-16k | trixie-arm64 | trixie-arm64-16k) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || { echo "debian-userland: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debian-userland: no debootstrap (harness/deps.sh installs it)" >&2; exit 1; }
here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/debian-apt.sh
. "$here/debian-apt.sh"
debian_apt_init

arch=$("$here/debian-kernel.sh" arch "$kernel")
read -r release meta archive < <("$here/debian-kernel.sh" release "$kernel")
series=$(echo "$release" | cut -d. -f1,2)
# (The order is part of the userland's key: amd64's is the one it always was.)
headers=("linux-headers-$release")
[ "$arch" = amd64 ] || headers=()
packages=(dkms "${headers[@]}" "linux-source-$series" rustc rust-src bindgen libclang-dev
	make bc flex bison libelf-dev libssl-dev openssl dwarves xz-utils kmod python3 cpio)
if [ "$arch" = amd64 ]; then
	name=$suite
	# For the tests: what a Waydroid user's host has too (sid), and a second
	# kernel's headers with another version of its linux-source, for
	# harness/rust-meta-test.sh (where the suite has a second kernel).
	[ "$suite" != sid ] || packages+=(waydroid udev)
	read -r second_release _ second_source second_version <<<"$("$here/debian-kernel.sh" second "$suite")"
	[ -z "$second_release" ] || packages+=("linux-headers-$second_release" "$second_source=$second_version")
else
	native=${DEBIAN_NATIVE:-0}
	qualifier=:$arch name=$suite-$arch
	[ "$native" != 1 ] || qualifier='' name=$suite-$arch-native
	for f in "$arch" "$arch-16k"; do
		read -r r m _ < <("$here/debian-kernel.sh" release "$suite-$f")
		[ "$(echo "$r" | cut -d. -f1,2)" = "$series" ] || { echo "debian-userland: $r is not of $series" >&2; exit 1; }
		packages+=("linux-headers-$r$qualifier=$m")
	done
	# The kernel's gcc (its headers depend on gcc-N-for-host), as cross compilers.
	debian_apt_init "$arch"
	gcc=$(apt-cache "${apt_opts[@]}" show "linux-headers-$release=$meta" | sed -n 's/^Depends:.*\b\(gcc-[0-9]*\)-for-host.*/\1/p' | head -n 1)
	[ -n "$gcc" ] || { echo "debian-userland: linux-headers-$release names no gcc-N-for-host" >&2; exit 1; }
	if [ "$native" = 1 ]; then
		# Versions as the arm64 archive has them.
		packages+=("$gcc-arm-linux-gnueabihf")
		"$here/binfmt.sh" "$arch"
	else
		debian_apt_init
		packages+=("$gcc-aarch64-linux-gnu" binutils-aarch64-linux-gnu libc6-dev-arm64-cross
			"$gcc-arm-linux-gnueabihf" binutils-arm-linux-gnueabihf libc6-dev-armhf-cross)
	fi
fi
read -r -a extra <<<"${DEBIAN_EXTRA:-}"
packages+=("${extra[@]}")

# The version apt in the userland will pick: the suite's own, else the
# newest backports one (backports has a lower priority than trixie itself).
# One apt-cache call for all the packages: each call reads the lists anew.
names=()
for p in "${packages[@]}"; do
	case "$p" in *=*) ;; *) names+=("$p") ;; esac
done
madison=$(apt-cache "${apt_opts[@]}" madison "${names[@]}" | tr -d ' ')
versions_in() { # PACKAGE SUITE
	awk -F'|' -v p="$1" -v s="$2/main" '$1 == p && index($3, s) { print $2 }' <<<"$madison"
}
version_of() { # PACKAGE or PACKAGE=VERSION
	local v
	case "$1" in *=*) echo "$1"; return ;; esac
	v=$(versions_in "$1" "$suite" | head -n 1)
	[ -n "$v" ] || v=$(versions_in "$1" "$archive" | sort -V | tail -n 1)
	[ -n "$v" ] || { echo "debian-userland: no package $1 in $suite" >&2; return 1; }
	echo "$1=$v"
}
pins=$(for p in "${packages[@]}"; do version_of "$p"; done)
# The key: the suite, its kernel, the packages' versions, and the version of
# how the userland is made (bump it when this script makes a different one).
format=1
key=$( { echo "$name $release $meta format $format"; echo "$pins"; } | sha256sum | cut -c1-12)
dest=$debian_cache/debian/$name-$key
# One run makes a userland at a time; a parallel one waits, then reuses it.
mkdir -p "$debian_cache/debian"
exec 9>"$dest.lock"
flock 9

if [ -f "$dest/.ready" ]; then
	echo "$dest/root"
	exit 0
fi

echo "debian-userland: making a $name userland for $release in $dest (several minutes)" >&2
# Never rm -rf a tree that may hold mounts (harness/debian-chroot.sh makes
# none outside its own namespace, but an older run might have).
if [ -d "$dest" ] && findmnt -rn -o TARGET | grep -q "^$dest/"; then
	echo "debian-userland: something is mounted under $dest; unmount it first" >&2
	exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
log=$dest/make.log
mirror=$(debian_mirror)
debootstrap_arch=()
[ "$name" = "$suite-$arch-native" ] && debootstrap_arch=(--arch "$arch")
debootstrap --variant=minbase "${debootstrap_arch[@]}" "$suite" "$dest/root" "$mirror" >"$log" 2>&1 ||
	{ tail -n 20 "$log" >&2; echo "debian-userland: debootstrap failed, log in $log" >&2; exit 1; }
{
	echo "deb $mirror $suite main"
	[ "$archive" = "$suite" ] || echo "deb $mirror $archive main"
} >"$dest/root/etc/apt/sources.list"
# sid's Release file may be past its Valid-Until date on a snapshot mirror.
echo 'Acquire::Check-Valid-Until "false";' >"$dest/root/etc/apt/apt.conf.d/99ashmem-test"
# No service starts in a chroot (Debian's policy-rc.d convention).
printf '#!/bin/sh\nexit 101\n' >"$dest/root/usr/sbin/policy-rc.d"
chmod 0755 "$dest/root/usr/sbin/policy-rc.d"
# Name the exact versions: the key above promised them.
read -r -a want <<<"$(echo "$pins" | tr '\n' ' ')"
[ "$arch" = amd64 ] || [ "$name" = "$suite-$arch-native" ] || "$here/debian-chroot.sh" "$dest/root" dpkg --add-architecture "$arch"
"$here/debian-chroot.sh" "$dest/root" sh -c 'apt-get -q update && apt-get -q install -y --no-install-recommends "$@"' \
	sh "${want[@]}" >>"$log" 2>&1 ||
	{ tail -n 30 "$log" >&2; echo "debian-userland: package install failed, log in $log" >&2; exit 1; }
"$here/debian-chroot.sh" "$dest/root" apt-get clean
echo "$pins" >"$dest/packages"
echo "${DEBIAN_EXTRA:-}" >"$dest/extra"
touch "$dest/.ready"
# Userlands of this name with the same extra packages but other versions are
# out of date (one with other extras serves another test: it stays).
for old in "$debian_cache/debian/$name"-*/; do
	old=${old%/}
	[ "$old" != "$dest" ] || continue
	[[ ${old##*/} =~ ^$name-[0-9a-f]{12}$ ]] || continue
	[ "$(cat "$old/extra" 2>/dev/null)" = "${DEBIAN_EXTRA:-}" ] || continue
	if findmnt -rn -o TARGET | grep -q "^$old/"; then
		echo "debian-userland: not removing $old: something is mounted under it" >&2
	else
		rm -rf "$old" "$old.lock"
	fi
done
echo "debian-userland: $name ready: $(wc -l <"$dest/packages") packages named, $(du -sh "$dest/root" | cut -f1)" >&2
echo "$dest/root"
