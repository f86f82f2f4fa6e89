#!/usr/bin/env bash
# Boot the test kernel in QEMU with ROOT as the initramfs overlay (ROOT/job is
# run as a shell script). KDIR holds the kernel image: arch/x86/boot/bzImage
# (qemu-system-x86_64, console ttyS0, the job's output on ttyS1) or
# arch/arm64/boot/Image[.gz] (qemu-system-aarch64 -M virt -cpu max, console
# ttyAMA0, the job's output on a virtio console, hvc0; busybox is Debian's
# arm64 one, harness/guest-tools.sh). ROOT's programs must be of that
# architecture. Copies the job's output to stdout and fails when the
# job fails, the guest never finishes, or the kernel log shows a splat. A
# kernel that crashes while booting, before the job starts, is booted once
# more (and says so).
#
#   KVM=1      try KVM first; fall back to TCG when the guest stays silent
#   TIMEOUT=S  seconds before a hung guest is killed (default 600)
#   ICOUNT=1   TCG only: one guest instruction per TSC tick (-icount
#              shift=0,sleep=off), so timings read as instruction counts. The
#              vCPUs then take turns, so a CPU waiting for the other sees it
#              stall: the clocksource watchdog and RCU stall reports are off
#   GUEST_APPEND="ARG..."   more kernel command-line arguments (e.g.
#              module.sig_enforce=1)
#   LOGDIR=D   keep console.log, results.log and splats (the console's report
#              lines, empty when there is none) there (default: a temp dir);
#              the job's "#cov " lines (coverage records) are only there
#   GUEST_MEM=M  guest memory (default 2G)
#   GUEST_DISK=FILE  a raw disk image as the first virtio disk, /dev/vda
#              (harness/debian-disk.sh makes one with a Debian userland)
#   GUEST_NUMA=2 two NUMA nodes, one vCPU and half the memory each (a kernel
#              without CONFIG_NUMA sees one node)
set -euo pipefail

usage() { echo "usage: $0 KDIR ROOT" >&2; exit 2; }
[ $# -eq 2 ] || usage
kdir=$1 root=$2
here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/guest-checks.sh
. "$here/guest-checks.sh"
# The machine, from the kernel image KDIR holds.
if [ -f "$kdir/arch/x86/boot/bzImage" ]; then
	image=$kdir/arch/x86/boot/bzImage qemu=qemu-system-x86_64 machine=() console_dev=ttyS0
	busybox=$(command -v busybox)
	results_dev=ttyS1 results_opts=()
else
	image=$(ls "$kdir"/arch/arm64/boot/Image.gz "$kdir"/arch/arm64/boot/Image 2>/dev/null | head -n 1 || true)
	[ -n "$image" ] || { echo "guest-run: no kernel image in $kdir (arch/x86/boot/bzImage, arch/arm64/boot/Image[.gz])" >&2; exit 1; }
	# pauth-impdef: QEMU's own pointer-authentication hash, much faster under TCG than QARMA.
	qemu=qemu-system-aarch64 machine=(-M virt) console_dev=ttyAMA0
	busybox=$("$here/guest-tools.sh" arm64)/usr/bin/busybox
	results_dev=hvc0
	# shellcheck disable=SC2054 # QEMU's options are comma-separated
	results_opts=(-device virtio-serial-pci -device virtconsole,chardev=results)
fi
timeout_s=${TIMEOUT:-600}
mem=${GUEST_MEM:-2G}
numa=() smp=2
case "${GUEST_NUMA:-1}" in
1) ;;
2)
	# Sizes in MiB, each node half of the guest's memory.
	half=$(($(numfmt --from=iec "$mem") / 2 / 1048576))
	# shellcheck disable=SC2054 # QEMU's options are comma-separated
	numa=(-object "memory-backend-ram,id=node0,size=${half}M"
		-object "memory-backend-ram,id=node1,size=${half}M"
		-numa node,nodeid=0,cpus=0,memdev=node0 -numa node,nodeid=1,cpus=1,memdev=node1)
	# One socket per node: two cores of one socket share a last-level cache,
	# and the kernel warns when cache siblings sit on different nodes.
	smp=2,sockets=2,cores=1,threads=1
	mem=$((2 * half))M
	;;
*) echo "guest-run: GUEST_NUMA must be 1 or 2" >&2; exit 2 ;;
esac

