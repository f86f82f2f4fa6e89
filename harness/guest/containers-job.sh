#!/bin/bash
# Guest job of harness/containers-test.sh: /job of a Debian sid root on the
# guest's disk (harness/debian-disk.sh), on Debian's kernel, with Debian's
# lxc, podman (crun) and Waydroid, the ashmem-linux-dkms package installed
# (its module built by DKMS) and /ashmem-test from the host:
#
#   kmm.oci.tar, kmm-image   the KMM image (packaging/kmm-image.sh) and its name
#   loader-command, loader-prestop   the DaemonSet's container command and
#                            preStop command (packaging/k8s, rendered)
#   readme-devices           the --device options of README's redroid recipe
#   app.tar                  a root with cutils-64, cutils-32, region_holder
#   waydroid_host.py, waydroid_lxc.py   Waydroid's own code, driven
#   versions                 "OLD NEW": the installed and the upgrade's version
#   upgrade                  present: boot 1 ends with the apt upgrade
#
# Waydroid's container root (/var/lib/waydroid/rootfs) runs the
# Android-open-sequence program as /mode says. The local apt repository
# (/srv/ashmem-upgrade) offers the newer ashmem-linux-dkms.
#
#   /job 1   boot 1: the KMM image, Waydroid under lxc-start, README's podman
#            recipe, apt upgrade while a container holds regions
#   /job 2   boot 2 (a new boot id): Waydroid's container again
#
# TAP on stdout, sections headed "# containers: ...".
set -u
T=/ashmem-test
# check and skip; every case's output is shown.
TAP_VERBOSE=1
. $T/tap.sh
boot=${1:?usage: /job 1|2}
rc=0
release=$(uname -r)
boot_id=$(cat /proc/sys/kernel/random/boot_id)
read -r old_version new_version <"$T/versions"
helper=/usr/libexec/ashmem_linux/waydroid-ashmem-entry
nodes=/var/lib/waydroid/lxc/waydroid/config_nodes
rootfs=/var/lib/waydroid/rootfs
kmm=$(cat $T/kmm-image)
hostname containers-guest

# A case's command fails when any earlier part failed.
plan() { echo "1..$1"; n=0; }
loaded() { grep -q '^ashmem_linux ' /proc/modules; }
loaded_version() { cat /sys/module/ashmem_linux/version; }

# README's recipe, word for word, with podman (docker's options), then the
# program and its arguments.
readme_recipe() {
	local devices
	devices=$(cat $T/readme-devices)
	echo "podman run --rm --network none $devices localhost/ashmem-app $*"
	eval "podman run --rm --network none $devices localhost/ashmem-app $*"
}

# The region holder (selftests/android/region_holder.c) in a container.
hdir=/run/holder
# Waits poll until what they wait for appears, up to 4 minutes: a TCG guest
# on a busy host is slow, and a wait costs only as long as it waits.
holder_start() {
	rm -rf $hdir
	mkdir -p $hdir
	podman run -d --name holder --network none --device /dev/ashmem -v $hdir:/x \
		localhost/ashmem-app /region_holder /x >/dev/null || return 1
	for _ in $(seq 480); do [ -f $hdir/ready ] && break; sleep 0.5; done
	echo "holder: $(cat $hdir/ready 2>&1)"
	[ -f $hdir/ready ]
}
holder_check() { # LABEL
	rm -f "$hdir/result-$1"
	echo "$1" >$hdir/.check && mv $hdir/.check $hdir/check
	for _ in $(seq 480); do [ -f "$hdir/result-$1" ] && break; sleep 0.5; done
	cat "$hdir/result-$1" 2>/dev/null || { echo "no answer from the holder"; return 1; }
	grep -q '^1\.\.' "$hdir/result-$1" && ! grep -q '^not ok' "$hdir/result-$1"
}
holder_stop() {
	touch $hdir/stop
	timeout 240 podman wait holder >/dev/null
	podman logs holder 2>&1 | tail -n 5
	podman rm -f holder >/dev/null
}

waydroid_lxc() { # MODE: what the program in Waydroid's container does
	echo "$1" >$rootfs/mode
	python3 $T/waydroid_lxc.py /usr/lib/waydroid /results 600 || rc=1
}
run_helper() {
	echo "1..1"
	n=0
	check waydroid_ashmem_entry_writes_this_boots_entry sh -c \
		"$helper && grep -n 'dev/ashmem[0-9a-f]' $nodes && [ \"\$(grep -c 'dev/ashmem[0-9a-f]' $nodes)\" = 1 ] && grep -q 'dev/ashmem$boot_id ' $nodes"
}

