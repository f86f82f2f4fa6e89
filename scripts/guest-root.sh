# Sourced by scripts that run one program in the test guest (demo, bench):
#   guest_root NAME   installs the dependencies, prepares the test kernel of
#                     $SERIES (default 7.2), builds the module, and sets kdir,
#                     out (build/<kernel>) and root ($out/NAME-root: empty but
#                     for lib/modules/ashmem_linux.ko and bin/).
# Expects to run from the top of the tree.
# shellcheck shell=bash
guest_root() {
	scripts/deps.sh >&2
	# shellcheck source=scripts/toolchain.sh
	. scripts/toolchain.sh
	kdir=$(scripts/test-kernel.sh "${SERIES:-7.2}")
	out=$PWD/build/$(basename "$kdir")
	make --no-print-directory module KDIR="$kdir" MO="$out/module" >&2
	root=$out/$1-root
	rm -rf "$root"
	mkdir -p "$root/lib/modules" "$root/bin"
	cp "$out/module/ashmem_linux.ko" "$root/lib/modules/"
}
