# Sourced: a private apt configuration for Debian suites this host does not
# track (sid, trixie, trixie-backports), so packages can be looked up and
# downloaded without installing anything on the host. The mirror is the one
# the host's own apt uses.
#
#   debian_apt_init [ARCH]   sets apt_opts (for apt-get/apt-cache) and
#                     refreshes the private package lists at most once a day;
#                     ARCH (default amd64, the host's) arm64: the lists of
#                     Debian's arm64 port, in their own directory, apt then
#                     looks up and downloads arm64 packages
#   debian_mirror     prints the mirror URI
# shellcheck shell=bash

debian_cache=${XDG_CACHE_HOME:-$HOME/.cache}/ashmem_linux
debian_aptdir=$debian_cache/apt
debian_apt_arch=amd64

# The Debian mirror of the host's own apt sources (deb822 or one-line style).
debian_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	echo "no Debian mirror found in /etc/apt sources" >&2
	return 1
}

debian_apt_init() {
	debian_apt_arch=${1:-amd64}
	case "$debian_apt_arch" in
	amd64) debian_aptdir=$debian_cache/apt ;;
	arm64) debian_aptdir=$debian_cache/apt-arm64 ;;
	*) echo "debian-apt: no architecture $debian_apt_arch (amd64, arm64)" >&2; return 1 ;;
	esac
	mkdir -p "$debian_aptdir/lists/partial"
	apt_opts=(-o "APT::Architecture=$debian_apt_arch" -o "APT::Architectures=$debian_apt_arch"
		-o "Dir::Etc::sourcelist=$debian_aptdir/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State::Lists=$debian_aptdir/lists" -o "Dir::Cache::pkgcache=$debian_aptdir/pkgcache.bin" -o Dir::Cache::srcpkgcache=
		-o "Dir::Cache::archives=$debian_aptdir" -o APT::Sandbox::User=root
		-o Acquire::Check-Valid-Until=false)
	# Refresh at most once a day; also when the suites listed changed.
	local uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg want
	uri=$(debian_mirror) || return 1
	want=$(for s in sid trixie trixie-backports; do echo "deb [signed-by=$keyring] $uri $s main"; done)
	if [ "$(cat "$debian_aptdir/sources.list" 2>/dev/null)" != "$want" ] ||
		[ -z "$(find "$debian_aptdir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
		echo "$want" >"$debian_aptdir/sources.list"
		echo "debian-apt: refreshing $debian_apt_arch package lists for sid, trixie and trixie-backports" >&2
		apt-get -q "${apt_opts[@]}" update >&2
	fi
}
