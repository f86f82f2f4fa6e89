# Guest job: load the module, run every selftest program (64-bit, then
# 32-bit), and unload the module. TAP goes to the result channel.
export ASHMEM_KO=/lib/modules/ashmem_linux.ko
insmod "$ASHMEM_KO" || { echo "# insmod $ASHMEM_KO failed"; exit 1; }
rc=0
for bits in 64 32; do
	for t in /selftests/"$bits"/*; do
		echo "# selftest: $bits-bit $(basename "$t")"
		"$t" || rc=1
	done
done
rmmod ashmem_linux || { echo "# rmmod ashmem_linux failed"; rc=1; }
exit $rc