disk=()
# shellcheck disable=SC2054 # QEMU's options are comma-separated
[ -z "${GUEST_DISK:-}" ] || disk=(-drive "file=$GUEST_DISK,format=raw,if=virtio,cache=unsafe")

logdir=${LOGDIR:-$(mktemp -d)}
mkdir -p "$logdir"
console=$logdir/console.log results=$logdir/results.log
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The initramfs: busybox, our /init, and the caller's overlay.
mkdir -p "$work/root/bin"
# The overlay becomes /: every user must be able to reach /dev and /bin.
chmod 0755 "$work/root"
cp "$busybox" "$work/root/bin/busybox"
install -m 0755 "$here/guest/init" "$work/root/init"
cp -a "$root/." "$work/root/"
(cd "$work/root" && find . -print0 | cpio --null -o -H newc --quiet) >"$work/initramfs.cpio"

boot() { # boot ACCEL TIMEOUT
	: >"$console"
	: >"$results"
	local accel=(-accel tcg) cpu=(-cpu max)
	# shellcheck disable=SC2054 # QEMU's options are comma-separated
	[ "$qemu" = qemu-system-x86_64 ] || cpu=(-cpu max,pauth-impdef=on)
	[ "$1" = kvm ] && accel=(-accel kvm) cpu=(-cpu host)
	# The job's output device reaches /init as a variable of its environment.
	# The trace event removed_cgroup.c reads is enabled at boot, before the
	# second CPU starts: enabling it later patches the kernel's text, and
	# under TCG a CPU may run the int3 of a finished patch (an "Oops: int3"
	# in __schedule killed Debian 7.2.13's guest once).
	local append="console=$console_dev panic=-1 rdinit=/init ashmem_results=$results_dev"
	append+=" trace_event=vmscan:mm_shrink_slab_start${GUEST_APPEND:+ $GUEST_APPEND}"
	if [ "$1" = tcg ] && [ "${ICOUNT:-0}" = 1 ]; then
		# shellcheck disable=SC2054 # QEMU's options are comma-separated
		accel+=(-icount shift=0,sleep=off)
		append+=" tsc=reliable rcupdate.rcu_cpu_stall_suppress=1"
	fi
	local channels=(-serial "file:$console" -serial "file:$results")
	[ ${#results_opts[@]} = 0 ] ||
		channels=(-serial "file:$console" -chardev "file,id=results,path=$results" "${results_opts[@]}")
	timeout --foreground -k 5 "$2" "$qemu" "${machine[@]}" "${accel[@]}" "${cpu[@]}" \
		-smp "$smp" -m "$mem" "${numa[@]}" "${disk[@]}" -nographic -no-reboot -nodefaults \
		-kernel "$image" -initrd "$work/initramfs.cpio" \
		-append "$append" "${channels[@]}" </dev/null
}

status=0
if [ "${KVM:-0}" = 1 ] && [ "${ICOUNT:-0}" != 1 ] && [ -w /dev/kvm ]; then
	boot kvm 30 || status=$?
	if ! grep -q "guest: running /job" "$console"; then
		echo "guest-run: KVM guest stayed silent, falling back to TCG" >&2
		status=0
		boot tcg "$timeout_s" || status=$?
	fi
else
	boot tcg "$timeout_s" || status=$?
fi
# The kernel crashed while booting, before /init started the job (which is
# what loads the module): not what is under test. Seen once in Debian's
# 7.3.4 under TCG ("Oops: int3" in sched_clock_cpu while a static key was
# being patched). The console is kept, and the guest boots once more.
splat=$guest_splat
if ! grep -q "guest: running /job" "$console" && grep -qaE "$splat" "$console"; then
	cp "$console" "$logdir/console-boot-crash.log"
	echo "guest-run: the kernel crashed while booting, before the job started (console in $logdir/console-boot-crash.log):" >&2
	grep -aE -m 3 "$splat" "$console" | sed 's/^/guest-run:   /' >&2
	echo "guest-run: booting once more" >&2
	status=0
	boot tcg "$timeout_s" || status=$?
fi

fail=0
guest_results "$status" "$timeout_s" "$console" "$results" "$logdir" || fail=1
[ -n "${LOGDIR:-}" ] || [ "$fail" = 1 ] || rm -rf "$logdir"
exit "$fail"
