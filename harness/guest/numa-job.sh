# Guest job of a guest with two NUMA nodes (GUEST_NUMA=2 harness/guest-run.sh):
# the guest must see both, then reclaim.c's node tests run with the module
# loaded (the one that reads the shrinker's per-node counts in debugfs skips
# on a kernel without SHRINKER_DEBUG). TAP on the result channel.
echo "# numa: the guest's NUMA nodes"
echo "1..1"
if [ -d /sys/devices/system/node/node1 ]; then
	echo "ok 1 two_numa_nodes_online"
else
	echo "not ok 1 two_numa_nodes_online"
	echo "#   nodes: $(ls -d /sys/devices/system/node/node* 2>/dev/null | tr '\n' ' ')"
fi
insmod /lib/modules/ashmem_linux.ko || { echo "# insmod ashmem_linux.ko failed"; exit 1; }
rc=0
echo "# numa: reclaim.c's node tests"
/bin/reclaim -t purge_all_caches_purges_the_ranges_listed_on_every_node \
	-t purge_all_caches_reaches_ranges_unpinned_on_each_node || rc=1
rmmod ashmem_linux || { echo "# rmmod ashmem_linux failed"; rc=1; }
exit $rc
