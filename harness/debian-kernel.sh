#!/usr/bin/env bash
# Debian's own Rust-enabled kernels, as test kernels.
#
#   release SUITE   print "RELEASE VERSION SUITE": the newest amd64 kernel of
#                   SUITE (sid; trixie means its backports, whose kernels have
#                   CONFIG_RUST=y), from the linux-headers-amd64 metapackage
#   boot SUITE      extract vmlinuz from Debian's linux-binary-RELEASE
#                   package into the cache (never installed on the host) and
#                   print a directory holding it as arch/x86/boot/bzImage, as
#                   harness/guest-run.sh expects of a kernel tree
#   second SUITE    print "RELEASE HEADERS-VERSION SOURCE-PACKAGE VERSION" of
#                   a second, older kernel of the suite and a linux-source
#                   version of its series other than its headers' version
#                   (nothing when the suite has none): what
#                   harness/rust-meta-test.sh's source-version case installs
#   modules SUITE NAME...   print a directory holding Debian's modules NAME
#                   of the kernel, with the modules they depend on, under
#                   usr/lib/modules/RELEASE, indexed (depmod): a layer for a
#                   guest's Debian root (harness/debian-disk.sh), taken from
#                   linux-modules-RELEASE (extracted into the cache, never
#                   installed on the host). Not all 4,217 modules: a
#                   depmod over them all took 41-52 s in a TCG guest.
#   ksrc SUITE      print a directory holding the kselftest harness
#                   (tools/testing/selftests) of the kernel's own
#                   linux-source, unpacked from the tarball in the suite's
#                   userland (harness/debian-userland.sh)
set -euo pipefail

usage() { echo "usage: $0 release|boot|second|ksrc SUITE | modules SUITE NAME...   (SUITE: sid or trixie)" >&2; exit 2; }
[ $# -eq 2 ] || { [ $# -gt 2 ] && [ "$1" = modules ]; } || usage
cmd=$1 suite=$2
shift 2
case "$suite" in
sid) archive=sid ;;
trixie) archive=trixie-backports ;;
*) usage ;;
esac
here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/debian-apt.sh
. "$here/debian-apt.sh"
debian_apt_init

# The metapackage's newest version in the archive, and the release it depends on.
meta=$(apt-cache "${apt_opts[@]}" madison linux-headers-amd64 |
	awk -F'|' -v a="$archive/main" '$3 ~ " " a " " { gsub(/ /, "", $2); print $2 }' | sort -V | tail -n 1)
[ -n "$meta" ] || { echo "debian-kernel: no linux-headers-amd64 in $archive" >&2; exit 1; }
release=$(apt-cache "${apt_opts[@]}" show "linux-headers-amd64=$meta" |
	sed -n 's/^Depends:.*linux-headers-\([^ ,]*-amd64\) .*/\1/p' | head -n 1)
[ -n "$release" ] || { echo "debian-kernel: linux-headers-amd64 $meta names no kernel" >&2; exit 1; }

case "$cmd" in
release) echo "$release $meta $archive" ;;
boot)
	dest=$debian_cache/debian-kernels/$release-$meta
	if [ ! -f "$dest/.extracted" ]; then
		echo "debian-kernel: fetching linux-binary-$release $meta" >&2
		rm -rf "$dest"
		mkdir -p "$dest/deb" "$dest/arch/x86/boot" "$dest/include/config"
		(cd "$dest/deb" && apt-get -q "${apt_opts[@]}" download "linux-binary-$release=$meta" >&2)
		dpkg-deb -x "$dest"/deb/linux-binary-*.deb "$dest/deb/x"
		mv "$dest/deb/x/usr/lib/modules/$release/vmlinuz" "$dest/arch/x86/boot/bzImage"
		rm -rf "$dest/deb"
		echo "$release" >"$dest/include/config/kernel.release"
		touch "$dest/.extracted"
	fi
	echo "$dest"
	;;
second)
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
modules)
	pkg=$debian_cache/debian-kernels/$release-$meta-modules
	mkdir -p "$debian_cache/debian-kernels"
	exec 9>"$pkg.lock"
	flock 9
	if [ ! -f "$pkg/.extracted" ]; then
		echo "debian-kernel: fetching linux-modules-$release $meta" >&2
		rm -rf "$pkg"
		mkdir -p "$pkg/deb"
		# The modules, and modules.order and modules.builtin* (linux-base).
		(cd "$pkg/deb" && apt-get -q "${apt_opts[@]}" download "linux-modules-$release=$meta" "linux-base-$release=$meta" >&2)
		for deb in "$pkg"/deb/*.deb; do dpkg-deb -x "$deb" "$pkg"; done
		rm -rf "$pkg/deb"
		# The package's own index is made by its postinst: for the look-ups here.
		depmod -b "$pkg/usr" "$release"
		touch "$pkg/.extracted"
	fi
	dest=$pkg-$(printf '%s\n' "$@" | LC_ALL=C sort -u | sha256sum | cut -c1-12)
	if [ ! -f "$dest/.ready" ]; then
		rm -rf "$dest"
		tree=usr/lib/modules/$release
		mkdir -p "$dest/$tree"
		modprobe -d "$pkg/usr" -S "$release" --show-depends -a "$@" | awk '$1 == "insmod" { print $2 }' |
			while read -r ko; do
				rel=${ko#"$pkg/"}
				mkdir -p "$dest/$(dirname "$rel")"
				cp "$ko" "$dest/$rel"
			done
		cp "$pkg/$tree"/modules.{order,builtin,builtin.modinfo} "$dest/$tree/"
		depmod -b "$dest/usr" "$release"
		printf '%s\n' "$@" >"$dest/names"
		touch "$dest/.ready"
	fi
	echo "$dest"
	;;
ksrc)
	dest=$debian_cache/debian-kernels/$release-$meta-ksrc
	if [ ! -f "$dest/.extracted" ]; then
		userland=$("$here/debian-userland.sh" "$suite")
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
