#!/bin/sh
# barrier_probe_test.sh PROBE SHIM PROGRAM SLOW_RELEASE — bench/barrier_probe.c,
# which decides where the drop-in benchmark's 1.3x target applies,
# measures what it says, on programs of known shape
# (tests/probe_imbalance.c): one of 2 threads sleeps 20 ms before each
# wait — about half the threads' time in the barrier, almost none of it
# after the last arrival — with the C library's barrier and with the shim
# behind the probe; a barrier whose release takes 5 ms (SLOW_RELEASE, after
# the probe) — that time after the last arrival; phases of a barrier's
# count, not of the threads; a barrier initialised again with another
# count; a wait still in progress at exit; a fork()ed child that waits; a library
# constructor's wait before the probe's constructor; a program ended by a
# signal (RALLY_PROBE_SECONDS: recording stops, the line is written). TAP.
set -u
probe=$1 shim=$2 prog=$3 slow=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; }

# expect NAME FILE CONDITION WHAT: CONDITION, an awk expression over the
# fields of the probe's one line in FILE (threads, waits, phases, ...; in_b
# and after: in_barrier_s and after_last_s over span_s).
expect() {
	if [ "$(grep -c '^probe ' "$2")" != 1 ]; then
		not_ok "$1: one line from the probe ($(grep -c '^probe ' "$2"))"
		return
	fi
	if grep '^probe ' "$2" | awk '{ for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
		threads = v["threads"]; waits = v["waits"]; phases = v["phases"]
		unassigned = v["unassigned"]; untracked = v["untracked"]
		in_progress = v["in_progress"]; in_s = v["in_barrier_s"]
		span = v["span_s"]; in_b = span > 0 ? in_s / span : -1
		after = span > 0 ? v["after_last_s"] / span : -1
		exit !('"$3"') }'; then
		ok "$1: $4"
	else
		not_ok "$1: $4 ($(grep '^probe ' "$2"))"
	fi
}

LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/glibc "$prog" 40 20 >/dev/null
sane='threads == 2 && waits == 80 && phases == 40 && unassigned == 0 && untracked == 0'
expect "imbalance, glibc" "$tmp/glibc" "$sane" "every wait in its phase"
expect "imbalance, glibc" "$tmp/glibc" 'in_b > 0.35 && in_b < 0.65' \
	"about half the time in the barrier"
expect "imbalance, glibc" "$tmp/glibc" 'after < 0.1 * in_b' \
	"almost none of it after the last arrival"

LD_PRELOAD=$probe:$shim RALLY_PTHREAD_VERBOSE=1 RALLY_PROBE_OUT=$tmp/shim \
	"$prog" 40 20 >/dev/null 2>"$tmp/shim.err"
if grep -q 'librally-pthread: barrier' "$tmp/shim.err"; then
	ok "the shim took the barrier behind the probe"
else
	not_ok "the shim took the barrier behind the probe"
fi
expect "imbalance, shim" "$tmp/shim" "$sane" "every wait in its phase"
expect "imbalance, shim" "$tmp/shim" \
	'in_b > 0.35 && in_b < 0.65 && after < 0.1 * in_b' \
	"about half the time in the barrier, almost none after the last arrival"

# 5 ms after every release, 20 ms of imbalance: about 5 of each 25 ms
LD_PRELOAD=$probe:$slow RALLY_PROBE_OUT=$tmp/slow "$prog" 20 20 >/dev/null
expect "a slow release" "$tmp/slow" \
	'phases == 20 && after > 0.12 && after < 0.3 && after < in_b' \
	"the release's 5 ms a wait after the last arrival (a fifth of the time)"

LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/ones "$prog" --ones 20 >/dev/null
expect "2 threads, a barrier of 1" "$tmp/ones" \
	'threads == 2 && waits == 40 && phases == 40 && unassigned == 0' \
	"phases of the barrier's count"

LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/reinit "$prog" --reinit 20 >/dev/null
expect "initialised again, count 2 then 1" "$tmp/reinit" \
	'waits == 60 && phases == 40 && unassigned == 0 && untracked == 0' \
	"each init's phases of its own count"

LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/exit "$prog" --exit-waiting 200 \
	>/dev/null
expect "exit while a thread waits" "$tmp/exit" \
	'waits == 0 && in_progress == 1 && in_s > 0.15 && in_s < 5 && span >= in_s && span < 1.5 * in_s' \
	"the wait in progress counted up to the exit, in the span too"

LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/stopped RALLY_PROBE_SECONDS=0.3 \
	"$prog" --exit-waiting 1500 >/dev/null
expect "exit while a thread waits, recording stopped at 0.3 s" \
	"$tmp/stopped" 'in_progress == 1 && in_s > 0.2 && in_s < 0.6' \
	"the wait in progress counted up to the stop, not the exit"

LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/fork PROBE_CHILD_OUT=$tmp/child \
	"$prog" --fork 10 >/dev/null
expect "a fork()ed child" "$tmp/fork" \
	'waits == 20 && phases == 10' "the parent's waits in the parent's line"
expect "a fork()ed child" "$tmp/child" \
	'threads == 1 && waits == 3 && phases == 3' "its own waits only in its line"

if PROBE_CTOR=1 LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/ctor "$prog" 10 0 \
	>/dev/null; then
	ok "a library constructor waits before the probe's: the program runs"
else
	not_ok "a library constructor waits before the probe's: the program runs (exit $?)"
fi
expect "a library constructor's wait" "$tmp/ctor" \
	'waits == 21 && phases == 11' "counted with its barrier of 1"

# The line is written by a wait whose thread has a cancel pending: the
# probe's open and write must not cancel it there (holding its lock)
if LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/cancel RALLY_PROBE_SECONDS=0.1 \
	timeout 10 "$prog" --cancel >"$tmp/cancel.out" &&
	grep -q 'with a cancel pending' "$tmp/cancel.out"; then
	ok "a wait with a cancel pending writes the line and returns"
else
	not_ok "a wait with a cancel pending writes the line and returns"
fi

# 200 phases would take 4 s: stopped at 0.5 s, written at 1.5 s, killed at 2.5
LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/killed RALLY_PROBE_SECONDS=0.5 \
	timeout 2.5 "$prog" 200 20 >/dev/null
rc=$?
[ "$rc" = 124 ] && ok "killed by timeout" || not_ok "killed by timeout (exit $rc)"
expect "ended by a signal" "$tmp/killed" \
	'threads == 2 && phases >= 5 && phases <= 30 && unassigned == 0' \
	"the phases of the first 0.5 s only"
expect "ended by a signal" "$tmp/killed" \
	'in_b > 0.35 && in_b < 0.65 && after < 0.1 * in_b' \
	"about half the time in the barrier, almost none after the last arrival"

echo "1..$n"
[ "$bad" = 0 ]
