# Sourced by the build scripts: the compilers the kernel's Rust support needs.
# shellcheck shell=bash
export PATH="$HOME/.cargo/bin:$PATH"
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
