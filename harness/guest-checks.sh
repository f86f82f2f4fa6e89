# Sourced by the scripts that boot a test guest (harness/guest-run.sh,
# harness/efi-guest-run.sh): what a finished guest run is judged by.
#   guest_splat        ERE of a kernel report in a console log (WARNING, BUG,
#                      Oops, lockdep, KASAN, hung task, stall, ...)
#   guest_results STATUS TIMEOUT CONSOLE RESULTS LOGDIR [JOB]
#                      after QEMU ended with STATUS (124/137: killed after
#                      TIMEOUT seconds): print the job's output (RESULTS, the
#                      second serial port, without its "# guest-exit: N"
#                      line and the "#cov " lines of a coverage record),
#                      write LOGDIR/splats (the console's report lines,
#                      empty when none) and return 1, saying why on stderr,
#                      when the guest was killed, the job never reported its
#                      exit status or reported one other than 0, or the
#                      console shows a report. JOB=none: the run had no job
#                      (nothing is expected on RESULTS).
#   guest_reports CONSOLE
#                      the console's report lines (guest_splat's), less
#                      the one report a test causes on purpose (below)
# shellcheck shell=bash
guest_splat='(WARNING:|BUG:|Oops|general protection fault|Kernel panic|kernel BUG|Call Trace:|possible circular locking|possible recursive locking|inconsistent lock state|INFO: task .* blocked|unreferenced object|UBSAN:|KASAN:|KFENCE:|rcu_sched self-detected stall|soft lockup|hard LOCKUP)'

# kmem_cache_create() says that it failed with a warning and a dump_stack():
# selftests/module/init_failure.c fails the module's entry cache on purpose.
# The "Call Trace:" line of that dump (its frames, within the next 6 lines:
# __kmem_cache_create_args, called from ashmem_lru_cache_create in
# ashmem_linux) is not a kernel report; any other report line near it still
# is, and so is another cache's failure.
guest_reports() {
	LC_ALL=C awk -v splat="$guest_splat" '
		NR == FNR { line[NR] = $0; next }
		$0 ~ splat {
			if ($0 ~ /Call Trace:/)
				for (i = FNR + 1; i <= FNR + 6; i++)
					if (line[i] ~ /__kmem_cache_create_args\+/ &&
					    line[i + 1] ~ /ashmem_lru_cache_create\+.*\[ashmem_linux\]/)
						next
			print
		}
	' "$1" "$1"
}

guest_results() {
	local status=$1 timeout_s=$2 console=$3 results=$4 logdir=$5 job=${6:-} fail=0 exit_line
	# The serial line discipline turns \n into \r\n.
	sed -i 's/\r$//' "$results" "$console"
	grep -avE '^(# guest-exit:|#cov )' "$results" || true
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		echo "guest-run: guest did not finish within ${timeout_s}s (killed); console log: $console" >&2
		fail=1
	fi
	if [ "$job" != none ]; then
		exit_line=$(grep -a '^# guest-exit:' "$results" | tail -n 1 || true)
		if [ -z "$exit_line" ]; then
			echo "guest-run: the guest job never reported its exit status; console log follows" >&2
			tail -n 50 "$console" >&2
			fail=1
		elif [ "${exit_line##*: }" != 0 ]; then
			echo "guest-run: guest job exited with status ${exit_line##*: }" >&2
			fail=1
		fi
	elif [ "$status" != 0 ]; then
		echo "guest-run: the guest ended with status $status; console log: $console" >&2
		fail=1
	fi
	# Any kernel splat fails the run, whatever the tests said.
	guest_reports "$console" >"$logdir/splats"
	if [ -s "$logdir/splats" ]; then
		echo "guest-run: kernel splat in the guest log:" >&2
		grep -aE -B2 -A20 "$guest_splat" "$console" | head -n 80 >&2
		fail=1
	fi
	return "$fail"
}
