#!/usr/bin/env bash
# The DKMS lifecycle against a test kernel tree, as TAP: add, the refusals
# (no CONFIG_RUST, no Rust metadata, wrong rustc), build, install over an
# in-tree module of the same name, status, uninstall, remove, and nothing left
# behind; then `make dkms-install` / `make dkms-remove`.
#
# Everything happens in private trees under OUT (dkms --dkmstree,
# --installtree, --kernelsourcedir): the host's /var/lib/dkms, /usr/src and
# /lib/modules are not touched, and a case checks that. The modules tree DKMS
# installed (its module under updates/, the stand-in under kernel/) is kept in
# OUT/guest/lib/modules for the guest, which loads it with modprobe.
set -euo pipefail

usage() { echo "usage: $0 KDIR OUT" >&2; exit 2; }
[ $# -eq 2 ] || usage
kdir=$(realpath "$1") out=$2
top=$(realpath "$(dirname "$0")/..")
# shellcheck source=harness/tap.sh
. "$top/harness/tap.sh"
command -v dkms >/dev/null || { echo "dkms-test: dkms is not installed (harness/deps.sh installs it)" >&2; exit 1; }

kver=$(cat "$kdir/include/config/kernel.release")
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$top/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
arch=$(uname -m)
w=$out/dkms-test
rm -rf "$w" "$out/guest"
mkdir -p "$w/dkms" "$w/src" "$w/root/lib/modules/$kver" "$w/fake"
modtree=$w/root/lib/modules/$kver
opts=(--dkmstree "$w/dkms" --sourcetree "$w/src" --installtree "$w/root/lib/modules" --no-depmod)
mv=(-m "$name" -v "$version")
dk() { dkms "${opts[@]}" "$@"; }
status() { dk status "${mv[@]}" 2>/dev/null; }
# The status is exactly LINE (shown in the case's log).
status_is() { local s; s=$(status); echo "dkms status: ${s:-(empty)}"; [ "$s" = "$1" ]; }
# What the host has before: nothing of ours may appear there.
host_state() { find /var/lib/dkms /usr/src /lib/modules -maxdepth 4 -name '*ashmem*' 2>/dev/null | sort; ls -a /var/lib/dkms 2>/dev/null; }
host_before=$(host_state)

# An in-tree ashmem_linux (no version), as an older kernel would carry; built
# with the kernel's compiler (clang for the debug kernel).
llvm=()
! grep -qx 'CONFIG_CC_IS_CLANG=y' "$kdir/.config" || llvm=(LLVM=1)
make -s -C "$kdir" "${llvm[@]}" M="$top/harness/decoy" MO="$w/decoy" modules >"$w/decoy.log" 2>&1 ||
	{ cat "$w/decoy.log" >&2; exit 1; }
decoy=$modtree/kernel/drivers/staging/android/ashmem_linux.ko
install -D -m 0644 "$w/decoy/ashmem_linux.ko" "$decoy"

# Kernel trees DKMS must refuse, each missing one piece.
fake_tree() { # DIR CONFIG-LINES...
	local d=$1
	shift
	mkdir -p "$d/include/config"
	echo "# not a kernel" >"$d/Makefile"
	printf '%s\n' "$@" >"$d/.config"
	echo "${d##*/}" >"$d/include/config/kernel.release"
}
fake_tree "$w/fake/7.0.0-norust" CONFIG_MODULES=y CONFIG_SHMEM=y
fake_tree "$w/fake/7.0.0-nometa" CONFIG_MODULES=y CONFIG_SHMEM=y CONFIG_RUST=y \
	'CONFIG_RUSTC_VERSION_TEXT="rustc 1.0.0 (fake)"'
fake_tree "$w/fake/7.0.0-oldrustc" CONFIG_MODULES=y CONFIG_SHMEM=y CONFIG_RUST=y \
	'CONFIG_RUSTC_VERSION_TEXT="rustc 1.0.0 (fake)"'
d=$w/fake/7.0.0-oldrustc
mkdir -p "$d/rust" "$d/include/generated"
touch "$d/rust/libkernel.rmeta" "$d/rust/libcore.rmeta" "$d/rust/libmacros.so" \
	"$d/include/generated/rustc_cfg" "$d/Module.symvers"

refused() { # KVER EXPECTED-STATUS TEXT: dkms build fails so, and says TEXT
	local rc=0 log
	log=$(dk build "${mv[@]}" -k "$1" --kernelsourcedir "$w/fake/$1" 2>&1) || rc=$?
	echo "$log"
	echo "dkms build exited $rc"
	case "$2" in
	any) [ "$rc" != 0 ] ;;
	*) [ "$rc" = "$2" ] ;;
	esac && grep -qF "$3" <<<"$log" && ! status | grep -q "$1"
}

