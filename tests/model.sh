#!/bin/sh
# model.sh SOURCE BUILD [long] — checks the SPIN models lib/barrier.pml and
# lib/robust.pml exhaustively (no bitstate; COLLAPSE is lossless
# compression), one run per configuration, each printing its states, time
# and memory; then checks that SPIN catches every mutant (a known defect
# planted with one -DMUTANT_*) in the configuration named for it. TAP out.
#
# With "long": the larger configurations of the README's table too; with
# "mutants": only the mutants.
set -u
src=$1
build=$2
dir="$build/model"
mkdir -p "$dir"
cp "$src/lib/barrier.pml" "$src/lib/robust.pml" "$dir/"
cd "$dir" || exit 1
rm -rf run*
n=0
failed=0
total_start=$(date +%s)

# The configurations: NAME FILE DEFINES (the defaults are in the models).
# barrier.pml: P parties, T callers, CALLS calls each.
MORE="-DP=2 -DT=3 -DCALLS=2 -DACTION=0 -DTIMED=2 -DLATE=1 -DTIMEOUTS=1 -DFAILS=0 -DSPURIOUS=0 -DDESTROY=1"
ACTION="-DP=2 -DT=3 -DCALLS=2 -DACTION=1 -DTIMED=2 -DLATE=1 -DTIMEOUTS=0 -DFAILS=1 -DSPURIOUS=0 -DDESTROY=1"
SLEEP="-DP=3 -DT=3 -DCALLS=2 -DACTION=2 -DTIMED=0 -DTIMEOUTS=0 -DFAILS=1 -DSPURIOUS=1 -DDESTROY=1"
FAULTS="-DP=2 -DT=2 -DCALLS=2 -DACTION=2 -DTIMED=1 -DTIMEOUTS=1 -DFAILS=1 -DSPURIOUS=1 -DABORTS=1 -DDESTROY=1"
RESET="-DP=2 -DT=2 -DCALLS=2 -DACTION=2 -DTIMED=2 -DLATE=1 -DTIMEOUTS=0 -DFAILS=0 -DSPURIOUS=0 -DRESETS=1 -DDESTROY=2"
VISIT="-DP=2 -DT=2 -DCALLS=1 -DACTION=0 -DTIMED=2 -DLATE=1 -DTIMEOUTS=0 -DFAILS=0 -DSPURIOUS=0 -DRESETS=1 -DABORTS=1 -DDESTROY=3"
SHARED="-DP=2 -DT=3 -DCALLS=1 -DACTION=1 -DSHARED=1 -DTIMED=2 -DLATE=1 -DTIMEOUTS=1 -DFAILS=0 -DSPURIOUS=0 -DDESTROY=1"
TOKEN="-DP=2 -DT=2 -DCALLS=1 -DTOKENS=1 -DTESTS=0 -DACTION=0 -DTIMED=2 -DLATE=1 -DTIMEOUTS=0 -DFAILS=0 -DSPURIOUS=0 -DRESETS=2 -DRECORDS=1 -DDESTROY=0"
TOKEN_DESTROY="-DP=2 -DT=2 -DCALLS=1 -DTOKENS=2 -DTESTS=1 -DACTION=0 -DTIMED=2 -DLATE=1 -DTIMEOUTS=0 -DFAILS=0 -DSPURIOUS=0 -DRESETS=1 -DRECORDS=1 -DDESTROY=2"
WITHDRAW="-DP=2 -DT=2 -DCALLS=1 -DWITHDRAWS=2 -DACTION=1 -DTIMED=2 -DLATE=1 -DTIMEOUTS=0 -DFAILS=0 -DSPURIOUS=0 -DRESETS=1 -DRECORDS=1 -DDESTROY=2"
WRAP="-DP=2 -DT=2 -DCALLS=5 -DACTION=2 -DTIMED=2 -DLATE=1 -DTIMEOUTS=1 -DFAILS=0 -DSPURIOUS=0 -DDESTROY=1 -DSEQ_BITS=2"
# small ones, for mutants
PAIR="-DP=2 -DT=2 -DCALLS=1 -DACTION=0 -DTIMED=1 -DTIMEOUTS=1 -DFAILS=0 -DSPURIOUS=0 -DDESTROY=1"
# one party, two callers, an abort: the baseline passing a broken phase
REBASE="-DP=1 -DT=2 -DCALLS=2 -DACTION=0 -DTIMED=0 -DTIMEOUTS=0 -DFAILS=0 -DSPURIOUS=0 -DABORTS=1 -DDESTROY=1"
# robust.pml: process 1 (threads A1, A2), process 2 (B), 3 (a monitor)
R_DEATH="-DA2=3 -DMON=0 -DKILL=4 -DACTION=1"
R_MONITOR="-DP=1 -DA1=0 -DA2=0 -DBWAITS=2 -DMON=1 -DKILL=3"
R_DESTROY="-DA2=0 -DMON=2 -DKILL=4 -DACTION=1"
R_ATTACH="-DA2=0 -DMON=0 -DATTACH=1 -DKILL=2"
R_RESET="-DP=1 -DA1=7 -DA2=0 -DBWAITS=2 -DMON=0 -DKILL=2"

