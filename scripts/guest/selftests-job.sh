# Guest job: load the module (its KUnit tests run then), run every selftest
# program (64-bit, then 32-bit), and unload the module. TAP goes to the result channel.
export ASHMEM_KO=/lib/modules/ashmem_linux.ko
insmod "$ASHMEM_KO" || { echo "# insmod $ASHMEM_KO failed"; exit 1; }
# The module's KUnit suites ran at load: pass their test cases on as TAP.
echo "# kunit: ashmem_linux"
kunit=$(dmesg | awk '
	/^    # Subtest: ashmem_/ { on = 1; next }
	on && /^(ok|not ok) [0-9]+ ashmem_/ { on = 0; next }
	on && /^    (1[.][.]|ok |not ok )/ { sub(/^    /, ""); print }
	on && /^    # .*ASSERTION FAILED/ { print }')
# A kernel without KUnit runs nothing: that is a failure, not a pass.
echo "${kunit:-not ok 1 kunit_suites_ran_at_module_load}"
rc=0
for bits in 64 32; do
	for t in /selftests/"$bits"/*; do
		echo "# selftest: $bits-bit $(basename "$t")"
		"$t" || rc=1
	done
done
rmmod ashmem_linux || { echo "# rmmod ashmem_linux failed"; rc=1; }
exit $rc
