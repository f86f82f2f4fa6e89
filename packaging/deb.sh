#!/usr/bin/env bash
# Debian packages of ashmem_linux, built with Debian's own tooling
# (debhelper, dh-dkms) and checked with lintian, all from Debian sid, in the
# sid userland of harness/debian-userland.sh. The tools live in an overlay
# layer kept next to that userland (made once, about a minute); every build
# runs in a throwaway overlay on top, so the shared userland is never
# changed. Packaging sources: packaging/debian (docs/debian-packages.md).
#
#   dkms OUT                  ashmem-linux-dkms_VERSION_all.deb: the DKMS
#                             source in /usr/src, the udev rule, the
#                             modules-load.d entry, the Waydroid helper
#   prebuilt OUT [KERNEL...]  ashmem-linux-modules-RELEASE_VERSION+KVER_ARCH.deb
#                             for each KERNEL (sid, trixie; default both; or
#                             Debian's arm64 kernels, sid-arm64, sid-arm64-16k,
#                             trixie-arm64, trixie-arm64-16k): the module
#                             built in that kernel's Debian userland, for
#                             exactly that kernel (arm64: cross-built, and
#                             the package with dpkg-buildpackage -a arm64).
#                             The kernels of one call are of one architecture.
#                             The modules are stripped as Debian strips its
#                             own; with SIGN_KEY=key.pem SIGN_CERT=cert (PEM
#                             or DER) in the environment, then signed with
#                             that key (the kernel's scripts/sign-file,
#                             sha256), and the certificate is shipped as
#                             /usr/share/ashmem-linux/mok.der for
#                             `mokutil --import` (Secure Boot)
#
# VERSION is PACKAGE_VERSION of dkms.conf. lintian errors fail the build; its
# full report is printed to stderr and kept in OUT/lintian-*.log. Prints the
# paths of the packages built. A package whose inputs did not change since
# the last build in OUT is kept (and says so).
set -euo pipefail

