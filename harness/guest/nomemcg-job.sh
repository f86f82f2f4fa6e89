# Guest job of a guest booted with cgroup_disable=memory (the memory
# controller off, as some distributions' kernels boot by default): the driver
# charges nothing to a cgroup and lists every unpinned range on its node's
# list. The guest must show the controller off; then pin.c, and purge.c's
# tests that use no cgroup, run with the module loaded. With
# /ashmem_linux.coverage (the debug kernel: the module is the instrumented
# build), its coverage goes to the result channel as "#cov " lines, as in
# selftests-job.sh. TAP on the result channel.
export PATH=/sbin:/bin
echo "# nomemcg: memory cgroups disabled at boot"
echo "1..1"
if grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
	echo "not ok 1 memory_controller_disabled"
	echo "#   controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
else
	echo "ok 1 memory_controller_disabled"
fi
insmod /lib/modules/ashmem_linux.ko || { echo "# insmod ashmem_linux.ko failed"; exit 1; }
dmesg -c >/dev/null
rc=0
echo "# nomemcg: pin.c"
/bin/pin || rc=1
echo "# nomemcg: purge.c's tests that use no cgroup"
/bin/purge -t purge_all_caches_returns_the_unpinned_page_count \
	-t purge_all_caches_from_any_region_purges_every_region \
	-t drop_caches_purges_unpinned_ranges \
	-t pin_of_a_purged_range_reports_was_purged \
	-t pinning_part_of_a_range_takes_only_that_part_off_the_lru \
	-t closing_a_region_takes_its_ranges_off_the_lru || rc=1
if [ -e /ashmem_linux.coverage ]; then
	{
		echo "begin nomemcg"
		for s in /sys/module/ashmem_linux/sections/.*text*; do
			echo "section $(basename "$s") $(cat "$s")"
		done
		cat /sys/kernel/debug/ashmem_coverage/hits || echo "error: no coverage record"
		echo "end nomemcg"
	} | sed 's/^/#cov /'
fi
rmmod ashmem_linux || { echo "# rmmod ashmem_linux failed"; rc=1; }
[ ! -e /ashmem_linux.coverage ] ||
	dmesg -c | sed -n 's/^.*ashmem_linux: coverage at exit: /#cov exit /p'
exit $rc
