#!/usr/bin/env bash
# UEFI variable stores (NVRAM) for harness/efi-guest-run.sh, with Debian's
# virt-fw-vars (python3-virt-firmware of SUITE, run in SUITE's userland in an
# overlay layer of harness/debian-layer.sh; never installed on the host):
#
#   new SUITE OUT [CERT...]   OUT = SUITE's Microsoft-enrolled store
#                             (OVMF_VARS_4M.ms.fd of harness/debian-efi.sh,
#                             Secure Boot on) with each CERT (DER or PEM)
#                             written into shim's MokList, as MokManager
#                             enrolls a key (virt-fw-vars --add-mok)
#   print SUITE VARS          the variables of VARS and the certificates in
#                             them (virt-fw-vars --print --verbose)
set -euo pipefail

usage() { echo "usage: $0 new SUITE OUT [CERT...] | print SUITE VARS" >&2; exit 2; }
[ $# -ge 3 ] || usage
cmd=$1 suite=$2 file=$3
shift 3
case "$cmd" in new) ;; print) [ $# -eq 0 ] || usage ;; *) usage ;; esac
here=$(dirname "$(realpath "$0")")
# shim's vendor GUID, the owner of MOK entries.
shim_guid=605dab50-e046-4300-abb6-3dd810dd8b23
userland=$("$here/debian-userland.sh" "$suite")
tools=$("$here/debian-layer.sh" "$userland" efi-tools sh -c \
	'apt-get -q install -y --no-install-recommends python3-virt-firmware && apt-get clean')
# The files go in and out through a throwaway overlay's /tmp.
ov=$(mktemp -d)
trap 'rm -rf "$ov"' EXIT
mkdir -p "$ov/upper/tmp/vars"
in=$ov/upper/tmp/vars
fw_vars() { "$here/debian-chroot.sh" --overlay "$ov" --layer "$tools" "$userland" virt-fw-vars "$@"; }

case "$cmd" in
new)
	cp "$("$here/debian-efi.sh" "$suite")/OVMF_VARS_4M.ms.fd" "$in/vars.fd"
	args=()
	for cert in "$@"; do
		n=${#args[@]}
		cp "$cert" "$in/cert$n"
		args+=(--add-mok "$shim_guid" "/tmp/vars/cert$n")
	done
	if [ ${#args[@]} -gt 0 ]; then
		fw_vars -l warning -i /tmp/vars/vars.fd -o /tmp/vars/out.fd "${args[@]}" >/dev/null
		mv "$in/out.fd" "$in/vars.fd"
	fi
	mv "$in/vars.fd" "$file"
	;;
print)
	cp "$file" "$in/vars.fd"
	fw_vars -i /tmp/vars/vars.fd --print --verbose
	;;
esac
