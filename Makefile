# SPDX-License-Identifier: GPL-2.0
# ashmem_linux: the front door. `make help` lists the targets.

KDIR ?= /lib/modules/$(shell uname -r)/build
# Build output stays out of the source tree (Kbuild's MO=), one directory per kernel.
MO ?= $(CURDIR)/build/$(or $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null),default)/module
KERNELRELEASE_OF_KDIR := $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)
# The test kernel of demo, bench, fuzz: Debian's sid or trixie(-backports)
# kernel (either with -arm64 or -arm64-16k: Debian's arm64 kernel in
# qemu-system-aarch64), or a self-built 7.2, 7.3 or 7.2-debug.
SERIES ?= sid
# The package version is defined once, in dkms.conf.
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' $(CURDIR)/dkms.conf)

# Warnings are errors for both the Rust crate and any C shim (WERROR=0 turns
# that off: DKMS builds on users' hosts do, a newer compiler's new warning must
# not stop a kernel upgrade).
WERROR ?= 1
# A kernel built with clang (CONFIG_CC_IS_CLANG) wants its modules built with
# clang too: LLVM=1 then, unless LLVM is given (LLVM=-19 picks clang-19 etc.).
LLVM ?= $(if $(shell grep -sx 'CONFIG_CC_IS_CLANG=y' $(KDIR)/.config),1)
# COVERAGE=1 (on the command line only, so never in a DKMS or user build that
# happens to have it in the environment): the tests' instrumented module, see
# docs/testing.md, "Coverage".
COVERAGE_FLAG := $(if $(filter command line,$(origin COVERAGE)),$(if $(filter 1,$(COVERAGE)),ASHMEM_COVERAGE=1))
MODULE_FLAGS := $(if $(filter 1,$(WERROR)),KRUSTFLAGS=-Dwarnings KCFLAGS=-Werror) \
	$(if $(CLIPPY),CLIPPY=1) $(if $(RUSTC),RUSTC=$(RUSTC)) $(if $(LLVM),LLVM=$(LLVM)) MO=$(MO) \
	$(COVERAGE_FLAG)

# Install locations (`make install DESTDIR=... PREFIX=...`).
DESTDIR ?=
PREFIX ?= /usr
MODDIR ?= /lib/modules/$(KERNELRELEASE_OF_KDIR)/updates
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
MODULESLOADDIR ?= $(PREFIX)/lib/modules-load.d
LIBEXECDIR ?= $(PREFIX)/libexec/ashmem_linux
# Module signing (`make sign`): the kernel's sign-file, your key and certificate.
SIGN_KEY ?=
SIGN_CERT ?=
SIGN_HASH ?= sha256
SIGN_FILE ?= $(KDIR)/scripts/sign-file

# rustup's compilers, where the user has them. (libclang is found by bindgen
# itself, or LIBCLANG_PATH from the environment: harness/toolchain.sh sets it
# for this project's test kernels. A fixed path here broke Debian sid's
# bindgen, whose libclang is LLVM 21's.)
export PATH := $(HOME)/.cargo/bin:$(PATH)

.DEFAULT_GOAL := module

help: ## List the targets.
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  %-14s %s\n", $$1, $$2 }'
	@echo "Variables: KDIR=$(KDIR)  SERIES=$(SERIES)  CLIPPY=1  WERROR=0  COVERAGE=1  KVM=1  ICOUNT=1  KERNEL_SRC=DIR"
	@echo "           DESTDIR=  PREFIX=$(PREFIX)  SIGN_KEY=FILE  SIGN_CERT=FILE  KVER=  (version $(VERSION))"

# The tree to build in: KDIR itself, or for Debian's headers (no Rust metadata)
# the tree scripts/rust-meta.sh rebuilds from linux-source (cached).
module: ## Build ashmem_linux.ko against KDIR (default: the running kernel); Debian headers get their Rust metadata rebuilt.
	@tree=$$(scripts/rust-meta.sh $(KDIR)) && \
		$(MAKE) -C $$tree M=$(CURDIR) $(MODULE_FLAGS) modules
	@echo "built $(MO)/ashmem_linux.ko"

