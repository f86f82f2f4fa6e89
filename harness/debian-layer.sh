#!/usr/bin/env bash
# Print the directory of a persistent overlay layer of SUITE's Debian userland
# (harness/debian-userland.sh) in which PACKAGEs are installed with the
# suite's apt, making it the first time: the shared userland itself never
# changes. Use it with `harness/debian-chroot.sh --overlay DIR --layer LAYER
# USERLAND ...` or `harness/debian-disk.sh --layer LAYER`. The layer lives
# next to the userland (and goes with it when the userland is replaced),
# keyed by the package list; apt's downloaded files are not kept in it.
set -euo pipefail

usage() { echo "usage: $0 SUITE PACKAGE...   (SUITE: sid or trixie)" >&2; exit 2; }
[ $# -ge 2 ] || usage
suite=$1
shift
case "$suite" in sid | trixie) ;; *) usage ;; esac
here=$(dirname "$(realpath "$0")")
userland=$("$here/debian-userland.sh" "$suite")
dir=${userland%/root}/layer-$(printf '%s\n' "$@" | LC_ALL=C sort -u | sha256sum | cut -c1-12)

exec 8>"$dir.lock"
flock 8
if [ ! -f "$dir/.ready" ]; then
	echo "debian-layer: installing $* into a layer of the $suite userland ($dir)" >&2
	rm -rf "$dir"
	start=$SECONDS
	# The userland's package lists are those of the day it was made: when
	# the mirror has moved on, fetch them anew (in the layer).
	"$here/debian-chroot.sh" --overlay "$dir" "$userland" sh -c \
		'{ apt-get -q install -y --no-install-recommends "$@" ||
			{ apt-get -q update && apt-get -q install -y --no-install-recommends "$@"; }; } && apt-get clean' \
		sh "$@" >"$dir.log" 2>&1 ||
		{ tail -n 20 "$dir.log" >&2; echo "debian-layer: apt-get install failed (log $dir.log)" >&2; exit 1; }
	printf '%s\n' "$@" >"$dir/packages"
	touch "$dir/.ready"
	echo "debian-layer: done in $((SECONDS - start)) s, $(du -sh "$dir/upper" | cut -f1)" >&2
fi
echo "$dir/upper"
