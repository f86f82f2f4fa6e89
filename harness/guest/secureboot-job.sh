# Guest job pieces of harness/secureboot-test.sh, run on the Debian disk booted
# by UEFI firmware that enforces Secure Boot (Debian's shim, grub and kernel),
# with /usr/lib/ashmem-test/tap.sh beside this file. Each prints TAP headed
# "# secureboot: ...":
#
#   state TITLE ENROLLED NOT-ENROLLED
#       Secure Boot is on (firmware variable, kernel), the kernel is locked
#       down, shim started grub and grub started Debian's kernel; the key of
#       each certificate file in ENROLLED (space-separated) is in the
#       kernel's .machine keyring (MOK), as the kernel logged when loading
#       MokListRT, and those of NOT-ENROLLED are in no keyring
#   import CERT PASSWORD
#       `mokutil --import CERT` as a user runs it (the password typed twice),
#       then the request is pending (`mokutil --list-new` shows the key)
#   prebuilt DEB CERT
#       `dpkg -i DEB` (a prebuilt package, offline: its kernel is installed),
#       the package ships CERT at /usr/share/ashmem-linux/mok.der and
#       `mokutil --test-key` of it says enrolled (the caller loads its module)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
here=$(dirname "$0")
. "$here/tap.sh"
kver=$(uname -r)

cn() { openssl x509 -inform DER -in "$1" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p'; }
# The description the kernel gives an X.509 key: "CN: subject key id".
key_desc() {
	echo "$(cn "$1"): $(openssl x509 -inform DER -in "$1" -noout -ext subjectKeyIdentifier |
		sed -n 's/^ *\([0-9A-F:]*\)$/\1/p' | tr -d ':' | tr 'A-F' 'a-f')"
}

state() { # TITLE ENROLLED NOT-ENROLLED
	echo "# secureboot: $1"
	# shellcheck disable=SC2086
	set -- "$1" $2 -- $3
	shift
	count=0
	for c in "$@"; do [ "$c" = -- ] || count=$((count + 1)); done
	echo "1..$((3 + count))"
	n=0
	dmesg | grep -E 'Secure boot|secureboot|locked down|MokListRT|Loaded X.509 cert|Command line' | sed 's/^/#   console: /'
	echo "#   mokutil --sb-state: $(mokutil --sb-state 2>&1)"
	echo "#   /sys/kernel/security/lockdown: $(cat /sys/kernel/security/lockdown)"
	keyctl rlist %:.machine 2>/dev/null | tr ' ' '\n' | while read -r id; do
		echo "#   .machine keyring: $(keyctl describe "$id")"
	done
	check firmware_secure_boot_on sh -c 'mokutil --sb-state | grep -x "SecureBoot enabled"'
	check kernel_secure_boot_enabled_and_locked_down sh -c '
		dmesg | grep "secureboot: Secure boot enabled" &&
		dmesg | grep "Kernel is locked down from EFI Secure Boot" &&
		grep -F "[integrity]" /sys/kernel/security/lockdown'
	# shim hands MokListRT to the kernel (with Debian's CA, shim's vendor
	# certificate); grub names the image it loaded.
	check booted_through_shim_and_grub sh -c '
		dmesg | grep "integrity: Loading X.509 certificate: UEFI:MokListRT" &&
		dmesg | grep "Loaded X.509 cert '\''Debian Secure Boot CA" &&
		grep "^BOOT_IMAGE=/boot/vmlinuz-$1 " /proc/cmdline' sh "$kver"
	want=enrolled
	for c in "$@"; do
		if [ "$c" = -- ]; then want=not_enrolled; continue; fi
		name=$(cn "$c" | tr -c 'A-Za-z0-9\n' _)
		desc=$(key_desc "$c")
		echo "#   $c: $desc"
		if [ "$want" = enrolled ]; then
			check "key_in_machine_keyring_$name" sh -c '
				in_mok=$(dmesg | grep -F "integrity: Loaded X.509 cert '\''$1'\''") && echo "$in_mok" &&
				keyctl rlist %:.machine | tr " " "\n" | while read -r id; do keyctl describe "$id"; done | grep -F "$1"
				' sh "$desc"
		else
			check "key_in_no_keyring_$name" sh -c '
				! grep -F "$1" /proc/keys && ! dmesg | grep -F "Loaded X.509 cert '\''$1'\''"' sh "$desc"
		fi
	done
}

import() { # CERT PASSWORD
	echo "# secureboot: mokutil --import $1, as a user enrolls a key"
	echo "1..2"
	n=0
	check mokutil_import_asks_the_password_twice sh -c 'printf "%s\n%s\n" "$2" "$2" | mokutil --import "$1"' sh "$1" "$2"
	check mokutil_list_new_shows_the_key sh -c 'mokutil --list-new | grep -F "CN=$1"' sh "$(cn "$1")"
}

prebuilt() { # DEB CERT
	echo "# secureboot: the prebuilt package signed with a test key: $(basename "$1")"
	echo "1..3"
	n=0
	check dpkg_installs_the_prebuilt_package sh -c 'dpkg -i "$1"' sh "$1"
	check package_ships_the_certificate sh -c 'cmp /usr/share/ashmem-linux/mok.der "$1" && dpkg -S /usr/share/ashmem-linux/mok.der' sh "$2"
	check mokutil_test_key_says_enrolled sh -c 'mokutil --test-key /usr/share/ashmem-linux/mok.der | grep "is already enrolled"'
}

case "${1:-}" in
state) [ $# -eq 4 ] || exit 2; state "$2" "$3" "$4" ;;
import) [ $# -eq 3 ] || exit 2; import "$2" "$3" ;;
prebuilt) [ $# -eq 3 ] || exit 2; prebuilt "$2" "$3" ;;
*) echo "usage: secureboot-job.sh state TITLE ENROLLED NOT-ENROLLED | import CERT PASSWORD | prebuilt DEB CERT" >&2; exit 2 ;;
esac
