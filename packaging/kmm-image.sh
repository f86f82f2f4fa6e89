#!/usr/bin/env bash
# The module as an OCI image for Kubernetes nodes: Kernel Module Management
# (KMM) loads it with `modprobe -d /opt ashmem_linux` from the image, and the
# plain DaemonSet of packaging/k8s does the same. `make kmm-image`.
#
# For each SUITE's kernel (sid, trixie; default both) the module comes from
# its prebuilt Debian package (packaging/deb.sh prebuilt, `make deb-prebuilt`)
# and goes to /opt/lib/modules/RELEASE/ashmem_linux.ko, indexed by Debian's
# `depmod -b /opt RELEASE` (KMM's layout). The image also holds what KMM's
# module loader runs: modprobe (Debian's kmod), sleep and cp (coreutils), sh
# (dash), with the shared libraries they need, copied from the sid userland;
# nothing else. Built with Debian's umoci in the sid userland (a layer of
# harness/debian-layer.sh), no registry, no daemon.
#
# Writes OUT/ashmem-linux-kmm-VERSION.oci.tar (an OCI archive: `podman load
# -i`, `skopeo copy oci-archive:...`) and OUT/releases (one kernel release a
# line), and prints the archive's path. VERSION is PACKAGE_VERSION of
# dkms.conf; the image's name is ashmem-linux-kmm:VERSION.
set -euo pipefail

usage() { echo "usage: $0 OUT [SUITE...]   (SUITE: sid, trixie; default both)" >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$(realpath -m "$1")
shift
[ $# -gt 0 ] || set -- sid trixie
top=$(realpath "$(dirname "$0")/..")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
name=ashmem-linux-kmm
say() { echo "kmm-image: $*" >&2; }

sid=$("$top/harness/debian-userland.sh" sid)
tools=$("$top/harness/debian-layer.sh" "$sid" kmm-tools sh -c \
	'apt-get -q install -y --no-install-recommends umoci && apt-get clean')
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
ov=$out/work
rm -rf "$ov"
stage=$ov/upper/tmp/kmm
mkdir -p "$stage/rootfs/opt/lib/modules"
: >"$out/releases.new"
for suite in "$@"; do
	case "$suite" in sid | trixie) ;; *) usage ;; esac
	read -r release _ <<<"$("$top/harness/debian-kernel.sh" release "$suite")"
	deb=$("$top/packaging/deb.sh" prebuilt "$top/build/deb" "$suite" | grep "/ashmem-linux-modules-${release}_")
	say "$release: $(basename "$deb")"
	rm -rf "$ov/x"
	dpkg-deb -x "$deb" "$ov/x"
	install -D -m 0644 "$ov/x/usr/lib/modules/$release/updates/ashmem_linux.ko" \
		"$stage/rootfs/opt/lib/modules/$release/ashmem_linux.ko"
	echo "$release" >>"$out/releases.new"
done
rm -rf "$ov/x"
epoch=$(git -C "$top" log -1 --format=%ct 2>/dev/null || stat -c %Y "$top/dkms.conf")

# In the sid userland: the programs, depmod, and the image.
"$top/harness/debian-chroot.sh" --overlay "$ov" --layer "$tools" "$sid" bash -euo pipefail -c '
	name=$1 version=$2 created=$3
	cd /tmp/kmm
	r=rootfs
	mkdir -p $r/usr/bin $r/usr/sbin $r/etc
	for f in /usr/sbin/modprobe /usr/bin/sleep /usr/bin/cp /usr/bin/dash; do
		real=$(readlink -f "$f")
		for lib in $(ldd "$real" | grep -oE "/[^ ]+"); do
			mkdir -p "$r$(dirname "$lib")"
			cp -L "$lib" "$r$lib"
		done
		cp -L "$real" "$r$real"
	done
	for tool in modprobe depmod modinfo insmod rmmod lsmod; do ln -sf /usr/bin/kmod $r/usr/sbin/$tool; done
	ln -s dash $r/usr/bin/sh
	ln -s usr/bin $r/bin
	ln -s usr/sbin $r/sbin
	[ -e $r/lib ] || ln -s usr/lib $r/lib
	for rel in $(ls $r/opt/lib/modules); do
		# The tree is this one module: its order, nothing built in.
		echo ashmem_linux.ko >$r/opt/lib/modules/$rel/modules.order
		: >$r/opt/lib/modules/$rel/modules.builtin
		: >$r/opt/lib/modules/$rel/modules.builtin.modinfo
		depmod -b "$PWD/$r/opt" "$rel"
		grep -q "^ashmem_linux.ko:" "$r/opt/lib/modules/$rel/modules.dep"
	done
	pkgs=$(dpkg-query -W -f="\${Package} \${Version}, " kmod coreutils dash libc6)
	umoci init --layout oci
	# The reference names the image (podman load, skopeo): name:version.
	ref=oci:$name:$version
	umoci new --image "$ref"
	umoci unpack --image "$ref" bundle
	cp -a rootfs/. bundle/rootfs/
	umoci repack --history.created "$created" --image "$ref" bundle
	umoci config --image "$ref" --created "$created" --history.created "$created" \
		--os linux --architecture amd64 \
		--config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.cmd sleep --config.cmd infinity \
		--config.label "org.opencontainers.image.title=$name" \
		--config.label "org.opencontainers.image.version=$version" \
		--config.label "org.opencontainers.image.description=ashmem_linux for Kernel Module Management: /opt/lib/modules/RELEASE/ashmem_linux.ko" \
		--config.label "io.github.ashmem-linux.debian-packages=${pkgs%, }" \
		--config.label "io.github.ashmem-linux.kernels=$(ls $r/opt/lib/modules | tr "\n" " " | sed "s/ $//")"
	umoci gc --layout oci
	umoci stat --image "$ref" >&2
	tar -C oci --sort=name --mtime="$created" --owner=0 --group=0 --numeric-owner -cf image.oci.tar .
' kmm-image "$name" "$version" "$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" >"$out/build.log" 2>&1 ||
	{ tail -n 30 "$out/build.log" >&2; say "image build failed (log $out/build.log)"; exit 1; }
mv "$stage/image.oci.tar" "$out/$name-$version.oci.tar"
mv "$out/releases.new" "$out/releases"
rm -rf "$ov"
say "$name:$version for $(tr '\n' ' ' <"$out/releases")($(du -h "$out/$name-$version.oci.tar" | cut -f1))"
echo "$out/$name-$version.oci.tar"