sign: ## Sign the built module for Secure Boot: SIGN_KEY=key.pem SIGN_CERT=cert.der (see README).
	@[ -n "$(SIGN_KEY)" ] && [ -n "$(SIGN_CERT)" ] || \
		{ echo "make sign: set SIGN_KEY=private key and SIGN_CERT=certificate (see README, Secure Boot)" >&2; exit 2; }
	@[ -x $(SIGN_FILE) ] || \
		{ echo "make sign: no $(SIGN_FILE) (install the kernel's build tree, or set SIGN_FILE)" >&2; exit 1; }
	@[ -f $(MO)/ashmem_linux.ko ] || { echo "make sign: build the module first (make module)" >&2; exit 1; }
	$(SIGN_FILE) $(SIGN_HASH) $(SIGN_KEY) $(SIGN_CERT) $(MO)/ashmem_linux.ko
	@tail -c 28 $(MO)/ashmem_linux.ko | grep -q '~Module signature appended~' && \
		echo "signed $(MO)/ashmem_linux.ko"

install: install-files ## Install module, udev rule, modules-load.d entry and Waydroid helper (DESTDIR, PREFIX honoured).
	@[ -f $(MO)/ashmem_linux.ko ] || $(MAKE) --no-print-directory module
	install -D -m 0644 $(MO)/ashmem_linux.ko $(DESTDIR)$(MODDIR)/ashmem_linux.ko
	$(if $(DESTDIR),,depmod -a $(KERNELRELEASE_OF_KDIR))

install-files: ## Install only the udev rule, the modules-load.d entry and the Waydroid helper (with DKMS).
	install -D -m 0644 packaging/60-ashmem.rules $(DESTDIR)$(UDEVRULESDIR)/60-ashmem.rules
	install -D -m 0644 packaging/ashmem_linux.conf $(DESTDIR)$(MODULESLOADDIR)/ashmem_linux.conf
	install -D -m 0755 packaging/waydroid-ashmem-entry $(DESTDIR)$(LIBEXECDIR)/waydroid-ashmem-entry

uninstall: ## Remove what `make install` installed (DESTDIR, PREFIX honoured).
	rm -f $(DESTDIR)$(MODDIR)/ashmem_linux.ko $(DESTDIR)$(UDEVRULESDIR)/60-ashmem.rules \
		$(DESTDIR)$(MODULESLOADDIR)/ashmem_linux.conf $(DESTDIR)$(LIBEXECDIR)/waydroid-ashmem-entry
	rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null || true
	$(if $(DESTDIR),,depmod -a $(KERNELRELEASE_OF_KDIR))

host-check: ## Say whether KDIR (default: the running kernel) can build the module, which way, and what is missing.
	@scripts/rust-meta.sh --check $(KDIR)

rust-meta: ## Rebuild the Rust metadata Debian's headers for KDIR lack (cached), and print the build tree.
	@scripts/rust-meta.sh $(KDIR)

dkms-install: ## Register with DKMS (source in /usr/src), build and install for KVER (default: running kernel).
	scripts/dkms.sh install

dkms-remove: ## Uninstall from every kernel, unregister from DKMS and delete the /usr/src copy.
	scripts/dkms.sh remove

deb: ## Build build/deb/ashmem-linux-dkms_VERSION_all.deb with Debian's debhelper and dh-dkms (sid userland, as root); lintian must report no error.
	@packaging/deb.sh dkms $(CURDIR)/build/deb

# Every Debian test kernel, unless SERIES is given (kernels of one
# architecture: sid, trixie; or sid-arm64, sid-arm64-16k, trixie-arm64,
# trixie-arm64-16k). The arm64 ones are cross-built (a Rust metadata rebuild
# of about 5 minutes each, the first time).
DEB_SERIES := $(if $(filter command line environment,$(origin SERIES)),$(SERIES))
# The prebuilt packages go to DEB_OUT (default build/deb); SIGN_KEY and
# SIGN_CERT sign them (Secure Boot).
DEB_OUT ?= $(CURDIR)/build/deb
DEB_SIGN := SIGN_KEY="$(SIGN_KEY)" SIGN_CERT="$(SIGN_CERT)"
deb-prebuilt: ## Build ashmem-linux-modules-RELEASE packages: the module prebuilt for each Debian test kernel, amd64 and arm64, in its own Debian userland (SERIES=...: those); SIGN_KEY= SIGN_CERT=: signed, with the certificate for mokutil --import.
	@$(DEB_SIGN) packaging/deb.sh prebuilt $(DEB_OUT) $(DEB_SERIES)
	$(if $(DEB_SERIES),,@$(DEB_SIGN) packaging/deb.sh prebuilt $(DEB_OUT) sid-arm64 sid-arm64-16k trixie-arm64 trixie-arm64-16k)

