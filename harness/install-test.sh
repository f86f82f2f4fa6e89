#!/usr/bin/env bash
# `make install` / `make uninstall` into a DESTDIR and `make sign` with a
# throwaway key, against a built module, as TAP.
set -euo pipefail

usage() { echo "usage: $0 KDIR MO OUT   (MO: the directory holding the built ashmem_linux.ko)" >&2; exit 2; }
[ $# -eq 3 ] || usage
kdir=$(realpath "$1") mo=$(realpath "$2") out=$3
top=$(realpath "$(dirname "$0")/..")
# shellcheck source=harness/tap.sh
. "$top/harness/tap.sh"
kver=$(cat "$kdir/include/config/kernel.release")
w=$out/install-test
rm -rf "$w"
mkdir -p "$w/dest" "$w/sign"
mk() { make -s --no-print-directory -C "$top" KDIR="$kdir" "$@"; }

t_install() {
	local want got
	mk install MO="$mo" DESTDIR="$w/dest" &&
		want=$(printf '%s\n' "lib/modules/$kver/updates/ashmem_linux.ko" \
			usr/lib/modules-load.d/ashmem_linux.conf usr/lib/udev/rules.d/60-ashmem.rules \
			usr/libexec/ashmem_linux/waydroid-ashmem-entry | sort) &&
		got=$(cd "$w/dest" && find . -type f | sed 's|^\./||' | sort) &&
		echo "installed: $got" && [ "$got" = "$want" ] &&
		cmp "$mo/ashmem_linux.ko" "$w/dest/lib/modules/$kver/updates/ashmem_linux.ko"
}
t_udev() {
	grep -vE '^(#|$)' "$w/dest/usr/lib/udev/rules.d/60-ashmem.rules" |
		grep -E '^KERNEL=="ashmem", .*MODE="0666"'
}
t_modules_load() { [ "$(grep -vE '^(#|$)' "$w/dest/usr/lib/modules-load.d/ashmem_linux.conf")" = ashmem_linux ]; }
t_uninstall() {
	local left
	mk uninstall DESTDIR="$w/dest" && left=$(find "$w/dest" -type f) && echo "left: ${left:-nothing}" && [ -z "$left" ]
}
t_sign_needs_keys() { # refuses, and says what to set
	local msg
	! msg=$(mk sign MO="$w/sign" 2>&1) && echo "$msg" && grep -q 'SIGN_KEY' <<<"$msg"
}
# The kernel's sign-file: the test kernels have no CONFIG_MODULE_SIG, so their
# trees lack the binary; build it from the same tree's scripts/sign-file.c.
sign_file() {
	local f=$kdir/scripts/sign-file src
	[ -x "$f" ] && { echo "$f"; return; }
	src=$(realpath "$kdir/source")
	gcc -O2 -D__EXPORTED_HEADERS__ -I"$src/scripts" -I"$src/include/uapi" \
		-o "$w/sign-file" "$src/scripts/sign-file.c" -lcrypto >&2 && echo "$w/sign-file"
}
t_sign() {
	local signer sf
	sf=$(sign_file) && cp "$mo/ashmem_linux.ko" "$w/sign/" &&
		openssl req -new -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=ashmem_linux test key/" \
			-keyout "$w/key.pem" -outform DER -out "$w/cert.der" 2>/dev/null &&
		mk sign MO="$w/sign" SIGN_FILE="$sf" SIGN_KEY="$w/key.pem" SIGN_CERT="$w/cert.der" &&
		[ "$(tail -c 28 "$w/sign/ashmem_linux.ko")" = "~Module signature appended~" ] &&
		signer=$(modinfo -F signer "$w/sign/ashmem_linux.ko") && echo "signer: $signer" &&
		[ "$signer" = "ashmem_linux test key" ] &&
		[ "$(modinfo -F sig_hashalgo "$w/sign/ashmem_linux.ko")" = sha256 ]
}

echo "# packaging: make install/uninstall/sign on $kver"
tap_plan 6
tap_case make_install_destdir_layout t_install
tap_case udev_rule_gives_mode_0666 t_udev
tap_case modules_load_d_names_ashmem_linux t_modules_load
tap_case make_uninstall_removes_everything t_uninstall
tap_case make_sign_without_keys_says_what_to_set t_sign_needs_keys
tap_case make_sign_appends_a_sha256_signature t_sign
