#!/usr/bin/env bash
# The whole test run, for each test kernel, then the totals. Ends with
# "N passed, N failed" over every case of every kernel.
#
# A test kernel is one of Debian's own Rust-enabled kernels (sid: the newest
# sid kernel; trixie: the newest trixie-backports one; either with -arm64 or
# -arm64-16k: that arm64 flavour, see below), or a kernel this
# project builds (7.2, 7.3; SERIES-debug: the debug flavour, KASAN, lockdep,
# kmemleak, KUnit, SHRINKER_DEBUG, see selftests/ashmem/config.debug).
#
# Debian's kernel: a Debian userland with only Debian packages, where DKMS
# builds the module as on a user's host (the Rust metadata rebuilt from
# linux-source), the rebuild's refusals, then Debian's kernel binary booted
# in a QEMU guest with the DKMS-built module: modprobe as Waydroid does, the
# selftests 64- and 32-bit, the load/unload tests, ashmem-diag, and the
# Android 16 device path with Debian's udev and Waydroid's own code.
# A self-built kernel: the module with clippy and warnings as errors,
# rustfmt, make install/sign, the DKMS lifecycle in private trees, then the
# guest as above plus the module's KUnit suites (and kmemleak on the debug
# kernel). On the debug kernel the guest loads the module instrumented for
# coverage (`make module COVERAGE=1`) where DKMS installed its build, and the
# driver's coverage is reported (harness/coverage.py).
# Once: the host unit tests of ashmem-diag, containers on Debian sid's kernel
# (harness/containers-test.sh), a smoke run of `make bench` on the first
# kernel, the fuzz budget.
# Debian's arm64 kernels (sid-arm64-16k, sid-arm64, trixie-arm64...): the
# same with the architecture as a parameter, in a Debian userland of the
# host's architecture with Debian's cross compilers (the Rust metadata, DKMS
# and the module cross-built), Debian's arm64 kernel binary booted in
# qemu-system-aarch64, the selftests built 64-bit (arm64) and 32-bit (armhf);
# its guests get Debian's arm64 kmod, python3, udev and lxc
# (harness/guest-tools.sh). The Debian packages' tests (deb:) and Secure
# Boot run on sid's amd64 kernel (make check-deb SERIES=trixie for the
# other); make deb-prebuilt builds the arm64 kernels' packages.
set -euo pipefail

