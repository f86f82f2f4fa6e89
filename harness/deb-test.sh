#!/usr/bin/env bash
# The Debian packages as a user installs them, as TAP ("# deb: ..."), for the
# kernel of SUITE, in that suite's Debian userland (harness/debian-userland.sh)
# seen through throwaway overlays (harness/debian-chroot.sh --overlay), so the
# shared userland never changes:
#
# - `make deb` and `make deb-prebuilt` (packaging/deb.sh) build the packages,
#   lintian (sid's) reports no error;
# - `apt install ./ashmem-linux-dkms_*.deb` builds the module through DKMS for
#   the userland's kernel and installs it, signed with DKMS's key; its
#   Depends keep everything the Rust metadata rebuild needs; `apt purge`
#   leaves no file behind (file lists compared) and `dkms status` empty;
# - without the matching linux-source, DKMS stops and names the package;
# - with every compiler removed, apt resolves the prebuilt package to exactly
#   Debian's kernel package, and on a host with that kernel installs and
#   indexes the module; `apt purge` leaves nothing behind;
# - Debian's kernel binary in a QEMU guest loads the module of each package
#   as Waydroid does and runs the selftests: all of them on the prebuilt
#   module; on the DKMS package's module the quick programs when it has the
#   same bytes as harness/debian-dkms-test.sh's module (build/debian-RELEASE,
#   which check.sh's selftests guest runs every program on), else all
#   (DEB_SELFTESTS=all: always all);
# - the same kernel booted with module.sig_enforce=1 refuses both modules
#   (unsigned; signed by DKMS's key, which it does not trust) with
#   EKEYREJECTED.
#
# Packages go to build/deb (shared with `make deb`, rebuilt only when their
# inputs change). Each case's output is kept in OUT/cases/NAME.log.
set -euo pipefail

usage() { echo "usage: $0 SUITE OUT   (SUITE: sid or trixie; env DEB_SELFTESTS=all)" >&2; exit 2; }
[ $# -eq 2 ] || usage
suite=$1 out=$(realpath -m "$2")
case "$suite" in sid | trixie) ;; *) usage ;; esac
top=$(realpath "$(dirname "$0")/..")
cd "$top"
# shellcheck source=harness/tap.sh
. harness/tap.sh
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' dkms.conf)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
userland=$(harness/debian-userland.sh "$suite")
read -r release kver _ <<<"$(harness/debian-kernel.sh release "$suite")"
series=$(echo "$release" | cut -d. -f1,2)
pkgs=$top/build/deb
mkdir -p "$out"
rm -rf "$out"/ov-* "$out/keep" "$out/cases" "$out/guest-root" "$out/sig-root"
mkdir -p "$out/keep" "$out/cases"
TAP_LOGDIR=$out/cases

# COMMAND in the userland, its changes kept in the overlay OUT/ov-NAME.
in_ov() { local ov=$out/ov-$1; shift; harness/debian-chroot.sh --overlay "$ov" "$userland" "$@"; }
# A package file into the overlay's /tmp.
put() { in_ov "$1" sh -c 'cat >"$1"' sh "/tmp/$(basename "$2")" <"$2"; }
# Every path of the userland but the pseudo and scratch file systems.
file_list() { in_ov "$1" sh -c 'find / -xdev \( -path /tmp -o -path /run \) -prune -o -print | LC_ALL=C sort'; }
# What apt and dpkg write for any install or removal: their logs and state.
bookkeeping='^/var/(log|cache/apt|cache/debconf|cache/ldconfig|lib/apt|lib/dpkg)(/|$)|^/etc/ld\.so\.cache$'
# New paths after a purge, but apt's and dpkg's bookkeeping (and ALLOW, an ERE).
leftovers() { # BEFORE AFTER [ALLOW]
	comm -13 "$1" "$2" | grep -Ev "$bookkeeping" | { if [ -n "${3:-}" ]; then grep -Ev "$3"; else cat; fi; } || true
}
timed() { local start=$SECONDS rc=0; "$@" || rc=$?; echo "took $((SECONDS - start)) s"; return "$rc"; }
modtree=/lib/modules/$release
# The modules tree of the kernel in an overlay, as the guest's /lib/modules.
keep_modules() { # OVERLAY DEST MODULE-PATH
	mkdir -p "$2/modules/$release"
	in_ov "$1" tar -C "$modtree" -cf - modules.order modules.builtin modules.builtin.modinfo "${3#"$modtree/"}" |
		tar -C "$2/modules/$release" -xf - &&
		sha256sum <"$2/modules/$release/${3#"$modtree/"}" | cut -d' ' -f1 >"$2/ashmem_linux.sha256.new" &&
		mv "$2/ashmem_linux.sha256.new" "$2/ashmem_linux.sha256"
}
# The files (not directories) a package installed, while it is installed.
package_files() { # OVERLAY PACKAGE
	in_ov "$1" sh -c '[ "$(dpkg-query -W -f="\${db:Status-Abbrev}" "$1")" = "ii " ] || { echo "$1 is not installed" >&2; exit 1; }
		dpkg -L "$1" | while read -r f; do [ -d "$f" ] || echo "$f"; done' sh "$2"
}
# None of FILES may exist in the overlay any more.
none_left() { # OVERLAY FILES
	local left
	left=$(in_ov "$1" sh -c 'while read -r f; do [ ! -e "$f" ] || echo "$f"; done' <"$2")
	echo "files of the package still there: ${left:-none} (of $(wc -l <"$2"))"
	[ -z "$left" ]
}

