#!/usr/bin/env bash
# Print the directory of a persistent overlay layer of a Debian userland
# (harness/debian-userland.sh): what COMMAND, run once in an overlay of
# USERLAND (harness/debian-chroot.sh --overlay), changed. Later runs reuse
# it: pass it to harness/debian-chroot.sh --layer (or stack it under a disk
# image, harness/debian-disk.sh) to see USERLAND with those changes, while
# USERLAND itself, shared by the other tests, never changes.
#
# The layer is kept next to the userland, as USERLAND/../NAME-HASH (HASH: of
# COMMAND, so another command makes another layer), and goes with the
# userland when that is replaced. Its log is NAME-HASH.log beside it. One
# run makes a given layer at a time; a parallel one waits, then reuses it.
set -euo pipefail

usage() { echo "usage: $0 USERLAND NAME COMMAND [ARG...]" >&2; exit 2; }
[ $# -ge 3 ] || usage
userland=$(realpath "$1") name=$2
shift 2
here=$(dirname "$(realpath "$0")")
dir=${userland%/root}/$name-$(echo "$@" | sha256sum | cut -c1-8)
exec 8>"$dir.lock"
flock 8
if [ ! -f "$dir/.ready" ]; then
	rm -rf "$dir"
	"$here/debian-chroot.sh" --overlay "$dir" "$userland" "$@" >"$dir.log" 2>&1 ||
		{ tail -n 20 "$dir.log" >&2; echo "debian-layer: making the $name layer failed (log $dir.log)" >&2; exit 1; }
	touch "$dir/.ready"
fi
echo "$dir/upper"
