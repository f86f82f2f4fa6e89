# Guest job of harness/deb-test.sh: the selftests job
# (harness/guest/selftests-job.sh, here /selftests-job.sh) once for the
# module of each package under /packages/NAME (in the order of
# /packages/order), with that package's modules tree (modules), the sha256 of
# its module and its selftests put in place, and the job's TAP headers
# prefixed "deb: NAME". The job ends with `modprobe -r`, so every package
# starts from an unloaded module.
rc=0
for name in $(cat /packages/order); do
	dir=/packages/$name
	rm -rf /lib/modules /selftests /ashmem_linux.sha256
	mkdir -p /lib
	cp -a "$dir/modules" /lib/modules
	cp -a "$dir/selftests" /selftests
	cp "$dir/ashmem_linux.sha256" /
	{
		sh /selftests-job.sh
		echo $? >/tmp/job-status
	} 2>&1 | sed "s/^# \(modprobe\|kunit\|selftest\|kmemleak\): /# deb: $name \1: /"
	[ "$(cat /tmp/job-status)" = 0 ] || rc=1
done
exit $rc
