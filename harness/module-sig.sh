#!/usr/bin/env bash
# The signature a kernel module carries (scripts/sign-file's format: the
# PKCS#7 message, struct module_signature, "~Module signature appended~\n"),
# checked independently of any kernel, and a tampered copy for the refusal
# tests.
#
#   verify KO CERT   the signature verifies with openssl against CERT (DER or
#                    PEM) over exactly the module's signed content
#   flip KO OUT      OUT = KO with one byte of the signed content inverted
#   unsigned KO OUT  OUT = KO without its signature: the module as built
set -euo pipefail

usage() { echo "usage: $0 verify KO CERT | flip KO OUT | unsigned KO OUT" >&2; exit 2; }
[ $# -eq 3 ] || usage
ko=$2
marker='~Module signature appended~'
[ "$(tail -c 28 "$ko")" = "$marker" ] || { echo "module-sig: $ko carries no signature" >&2; exit 1; }
size=$(stat -c %s "$ko")
# struct module_signature is 12 bytes before the marker; sig_len (big-endian) ends it.
sig_len=$(tail -c 32 "$ko" | head -c 4 | od -An -tu1 | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
content=$((size - 28 - 12 - sig_len))
[ "$content" -gt 0 ] || { echo "module-sig: $ko: bad signature length $sig_len" >&2; exit 1; }

case "$1" in
verify)
	w=$(mktemp -d)
	trap 'rm -rf "$w"' EXIT
	head -c "$content" "$ko" >"$w/content"
	tail -c "+$((content + 1))" "$ko" | head -c "$sig_len" >"$w/sig"
	openssl x509 -in "$3" -inform DER -out "$w/cert.pem" 2>/dev/null || cp "$3" "$w/cert.pem"
	echo "signer of $ko: $(openssl x509 -in "$w/cert.pem" -noout -subject)"
	# -nointern: only CERT may have signed it; -noverify: no CA chain (as the kernel, which trusts keys, not chains).
	openssl cms -verify -binary -inform DER -in "$w/sig" -content "$w/content" -certfile "$w/cert.pem" \
		-nointern -noverify -out /dev/null
	;;
flip)
	cp "$ko" "$3"
	at=$((content / 2))
	byte=$(od -An -tu1 -j "$at" -N 1 "$ko" | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ 255)))" | dd of="$3" bs=1 seek="$at" count=1 conv=notrunc status=none
	echo "flipped byte $at of $content signed bytes: $byte -> $((byte ^ 255))"
	;;
unsigned)
	head -c "$content" "$ko" >"$3"
	echo "removed the signature: $content of $size bytes kept"
	;;
*) usage ;;
esac
