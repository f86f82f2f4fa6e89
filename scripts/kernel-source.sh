#!/usr/bin/env bash
# Print the path of an unpacked Linux source tree of the given series,
# downloading Debian's linux-source-SERIES package into the cache if needed.
#
# The package comes from a Debian suite this host does not track (sid or
# trixie-backports), through a private apt configuration, so nothing is
# installed on the host. The mirror is the one the host's own apt uses.
set -euo pipefail

usage() { echo "usage: $0 SERIES   (e.g. $0 7.2; KERNEL_SRC=DIR to use your own tree)" >&2; exit 2; }
[ $# -eq 1 ] || usage
series=$1

if [ -n "${KERNEL_SRC:-}" ]; then
	[ -f "$KERNEL_SRC/Makefile" ] || { echo "KERNEL_SRC=$KERNEL_SRC is not a kernel tree" >&2; exit 1; }
	realpath "$KERNEL_SRC"
	exit 0
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/ashmem_linux
aptdir=$cache/apt
mkdir -p "$aptdir/lists/partial" "$cache/src"

# The Debian mirror of the host's own apt sources (deb822 or one-line style).
mirror_uri() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	echo "no Debian mirror found in /etc/apt sources" >&2
	return 1
}

apt_opts=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o Dir::Etc::sourceparts=-
	-o "Dir::State::Lists=$aptdir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
	-o "Dir::Cache::archives=$aptdir" -o APT::Sandbox::User=root)

pkg=linux-source-$series
# Refresh the private package lists at most once a day.
if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
	uri=$(mirror_uri)
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	{
		echo "deb [signed-by=$keyring] $uri sid main"
		echo "deb [signed-by=$keyring] $uri trixie-backports main"
	} >"$aptdir/sources.list"
	echo "kernel-source: refreshing package lists for sid and trixie-backports" >&2
	apt-get -q "${apt_opts[@]}" update >&2
fi

# Newest version offered in any suite.
version=$(apt-cache "${apt_opts[@]}" madison "$pkg" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' |
	sort -V | tail -n 1)
[ -n "$version" ] || { echo "kernel-source: no $pkg package offered by the mirror" >&2; exit 1; }
upstream=${version%%-*}
dest=$cache/src/linux-$upstream

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
