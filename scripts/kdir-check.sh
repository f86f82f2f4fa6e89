#!/usr/bin/env bash
# Check that a kernel build tree can build ashmem_linux, before the build
# starts: `make module` and DKMS's PRE_BUILD run it. Each failure names the
# missing piece and what to install; README.md "Troubleshooting" has more.
#
#   RUSTC=PATH   the rustc to check (default: rustc on PATH), as for make
set -euo pipefail

usage() { echo "usage: $0 KDIR   (a kernel build tree, e.g. /lib/modules/\$(uname -r)/build)" >&2; exit 2; }
[ $# -eq 1 ] || usage
kdir=$1

fail() {
	echo "ashmem_linux: cannot build against $kdir:" >&2
	for line in "$@"; do echo "  $line" >&2; done
	exit 1
}

[ -f "$kdir/Makefile" ] ||
	fail "no kernel build tree there (no Makefile)." \
		"Install the build tree of that kernel (Debian/Ubuntu: linux-headers-<version>," \
		"Fedora: kernel-devel) or pass KDIR=/path/to/your/kernel/build."

config=$kdir/.config
[ -f "$config" ] || config=$kdir/include/config/auto.conf
[ -f "$config" ] || fail "the tree has no .config: it was never configured or is incomplete."

want_config() { # OPTION WHY
	grep -qE "^$1=[ym]" "$config" ||
		fail "the kernel was built without $1 ($2)." \
			"ashmem_linux needs a kernel with $1=y: use a kernel that has it (see README.md," \
			"\"Supported distributions\") or rebuild yours with it enabled."
}
want_config CONFIG_MODULES "loadable modules"
want_config CONFIG_RUST "Rust support: the module is written in Rust"
want_config CONFIG_SHMEM "shmem: every ashmem region is backed by a shmem file"

# The Rust metadata an out-of-tree Rust module compiles against.
missing=()
for f in rust/libkernel.rmeta rust/libcore.rmeta rust/libmacros.so include/generated/rustc_cfg; do
	[ -e "$kdir/$f" ] || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] ||
	fail "the tree has no Rust metadata (missing: ${missing[*]})." \
		"Its kernel has CONFIG_RUST=y, but this build tree lacks the files Rust modules" \
		"compile against; most distributions' headers packages do not ship them yet." \
		"Install a headers package that does (see README.md, \"Supported distributions\"), or" \
		"build the kernel yourself and point KDIR at that build tree."

[ -f "$kdir/Module.symvers" ] ||
	fail "the tree has no Module.symvers: run 'make modules' in the kernel tree once" \
		"(or install the complete headers package of that kernel)."

# rustc must be exactly the one the kernel was built with: .rmeta files are
# tied to one compiler version.
want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$config")
rustc=${RUSTC:-rustc}
have=$("$rustc" --version 2>/dev/null | head -n 1 || true)
if [ -n "$want" ] && [ "$have" != "$want" ]; then
	ver=$(echo "$want" | awk '{ print $2 }')
	if [ -n "$have" ]; then now="'$rustc' is '$have'"; else now="there is no working '$rustc'"; fi
	fail "the kernel was built with '$want', but $now." \
		"Install that exact compiler (e.g. 'rustup toolchain install $ver' and then" \
		"'rustup default $ver', for the user that builds, root for DKMS)," \
		"or name it with RUSTC=/path/to/rustc."
fi
echo "ashmem_linux: $kdir can build the module ($have)"
