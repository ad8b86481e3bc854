#!/bin/sh
# cli_test.sh SOURCE BUILD — the `rally` tool as installed (meson install
# into a temporary root): processes released together, timeouts exit 2,
# bad arguments exit 1 with a message, events, abort, status, rm. TAP out.
set -u
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" ||
	{ echo "Bail out! meson install failed"; exit 1; }
rally=$(find "$tmp/root" -type f -name rally -perm -u+x | head -n 1)
LD_LIBRARY_PATH=$(dirname "$(find "$tmp/root" -name 'librally.so.0' | head -n 1)")
export LD_LIBRARY_PATH
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { # description expected-status command...
	desc=$1 want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -eq "$want" ]; then ok "$desc"; else
		not_ok "$desc (exit $got, wanted $want)"
		sed 's/^/# /' "$tmp/err"
	fi
}
says() { # description pattern file
	if grep -q "$2" "$3"; then ok "$1"; else not_ok "$1"; sed 's/^/# /' "$3"; fi
}
now_ms() { date +%s%3N; }
until_waiting() { # name n: until n callers wait at the barrier (5 s at most)
	i=0
	while [ $i -lt 100 ]; do
		"$rally" status "$1" 2>/dev/null | grep -q "waiting  $2\$" && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}
id="cli-$$"

check "--help" 0 "$rally" --help
says "--help lists the commands" "event set|clear|wait" "$tmp/out"
check "help wait reads like a manual" 0 "$rally" help wait
says "help wait has an example" "for i in" "$tmp/out"
check "wait --help" 0 "$rally" wait --help
check "no command: usage error" 1 "$rally"
check "unknown command" 1 "$rally" frobnicate
says "unknown command is named" "unknown command 'frobnicate'" "$tmp/err"
check "wait without parties" 1 "$rally" wait "$id"
check "wait with parties 0" 1 "$rally" wait "$id" 0
says "parties error explains" "PARTIES must be a number" "$tmp/err"
check "wait with a bad timeout" 1 "$rally" wait "$id" 2 --timeout soon
says "timeout error explains" "needs seconds" "$tmp/err"
check "bad name" 1 "$rally" wait "a/b" 2
check "event without op" 1 "$rally" event
check "event bad op" 1 "$rally" event toggle "$id"

# Four processes released together, the fourth 0.5 s late: the others
# must wait for it. (Released close together alone would also pass for a
# wait that never blocks.)
for i in 1 2 3; do
	("$rally" wait "$id-go" 4 --timeout 20 && now_ms >"$tmp/t$i") &
done
(sleep 0.5; now_ms >"$tmp/late"
	"$rally" wait "$id-go" 4 --timeout 20 && now_ms >"$tmp/t4") &
wait
if [ -s "$tmp/t1" ] && [ -s "$tmp/t2" ] && [ -s "$tmp/t3" ] && [ -s "$tmp/t4" ]; then
	late=$(cat "$tmp/late")
	first=$(cat "$tmp/t1" "$tmp/t2" "$tmp/t3" | sort -n | head -n 1)
	if [ "$first" -ge "$late" ]; then
		ok "3 waiters waited for the late one (released $((first - late)) ms after it started)"
	else
		not_ok "a waiter was released $((late - first)) ms before the late one started"
	fi
	spread=$(cat "$tmp"/t? | sort -n | awk 'NR==1{a=$1} END{print $1-a}')
	if [ "$spread" -lt 500 ]; then ok "4 waiters released together (${spread} ms apart)"
	else not_ok "4 waiters released ${spread} ms apart"; fi
else
	not_ok "4 waiters released"
fi
check "status of a whole barrier" 0 "$rally" status "$id-go"
says "status shows parties" "parties  4" "$tmp/out"
says "status shows the phase" "phase    1" "$tmp/out"

