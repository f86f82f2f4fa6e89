#!/usr/bin/env bash
# Containers for real, as TAP ("# containers: ..."): Debian sid's kernel
# binary booted in a QEMU guest whose root is a whole Debian sid userland on
# a disk (harness/debian-disk.sh), with Debian's lxc, podman (crun) and
# Waydroid, and this project's Debian packages:
#
# - on the host: `make kmm-image` for the kernels of SUITEs (default sid and
#   trixie: every kernel with a prebuilt package), its layout checked;
#   packaging/k8s rendered with sid's kustomize and checked against KMM's
#   Module schema (selftests/k8s); ashmem-linux-dkms of this tree installed
#   with apt into the guest's root (DKMS builds the module there), and a newer
#   one (this tree, version VERSION+upgrade1) put in a local apt repository;
# - boot 1: the KMM image in privileged podman containers (modprobe -vd /opt,
#   a second container using /dev/ashmem, unloading through the image, the
#   DaemonSet's commands); Waydroid's own code writes its LXC configuration
#   and starts its container with lxc-start, without and with
#   packaging/waydroid-ashmem-entry's entry; README's redroid recipe run by
#   podman, word for word; `apt upgrade` to the newer package while a
#   container holds regions;
# - boot 2 (a new boot id): Waydroid's container again.
# What runs in the guest: harness/guest/containers-job.sh.
#
# UPGRADE=0 leaves out the apt upgrade (and boot 2 then expects the first
# version loaded at boot).
#
# OUT keeps the guest's disk image (OUT/disk.img, about 5 GB, sparse) for a
# look afterwards, logs in OUT/logs-1 and OUT/logs-2, each host case's output
# in OUT/cases. Exits non-zero when a case fails or a guest fails.
set -euo pipefail

