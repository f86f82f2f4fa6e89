#!/usr/bin/env bash
# Debian's own Rust-enabled kernels, as test kernels. KERNEL is a suite (sid;
# trixie means its backports, whose kernels have CONFIG_RUST=y), optionally
# with a flavour of another architecture: sid-arm64, sid-arm64-16k (16K
# pages), trixie-arm64, trixie-arm64-16k. Without one it is the amd64 kernel.
#
#   release KERNEL  print "RELEASE VERSION ARCHIVE": the newest kernel of the
#                   flavour in the suite, from its linux-headers-FLAVOUR
#                   metapackage
#   arch KERNEL     print the Debian architecture of the kernel (amd64, arm64)
#   boot KERNEL     extract vmlinuz from Debian's linux-binary-RELEASE
#                   package into the cache (never installed on the host) and
#                   print a directory holding it as harness/guest-run.sh
#                   expects of a kernel tree: arch/x86/boot/bzImage, or for
#                   arm64 arch/arm64/boot/Image.gz (Debian's arm64 vmlinuz is
#                   a gzip'd Image)
#   second KERNEL   print "RELEASE HEADERS-VERSION SOURCE-PACKAGE VERSION" of
#                   a second, older kernel of the suite and a linux-source
#                   version of its series other than its headers' version
#                   (nothing when the suite has none): what
#                   harness/rust-meta-test.sh's source-version case installs
#                   (amd64 kernels only)
#   ksrc KERNEL     print a directory holding the kselftest harness
#                   (tools/testing/selftests) of the kernel's own
#                   linux-source, unpacked from the tarball in the suite's
#                   userland (harness/debian-userland.sh)
set -euo pipefail

usage() {
	echo "usage: $0 release|arch|boot|second|ksrc KERNEL   (KERNEL: sid or trixie, or either with -arm64 or -arm64-16k)" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1 kernel=$2 suite=${2%%-*}
flavour=amd64
[ "$kernel" = "$suite" ] || flavour=${kernel#*-}
case "$suite" in
sid) archive=sid ;;
trixie) archive=trixie-backports ;;
*) usage ;;
esac
case "$flavour" in
amd64) arch=amd64 image=arch/x86/boot/bzImage ;;
arm64 | arm64-16k) arch=arm64 image=arch/arm64/boot/Image.gz ;;
*) usage ;;
esac
[ "$cmd" != arch ] || { echo "$arch"; exit 0; }
here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/debian-apt.sh
. "$here/debian-apt.sh"
debian_apt_init "$arch"

# The metapackage's newest version in the archive, and the release it depends on.
meta=$(apt-cache "${apt_opts[@]}" madison "linux-headers-$flavour" |
	awk -F'|' -v a="$archive/main" '$3 ~ " " a " " { gsub(/ /, "", $2); print $2 }' | sort -V | tail -n 1)
[ -n "$meta" ] || { echo "debian-kernel: no linux-headers-$flavour in $archive" >&2; exit 1; }
release=$(apt-cache "${apt_opts[@]}" show "linux-headers-$flavour=$meta" |
	sed -n "s/^Depends:.*linux-headers-\([^ ,]*-$flavour\) .*/\1/p" | head -n 1)
[ -n "$release" ] || { echo "debian-kernel: linux-headers-$flavour $meta names no kernel" >&2; exit 1; }

case "$cmd" in
release) echo "$release $meta $archive" ;;
boot)
	dest=$debian_cache/debian-kernels/$release-$meta
	if [ ! -f "$dest/.extracted" ]; then
		echo "debian-kernel: fetching linux-binary-$release $meta ($arch)" >&2
		rm -rf "$dest"
		mkdir -p "$dest/deb" "$(dirname "$dest/$image")" "$dest/include/config"
		(cd "$dest/deb" && apt-get -q "${apt_opts[@]}" download "linux-binary-$release=$meta" >&2)
		dpkg-deb -x "$dest"/deb/linux-binary-*.deb "$dest/deb/x"
		mv "$dest/deb/x/usr/lib/modules/$release/vmlinuz" "$dest/$image"
		rm -rf "$dest/deb"
		echo "$release" >"$dest/include/config/kernel.release"
		touch "$dest/.extracted"
	fi
	echo "$dest"
	;;
second)
	[ "$arch" = amd64 ] || exit 0
	# One apt-cache call for every headers package: each call reads the lists anew.
	names=$(apt-cache "${apt_opts[@]}" pkgnames linux-headers- |
		grep -E '^linux-headers-[0-9.]+\+deb[0-9]+-amd64$' | grep -vxF "linux-headers-$release" || true)
	[ -n "$names" ] || exit 0
	# shellcheck disable=SC2086
	headers=$(apt-cache "${apt_opts[@]}" madison $names | tr -d ' ' |
		awk -F'|' -v a="$archive/main" 'index($3, a) { print $1, $2 }')
	read -r hpkg hver <<<"$(sort -V <<<"$headers" | tail -n 1)"
	[ -n "$hpkg" ] || exit 0
	rel=${hpkg#linux-headers-}
	spkg=linux-source-$(echo "$rel" | cut -d. -f1,2)
	sver=$(apt-cache "${apt_opts[@]}" madison "$spkg" | tr -d ' ' |
		awk -F'|' -v a="$archive/main" -v h="$hver" 'index($3, a) && $2 != h { print $2 }' | sort -V | tail -n 1)
	[ -z "$sver" ] || echo "$rel $hver $spkg $sver"
	;;
ksrc)
	dest=$debian_cache/debian-kernels/$release-$meta-ksrc
	if [ ! -f "$dest/.extracted" ]; then
		userland=$("$here/debian-userland.sh" "$kernel")
		series=$(echo "$release" | cut -d. -f1,2)
		rm -rf "$dest"
		mkdir -p "$dest"
		tar -C "$dest" --strip-components=1 -xJf "$userland/usr/src/linux-source-$series.tar.xz" \
			--wildcards "*/tools/testing/selftests/kselftest*"
		touch "$dest/.extracted"
	fi
	echo "$dest"
	;;
*) usage ;;
esac