[ $# -eq 0 ] || { echo "usage: $0   (env: SERIES=\"sid trixie 7.2-debug\", KVM=1, KERNEL_SRC=DIR, CONTAINERS_UPGRADE=0)" >&2; exit 2; }
top=$(realpath "$(dirname "$0")/..")
cd "$top"
read -r -a kernels <<<"${SERIES:-sid trixie 7.2-debug}"

step() { printf '\n== %s  [%s]\n' "$*" "$(date +%T)" >&2; }

step "dependencies"
harness/deps.sh
# shellcheck source=harness/toolchain.sh
. harness/toolchain.sh

guest_failed=()
outs=()
host=$top/build/host
mkdir -p "$host"

# The selftest guest: ROOT already holds lib/modules and the sha256 of the
# module to load; adds the selftests, the job and the kernel's config.
selftest_guest() { # NAME BOOT-KDIR OUT CONFIG KMOD-USERLAND TIMEOUT [KERNEL]
	local name=$1 boot=$2 out=$3 config=$4 userland=$5 timeout=$6 kernel=${7:-$1} root=$3/guest-root rc=0
	rm -rf "$root"
	mkdir -p "$root/selftests" "$root/bin"
	cp -a "$out/guest/." "$root/"
	cp -r "$out/selftests/64" "$out/selftests/32" "$out/selftests/module" "$root/selftests/"
	harness/guest-kmod.sh "$root" $userland
	cp "$config" "$root/kernel.config"
	harness/guest-cc.sh "$kernel" -O2 -Wall -Werror -static -I selftests/ashmem -o "$root/bin/ashmem-user" harness/guest/ashmem-user.c
	cp harness/guest/selftests-job.sh "$root/job"
	cp harness/guest/tap.sh "$root/tap.sh"
	rm -f "$out/logs/splats"
	TIMEOUT=$timeout LOGDIR=$out/logs harness/guest-run.sh "$boot" "$root" | tee "$out/results.tap" || rc=$?
	[ "$rc" = 0 ] || guest_failed+=("$name: guest run failed (status $rc), logs in $out/logs")
	{
		echo "# kernel: the selftest guest's console (KASAN, lockdep, WARN, BUG, ...)"
		echo "1..1"
		if [ -f "$out/logs/splats" ] && [ ! -s "$out/logs/splats" ]; then
			echo "ok 1 no_kernel_report_in_console"
		else
			echo "not ok 1 no_kernel_report_in_console"
			sed 's/^/#   /' "$out/logs/splats" 2>/dev/null | head -n 20 || true
		fi
	} | tee "$out/kernel.tap"
}

# Debian's shim, grub and kernel under Secure Boot, DKMS's key in MOK
# (harness/secureboot-test.sh; MokManager too, unless SECUREBOOT_MOKMANAGER=0).
secureboot() { # SUITE RELEASE OUT
	local rc=0
	step "$2: Secure Boot: Debian's shim, grub and kernel, the module's key in MOK"
	MOKMANAGER=${SECUREBOOT_MOKMANAGER:-1} harness/secureboot-test.sh "$1" "$3/secureboot" >"$3/secureboot.tap" || rc=$?
	cat "$3/secureboot.tap"
	[ "$rc" = 0 ] || guest_failed+=("$2: Secure Boot tests failed (status $rc), logs in $3/secureboot")
}

diag_guest() { # NAME BOOT-KDIR KO OUT [KERNEL]
	local rc=0
	GUEST_KERNEL=${5:-} harness/diag-guest-test.sh "$2" "$3" "$4/diag" >"$4/diag.tap" || rc=$?
	cat "$4/diag.tap"
	[ "$rc" = 0 ] || guest_failed+=("$1: ashmem-diag guest failed (status $rc), logs in $4/diag/logs")
}

# reclaim.c's node tests in a guest with two NUMA nodes.
numa_guest() { # NAME BOOT-KDIR KO OUT
	local root=$4/numa-root rc=0
	rm -rf "$root"
	mkdir -p "$root/lib/modules" "$root/bin"
	cp "$3" "$root/lib/modules/ashmem_linux.ko"
	cp "$4/selftests/64/reclaim" "$root/bin/"
	cp harness/guest/numa-job.sh "$root/job"
	GUEST_NUMA=2 LOGDIR=$4/numa-logs harness/guest-run.sh "$2" "$root" >"$4/numa.tap" || rc=$?
	cat "$4/numa.tap"
	[ "$rc" = 0 ] || guest_failed+=("$1: NUMA guest failed (status $rc), logs in $4/numa-logs")
}

# pin.c, and purge.c's tests that use no cgroup, in a guest booted with memory
# cgroups disabled (cgroup_disable=memory); on the debug kernel the guest
# loads the instrumented module, and what it ran counts for the coverage.
nomemcg_guest() { # NAME BOOT-KDIR KO OUT
	local root=$4/nomemcg-root rc=0
	rm -rf "$root" "$4/nomemcg-logs"
	mkdir -p "$root/lib/modules" "$root/bin"
	cp "$3" "$root/lib/modules/ashmem_linux.ko"
	cp "$4/selftests/64/pin" "$4/selftests/64/purge" "$root/bin/"
	cp harness/guest/nomemcg-job.sh "$root/job"
	[ ! -e "$4/guest/ashmem_linux.coverage" ] || touch "$root/ashmem_linux.coverage"
	TIMEOUT=900 GUEST_APPEND=cgroup_disable=memory LOGDIR=$4/nomemcg-logs \
		harness/guest-run.sh "$2" "$root" >"$4/nomemcg.tap" || rc=$?
	cat "$4/nomemcg.tap"
	[ "$rc" = 0 ] || guest_failed+=("$1: guest without memory cgroups failed (status $rc), logs in $4/nomemcg-logs")
}

# The debug kernel's guest loads the instrumented module: it replaces DKMS's
# build in the guest's modules tree (which DKMS itself built and installed).
coverage_install() { # OUT
	local ko
	ko=$(find "$1/guest/lib/modules" -path '*/updates/*' -name ashmem_linux.ko)
	[ -n "$ko" ] || { echo "check: no module under updates/ in $1/guest" >&2; return 1; }
	cp "$1/module-cov/ashmem_linux.ko" "$ko"
	sha256sum <"$ko" | cut -d' ' -f1 >"$1/guest/ashmem_linux.sha256"
	touch "$1/guest/ashmem_linux.coverage"
}

# The driver's blocks the guest ran; "driver coverage: ..." in OUT/coverage/summary,
# the guest's records in OUT/coverage-records (make coverage reads them again).
coverage_report() { # OUT
	rm -rf "$1/coverage"
	cat "$1/logs/results.log" "$1/nomemcg-logs/results.log" 2>/dev/null |
		grep -a '^#cov ' >"$1/coverage-records" || true
	{ harness/coverage.py "$1/module-cov/ashmem_linux.ko" "$1/coverage-records" "$top" "$1/coverage" ||
		printf '# coverage: harness/coverage.py failed\n1..1\nnot ok 1 coverage_report_made\n'; } | tee "$1/coverage.tap"
}

selftests() { # KSRC OUT [KERNEL]: both builds, from scratch (a removed test's binary must not run)
	rm -rf "$2/selftests"
	harness/guest-cc.sh "${3:-}" --run make --no-print-directory -C "$top/selftests/ashmem" KSRC="$1" \
		OUT="$2/selftests" >/dev/null
}

debian_kernel() { # KERNEL: sid, trixie, or either with -arm64 or -arm64-16k
	local suite=$1 release boot out userland ko rc arch tools
	read -r release _ <<<"$(harness/debian-kernel.sh release "$suite")"
	arch=$(harness/debian-kernel.sh arch "$suite")
	out=$top/build/debian-$release
	outs+=("$release $out")
	mkdir -p "$out"

	step "$release: Debian $suite userland"
	userland=$(harness/debian-userland.sh "$suite")
	echo "$userland: $(tr '\n' ' ' <"${userland%/root}/packages")" >&2

	step "$release: DKMS in the Debian userland (Rust metadata from linux-source)"
	harness/debian-dkms-test.sh "$suite" "$out" | tee "$out/debian-dkms.tap"
	step "$release: the Rust metadata rebuild's checks"
	harness/rust-meta-test.sh "$suite" "$out" | tee "$out/rust-meta.tap"

	step "$release: selftests (64-bit and 32-bit)"
	selftests "$(harness/debian-kernel.sh ksrc "$suite")" "$out" "$suite"

	step "$release: Debian's kernel binary in a guest, with the DKMS-built module"
	boot=$(harness/debian-kernel.sh boot "$suite")
	if [ -f "$out/guest/ashmem_linux.sha256" ]; then
		# The guest's kmod from the userland (amd64), or Debian's kmod and
		# python3 of the guest's architecture; TCG emulates arm64 slower.
		tools=$userland timeout=900
		[ "$arch" = amd64 ] || { tools=$(harness/guest-tools.sh "$arch"); timeout=2400; }
		selftest_guest "$release" "$boot" "$out" "$userland/lib/modules/$release/build/.config" "$tools" "$timeout" "$suite"
		ko=$out/guest/lib/modules/$release/updates/dkms/ashmem_linux.ko
		step "$release: ashmem-diag in a guest"
		diag_guest "$release" "$boot" "$ko" "$out" "$suite"
		step "$release: two NUMA nodes"
		numa_guest "$release" "$boot" "$ko" "$out"
		step "$release: Android 16's device path, containers and Waydroid's own code in a guest"
		rc=0
		GUEST_KERNEL=$suite harness/android-guest-test.sh "$boot" "$ko" "$out/android" >"$out/android.tap" || rc=$?
		cat "$out/android.tap"
		[ "$rc" = 0 ] || guest_failed+=("$release: Android guest failed (status $rc), logs in $out/android/logs")
		# The packages' tests on sid's kernel (the others: make check-deb).
		if [ "$suite" = sid ]; then
			step "$release: the Debian packages installed, loaded and purged as a user does"
			rc=0
			harness/deb-test.sh "$suite" "$out/deb" >"$out/deb.tap" || rc=$?
			cat "$out/deb.tap"
			[ "$rc" = 0 ] || guest_failed+=("$release: Debian package tests failed (status $rc), logs in $out/deb")
		fi
		[ "$suite" != sid ] || secureboot "$suite" "$release" "$out"
	else
		guest_failed+=("$release: DKMS installed no module: no guest run")
	fi
}

own_kernel() { # SERIES[-debug]
	local s=$1 flavour=plain kdir out timeout=900
	[ "${s%-debug}" = "$s" ] || { flavour=debug timeout=3600; }
	step "$s: test kernel"
	kdir=$(harness/test-kernel.sh "${s%-debug}" "$flavour")
	echo "$kdir" >&2
	out=$top/build/$(basename "$kdir")
	outs+=("$s $out")

	step "$s: module (clippy, warnings as errors)"
	make --no-print-directory module KDIR="$kdir" MO="$out/module" CLIPPY=1
	if [ "$flavour" = debug ]; then
		step "$s: module instrumented for coverage (warnings as errors)"
		make --no-print-directory module KDIR="$kdir" MO="$out/module-cov" COVERAGE=1
	fi

	step "$s: rustfmt"
	make --no-print-directory fmt-check KDIR="$kdir"

	step "$s: selftests (64-bit and 32-bit)"
	selftests "$(realpath "$kdir/source")" "$out"

	step "$s: make install, uninstall, sign"
	harness/install-test.sh "$kdir" "$out/module" "$out" | tee "$out/packaging.tap"

	step "$s: DKMS lifecycle"
	# Leaves the modules tree DKMS installed in $out/guest/lib/modules.
	harness/dkms-test.sh "$kdir" "$out" | tee "$out/dkms.tap"
	[ "$flavour" != debug ] || coverage_install "$out"

	step "$s: guest run"
	rm -f "$out/coverage.tap"
	# Each instance of the instrumented module logs its coverage when it goes,
	# init_failure.c's hundreds of failed loads too: a kernel log that holds
	# all of a program's until the job reads it.
	local append=
	[ "$flavour" != debug ] || append=log_buf_len=16M
	GUEST_APPEND=$append selftest_guest "$s" "$kdir" "$out" "$kdir/.config" "" "$timeout"
	if [ "$flavour" = debug ]; then
		step "$s: memory cgroups disabled"
		nomemcg_guest "$s" "$kdir" "$out/module-cov/ashmem_linux.ko" "$out"
		step "$s: driver coverage"
		coverage_report "$out"
	fi

	# ashmem-diag reads what the selftests read (fdinfo, the summary): its
	# guest runs on the Debian kernels; here the time goes to coverage.
	if [ "$flavour" != debug ]; then
		step "$s: ashmem-diag in a guest"
		diag_guest "$s" "$kdir" "$out/module/ashmem_linux.ko" "$out"
	fi

	step "$s: two NUMA nodes"
	numa_guest "$s" "$kdir" "$out/module/ashmem_linux.ko" "$out"
}

step "ashmem-diag host unit tests"
selftests/diag/unit/tap_unittest.py | tee "$host/diag-unit.tap" || true
for k in "${kernels[@]}"; do
	case "$k" in
	sid | trixie | sid-arm64 | sid-arm64-16k | trixie-arm64 | trixie-arm64-16k) debian_kernel "$k" ;;
	*) own_kernel "$k" ;;
	esac
