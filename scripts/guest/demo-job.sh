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
echo "## rmmod ashmem_linux"
rmmod ashmem_linux
