#!/usr/bin/env bash
# The Android 16 device path and Waydroid's own code, in the QEMU test guest,
# with Debian's programs:
# - Debian's udev (systemd-udevd and udevadm, from the host's own suite)
#   applies the rule `make install-files` installs: /dev/ashmem<boot id>;
# - Debian's Waydroid (sid) runs its driver probe, which must load the module
#   (`modprobe -q ashmem_linux`, kmod), and writes its LXC configuration;
#   with Debian's python3, python3-dbus, python3-gi and lxc-info (lxc);
# - containers set up as LXC sets up Waydroid's (its config_nodes, plus the
#   entry of packaging/waydroid-ashmem-entry) and as docker sets up redroid's
#   (--device with both names), and in each the libcutils-style program
#   (selftests/android/cutils.c), 64- and 32-bit.
# Prints TAP headed "# android: ..."; exits non-zero when a case fails, the
# guest fails, or its kernel log shows a splat.
#
#   KDIR  the test kernel tree
#   KO    the module built against it (ashmem_linux.ko)
#   OUT   output directory: programs, guest root, results.tap, logs/
#   GUEST_KERNEL=SERIES   an arm64 kernel's (sid-arm64-16k...): the programs
#         cross-built (harness/guest-cc.sh), and udev, lxc, python3 and its
#         modules Debian sid's arm64 packages (harness/guest-tools.sh arm64
#         android) instead of the host suite's
#
# Debian packages are downloaded once into ~/.cache/ashmem_linux/android
# (never installed on the host): the host suite's with the host's apt, sid's
# Waydroid through the private package lists of harness/kernel-source.sh.
set -euo pipefail

usage() { echo "usage: $0 KDIR KO OUT   (env: KVM=1, TIMEOUT=S as for harness/guest-run.sh)" >&2; exit 2; }
[ $# -eq 3 ] || usage
kdir=$1 ko=$2 out=$3
top=$(realpath "$(dirname "$0")/..")
kernel=${GUEST_KERNEL:-}
[ -f "$kdir/arch/x86/boot/bzImage" ] || [ -n "$kernel" ] ||
	{ echo "android-guest-test: no bzImage in $kdir (for an arm64 kernel set GUEST_KERNEL)" >&2; exit 1; }
[ -f "$ko" ] || { echo "android-guest-test: no module $ko" >&2; exit 1; }
kver=$(cat "$kdir/include/config/kernel.release")
mkdir -p "$out"
out=$(realpath "$out")
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ashmem_linux
pkgs=$cache/android

# Debian packages of the host's own suite (glibc and Python match the host's,
# whose python3 the guest gets): udev, lxc-info, python3-dbus, python3-gi.
host_pkgs=(udev libsystemd-shared lxc liblxc1 python3-dbus python3-gi gir1.2-glib-2.0
	libgirepository-1.0-1)
hroot=$pkgs/host-root triplet=x86_64-linux-gnu tools=
case "$kernel" in
*-arm64 | *-arm64-16k)
	# Debian sid's arm64 packages: the guest's python3 is sid's too.
	tools=$("$top/harness/guest-tools.sh" arm64 android)
	hroot=$tools triplet=aarch64-linux-gnu host_pkgs=()
	;;
esac
mkdir -p "$pkgs/host-debs" "$hroot"
updated=0
for p in "${host_pkgs[@]}"; do
	ls "$pkgs/host-debs/${p}"_*.deb >/dev/null 2>&1 && continue
	until (cd "$pkgs/host-debs" && apt-get -q -o APT::Sandbox::User=root download "$p" >&2); do
		# A fresh machine may never have fetched its package lists.
		[ $updated = 0 ] || { echo "android-guest-test: cannot download Debian package $p" >&2; exit 1; }
		apt-get -q update >&2
		updated=1
	done
