# Sourced by the build scripts: the compilers the kernel's Rust support needs.
# shellcheck shell=bash
export PATH="$HOME/.cargo/bin:$PATH"
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
# clang, ld.lld and the llvm-* tools of LLVM 19, for kernels built with LLVM=1
# (the debug test kernel). Debian installs them unversioned only here.
export PATH="/usr/lib/llvm-19/bin:$PATH"
