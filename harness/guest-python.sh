#!/usr/bin/env bash
# Copy Debian's python3 into a guest root (the busybox initramfs has none):
# the interpreter binary, the shared libraries it and the stdlib's extension
# modules (lib-dynload) need, the dynamic loader, and /usr/lib/python3.X
# without tests, GUI and packaging parts, bytecode caches and the static
# libpython of config-3.X-*/ (about 20 MB in all). Files keep their host
# paths, so the guest runs /usr/bin/python3.
#
# It must be the distribution's python (harness/deps.sh installs it), not a
# pyenv or venv one earlier in PATH: those live elsewhere and find their
# stdlib relative to themselves.
set -euo pipefail

usage() {
	echo "usage: $0 ROOT [FROM]   (copies /usr/bin/python3 and its stdlib into ROOT, from the host or" >&2
	echo "       the Debian root FROM of the guest's architecture: harness/guest-tools.sh ARCH)" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
root=$1 from=${2:-}
[ -d "$root" ] || { echo "guest-python: $root is not a directory" >&2; exit 1; }

python=/usr/bin/python3
[ -x "$from$python" ] || { echo "guest-python: no $from$python; run harness/deps.sh (Debian package python3)" >&2; exit 1; }
if [ -z "$from" ]; then
	binary=$(realpath "$python")
	version=$("$binary" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
else
	# Another architecture's python cannot run here: its name says its version.
	binary=$(dirname "$python")/$(readlink "$from$python")
	version=${binary##*/python}
fi
stdlib=/usr/lib/python$version
[ -f "$from$stdlib/os.py" ] && [ -d "$from$stdlib/lib-dynload" ] ||
	{ echo "guest-python: no stdlib in $from$stdlib for $binary" >&2; exit 1; }

# The interpreter, under its own name, and the python3 link to it.
mkdir -p "$root/usr/bin" "$root/usr/lib"
cp "$from$binary" "$root$binary"
[ "$binary" = "$python" ] || ln -sfn "$(basename "$binary")" "$root$python"

# The stdlib. Pruned: what tests, IDLE, Tk, 2to3, pip bootstrap, pydoc's
# topics and site packages need, caches, and config-3.X-*/ (libpython.a for
# embedding, 25 MB).
(cd "$from/usr/lib" && find "python$version" \
	\( -path "python$version/test" -o -path "python$version/idlelib" \
	-o -path "python$version/tkinter" -o -path "python$version/turtledemo" \
	-o -path "python$version/ensurepip" -o -path "python$version/lib2to3" \
	-o -path "python$version/pydoc_data" -o -path "python$version/config-*" \
	-o -name site-packages -o -name dist-packages -o -name __pycache__ \) -prune \
	-o -print0 | cpio -0pdm --quiet "$root/usr/lib")

# Shared libraries of the interpreter and of every extension module, under
# the paths ldd resolves them to (the loader searches those), the loader too.
if [ -z "$from" ]; then
	libs=$(for elf in "$binary" "$stdlib"/lib-dynload/*.so; do
		ldd "$elf" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	done | sort -u | sed 's/.*/& &/')
else
	# An extension module whose libraries the packages lack (_dbm, _gdbm,
	# _tkinter ...) is left out: nothing run in the guest imports those.
	tools=$(dirname "$0")/guest-tools.sh
	libs=$("$tools" libs "$from" "$binary")
	for so in "$from$stdlib"/lib-dynload/*.so; do
		if more=$("$tools" libs "$from" "${so#"$from"}" 2>/dev/null); then
			libs+=$'\n'$more
		else
			rm "$root${so#"$from"}"
		fi
	done
	libs=$(sort -u <<<"$libs" | grep .)
fi
[ -n "$libs" ] || { echo "guest-python: found no libraries" >&2; exit 1; }
# "PATH DEST": the file (in FROM), and its path in the guest.
while read -r lib dest; do
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$from$lib" "$root$dest"
done <<<"$libs"

# The copy must start and import what ashmem-diag and the checkers use. On
# the host, chroot can tell; without root, the size check has to do.
if [ "$(id -u)" = 0 ] && [ -z "$from" ]; then
	chroot "$root" "$python" -I -B -c 'import argparse, dataclasses, json, re, subprocess, signal' ||
		{ echo "guest-python: the copied python does not start in $root" >&2; exit 1; }
fi
echo "guest-python: python $version into $root ($(du -sh "$root/usr/lib/python$version" | cut -f1) stdlib)" >&2
