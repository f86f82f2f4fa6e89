#!/usr/bin/env bash
# Print a directory holding Debian's UEFI Secure Boot chain of SUITE (sid or
# trixie), the exact files of the archive's packages (downloaded with the
# private apt configuration of harness/debian-apt.sh, unpacked, never
# installed on the host), cached by the packages' versions:
#
#   OVMF_CODE_4M.secboot.fd   UEFI firmware for QEMU q35 that enforces Secure
#   OVMF_VARS_4M.ms.fd        Boot, and its variable store with Microsoft's
#                             KEK and db enrolled, Secure Boot on
#                             (ovmf-generic in sid, ovmf in trixie)
#   shimx64.efi               Debian's shim, signed by Microsoft (shim-signed)
#   mmx64.efi                 MokManager, signed by Debian (shim-helpers-amd64-signed)
#   grubx64.efi               Debian's grub, signed by Debian (grub-efi-amd64-signed)
#   versions                  "PACKAGE=VERSION" of each
set -euo pipefail

usage() { echo "usage: $0 SUITE   (sid or trixie)" >&2; exit 2; }
[ $# -eq 1 ] || usage
suite=$1
case "$suite" in sid | trixie) ;; *) usage ;; esac
here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/debian-apt.sh
. "$here/debian-apt.sh"
debian_apt_init

# The firmware images moved from ovmf to ovmf-generic (sid); trixie's ovmf
# still holds them.
packages=(ovmf-generic ovmf shim-signed shim-helpers-amd64-signed grub-efi-amd64-signed)
pins=$(apt-cache "${apt_opts[@]}" madison "${packages[@]}" | tr -d ' ' |
	awk -F'|' -v s="$suite/main" 'index($3, s) && !seen[$1]++ { print $1 "=" $2 }')
grep -q '^ovmf-generic=' <<<"$pins" && pins=$(grep -v '^ovmf=' <<<"$pins")
for p in shim-signed shim-helpers-amd64-signed grub-efi-amd64-signed; do
	grep -q "^$p=" <<<"$pins" || { echo "debian-efi: no $p in $suite" >&2; exit 1; }
done
dest=$debian_cache/efi/$suite-$(echo "$pins" | sha256sum | cut -c1-12)
mkdir -p "$debian_cache/efi"
exec 9>"$dest.lock"
flock 9
if [ ! -f "$dest/.ready" ]; then
	echo "debian-efi: fetching $(echo $pins)" >&2
	rm -rf "$dest"
	mkdir -p "$dest/deb/x"
	# shellcheck disable=SC2086 # one PACKAGE=VERSION a word
	(cd "$dest/deb" && apt-get -q "${apt_opts[@]}" download $pins >&2)
	for deb in "$dest"/deb/*.deb; do dpkg-deb -x "$deb" "$dest/deb/x"; done
	x=$dest/deb/x
	mv "$x/usr/share/OVMF/OVMF_CODE_4M.secboot.fd" "$x/usr/share/OVMF/OVMF_VARS_4M.ms.fd" \
		"$dest/" 2>/dev/null || { echo "debian-efi: no OVMF_CODE_4M.secboot.fd / OVMF_VARS_4M.ms.fd in $(echo $pins)" >&2; exit 1; }
	mv "$x/usr/lib/shim/shimx64.efi.signed" "$dest/shimx64.efi"
	mv "$x/usr/lib/shim/mmx64.efi.signed" "$dest/mmx64.efi"
	mv "$x/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" "$dest/grubx64.efi"
	rm -rf "$dest/deb"
	echo "$pins" >"$dest/versions"
	touch "$dest/.ready"
fi
echo "$dest"
