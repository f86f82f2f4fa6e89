# Guest job of harness/diag-chart.sh: selftests/diag/workload's diag-leaker
# (an app named com.example.leaky.persistent, put in a cgroup named like
# Waydroid's container) leaks a 16K region every 0.5 s beside diag-stable;
# ashmem-diag --watch 2 --samples 20 --chart draws them. The tool's output
# goes to the result channel as "# " lines, the chart as base64 on
# "# chart: " lines. Fails unless the tool flagged something and drew a chart.
echo "# diag-chart: ashmem-diag --watch --chart in the guest"
insmod /lib/modules/ashmem_linux.ko || { echo "# insmod ashmem_linux.ko failed"; exit 1; }
dir=/tmp/diag-workload cgroup=/sys/fs/cgroup/lxc.payload.waydroid chart=/tmp/diag-chart.svg
mkdir -p "$dir" "$cgroup"
/diag/workload "$dir" stable leaker &
workload=$!
tries=0
while [ ! -f "$dir/ready" ]; do
	tries=$((tries + 1))
	if [ "$tries" -gt 120 ] || ! kill -0 "$workload" 2>/dev/null; then
		echo "# the workload did not start"
		exit 1
	fi
	sleep 1
done
awk '$1 == "leaker" { print $2 }' "$dir/ready" >"$cgroup/cgroup.procs"
rc=0
/usr/bin/python3 /diag/ashmem-diag --watch 2 --samples 20 --chart "$chart" \
	>/tmp/diag-out.txt 2>/tmp/diag-err.txt || rc=$?
sed 's/^/# /' /tmp/diag-err.txt /tmp/diag-out.txt
echo "# ashmem-diag exit status: $rc (1: it flagged something)"
[ -s "$chart" ] && /usr/bin/python3 -c '
import base64, sys
data = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
for i in range(0, len(data), 76):
    print("# chart: " + data[i:i + 76])
' "$chart"
kill "$workload"
wait "$workload"
status=$?
rmdir "$cgroup" || status=1
rmmod ashmem_linux || { echo "# rmmod ashmem_linux failed"; status=1; }
[ "$rc" = 1 ] && [ -s "$chart" ] && [ "$status" = 0 ]
