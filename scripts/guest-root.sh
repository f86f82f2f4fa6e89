# Sourced by scripts that run one program in the test guest (demo, bench,
# fuzz):
#   guest_root NAME   installs the dependencies, prepares the test kernel of
#                     $SERIES (default sid: Debian's sid kernel, the module
#                     built in its Debian userland; or a self-built 7.2, 7.3,
#                     7.2-debug), builds the module, and sets kdir (the tree
#                     scripts/guest-run.sh boots), ksrc (the kernel source
#                     with the kselftest harness), out (build/<kernel>) and
#                     root ($out/NAME-root: empty but for
#                     lib/modules/ashmem_linux.ko and bin/).
# Expects to run from the top of the tree.
# shellcheck shell=bash
guest_root() {
	scripts/deps.sh >&2
	# shellcheck source=scripts/toolchain.sh
	. scripts/toolchain.sh
	local series=${SERIES:-sid} ko
	case "$series" in
	sid | trixie)
		kdir=$(scripts/debian-kernel.sh boot "$series")
		ksrc=$(scripts/debian-kernel.sh ksrc "$series")
		out=$PWD/build/debian-$(cat "$kdir/include/config/kernel.release")
		ko=$(scripts/debian-module.sh "$series" "$out/module")
		;;
	*)
		kdir=$(scripts/test-kernel.sh "$series")
		ksrc=$(realpath "$kdir/source")
		out=$PWD/build/$(basename "$kdir")
		make --no-print-directory module KDIR="$kdir" MO="$out/module" >&2
		ko=$out/module/ashmem_linux.ko
		;;
	esac
	root=$out/$1-root
	rm -rf "$root"
	mkdir -p "$root/lib/modules" "$root/bin"
	cp "$ko" "$root/lib/modules/"
}
