#!/usr/bin/env bash
# Install what building the module and running its tests needs, when missing:
# Debian packages, rustup's rust-src, bindgen-cli 0.72.1. Idempotent.
# As root it installs; as another user it prints the commands and fails.
set -euo pipefail

usage() { echo "usage: $0 [--check]   (--check: only report what is missing)" >&2; exit 2; }
check_only=0
case "${1:-}" in
"") ;;
--check) check_only=1 ;;
*) usage ;;
esac

here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/toolchain.sh
. "$here/toolchain.sh"

packages=(make gcc gcc-multilib flex bison bc libelf-dev libssl-dev openssl cpio xz-utils kmod dkms
	qemu-system-x86 qemu-system-arm busybox-static libclang-19-dev clang-19 lld-19 llvm-19 python3 debootstrap
	util-linux gdisk dosfstools mtools)
bindgen_version=0.72.1

missing_pkgs=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing_pkgs+=("$p")
done
need_rust_src=0
rustup component list --installed 2>/dev/null | grep -q '^rust-src' || need_rust_src=1
need_bindgen=0
[ "$(bindgen --version 2>/dev/null)" = "bindgen $bindgen_version" ] || need_bindgen=1

if [ ${#missing_pkgs[@]} -eq 0 ] && [ $need_rust_src = 0 ] && [ $need_bindgen = 0 ]; then
	echo "deps: all present"
	exit 0
fi

cmds=()
[ ${#missing_pkgs[@]} -gt 0 ] &&
	cmds+=("apt-get update && apt-get install -y --no-install-recommends ${missing_pkgs[*]}")
[ $need_rust_src = 1 ] && cmds+=("rustup component add rust-src")
[ $need_bindgen = 1 ] && cmds+=("cargo install --locked bindgen-cli --version $bindgen_version")

if [ $check_only = 1 ] || [ "$(id -u)" != 0 ]; then
	echo "deps: missing; install with:" >&2
	for c in "${cmds[@]}"; do echo "  $c" >&2; done
	echo "(the apt-get line as root; rustup and cargo as the user who builds)" >&2
	exit 1
fi

if [ ${#missing_pkgs[@]} -gt 0 ]; then
	echo "deps: installing ${missing_pkgs[*]}" >&2
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" >&2
fi
[ $need_rust_src = 1 ] && rustup component add rust-src >&2
[ $need_bindgen = 1 ] && cargo install --locked bindgen-cli --version "$bindgen_version" >&2
echo "deps: installed"
