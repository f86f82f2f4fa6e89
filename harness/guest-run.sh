#!/usr/bin/env bash
# Boot the test kernel in QEMU with ROOT as the initramfs overlay (ROOT/job is
# run as a shell script), copy the job's output to stdout and fail when the
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
#              lines, empty when there is none) there (default: a temp dir)
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
cp "$(command -v busybox)" "$work/root/bin/busybox"
install -m 0755 "$here/guest/init" "$work/root/init"
cp -a "$root/." "$work/root/"
(cd "$work/root" && find . -print0 | cpio --null -o -H newc --quiet) >"$work/initramfs.cpio"

boot() { # boot ACCEL TIMEOUT
	: >"$console"
	: >"$results"
	local accel=(-accel tcg) cpu=(-cpu max)
	[ "$1" = kvm ] && accel=(-accel kvm) cpu=(-cpu host)
	local append="console=ttyS0 panic=-1 rdinit=/init${GUEST_APPEND:+ $GUEST_APPEND}"
	if [ "$1" = tcg ] && [ "${ICOUNT:-0}" = 1 ]; then
		# shellcheck disable=SC2054 # QEMU's options are comma-separated
		accel+=(-icount shift=0,sleep=off)
		append+=" tsc=reliable rcupdate.rcu_cpu_stall_suppress=1"
	fi
	timeout --foreground -k 5 "$2" qemu-system-x86_64 "${accel[@]}" "${cpu[@]}" \
		-smp "$smp" -m "$mem" "${numa[@]}" "${disk[@]}" -nographic -no-reboot -nodefaults \
		-kernel "$kdir/arch/x86/boot/bzImage" -initrd "$work/initramfs.cpio" \
		-append "$append" \
		-serial "file:$console" -serial "file:$results" </dev/null
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
splat='(WARNING:|BUG:|Oops|general protection fault|Kernel panic|kernel BUG|Call Trace:|possible circular locking|possible recursive locking|inconsistent lock state|INFO: task .* blocked|unreferenced object|UBSAN:|KASAN:|KFENCE:|rcu_sched self-detected stall|soft lockup|hard LOCKUP)'
if ! grep -q "guest: running /job" "$console" && grep -qaE "$splat" "$console"; then
	cp "$console" "$logdir/console-boot-crash.log"
	echo "guest-run: the kernel crashed while booting, before the job started (console in $logdir/console-boot-crash.log):" >&2
	grep -aE -m 3 "$splat" "$console" | sed 's/^/guest-run:   /' >&2
	echo "guest-run: booting once more" >&2
	status=0
	boot tcg "$timeout_s" || status=$?
fi

# The serial line discipline turns \n into \r\n.
sed -i 's/\r$//' "$results" "$console"
grep -av '^# guest-exit:' "$results" || true

fail=0
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
	echo "guest-run: guest did not finish within ${timeout_s}s (killed); console log: $console" >&2
	fail=1
fi
exit_line=$(grep -a '^# guest-exit:' "$results" | tail -n 1 || true)
if [ -z "$exit_line" ]; then
	echo "guest-run: the guest job never reported its exit status; console log follows" >&2
	tail -n 50 "$console" >&2
	fail=1
elif [ "${exit_line##*: }" != 0 ]; then
	echo "guest-run: guest job exited with status ${exit_line##*: }" >&2
	fail=1
fi
# Any kernel splat fails the run, whatever the tests said.
grep -aE "$splat" "$console" >"$logdir/splats" || true
if [ -s "$logdir/splats" ]; then
	echo "guest-run: kernel splat in the guest log:" >&2
	grep -aE -B2 -A20 "$splat" "$console" | head -n 80 >&2
	fail=1
fi
[ -n "${LOGDIR:-}" ] || [ "$fail" = 1 ] || rm -rf "$logdir"
exit "$fail"