usage() {
	echo "usage: $0 dkms OUT | prebuilt OUT [KERNEL...]   (KERNEL: sid, trixie, or the same arm64 ones: sid-arm64, sid-arm64-16k, trixie-arm64, trixie-arm64-16k)" >&2
	exit 2
}
[ $# -ge 2 ] || usage
cmd=$1 out=$(realpath -m "$2")
shift 2
case "$cmd" in dkms) [ $# -eq 0 ] || usage ;; prebuilt) ;; *) usage ;; esac
sign_key=${SIGN_KEY:-} sign_cert=${SIGN_CERT:-}
if [ -n "$sign_key$sign_cert" ]; then
	[ "$cmd" = prebuilt ] && [ -f "$sign_key" ] && [ -f "$sign_cert" ] ||
		{ echo "deb: SIGN_KEY and SIGN_CERT name a private key and its certificate (prebuilt only)" >&2; exit 2; }
fi
top=$(realpath "$(dirname "$0")/..")
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$top/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
[ -n "$name" ] && [ -n "$version" ] || { echo "deb: no PACKAGE_NAME/PACKAGE_VERSION in dkms.conf" >&2; exit 1; }
say() { echo "deb: $*" >&2; }
chroot_in() { "$top/harness/debian-chroot.sh" "$@"; }

sid=$("$top/harness/debian-userland.sh" sid)
# One build at a time in OUT (its work directory is shared).
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
tools=$("$top/harness/debian-layer.sh" "$sid" deb-tools sh -c \
	'apt-get -q install -y --no-install-recommends build-essential debhelper dh-dkms lintian && apt-get clean')
layers=(--layer "$tools")

# The package source tree, in the upper directory of a fresh overlay of the
# sid userland (so the build inside sees it at /tmp/deb): dkms-source/ (the
# files `make dkms-install` copies), packaging/, debian/ with the changelog.
work=$out/work
rm -rf "$work"
mkdir -p "$work/upper/tmp/deb"
tree=$work/upper/tmp/deb/$name-$version
mkdir -p "$tree/packaging"
mv "$("$top/scripts/dkms.sh" source "$tree")" "$tree/dkms-source"
cp "$top"/packaging/{60-ashmem.rules,ashmem_linux.conf,waydroid-ashmem-entry} "$tree/packaging/"
cp -R "$top/packaging/debian" "$tree/debian"
rm -rf "$tree/debian/prebuilt"
sed "s/@VERSION@/$version/g" "$tree/debian/$name-dkms.postinst.in" >"$tree/debian/$name-dkms.postinst"
rm "$tree/debian/$name-dkms.postinst.in"
# The changelog's date is the commit's (reproducible), else dkms.conf's.
epoch=$(git -C "$top" log -1 --format=%ct 2>/dev/null || stat -c %Y "$top/dkms.conf")
maintainer=$(sed -n 's/^Maintainer: //p' "$tree/debian/control")
cat >"$tree/debian/changelog" <<CHANGELOG
$name ($version) unstable; urgency=medium

  * ashmem_linux $version (PACKAGE_VERSION in dkms.conf)$(git -C "$top" describe --always --dirty 2>/dev/null | sed 's/^/, from git /').

 -- $maintainer  $(date -u -R -d "@$epoch")
CHANGELOG

# Modules for the prebuilt packages: built in each kernel's userland
# (harness/debian-module.sh, warnings as errors).
prebuilt_module() { # SUITE: stages prebuilt/RELEASE/ashmem_linux.ko, prints "RELEASE KVERSION"
	local suite=$1 release kver vermagic
	read -r release kver _ <<<"$("$top/harness/debian-kernel.sh" release "$suite")"
	say "building the module for $release ($suite userland)"
	"$top/harness/debian-module.sh" "$suite" "$tree/prebuilt/$release" >/dev/null 2>"$out/module-$release.log" ||
		{ tail -n 30 "$out/module-$release.log" >&2; say "module build for $release failed"; exit 1; }
	vermagic=$(modinfo -F vermagic "$tree/prebuilt/$release/ashmem_linux.ko")
	[ "${vermagic%% *}" = "$release" ] || { say "module for $release has vermagic '$vermagic'"; exit 1; }
	echo "$release $kver"
}

arch=amd64
if [ "$cmd" = prebuilt ]; then
	[ $# -gt 0 ] || set -- sid trixie
	arch=
	for suite in "$@"; do
		case "$suite" in sid | trixie | sid-arm64 | sid-arm64-16k | trixie-arm64 | trixie-arm64-16k) ;; *) usage ;; esac
		a=$("$top/harness/debian-kernel.sh" arch "$suite")
		[ -z "$arch" ] || [ "$a" = "$arch" ] || { say "the kernels of one call must be of one architecture"; exit 2; }
		arch=$a
	done
	for suite in "$@"; do
		read -r release kver <<<"$(prebuilt_module "$suite")"
		pkg=$name-modules-$release
		fill() {
			sed -e "s/@RELEASE@/$release/g" -e "s/@KVERSION@/$kver/g" -e "s/@ARCH@/$arch/g" \
				"$top/packaging/debian/prebuilt/$1" |
				awk -v signed="${sign_key:+1}" '$1 == "@SIGNING@" {
					if (signed) print " The module is signed: with Secure Boot on, enroll its certificate\n once (`mokutil --import /usr/share/ashmem-linux/mok.der`, then reboot).";
					else print " The module is not signed: with Secure Boot on, use ashmem-linux-dkms,\n which signs it with DKMS\047s key, or build this package signed.";
					next } { print }'
		}
		fill control.in >>"$tree/debian/control"
		fill install.in >"$tree/debian/$pkg.install"
		[ -z "$sign_key" ] || echo "signing/mok.der usr/share/ashmem-linux/" >>"$tree/debian/$pkg.install"
		fill postinst.in >"$tree/debian/$pkg.postinst"
		fill postrm.in >"$tree/debian/$pkg.postrm"
		fill lintian-overrides.in >"$tree/debian/$pkg.lintian-overrides"
		# Our version, then the kernel's ('-' is the revision separator).
		echo "$pkg $version+$(echo "$kver" | tr - .)" >>"$tree/debian/prebuilt.versions"
	done
	build_opt=-B
	id=prebuilt-$(echo "$@" | tr ' ' -)
	if [ "$arch" != amd64 ]; then
		# Cross-packaged: dpkg-buildpackage -a ARCH (-d: the build needs no
		# ARCH libraries; the modules are stripped below with the cross strip).
		build_opt="-B -a$arch -d"
		tools_arm=$("$top/harness/debian-layer.sh" "$sid" deb-tools-$arch sh -c \
			"apt-get -q install -y --no-install-recommends binutils-aarch64-linux-gnu && apt-get clean")
		layers+=(--layer "$tools_arm")
	fi
	# Stripped, then signed (a strip after signing would drop the signature
	# appended to the ELF file), with sid's binutils (the cross strip for
	# arm64) and the kernel's sign-file in the build's overlay.
	strip=strip
	[ "$arch" = amd64 ] || strip=aarch64-linux-gnu-strip
	keys=/tmp/signing
	mkdir -p "$work/upper$keys"
	if [ -n "$sign_key" ]; then
		mkdir -p "$tree/signing"
		openssl x509 -in "$sign_cert" -inform DER -outform DER -out "$tree/signing/mok.der" 2>/dev/null ||
			openssl x509 -in "$sign_cert" -outform DER -out "$tree/signing/mok.der"
		install -m 0600 "$sign_key" "$work/upper$keys/key.pem"
		say "signing with $(openssl x509 -in "$tree/signing/mok.der" -inform DER -noout -subject)"
	fi
	read -r sid_release _ <<<"$("$top/harness/debian-kernel.sh" release sid)"
	chroot_in --overlay "$work" "${layers[@]}" "$sid" sh -euc '
		tree=$1 keys=$2 sign_file=/usr/lib/modules/$3/build/scripts/sign-file strip=$4
		for ko in "$tree"/prebuilt/*/ashmem_linux.ko; do
			$strip --strip-debug "$ko"
			[ ! -f "$keys/key.pem" ] || "$sign_file" sha256 "$keys/key.pem" "$tree/signing/mok.der" "$ko"
		done' sh "${tree#"$work/upper"}" "$keys" "$sid_release" "$strip" >&2 ||
		{ say "stripping or signing the modules failed"; exit 1; }
	rm -rf "${work:?}/upper$keys"
else
	build_opt=-A
	id=dkms
fi

# Unchanged inputs (the tree, the tools): the packages of the last build stand.
stamp=$( { (cd "$tree" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | grep -v '/debian/changelog$')
	echo "$tools"; [ -z "${tools_arm:-}" ] || echo "$tools_arm"; } | sha256sum | cut -c1-16)
if [ -f "$out/.stamp-$id" ] && [ "$(cat "$out/.stamp-$id")" = "$stamp" ] &&
	[ -s "$out/debs-$id" ] && xargs -a "$out/debs-$id" ls >/dev/null 2>&1; then
	say "$id packages up to date (inputs unchanged since they were built and linted)"
	rm -rf "$work"
	cat "$out/debs-$id"
	exit 0
fi
rm -f "$out/.stamp-$id" "$out/debs-$id"

say "dpkg-buildpackage $build_opt (sid's debhelper, dh-dkms)"
# shellcheck disable=SC2086 # build_opt: one or more options
if ! chroot_in --overlay "$work" "${layers[@]}" "$sid" sh -c \
	'cd "$1" && epoch=$2 && shift 2 && SOURCE_DATE_EPOCH=$epoch dpkg-buildpackage "$@" -us -uc' sh "${tree#"$work/upper"}" "$epoch" $build_opt \
	>"$out/build-$id.log" 2>&1; then
	tail -n 40 "$out/build-$id.log" >&2
	say "dpkg-buildpackage failed (log $out/build-$id.log)"
	exit 1
fi
changes=$(cd "$work/upper/tmp/deb" && ls ./*.changes)
rc=0
chroot_in --overlay "$work" "${layers[@]}" "$sid" sh -c \
	'cd /tmp/deb && chmod 1777 . && echo "$(lintian --version) (Debian sid) on $1:" && HOME=/tmp TMPDIR=/tmp setpriv --reuid=nobody --regid=nogroup --clear-groups lintian --fail-on error --display-info --tag-display-limit 0 "$1"' \
	sh "${changes#./}" >"$out/lintian-$id.log" 2>&1 || rc=$?
sed 's/^/deb:   /' "$out/lintian-$id.log" >&2
[ "$rc" = 0 ] || { say "lintian reports errors (status $rc)"; exit 1; }
debs=()
for d in "$work"/upper/tmp/deb/*.deb; do
	cp "$d" "$out/"
	debs+=("$out/$(basename "$d")")
done
printf '%s\n' "${debs[@]}" >"$out/debs-$id"
echo "$stamp" >"$out/.stamp-$id"
rm -rf "$work"
cat "$out/debs-$id"