kmm-image: ## Build build/kmm/ashmem-linux-kmm-VERSION.oci.tar: the prebuilt modules in KMM's layout (/opt/lib/modules/RELEASE) for Kubernetes (SERIES=sid|trixie: one kernel).
	@packaging/kmm-image.sh $(or $(KMM_OUT),$(CURDIR)/build/kmm) $(DEB_SERIES)

containers: ## Waydroid under lxc-start, redroid under podman, the KMM image, apt upgrade while in use: Debian sid's kernel in a QEMU guest with a whole Debian root (also a part of make check; UPGRADE=0: without the upgrade).
	harness/containers-test.sh $(CURDIR)/build/containers $(DEB_SERIES)

deps: ## Install the build and test dependencies (as root), or say what is missing.
	harness/deps.sh

kdir: ## Build the self-built test kernel of SERIES (7.2, 7.3, 7.2-debug; default 7.2) if needed and print its tree.
	@harness/test-kernel.sh $(if $(filter sid trixie,$(SERIES)),7.2,$(SERIES))

# `make check` tests Debian's sid and trixie-backports kernels, the self-built
# 7.2 debug kernel and Debian sid's arm64 kernel with 16K pages, unless SERIES
# is given (any of sid, trixie, 7.2, 7.3, 7.2-debug, and sid or trixie with
# -arm64 or -arm64-16k).
CHECK_SERIES := $(if $(filter command line environment,$(origin SERIES)),$(SERIES),sid trixie 7.2-debug sid-arm64-16k)
check: ## Full test run on Debian's sid and trixie-backports kernels (DKMS in Debian userlands), a 7.2 debug kernel (KASAN, lockdep, kmemleak, KUnit) and Debian's arm64 16K-page kernel.
	SERIES="$(CHECK_SERIES)" harness/check.sh

coverage: ## The driver's blocks make check's debug-kernel run executed, per function and line (runs make check SERIES=7.2-debug first if needed, or RUN=1).
	@harness/coverage.sh

# The arm64 kernels make check leaves out (docs/testing.md): sid's 4K-page
# one and trixie-backports' two.
check-arm64: ## The same test run on Debian's other arm64 kernels: sid-arm64, trixie-arm64-16k, trixie-arm64 (SERIES= to pick).
	SERIES="$(if $(filter command line environment,$(origin SERIES)),$(SERIES),sid-arm64 trixie-arm64-16k trixie-arm64)" harness/check.sh

check-arm64-native: ## DKMS natively in an arm64 Debian userland (QEMU user-mode emulation: slow): make dkms-install and the DKMS package, for sid-arm64-16k (SERIES=).
	harness/native-dkms-test.sh $(if $(filter command line environment,$(origin SERIES)),$(SERIES),sid-arm64-16k) \
		$(CURDIR)/build/native-dkms | tee $(CURDIR)/build/native-dkms.tap; \
		harness/tap-summary.sh <$(CURDIR)/build/native-dkms.tap

check-secureboot: ## Only the Secure Boot part of make check (sid): Debian's shim, grub and kernel in UEFI firmware enforcing Secure Boot, the DKMS and prebuilt modules' keys in MOK, MokManager answered at the serial console.
	@harness/deps.sh >/dev/null
	@mkdir -p build && { MOKMANAGER=1 harness/secureboot-test.sh sid build/secureboot; echo $$? >build/secureboot.status; } | \
		tee build/secureboot.tap && harness/tap-summary.sh <build/secureboot.tap && [ "$$(cat build/secureboot.status)" = 0 ]