# The runs go MODEL_JOBS (2) at a time, each in a directory of its own
# (the suite has the machine to itself: is_parallel false — one search at
# a time left a CPU idle for 6 minutes); their TAP lines are printed in
# order at the end.
jobs=${MODEL_JOBS:-2}

# pan_run NAME EXPECT FILE SPIN-DEFINES... — EXPECT: pass (compiled -O2),
# small (pass, a small search: compiled -O0, which compiles 8 times faster
# and searches half as fast), fail (a mutant)
pan_run() {
	n=$((n + 1))
	# Running: the runs started and not done (a file each marks the end;
	# sh's `jobs` is not to be trusted in a subshell).
	while [ $((n - 1 - $(ls -d run*/done 2>/dev/null | wc -l))) -ge "$jobs" ]; do
		sleep 0.2
	done
	mkdir -p "run$n"
	cp barrier.pml robust.pml "run$n/"
	(cd "run$n" && pan_one "$n" "$@" >result; : >done) &
}

pan_one() {
	n=$1 name=$2 expect=$3 file=$4
	shift 4
	start=$(date +%s)
	# a search that stops at its first error: compiled and hashed small
	opt=-O2 w=${PAN_W:-25}
	[ "$expect" = small ] && opt=-O0 expect=pass
	[ "$expect" = pass ] || opt=-O0 w=22
	if ! spin -a "$@" "$file" >spin.log 2>&1 ||
		! cc $opt -w -DSAFETY -DCOLLAPSE -o pan pan.c >cc.log 2>&1; then
		echo "not ok $n - $name: model does not build"
		sed 's/^/# /' spin.log cc.log
		return
	fi
	nice ./pan -m100000 -w$w >pan.log 2>&1
	secs=$(($(date +%s) - start))
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log | head -n 1)
	states=$(sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p' pan.log | head -n 1)
	mem=$(sed -n 's/^ *\([0-9.]*\).*total actual memory usage.*/\1/p' pan.log | head -n 1)
	why=$(grep -a -m1 -E 'pan:1:' pan.log | sed 's/ (at depth.*//; s/^pan:1: //')
	search=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) .*/\1/p' pan.log | head -n 1)
	what="$file $*"
	if [ "$expect" = pass ] && [ "${errors:-x}" = 0 ] &&
		! grep -q 'Search not completed' pan.log; then
		echo "ok $n - $name: $states states, ${secs} s (search ${search} s), ${mem} MB, exhaustive, no error"
	elif [ "$expect" = fail ] && [ "${errors:-0}" -gt 0 ]; then
		echo "ok $n - $name: caught ($why) in ${secs} s"
	else
		echo "not ok $n - $name: errors ${errors:-?}, expected $expect"
		echo "# $what"
		grep -a -E 'pan:|errors|Search' pan.log | sed 's/^/# /'
	fi
	# keep the trail of a failure for `spin -t -p DEFINES FILE` (in
	# run$n/, with the model)
	true
}

