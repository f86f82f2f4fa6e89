# Guest job of the module signature tests (harness/deb-test.sh: Debian's
# kernel booted with module.sig_enforce=1; harness/sign-test.sh: the test
# kernel with CONFIG_MODULE_SIG_FORCE). /sig/title is the TAP header;
# /sig/cases has one line per module, "NAME EXPECT FILE": EXPECT "loads"
# means kmod's insmod loads it, /dev/ashmem appears and rmmod removes it;
# "rejected" means insmod fails with EKEYREJECTED ("Key was rejected by
# service") and nothing is loaded. The insmod message and the kernel's lines
# are printed with each case.
export PATH=/sbin:/bin
insmod=/sbin/insmod rmmod=/sbin/rmmod
echo "# $(cat /sig/title)"
echo "1..$(($(wc -l </sig/cases) + 1))"
n=1 fail=0
enforced=$(cat /sys/module/module/parameters/sig_enforce 2>&1)
if [ "$enforced" = Y ]; then
	echo "ok 1 kernel_enforces_module_signatures"
else
	echo "not ok 1 kernel_enforces_module_signatures"
	fail=1
fi
echo "#   /sys/module/module/parameters/sig_enforce: $enforced"
loaded() { grep -q '^ashmem_linux ' /proc/modules; }
while read -r name expect file; do
	n=$((n + 1))
	dmesg -c >/dev/null
	rc=0
	msg=$($insmod "$file" 2>&1) || rc=$?
	ok=0
	case "$expect" in
	loads)
		if [ "$rc" = 0 ] && loaded && test -c /dev/ashmem; then
			$rmmod ashmem_linux && ! loaded && ok=1
		fi
		;;
	rejected)
		echo "$msg" | grep -q 'Key was rejected by service' && ! loaded && ! test -e /dev/ashmem && ok=1
		;;
	esac
	if [ "$ok" = 1 ]; then echo "ok $n ${name}_$expect"; else echo "not ok $n ${name}_$expect"; fail=1; fi
	echo "#   insmod $file: exit status $rc${msg:+: $msg}"
	dmesg | grep -iE 'ashmem|signature|Loading of|key|PKCS' | sed 's/^/#   kernel: /'
	# Each case starts with nothing loaded, whatever the last one did.
	! loaded || $rmmod ashmem_linux
done </sig/cases
exit $fail
