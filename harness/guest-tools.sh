#!/usr/bin/env bash
# Print a directory holding Debian sid's userspace tools for a guest of
# another architecture than the host's (SET base, the default; SET android
# adds what harness/android-guest-test.sh runs in the guest: Debian's udev,
# lxc, python3-dbus and python3-gi, with every package they depend on), extracted from Debian's packages of
# that architecture (never installed on the host): busybox (the initramfs's
# shell and applets, at usr/bin/busybox), kmod and the libraries it needs
# (what harness/guest-kmod.sh copies into a guest root), and python3 with its
# standard library (ashmem-diag's interpreter, harness/guest-python.sh). For
# the host's own architecture the guests use the host's tools instead.
# Cached in ~/.cache/ashmem_linux/guest-tools, keyed by the packages'
# versions.
#
#   guest-tools.sh libs ROOT ELF...   print the shared libraries (and the
#       dynamic loader) the programs ELF... of ROOT need, one "PATH DEST" a
#       line: the file in ROOT and where the guest needs it (the loader at its
#       own path; ROOT's /lib may be /usr/lib, Debian's merged /usr). Found by
#       their ELF headers: a program of another architecture cannot run here
#       for ldd to ask its loader
set -euo pipefail

usage() { echo "usage: $0 ARCH [SET]   (ARCH arm64; SET base or android) | $0 libs ROOT ELF..." >&2; exit 2; }
[ $# -ge 1 ] || usage
if [ "$1" = libs ]; then
	[ $# -ge 3 ] || usage
	root=$2
	shift 2
	declare -A seen=()
	todo=("$@")
	while [ ${#todo[@]} -gt 0 ]; do
		elf=${todo[0]}
		todo=("${todo[@]:1}")
		interp=$(readelf -lW "$root$elf" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
		needed=$(readelf -dW "$root$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
		# A RUNPATH (systemd's private library) is searched first.
		runpath=$(readelf -dW "$root$elf" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]$/\1/p' | tr ':' ' ')
		for lib in $interp $needed; do
			path=
			case "$lib" in
			/*) candidates=("$lib" "/usr$lib") ;;
			*)
				candidates=()
				for dir in $runpath /usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu /usr/lib /lib; do
					candidates+=("$dir/$lib")
				done
				;;
			esac
			for c in "${candidates[@]}"; do
				[ ! -e "$root$c" ] || { path=$c; break; }
			done
			[ -n "$path" ] || { echo "guest-tools: $elf needs $lib, which $root lacks" >&2; exit 1; }
			[ -z "${seen[$path]:-}" ] || continue
			seen[$path]=1
			case "$lib" in /*) echo "$path $lib" ;; *) echo "$path $path" ;; esac
			todo+=("$path")
		done
	done
	exit 0
fi
[ $# -ge 1 ] && [ $# -le 2 ] || usage
arch=$1 set=${2:-base}
[ "$arch" = arm64 ] || usage
case "$set" in base | android) ;; *) usage ;; esac
here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/debian-apt.sh
. "$here/debian-apt.sh"
debian_apt_init "$arch"

# The packages, with the libraries their programs load (their Depends).
packages=(busybox-static kmod libkmod2 libc6 libssl3t64 libzstd1 liblzma5 zlib1g
	python3-minimal python3.14-minimal libpython3.14-minimal libpython3.14-stdlib python3.14
	libexpat1 libffi8 libbz2-1.0 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libreadline8t64 libcrypt1)
if [ "$set" = android ]; then
	# The programs, and the closure of their dependencies (no recommends).
	mapfile -t packages < <({
		printf '%s\n' "${packages[@]}"
		apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances udev lxc python3-dbus python3-gi gir1.2-glib-2.0 |
			grep -v '^ \|<'
	} | sort -u)
fi
pins=$(apt-cache "${apt_opts[@]}" madison "${packages[@]}" | tr -d ' ' |
	awk -F'|' '$3 ~ /sid\/main/ && !seen[$1]++ { print $1 "=" $2 }' | sort)
missing=$(comm -23 <(printf '%s\n' "${packages[@]}" | sort) <(sed 's/=.*//' <<<"$pins" | sort))
[ -z "$missing" ] || { echo "guest-tools: no $arch package in sid: $missing" >&2; exit 1; }
key=$(sha256sum <<<"$pins" | cut -c1-12)
dest=$debian_cache/guest-tools/$arch-$set-$key
mkdir -p "$debian_cache/guest-tools"
exec 9>"$dest.lock"
flock 9
if [ ! -f "$dest/.ready" ]; then
	echo "guest-tools: extracting Debian sid $arch packages into $dest" >&2
	rm -rf "$dest"
	mkdir -p "$dest/debs"
	mapfile -t want <<<"$pins"
	(cd "$dest/debs" && apt-get -q "${apt_opts[@]}" download "${want[@]}" >&2)
	for deb in "$dest"/debs/*.deb; do dpkg-deb -x "$deb" "$dest/root"; done
	rm -rf "$dest/debs"
	[ -x "$dest/root/usr/bin/busybox" ] && [ -x "$dest/root/usr/bin/kmod" ] ||
		{ echo "guest-tools: no busybox or kmod in the $arch packages" >&2; exit 1; }
	echo "$pins" >"$dest/packages"
	touch "$dest/.ready"
	# Older extractions of this architecture are out of date.
	for old in "$debian_cache/guest-tools/$arch-$set"-*/; do
		[ "${old%/}" = "$dest" ] || rm -rf "${old%/}" "${old%/}.lock"
	done
fi
echo "$dest/root"
