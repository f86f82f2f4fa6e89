#!/usr/bin/env bash
# Boot DISK (harness/debian-disk.sh) in QEMU (q35, SMM, TCG) with the UEFI
# firmware of SUITE that enforces Secure Boot (harness/debian-efi.sh) and the
# variable store VARS (changed in place, as a machine's NVRAM: enrolled keys
# and pending MokManager requests persist to the next boot of the same file).
# JOB is passed to the guest as the fw_cfg file opt/ashmem/job, which
# harness/guest/efi-init (the disk's init=) runs with its output on the
# second serial port, as harness/guest-run.sh's guests do: the job's output
# goes to stdout, and the run fails when the job fails, the guest never
# finishes or its console shows a kernel report (harness/guest-checks.sh).
#
#   TIMEOUT=S       seconds before a hung guest is killed (default 600)
#   LOGDIR=D        keep console.log, results.log and splats there
#   GUEST_MEM=M     guest memory (default 2G)
#   CONSOLE_STEPS=F type at the serial console as a person does
#                   (harness/serial-drive.py: "TEXT<TAB>KEYS" lines), e.g. in
#                   MokManager; JOB may then be omitted: the run must end
#                   by itself (the guest reboots) with no kernel report
set -euo pipefail

usage() { echo "usage: $0 SUITE DISK VARS [JOB]   (env TIMEOUT, LOGDIR, GUEST_MEM, CONSOLE_STEPS)" >&2; exit 2; }
[ $# -ge 3 ] && [ $# -le 4 ] || usage
suite=$1 disk=$2 vars=$3 job=${4:-}
[ -n "$job" ] || [ -n "${CONSOLE_STEPS:-}" ] || usage
here=$(dirname "$(realpath "$0")")
# shellcheck source=harness/guest-checks.sh
. "$here/guest-checks.sh"
efi=$("$here/debian-efi.sh" "$suite")
timeout_s=${TIMEOUT:-600}
logdir=${LOGDIR:-$(mktemp -d)}
mkdir -p "$logdir"
console=$logdir/console.log results=$logdir/results.log
: >"$console"
: >"$results"

# shellcheck disable=SC2054 # QEMU's options are comma-separated
qemu=(qemu-system-x86_64 -machine q35,smm=on,accel=tcg -cpu max -smp 2 -m "${GUEST_MEM:-2G}"
	-global driver=cfi.pflash01,property=secure,value=on -global ICH9-LPC.disable_s3=1
	-drive "if=pflash,format=raw,unit=0,file=$efi/OVMF_CODE_4M.secboot.fd,readonly=on"
	-drive "if=pflash,format=raw,unit=1,file=$vars"
	-drive "file=$disk,format=raw,if=virtio"
	-nographic -nodefaults -no-reboot)
[ -z "$job" ] || qemu+=(-fw_cfg "name=opt/ashmem/job,file=$job")
status=0
if [ -n "${CONSOLE_STEPS:-}" ]; then
	timeout --foreground -k 5 "$timeout_s" "$here/serial-drive.py" "$console" "$CONSOLE_STEPS" -- \
		"${qemu[@]}" -serial stdio -serial "file:$results" </dev/null || status=$?
else
	timeout --foreground -k 5 "$timeout_s" "${qemu[@]}" \
		-serial "file:$console" -serial "file:$results" </dev/null || status=$?
fi
# OVMF writes its console to every serial port: what came before
# efi-init's line on the second one is the firmware's (grub leaves a
# carriage return before it), not the job's.
sed -i 's/\r//g' "$results"
if grep -q "efi-init: the job's output follows$" "$results"; then
	sed -i "0,/efi-init: the job's output follows$/d" "$results"
else
	: >"$results"
fi
fail=0
guest_results "$status" "$timeout_s" "$console" "$results" "$logdir" "${job:-none}" || fail=1
[ -n "${LOGDIR:-}" ] || [ "$fail" = 1 ] || rm -rf "$logdir"
exit "$fail"
