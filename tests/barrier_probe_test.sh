#!/bin/sh
# barrier_probe_test.sh PROBE SHIM IMBALANCE — bench/barrier_probe.c, which
# decides where the drop-in benchmark's 1.3x target applies, measures what
# it says: a program of known imbalance (tests/probe_imbalance.c: one of 2
# threads sleeps 20 ms before each wait) spends about half its threads'
# time in the barrier and almost none of it after the last arrival — with
# the C library's barrier and with the shim after the probe; and a program
# ended by a signal still gets its line (RALLY_PROBE_SECONDS). TAP.
set -u
probe=$1 shim=$2 prog=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; }

# check NAME FILE PHASES: the probe's line in FILE
check() {
	line=$(grep '^probe ' "$2")
	echo "# $1: $line"
	if [ "$(grep -c '^probe ' "$2")" != 1 ]; then
		not_ok "$1: the probe wrote one line (a process that never waited, none)"
		return
	fi
	echo "$line" | awk -v phases="$3" -v name="$1" '
	function say(c, what) { print (c ? "ok" : "not ok") " - " name ": " what }
	{ for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
	  in_b = v["in_barrier_s"] / v["span_s"]; after = v["after_last_s"] / v["span_s"]
	  say(v["threads"] == 2, "2 threads")
	  if (phases) say(v["phases"] == phases && v["waits"] == 2 * phases && v["unassigned"] == 0, "every wait in its phase (" phases ")")
	  else say(v["phases"] >= 5, "the phases before the stop (" v["phases"] ")")
	  say(in_b > 0.35 && in_b < 0.65, "about half the time in the barrier (" in_b ")")
	  say(after < 0.1 * in_b, "almost none of it after the last arrival (" after ")") }' \
		>"$tmp/lines"
	while read -r verdict rest; do
		case $verdict in
		ok) ok "${rest#- }" ;;
		*) not_ok "${rest#* - }" ;;
		esac
	done <"$tmp/lines"
}

LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/glibc "$prog" 40 20 >/dev/null
check "the C library's barrier" "$tmp/glibc" 40

LD_PRELOAD=$probe:$shim RALLY_PTHREAD_VERBOSE=1 RALLY_PROBE_OUT=$tmp/shim \
	"$prog" 40 20 >/dev/null 2>"$tmp/shim.err"
if grep -q 'librally-pthread: barrier' "$tmp/shim.err"; then
	ok "the shim took the barrier behind the probe"
else
	not_ok "the shim took the barrier behind the probe"
fi
check "the shim" "$tmp/shim" 40

# 200 phases would take 4 s: stopped at 0.5 s, written at 1.5 s, killed at 2.5
LD_PRELOAD=$probe RALLY_PROBE_OUT=$tmp/killed RALLY_PROBE_SECONDS=0.5 \
	timeout 2.5 "$prog" 200 20 >/dev/null
rc=$?
[ "$rc" = 124 ] && ok "killed by timeout" || not_ok "killed by timeout (exit $rc)"
check "a program ended by a signal" "$tmp/killed" 0

echo "1..$n"
[ "$bad" = 0 ]