# What dkms.conf declares (Debian's DKMS overrides the location with
# /updates/dkms, so the install cases alone would not see a wrong one).
t_conf() (
	# shellcheck disable=SC1091
	kernelver=$kver kernel_source_dir=$kdir . "$top/dkms.conf" &&
		echo "DEST_MODULE_LOCATION=${DEST_MODULE_LOCATION[0]} AUTOINSTALL=$AUTOINSTALL BUILD_EXCLUSIVE_CONFIG=$BUILD_EXCLUSIVE_CONFIG" &&
		[ "${DEST_MODULE_LOCATION[0]}" = /updates ] && [ "$AUTOINSTALL" = yes ] &&
		[ "${BUILT_MODULE_NAME[0]}" = ashmem_linux ] && [ "$PACKAGE_NAME" = ashmem-linux ] &&
		[[ " $BUILD_EXCLUSIVE_CONFIG " = *" CONFIG_RUST "* ]] && [[ " $BUILD_EXCLUSIVE_CONFIG " = *" CONFIG_SHMEM "* ]]
)
t_add() { dk add "${mv[@]}" && status_is "$name/$version: added"; }
t_build() {
	dk build "${mv[@]}" -k "$kver" --kernelsourcedir "$kdir" &&
		status_is "$name/$version, $kver, $arch: built" &&
		[ -f "$w/dkms/$name/$version/$kver/$arch/module/ashmem_linux.ko" ]
}
t_vermagic() {
	local m=$w/dkms/$name/$version/$kver/$arch/module/ashmem_linux.ko
	local vm
	vm=$(modinfo -F vermagic "$m") && echo "vermagic: $vm" && [ "${vm%% *}" = "$kver" ] &&
		[ "$(modinfo -F version "$m")" = "$version" ]
}
t_install() {
	dk install "${mv[@]}" -k "$kver" --kernelsourcedir "$kdir" &&
		find "$modtree/updates" -name ashmem_linux.ko | grep . &&
		[ -f "$decoy" ]
}
t_status() { status_is "$name/$version, $kver, $arch: installed"; }
t_same() {
	local inst
	inst=$(find "$modtree/updates" -name ashmem_linux.ko) &&
		cmp "$w/dkms/$name/$version/$kver/$arch/module/ashmem_linux.ko" "$inst"
}
t_depmod() { # depmod on a copy (the guest's tree) picks updates/ over kernel/
	local g=$out/guest
	mkdir -p "$g/lib/modules" &&
		cp -a "$modtree" "$g/lib/modules/" &&
		depmod -b "$g" "$kver" &&
		modinfo -b "$g" -k "$kver" -n ashmem_linux | grep "/updates/" &&
		sha256sum <"$(find "$g/lib/modules/$kver/updates" -name ashmem_linux.ko)" | cut -d' ' -f1 >"$g/ashmem_linux.sha256" &&
		rm -f "$g/lib/modules/$kver"/modules.*
}
t_uninstall() {
	dk uninstall "${mv[@]}" -k "$kver" &&
		status_is "$name/$version, $kver, $arch: built" &&
		[ -z "$(find "$modtree" -path '*/updates*')" ] && [ -f "$decoy" ]
}
# What a package manager does on removal: dkms remove, then delete the source.
t_remove() { dk remove "${mv[@]}" --all && status_is "" && rm -r "$w/src/$name-$version"; }
t_clean() {
	local left
	left=$(find "$w/dkms" "$w/src" "$modtree" -mindepth 1 ! -path "$modtree/kernel*")
	echo "left behind: ${left:-nothing}"
	echo "host before: $host_before"
	echo "host after:  $(host_state)"
	[ -z "$left" ] && [ "$(host_state)" = "$host_before" ]
}
t_make() { # the Makefile's front door, into the same private trees
	local env=(KVER="$kver" SRCTREE="$w/src"
		DKMS_OPTS="--dkmstree $w/dkms --installtree $w/root/lib/modules --no-depmod --kernelsourcedir $kdir")
	env "${env[@]}" make -s -C "$top" dkms-install &&
		status_is "$name/$version, $kver, $arch: installed" &&
		[ -d "$w/src/$name-$version" ] &&
		env "${env[@]}" make -s -C "$top" dkms-remove &&
		[ -z "$(status)" ] && [ ! -e "$w/src/$name-$version" ] &&
		[ -z "$(find "$w/dkms" "$modtree" -mindepth 1 ! -path "$modtree/kernel*")" ]
}

echo "# dkms: $name/$version on $kver"
tap_plan 15
scripts_src=$("$top/scripts/dkms.sh" source "$w/src")
echo "# source tree $scripts_src"
tap_case dkms_conf_updates_autoinstall_rust_and_shmem_only t_conf
tap_case dkms_add t_add
tap_case dkms_build_skips_kernel_without_CONFIG_RUST refused 7.0.0-norust 77 BUILD_EXCLUSIVE
tap_case dkms_build_names_missing_rust_metadata refused 7.0.0-nometa any "has no Rust metadata"
tap_case dkms_build_names_the_rustc_to_install refused 7.0.0-oldrustc any "rustup toolchain install 1.0.0"
tap_case dkms_build t_build
tap_case dkms_module_vermagic_and_version t_vermagic
tap_case dkms_install_over_same_named_in_tree_module t_install
tap_case dkms_status_installed t_status
tap_case dkms_installed_module_is_the_built_one t_same
tap_case depmod_prefers_updates_over_in_tree t_depmod
tap_case dkms_uninstall_keeps_in_tree_module t_uninstall
tap_case dkms_remove t_remove
tap_case dkms_leaves_nothing_behind t_clean
tap_case make_dkms_install_and_dkms_remove t_make
