#!/usr/bin/env bash
# DKMS on an arm64 Debian host, natively, as TAP ("# native-dkms: ..."): in
# the arm64 Debian userland of KERNEL (DEBIAN_NATIVE=1
# harness/debian-userland.sh: an arm64 debootstrap whose programs run here
# through QEMU's user-mode emulation), as a user of an arm64 machine runs
# them: `make host-check`, `make dkms-install` (DKMS's PRE_BUILD rebuilds the
# Rust metadata from linux-source with the native compilers and rustc),
# `make dkms-remove`, then `apt install` of the DKMS package (packaging/deb.sh
# dkms) and `apt purge`. The module must carry the kernel's vermagic and need
# only symbols Debian's kernel exports. Slow: every compiler runs emulated
# (the first metadata rebuild takes most of an hour here; docs/testing.md).
set -euo pipefail

usage() { echo "usage: $0 KERNEL OUT   (KERNEL: sid-arm64, sid-arm64-16k, trixie-arm64, trixie-arm64-16k)" >&2; exit 2; }
[ $# -eq 2 ] || usage
kernel=$1 out=$(realpath -m "$2")
case "$kernel" in *-arm64 | *-arm64-16k) ;; *) usage ;; esac
top=$(realpath "$(dirname "$0")/..")
# shellcheck source=harness/tap.sh
. "$top/harness/tap.sh"
export DEBIAN_NATIVE=1
userland=$("$top/harness/debian-userland.sh" "$kernel")
read -r release _ <<<"$("$top/harness/debian-kernel.sh" release "$kernel")"
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$top/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
in_userland() { "$top/harness/debian-chroot.sh" "$userland" "$@"; }
modtree=/lib/modules/$release
src=/usr/src/$name-$version
mkdir -p "$out/cases"
TAP_LOGDIR=$out/cases
timed() { local start=$SECONDS rc=0; "$@" || rc=$?; echo "took $((SECONDS - start)) s"; return "$rc"; }

# A clean host: nothing of an earlier run.
if in_userland dkms status -m "$name" | grep -q .; then in_userland dkms remove "$name/$version" --all >/dev/null; fi
in_userland sh -c 'dpkg -s "$1" >/dev/null 2>&1 && apt-get purge -y "$1" >/dev/null || true' sh "$name-dkms"
rm -rf "${userland:?}$src"

t_arch() {
	echo "uname -m in the userland: $(in_userland uname -m), dpkg: $(in_userland dpkg --print-architecture)"
	echo "$(in_userland rustc --version), $(in_userland sh -c 'aarch64-linux-gnu-gcc-* --version | head -n 1')"
	[ "$(in_userland dpkg --print-architecture)" = arm64 ]
}
t_host_check() {
	local log
	"$top/scripts/dkms.sh" source "$userland/usr/src" >/dev/null || return 1
	log=$(in_userland make -s -C "$src" host-check KDIR="$modtree/build" 2>&1) || { echo "$log"; return 1; }
	echo "$log"
	grep -q "rebuilt from linux-source-" <<<"$log"
}
t_dkms_install() {
	# A user's checkout of this tree (its files under git), from which dkms.sh copies the source to /usr/src.
	rm -rf "$userland/tmp/ashmem-checkout" "${userland:?}$src"
	mkdir -p "$userland/tmp/ashmem-checkout"
	(cd "$top" && git ls-files | cpio -pdm --quiet "$userland/tmp/ashmem-checkout") &&
		timed in_userland make -C /tmp/ashmem-checkout dkms-install KVER="$release" 2>&1 | tail -n 15 &&
		in_userland dkms status -m "$name" -v "$version" -k "$release" | grep -E ': installed$'
}
t_module() {
	local ko=$modtree/updates/dkms/ashmem_linux.ko vm undefined missing
	vm=$(in_userland modinfo -F vermagic "$ko") && echo "vermagic: $vm" &&
		[ "${vm%% *}" = "$release" ] && grep -q aarch64 <<<"$vm" || return 1
	undefined=$(in_userland nm -u "$ko" | awk '{ print $2 }' | sort -u)
	missing=$(comm -23 <(echo "$undefined") <(awk '{ print $2 }' "$userland$modtree/build/Module.symvers" | sort -u))
	echo "$(echo "$undefined" | wc -l) undefined symbols, $(echo "$undefined" | grep -c '^_R') of them Rust"
	[ -z "$missing" ] || { echo "not exported by the kernel: $missing"; return 1; }
}
t_dkms_remove() {
	in_userland make -C /tmp/ashmem-checkout dkms-remove &&
		in_userland rm -rf /tmp/ashmem-checkout &&
		[ -z "$(in_userland dkms status -m "$name")" ] && [ ! -e "$userland$src" ]
}
t_deb() {
	local deb log
	deb=$("$top/packaging/deb.sh" dkms "$top/build/deb" | grep '_all\.deb$') || return 1
	cp "$deb" "$userland/tmp/"
	log=$(timed in_userland apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" 2>&1) ||
		{ echo "$log" | tail -n 30; return 1; }
	echo "$log" | grep -E 'Building|Installing /|took' || true
	in_userland dkms status -m "$name" | tee "$out/dkms-status"
	grep -qx "$name/$version, $release, aarch64: installed" "$out/dkms-status"
}
t_purge() {
	in_userland apt-get purge -y "$name-dkms" >/dev/null &&
		[ -z "$(in_userland dkms status -m "$name")" ] &&
		! in_userland find "$modtree" -name 'ashmem_linux.ko*' | grep -q .
}

echo "# native-dkms: DKMS in an arm64 Debian ${kernel%%-*} userland (user-mode emulation), for $release"
tap_plan 7
tap_case userland_is_arm64_with_the_native_toolchain t_arch
tap_case make_host_check_names_the_rust_metadata_rebuild t_host_check
tap_case make_dkms_install_rebuilds_the_metadata_natively_and_installs t_dkms_install
tap_case module_has_the_kernels_vermagic_and_needs_only_its_exports t_module
tap_case make_dkms_remove_leaves_nothing t_dkms_remove
tap_case apt_install_of_the_dkms_package_builds_and_installs_natively t_deb
tap_case apt_purge_of_the_dkms_package_leaves_no_module t_purge