done

# Containers for real on Debian sid's kernel (a guest with a whole Debian
# root): Waydroid under lxc-start, redroid under podman, the KMM image of the
# run's Debian amd64 kernels, apt upgrade while containers hold regions
# (CONTAINERS_UPGRADE=0 leaves it out: its DKMS build takes about 4 minutes
# of the guest).
rm -f "$host/containers.tap"
debian_series=()
for k in "${kernels[@]}"; do case "$k" in sid | trixie) debian_series+=("$k") ;; esac; done
if [[ " ${kernels[*]} " == *" sid "* ]]; then
	step "containers: lxc-start of Waydroid's configuration, podman, the KMM image, apt upgrade while in use"
	rc=0
	UPGRADE=${CONTAINERS_UPGRADE:-1} harness/containers-test.sh "$host/containers" "${debian_series[@]}" >"$host/containers.tap" || rc=$?
	cat "$host/containers.tap"
	[ "$rc" = 0 ] || guest_failed+=("containers: failed (status $rc), logs in $host/containers")
fi

step "make bench (smoke run on ${kernels[0]}: it runs and writes valid JSON)"
{
	echo "# bench: make bench QUICK=1 SERIES=${kernels[0]}"
	echo "1..1"
	if SERIES=${kernels[0]} harness/bench.sh -q >"$host/bench.log" 2>&1; then
		echo "ok 1 make_bench_runs_and_writes_valid_json"
	else
		echo "not ok 1 make_bench_runs_and_writes_valid_json"
		tail -n 20 "$host/bench.log" | sed 's/^/#   /'
	fi
} | tee "$host/bench.tap"

