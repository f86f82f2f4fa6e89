#!/usr/bin/env bash
# Secure Boot through Debian's real boot chain, as TAP ("# secureboot: ..."):
# UEFI firmware that enforces Secure Boot with Microsoft's keys (Debian's
# OVMF) starts Debian's signed shim, shim Debian's signed grub, grub
# Debian's signed kernel of SUITE, from a disk laid out as a user's
# (harness/debian-disk.sh: ESP, ext4 root holding SUITE's userland with the
# kernel installed by Debian's packages). Every binary of the chain is the
# archive's, never re-signed.
#
# On the host: in an overlay of the userland with that kernel installed,
# DKMS builds, signs (its own key, /var/lib/dkms/mok.key) and installs the
# module, as on a user's host; `make deb-prebuilt` builds the prebuilt
# package signed with a key made for the test (SIGN_KEY, SIGN_CERT). Then
# the guests, each a boot of the same disk with its own variable store
# (harness/efi-vars.sh, harness/efi-guest-run.sh):
#
# 1. DKMS's certificate written into MokList with virt-fw-vars: Secure Boot
#    on, the kernel locked down, booted through shim and grub, DKMS's key in
#    the .machine keyring; the DKMS module loads, passes the selftests
#    (64-bit and the load/unload tests); the unsigned module, one with a
#    flipped byte, one signed with another key and the prebuilt package's
#    module (its key not enrolled here) are refused with "Key was rejected
#    by service".
# 2. the prebuilt package's test certificate in MokList, DKMS's not: the
#    DKMS module is refused; the package installed with dpkg ships the
#    certificate, `mokutil --test-key` says it is enrolled, its module loads;
#    then, as a user enrolls DKMS's key: `mokutil --import` (a password).
# With MOKMANAGER=1 (`make check-secureboot`), from there as a user goes on:
# 3. the next boot: shim starts MokManager, which is answered at the serial
#    console (Enroll MOK, Continue, Yes, the password, Reboot); the store
#    then holds DKMS's key in MokList and no pending request;
# 4. the boot after: DKMS's key in the .machine keyring, its module loads,
#    the unsigned one is refused.
#
# OUT keeps the stores, each case's log (cases/), each guest's console
# (logs-*/), and the disk when a guest failed.
set -euo pipefail

usage() { echo "usage: $0 SUITE OUT   (SUITE: sid or trixie; env MOKMANAGER=1)" >&2; exit 2; }
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
read -r release _ <<<"$(harness/debian-kernel.sh release "$suite")"
modtree=/usr/lib/modules/$release
# The password a user types twice for mokutil and once in MokManager.
password=ashmem-mok-test
# What the guest finds where (the disk's test files, the job pieces).
t=/usr/lib/ashmem-test
keep=$out/keep payload=$out/payload
rm -rf "$out"
mkdir -p "$keep" "$out/cases" "$out/jobs" "$payload$t" "$payload/sig" "$payload/root" "$payload/usr/bin"
TAP_LOGDIR=$out/cases
start_all=$SECONDS
timed() { local start=$SECONDS rc=0; "$@" || rc=$?; echo "took $((SECONDS - start)) s"; return "$rc"; }
in_dkms() { harness/debian-chroot.sh --overlay "$out/ov-dkms" --layer "$(cat "$keep/kernel-layer")" "$userland" "$@"; }
subject() { openssl x509 -inform DER -in "$1" -noout -subject; }

