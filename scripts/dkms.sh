#!/usr/bin/env bash
# DKMS front end for `make dkms-install` / `make dkms-remove`.
#
#   source DIR  copy the files a DKMS build needs to DIR/ashmem-linux-VERSION
#   install     copy them to SRCTREE, `dkms add`, then `dkms install` for KVER
#   remove      `dkms remove --all`, then delete the SRCTREE copy
#
#   KVER=VERSION     kernel to build for (default: the running one)
#   SRCTREE=DIR      where DKMS sources live (default /usr/src)
#   DKMS_OPTS="..."  extra dkms options (e.g. --dkmstree/--installtree/
#                    --kernelsourcedir, as the tests use for a private tree)
set -euo pipefail

usage() { echo "usage: $0 source DIR | install | remove   (env: KVER, SRCTREE, DKMS_OPTS)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$top/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
[ -n "$name" ] && [ -n "$version" ] || { echo "dkms.sh: no PACKAGE_NAME/PACKAGE_VERSION in dkms.conf" >&2; exit 1; }
srctree=${SRCTREE:-/usr/src}
kver=${KVER:-$(uname -r)}
read -r -a opts <<<"${DKMS_OPTS:-}"

# The source a DKMS build needs, and nothing built.
copy_source() { # DEST
	local dest=$1/$name-$version
	rm -rf "$dest"
	mkdir -p "$dest"
	(cd "$top" && {
		printf '%s\n' dkms.conf Makefile Kbuild COPYING version.c scripts/kdir-check.sh scripts/rust-meta.sh
		find rust packaging -type f \( -name '*.rs' -o -name '*.c' -o -name '*.h' \)
	} | sort -u | cpio -pdm --quiet "$dest")
	echo "$dest"
}

need_dkms() {
	command -v dkms >/dev/null || { echo "dkms.sh: dkms is not installed (Debian/Ubuntu: apt install dkms)" >&2; exit 1; }
}

case "${1:-}" in
source)
	[ $# -eq 2 ] || usage
	copy_source "$2"
	;;
install)
	[ $# -eq 1 ] || usage
	need_dkms
	# A stale registration of this version (an earlier install) goes first.
	if dkms status "${opts[@]}" -m "$name" -v "$version" | grep -q .; then
		dkms remove "${opts[@]}" -m "$name" -v "$version" --all
	fi
	copy_source "$srctree" >/dev/null
	dkms add "${opts[@]}" -m "$name" -v "$version" --sourcetree "$srctree"
	dkms install "${opts[@]}" -m "$name" -v "$version" --sourcetree "$srctree" -k "$kver"
	dkms status "${opts[@]}" -m "$name" -v "$version"
	;;
remove)
	[ $# -eq 1 ] || usage
	need_dkms
	if dkms status "${opts[@]}" -m "$name" -v "$version" | grep -q .; then
		dkms remove "${opts[@]}" -m "$name" -v "$version" --all
	else
		echo "dkms.sh: $name/$version is not registered with DKMS"
	fi
	rm -rf "${srctree:?}/$name-$version"
	;;
*) usage ;;
esac