# The programs' image (cutils-64, cutils-32, region_holder), for every section.
podman image exists localhost/ashmem-app || podman import -q $T/app.tar localhost/ashmem-app >/dev/null ||
	echo "# containers: podman import of $T/app.tar failed"

if [ "$boot" = 1 ]; then
	echo "$boot_id" >$T/boot-1-id
	echo "# containers: the guest: Debian's kernel $release, a Debian sid root, $(lxc-start --version | sed 's/^/lxc /'), $(podman --version), crun $(crun --version | sed -n 's/^crun version //p'), Waydroid $(dpkg-query -W -f='${Version}' waydroid), ashmem-linux-dkms $(dpkg-query -W -f='${Version}' ashmem-linux-dkms)"

	echo "# containers: the KMM image, as KMM's module loader uses it: podman run --privileged $kmm modprobe -vd /opt ashmem_linux"
	plan 8
	podman_load() {
		local name
		name=$(podman load -q -i $T/kmm.oci.tar | sed -n 's/^Loaded image: //p' | tail -n 1)
		echo "podman load -i kmm.oci.tar: $name"
		podman images && [ "$name" = "localhost/$kmm" ] && podman image exists localhost/ashmem-app
	}
	check podman_loads_the_kmm_image podman_load
	check module_not_loaded_before sh -c '! grep "^ashmem_linux " /proc/modules'
	kmm_load() {
		local log
		log=$(podman run --rm --privileged --network none "$kmm" modprobe -vd /opt ashmem_linux 2>&1)
		echo "$log"
		grep -qx "insmod /opt/lib/modules/$release/ashmem_linux.ko *" <<<"$log" && loaded &&
			[ -c /dev/ashmem ] && echo "loaded, version $(loaded_version); /dev/ashmem: $(stat -c '%F %Hr:%Lr, mode %a' /dev/ashmem)"
	}
	check kmm_modprobe_vd_opt_loads_the_images_module_into_debians_kernel kmm_load
	check a_second_container_uses_dev_ashmem_64_bit readme_recipe /cutils-64
	check a_second_container_uses_dev_ashmem_32_bit readme_recipe /cutils-32
	kmm_unload_refused() {
		local log rc=0
		holder_start || return 1
		log=$(podman run --rm --privileged --network none "$kmm" modprobe -rvd /opt ashmem_linux 2>&1) || rc=$?
		echo "$log (exit status $rc)"
		[ $rc != 0 ] && grep -q "in use" <<<"$log" && loaded && holder_check kmm-refused
	}
	check kmm_unload_is_refused_while_a_container_holds_regions kmm_unload_refused
	kmm_unload() {
		holder_stop
		podman run --rm --privileged --network none "$kmm" modprobe -rvd /opt ashmem_linux &&
			! loaded && [ ! -e /dev/ashmem ] && echo "unloaded, /dev/ashmem gone"
	}
	check kmm_unload_through_the_image_works_when_nothing_holds_a_region kmm_unload
	daemonset() {
		local cmd prestop
		cmd=$(cat $T/loader-command) prestop=$(cat $T/loader-prestop)
		echo "DaemonSet container: $cmd; preStop: $prestop"
		eval "podman run -d --name loader --privileged --network none $kmm $cmd" >/dev/null || return 1
		for _ in $(seq 480); do loaded && break; sleep 0.5; done
		podman logs loader 2>&1
		loaded && echo "loaded by the DaemonSet's container" &&
			eval "podman exec loader $prestop" && ! loaded && echo "unloaded by its preStop command" &&
			podman rm -f -t 0 loader >/dev/null
	}
	check daemonset_command_loads_and_its_prestop_unloads daemonset

	echo "# containers: Waydroid's host-side code: its driver probe loads the DKMS-installed module, it writes its LXC configuration"
	python3 $T/waydroid_host.py /usr/lib/waydroid || rc=1
	cp $nodes $T/config_nodes.waydroid

	echo "# containers: lxc-start of Waydroid's configuration as Waydroid writes it (no suffixed name): Android 16's open fails"
	waydroid_lxc expect-no-device
	echo "# containers: waydroid-ashmem-entry adds this boot's entry to Waydroid's configuration"
	run_helper
	echo "# containers: lxc-start of Waydroid's configuration with the helper's entry for this boot: the program passes (64- and 32-bit)"
	waydroid_lxc full

	echo "# containers: README's redroid recipe with podman, on the DKMS-installed module: $(cat $T/readme-devices)"
	plan 2
	check readme_recipe_with_podman_64_bit readme_recipe /cutils-64
	check readme_recipe_with_podman_32_bit readme_recipe /cutils-32

	[ -f $T/upgrade ] || { podman rm -a -f -t 0 >/dev/null 2>&1; exit $rc; }
	echo "# containers: apt upgrade of ashmem-linux-dkms $old_version to $new_version while a container holds mapped, pinned and unpinned regions"
	plan 11
	check the_old_module_is_loaded sh -c "grep '^ashmem_linux ' /proc/modules && [ \"\$(cat /sys/module/ashmem_linux/version)\" = '$old_version' ] && dkms status"
	holder_before() { holder_start && holder_check before-upgrade; }
	check a_container_holds_mapped_pinned_and_unpinned_regions holder_before
	upgrade() {
		local start=$SECONDS log
		apt-get -q update 2>&1 | tail -n 3
		log=$(apt upgrade -y 2>&1) || { echo "$log" | tail -n 40; return 1; }
		echo "$log" | grep -E 'Unpacking|Setting up|Building for|Building initial|Signing|Installing|upgraded' | head -n 20
		echo "apt upgrade took $((SECONDS - start)) s"
		[ "$(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' ashmem-linux-dkms)" = "$new_version ii " ]
	}
	check apt_upgrade_to_the_newer_ashmem_linux_dkms_completes upgrade
	dkms_new() {
		local status
		status=$(dkms status -m ashmem-linux)
		echo "$status"
		[ "$status" = "ashmem-linux/$new_version, $release, x86_64: installed" ] &&
			[ "$(modinfo -F version ashmem_linux)" = "$new_version" ] &&
			echo "modinfo -F version ashmem_linux: $new_version (what the next load gets)"
	}
	check dkms_status_shows_the_new_version_installed_for_the_next_load dkms_new
	check the_loaded_module_is_still_the_old_one sh -c "echo loaded: \$(cat /sys/module/ashmem_linux/version); [ \"\$(cat /sys/module/ashmem_linux/version)\" = '$old_version' ]"
	check the_container_s_regions_are_intact_after_the_upgrade holder_check after-upgrade
	refused() {
		local log rc=0
		log=$(modprobe -r ashmem_linux 2>&1) || rc=$?
		echo "modprobe -r ashmem_linux: $log (exit status $rc)"
		[ $rc != 0 ] && grep -q "is in use" <<<"$log" && loaded && [ -c /dev/ashmem ]
	}
	check modprobe_r_refuses_cleanly_while_regions_are_open refused
	check the_regions_are_intact_after_the_refusal_and_pin_again_as_not_purged holder_check repin
	gone() {
		holder_stop
		modprobe -r ashmem_linux && ! loaded && echo "unloaded"
	}
	check with_the_holders_gone_modprobe_r_unloads gone
	check the_new_module_loads sh -c "modprobe ashmem_linux && echo loaded: \$(cat /sys/module/ashmem_linux/version) && [ \"\$(cat /sys/module/ashmem_linux/version)\" = '$new_version' ]"
	check the_new_module_passes_readme_recipe readme_recipe /cutils-64
	modprobe -r ashmem_linux
