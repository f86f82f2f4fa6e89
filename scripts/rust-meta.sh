#!/usr/bin/env bash
# Print the kernel build tree to build ashmem_linux against, given a KDIR.
#
# A tree with Rust metadata (rust/*.rmeta) is printed as it is. Debian's
# linux-headers packages have none, although their kernels are built with
# CONFIG_RUST=y; for such a tree this script rebuilds the metadata from the
# matching Debian linux-source-X.Y with the headers' own .config and the
# kernel's exact rustc, checks that the rebuilt crates export exactly what the
# headers' Module.symvers says the running kernel exports, and assembles a
# module build tree in a cache (/var/cache/ashmem-linux as root, else the XDG
# cache), keyed by the release and the package versions: it is rebuilt only
# when one of them changes. It refuses, naming the package and version to
# install, when the source version differs from the headers version, rustc or
# bindgen differs from the one the kernel was built with, `make olddefconfig`
# changes the config (but for the one difference a cross compiler makes, see
# cc_version_differs below), or the exports differ; it exits 77 (DKMS: skipped, as
# for BUILD_EXCLUSIVE) when the source version the kernel needs is no longer
# offered by the apt sources. The tree printed is then checked
# by scripts/kdir-check.sh. Any other tree is printed unchanged, for
# kdir-check.sh to judge.
#
#   --check   say which path applies and what is missing; build nothing
#   RUSTC, BINDGEN   the compilers to use (default: rustc, bindgen on PATH)
set -euo pipefail

usage() { echo "usage: $0 [--check] KDIR   (a kernel build tree, e.g. /lib/modules/\$(uname -r)/build)" >&2; exit 2; }
check_only=0
[ "${1:-}" != --check ] || { check_only=1; shift; }
[ $# -eq 1 ] || usage
here=$(dirname "$(realpath "$0")")
# The layout of the assembled tree; bump when it changes, so old caches are rebuilt.
format=1
rustc=${RUSTC:-rustc}
bindgen=${BINDGEN:-bindgen}

say() { echo "rust-meta: $*" >&2; }
refuse() {
	echo "ashmem_linux: cannot build against $kdir_given:" >&2
	for line in "$@"; do echo "  $line" >&2; done
	exit 1
}
# The tree is fine as it is, or not ours to fix: kdir-check.sh has the last word.
# (Called after `||` too, where errexit does not apply: the status is passed on by hand.)
as_is() {
	local rc=0
	if [ $check_only = 1 ]; then
		"$here/kdir-check.sh" "$kdir_given" || rc=$?
	else
		"$here/kdir-check.sh" "$kdir_given" >&2 || rc=$?
		[ $rc != 0 ] || echo "$kdir_given"
	fi
	exit $rc
}

kdir_given=$1
[ -f "$kdir_given/.config" ] || as_is
kdir=$(realpath "$kdir_given")
[ ! -e "$kdir/rust/libkernel.rmeta" ] || {
	[ $check_only = 0 ] || say "$kdir_given has Rust metadata: the module builds against it directly"
	as_is
}
grep -qx 'CONFIG_RUST=y' "$kdir/.config" || as_is
# Only a tree that a Debian headers package installed can be completed here.
# (dpkg-query fails for a file no package owns: not an error here.) A package
# of another architecture than dpkg's own (arm64 headers on an amd64 host,
# for a cross build) is named "PACKAGE:ARCH: PATH".
headers_pkg=$({ dpkg-query -S "$kdir/.config" 2>/dev/null || true; } |
	sed -n 's/^\(linux-headers-[^:]*\)\(:[a-z0-9]*\)\{0,1\}: .*/\1\2/p' | head -n 1)
[ -n "$headers_pkg" ] || as_is

release=$(cat "$kdir/include/config/kernel.release" 2>/dev/null || echo "${headers_pkg#linux-headers-}")
headers_ver=$(dpkg-query -W -f='${Version}' "$headers_pkg")
headers_arch=$(dpkg-query -W -f='${Architecture}' "$headers_pkg")
headers_pkg=${headers_pkg%:*}
series=$(echo "$release" | cut -d. -f1,2)
source_pkg=linux-source-$series
config_text() { sed -n "s/^$1=\"\(.*\)\"$/\1/p" "$kdir/.config"; }
want_rustc=$(config_text CONFIG_RUSTC_VERSION_TEXT)
want_bindgen=$(config_text CONFIG_BINDGEN_VERSION_TEXT)
have_rustc=$("$rustc" --version 2>/dev/null | head -n 1 || true)
have_bindgen=$("$bindgen" --version 2>/dev/null | head -n 1 || true)
# The Debian package version of a tool whose version text the kernel recorded.
debian_version() { # PACKAGE UPSTREAM-VERSION
	{ apt-cache madison "$1" 2>/dev/null || true; } | awk -F'|' -v u="$2" '{
		gsub(/ /, "", $2); up = $2; sub(/^[0-9]+:/, "", up); sub(/[-+~].*/, "", up)
		if (up == u) print $2 }' | sort -uV | tail -n 1
}
install_hint() { # PACKAGE UPSTREAM-VERSION
	local v
	v=$(debian_version "$1" "$2")
	if [ -n "$v" ]; then echo "apt install $1=$v"; else echo "install $1 version $2 (your apt sources offer none)"; fi
}

