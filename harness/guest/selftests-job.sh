# Guest job. /lib/modules/$(uname -r) is the tree DKMS installed into (our
# module under updates/; on a self-built kernel a same-named stand-in under
# kernel/), /sbin holds the real kmod (the host's, or on Debian's kernel the
# Debian userland's), and /kernel.config is the kernel's config. First what Waydroid does: with no /dev/ashmem, depmod, then
# `modprobe -q ashmem_linux`, and the node must be there, a char device, mode
# 0666, usable by a non-root user. Then the module's KUnit results (they ran at
# load), every selftest program (64-bit, then 32-bit), the load/unload tests,
# `modprobe -r`, and on a kernel with kmemleak (the debug kernel) a leak scan.
# TAP goes to the result channel. With /ashmem_linux.coverage (the debug
# kernel: the module under updates/ is then the instrumented build, `make
# module COVERAGE=1`), the driver's coverage goes there too, as "#cov " lines
# (harness/guest-run.sh keeps them out of its output, harness/coverage.py
# reads them): the record of the loaded module after the selftests and after
# the load/unload tests, and after every program what each unload of the
# module logged (the tests unload it: what an instance ran goes with it).
#
# kmod's tools are called by their path: busybox's shell would run its own
# applets of the same names (which ignore depmod's updates/ priority) first.
export PATH=/sbin:/bin
depmod=/sbin/depmod modprobe=/sbin/modprobe modinfo=/sbin/modinfo
# check (output shown for failed cases only).
. /tap.sh
kver=$(uname -r)
updates_module() { $modinfo -n ashmem_linux | grep -e "^/lib/modules/$kver/updates/" -e "^/usr/lib/modules/$kver/updates/"; }
is_dkms_build() {
	want=$(cat /ashmem_linux.sha256)
	have=$(sha256sum "$($modinfo -n ashmem_linux)" | cut -d' ' -f1)
	echo "loaded $have, installed $want, version $(cat /sys/module/ashmem_linux/version)"
	[ "$have" = "$want" ] && ! dmesg | grep -q 'ashmem_linux decoy'
}
mode_0666() { m=$(stat -c %a /dev/ashmem); echo "mode $m"; [ "$m" = 666 ]; }
loaded() { grep -q '^ashmem_linux ' /proc/modules; }

echo "# modprobe: ashmem_linux as Waydroid loads it"
echo "1..8"
check no_dev_ashmem_before_modprobe sh -c '! test -e /dev/ashmem && ! grep -q "^ashmem_linux " /proc/modules'
check depmod_indexes_the_dkms_module sh -c "$depmod && grep '^updates/.*ashmem_linux\.ko[.a-z]*:' /lib/modules/$kver/modules.dep"
check modinfo_resolves_to_updates_not_in_tree updates_module
check modprobe_q_ashmem_linux $modprobe -q ashmem_linux
if [ -e /ashmem_linux.coverage ]; then
	check loaded_module_is_the_instrumented_build is_dkms_build
else
	check loaded_module_is_the_dkms_build is_dkms_build
fi
check dev_ashmem_is_a_char_device test -c /dev/ashmem
check dev_ashmem_mode_0666 mode_0666
check non_root_user_opens_sizes_maps_writes /bin/ashmem-user 1000

export ASHMEM_KO
ASHMEM_KO=$($modinfo -n ashmem_linux)
loaded || { echo "# ashmem_linux is not loaded: no selftests"; exit 1; }
# The module's KUnit suites ran at load: pass their test cases on as TAP.
echo "# kunit: ashmem_linux"
if grep -qx 'CONFIG_KUNIT=y' /kernel.config; then
	kunit=$(dmesg | awk '
		/^    # Subtest: ashmem_/ { on = 1; next }
		on && /^(ok|not ok) [0-9]+ ashmem_/ { on = 0; next }
		on && /^    (1[.][.]|ok |not ok )/ { sub(/^    /, ""); print }
		on && /^    # .*ASSERTION FAILED/ { print }')
	# A kernel with KUnit that ran nothing: that is a failure, not a pass.
	echo "${kunit:-not ok 1 kunit_suites_ran_at_module_load}"
else
	# Debian's kernels have no KUnit: the suites run on the debug kernel.
	echo "1..1"
	echo "ok 1 kunit_suites_ran_at_module_load # SKIP kernel without CONFIG_KUNIT (the debug kernel runs them)"
fi
rc=0
# On the debug kernel: leak suspects from boot are marked seen, so that the
# scan at the end reports only what the tests left.
kmemleak=/sys/kernel/debug/kmemleak
if [ -e $kmemleak ]; then
	echo scan >$kmemleak
	echo clear >$kmemleak
fi
# The blocks the loaded module ran so far, and where its text sections are.
coverage_dump() { # WHEN
	[ -e /ashmem_linux.coverage ] || return 0
	{
		echo "begin $1"
		for s in /sys/module/ashmem_linux/sections/.*text*; do
			echo "section $(basename "$s") $(cat "$s")"
		done
		cat /sys/kernel/debug/ashmem_coverage/hits || echo "error: no coverage record"
		echo "end $1"
	} | sed 's/^/#cov /'
}
# What the module logged when it was unloaded since the last call (the log
# is cleared: the hundred load/unload cycles would overrun it).
coverage_unloads() {
	[ -e /ashmem_linux.coverage ] || return 0
	dmesg -c | sed -n 's/^.*ashmem_linux: coverage at exit: /#cov exit /p'
}
coverage_unloads >/dev/null
# many_ranges.c's largest UNPIN: the most ranges a region holds (2^19, what
# reaches the order-11 request) take seconds on Debian's kernels and about 20
# minutes under KASAN, lockdep and kmemleak: the debug kernel runs the same
# path with 16,384 ranges.
if grep -qx 'CONFIG_KASAN=y' /kernel.config; then
	export ASHMEM_MOST_RANGES=16384
fi
for bits in 64 32; do
	# A guest may carry the programs of one width only.
	[ -d "/selftests/$bits" ] || continue
	for t in /selftests/"$bits"/*; do
		echo "# selftest: $bits-bit $(basename "$t") (at $(cut -d' ' -f1 /proc/uptime) s)"
		"$t" || rc=1
		coverage_unloads
	done
done
coverage_dump selftests
# Then the load/unload tests: they leave the module loaded.
for t in /selftests/module/*; do
	echo "# selftest: module $(basename "$t") (at $(cut -d' ' -f1 /proc/uptime) s)"
	"$t" || rc=1
	coverage_unloads
done
coverage_dump module-tests

echo "# modprobe: ashmem_linux removal"
echo "1..1"
n=0
check modprobe_r_unloads_and_removes_node sh -c "$modprobe -r ashmem_linux"' && ! grep -q "^ashmem_linux " /proc/modules && ! test -e /dev/ashmem'
coverage_unloads

# kmemleak does not report objects younger than 5 s: wait, then scan (twice,
# as its documentation advises against transient false positives).
no_leaks() {
	sleep 6
	echo scan >$kmemleak
	echo scan >$kmemleak
	leaks=$(cat $kmemleak)
	[ -z "$leaks" ] || { echo "$leaks" | head -n 60; return 1; }
}
if [ -e $kmemleak ]; then
	echo "# kmemleak: after every test and the module's removal"
	echo "1..1"
	n=0
	check kmemleak_reports_no_leak no_leaks
fi
exit $rc