done
for deb in "$pkgs"/host-debs/*.deb; do
	[ -z "$tools" ] || break
	[ -e "$hroot/.x.$(basename "$deb")" ] || { dpkg-deb -x "$deb" "$hroot" && touch "$hroot/.x.$(basename "$deb")"; }
done

# Waydroid from sid: the package lists harness/kernel-source.sh keeps (read
# only here), the newest version in them, cached.
aptdir=$cache/apt
apt_opts=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o Dir::Etc::sourceparts=-
	-o "Dir::State::Lists=$aptdir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
	-o "Dir::Cache::archives=$pkgs/sid-debs" -o APT::Sandbox::User=root)
mkdir -p "$pkgs/sid-debs"
wdeb=$(ls "$pkgs"/sid-debs/waydroid_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$wdeb" ]; then
	[ -f "$aptdir/sources.list" ] ||
		{ echo "android-guest-test: no sid package lists in $aptdir: run harness/kernel-source.sh 7.2 once" >&2; exit 1; }
	(cd "$pkgs/sid-debs" && apt-get -q "${apt_opts[@]}" download waydroid >&2)
	wdeb=$(ls "$pkgs"/sid-debs/waydroid_*.deb | sort -V | tail -n 1)
fi
wroot=$pkgs/waydroid-$(dpkg-deb -f "$wdeb" Version)
[ -d "$wroot/usr/lib/waydroid" ] || dpkg-deb -x "$wdeb" "$wroot"

# The programs.
for bits in 64 32; do
	m32=()
	[ $bits = 64 ] || m32=(-m32)
	"$top/harness/guest-cc.sh" "$kernel" "${m32[@]}" -O2 -Wall -Wextra -Werror -static -I "$top/selftests/ashmem" \
		-o "$out/cutils-$bits" "$top/selftests/android/cutils.c"
done

root=$out/android-root
rm -rf "$root"
mkdir -p "$root/lib/modules/$kver/updates" "$root/android" "$root/sbin" "$root/usr/bin"
cp "$ko" "$root/lib/modules/$kver/updates/ashmem_linux.ko"
"$top/harness/guest-kmod.sh" "$root" $tools
make -s --no-print-directory -C "$top" install-files DESTDIR="$root" KDIR="$kdir"

# An ELF program or library at DEST in the root, with the libraries it needs:
# from the extracted packages where they have them, else the host's.
libpath=$hroot/usr/lib/$triplet:$hroot/lib/$triplet
copy_elf() { # FILE DEST
	local libs lib target
	install -D -m 0755 "$1" "$root$2"
	if [ -n "$tools" ]; then
		# Another architecture's: its libraries from its packages only.
		"$top/harness/guest-tools.sh" libs "$hroot" "${1#"$hroot"}" | while read -r lib target; do
			[ -e "$root$target" ] || install -D -m 0755 "$(realpath "$hroot$lib")" "$root$target"
		done
		return
	fi
	libs=$(LD_LIBRARY_PATH=$libpath ldd "$1")
	if grep -q 'not found' <<<"$libs"; then
		echo "android-guest-test: $1 needs a library the host lacks:" >&2
		grep 'not found' <<<"$libs" >&2
		exit 1
	fi
	for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs"); do
		target=${lib#"$hroot"}
		[ -e "$root$target" ] || install -D -m 0755 "$(realpath "$lib")" "$root$target"
	done
}
udevadm=$hroot/bin/udevadm
[ -e "$udevadm" ] || udevadm=$hroot/usr/bin/udevadm	# merged /usr (sid)
copy_elf "$udevadm" /sbin/udevadm
ln -s udevadm "$root/sbin/systemd-udevd"
copy_elf "$hroot/usr/bin/lxc-info" /usr/bin/lxc-info

"$top/harness/guest-python.sh" "$root" $tools
dist=/usr/lib/python3/dist-packages
mkdir -p "$root$dist"
cp -a "$hroot$dist/dbus" "$hroot$dist/gi" "$root$dist/"
for so in "$hroot$dist"/_dbus_*.so "$hroot$dist"/gi/_gi.*.so; do
	copy_elf "$so" "${so#"$hroot"}"
done
mkdir -p "$root/usr/lib/$triplet/girepository-1.0"
cp "$hroot"/usr/lib/"$triplet"/girepository-1.0/*.typelib "$root/usr/lib/$triplet/girepository-1.0/"
cat >"$root$dist/gbinder.py" <<'EOF'
"""Stand-in for python3-gbinder in the ashmem_linux test guest (nothing else).

Debian builds python3-gbinder only for its current Python (3.13 in sid); the
guest runs the host's Python. Waydroid imports gbinder when it loads; the
functions the test calls (driver probe, LXC configuration, base properties of
a MAINLINE vendor) do not use it: any use would raise AttributeError.
"""
EOF
cp -a "$wroot/usr/lib/waydroid" "$root/usr/lib/waydroid"

cp "$out/cutils-64" "$out/cutils-32" "$top/selftests/android/waydroid_host.py" \
	"$top/selftests/android/waydroid_session.py" "$top/harness/guest/android-container.sh" "$root/android/"
cp "$top/harness/guest/android-job.sh" "$root/job"
cp "$top/harness/guest/tap.sh" "$root/tap.sh"
if [ -n "$tools" ]; then
	versions="udev $(sed -n 's/^udev=//p' "${tools%/root}/packages"), python3-dbus, python3-gi, lxc $(sed -n 's/^lxc=//p' "${tools%/root}/packages") from Debian sid (arm64)"
else
	versions="udev $(dpkg-deb -f "$pkgs"/host-debs/udev_*.deb Version), python3-dbus, python3-gi, lxc $(dpkg-deb -f "$pkgs"/host-debs/lxc_*.deb Version) from Debian"
fi
echo "# android: Waydroid $(dpkg-deb -f "$wdeb" Version), $versions"

guest=0
LOGDIR=$out/logs "$top/harness/guest-run.sh" "$kdir" "$root" | tee "$out/results.tap" || guest=$?
summary=0
"$top/harness/tap-summary.sh" <"$out/results.tap" >&2 || summary=$?
[ "$guest" = 0 ] || echo "android-guest-test: guest run failed (status $guest): logs in $out/logs" >&2
[ "$guest" = 0 ] && [ "$summary" = 0 ]
