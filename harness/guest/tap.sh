# Sourced by the guest jobs (busybox sh) from /tap.sh, where the scripts that
# build a guest root copy it: TAP cases numbered by $n (a job sets n=0 when it
# prints a new plan).
#   check NAME COMMAND...  one case: "ok N NAME" when COMMAND succeeds, else
#                          "not ok N NAME"; COMMAND's output follows as "#   "
#                          lines, on failure only unless TAP_VERBOSE=1
#   skip NAME REASON       a case that cannot run here, and why
# shellcheck shell=sh
n=0
check() {
	name=$1
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n $name"
		[ "${TAP_VERBOSE:-0}" = 1 ] || out=
	else
		echo "not ok $n $name"
	fi
	[ -z "$out" ] || echo "$out" | sed 's/^/#   /'
}
skip() {
	n=$((n + 1))
	echo "ok $n $1 # SKIP $2"
}