step "fuzz budget"
# The fuzzer prints "fuzz: N operations" per run: the sum over every kernel.
fuzz_ops=0
for ko in "${outs[@]}"; do
	# No such line (a guest that died early) counts 0: it must not stop the run.
	n=$({ grep -aoE 'fuzz: [0-9]+ operations' "${ko#* }/results.tap" || true; } | awk '{ s += $2 } END { print s + 0 }')
	fuzz_ops=$((fuzz_ops + n))
done
{
	want=$((100000 * ${#outs[@]}))
	echo "# fuzz-budget: operations fuzzed across ${#outs[@]} kernels: $fuzz_ops"
	echo "1..1"
	if [ "$fuzz_ops" -ge "$want" ]; then
		echo "ok 1 at_least_100000_fuzzed_operations_per_kernel ($fuzz_ops >= $want)"
	else
		echo "not ok 1 at_least_100000_fuzzed_operations_per_kernel ($fuzz_ops < $want)"
	fi
} | tee "$host/fuzz-budget.tap"

step "results"
# Per kernel and part, then the total that CI reads (the last line).
parts=(debian-dkms: rust-meta: dkms: packaging: modprobe: "selftest: 64-bit" "selftest: 32-bit" "selftest: module"
	kunit: kmemleak: kernel: nomemcg: coverage: diag: numa: android: deb: secureboot:)
part_re='^# (debian-dkms|rust-meta|dkms|packaging|modprobe|selftest|kunit|kmemleak|kernel|nomemcg|coverage|diag|numa|android|deb|secureboot|diag-unit|bench|fuzz-budget): '
for ko in "${outs[@]}"; do
	k=${ko%% *} out=${ko#* }
	cat "$out"/{debian-dkms,rust-meta,dkms,packaging,results,kernel,nomemcg,coverage,diag,numa,android,deb,secureboot}.tap 2>/dev/null >"$out/all.tap" || true
	for part in "${parts[@]}"; do
		# Each part runs where it applies (kmemleak on the debug kernel, ...).
		grep -q "^# $part" "$out/all.tap" || continue
		printf '%s %s ' "$k" "$part"
		awk -v want="# $part" -v re="$part_re" '$0 ~ re { on = index($0, want) == 1 } on' \
			"$out/all.tap" | harness/tap-summary.sh | tail -n 1 || true
	done
done
for part in diag-unit bench fuzz-budget containers; do
	[ -f "$host/$part.tap" ] || continue
	printf '%s: ' "$part"
	harness/tap-summary.sh <"$host/$part.tap" | tail -n 1 || true
done
for ko in "${outs[@]}"; do
	[ ! -f "${ko#* }/coverage/summary" ] || echo "${ko%% *} $(cat "${ko#* }/coverage/summary")"
done
for f in "${guest_failed[@]}"; do echo "$f" >&2; done
summary=0
{
	cat "$host/diag-unit.tap" "$host/bench.tap" "$host/fuzz-budget.tap"
	[ ! -f "$host/containers.tap" ] || cat "$host/containers.tap"
	for ko in "${outs[@]}"; do cat "${ko#* }/all.tap"; done
} | harness/tap-summary.sh || summary=$?
[ ${#guest_failed[@]} = 0 ] && [ "$summary" = 0 ]
