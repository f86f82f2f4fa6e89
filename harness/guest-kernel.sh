#!/usr/bin/env bash
# Prepare the test kernel SERIES and the module built for it, and print
# "KDIR KSRC OUT KO": the tree harness/guest-run.sh boots, a kernel source
# with the kselftest harness, the build directory build/<kernel> and the
# module. SERIES is Debian's sid or trixie(-backports) kernel, or either's
# arm64 or arm64-16k flavour (sid-arm64-16k: the module built in its Debian
# userland with Debian's rustc, cross-built for arm64), or a self-built 7.2,
# 7.3 or 7.2-debug (the module built here; with COVERAGE=1 the module built
# with `make module COVERAGE=1`, in OUT/module-cov). Programs for its guest
# are built with harness/guest-cc.sh SERIES.
set -euo pipefail

usage() { echo "usage: $0 SERIES   (sid, trixie, sid-arm64, sid-arm64-16k, trixie-arm64, trixie-arm64-16k, 7.2, 7.3, 7.2-debug)" >&2; exit 2; }
[ $# -eq 1 ] || usage
series=$1
top=$(realpath "$(dirname "$0")/..")
cd "$top"
harness/deps.sh >&2
# shellcheck source=harness/toolchain.sh
. harness/toolchain.sh
case "$series" in
sid | trixie | sid-arm64 | sid-arm64-16k | trixie-arm64 | trixie-arm64-16k)
	kdir=$(harness/debian-kernel.sh boot "$series")
	ksrc=$(harness/debian-kernel.sh ksrc "$series")
	out=$top/build/debian-$(cat "$kdir/include/config/kernel.release")
	ko=$(harness/debian-module.sh "$series" "$out/module")
	;;
*)
	kdir=$(harness/test-kernel.sh "$series")
	ksrc=$(realpath "$kdir/source")
	out=$top/build/$(basename "$kdir")
	mo=$out/module${COVERAGE:+-cov}
	make --no-print-directory module KDIR="$kdir" MO="$mo" ${COVERAGE:+COVERAGE=1} >&2
	ko=$mo/ashmem_linux.ko
	;;
esac
echo "$kdir $ksrc $out $ko"