# make check runs the packages' tests on sid's kernel only (docs/testing.md).
check-deb: ## The Debian packages' tests (deb:) on another amd64 Debian kernel: SERIES=trixie (the default) or sid.
	@harness/deps.sh >/dev/null
	@s=$(if $(filter command line environment,$(origin SERIES)),$(SERIES),trixie); mkdir -p build && \
		{ harness/deb-test.sh $$s build/deb-test-$$s; echo $$? >build/deb-test-$$s.status; } | \
		tee build/deb-test-$$s.tap && harness/tap-summary.sh <build/deb-test-$$s.tap && [ "$$(cat build/deb-test-$$s.status)" = 0 ]

# Left out of make check (docs/testing.md): Debian's kernels under Secure
# Boot refuse the wrong modules there; this builds a kernel of its own.
check-sign: ## make sign checked by a self-built 7.2 kernel that forces module signatures: the signed module loads, unsigned, altered and foreign-key ones are refused.
	@harness/deps.sh >/dev/null
	@mkdir -p build && { harness/sign-test.sh build/sign; echo $$? >build/sign.status; } | \
		tee build/sign.tap && harness/tap-summary.sh <build/sign.tap && [ "$$(cat build/sign.status)" = 0 ]

bench: ## Benchmark ashmem against memfd in the guest (table, and JSON in build/). QUICK=1: smoke run; ONLY=lifecycle, threads or reclaim: those figures.
	SERIES=$(SERIES) harness/bench.sh $(if $(QUICK),-q) $(if $(filter lifecycle,$(ONLY)),-l) $(if $(filter threads,$(ONLY)),-t) $(if $(filter reclaim,$(ONLY)),-r)

fuzz: ## Fuzz the driver in the guest for SECONDS=N (default 60); SEED=S replays, OPS=N, WORKERS=N, TESTS="-t NAME", BITS=64 too; COVERAGE=1 (self-built kernels): coverage-guided too.
	SERIES=$(SERIES) OPS=$(OPS) WORKERS=$(WORKERS) COVERAGE=$(filter 1,$(COVERAGE)) TESTS="$(TESTS)" BITS="$(BITS)" \
		harness/fuzz.sh $(or $(SECONDS),60) $(SEED)

demo: ## Boot a guest and show /dev/ashmem in use.
	SERIES=$(SERIES) harness/demo.sh

diag-test: ## Host unit tests of scripts/ashmem-diag.
	python3 -m unittest discover -s selftests/diag/unit -v

diag-guest: ## Run ashmem-diag against the driver in a QEMU guest (SERIES).
	@set -- $$(harness/guest-kernel.sh $(SERIES)) && GUEST_KERNEL=$(SERIES) harness/diag-guest-test.sh $$1 $$4 $$3/diag

diag-chart: ## Draw docs/diag-chart.svg: ashmem-diag --watch --chart on a leaking app beside a stable one, in a QEMU guest (SERIES).
	@set -- $$(harness/guest-kernel.sh $(SERIES)) && harness/diag-chart.sh $$1 $$4 $$3/diag-chart && \
		cp $$3/diag-chart/diag-chart.svg docs/diag-chart.svg

android-guest: ## Android 16 device path in a QEMU guest (SERIES): Debian's udev and Waydroid with the module, libcutils-style use in containers.
	@set -- $$(harness/guest-kernel.sh $(SERIES)) && GUEST_KERNEL=$(SERIES) harness/android-guest-test.sh $$1 $$4 $$3/android

fmt: ## Format the Rust sources with the kernel's rustfmt settings.
	rustfmt --edition 2021 --config-path $(KDIR)/source/.rustfmt.toml rust/ashmem.rs

fmt-check: ## Check the Rust formatting.
	rustfmt --check --edition 2021 --config-path $(KDIR)/source/.rustfmt.toml rust/ashmem.rs

clean: ## Remove build output (the kernel cache stays in ~/.cache/ashmem_linux).
	rm -rf build

.PHONY: help module sign install install-files uninstall host-check rust-meta dkms-install dkms-remove deb deb-prebuilt kmm-image containers deps kdir check check-arm64 check-arm64-native check-secureboot check-sign check-deb \
	coverage bench fuzz demo diag-test diag-guest diag-chart android-guest fmt fmt-check clean