# ---- the models pass --------------------------------------------------------
if [ "${3:-}" != mutants ]; then
pan_run "more: 3 callers, 2 parties, 2 timed waits each, a timeout, destroy" \
	pass barrier.pml $MORE
pan_run "action: 3 callers, 2 parties, an action that may fail, destroy" \
	pass barrier.pml $ACTION
pan_run "sleep: 3 callers = parties, untimed: lost wake-ups, spurious wake-up, action" \
	pass barrier.pml $SLEEP
pan_run "faults: 2 callers, timeout, abort, failing action, spurious wake-up, destroy" \
	small barrier.pml $FAULTS
pan_run "reset: 2 callers, a reset racing waits and re-arrivals, then destroy" \
	pass barrier.pml $RESET
pan_run "visit: a reset and an abort (visitors) racing destroy" \
	small barrier.pml $VISIT
pan_run "shared: slices, timeouts racing the completer's BUSY" \
	small barrier.pml $SHARED
pan_run "wrap: 2 seq bits, 5 waits each: seq wraps, the guard, rebase; a timeout, destroy" \
	small barrier.pml $WRAP
pan_run "withdraw: split phases taken back (asyncio's cancel), made again; action, a reset, destroy" \
	pass barrier.pml $WITHDRAW
pan_run "rebase: 1 party, 2 callers, an abort: the baseline and a broken phase" \
	small barrier.pml $REBASE
pan_run "token: split phase, 2 resets, 1 record: pins, reuse, stale tokens" \
	pass barrier.pml $TOKEN
pan_run "token, destroy: tokens tested and awaited, a reset, destroy" \
	small barrier.pml $TOKEN_DESTROY
pan_run "robust death: any participant dies at any step, action, abort" \
	pass robust.pml $R_DEATH
pan_run "robust monitor: a non-participant dies inside reset; B waits twice" \
	small robust.pml $R_MONITOR
pan_run "robust destroy: destroy racing a death, waits for the live only" \
	pass robust.pml $R_DESTROY
pan_run "robust attach: registration racing scans, death in a wait or unregister" \
	small robust.pml $R_ATTACH
pan_run "robust reset: abort, reset, waits; the other process dies" \
	small robust.pml $R_RESET
if [ "${3:-}" = long ]; then
	PAN_W=27
	pan_run "long more, action: 3 callers, 2 parties, timeout, an action that may fail" \
		pass barrier.pml $MORE -DACTION=1 -DFAILS=1
	pan_run "long sleep, abort: 3 callers = parties, untimed, action, abort" \
		pass barrier.pml $SLEEP -DABORTS=1
	pan_run "long token: 3 resets, 2 records" \
		pass barrier.pml $TOKEN -DRESETS=3 -DRECORDS=2
	pan_run "long robust: action, abort, destroy, any process dies" \
		pass robust.pml -DA2=3 -DMON=2 -DKILL=4 -DACTION=1
	PAN_W=25
fi
fi

# ---- every mutant is caught -------------------------------------------------
pan_run "mutant REBASE_GUESS (a completer rebases on its guess: past a broken phase): rebase" \
	fail barrier.pml $REBASE -DMUTANT_REBASE_GUESS
pan_run "mutant REBASE_GUESS: wrap" \
	fail barrier.pml $WRAP -DMUTANT_REBASE_GUESS
pan_run "mutant A1 (completer touches after publishing): pair" \
	fail barrier.pml $PAIR -DMUTANT_A1
pan_run "mutant A2 (a completer whose publish failed leaves uncounted): pair" \
	fail barrier.pml $PAIR -DMUTANT_A2
