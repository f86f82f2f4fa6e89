# Sourced by scripts that run one program in the test guest (demo, bench,
# fuzz):
#   guest_root NAME   prepares the test kernel of $SERIES (default sid) and
#                     the module (harness/guest-kernel.sh), and sets kdir,
#                     ksrc, out (build/<kernel>) and root ($out/NAME-root:
#                     empty but for lib/modules/ashmem_linux.ko and bin/),
#                     and guest_tools: for a guest of another architecture
#                     (an arm64 SERIES), Debian's tools of it
#                     (harness/guest-tools.sh), else empty.
# Expects to run from the top of the tree.
# shellcheck shell=bash
guest_root() {
	local ko
	# shellcheck disable=SC2034 # kdir, ksrc and out are for the sourcing script
	read -r kdir ksrc out ko <<<"$(harness/guest-kernel.sh "${SERIES:-sid}")"
	# shellcheck source=harness/toolchain.sh
	. harness/toolchain.sh
	# shellcheck disable=SC2034 # for the sourcing script
	case "${SERIES:-sid}" in
	*-arm64 | *-arm64-16k) guest_tools=$(harness/guest-tools.sh arm64) ;;
	*) guest_tools= ;;
	esac
	root=$out/$1-root
	rm -rf "$root"
	mkdir -p "$root/lib/modules" "$root/bin"
	cp "$ko" "$root/lib/modules/"
}
