#!/usr/bin/env bash
# Draw the example chart of ashmem-diag --watch --chart (docs/diag-chart.svg)
# in the QEMU test guest: harness/guest/diag-chart-job.sh runs a leaking app
# beside a stable one (selftests/diag/workload) under the real driver and
# watches them for 38 s; the chart comes back over the result channel and is
# checked to be well-formed SVG. `make diag-chart` runs this and copies the
# chart to docs/.
#
#   KDIR  the test kernel tree (harness/test-kernel.sh prints it)
#   KO    the module built against it (ashmem_linux.ko)
#   OUT   output directory: guest root, results.log, logs/, diag-chart.svg
set -euo pipefail

usage() { echo "usage: $0 KDIR KO OUT   (env: KVM=1, TIMEOUT=S as for harness/guest-run.sh)" >&2; exit 2; }
[ $# -eq 3 ] || usage
kdir=$1 ko=$2 out=$3
top=$(realpath "$(dirname "$0")/..")
[ -f "$kdir/arch/x86/boot/bzImage" ] || { echo "diag-chart: no bzImage in $kdir" >&2; exit 1; }
mkdir -p "$out"
out=$(realpath "$out")

root=$out/chart-root
"$top/harness/diag-guest-root.sh" "$ko" "$top/harness/guest/diag-chart-job.sh" "$root"
guest=0
LOGDIR=$out/logs "$top/harness/guest-run.sh" "$kdir" "$root" >"$out/results.log" || guest=$?
grep -av '^# chart: ' "$out/results.log" >&2 || true
[ "$guest" = 0 ] || { echo "diag-chart: guest run failed (status $guest): logs in $out/logs" >&2; exit 1; }
grep -a '^# chart: ' "$out/results.log" | cut -c10- | base64 -d >"$out/diag-chart.svg"
python3 -c 'import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag' "$out/diag-chart.svg" ||
	{ echo "diag-chart: $out/diag-chart.svg is not an SVG document" >&2; exit 1; }
echo "diag-chart: $out/diag-chart.svg" >&2