# The packages.
t_deb_builds() {
	local log
	log=$(timed packaging/deb.sh dkms "$pkgs" 2>&1) || { echo "$log"; return 1; }
	echo "$log"
	dkms_deb=$(grep -x "$pkgs/${name}-dkms_${version}_all.deb" <<<"$log")
	echo "$dkms_deb" >"$out/keep/dkms-deb"
}
t_lintian() {
	cat "$pkgs/lintian-dkms.log"
	! grep -q '^E: ' "$pkgs/lintian-dkms.log"
}
t_deb_contents() {
	local deb contents depends
	deb=$(cat "$out/keep/dkms-deb")
	contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
	depends=$(dpkg-deb -f "$deb" Depends)
	echo "Depends: $depends"
	for f in "./usr/src/$name-$version/dkms.conf" "./usr/src/$name-$version/scripts/rust-meta.sh" \
		"./usr/src/$name-$version/rust/ashmem.rs" ./usr/lib/udev/rules.d/60-ashmem.rules \
		./usr/lib/modules-load.d/ashmem_linux.conf; do
		grep -qxF "$f" <<<"$contents" || { echo "missing $f"; return 1; }
		echo "has $f"
	done
	for d in dkms rustc rust-src bindgen libclang-dev; do
		grep -qE "(^|, )$d( |,|$)" <<<"$depends" || { echo "no Depends on $d"; return 1; }
	done
}
# A host with the one kernel: the headers of any other kernel (and another
# linux-source), a fixture of harness/rust-meta-test.sh, go first.
one_kernel() { # OVERLAY
	local others
	others=$(in_ov "$1" dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'linux-headers-*-amd64' 'linux-source-*' |
		awk -v h="linux-headers-$release" -v s="linux-source-$series" '$1 == "ii" && $2 != h && $2 != s { print $2 }')
	[ -z "$others" ] || { echo "a host with one kernel: removing $(echo $others)"; in_ov "$1" apt-get purge -y $others >/dev/null; }
}
t_apt_install_dkms() {
	local log deb
	deb=$(cat "$out/keep/dkms-deb")
	put dkms "$deb"
	one_kernel dkms
	file_list dkms >"$out/keep/dkms-before"
	# A user's system: everything there was pulled in for the kernel's
	# headers and source (so the Depends check below means something).
	in_ov dkms sh -c 'apt-mark auto $(dpkg-query -W -f="\${Package}\n") >/dev/null &&
		apt-mark manual "$1" "$2" >/dev/null' sh "linux-headers-$release" "linux-source-$series"
	log=$(timed in_ov dkms apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" 2>&1) ||
		{ echo "$log" | tail -n 40; return 1; }
	echo "$log" | grep -E 'Building for|Building initial|Signing module|Installing /|took' || true
	in_ov dkms dkms status -m "$name" | tee "$out/keep/dkms-status"
	grep -qx "$name/$version, $release, x86_64: installed" "$out/keep/dkms-status"
}
t_dkms_module() {
	local ko=$modtree/updates/dkms/ashmem_linux.ko vermagic signer
	vermagic=$(in_ov dkms modinfo -F vermagic "$ko") && echo "vermagic: $vermagic"
	signer=$(in_ov dkms modinfo -F signer "$ko") && echo "signer: $signer"
	echo "version: $(in_ov dkms modinfo -F version "$ko")"
	[ "${vermagic%% *}" = "$release" ] && [ -n "$signer" ] &&
		[ "$(in_ov dkms modinfo -F version "$ko")" = "$version" ] &&
		keep_modules dkms "$out/keep/dkms" "$ko"
}
t_dkms_signature_verifies() {
	# DKMS's signature, checked with openssl against DKMS's certificate.
	local ko=$out/keep/dkms/modules/$release/updates/dkms/ashmem_linux.ko
	in_ov dkms cat /var/lib/dkms/mok.pub >"$out/keep/mok.der"
	harness/module-sig.sh verify "$ko" "$out/keep/mok.der"
}
t_depends_cover_the_rebuild() {
	# What `apt autoremove` would remove now: none of what scripts/rust-meta.sh
	# and DKMS run may be among it (the list of harness/debian-userland.sh).
	local remove needed p bad=0
	remove=$(in_ov dkms apt-get -s autoremove | sed -n 's/^Remv \([^ ]*\) .*/\1/p')
	echo "apt-get autoremove would remove: $(echo $remove)"
	needed="dkms rustc rust-src bindgen libclang-dev make bc flex bison libelf-dev libssl-dev openssl dwarves xz-utils kmod python3"
	for p in $needed; do
		grep -qx "$p" <<<"$remove" && { echo "$p is needed but nothing depends on it"; bad=1; }
	done
	return $bad
}
t_apt_purge_dkms() {
	local pkg=$name-dkms left
	package_files dkms "$pkg" >"$out/keep/dkms-files" || return 1
	timed in_ov dkms apt-get purge -y "$pkg" | grep -E 'Purging|Removing|took' || true
	[ -z "$(in_ov dkms dkms status)" ] || { in_ov dkms dkms status; return 1; }
	echo "dkms status: empty"
	file_list dkms >"$out/keep/dkms-after"
	# DKMS's own key (made on first signing, for every module) is DKMS's.
	left=$(leftovers "$out/keep/dkms-before" "$out/keep/dkms-after" '^/var/lib/dkms/mok\.(key|pub)$')
	echo "paths new since before the install: ${left:-none}"
	echo "paths gone since before the install: $(comm -23 "$out/keep/dkms-before" "$out/keep/dkms-after" | grep -Ev "$bookkeeping" | wc -l), of them in the Rust metadata cache the purge removes: $(comm -23 "$out/keep/dkms-before" "$out/keep/dkms-after" | grep -c '^/var/cache/ashmem-linux' || true)"
	none_left dkms "$out/keep/dkms-files" && [ -z "$left" ]
}
t_missing_source() {
	local log rc=0 deb
	deb=$(cat "$out/keep/dkms-deb")
	put nosource "$deb"
	one_kernel nosource
	in_ov nosource dpkg --purge "linux-source-$series" >/dev/null
	log=$(in_ov nosource apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" 2>&1) || rc=$?
	echo "$log" | grep -A4 -E 'cannot build against|rror' | head -n 20
	echo "apt-get exit status $rc"
	[ "$rc" != 0 ] && grep -qF "linux-source-$series is not installed" <<<"$log" &&
		grep -qF "apt install linux-source-$series=$kver" <<<"$log"
}
t_prebuilt_builds() {
	local log
	log=$(timed packaging/deb.sh prebuilt "$pkgs" "$suite" 2>&1) || { echo "$log"; return 1; }
	echo "$log"
	grep -x "$pkgs/$name-modules-${release}_${version}+.*_amd64.deb" <<<"$log" >"$out/keep/prebuilt-deb"
	dpkg-deb -f "$(cat "$out/keep/prebuilt-deb")" Version Depends Conflicts
	dpkg-deb -f "$(cat "$out/keep/prebuilt-deb")" Depends | grep -qF "linux-binary-$release (= $kver)" &&
		! grep -q '^E: ' "$pkgs/lintian-prebuilt-$suite.log"
}
# The names of compiler programs.
compiler_re='^(cc|c89|c99|gcc|clang|rustc|cargo)(-[0-9.]+)?$|-linux-gnu-gcc'
compilers() { in_ov prebuilt sh -c 'ls /usr/bin /usr/local/bin | grep -E "$1" || true' sh "$compiler_re"; }
t_prebuilt_without_compiler() {
	local deb pkgs_cc
	deb=$(cat "$out/keep/prebuilt-deb")
	put prebuilt "$deb"
	# Every package with a compiler goes (and what needs them: DKMS, headers).
	pkgs_cc=$(in_ov prebuilt sh -c 'for f in $(ls /usr/bin | grep -E "$1"); do
		dpkg -S "$(readlink -f "/usr/bin/$f")" 2>/dev/null; done | cut -d: -f1 | sort -u' sh "$compiler_re")
	echo "removing $(echo $pkgs_cc) and what depends on them"
	# shellcheck disable=SC2086
	timed in_ov prebuilt apt-get purge -y --auto-remove $pkgs_cc | grep -E '^took' || true
	[ -z "$(compilers)" ] || { echo "compilers left: $(compilers)"; return 1; }
	echo "compilers on PATH: none"
	# apt resolves the package's dependency to exactly the kernel package.
	in_ov prebuilt apt-get install -s --no-install-recommends "/tmp/$(basename "$deb")" | tee "$out/keep/prebuilt-sim" | grep '^Inst'
	grep -q "^Inst linux-binary-$release ([^ ]*$kver " "$out/keep/prebuilt-sim"
}
t_prebuilt_installs() {
	local deb log
	deb=$(cat "$out/keep/prebuilt-deb")
	# The user's host runs that kernel: Debian's kernel package is installed,
	# and the index of its modules, which linux-modules-RELEASE's postinst
	# makes (a 110 MB package: its depmod is run here instead).
	timed in_ov prebuilt sh -c 'apt-get install -y --no-install-recommends "$1" >/dev/null && depmod -a "$2"' \
		sh "linux-binary-$release=$kver" "$release"
	file_list prebuilt >"$out/keep/prebuilt-before"
	log=$(timed in_ov prebuilt apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" 2>&1) ||
		{ echo "$log" | tail -n 30; return 1; }
	echo "$log" | grep -E '^(Setting up|took)' || true
	[ -z "$(compilers)" ] || { echo "installing it brought compilers: $(compilers)"; return 1; }
	echo "compilers on PATH: none"
}
t_prebuilt_module() {
	local ko path
	path=$(in_ov prebuilt modinfo -k "$release" -n ashmem_linux) && echo "modinfo -k $release -n ashmem_linux: $path"
	ko=$modtree/updates/ashmem_linux.ko
	echo "vermagic: $(in_ov prebuilt modinfo -F vermagic "$ko")"
	echo "signer: $(in_ov prebuilt modinfo -F signer "$ko")(none: not signed)"
	in_ov prebuilt grep "^updates/ashmem_linux.ko:" "$modtree/modules.dep" &&
		[ "$path" = "$ko" ] && [ -z "$(in_ov prebuilt modinfo -F signer "$ko")" ] &&
		keep_modules prebuilt "$out/keep/prebuilt" "$ko"
}
t_apt_purge_prebuilt() {
	local pkg=$name-modules-$release left
	package_files prebuilt "$pkg" >"$out/keep/prebuilt-files" || return 1
	timed in_ov prebuilt apt-get purge -y "$pkg" | grep -E '^(Purging|took)' || true
	in_ov prebuilt grep -c ashmem_linux "$modtree/modules.dep" | sed 's/^/modules.dep lines naming ashmem_linux: /' || true
	file_list prebuilt >"$out/keep/prebuilt-after"
	left=$(leftovers "$out/keep/prebuilt-before" "$out/keep/prebuilt-after")
	echo "paths new since before the install: ${left:-none}"
	none_left prebuilt "$out/keep/prebuilt-files" && [ -z "$left" ] &&
		! in_ov prebuilt grep -q ashmem_linux "$modtree/modules.dep"
}

echo "# deb: the Debian packages in a Debian $suite userland, for $release ($kver)"
tap_plan 14
tap_case make_deb_builds_ashmem_linux_dkms t_deb_builds
tap_case lintian_reports_no_errors_on_the_dkms_package t_lintian
tap_case dkms_package_holds_the_source_udev_rule_modules_load_and_depends t_deb_contents
tap_case apt_install_builds_and_installs_the_module_through_dkms t_apt_install_dkms
tap_case dkms_module_has_the_kernels_vermagic_and_dkms_signer t_dkms_module
tap_case dkms_signature_verifies_against_dkms_certificate t_dkms_signature_verifies
tap_case depends_keep_what_the_rust_metadata_rebuild_needs t_depends_cover_the_rebuild
tap_case apt_purge_dkms_package_leaves_nothing_and_dkms_status_empty t_apt_purge_dkms
tap_case without_linux_source_dkms_names_the_package_to_install t_missing_source
tap_case make_deb_prebuilt_builds_the_package_for_this_kernel_lintian_clean t_prebuilt_builds
tap_case without_compilers_apt_resolves_the_prebuilt_package_to_the_exact_kernel t_prebuilt_without_compiler
tap_case prebuilt_package_installs_with_no_compiler_present t_prebuilt_installs
tap_case prebuilt_module_is_indexed_for_the_kernel_and_unsigned t_prebuilt_module
tap_case apt_purge_prebuilt_package_leaves_nothing t_apt_purge_prebuilt

# The guests: Debian's kernel binary, kmod and config from the userland.
boot=$(harness/debian-kernel.sh boot "$suite")
guest_rc=0
if [ -f "$out/keep/prebuilt/ashmem_linux.sha256" ] && [ -f "$out/keep/dkms/ashmem_linux.sha256" ]; then
	rm -rf "$out/selftests"
	make --no-print-directory -C selftests/ashmem KSRC="$(harness/debian-kernel.sh ksrc "$suite")" \
		OUT="$out/selftests" >/dev/null
	root=$out/guest-root
	mkdir -p "$root/bin" "$root/packages"
	harness/guest-kmod.sh "$root" "$userland"
	cp "$userland$modtree/build/.config" "$root/kernel.config"
	gcc -O2 -Wall -Werror -static -I selftests/ashmem -o "$root/bin/ashmem-user" harness/guest/ashmem-user.c
	cp harness/guest/selftests-job.sh "$root/selftests-job.sh"
	cp harness/guest/tap.sh "$root/tap.sh"
	cp harness/guest/deb-job.sh "$root/job"
	# The DKMS package's module is built as harness/debian-dkms-test.sh's, whose
	# module check.sh's selftests guest runs every program on: when the bytes
	# are the same, the quick programs here are enough.
	ref=$top/build/debian-$release/guest/ashmem_linux.sha256
	full_dkms=1
	if [ "${DEB_SELFTESTS:-}" != all ] && [ -s "$ref" ] && cmp -s "$ref" "$out/keep/dkms/ashmem_linux.sha256"; then
		full_dkms=0
		echo "# deb: the DKMS package's module has the bytes of the module of ${ref#"$top/"} (all selftests run on that one): the quick programs here"
	fi
	for flavour in prebuilt dkms; do
		d=$root/packages/$flavour
		cp -a "$out/keep/$flavour" "$d"
		mkdir -p "$d/selftests"
		if [ "$flavour" = prebuilt ] || [ "$full_dkms" = 1 ]; then
			cp -r "$out/selftests/64" "$out/selftests/32" "$out/selftests/module" "$d/selftests/"
		else
			# The quick programs: the device, its ioctls, mapping, pinning, reading.
			mkdir -p "$d/selftests/64" "$d/selftests/32"
			for t in device ioctl mmap pin rw; do cp "$out/selftests/64/$t" "$d/selftests/64/"; done
			cp "$out/selftests/32/ioctl" "$d/selftests/32/"
			cp -r "$out/selftests/module" "$d/selftests/"
		fi
	done
	echo "prebuilt dkms" >"$root/packages/order"
	start=$SECONDS
	TIMEOUT=900 LOGDIR=$out/logs harness/guest-run.sh "$boot" "$root" || guest_rc=$?
	echo "# deb: Debian's kernel $release in a guest with each package's module (took $((SECONDS - start)) s)"
	clean=$guest_rc
	[ ! -s "$out/logs/splats" ] || clean=1
	tap_one guest_ran_both_packages_modules_with_no_kernel_report "$clean" \
		"guest-run status $guest_rc, logs (kernel reports in splats) in $out/logs"

	# module.sig_enforce=1: neither module is signed by a key the kernel trusts.
	sroot=$out/sig-root
	mkdir -p "$sroot/sig"
	harness/guest-kmod.sh "$sroot" "$userland"
	cp "$out/keep/prebuilt/modules/$release/updates/ashmem_linux.ko" "$sroot/sig/unsigned.ko"
	cp "$out/keep/dkms/modules/$release/updates/dkms/ashmem_linux.ko" "$sroot/sig/dkms-signed.ko"
	echo "deb: Debian's kernel $release booted with module.sig_enforce=1" >"$sroot/sig/title"
	printf '%s\n' "unsigned_prebuilt_module rejected /sig/unsigned.ko" \
		"dkms_signed_module_key_not_enrolled rejected /sig/dkms-signed.ko" >"$sroot/sig/cases"
	cp harness/guest/sig-job.sh "$sroot/job"
	start=$SECONDS
	rc=0
	GUEST_APPEND=module.sig_enforce=1 TIMEOUT=300 LOGDIR=$out/sig-logs harness/guest-run.sh "$boot" "$sroot" || rc=$?
	echo "# deb: sig_enforce guest (took $((SECONDS - start)) s)"
	tap_one sig_enforce_guest_ran_clean "$rc" "guest-run status $rc, logs in $out/sig-logs"
	[ "$rc" = 0 ] || guest_rc=1
else
	echo "# deb: no guest: a package's module is missing (see the cases above)"
	guest_rc=1
	tap_one packages_modules_in_debians_kernel "$guest_rc"
fi
exit $guest_rc