usage() { echo "usage: $0 OUT [SUITE...]   (SUITEs of the KMM image's kernels: sid, trixie; default both; env UPGRADE=0)" >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$(realpath -m "$1")
shift
[ $# -gt 0 ] || set -- sid trixie
kmm_suites=("$@")
top=$(realpath "$(dirname "$0")/..")
cd "$top"
# shellcheck source=harness/tap.sh
. harness/tap.sh
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' dkms.conf)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
new_version=$version+upgrade1
read -r release _ <<<"$(harness/debian-kernel.sh release sid)"
userland=$(harness/debian-userland.sh sid)
# The guest's root: the sid userland with Debian's kernel installed by its
# packages (harness/debian-disk.sh kernel: the disk's kernel and its modules,
# overlay for podman, bridge, veth and nftables for Waydroid's network) and
# what the test runs there: podman, crun; kustomize and python3-jsonschema
# for the manifests' check (on the host, in the same layer).
packages=(podman crun kustomize python3-jsonschema python3-yaml busybox-static apt-utils iproute2)
layer=$(harness/debian-disk.sh kernel sid "${packages[@]}")
for d in "$out"/ov "$out"/k8s-ov; do
	if [ -d "$d" ] && findmnt -rn -o TARGET | grep -q "^$d/"; then
		echo "containers-test: something is mounted under $d" >&2
		exit 1
	fi
done
rm -rf "$out"/ov "$out"/k8s-ov "$out"/keep "$out"/cases "$out"/upgrade-src "$out"/boot-root "$out"/logs-*
mkdir -p "$out/keep" "$out/cases"
TAP_LOGDIR=$out/cases
keep=$out/keep
# The guest's root: the userland, the layer, and this overlay on top.
in_root() { harness/debian-chroot.sh --overlay "$out/ov" --layer "$layer" "$userland" "$@"; }
timed() { local start=$SECONDS rc=0; "$@" || rc=$?; echo "took $((SECONDS - start)) s"; return "$rc"; }

t_kmm_image() {
	local start=$SECONDS
	make --no-print-directory kmm-image KMM_OUT="$out/kmm" SERIES="${kmm_suites[*]}" >"$keep/kmm-path" &&
		echo "$(cat "$keep/kmm-path") in $((SECONDS - start)) s; kernels: $(tr '\n' ' ' <"$out/kmm/releases")"
}
t_kmm_layout() {
	# The image's one layer, as a registry or KMM's worker gets it.
	python3 - "$(head -n 1 "$keep/kmm-path")" "$out/kmm/releases" <<'EOF'
import io, json, sys, tarfile
oci = tarfile.open(sys.argv[1])
blob = lambda d: oci.extractfile("./blobs/" + d.replace(":", "/")).read()
index = json.loads(oci.extractfile("./index.json").read())
manifest = json.loads(blob(index["manifests"][0]["digest"]))
config = json.loads(blob(manifest["config"]["digest"]))
names = {}
for layer in manifest["layers"]:
    with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as t:
        for m in t.getmembers():
            names[m.name.lstrip("./")] = t.extractfile(m).read() if m.isfile() else m
want = ["usr/sbin/modprobe", "usr/bin/sleep", "usr/bin/cp", "usr/bin/sh"]
ok = all(w in names for w in want)
for rel in open(sys.argv[2]).read().split():
    d = "opt/lib/modules/%s/" % rel
    dep = names.get(d + "modules.dep", b"")
    print("%s: %s; modules.dep: %r" % (rel, " ".join(sorted(n[len(d):] for n in names if n.startswith(d))), dep))
    ok = ok and d + "ashmem_linux.ko" in names and dep.startswith(b"ashmem_linux.ko:")
print("ref %s, %d files, cmd %s, labels %s" % (index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
      len(names), config["config"].get("Cmd"), json.dumps(config["config"].get("Labels"))))
print("has " + ", ".join(w for w in want if w in names))
sys.exit(0 if ok else 1)
EOF
}
t_debs() {
	local src=$out/upgrade-src
	timed packaging/deb.sh dkms "$top/build/deb" >"$keep/old-deb" 2>"$keep/old-deb.log" ||
		{ tail -n 20 "$keep/old-deb.log"; return 1; }
	# A newer version of the same tree.
	mkdir -p "$src"
	tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
	sed -i "s/^PACKAGE_VERSION=\".*\"$/PACKAGE_VERSION=\"$new_version\"/" "$src/dkms.conf"
	timed "$src/packaging/deb.sh" dkms "$out/deb-new" >"$keep/new-deb" 2>"$keep/new-deb.log" ||
		{ tail -n 20 "$keep/new-deb.log"; return 1; }
	cat "$keep/old-deb" "$keep/new-deb"
	[ -f "$(head -n 1 "$keep/old-deb")" ] && [ "$(dpkg-deb -f "$(head -n 1 "$keep/new-deb")" Version)" = "$new_version" ]
}
t_install_old() {
	local deb log
	deb=$(head -n 1 "$keep/old-deb")
	mkdir -p "$out/ov/upper/tmp"
	cp "$deb" "$out/ov/upper/tmp/"
	log=$(timed in_root apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" 2>&1) ||
		{ echo "$log" | tail -n 40; return 1; }
	echo "$log" | grep -E 'Setting up|Building for|Signing|Installing /|took' || true
	rm -f "$out/ov/upper/tmp/$(basename "$deb")"
	in_root dkms status -m "$name" | tee "$keep/dkms-status"
	grep -qx "$name/$version, $release, x86_64: installed" "$keep/dkms-status"
}
t_manifests() {
	# In the sid userland: kustomize, the schema check (its TAP is this
	# part's next section).
	local w=$out/k8s-ov/upper/tmp/k8s
	mkdir -p "$w"
	cp -r packaging/k8s "$w/k8s"
	cp selftests/k8s/* "$w/"
	cp "$out/kmm/releases" "$w/releases"
	for s in sid trixie; do harness/debian-kernel.sh release "$s" | cut -d' ' -f1; done >"$w/kernels"
	harness/debian-chroot.sh --overlay "$out/k8s-ov" --layer "$layer" "$userland" bash -euo pipefail -c '
		cd /tmp/k8s
		echo "kustomize $(dpkg-query -W -f="\${Version}" kustomize), python3-jsonschema $(dpkg-query -W -f="\${Version}" python3-jsonschema)"
		for v in kmm daemonset; do
			kustomize build "k8s/$v" >"$v.yaml"
			mkdir -p "renamed-$v"
			printf "%s\n" "apiVersion: kustomize.config.k8s.io/v1beta1" "kind: Kustomization" \
				"resources: [../k8s/$v]" "images:" "  - name: ashmem-linux-kmm" \
				"    newName: registry.example.org/ashmem/ashmem-linux-kmm" >"renamed-$v/kustomization.yaml"
			kustomize build "renamed-$v" >"$v-renamed.yaml"
		done
		python3 check_manifests.py kmm-module-v1beta1.schema.json "$1" kernels releases kmm.yaml daemonset.yaml \
			kmm-renamed.yaml daemonset-renamed.yaml /tmp/k8s >manifests.tap || true
	' sh "$version" && cp "$w"/{kmm.yaml,daemonset.yaml,manifests.tap,loader-command,loader-prestop} "$keep/"
}
t_readme_recipe() {
	# README's redroid recipe: "docker run ... OPTIONS redroid/redroid:<tag>";
	# OPTIONS word for word.
	python3 - README.md >"$keep/readme-devices" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"\*\*redroid\*\*.*?```sh\n(.*?)```", text, re.S)
cmd = " ".join(block.group(1).replace("\\\n", " ").split()) if block else ""
m = re.fullmatch(r"docker run \.\.\. (.*) redroid/redroid:<tag>", cmd)
print(m.group(1) if m else "")
sys.exit(0 if m else 1)
EOF
	echo "README.md: docker run ... $(cat "$keep/readme-devices") redroid/redroid:<tag>"
	[ -s "$keep/readme-devices" ]
}
t_guest_root() {
	local t=$out/ov/upper/ashmem-test r=$out/ov/upper/var/lib/waydroid/rootfs app=$out/app bits
	mkdir -p "$t" "$r" "$app"
	# The programs: Android's open sequence (64- and 32-bit) and the holder.
	for bits in 64 32; do
		m32=()
		[ $bits = 64 ] || m32=(-m32)
		gcc "${m32[@]}" -O2 -Wall -Wextra -Werror -static -I selftests/ashmem \
			-o "$app/cutils-$bits" selftests/android/cutils.c
	done
	gcc -O2 -Wall -Wextra -Werror -static -I selftests/ashmem -o "$app/region_holder" selftests/android/region_holder.c
	tar -C "$app" --owner=0 --group=0 -cf "$t/app.tar" cutils-64 cutils-32 region_holder
	cp "$(head -n 1 "$keep/kmm-path")" "$t/kmm.oci.tar"
	echo "ashmem-linux-kmm:$version" >"$t/kmm-image"
	cp "$keep/loader-command" "$keep/loader-prestop" "$keep/readme-devices" "$t/"
	echo "$version $new_version" >"$t/versions"
	# UPGRADE=0: no apt upgrade in the guest (its DKMS build takes minutes under TCG).
	[ "${UPGRADE:-1}" = 0 ] || : >"$t/upgrade"
	cp harness/guest/tap.sh selftests/android/waydroid_host.py selftests/android/waydroid_lxc.py \
		selftests/android/waydroid_session.py "$t/"
	install -m 0755 harness/guest/containers-job.sh "$out/ov/upper/job"
	# Waydroid's container root (where Waydroid mounts its images): the
	# program, and an /init (lxc.init.cmd) that runs it as /mode says.
	mkdir -p "$r"/{bin,dev,proc,sys,tmp,var,run,mnt_extra,vendor,data}
	cp "$app"/cutils-64 "$app"/cutils-32 "$r/"
	install -m 0755 "$layer/usr/bin/busybox" "$r/bin/busybox"
	for a in sh cat mv sleep; do ln -s busybox "$r/bin/$a"; done
	cat >"$r/init" <<'EOF'
#!/bin/sh
# /init of the test's Waydroid container: the Android-open-sequence program,
# 64- and 32-bit, as /mode says; its TAP goes to /results; then it waits to be
# stopped (lxc-stop -k).
if [ "$(cat /mode)" = expect-no-device ]; then set -- --expect-no-device; else set --; fi
{
	echo "# container: /cutils-64 $*"
	/cutils-64 "$@"
	echo "# container: /cutils-32 $*"
	/cutils-32 "$@"
} >/results.new 2>&1
mv /results.new /results
exec sleep 1000000
EOF
	chmod 0755 "$r/init"
	# The newer package in a local apt repository, the only source the
	# guest (no network) has.
	mkdir -p "$out/ov/upper/srv/ashmem-upgrade"
	cp "$(head -n 1 "$keep/new-deb")" "$out/ov/upper/srv/ashmem-upgrade/"
	in_root sh -euc 'cd /srv/ashmem-upgrade && apt-ftparchive packages . >Packages &&
		mv /etc/apt/sources.list /etc/apt/sources.list.online &&
		echo "deb [trusted=yes] file:/srv/ashmem-upgrade ./" >/etc/apt/sources.list.d/ashmem-upgrade.list &&
		mkdir -p /etc/containers &&
		printf "%s\n" "# No systemd in the test guest: podman manages cgroups and events itself." \
			"[engine]" "cgroup_manager = \"cgroupfs\"" "events_logger = \"file\"" >/etc/containers/containers.conf'
	grep -A3 'Package: ashmem-linux-dkms' "$out/ov/upper/srv/ashmem-upgrade/Packages"
}
t_disk() {
	mkdir -p "$out/boot-root/disk"
	timed env JOB_ROOT="$out/boot-root" ROOT_FREE=2560 harness/debian-disk.sh image "$out/disk.img" sid "$layer" "$out/ov/upper" 2>&1
}

echo "# containers: on the host: the KMM image, the Kubernetes manifests, the packages and the guest's Debian root"
tap_plan 8
tap_case make_kmm_image_builds_an_oci_image_from_the_prebuilt_packages t_kmm_image
tap_case kmm_image_has_kmms_layout_for_every_kernel t_kmm_layout
tap_case kubernetes_manifests_render_with_kustomize t_manifests
tap_case readme_holds_the_redroid_recipe t_readme_recipe
tap_case dkms_packages_of_this_version_and_a_newer_one_build t_debs
tap_case apt_installs_ashmem_linux_dkms_into_the_guests_root t_install_old
tap_case guest_root_holds_the_programs_waydroids_rootfs_and_the_upgrade_repository t_guest_root
tap_case guest_disk_image_is_made t_disk
echo "# containers: packaging/k8s rendered with kustomize, checked against KMM's Module schema (v1beta1)"
if [ -s "$keep/manifests.tap" ]; then cat "$keep/manifests.tap"; else tap_one manifests_checked 1 "no result"; fi

guest_rc=0
for b in 1 2; do
	if [ -f "$out/disk.img" ] && [ -f "$out/boot-root/job" ]; then
		echo "$b" >"$out/boot-root/disk/args"
		start=$SECONDS
		rc=0
		# tsc=reliable: under TCG on a busy host the clocksource watchdog
		# once found the TSC skewed and moved the guest to the HPET, whose
		# emulated reads made the rest of that boot several times slower.
		GUEST_APPEND=tsc=reliable GUEST_DISK=$out/disk.img GUEST_MEM=4G TIMEOUT=1800 LOGDIR=$out/logs-$b \
			harness/guest-run.sh "$out/boot-root/kernel" "$out/boot-root" || rc=$?
		echo "# containers: boot $b of Debian's kernel $release with the Debian root took $((SECONDS - start)) s"
		[ "$rc" = 0 ] || guest_rc=1
		tap_one "guest_boot_${b}_ran_with_no_kernel_report" "$rc" "guest-run status $rc, logs in $out/logs-$b"
	else
		tap_one "guest_boot_$b" 1 "no disk image (see the cases above)"
		guest_rc=1
	fi
done
exit $guest_rc
