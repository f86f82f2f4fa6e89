#!/usr/bin/env bash
# Module signing as Secure Boot needs it, checked by a kernel that enforces
# it, as TAP ("# sign: ..."): the test kernel of `harness/test-kernel.sh 7.2
# sig` (CONFIG_MODULE_SIG_FORCE: the kernel loads only modules signed by a
# key it trusts, as a kernel under Secure Boot does) trusts the key its build
# made for it (certs/signing_key.pem, built into its keyring). The module is
# built against that kernel and signed with `make sign` and that key; then,
# in a QEMU guest, kmod's insmod must load the signed module and refuse with
# EKEYREJECTED ("Key was rejected by service") the unsigned module, a signed
# one with one byte of its signed content flipped, and one signed with a key
# the kernel does not trust.
set -euo pipefail

usage() { echo "usage: $0 OUT" >&2; exit 2; }
[ $# -eq 1 ] || usage
out=$(realpath -m "$1")
top=$(realpath "$(dirname "$0")/..")
cd "$top"
# shellcheck source=harness/tap.sh
. harness/tap.sh
# shellcheck source=harness/toolchain.sh
. harness/toolchain.sh
kdir=$(harness/test-kernel.sh 7.2 sig)
rm -rf "$out"
mkdir -p "$out/module" "$out/signed" "$out/other" "$out/root/sig" "$out/cases"
key=$kdir/certs/signing_key.pem cert=$kdir/certs/signing_key.x509
# tap.sh prints a case's output only when it fails: it is also kept in OUT/cases/NAME.log.
TAP_LOGDIR=$out/cases
mk() { make -s --no-print-directory -C "$top" KDIR="$kdir" "$@"; }
signer() { modinfo -F signer "$1"; }

t_build() {
	mk module MO="$out/module" && cp "$out/module/ashmem_linux.ko" "$out/root/sig/unsigned.ko" &&
		[ -z "$(signer "$out/root/sig/unsigned.ko")" ] && echo "built, unsigned"
}
t_sign() {
	# The key the kernel's build made and built into its trusted keyring.
	echo "kernel's key: $(openssl x509 -inform DER -in "$cert" -noout -subject)"
	cp "$out/module/ashmem_linux.ko" "$out/signed/" &&
		mk sign MO="$out/signed" SIGN_KEY="$key" SIGN_CERT="$cert" &&
		echo "signer: $(signer "$out/signed/ashmem_linux.ko")" &&
		harness/module-sig.sh verify "$out/signed/ashmem_linux.ko" "$cert" &&
		cp "$out/signed/ashmem_linux.ko" "$out/root/sig/signed.ko"
}
t_flip() {
	# The flipped byte is inside what the signature covers: openssl must now refuse it too.
	local rc=0
	harness/module-sig.sh flip "$out/signed/ashmem_linux.ko" "$out/root/sig/flipped.ko" || return 1
	harness/module-sig.sh verify "$out/root/sig/flipped.ko" "$cert" >"$out/flipped-verify.log" 2>&1 || rc=$?
	tail -n 2 "$out/flipped-verify.log"
	[ "$rc" != 0 ] && echo "openssl: the flipped module's signature no longer verifies"
}
t_other_key() {
	openssl req -new -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=ashmem_linux untrusted test key/" \
		-keyout "$out/other/key.pem" -outform DER -out "$out/other/cert.der" 2>/dev/null &&
		cp "$out/module/ashmem_linux.ko" "$out/other/" &&
		mk sign MO="$out/other" SIGN_KEY="$out/other/key.pem" SIGN_CERT="$out/other/cert.der" &&
		echo "signer: $(signer "$out/other/ashmem_linux.ko")" &&
		cp "$out/other/ashmem_linux.ko" "$out/root/sig/other-key.ko"
}

echo "# sign: make sign, checked by a kernel that enforces module signatures ($(basename "$kdir"))"
tap_plan 4
tap_case module_builds_against_the_signature_enforcing_kernel t_build
tap_case make_sign_with_the_kernels_trusted_key_and_openssl_verifies_it t_sign
tap_case copy_with_a_flipped_byte_fails_openssl_verification t_flip
tap_case make_sign_with_an_untrusted_key t_other_key

harness/guest-kmod.sh "$out/root"
echo "sign: the kernel with CONFIG_MODULE_SIG_FORCE, in a guest" >"$out/root/sig/title"
printf '%s\n' "signed_with_the_trusted_key loads /sig/signed.ko" "unsigned rejected /sig/unsigned.ko" \
	"flipped_byte rejected /sig/flipped.ko" "signed_with_an_untrusted_key rejected /sig/other-key.ko" \
	>"$out/root/sig/cases"
cp harness/guest/sig-job.sh "$out/root/job"
rc=0
start=$SECONDS
TIMEOUT=300 LOGDIR=$out/logs harness/guest-run.sh "$kdir" "$out/root" || rc=$?
echo "# sign: guest (took $((SECONDS - start)) s)"
tap_one signature_guest_ran_clean "$rc" "guest-run status $rc, logs in $out/logs"
exit "$rc"
