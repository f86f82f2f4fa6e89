#!/usr/bin/env bash
# Print the path of an unpacked Linux source tree of the given series,
# downloading Debian's linux-source-SERIES package into the cache if needed.
#
# The package comes from a Debian suite this host does not track (sid or
# trixie-backports), through the private apt configuration of
# harness/debian-apt.sh, so nothing is installed on the host.
set -euo pipefail

usage() { echo "usage: $0 SERIES   (e.g. $0 7.2; KERNEL_SRC=DIR to use your own tree)" >&2; exit 2; }
[ $# -eq 1 ] || usage
series=$1

if [ -n "${KERNEL_SRC:-}" ]; then
	[ -f "$KERNEL_SRC/Makefile" ] || { echo "KERNEL_SRC=$KERNEL_SRC is not a kernel tree" >&2; exit 1; }
	realpath "$KERNEL_SRC"
	exit 0
fi

here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/debian-apt.sh
. "$here/debian-apt.sh"
debian_apt_init
cache=$debian_cache
mkdir -p "$cache/src"

pkg=linux-source-$series
# Newest version offered in any suite.
version=$(apt-cache "${apt_opts[@]}" madison "$pkg" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' |
	sort -V | tail -n 1)
[ -n "$version" ] || { echo "kernel-source: no $pkg package offered by the mirror" >&2; exit 1; }
upstream=${version%%-*}
dest=$cache/src/linux-$upstream

exec 9>"$dest.lock"
flock 9
if [ ! -f "$dest/.unpacked" ]; then
	echo "kernel-source: fetching $pkg $version" >&2
	work=$(mktemp -d "$cache/src/.fetch.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	(cd "$work" && apt-get -q "${apt_opts[@]}" download "$pkg=$version" >&2)
	dpkg-deb -x "$work"/"${pkg}"_*.deb "$work/deb"
	mkdir -p "$work/tree"
	tar -C "$work/tree" --strip-components=1 -xf "$work/deb/usr/src/$pkg.tar.xz"
	rm -rf "$dest"
	mv "$work/tree" "$dest"
	touch "$dest/.unpacked"
fi
echo "$dest"
