# Guest job of harness/android-guest-test.sh: the Android 16 device path and
# Waydroid's own code against the module. TAP on the result channel.
#
# The root holds the module under /lib/modules/$(uname -r)/updates, kmod in
# /sbin, Debian's systemd-udevd/udevadm, Debian's python3 with python3-dbus
# and python3-gi, lxc-info from Debian's lxc, Debian's Waydroid in
# /usr/lib/waydroid, what `make install-files` installs (udev rule, Waydroid
# helper), and /android: the libcutils-style program (64- and 32-bit), the
# Waydroid harness and the container helper.
export PATH=/sbin:/usr/sbin:/usr/bin:/bin
# check and skip; every case's output is shown, passed ones' too.
TAP_VERBOSE=1
. /tap.sh
rc=0
kver=$(uname -r)
boot_id=$(cat /proc/sys/kernel/random/boot_id)
helper=/usr/libexec/ashmem_linux/waydroid-ashmem-entry
nodes=/var/lib/waydroid/lxc/waydroid/config_nodes

# udevd must be running before the module loads, to get its uevent. It needs
# inotify, signalfd and timerfd: a kernel without them (the tinyconfig test
# kernels) gets the rule through `udevadm test` only, which reads and matches
# it but cannot run its PROGRAM either; what needs the link is then skipped.
echo "# android: Debian's udev, before the module"
echo "1..2"
mkdir -p /run /var/lib
/sbin/depmod 2>/dev/null
check depmod_indexes_the_module sh -c "grep '^updates/ashmem_linux.ko:' /lib/modules/$kver/modules.dep"
/sbin/systemd-udevd --debug >/tmp/udevd.log 2>&1 &
udev_live=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	udevadm control --ping 2>/dev/null && { udev_live=1; break; }
	sleep 1
done
if [ $udev_live = 1 ]; then
	check systemd_udevd_runs_with_the_installed_rule sh -c \
		"echo systemd-udevd \$(udevadm --version), rules: \$(ls /usr/lib/udev/rules.d)"
else
	why=$(grep -m 1 'Function not implemented' /tmp/udevd.log)
	skip systemd_udevd_runs_with_the_installed_rule \
		"systemd-udevd stops on this kernel (${why:-see its log below}): it needs CONFIG_INOTIFY_USER, CONFIG_SIGNALFD, CONFIG_TIMERFD"
	sed 's/^/#   udevd: /' /tmp/udevd.log | tail -n 5
fi
no_udev="no systemd-udevd on this kernel (above)"

# Waydroid loads the module (modprobe -q ashmem_linux): its harness prints
# its own TAP section and the line saying so.
echo "# android: Waydroid's host-side code (Debian's waydroid package)"
/usr/bin/python3 /android/waydroid_host.py /usr/lib/waydroid || rc=1

echo "# android: the Android 16 device name on the host"
echo "1..8"
n=0
[ $udev_live = 0 ] || udevadm settle -t 30
check loaded_module_is_ours_from_updates sh -c "modinfo -n ashmem_linux | grep '^/lib/modules/$kver/updates/'"
link_made() {
	ls -l "/dev/ashmem$boot_id" && [ "$(readlink "/dev/ashmem$boot_id")" = ashmem ]
}
same_device() {
	a=$(stat -L -c '%F %t:%T' /dev/ashmem) b=$(stat -L -c '%F %t:%T' "/dev/ashmem$boot_id")
	echo "/dev/ashmem: $a; /dev/ashmem$boot_id: $b"
	[ "$a" = "$b" ] && [ "${a%% *}" = character ]
}
if [ $udev_live = 1 ]; then
	check udev_made_dev_ashmem_boot_id_a_link_to_the_node link_made
	check both_names_have_the_same_st_rdev same_device
	check udev_lists_the_link_for_the_device sh -c "udevadm info -q symlink /dev/ashmem | tee /dev/stderr | tr ' ' '\n' | grep -qx 'ashmem$boot_id'"
else
	skip udev_made_dev_ashmem_boot_id_a_link_to_the_node "$no_udev"
	skip both_names_have_the_same_st_rdev "$no_udev"
	skip udev_lists_the_link_for_the_device "$no_udev"