else
	# The version a boot loads: the upgrade's, when boot 1 upgraded.
	boot_version=$old_version
	[ ! -f $T/upgrade ] || boot_version=$new_version
	echo "# containers: boot 2, a new boot: Waydroid's container again"
	plan 3
	check the_boot_id_changed sh -c "echo boot 1: \$(cat $T/boot-1-id), boot 2: $boot_id; [ \"\$(cat $T/boot-1-id)\" != '$boot_id' ]"
	check config_nodes_still_names_the_last_boots_id_only sh -c "grep -n 'dev/ashmem[0-9a-f]' $nodes; grep -q \"dev/ashmem\$(cat $T/boot-1-id) \" $nodes && ! grep -q 'dev/ashmem$boot_id' $nodes"
	# What a booting host does with the package's modules-load.d entry.
	modules_load() {
		/usr/lib/systemd/systemd-modules-load && cat /usr/lib/modules-load.d/ashmem_linux.conf && loaded &&
			echo "loaded: $(loaded_version)" && [ "$(loaded_version)" = "$boot_version" ]
	}
	check systemd_modules_load_loads_the_installed_module_at_boot modules_load
	echo "# containers: lxc-start before the helper ran this boot (the entry names the last boot's id): Android 16's open fails"
	waydroid_lxc expect-no-device
	echo "# containers: waydroid-ashmem-entry after the reboot replaces the entry"
	run_helper
	echo "# containers: lxc-start with this boot's entry: the program passes (module $boot_version)"
	waydroid_lxc full
	echo "# containers: README's redroid recipe with podman after the reboot (a new container, this boot's id): $(cat $T/readme-devices)"
	plan 2
	check readme_recipe_after_the_reboot_64_bit readme_recipe /cutils-64
	check readme_recipe_after_the_reboot_32_bit readme_recipe /cutils-32
fi
podman rm -a -f -t 0 >/dev/null 2>&1
exit $rc
