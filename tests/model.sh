#!/bin/sh
# model.sh SOURCE BUILD [long] — checks lib/barrier.pml exhaustively with
# SPIN (no bitstate; COLLAPSE is lossless compression) for 2, 3 and 4
# processes, then checks that SPIN catches every mutant (a known bug class
# planted with one -DMUTANT_*). TAP out. With "long": 4 processes with an
# action (~100M states, ~2 min, ~5 GB) and 5 processes (see the README).
set -u
src=$1
build=$2
dir="$build/model"
mkdir -p "$dir"
cp "$src/lib/barrier.pml" "$dir/"
cd "$dir" || exit 1
n=0
failed=0

# pan_run NAME EXPECT(pass|fail) SPIN-DEFINES...
pan_run() {
	name=$1 expect=$2
	shift 2
	n=$((n + 1))
	start=$(date +%s)
	# Safety (asserts, invalid end states); or, with LIVENESS=1,
	# non-progress cycles under weak fairness: with no progress labels,
	# any infinite run in which every process that can move moves.
	mode="-DSAFETY" flags=""
	[ "${LIVENESS:-0}" = 1 ] && mode="-DNP" flags="-l -f"
	if ! spin -a "$@" barrier.pml >spin.log 2>&1 ||
		! cc -O2 -w $mode -DCOLLAPSE -o pan pan.c >cc.log 2>&1; then
		failed=$((failed + 1))
		echo "not ok $n - $name: model does not build"
		sed 's/^/# /' spin.log cc.log
		return
	fi
	# shellcheck disable=SC2086
	./pan $flags -m3000000 -w27 >pan.log 2>&1
	secs=$(($(date +%s) - start))
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log | head -n 1)
	states=$(sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p' pan.log | head -n 1)
	why=$(grep -m1 -E 'pan:1:' pan.log | sed 's/ (at depth.*//')
	if [ "$expect" = pass ] && [ "${errors:-x}" = 0 ] &&
		! grep -q 'Search not completed' pan.log; then
		echo "ok $n - $name: $states states, exhaustive, no error (${secs} s)"
	elif [ "$expect" = fail ] && [ "${errors:-0}" -gt 0 ]; then
		echo "ok $n - $name: caught (${why})"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name: errors ${errors:-?}, expected $expect"
		grep -E 'pan:|errors|Search' pan.log | sed 's/^/# /'
	fi
}

pan_run "2 processes, 2 faulty rounds: timeout, abort, 2 resets, failing action, spurious wake-up" \
	pass -DN=2
pan_run "3 processes: timeout, reset, spurious wake-up" \
	pass -DN=3 -DROUNDS=1 -DACTION=0 -DABORTS=0 -DFAILURES=0 -DRESETS=1
pan_run "3 processes with an action: failing action, abort, spurious wake-up" \
	pass -DN=3 -DROUNDS=1 -DACTION=1 -DTIMEOUTS=0 -DRESETS=0
pan_run "4 processes: waits, spurious wake-up, destroy" \
	pass -DN=4 -DROUNDS=0 -DACTION=0 -DGHOSTS=4
LIVENESS=1
pan_run "liveness, 2 processes, 2 faulty rounds: no fair infinite run (-l -f)" \
	pass -DN=2
LIVENESS=0
if [ "${3:-}" = long ]; then
	pan_run "4 processes with an action" pass -DN=4 -DROUNDS=0 -DACTION=1 -DGHOSTS=4
	pan_run "5 processes: waits, spurious wake-up, destroy" \
		pass -DN=5 -DROUNDS=0 -DACTION=0 -DGHOSTS=4
fi
for m in STALE_SLEEPERS NO_EPOCH TRUST_WAKEUP LATE_LEAVING BLIND_TIMEOUT; do
	pan_run "mutant $m" fail -DN=2 -DMUTANT_$m
done
echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