fi
# Debian's udevadm reads the installed rule and applies it to the device.
# (udev 252, bookworm's: "MODE 0666", "Running PROGRAM '...'"; udev 262,
# sid's: 'MODE="0666": Set mode', 'PROGRAM="...": Running command'.)
rule_matches() {
	udevadm test --action=add /sys/class/misc/ashmem >/tmp/udevadm-test.log 2>&1
	grep -E '60-ashmem.rules:[0-9]+ (MODE|Running PROGRAM|PROGRAM=)' /tmp/udevadm-test.log &&
		grep -qE '60-ashmem.rules:[0-9]+ MODE( 0666|="0666")' /tmp/udevadm-test.log &&
		grep -qE "60-ashmem.rules:[0-9]+ (Running PROGRAM '|PROGRAM=\")/bin/cat /proc/sys/kernel/random/boot_id" /tmp/udevadm-test.log
}
check udevadm_test_matches_the_rule_to_the_device rule_matches
check dev_ashmem_mode_0666 sh -c '[ "$(stat -c %a /dev/ashmem)" = 666 ]'
if [ $udev_live = 1 ]; then
	check libcutils_open_on_the_host_64_bit /android/cutils-64
	check libcutils_open_on_the_host_32_bit /android/cutils-32
else
	skip libcutils_open_on_the_host_64_bit "$no_udev"
	skip libcutils_open_on_the_host_32_bit "$no_udev"
fi

echo "# android: waydroid-ashmem-entry on Waydroid's config_nodes"
echo "1..4"
n=0
cp "$nodes" /tmp/config_nodes.waydroid
# An entry left from an earlier boot, as the helper would have written it.
echo "lxc.mount.entry = /dev/ashmem dev/ashmem0123abcd-4567-89ab-cdef-0123456789ab none bind,create=file,optional 0 0" >>"$nodes"
check helper_runs "$helper" "$nodes"
entry="lxc.mount.entry = /dev/ashmem dev/ashmem$boot_id none bind,create=file,optional 0 0"
check helper_writes_one_entry_for_this_boot_only sh -c "grep -n 'dev/ashmem[0-9a-f]' $nodes; [ \"\$(grep 'dev/ashmem[0-9a-f]' $nodes)\" = '$entry' ]"
check helper_keeps_waydroids_own_entries sh -c "grep -v 'dev/ashmem[0-9a-f]' $nodes | cmp - /tmp/config_nodes.waydroid"
cp "$nodes" /tmp/config_nodes.once
check helper_run_again_changes_nothing sh -c "$helper $nodes && cmp $nodes /tmp/config_nodes.once"

# Containers. Each gets its own root; /android's programs are static.
container() { # NAME KIND ARGS...: a container root, then android-container.sh in new namespaces
	r=/containers/$1 kind=$2
	shift 2
	mkdir -p "$r"
	cp /android/cutils-64 /android/cutils-32 "$r/"
	unshare -m -p -f -u sh /android/android-container.sh "$kind" "$r" "$@"
}
for bits in 64 32; do
	echo "# android: Waydroid's LXC node configuration with the helper's entry, $bits-bit"
	container "lxc-$bits" lxc "$nodes" "/cutils-$bits" || rc=1
done
for bits in 64 32; do
	echo "# android: redroid/docker --device /dev/ashmem --device /dev/ashmem:/dev/ashmem<boot id>, $bits-bit"
	container "docker-$bits" docker /dev/ashmem:/dev/ashmem "/dev/ashmem:/dev/ashmem$boot_id" -- "/cutils-$bits" || rc=1
done
echo "# android: Waydroid's LXC node configuration as Waydroid writes it (no suffixed name)"
container waydroid-only lxc /tmp/config_nodes.waydroid /cutils-64 --expect-no-device || rc=1

echo "# android: removal"
echo "1..1"
n=0
gone() {
	modprobe -r ashmem_linux || return 1
	[ $udev_live = 0 ] || udevadm settle -t 30 || return 1
	! test -e /dev/ashmem && ! test -L "/dev/ashmem$boot_id"
}
check modprobe_r_removes_both_names gone
[ $udev_live = 0 ] || udevadm control --exit
exit $rc
