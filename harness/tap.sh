# Sourced by the host test scripts: TAP output, one case per checked behaviour.
#   tap_plan N          print the plan
#   tap_case NAME CMD   run CMD (output kept), print "ok N NAME" or "not ok N
#                       NAME" followed by CMD's output as "# " lines; with
#                       TAP_LOGDIR set, CMD's output is also kept in
#                       TAP_LOGDIR/NAME.log, passed or not
#   tap_one NAME STATUS [WHY]   a part of one case: its plan and its result
#                       (ok when STATUS is 0; else WHY as a "# " line)
# shellcheck shell=bash
tap_n=0
tap_plan() { echo "1..$1"; }
tap_case() {
	local _tap_name=$1 _tap_log
	shift
	_tap_log=$(mktemp)
	tap_n=$((tap_n + 1))
	if ("$@") >"$_tap_log" 2>&1; then
		echo "ok $tap_n $_tap_name"
	else
		echo "not ok $tap_n $_tap_name"
		sed 's/^/#   /' "$_tap_log" | tail -n 40
	fi
	[ -z "${TAP_LOGDIR:-}" ] || cp "$_tap_log" "$TAP_LOGDIR/$_tap_name.log"
	rm -f "$_tap_log"
}
tap_one() {
	echo "1..1"
	if [ "$2" = 0 ]; then
		echo "ok 1 $1"
	else
		echo "not ok 1 $1"
		[ -z "${3:-}" ] || echo "#   $3"
	fi
}
