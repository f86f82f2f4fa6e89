# Guest job of harness/diag-guest-test.sh: load the module, run ashmem-diag
# against it through /diag/check_diag.py (TAP on the result channel), unload.
echo "# diag: ashmem-diag in the guest"
insmod /lib/modules/ashmem_linux.ko || { echo "1..1"; echo "not ok 1 - insmod ashmem_linux.ko"; exit 1; }
rc=0
/usr/bin/python3 /diag/check_diag.py --tool /diag/ashmem-diag --workload /diag/workload || rc=$?
# rmmod is refused while a region is open or mapped: a process left behind.
rmmod ashmem_linux || { echo "# rmmod ashmem_linux failed"; rc=1; }
exit $rc
