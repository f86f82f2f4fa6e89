#!/usr/bin/env bash
# scripts/rust-meta.sh in the Debian userland of SUITE, as TAP: the cached
# tree is reused, and it refuses, naming what to install, when rustc is not
# the kernel's, when the headers' Module.symvers does not list exactly the
# rebuilt exports, when olddefconfig would change the headers' config, and
# (where the suite has a second kernel) when linux-source is another version
# than the headers. (Where the apt sources no longer offer the right one, it
# skips with status 77: harness/debian-dkms-test.sh checks that through DKMS.)
# Run after harness/debian-dkms-test.sh, which builds the tree. Tampered files are bind-mounted over the real ones in the private
# mount namespace of harness/debian-chroot.sh, so the userland is unchanged.
# The source-version case needs a second kernel's headers and another
# linux-source in the userland: harness/debian-userland.sh installs them
# where the suite has one (harness/debian-kernel.sh second).
set -euo pipefail

usage() { echo "usage: $0 SUITE OUT   (SUITE: sid or trixie, or either with -arm64 or -arm64-16k)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")

[ $# -eq 2 ] || usage
suite=$1 out=$(realpath -m "$2")
# shellcheck source=harness/tap.sh
. "$top/harness/tap.sh"
userland=$("$top/harness/debian-userland.sh" "$suite")
read -r release _ <<<"$("$top/harness/debian-kernel.sh" release "$suite")"
kdir=/lib/modules/$release/build
mkdir -p "$out"
# The scripts under test, as a DKMS source copy holds them.
w=/tmp/rust-meta-test
rm -rf "${userland:?}$w"
mkdir -p "$userland$w"
cp "$top/scripts/rust-meta.sh" "$top/scripts/kdir-check.sh" "$userland$w/"
# In the userland: COMMAND with FILE replaced by the tampered copy made by SED-SCRIPT.
tampered() { # FILE SED-SCRIPT COMMAND...
	local file=$1 script=$2
	shift 2
	sed "$script" "$userland$file" >"$userland$w/tampered"
	cmp -s "$userland$file" "$userland$w/tampered" && { echo "tampering changed nothing in $file"; return 1; }
	"$top/harness/debian-chroot.sh" "$userland" sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
		sh "$w/tampered" "$file" "$@"
}
# rust-meta.sh must fail and say TEXT.
refuses() { # TEXT COMMAND...
	local text=$1 rc=0 log
	shift
	log=$("$@" 2>&1) || rc=$?
	echo "$log"
	echo "exit status $rc"
	[ "$rc" = 1 ] && grep -qF -- "$text" <<<"$log"
}
in_userland() { "$top/harness/debian-chroot.sh" "$userland" "$@"; }
pkg_version() { in_userland dpkg-query -W -f='${Version}' "$1"; }

t_cached() {
	local log start=$SECONDS
	log=$(in_userland "$w/rust-meta.sh" "$kdir" 2>&1) || { echo "$log"; return 1; }
	echo "$log"
	echo "took $((SECONDS - start)) s"
	! grep -q "rebuilding" <<<"$log" && [ -f "$userland$(tail -n 1 <<<"$log")/rust/libkernel.rmeta" ]
}
t_rustc() {
	printf '#!/bin/sh\necho "rustc 1.0.0 (0000000 2015-05-15)"\n' >"$userland$w/rustc"
	chmod +x "$userland$w/rustc"
	refuses "apt install rustc=$(pkg_version rustc)" in_userland env RUSTC="$w/rustc" "$w/rust-meta.sh" "$kdir"
}
t_symvers() {
	refuses "export other symbols than" \
		tampered "$kdir/Module.symvers" '0,/\t_R[A-Za-z0-9_]*\t/{/\t_R[A-Za-z0-9_]*\t/d}' "$w/rust-meta.sh" "$kdir"
}
t_olddefconfig() {
	local rc=0
	refuses "make olddefconfig changed" \
		tampered "$kdir/.config" '$a CONFIG_ASHMEM_TEST_NO_SUCH_OPTION=y' "$w/rust-meta.sh" "$kdir" || rc=1
	# The refused attempt leaves its log only; the good tree stays.
	find "$userland/var/cache/ashmem-linux/rust-meta" -maxdepth 1 -name "$release-*" ! -exec test -f {}/.ready \; \
		-exec rm -rf {} +
	return $rc
}
# A cross build (an arm64 kernel's metadata rebuilt on this host): the one
# difference tolerated is the cross gcc's Debian revision in
# CONFIG_CC_VERSION_TEXT (scripts/rust-meta.sh, cc_version_differs). Where
# the suite's cross gcc is the very build the kernel names (trixie's), there
# is nothing to tolerate and no difference may be recorded.
t_cross_cc_revision() {
	local log cc kernel_text cross_text
	log=$(cat "$userland"/var/cache/ashmem-linux/rust-meta/"$release"-*/build.log 2>/dev/null | grep '^cc-version-text differs: ' || true)
	kernel_text=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' "$userland$kdir/.config")
	cc=${kernel_text%% *}
	cross_text=$(in_userland "$cc" --version | head -n 1)
	echo "kernel: $kernel_text"
	echo "cross:  $cross_text"
	echo "${log:-no difference recorded in the rebuild log}"
	if [ "$kernel_text" = "$cross_text" ]; then
		[ -z "$log" ]
	else
		[ -n "$log" ] && [ "$(echo "$log" | wc -l)" = 1 ] && grep -q '< CONFIG_CC_VERSION_TEXT=.*> CONFIG_CC_VERSION_TEXT=' <<<"$log"
	fi
}
t_cc_other_release() {
	# Another upstream gcc release in the kernel's text: refused, as any other change.
	local rc=0
	refuses "make olddefconfig changed" \
		tampered "$kdir/.config" 's/^\(CONFIG_CC_VERSION_TEXT=".*(Debian \)[0-9.]*-\([^)]*) \)[0-9.]*"/\11.0.0-\21.0.0"/' \
		"$w/rust-meta.sh" "$kdir" || rc=1
	find "$userland/var/cache/ashmem-linux/rust-meta" -maxdepth 1 -name "$release-*" ! -exec test -f {}/.ready \; \
		-exec rm -rf {} +
	return $rc
}
t_no_compat_cc() {
	# The 32-bit vDSO's compiler (Debian installs only its versioned name) hidden.
	local cc
	cc=$(cd "$userland/usr/bin" && ls arm-linux-gnueabihf-gcc-[0-9]* | head -n 1)
	refuses "apt install gcc-${cc##*-}-arm-linux-gnueabihf" "$top/harness/debian-chroot.sh" "$userland" \
		sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "/usr/bin/$cc" "$w/rust-meta.sh" "$kdir"
}
t_source_version() { # REL HEADERS-VERSION SOURCE-PACKAGE OTHER-SOURCE-VERSION
	echo "headers linux-headers-$1 $2, $3 $(pkg_version "$3") installed"
	[ "$(pkg_version "$3")" = "$4" ] || { echo "the userland lacks $3=$4"; return 1; }
	refuses "apt install $3=$2" in_userland "$w/rust-meta.sh" "/usr/src/linux-headers-$1"
}

other=$("$top/harness/debian-kernel.sh" second "$suite")
cross=0
[ "$("$top/harness/debian-kernel.sh" arch "$suite")" = amd64 ] || cross=1
echo "# rust-meta: the Rust metadata rebuild's checks in a Debian $suite userland, for $release"
tap_plan $((4 + (${#other} > 0) + 3 * cross))
tap_case rebuilt_tree_is_cached_and_reused t_cached
tap_case refuses_a_rustc_other_than_the_kernels_and_names_the_package t_rustc
tap_case refuses_when_rebuilt_exports_differ_from_module_symvers t_symvers
tap_case refuses_when_olddefconfig_changes_the_headers_config t_olddefconfig
if [ "$cross" = 1 ]; then
	tap_case cross_build_tolerates_only_the_cross_gccs_debian_revision t_cross_cc_revision
	tap_case refuses_a_cc_version_text_of_another_gcc_release t_cc_other_release
	tap_case refuses_without_the_32_bit_vdso_compiler_and_names_its_package t_no_compat_cc
fi
if [ -n "$other" ]; then
	# shellcheck disable=SC2086
	tap_case refuses_a_linux_source_version_other_than_the_headers_and_names_it t_source_version $other
fi
rm -rf "${userland:?}$w"