problems=()
source_status=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$source_pkg" 2>/dev/null || true)
source_ver=${source_status#installed }
if [ "${source_status%% *}" != installed ]; then
	problems+=("$source_pkg is not installed: the Rust metadata is rebuilt from it."
		"Install the version of the headers: apt install $source_pkg=$headers_ver")
	source_ver=none
elif [ "$source_ver" != "$headers_ver" ]; then
	problems+=("$source_pkg is version $source_ver, but $headers_pkg is $headers_ver: the rebuilt"
		"metadata would not match the running kernel. Install apt install $source_pkg=$headers_ver"
		"(if the archive no longer has it, upgrade to the newest kernel and headers)")
fi
# A source version the apt sources no longer offer cannot be installed: this
# kernel is skipped (DKMS's status 77, as for BUILD_EXCLUSIVE), so that an old
# kernel does not stop DKMS from building for the others.
source_gone=0
if [ "$source_ver" != "$headers_ver" ] && command -v apt-cache >/dev/null &&
	! apt-cache madison "$source_pkg" 2>/dev/null | tr -d ' ' | awk -F'|' -v v="$headers_ver" '$2 == v { f = 1 } END { exit !f }'; then
	source_gone=1
fi
if [ "$have_rustc" != "$want_rustc" ]; then
	v=$(echo "$want_rustc" | awk '{ print $2 }')
	problems+=("the kernel was built with '$want_rustc', but '$rustc' is '${have_rustc:-missing}'."
		"Install that compiler: $(install_hint rustc "$v") $(install_hint rust-src "$v" | sed 's/^apt install //')")
fi
if [ -n "$want_bindgen" ] && [ "$have_bindgen" != "$want_bindgen" ]; then
	v=$(echo "$want_bindgen" | awk '{ print $2 }')
	problems+=("the kernel was built with '$want_bindgen', but '$bindgen' is '${have_bindgen:-missing}'."
		"Install it: $(install_hint bindgen "$v")")
fi
# The C compilers Debian built the kernel with, as its .kernelvariables names
# them (Debian always uses the triplet-prefixed name, also natively): CC, and
# for arm64's 32-bit vDSO the compat one. Debian installs only the versioned
# name of a cross compiler (arm-linux-gnueabihf-gcc-16), so it is passed on.
kvar() { sed -n "s/^\(override \)\{0,1\}$1 *= *\(.*\)$/\2/p" "$kdir/.kernelvariables" 2>/dev/null | tail -n 1; }
gcc_name=$(kvar CC | grep -oE 'gcc-[0-9]+$' || true)
cc=$(kvar CROSS_COMPILE)${gcc_name:-gcc}
cc_compat=
if grep -qx 'CONFIG_COMPAT_VDSO=y' "$kdir/.config" && [ -n "$(kvar CROSS_COMPILE_COMPAT)" ]; then
	cc_compat=$(kvar CROSS_COMPILE_COMPAT)${gcc_name:-gcc}
fi
host_arch=$(dpkg --print-architecture)
# The Debian package of a compiler: gcc-N natively, gcc-N-TRIPLET otherwise.
gcc_package() { # PROGRAM
	local triplet=${1%-gcc*}
	if [ "$triplet" = "$1" ] || { [ "$headers_arch" = "$host_arch" ] && [ "$1" = "$cc" ]; }; then
		echo "${gcc_name:-gcc}"
	else
		echo "${gcc_name:-gcc}-$triplet"
	fi
}
for prog in "$cc" $cc_compat; do
	path=$(command -v "$prog" || true)
	[ -f "$path" ] && [ -x "$path" ] ||
		problems+=("no $prog: the kernel ($headers_arch) was built with it. apt install $(gcc_package "$prog")")
done
command -v openssl >/dev/null ||
	problems+=("no openssl program: without it olddefconfig drops the module signing options. apt install openssl")

if [ "$(id -u)" = 0 ]; then cache=/var/cache/ashmem-linux/rust-meta; else cache=${XDG_CACHE_HOME:-$HOME/.cache}/ashmem-linux/rust-meta; fi
key=$(printf '%s\n' "$format" "$release" "$headers_ver" "$source_ver" "$have_rustc" "$have_bindgen" \
	"$(sha256sum <"$kdir/.config")" | sha256sum | cut -c1-12)
entry=$cache/$release-$key
tree=$entry/tree

if [ $check_only = 1 ]; then
	say "$kdir_given ($headers_pkg $headers_ver) has no Rust metadata (Debian's headers never do):"
	say "  it is rebuilt from $source_pkg with the kernel's config and rustc (about 5 minutes on 2 cores),"
	if [ -f "$entry/.ready" ]; then say "  and is cached in $tree"; else say "  into $tree (not built yet)"; fi
	[ ${#problems[@]} -eq 0 ] || refuse "${problems[@]}"
	say "  $source_pkg $source_ver, $have_rustc and $have_bindgen are the ones needed"
	[ "$headers_arch" = "$host_arch" ] || say "  (the kernel is $headers_arch: cross-built with $cc${cc_compat:+ and $cc_compat})"
	[ ! -f "$entry/.ready" ] || "$here/kdir-check.sh" "$tree"
	exit 0
fi
if [ $source_gone = 1 ]; then
	echo "ashmem_linux: skipping $release: $source_pkg $headers_ver, which its Rust metadata is rebuilt" >&2
	echo "  from, is not offered by your apt sources any more. Boot the newest kernel, or install" >&2
	echo "  that source package by hand (snapshot.debian.org has every version)." >&2
	exit 77
fi
[ ${#problems[@]} -eq 0 ] || refuse "${problems[@]}"

# Exported Rust symbols: of the headers (what the running kernel exports) and of a rebuilt tree.
symvers_rust() { awk '$2 ~ /^(_R|rust_helper_)/ { print $2 }' "$1" | sort -u; }
exports_rust() { cat "$1"/rust/exports_*_generated.h | grep -oE '\b(_R[A-Za-z0-9_]+|rust_helper_[A-Za-z0-9_]+)' | sort -u; }
same_exports() { # REBUILT-LIST
	local want have
	want=$(symvers_rust "$kdir/Module.symvers")
	have=$(cat "$1")
	[ "$want" = "$have" ] && return 0
	refuse "the rebuilt Rust crates export other symbols than $headers_pkg's Module.symvers:" \
		"$(comm -23 <(echo "$want") <(echo "$have") | wc -l) exported by the kernel but not rebuilt, e.g. $(comm -23 <(echo "$want") <(echo "$have") | head -n 1)" \
		"$(comm -13 <(echo "$want") <(echo "$have") | wc -l) rebuilt but not exported by the kernel, e.g. $(comm -13 <(echo "$want") <(echo "$have") | head -n 1)" \
		"A module built on this metadata would not load. Check that $source_pkg, rustc and bindgen" \
		"are exactly the versions the kernel was built with, then remove $entry."
}

# The one difference `make olddefconfig` may make, with a cross compiler: its
# CONFIG_CC_VERSION_TEXT names another Debian revision of the same gcc
# release. Debian's cross gcc (gcc-16-aarch64-linux-gnu 16.2.0-3cross1) lags
# its native gcc (16.2.0-4), which built the kernel, by one revision. Only
# that line may differ, and only in the revision: same program, same upstream
# version; every other change of the config is refused. It cannot change the
# module: the module is built against the headers' own config and generated
# headers (autoconf.h, rustc_cfg), which the assembled tree keeps; of the
# rebuild it takes only rust/*.rmeta and *.so, compiled by rustc, for which
# the text is a --cfg value no code of the kernel crates reads (the kernel
# uses it to force a rebuild when the compiler changes, and in /proc/version
# of vmlinux), and whose exports are compared with Module.symvers below.
cc_version_differs() { # HEADERS-CONFIG REBUILT-CONFIG
	local diff want have re='^(.*gcc(-[0-9]+)?) \(Debian ([0-9.]+)-[^)]+\) ([0-9.]+)$'
	diff=$(diff "$1" "$2" | grep '^[<>]' || true)
	[ "$(wc -l <<<"$diff")" = 2 ] || return 1
	want=$(sed -n 's/^< CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' <<<"$diff")
	have=$(sed -n 's/^> CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' <<<"$diff")
	[[ $want =~ $re ]] || return 1
	local prog=${BASH_REMATCH[1]} upstream=${BASH_REMATCH[3]} version=${BASH_REMATCH[4]}
	[[ $have =~ $re ]] || return 1
	[ "${BASH_REMATCH[1]}" = "$prog" ] && [ "${BASH_REMATCH[3]}" = "$upstream" ] && [ "${BASH_REMATCH[4]}" = "$version" ]
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$entry/.ready" ]; then
	say "rebuilding the Rust metadata of $release from $source_pkg $source_ver with $have_rustc (about 5 minutes)"
	rm -rf "$entry"
	mkdir -p "$entry"
	# A refusal or failure below leaves only the log (the unpacked source is 1.5 GB).
	trap 'rm -rf "$entry/src"' EXIT
	log=$entry/build.log
	src=$entry/src
	mkdir -p "$src"
	tarball=/usr/src/$source_pkg.tar.xz
	[ -f "$tarball" ] || refuse "no $tarball: reinstall $source_pkg=$headers_ver"
	tar -C "$src" --strip-components=1 -xf "$tarball"
	cp "$kdir/.config" "$src/.config"
	# Debian's patched top-level Makefile reads the compiler, arch and release from it.
	[ ! -f "$kdir/.kernelvariables" ] || cp "$kdir/.kernelvariables" "$src/.kernelvariables"
	make -C "$src" RUSTC="$rustc" BINDGEN="$bindgen" olddefconfig >"$log" 2>&1 ||
		{ tail -n 20 "$log" >&2; refuse "make olddefconfig failed in $src (log $log)"; }
	if ! cmp -s "$kdir/.config" "$src/.config" && cc_version_differs "$kdir/.config" "$src/.config"; then
		say "tolerated: the compiler's Debian revision differs from the kernel's build, nothing else:"
		# (diff's status 1, "they differ", is no error here.)
		{ diff "$kdir/.config" "$src/.config" || true; } | grep '^[<>]' | sed 's/^/rust-meta:   /' >&2
		echo "cc-version-text differs: $({ diff "$kdir/.config" "$src/.config" || true; } | grep '^[<>]' | tr '\n' ' ')" >>"$log"
	elif ! cmp -s "$kdir/.config" "$src/.config"; then
		diff "$kdir/.config" "$src/.config" | grep '^[<>]' | head -n 10 >&2 || true
		refuse "make olddefconfig changed $headers_pkg's config (above: < headers, > rebuilt):" \
			"a tool differs from the kernel's build (compiler, rustc, bindgen and its libclang, openssl, pahole)." \
			"Install the packages the kernel was built with (log: $log)"
	fi
	make -C "$src" RUSTC="$rustc" BINDGEN="$bindgen" ${cc_compat:+CC_COMPAT="$cc_compat"} -j"$(nproc)" prepare >>"$log" 2>&1 ||
		{ tail -n 30 "$log" >&2; refuse "make prepare failed in $src (log $log)"; }
	exports_rust "$src" >"$entry/exports"
	same_exports "$entry/exports"

	# The module build tree: the headers tree, its own scripts/ (the headers'
	# is a link into linux-kbuild, which lacks target.json), and the Rust
	# metadata; its Makefile points KBUILD_OUTPUT at it.
	mkdir -p "$tree"
	cp -a "$kdir/." "$tree/"
	# Its links into linux-kbuild (scripts, tools) are relative: made absolute.
	find "$tree" -maxdepth 1 -type l -printf '%f\n' | while read -r link; do
		ln -sfn "$(realpath "$kdir/$link")" "$tree/$link"
	done
	rm -f "$tree/scripts"
	cp -a "$(realpath "$kdir/scripts")" "$tree/scripts"
	# x86 builds its Rust target from scripts/target.json; arm64 uses rustc's built-in one.
	[ ! -f "$src/scripts/target.json" ] || cp "$src/scripts/target.json" "$tree/scripts/"
	mkdir -p "$tree/rust"
	cp "$src"/rust/*.rmeta "$src"/rust/*.so "$tree/rust/"
	sed -i "s|^KBUILD_OUTPUT=.*|KBUILD_OUTPUT=$tree|" "$tree/Makefile"
	grep -qx "KBUILD_OUTPUT=$tree" "$tree/Makefile" || refuse "$kdir/Makefile does not set KBUILD_OUTPUT as expected"
	printf '%s\n' "release $release" "$headers_pkg $headers_ver" "$source_pkg $source_ver" \
		"$have_rustc" "$have_bindgen" >"$entry/versions"
	rm -rf "$src"
	touch "$entry/.ready"
	# Older trees of this release are of other package versions: replaced.
	find "$cache" -maxdepth 1 -name "$release-*" ! -path "$entry" -exec rm -rf {} +
	say "built $tree ($(ls "$tree/rust" | wc -l) Rust files, $(wc -l <"$entry/exports") exports matching Module.symvers)"
fi
# Checked on every use, cheaply: the headers may have been replaced since.
same_exports "$entry/exports"
"$here/kdir-check.sh" "$tree" >&2
echo "$tree"