t_kernel_layer() {
	# Debian's kernel installed by its packages; /boot/vmlinuz is the
	# archive's signed binary (the file harness/debian-kernel.sh boots).
	local layer archive
	layer=$(timed harness/debian-disk.sh kernel "$suite" mokutil keyutils) || return 1
	echo "$layer" | tail -n 1
	layer=$(echo "$layer" | head -n 1)
	archive=$(harness/debian-kernel.sh boot "$suite")/arch/x86/boot/bzImage
	sha256sum "$layer/boot/vmlinuz-$release" "$archive" "$layer/boot/initrd.img-$release"
	cmp "$layer/boot/vmlinuz-$release" "$archive" && echo "$layer" >"$keep/kernel-layer"
}
t_dkms() {
	# As on a user's host, in an overlay of the userland with the kernel
	# (a module another test registered in the shared userland goes first).
	local installed
	mkdir -p "$out/ov-dkms/upper/tmp/src"
	scripts/dkms.sh source "$out/ov-dkms/upper/tmp/src" >/dev/null
	in_dkms sh -c 'if dkms status -m "$1" | grep -q .; then dkms remove "$1/$2" --all; fi
		rm -rf /usr/src/"$1"-* && mv /tmp/src/"$1-$2" /usr/src/ &&
		dkms add -m "$1" -v "$2" && dkms install -m "$1" -v "$2" -k "$3"' sh "$name" "$version" "$release" ||
		{ tail -n 30 "$out/ov-dkms/upper/var/lib/dkms/$name/$version/build/make.log" 2>/dev/null; return 1; }
	installed=$(in_dkms modinfo -k "$release" -n ashmem_linux) && echo "installed: $installed"
	echo "signer: $(in_dkms modinfo -F signer "$installed")"
	in_dkms cat /var/lib/dkms/mok.pub >"$keep/dkms.der"
	echo "DKMS's certificate: $(subject "$keep/dkms.der")"
	in_dkms cat "$installed" >"$keep/dkms.ko.file"
	case "$installed" in
	*.xz) xz -dc "$keep/dkms.ko.file" >"$keep/dkms.ko" ;;
	*.zst) zstd -qdc "$keep/dkms.ko.file" >"$keep/dkms.ko" ;;
	*) cp "$keep/dkms.ko.file" "$keep/dkms.ko" ;;
	esac
	harness/module-sig.sh verify "$keep/dkms.ko" "$keep/dkms.der" &&
		echo "$installed" >"$keep/dkms-installed" &&
		sha256sum <"$keep/dkms.ko.file" | cut -d' ' -f1 >"$payload/ashmem_linux.sha256"
}
t_refused_modules() {
	# The module as built (no signature), with one signed byte flipped, and
	# signed with a key no one enrolled (the kernel's sign-file, in the userland).
	mkdir -p "$out/ov-dkms/upper/tmp"
	harness/module-sig.sh unsigned "$keep/dkms.ko" "$payload/sig/unsigned.ko" &&
		harness/module-sig.sh flip "$keep/dkms.ko" "$payload/sig/flipped.ko" &&
		openssl req -new -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=ashmem_linux key nobody enrolled/" \
			-keyout "$out/ov-dkms/upper/tmp/other.pem" -outform DER -out "$out/ov-dkms/upper/tmp/other.der" 2>/dev/null &&
		cp "$payload/sig/unsigned.ko" "$out/ov-dkms/upper/tmp/other-key.ko" &&
		in_dkms "/lib/modules/$release/build/scripts/sign-file" sha256 /tmp/other.pem /tmp/other.der /tmp/other-key.ko &&
		cp "$out/ov-dkms/upper/tmp/other-key.ko" "$payload/sig/other-key.ko" &&
		rm -f "$out/ov-dkms/upper/tmp"/other* &&
		echo "other key's signer: $(modinfo -F signer "$payload/sig/other-key.ko")"
}
t_prebuilt_signed() {
	# `make deb-prebuilt` with a key made for the test.
	local log deb
	openssl req -new -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=ashmem_linux prebuilt test key/" \
		-keyout "$keep/prebuilt-key.pem" -outform DER -out "$keep/prebuilt.der" 2>/dev/null
	log=$(timed make -s --no-print-directory deb-prebuilt SERIES="$suite" DEB_OUT="$out/deb" \
		SIGN_KEY="$keep/prebuilt-key.pem" SIGN_CERT="$keep/prebuilt.der" 2>&1) || { echo "$log" | tail -n 30; return 1; }
	echo "$log" | grep -E '^(deb: signing|took)' || true
	deb=$(grep -x "$out/deb/$name-modules-${release}_.*_amd64.deb" <<<"$log")
	dpkg-deb -x "$deb" "$keep/prebuilt-x"
	cmp "$keep/prebuilt-x/usr/share/ashmem-linux/mok.der" "$keep/prebuilt.der" &&
		echo "ships /usr/share/ashmem-linux/mok.der: $(subject "$keep/prebuilt.der")" &&
		echo "module signer: $(modinfo -F signer "$keep/prebuilt-x$modtree/updates/ashmem_linux.ko")" &&
		harness/module-sig.sh verify "$keep/prebuilt-x$modtree/updates/ashmem_linux.ko" "$keep/prebuilt.der" &&
		dpkg-deb -f "$deb" Description | grep -F 'mokutil --import /usr/share/ashmem-linux/mok.der' &&
		! grep -q '^E: ' "$out/deb/lintian-prebuilt-$suite.log" &&
		cp "$deb" "$keep/prebuilt.der" "$payload/root/" &&
		cp "$keep/prebuilt-x$modtree/updates/ashmem_linux.ko" "$payload/sig/prebuilt.ko" &&
		basename "$deb" >"$keep/prebuilt-deb"
}
t_disk() {
	# The test's files: the init and job pieces, the selftests (as
	# harness/check.sh builds them) and what selftests-job.sh reads.
	cp harness/guest/efi-init harness/guest/secureboot-job.sh harness/guest/sig-job.sh \
		harness/guest/selftests-job.sh harness/guest/tap.sh "$payload$t/"
	cp harness/guest/tap.sh "$payload/tap.sh"
	cp "$userland/lib/modules/$release/build/.config" "$payload/kernel.config"
	make --no-print-directory -C selftests/ashmem KSRC="$(harness/debian-kernel.sh ksrc "$suite")" \
		OUT="$out/selftests" >/dev/null &&
		mkdir -p "$payload/selftests" &&
		cp -r "$out/selftests/64" "$out/selftests/module" "$payload/selftests/" &&
		gcc -O2 -Wall -Werror -static -I selftests/ashmem -o "$payload/usr/bin/ashmem-user" harness/guest/ashmem-user.c &&
		APPEND="init=$t/efi-init panic=-1" timed harness/debian-disk.sh image "$out/disk.img" "$suite" \
			"$(cat "$keep/kernel-layer")" "$out/ov-dkms/upper" "$payload" &&
		sgdisk -p "$out/disk.img" | tail -n 3
}
t_vars() {
	harness/efi-vars.sh new "$suite" "$out/vars-dkms.fd" "$keep/dkms.der" &&
		harness/efi-vars.sh new "$suite" "$out/vars-prebuilt.fd" "$keep/prebuilt.der" &&
		harness/efi-vars.sh print "$suite" "$out/vars-dkms.fd" | grep -A3 '^name=MokList ' &&
		harness/efi-vars.sh print "$suite" "$out/vars-prebuilt.fd" | grep -A3 '^name=MokList '
}

