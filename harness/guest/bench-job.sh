# Guest job for `make bench` (BENCH_ARGS is prepended by harness/bench.sh):
# load the module, run the benchmark, print its JSON between markers.
# The CPUs the guest brought up: with one, the thread figures mean nothing
# (the benchmark says so too).
echo "guest CPUs online: $(cat /sys/devices/system/cpu/online) (nproc $(nproc))"
insmod /lib/modules/ashmem_linux.ko || exit 1
/bin/ashmem_bench $BENCH_ARGS -o /tmp/bench.json || exit 1
echo "### bench.json"
cat /tmp/bench.json
echo "### end"
rmmod ashmem_linux
