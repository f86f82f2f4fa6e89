# SPDX-License-Identifier: GPL-2.0
# ashmem_linux: the front door. `make help` lists the targets.

KDIR ?= /lib/modules/$(shell uname -r)/build
# Build output stays out of the source tree (Kbuild's MO=), one directory per kernel.
MO ?= $(CURDIR)/build/$(or $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null),default)/module
SERIES ?= 7.2

# Warnings are errors for both the Rust crate and any C shim.
MODULE_FLAGS := KRUSTFLAGS=-Dwarnings KCFLAGS=-Werror $(if $(CLIPPY),CLIPPY=1) MO=$(MO)

export PATH := $(HOME)/.cargo/bin:$(PATH)
export LIBCLANG_PATH ?= /usr/lib/llvm-19/lib

.DEFAULT_GOAL := module

help: ## List the targets.
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'
	@echo "Variables: KDIR=$(KDIR)  SERIES=$(SERIES)  CLIPPY=1  KVM=1  KERNEL_SRC=DIR"

module: ## Build ashmem_linux.ko against KDIR (default: the running kernel).
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(MODULE_FLAGS) modules
	@echo "built $(MO)/ashmem_linux.ko"

deps: ## Install the build and test dependencies (as root), or say what is missing.
	scripts/deps.sh

kdir: ## Build the test kernel if needed and print its tree.
	@scripts/test-kernel.sh $(SERIES)

check: ## Full test run: kernel, module, clippy, rustfmt, selftests in a QEMU guest.
	SERIES=$(SERIES) scripts/check.sh

bench: ## Benchmark ashmem against memfd in the guest (table, and JSON in build/). QUICK=1: smoke run.
	SERIES=$(SERIES) scripts/bench.sh $(if $(QUICK),-q)

demo: ## Boot a guest and show /dev/ashmem in use.
	SERIES=$(SERIES) scripts/demo.sh

diag-test: ## Host unit tests of scripts/ashmem-diag.
	python3 -m unittest discover -s scripts/tests -v

diag-guest: ## Run ashmem-diag against the driver in a QEMU guest.
	@kdir=$$(scripts/test-kernel.sh $(SERIES)) && out=$(CURDIR)/build/$$(basename $$kdir) && \
		$(MAKE) --no-print-directory module KDIR=$$kdir MO=$$out/module >&2 && \
		scripts/diag-guest-test.sh $$kdir $$out/module/ashmem_linux.ko $$out/diag

fmt: ## Format the Rust sources with the kernel's rustfmt settings.
	rustfmt --edition 2021 --config-path $(KDIR)/source/.rustfmt.toml rust/ashmem.rs

fmt-check: ## Check the Rust formatting.
	rustfmt --check --edition 2021 --config-path $(KDIR)/source/.rustfmt.toml rust/ashmem.rs

clean: ## Remove build output (the kernel cache stays in ~/.cache/ashmem_linux).
	rm -rf build

.PHONY: help module deps kdir check bench demo diag-test diag-guest fmt fmt-check clean