echo "# secureboot: Debian $suite's boot chain and $release under Secure Boot: the host's part"
tap_plan 6
tap_case kernel_layer_boots_the_archives_signed_kernel t_kernel_layer
tap_case dkms_builds_signs_and_installs_the_module t_dkms
tap_case modules_for_the_refusals_unsigned_flipped_other_key t_refused_modules
tap_case make_deb_prebuilt_signs_with_a_given_key_and_ships_the_certificate t_prebuilt_signed
tap_case disk_image_with_esp_and_the_userland_as_root t_disk
tap_case variable_stores_with_a_certificate_in_moklist t_vars
echo "# secureboot: host part took $((SECONDS - start_all)) s"

rc=0
ready() { [ -s "$keep/dkms-installed" ] && [ -s "$keep/prebuilt-deb" ] && [ -f "$out/disk.img" ] && [ -f "$out/vars-prebuilt.fd" ]; }
if ! ready; then
	echo "# secureboot: no guest: a host case above failed"
	tap_one secureboot_guests_ran 1
	exit 1
fi

# A guest: a boot of the disk with the store VARS, running JOB; TAP "ok"
# when the run was clean (no kernel report, the job finished).
guest() { # NAME VARS TIMEOUT JOB-FILE
	local start=$SECONDS status=0
	TIMEOUT=$3 LOGDIR=$out/logs-$1 harness/efi-guest-run.sh "$suite" "$out/disk.img" "$2" "$4" || status=$?
	echo "# secureboot: guest $1 (took $((SECONDS - start)) s)"
	tap_one "guest_${1}_ran_clean" "$status" "efi-guest-run status $status, logs in $out/logs-$1"
	[ "$status" = 0 ] || rc=1
}
# sig-job.sh's cases ("NAME EXPECT FILE" lines) under TITLE.
sig_cases() { # TITLE CASE...
	printf 'echo "secureboot: %s" >/sig/title\n' "$1"
	shift
	printf "printf '%%s\\\\n' %s >/sig/cases\n" "$(printf '"%s" ' "$@")"
	echo "sh $t/sig-job.sh"
}
dkms_ko=$(cat "$keep/dkms-installed")
prebuilt_deb=/root/$(cat "$keep/prebuilt-deb")
dkms_cn=$(openssl x509 -inform DER -in "$keep/dkms.der" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')

{
	echo "sh $t/secureboot-job.sh state \"Debian's kernel through shim and grub, DKMS's key in MokList (virt-fw-vars)\" /var/lib/dkms/mok.pub /root/prebuilt.der"
	sig_cases "the DKMS module and the refused ones, DKMS's key enrolled" \
		"dkms_signed_key_enrolled loads $dkms_ko" "unsigned rejected /sig/unsigned.ko" \
		"flipped_byte rejected /sig/flipped.ko" "signed_with_a_key_not_enrolled rejected /sig/other-key.ko" \
		"prebuilt_test_key_not_enrolled rejected /sig/prebuilt.ko"
	# The selftests: modprobe as Waydroid does, the 64-bit programs, load/unload.
	echo "{ sh $t/selftests-job.sh; echo \$? >/tmp/selftests-status; } 2>&1 |"
	echo "	sed 's/^# \\(modprobe\\|kunit\\|selftest\\|kmemleak\\): /# secureboot: \\1: /'"
	echo '[ "$(cat /tmp/selftests-status)" = 0 ]'
} >"$out/jobs/dkms-enrolled.sh"
guest dkms-enrolled "$out/vars-dkms.fd" 900 "$out/jobs/dkms-enrolled.sh"

{
	echo "sh $t/secureboot-job.sh state \"the prebuilt package's test key in MokList, DKMS's not\" /root/prebuilt.der /var/lib/dkms/mok.pub"
	sig_cases "the DKMS module, its key not enrolled" "dkms_signed_key_not_enrolled rejected $dkms_ko"
	echo "sh $t/secureboot-job.sh prebuilt $prebuilt_deb /root/prebuilt.der"
	sig_cases "the prebuilt package's module, its test key enrolled" \
		"prebuilt_package_module_key_enrolled loads $modtree/updates/ashmem_linux.ko"
	echo "sh $t/secureboot-job.sh import /var/lib/dkms/mok.pub $password"
} >"$out/jobs/prebuilt-enrolled.sh"
guest prebuilt-enrolled "$out/vars-prebuilt.fd" 600 "$out/jobs/prebuilt-enrolled.sh"

if [ "${MOKMANAGER:-0}" = 1 ]; then
	# What a user sees and types at MokManager, over the serial console.
	printf '%s\t%s\n' \
		'Press any key to perform MOK management' ' ' \
		'Enroll MOK' '\e[B\r' \
		'View key 0' '\e[B\r' \
		'Enroll the key(s)?' '\e[B\r' \
		'Password:' "$password\\r" \
		'Reboot' '\r' >"$out/jobs/mokmanager.steps"
	start=$SECONDS
	status=0
	CONSOLE_STEPS=$out/jobs/mokmanager.steps TIMEOUT=300 LOGDIR=$out/logs-mokmanager \
		harness/efi-guest-run.sh "$suite" "$out/disk.img" "$out/vars-prebuilt.fd" || status=$?
	echo "# secureboot: MokManager, answered at the serial console (took $((SECONDS - start)) s)"
	echo "1..2"
	if [ "$status" = 0 ]; then
		echo "ok 1 mokmanager_enroll_mok_continue_yes_password_reboot"
	else
		echo "not ok 1 mokmanager_enroll_mok_continue_yes_password_reboot"
		echo "#   status $status, console in $out/logs-mokmanager"
		rc=1
	fi
	harness/efi-vars.sh print "$suite" "$out/vars-prebuilt.fd" >"$out/vars-after-mokmanager.txt" 2>&1 || true
	if grep -A12 '^name=MokList ' "$out/vars-after-mokmanager.txt" | grep -qF "subject CN=$dkms_cn" &&
		! grep -qE '^name=Mok(New|Auth) ' "$out/vars-after-mokmanager.txt"; then
		echo "ok 2 moklist_holds_dkms_key_and_no_request_is_pending"
	else
		echo "not ok 2 moklist_holds_dkms_key_and_no_request_is_pending"
		grep -E '^name=Mok|subject' "$out/vars-after-mokmanager.txt" | sed 's/^/#   /'
	fi
	{
		echo "sh $t/secureboot-job.sh state \"after MokManager: DKMS's key enrolled as a user does it\" \"/var/lib/dkms/mok.pub /root/prebuilt.der\" \"\""
		sig_cases "the DKMS module after MokManager" "dkms_signed_key_enrolled_by_mokmanager loads $dkms_ko" \
			"unsigned rejected /sig/unsigned.ko"
	} >"$out/jobs/after-mokmanager.sh"
	guest after-mokmanager "$out/vars-prebuilt.fd" 600 "$out/jobs/after-mokmanager.sh"
fi
echo "# secureboot: took $((SECONDS - start_all)) s in all"
# The disk (3 GB written) is kept only to look into a failure.
[ "$rc" != 0 ] || rm -f "$out/disk.img"
exit "$rc"
