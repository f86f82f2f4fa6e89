# Guest job for `make demo`: load the module and run the demo program.
echo "## insmod ashmem_linux.ko"
insmod /lib/modules/ashmem_linux.ko || exit 1
echo "## lsmod"
lsmod
echo "## ls -l /dev/ashmem"
ls -l /dev/ashmem
echo "## ashmem_demo"
/bin/ashmem_demo || exit 1
echo "## ashmem_purge_demo"
/bin/ashmem_purge_demo || exit 1

# The demo programs have exited: a holder of a few named regions for
# ashmem-diag to show (selftests/diag/workload.c), diag-beta in a cgroup
# named like Waydroid's container.
echo "## workload: three processes holding named regions, one in a cgroup named like Waydroid's"
rm -rf /tmp/holder
mkdir -p /tmp/holder
/bin/workload /tmp/holder alpha beta stable &
holder=$!
tries=0
until [ -f /tmp/holder/ready ]; do
	tries=$((tries + 1))
	[ "$tries" -le 300 ] && kill -0 "$holder" 2>/dev/null || { echo "workload did not start"; exit 1; }
	sleep 0.1
done
cat /tmp/holder/ready
mkdir -p /sys/fs/cgroup/lxc.payload.waydroid2
awk '$1 == "beta" { print $2 }' /tmp/holder/ready >/sys/fs/cgroup/lxc.payload.waydroid2/cgroup.procs
rc=0
echo "## ashmem-diag"
/usr/bin/python3 /bin/ashmem-diag || rc=1
echo "## ashmem-diag --regions"
/usr/bin/python3 /bin/ashmem-diag --regions || rc=1
kill "$holder"
wait "$holder" || rc=1
rmdir /sys/fs/cgroup/lxc.payload.waydroid2
# Quietly, so the demo ends with the tables; rmmod fails if a region is left.
rmmod ashmem_linux || { echo "rmmod ashmem_linux failed"; exit 1; }
exit $rc
