# Guest helper of harness/guest/android-job.sh, run inside new mount, PID and
# UTS namespaces (the job unshares them; LXC and docker also give IPC and
# network namespaces, which ashmem does not see, and which the tinyconfig
# test kernels lack): set up the root of a container as its runtime does,
# then run CMD in it (chroot; LXC pivots, which changes nothing for what
# runs inside).
#
#   android-container.sh lxc ROOTFS CONFIG_NODES CMD...
#       Waydroid under LXC: proc (lxc.mount.auto), then every
#       lxc.mount.entry line of CONFIG_NODES applied as LXC applies it: the
#       target relative to ROOTFS; create=dir|file makes it; bind/rbind; other
#       types mounted with the remaining options; an optional entry whose
#       source is missing or whose mount fails is skipped.
#   android-container.sh docker ROOTFS HOST:CONTAINER... -- CMD...
#       redroid under docker: proc, a tmpfs /dev with the default nodes (null,
#       zero, full, random, urandom, tty), and for each `--device HOST:CONTAINER`
#       a node CONTAINER made with HOST's type, numbers and mode, as runc makes
#       device nodes (mknod).
set -eu

usage() { echo "usage: $0 lxc ROOTFS CONFIG_NODES CMD... | docker ROOTFS HOST:CONTAINER... -- CMD..." >&2; exit 2; }
[ $# -ge 3 ] || usage
kind=$1 rootfs=$2
shift 2
# Mounts made here must not propagate back to the host's namespace.
mount --make-rprivate /
mkdir -p "$rootfs/proc"
mount -t proc proc "$rootfs/proc"

lxc_entry() { # SOURCE TARGET TYPE OPTIONS: one lxc.mount.entry
	src=$1 dst=$rootfs/$2 type=$3 opts=''
	create='' optional='' bind=''
	for o in $(echo "$4" | tr , ' '); do
		case $o in
		create=*) create=${o#create=} ;;
		optional) optional=1 ;;
		bind | rbind) bind=$o ;;
		defaults) ;;
		*) opts=${opts:+$opts,}$o ;;
		esac
	done
	if [ -n "$bind" ] && [ ! -e "$src" ]; then
		[ -n "$optional" ] && { echo "# container: ${dst#"$rootfs"/}: no $src, optional: skipped"; return 0; }
		echo "# container: $src missing" >&2
		return 1
	fi
	case $create in
	dir) mkdir -p "$dst" ;;
	file) mkdir -p "$(dirname "$dst")" && { [ -e "$dst" ] || : >"$dst"; } ;;
	*) [ -n "$bind" ] || mkdir -p "$dst" ;;
	esac
	if [ -n "$bind" ]; then
		set -- mount -o "$bind" "$src" "$dst"
	else
		set -- mount -t "$type" ${opts:+-o "$opts"} "$src" "$dst"
	fi
	if "$@"; then
		echo "# container: ${dst#"$rootfs"/}: $type${bind:+ $bind} of $src"
	elif [ -n "$optional" ]; then
		echo "# container: ${dst#"$rootfs"/}: mount failed, optional: skipped"
	else
		return 1
	fi
}

case $kind in
lxc)
	nodes=$1
	shift
	# "lxc.mount.entry = SOURCE TARGET TYPE OPTIONS FREQ PASSNO"
	grep '^lxc\.mount\.entry *= ' "$nodes" | sed 's/^lxc\.mount\.entry *= *//' >/tmp/entries.$$
	while read -r src dst type opts _; do
		lxc_entry "$src" "$dst" "$type" "$opts"
	done </tmp/entries.$$
	rm -f /tmp/entries.$$
	;;
docker)
	mkdir -p "$rootfs/dev"
	mount -t tmpfs -o nosuid,mode=0755 tmpfs "$rootfs/dev"
	for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
		IFS=: read -r name maj min <<EOF
$d
EOF
		mknod -m 0666 "$rootfs/dev/$name" c "$maj" "$min"
	done
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		host=${1%%:*} ctr=${1#*:}
		shift
		# stat -L: a device given through a link is the device it names.
		info=$(stat -L -c '%t %T %a' "$host")
		read -r maj min mode <<EOF
$info
EOF
		mkdir -p "$(dirname "$rootfs$ctr")"
		mknod -m "$mode" "$rootfs$ctr" c "$((0x$maj))" "$((0x$min))"
		echo "# container: $ctr: node $((0x$maj)):$((0x$min)) mode $mode, as $host"
	done
	[ "${1:-}" = -- ] || usage
	shift
	;;
*) usage ;;
esac
[ $# -ge 1 ] || usage
exec chroot "$rootfs" "$@"
