# Guest job for `make fuzz` (FUZZ_SEED, FUZZ_SECONDS, FUZZ_OPS, FUZZ_WORKERS,
# FUZZ_TESTS and FUZZ_BITS are prepended by harness/fuzz.sh): load the module,
# run the 64-bit and the 32-bit fuzzer (each runs its tests, or FUZZ_TESTS),
# then unload the module: every region is closed by then, so a leaked file or
# module reference fails the run.
insmod /lib/modules/ashmem_linux.ko || exit 1
export ASHMEM_FUZZ_SEED="$FUZZ_SEED"
[ -z "$FUZZ_SECONDS" ] || export ASHMEM_FUZZ_SECONDS="$FUZZ_SECONDS"
[ -z "$FUZZ_OPS" ] || export ASHMEM_FUZZ_OPS="$FUZZ_OPS"
[ -z "$FUZZ_WORKERS" ] || export ASHMEM_FUZZ_WORKERS="$FUZZ_WORKERS"
rc=0
for bits in $FUZZ_BITS; do
	echo "# fuzz: $bits-bit program"
	# shellcheck disable=SC2086 # FUZZ_TESTS is "-t NAME ..."
	"/bin/fuzz$bits" $FUZZ_TESTS || rc=1
done
echo "# fuzz: unloading the module"
rmmod ashmem_linux || rc=1
exit $rc