t0=$(now_ms)
check "a lone waiter times out with exit 2" 2 "$rally" wait "$id-lone" 2 --timeout 0.2
t1=$(now_ms)
says "timeout message on stderr" "timeout expired" "$tmp/err"
if [ $((t1 - t0)) -ge 200 ] && [ $((t1 - t0)) -lt 5000 ]; then ok "timeout after $((t1 - t0)) ms"
else not_ok "timeout after $((t1 - t0)) ms"; fi
check "after a timeout the barrier is broken" 2 "$rally" wait "$id-lone" 2 --timeout 1
check "other parties for an existing name" 1 "$rally" wait "$id-lone" 3

# abort breaks a waiter
"$rally" wait "$id-ab" 2 --timeout 20 2>/dev/null &
w=$!
sleep 0.3
check "status while waiting" 0 "$rally" status "$id-ab"
says "status counts the waiter" "waiting  1" "$tmp/out"
check "abort" 0 "$rally" abort "$id-ab"
wait $w
st=$?
if [ $st -eq 2 ]; then ok "an aborted waiter exits 2"; else not_ok "aborted waiter exit $st"; fi
check "abort of nothing" 2 "$rally" abort "$id-none"

# An interrupted waiter leaves no phantom arrival behind: it ends its wait
# (breaking the phase it was waiting in) and dies of the signal, so the next
# lone waiter is not released by a party that is gone.
for s in INT:2 TERM:15 HUP:1; do
	sig=${s%:*} num=${s#*:}
	# A script's background job starts with SIGINT ignored, and rally
	# leaves an ignored signal ignored: give the waiter the default.
	env --default-signal="$sig" "$rally" wait "$id-sig$sig" 2 --timeout 20 2>"$tmp/sigerr" &
	w=$!
	until_waiting "$id-sig$sig" 1
	kill -s "$sig" $w
	wait $w
	st=$?
	if [ $st -eq $((128 + num)) ]; then ok "SIG$sig: the waiter exits $st"
	else not_ok "SIG$sig: the waiter exits $st, wanted $((128 + num))"; fi
	says "SIG$sig: the waiter says it broke the barrier" "interrupted by SIG$sig: the barrier is broken" "$tmp/sigerr"
	check "SIG$sig: the next lone waiter finds the barrier broken" 2 \
		"$rally" wait "$id-sig$sig" 2 --timeout 1
	"$rally" rm "$id-sig$sig" 2>/dev/null
done
# An ignored SIGINT (a script's background job) stays ignored: the waiter
# still takes part.
"$rally" wait "$id-ign" 2 --timeout 20 2>/dev/null &
w=$!
until_waiting "$id-ign" 1
kill -s INT $w
sleep 0.2
check "an ignored SIGINT is ignored: its partner is released" 0 "$rally" wait "$id-ign" 2 --timeout 5
wait $w
st=$?
if [ $st -eq 0 ]; then ok "the waiter that ignored SIGINT is released"; else not_ok "the waiter that ignored SIGINT exits $st"; fi
"$rally" rm "$id-ign"

# An arrival that blocks ends at the timeout, and on a signal within
# 50 ms, as the rest of a wait does: the last arrival of a phase waits while
# the previous phase's action runs; a caller that arrives during a reset
# waits for the reset to end (here held up by a stopped waiter). Before,
# neither ended before the action or the reset did.
helper=$build/tests/helper
within() { # description ms-from ms-to t0 t1
	if [ $(($5 - $4)) -ge "$2" ] && [ $(($5 - $4)) -lt "$3" ]; then
		ok "$1 after $(($5 - $4)) ms"
	else not_ok "$1 after $(($5 - $4)) ms, wanted $2 to $3"; fi
}
"$rally" wait "$id-act" 2 --timeout 20 2>/dev/null &
w0=$!
until_waiting "$id-act" 1
"$helper" slow-action "$id-act" 2 3000 & # last of phase 0: its action runs 3 s
h=$!
sleep 0.3
"$rally" wait "$id-act" 2 --timeout 20 2>/dev/null & # first of phase 1
w1=$!
sleep 0.3
t0=$(now_ms)
check "the last arrival times out while the previous phase's action runs" 2 \
	"$rally" wait "$id-act" 2 --timeout 0.5
t1=$(now_ms)
within "... at its timeout (0.5 s)" 500 1500 "$t0" "$t1"
wait $w0
st0=$?
wait $h
sth=$?
wait $w1
st1=$?
if [ $st0 -eq 0 ] && [ $sth -eq 0 ] && [ $st1 -eq 2 ]; then
	ok "the action's phase completed; the timed-out phase broke"
else not_ok "exits $st0 and $sth (phase 0), $st1 (phase 1): wanted 0 0 2"; fi
"$rally" rm "$id-act"

"$helper" barrier "$id-rs" 3 1 &
hp=$!
until_waiting "$id-rs" 1
kill -s STOP $hp
"$helper" reset "$id-rs" &
r=$!
sleep 0.3
(sleep 5; kill -s CONT $hp 2>/dev/null) & # the reset ends whatever happens
guard=$!
env --default-signal=INT "$rally" wait "$id-rs" 3 2>"$tmp/sigerr" &
w=$!
sleep 0.2
t0=$(now_ms)
check "an arrival during a reset times out" 2 "$rally" wait "$id-rs" 3 --timeout 0.5
t1=$(now_ms)
within "... at its timeout (0.5 s)" 500 1500 "$t0" "$t1"
# A SIGINT just before that timeout, after the arrival's last look for
# signals: the timeout ended it, nothing broken (review round 4: it said
# the barrier was broken).
env --default-signal=INT "$rally" wait "$id-rs" 3 --timeout 0.5 \
	2>"$tmp/lateerr" &
w2=$!
sleep 0.47
kill -s INT $w2
wait $w2
st=$?
if grep -q "is broken" "$tmp/lateerr"; then
	not_ok "a SIGINT at the timeout during a reset: '$(cat "$tmp/lateerr")'"
else ok "a SIGINT at the timeout during a reset breaks nothing (exit $st)"; fi
t0=$(now_ms)
kill -s INT $w
wait $w
st=$?
t1=$(now_ms)
if [ $st -eq 130 ]; then ok "SIGINT ends an arrival during a reset: exit $st"
else not_ok "SIGINT to an arrival during a reset: exit $st, wanted 130"; fi
within "... within 50 ms (and scheduling)" 0 500 "$t0" "$t1"
says "... and it broke nothing" "nothing broken" "$tmp/sigerr"
kill -s CONT $hp
wait $r
st=$?
wait $hp
sth=$?
kill $guard 2>/dev/null
if [ $st -eq 0 ] && [ $sth -eq 4 ]; then ok "the reset ends, its waiter broken"
else not_ok "the reset exits $st, its waiter $sth: wanted 0 and 4"; fi
check "status after the reset" 0 "$rally" status "$id-rs"
says "no phantom arrival" "waiting  0" "$tmp/out"
says "the barrier is whole" "broken   no" "$tmp/out"
"$rally" rm "$id-rs"

# events
"$rally" event wait "$id-ev" --timeout 20 &
w=$!
sleep 0.2
check "event set" 0 "$rally" event set "$id-ev"
wait $w
st=$?
if [ $st -eq 0 ]; then ok "event waiter released"; else not_ok "event waiter exit $st"; fi
check "wait on a set event" 0 "$rally" event wait "$id-ev" --timeout 0
check "event clear" 0 "$rally" event clear "$id-ev"
check "wait on a clear event times out" 2 "$rally" event wait "$id-ev" --timeout 0.1

# robust: the late list
"$rally" wait "$id-rb" 2 --robust --timeout 20 2>/dev/null &
w=$!
sleep 0.3
check "status of a robust barrier" 0 "$rally" status "$id-rb"
says "the waiter arrived: nobody late" "late     (none)" "$tmp/out"
# SIGKILL cannot be handled: the participant is dead, not merely late.
kill -9 $w 2>/dev/null
wait $w 2>/dev/null
check "status after a participant died" 0 "$rally" status "$id-rb"
says "the dead one is listed as dead" "dead      *$w\$" "$tmp/out"
if grep -q "late .*$w" "$tmp/out"; then
	not_ok "the dead one is not listed as late"
	sed 's/^/# /' "$tmp/out"
else ok "the dead one is not listed as late"; fi
# It had arrived: its phase completes with the next caller; the phase
# after breaks.
check "the dead one's phase completes" 0 "$rally" wait "$id-rb" 2 --timeout 2
check "the next wait reports the death" 2 "$rally" wait "$id-rb" 2 --timeout 2
says "it says a participant died" "participant process died" "$tmp/err"
"$rally" rm "$id-rb"

# A monitor takes no participant slot: status and abort work with all 32
# taken (they were refused, -ENOSPC; killed meanwhile, a monitor counted as
# a dead participant).
pids=""
for _ in $(seq 32); do
	"$rally" wait "$id-full" 33 --robust --timeout 30 2>/dev/null &
	pids="$pids $!"
done
until_waiting "$id-full" 32
check "status with 32 participants" 0 "$rally" status "$id-full"
says "all 32 are waiting" "waiting  32" "$tmp/out"
check "abort with 32 participants" 0 "$rally" abort "$id-full"
# shellcheck disable=SC2086
wait $pids 2>/dev/null
"$rally" rm "$id-full"

# Statistics (rally wait --stats): in each phase a straggler arrives once
# the other waits (a process of its own each time: each pid is last once);
# status shows the counts, --json as JSON.
check "--robust and --stats refused together" 1 "$rally" wait "$id-st" 2 --robust --stats
says "... saying why" "exclude each other" "$tmp/err"
check "status of a barrier without stats says so" 0 "$rally" status "$id-go"
says "... not kept" "stats    (not kept" "$tmp/out"
for _ in 1 2 3; do
	"$rally" wait "$id-st" 2 --stats --timeout 10 &
	until_waiting "$id-st" 1
	"$rally" wait "$id-st" 2 --timeout 10
	wait
done
check "status of a barrier with stats" 0 "$rally" status "$id-st"
says "status counts the phases" "phases   3 completed, 0 broken" "$tmp/out"
says "status counts the waits" "waits    6" "$tmp/out"
says "status names a straggler (a pid, once of 3)" "last     pid [0-9]*, 1 times (33%)" "$tmp/out"
says "status shows the skew" "skew     p50 <= " "$tmp/out"
check "a timeout counts" 2 "$rally" wait "$id-st" 2 --timeout 0.01
check "status --json" 0 "$rally" status "$id-st" --json
if python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
s = d["stats"]
assert d["name"] == sys.argv[2] and d["broken"] is True, d
assert (s["phases"], s["timeouts"], s["broken_count"], s["waits"]) == (3, 1, 1, 7), s
assert s["last_count"] == 1 and len(s["skew_hist"]) == 24 and len(s["wait_ns"]) == 16, s
assert sum(s["skew_hist"]) == s["skew_phases"] == 3, s' "$tmp/out" "$id-st"; then
	ok "status --json holds the counts"
else
	not_ok "status --json holds the counts"; sed 's/^/# /' "$tmp/out"
fi
"$rally" rm "$id-st"
qname="$id-q\"\\"
"$rally" wait "$qname" 1 --stats
check "status --json of a name with quotes" 0 "$rally" status "$qname" --json
if python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["name"] == sys.argv[2]' "$tmp/out" "$qname"; then
	ok "... is valid JSON naming it"
else
	not_ok "... is valid JSON naming it"; sed 's/^/# /' "$tmp/out"
fi
"$rally" rm "$qname"
# Review round 1: names that are not UTF-8 (JSON is), --keep of a directory
# that holds traces already (they mixed into the summary) or a '%' (a
# pattern to the tracer), rally stats ended by SIGTERM (its directory was
# left, the program orphaned).
bad=$(printf 'cli-%s-\377q' "$$")
"$rally" wait "$bad" 1 --stats
check "status --json of a name that is not UTF-8" 0 "$rally" status "$bad" --json
if python3 -c 'import json, sys; json.load(open(sys.argv[1], encoding="utf-8"))' "$tmp/out"; then
	ok "... is valid JSON"
else
	not_ok "... is valid JSON"; sed 's/^/# /' "$tmp/out"
fi
"$rally" rm "$bad"
mkdir -p "$tmp/used" && : >"$tmp/used/trace.1.json"
check "rally stats --keep of a directory with traces in it" 1 "$rally" stats --keep "$tmp/used" -- true
says "... says why" "holds traces" "$tmp/err"
check "rally stats --keep DIR with a % in it" 0 "$rally" stats --json "$tmp/p.json" --keep "$tmp/k%pd" -- "$build/tests/trace_prog" main 5
if python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["phases"] >= 5' "$tmp/p.json"; then
	ok "... traces into it"
else
	not_ok "... traces into it"; sed 's/^/# /' "$tmp/err"
fi
# Review round 2: a private barrier's fork()ed copy is another barrier
# (the phases were merged); --keep of a relative DIR with a program that
# changes directory (traced nowhere) and of a file; a capped trace said
# to be partial; the share of phases a caller was last in.
check "rally stats of a private barrier and its fork()ed copy" 0 "$rally" stats --json "$tmp/f.json" -- "$build/tests/trace_prog" forkcopy 30
if python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["phases"] == 60 and d["events"] == 120, d
assert d["skew_max_ns"] < 10**9, d' "$tmp/f.json"; then
	ok "... two barriers: 60 phases"
else
	not_ok "... two barriers: 60 phases"; sed 's/^/# /' "$tmp/f.json"
fi
mkdir -p "$tmp/cwd/sub"
check "rally stats --keep of a relative DIR, the program changing directory" 0 \
	sh -c "cd '$tmp/cwd' && '$rally' stats --json '$tmp/r.json' --keep rel -- sh -c 'cd sub && exec \"\$0\" main 5' '$build/tests/trace_prog'"
if python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["phases"] >= 5' "$tmp/r.json" && [ -n "$(ls "$tmp/cwd/rel")" ]; then
	ok "... traced into DIR"
else
	not_ok "... traced into DIR"; sed 's/^/# /' "$tmp/err"
fi
: >"$tmp/afile"
check "rally stats --keep of a file" 1 "$rally" stats --keep "$tmp/afile" -- true
says "... not a directory" "not a directory" "$tmp/err"
check "rally stats of a capped trace" 0 env RALLY_TRACE_MAX=50 "$rally" stats -- "$build/tests/trace_prog" main 30
says "... says the summary is partial" "PARTIAL: .* waits were not written" "$tmp/err"
for _ in 1 2 3 4; do "$rally" wait "$id-pc" 1 --stats; done
"$rally" abort "$id-pc"
check "status after 4 phases and an abort" 0 "$rally" status "$id-pc"
says "... each of 4 processes last in 1 of the 4 phases that had one" "1 times (25%)" "$tmp/out"
"$rally" rm "$id-pc"
# Review round 3: a rally wait that ends inside its arrival is traced.
"$rally" wait "$id-tb" 2 --timeout 0.05 2>/dev/null
check "a traced rally wait of a broken barrier" 2 env RALLY_TRACE="$tmp/tb.json" "$rally" wait "$id-tb" 2 --timeout 0.05
says "... is in the trace, broken" '"outcome":"broken"' "$tmp/tb.json"
"$rally" rm "$id-tb"
mkdir -p "$tmp/td"
TMPDIR="$tmp/td" timeout 1 "$rally" stats -- sh -c 'sleep 3; touch "$0"' "$tmp/orphan" 2>/dev/null
sleep 3
if [ -z "$(ls -A "$tmp/td")" ]; then ok "rally stats ended by SIGTERM removes its directory"; else not_ok "rally stats ended by SIGTERM removes its directory"; ls "$tmp/td" | sed 's/^/# /'; fi
if [ ! -e "$tmp/orphan" ]; then ok "... and its program ends too"; else not_ok "... and its program ends too"; fi

# rally stats: the program runs traced; the summary names its threads and
# the straggler; its exit status is passed on.
prog="$build/tests/trace_prog"
check "rally stats runs the program" 0 "$rally" stats --json "$tmp/s.json" --keep "$tmp/traces" -- "$prog" main 40
says "rally stats leaves the program's stdout alone" '"phases": 40' "$tmp/out"
says "rally stats summarises on stderr" "rally stats: .* waits by" "$tmp/err"
says "... with the skew" "arrival skew per phase" "$tmp/err"
says "... and the stragglers" "stragglers (last to arrive)" "$tmp/err"
if python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["phases"] >= 40 and d["events"] == 4 * 40 + 5 + 5 + 1 + 3, d
assert d["threads"] == 7 and sum(c["last"] for c in d["callers"]) == d["phases"], d
assert 0 <= d["wait_fraction"] <= 1 and d["skew_p50_ns"] <= d["skew_max_ns"], d' "$tmp/s.json"; then
	ok "rally stats --json: every wait and phase counted"
else
	not_ok "rally stats --json: every wait and phase counted"; sed 's/^/# /' "$tmp/s.json"
fi
n_traces=$(ls "$tmp/traces" | wc -l)
if [ "$n_traces" -eq 2 ]; then ok "--keep keeps a trace per process"; else not_ok "--keep keeps a trace per process ($n_traces)"; fi
# The README's worked example: rally-heat's grid is the same however it is
# split; with --stats it reports its barrier's counts; under rally stats
# every step is a phase of its 2 threads.
heat="$build/bench/rally-heat"
sums=""
for a in "--threads 1" "--threads 2" "--threads 3 --imbalanced" "--threads 2 --imbalanced --stats"; do
	# shellcheck disable=SC2086
	"$heat" --size 64 --steps 50 $a >"$tmp/heat" 2>&1 || not_ok "rally-heat $a"
	sums="$sums $(sed -n 's/.*checksum //p' "$tmp/heat")"
done
if [ "$(echo $sums | tr ' ' '\n' | sort -u | wc -l)" -eq 1 ]; then ok "rally-heat: one grid whatever the split"; else not_ok "rally-heat: one grid whatever the split ($sums)"; fi
says "rally-heat --stats reports the barrier's phases" "barrier: 50 phases" "$tmp/heat"
says "... and who was last most often" "last to arrive most often: thread [01]" "$tmp/heat"
check "rally-heat with a bad option" 1 "$heat" --threads 0
check "rally stats of rally-heat" 0 "$rally" stats --json "$tmp/h.json" -- "$heat" --size 64 --steps 50 --threads 2 --imbalanced
if python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["phases"] == 50 and d["threads"] == 2 and d["events"] == 100, d' "$tmp/h.json"; then
	ok "rally stats of rally-heat: 50 phases of 2 threads"
else
	not_ok "rally stats of rally-heat: 50 phases of 2 threads"; sed 's/^/# /' "$tmp/h.json"
fi
check "rally stats passes the exit status on" 3 "$rally" stats -- sh -c 'exit 3'
says "... and says when no wait was seen" "no barrier waits seen" "$tmp/err"
check "rally stats without a program" 1 "$rally" stats
check "rally stats --top 0" 1 "$rally" stats --top 0 -- true
check "rally stats of a missing program" 127 "$rally" stats -- "$tmp/no-such-program"
check "rally help stats" 0 "$rally" help stats
says "rally help stats documents --keep" "keep DIR" "$tmp/out"
check "rally --help" 0 "$rally" --help
says "rally --help lists stats" "stats \[OPTIONS\] -- PROGRAM" "$tmp/out"

# Exit statuses as the help gives them: 1 for an error (bad arguments,
# permission, not a rally object), 2 for timed out, broken or missing.
for c in "wait a/b 2" "abort a/b" "status a/b" "rm a/b" "event set a/b" "wait / 2"; do
	# shellcheck disable=SC2086
	check "bad name: rally $c exits 1" 1 "$rally" $c
	says "bad name: rally $c says so" "bad name" "$tmp/err"
done
check "status of nothing" 2 "$rally" status "$id-none"

# --timeout: any number of seconds >= 0; huge means none; tiny is not 0.
for t in -1 nan "" 1s; do
	check "--timeout '$t' is refused" 1 "$rally" wait "$id-t" 2 --timeout "$t"
	says "--timeout '$t': the message says why" "needs seconds" "$tmp/err"
done
"$rally" wait "$id-huge" 2 --timeout 1e300 2>"$tmp/hugeerr" &
w=$!
until_waiting "$id-huge" 1
check "--timeout inf waits" 0 "$rally" wait "$id-huge" 2 --timeout inf
wait $w
st=$?
if [ $st -eq 0 ]; then ok "--timeout 1e300 means no timeout"; else
	not_ok "--timeout 1e300: exit $st"; sed 's/^/# /' "$tmp/hugeerr"; fi
check "--timeout 1e-10 is a (tiny) timeout" 2 "$rally" wait "$id-tiny" 2 --timeout 1e-10
says "--timeout 1e-10 expires" "timeout expired" "$tmp/err"

# Not a rally object (its bytes zeroed past the 64-byte shm header): every
# call fails, and the commands say so.
check "a barrier of one" 0 "$rally" wait "$id-z" 1
dd if=/dev/zero of="/dev/shm/rally.b.$id-z" bs=64 seek=1 count=16 conv=notrunc 2>/dev/null
check "abort of a garbage barrier fails" 1 "$rally" abort "$id-z"
says "abort says why" "abort $id-z: invalid argument" "$tmp/err"
check "status of a garbage barrier fails" 1 "$rally" status "$id-z"
check "event set" 0 "$rally" event set "$id-ze"
dd if=/dev/zero of="/dev/shm/rally.e.$id-ze" bs=64 seek=1 count=1 conv=notrunc 2>/dev/null
check "event clear of a garbage event fails" 1 "$rally" event clear "$id-ze"
says "the error is labelled event clear" "event clear $id-ze: invalid" "$tmp/err"
check "event set of a garbage event fails" 1 "$rally" event set "$id-ze"
says "the error is labelled event set" "event set $id-ze: invalid" "$tmp/err"

# Permissions: another user's objects (mode 0600). Root bypasses the
# permissions, so the caller is nobody (as root), else the owner itself
# with mode 000.
check "a barrier to protect" 0 "$rally" wait "$id-perm" 1
check "an event to protect" 0 "$rally" event set "$id-perm"
if [ "$(id -u)" -eq 0 ]; then
	chmod 0600 "/dev/shm/rally.b.$id-perm" "/dev/shm/rally.e.$id-perm"
	chmod 0755 "$tmp" # nobody runs the rally installed in it
	other="setpriv --reuid=nobody --regid=nogroup --clear-groups"
else
	chmod 0000 "/dev/shm/rally.b.$id-perm" "/dev/shm/rally.e.$id-perm"
	other=""
fi
for c in "wait $id-perm 1" "abort $id-perm" "status $id-perm" "event set $id-perm" "event wait $id-perm --timeout 0"; do
	# shellcheck disable=SC2086
	check "permission denied: rally $c exits 1" 1 $other "$rally" $c
	says "permission denied: rally $c says so" "permission denied" "$tmp/err"
done
if [ -n "$other" ]; then
	# shellcheck disable=SC2086
	check "rm of another user's objects fails" 1 $other "$rally" rm "$id-perm"
	says "rm says why, not that nothing is there" "not permitted\|permission denied" "$tmp/err"
	if [ -e "/dev/shm/rally.b.$id-perm" ]; then ok "the barrier is still there"
	else not_ok "the barrier is gone"; fi
else
	ok "# SKIP rm of another user's objects: not root"
fi

for x in go lone ab ev rb t huge tiny z ze perm; do "$rally" rm "$id-$x" >/dev/null 2>&1; done
check "rm of nothing" 2 "$rally" rm "$id-go"

# rally run: the installed librally-pthread.so preloaded, RALLY_SPIN set;
# what no preload reaches said; errors as env(1) has them.
shim=$(find "$tmp/root" -name 'librally-pthread.so' | head -n 1)
check "rally run runs the program" 0 "$rally" run -- sh -c 'echo "$LD_PRELOAD|$RALLY_SPIN"'
if [ -n "$shim" ] && grep -qx "$(readlink -f "$shim")|" "$tmp/out"; then
	ok "rally run preloads the installed librally-pthread.so"
else not_ok "rally run preloads the installed librally-pthread.so (got: $(cat "$tmp/out"), installed: $shim)"; fi
check "rally run --spin never" 0 "$rally" run --spin never sh -c 'echo "$RALLY_SPIN"'
says "rally run --spin sets RALLY_SPIN" "^never$" "$tmp/out"
check "rally run passes the exit status on" 3 "$rally" run -- sh -c 'exit 3'
check "rally run --spin garbage exits 1" 1 "$rally" run --spin lots -- true
says "rally run --spin garbage says so" "not auto, never or a number" "$tmp/err"
check "rally run with no program exits 1" 1 "$rally" run --
check "rally run of a missing program exits 127" 127 "$rally" run -- "$tmp/no-such-program"
printf 'int main(void) { return 0; }\n' >"$tmp/static.c"
if cc -static -o "$tmp/static" "$tmp/static.c" 2>/dev/null; then
	check "rally run of a static program runs it" 0 "$rally" run "$tmp/static"
	says "rally run says a static program cannot be reached" "statically linked" "$tmp/err"
else
	ok "# SKIP rally run of a static program: no static C library"
fi
mkdir -p "$tmp/p1/hello-rally" "$tmp/p2"
printf '#!/bin/sh\nexit 3\n' >"$tmp/p2/hello-rally"
chmod +x "$tmp/p2/hello-rally"
check "rally run goes past a directory on PATH, as execvp" 3 \
	env PATH="$tmp/p1:$tmp/p2:$PATH" "$rally" run hello-rally
mkdir -p "$tmp/a b"
[ -n "$shim" ] && cp "$shim" "$tmp/a b/librally-pthread.so"
check "rally run refuses a library path LD_PRELOAD cannot carry" 1 \
	env RALLY_PTHREAD_LIB="$tmp/a b/librally-pthread.so" "$rally" run true
says "rally run says why" "space or a colon" "$tmp/err"
check "rally run keeps LD_PRELOAD's entries first" 0 \
	env LD_PRELOAD=libm.so.6 "$rally" run sh -c 'echo "$LD_PRELOAD"'
says "rally run adds the shim after them" "^libm.so.6:.*librally-pthread.so$" "$tmp/out"
printf 'exit 4\n' >"$tmp/noshebang"
chmod +x "$tmp/noshebang"
check "rally run runs a script without #! (/bin/sh, as execvp)" 4 "$rally" run "$tmp/noshebang"
mkdir -p "$tmp/p3"
printf '#!/bin/sh\nexit 0\n' >"$tmp/p3/not-exec-rally"
check "rally run of a file on PATH that is not executable exits 126, as env" 126 \
	env PATH="$tmp/p3" "$rally" run not-exec-rally
check "rally run with an empty PATH looks in the current directory, as execvp" 4 \
	sh -c "cd '$tmp' && PATH= '$rally' run noshebang"
check "rally run with a longer LD_PRELOAD entry that holds the shim's path" 0 \
	env LD_PRELOAD="/nonexistent$shim" "$rally" run sh -c 'echo "$LD_PRELOAD"'
says "rally run still adds the shim itself" ":$(readlink -f "$shim")\$" "$tmp/out"
printf 'int main(void) { return 0; }\n' >"$tmp/static2.c"
if cc -static -o "$tmp/static-here" "$tmp/static2.c" 2>/dev/null; then
	for p in "" "/nonexistent:"; do
		check "rally run with PATH='$p' finds ./static-here, as execvp" 0 \
			sh -c "cd '$tmp' && PATH='$p' '$rally' run static-here"
		says "... and says it is statically linked" "statically linked" "$tmp/err"
	done
fi
check "rally help run" 0 "$rally" help run
says "rally help run documents --spin" "spin auto|never|N" "$tmp/out"

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
