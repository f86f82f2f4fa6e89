# Guest job (busybox sh, in the initramfs) of harness/debian-disk.sh's
# JOB_ROOT: mount the Debian root file system of the first virtio disk (its
# second partition, after the ESP) and run its /job there, as
# root, with the words of /disk/args as arguments. /job's output goes where
# this job's goes (the result channel), its exit status is this job's.
export PATH=/bin:/sbin
for m in $(cat /disk/modules/order); do
	insmod "/disk/modules/$m" || { echo "# disk: insmod $m failed"; exit 1; }
done
for _ in $(seq 50); do [ -b /dev/vda2 ] && break; sleep 0.2; done
mkdir -p /mnt
mount -t ext4 /dev/vda2 /mnt || { echo "# disk: cannot mount /dev/vda2"; exit 1; }
# The kernel loads modules (overlay, veth, bridge, nf_tables, ...) with the
# disk's kmod, from the disk's /lib/modules.
printf '#!/bin/sh\nexec chroot /mnt /sbin/modprobe "$@"\n' >/bin/disk-modprobe
chmod 0755 /bin/disk-modprobe
echo /bin/disk-modprobe >/proc/sys/kernel/modprobe
mount -t proc proc /mnt/proc
mount -t sysfs sys /mnt/sys
mount -t cgroup2 cgroup2 /mnt/sys/fs/cgroup
mount -o bind /dev /mnt/dev
mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /mnt/dev/pts
mount -t tmpfs -o mode=1777 shm /mnt/dev/shm
mount -t tmpfs -o mode=0755 run /mnt/run
mount -t tmpfs -o mode=1777 tmp /mnt/tmp
echo "# disk: /dev/vda2 ($(cat /sys/block/vda/vda2/size) sectors) is the root of /job"
# In a mount namespace of its own, the disk moved onto / as switch_root does
# (a plain chroot would leave the initramfs at the namespace's root, where
# a process joining a container, as podman exec does, would land).
# shellcheck disable=SC2016,SC2046 # expanded by the inner shell; /disk/args holds words
unshare -m --propagation private sh -c '
	cd /mnt && mount -o move . / && exec chroot . /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb /bin/bash /job "$@"
' sh $(cat /disk/args)
rc=$?
# Whatever /job left running (daemons, containers) goes; then the disk is
# clean for the next boot.
kill -TERM -1 2>/dev/null
sleep 1
kill -KILL -1 2>/dev/null
for m in /mnt/tmp /mnt/run /mnt/dev/shm /mnt/dev/pts /mnt/dev /mnt/sys/fs/cgroup /mnt/sys /mnt/proc; do
	umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done
sync
umount /mnt 2>/dev/null || mount -o remount,ro /mnt || echo "# disk: /mnt stays mounted read-write"
exit $rc
