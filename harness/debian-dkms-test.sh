#!/usr/bin/env bash
# DKMS on a stock Debian host, as TAP: in the Debian userland of SUITE
# (harness/debian-userland.sh: only Debian packages), this project's DKMS
# source goes to /usr/src, `make host-check` names the path, and `dkms
# install` for Debian's kernel rebuilds the Rust metadata the headers lack
# (scripts/rust-meta.sh, from linux-source) and builds, signs and installs the
# module. The module must carry the kernel's vermagic and need only symbols
# Debian's kernel exports; it must also build with warnings as errors with
# the suite's rustc. Where the suite has a second kernel whose linux-source
# version apt no longer offers, `dkms autoinstall` for it must count the module
# as skipped and succeed. Then `dkms remove` must leave nothing behind.
#
# The installed module is kept for the guest, as the modules tree it would be
# on that host: OUT/guest/lib/modules/RELEASE (modules.* from the headers
# package, updates/dkms/ashmem_linux.ko) and OUT/guest/ashmem_linux.sha256.
set -euo pipefail

usage() { echo "usage: $0 SUITE OUT   (SUITE: sid or trixie, or either with -arm64 or -arm64-16k)" >&2; exit 2; }
[ $# -eq 2 ] || usage
suite=$1 out=$(realpath -m "$2")
top=$(realpath "$(dirname "$0")/..")
# shellcheck source=harness/tap.sh
. "$top/harness/tap.sh"
userland=$("$top/harness/debian-userland.sh" "$suite")
read -r release _ <<<"$("$top/harness/debian-kernel.sh" release "$suite")"
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$top/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
in_userland() { "$top/harness/debian-chroot.sh" "$userland" "$@"; }
modtree=/lib/modules/$release
# The kernel's binutils: an arm64 kernel's module is read with the cross nm.
nm="nm"
[ "$("$top/harness/debian-kernel.sh" arch "$suite")" = amd64 ] || nm=aarch64-linux-gnu-nm
installed=$modtree/updates/dkms/ashmem_linux.ko
mkdir -p "$out"
rm -rf "$out/guest"

# A clean host: no registration, no source copy left by an earlier run.
if in_userland dkms status -m "$name" | grep -q .; then in_userland dkms remove "$name/$version" --all >/dev/null; fi
rm -rf "$userland/usr/src/$name-"*

t_add() {
	"$top/scripts/dkms.sh" source "$userland/usr/src" &&
		in_userland dkms add -m "$name" -v "$version" &&
		in_userland dkms status -m "$name" | grep -x "$name/$version: added"
}
t_host_check() {
	local log
	log=$(in_userland make -s -C "/usr/src/$name-$version" host-check KDIR="$modtree/build" 2>&1) || {
		echo "$log"
		return 1
	}
	echo "$log"
	grep -q "rebuilt from linux-source-" <<<"$log"
}
t_build() {
	local start=$SECONDS
	in_userland dkms build -m "$name" -v "$version" -k "$release" || {
		cat "$userland/var/lib/dkms/$name/$version/build/make.log" 2>/dev/null | tail -n 30
		return 1
	}
	echo "dkms build took $((SECONDS - start)) s (the Rust metadata rebuild included when it was not cached)"
	cat "$userland"/var/cache/ashmem-linux/rust-meta/"$release"-*/versions
	in_userland dkms status -m "$name" -v "$version" -k "$release" | grep -F "$name/$version, $release, " | grep ': built$'
}
t_install() {
	in_userland dkms install -m "$name" -v "$version" -k "$release" &&
		in_userland dkms status -m "$name" -v "$version" -k "$release" | grep -F "$name/$version, $release, " | grep ': installed$' &&
		test -f "$userland$installed"
}
t_vermagic() {
	local vm
	vm=$(in_userland modinfo -F vermagic "$installed") && echo "vermagic: $vm" &&
		[ "${vm%% *}" = "$release" ] &&
		[ "$(in_userland modinfo -F version "$installed")" = "$version" ]
}
t_symbols() {
	# Every symbol the module needs is exported by Debian's kernel (its Module.symvers).
	local undefined missing
	undefined=$(in_userland "$nm" -u "$installed" | awk '{ print $2 }' | sort -u)
	missing=$(comm -23 <(echo "$undefined") <(awk '{ print $2 }' "$userland$modtree/build/Module.symvers" | sort -u))
	echo "$(echo "$undefined" | wc -l) undefined symbols, $(echo "$undefined" | grep -c '^_R') of them Rust"
	[ -z "$missing" ] || { echo "not exported by the kernel: $missing"; return 1; }
}
t_signed() {
	# DKMS signed it with its own key (/var/lib/dkms/mok.key), as on a Secure Boot host.
	local signer
	signer=$(in_userland modinfo -F signer "$installed") && echo "signer: $signer" && [ -n "$signer" ]
}
t_werror() {
	"$top/harness/debian-module.sh" "$suite" "$out/werror" >/dev/null 2>"$out/werror.log" ||
		{ tail -n 30 "$out/werror.log"; return 1; }
	echo "built with $(in_userland rustc --version), KRUSTFLAGS=-Dwarnings KCFLAGS=-Werror"
}
t_skip_source_gone() { # RELEASE HEADERS-VERSION SOURCE-PACKAGE SOURCE-VERSION of a second kernel
	# A kernel whose linux-source version left the archive (apt sources that
	# offer nothing). PRE_BUILD exits 77: `dkms build` passes the 77 on (the
	# package's postinst skips that kernel on it), and `dkms autoinstall`, as
	# a kernel package's postinst hook runs it, counts the module as skipped
	# and succeeds.
	local w=/tmp/ashmem-dkms-source-gone rc=0 build_rc=0 log
	mkdir -p "$userland$w/lists/partial"
	printf 'Dir::State::Lists "%s";\nDir::Etc::SourceList "/dev/null";\nDir::Etc::SourceParts "/nonexistent";\n' \
		"$w/lists" >"$userland$w/apt.conf"
	in_userland env APT_CONFIG="$w/apt.conf" dkms build -m "$name" -v "$version" -k "$1" >/dev/null 2>&1 ||
		build_rc=$?
	echo "dkms build: exit status $build_rc"
	log=$(in_userland env APT_CONFIG="$w/apt.conf" dkms autoinstall -k "$1" 2>&1) || rc=$?
	rm -rf "${userland:?}$w"
	echo "$log"
	echo "dkms autoinstall: exit status $rc"
	grep -F "skipping $1: $3 $2" "$userland/var/lib/dkms/$name/$version/build/make.log" || return 1
	[ "$build_rc" = 77 ] && [ "$rc" = 0 ] &&
		grep -qF "Autoinstall on $1 was skipped for module(s) $name." <<<"$log" &&
		! in_userland dkms status -m "$name" -k "$1" | grep -F ", $1, " | grep -qE ': (built|installed)$'
}
t_keep() { # the installed tree, as the guest's /lib/modules
	local g=$out/guest/lib/modules/$release
	mkdir -p "$g/updates/dkms" &&
		cp "$userland$modtree"/modules.order "$userland$modtree"/modules.builtin* "$g/" &&
		cp "$userland$installed" "$g/updates/dkms/" &&
		sha256sum <"$userland$installed" | cut -d' ' -f1 >"$out/guest/ashmem_linux.sha256"
}
t_remove() {
	local left
	in_userland dkms remove "$name/$version" --all &&
		rm -rf "$userland/usr/src/$name-$version" &&
		[ -z "$(in_userland dkms status -m "$name")" ] &&
		left=$(cd "$userland" && find var/lib/dkms "${modtree#/}" usr/src -name '*ashmem*' 2>/dev/null || true) &&
		echo "left behind: ${left:-nothing}" && [ -z "$left" ]
}

other=$("$top/harness/debian-kernel.sh" second "$suite")
echo "# debian-dkms: $name/$version in a Debian $suite userland, for $release"
if [ -n "$other" ]; then tap_plan 11; else tap_plan 10; fi
tap_case dkms_add_from_usr_src t_add
tap_case make_host_check_names_the_rust_metadata_rebuild t_host_check
tap_case dkms_build_rebuilds_rust_metadata_from_linux_source_and_builds t_build
# The proof the build stood on: the rebuilt crates' exports, compared with
# the headers' Module.symvers by scripts/rust-meta.sh (it refuses otherwise).
for e in "$userland"/var/cache/ashmem-linux/rust-meta/"$release"-*/exports; do
	[ -f "$e" ] || continue
	echo "# $release: $(wc -l <"$e") Rust exports rebuilt ($(grep -c '^_R' "$e") _R, $(grep -c '^rust_helper_' "$e") rust_helper_), $(awk '$2 ~ /^(_R|rust_helper_)/' "$userland$modtree/build/Module.symvers" | wc -l) in Module.symvers, $(comm -3 "$e" <(awk '$2 ~ /^(_R|rust_helper_)/ { print $2 }' "$userland$modtree/build/Module.symvers" | sort -u) | wc -l) differ"
done
tap_case dkms_install_into_updates_dkms t_install
tap_case module_vermagic_is_the_debian_kernel_release t_vermagic
tap_case module_needs_only_symbols_the_debian_kernel_exports t_symbols
tap_case dkms_signs_the_module_with_its_mok_key t_signed
tap_case module_builds_with_warnings_as_errors_with_the_suites_rustc t_werror
if [ -n "$other" ]; then
	# shellcheck disable=SC2086
	tap_case dkms_autoinstall_skips_a_kernel_whose_linux_source_left_the_archive t_skip_source_gone $other
fi
tap_case installed_module_kept_for_the_guest t_keep
tap_case dkms_remove_leaves_nothing_behind t_remove