pan_run "mutant A3 (a timeout breaks the phase gen names): more" \
	fail barrier.pml $MORE -DMUTANT_A3
pan_run "mutant A4 (the drain ignores a completer between its steps): reset" \
	fail barrier.pml $RESET -DMUTANT_A4
pan_run "mutant A5 (reset zeroes the pins after waiting): token" \
	fail barrier.pml $TOKEN -DMUTANT_A5
pan_run "mutant REARRIVE (re-arrives though its phase completed): reset" \
	fail barrier.pml $RESET -DMUTANT_REARRIVE
pan_run "mutant NO_REARRIVALS (destroy does not wait for a re-arriving caller): reset" \
	fail barrier.pml $RESET -DMUTANT_NO_REARRIVALS
pan_run "mutant REARRIVAL_LATE (a re-arrival counted after it left): reset" \
	fail barrier.pml $RESET -DMUTANT_REARRIVAL_LATE
pan_run "mutant NO_VISITORS (destroy ignores visitors): visit" \
	fail barrier.pml $VISIT -DMUTANT_NO_VISITORS
pan_run "mutant VISIT_LATE (a visitor reads magic, then counts itself): visit" \
	fail barrier.pml $VISIT -DMUTANT_VISIT_LATE
pan_run "mutant WITHDRAW_CAS_FIRST (a withdraw counts itself out after its CAS): withdraw" \
	fail barrier.pml $WITHDRAW -DMUTANT_WITHDRAW_CAS_FIRST
pan_run "mutant WITHDRAW_WHOLE (a withdraw takes an arrival from a whole phase): withdraw" \
	fail barrier.pml $WITHDRAW -DMUTANT_WITHDRAW_WHOLE
pan_run "mutant NO_GUARD (a broken barrier's callers never guard it): wrap" \
	fail barrier.pml $WRAP -DMUTANT_NO_GUARD
pan_run "mutant NO_REBASE (the baseline never moves on): wrap" \
	fail barrier.pml $WRAP -DMUTANT_NO_REBASE
pan_run "mutant STALE_SLEEPERS (wake decided on a stale SLEEPERS): sleep" \
	fail barrier.pml $SLEEP -DMUTANT_STALE_SLEEPERS
pan_run "mutant TRUST_WAKEUP (a wake-up taken for the release): sleep" \
	fail barrier.pml $SLEEP -DMUTANT_TRUST_WAKEUP
pan_run "mutant BLIND_TIMEOUT (a timeout breaks whatever happened): pair" \
	fail barrier.pml $PAIR -DMUTANT_BLIND_TIMEOUT
pan_run "mutant B12 (destroy gives up on callers inside): pair" \
	fail barrier.pml $PAIR -DMUTANT_B12
pan_run "mutant B10 (BUSY's holder written in a second step): robust death" \
	fail robust.pml $R_DEATH -DMUTANT_B10
pan_run "mutant B11 (only a participant holder is taken over): robust monitor" \
	fail robust.pml $R_MONITOR -DMUTANT_B11
pan_run "mutant B12 (drain and destroy give up on the live): robust destroy" \
	fail robust.pml $R_DESTROY -DMUTANT_B12
pan_run "mutant B15 (registration publishes the pid before the start): robust attach" \
	fail robust.pml $R_ATTACH -DMUTANT_B15
pan_run "mutant FORGET_AFTER (reset forgets the dead after the swap): robust reset" \
	fail robust.pml $R_RESET -DMUTANT_FORGET_AFTER
wait
for i in $(seq "$n"); do
	if [ -s "run$i/result" ]; then
		cat "run$i/result"
		grep -q '^not ok' "run$i/result" && failed=$((failed + 1))
	else
		echo "not ok $i - no result (the run did not finish)"
		failed=$((failed + 1))
	fi
done
echo "1..$n"
echo "# $((n - failed)) passed, $failed failed, $(($(date +%s) - total_start)) s"
[ "$failed" -eq 0 ]
