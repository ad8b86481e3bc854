#!/bin/sh
# pthread_programs.sh SHIM KERNEL — programs that use pthread barriers, run
# as they are and with librally-pthread.so preloaded: the same output, the
# shim in effect (RALLY_PTHREAD_VERBOSE names the barriers it took), and
# the times. TAP out; exit 77 (skipped) if none of the real programs is
# installed (tools/test.sh installs them: rt-tests, mesa-utils, xvfb).
#   - rally-pthread-kernel (bench/pthread_kernel.c, ours): a Jacobi solver,
#     3 barriers a step, at 2, 4 and 8 threads: the same checksum line;
#   - pi_stress (Debian's rt-tests, unmodified): 3 SCHED_FIFO threads of
#     an inversion group meet at 5 barriers per inversion: the same count
#     of inversions performed (one group: with more, the count at the end
#     depends on timing, also with the C library's barrier);
#   - glxgears under Xvfb (Debian's mesa-utils): Mesa's llvmpipe
#     rasterizer threads meet at a pthread barrier twice a frame: frames
#     drawn both ways.
set -u
shim=$1
kernel=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }
ms() { date +%s%3N; }

# both NAME FILTER COMMAND...: runs COMMAND plain and preloaded; compares
# their stdout through FILTER (a sed script: what must be the same), and
# checks the shim named a barrier of its own.
both() {
	name=$1 filter=$2
	shift 2
	t0=$(ms)
	"$@" >"$tmp/plain" 2>"$tmp/plain.err"
	rc_plain=$?
	t1=$(ms)
	LD_PRELOAD=$shim RALLY_PTHREAD_VERBOSE=1 "$@" >"$tmp/shim" \
		2>"$tmp/shim.err"
	rc_shim=$?
	t2=$(ms)
	sed -n "$filter" "$tmp/plain" >"$tmp/plain.cmp"
	sed -n "$filter" "$tmp/shim" >"$tmp/shim.cmp"
	if [ "$rc_plain" -ne "$rc_shim" ]; then
		not_ok "$name: exit $rc_plain plain, $rc_shim with the shim"
		sed 's/^/# plain: /' "$tmp/plain.err" | head -n 5
		sed 's/^/# shim: /' "$tmp/shim.err" | head -n 5
	elif ! [ -s "$tmp/plain.cmp" ] || ! cmp -s "$tmp/plain.cmp" "$tmp/shim.cmp"; then
		not_ok "$name: the output differs (or is empty)"
		sed 's/^/# plain: /' "$tmp/plain.cmp" | head -n 5
		sed 's/^/# shim: /' "$tmp/shim.cmp" | head -n 5
	else
		ok "$name: the same output ($(head -n 1 "$tmp/plain.cmp"))"
	fi
	if grep -q "librally-pthread: barrier .*: rally's" "$tmp/shim.err"; then
		ok "$name: the shim took $(grep -c ": rally's" "$tmp/shim.err") barrier(s)"
	else
		not_ok "$name: the shim took no barrier"
		sed 's/^/# /' "$tmp/shim.err" | head -n 5
	fi
	echo "# $name: $((t1 - t0)) ms plain, $((t2 - t1)) ms with the shim"
}

for t in 2 4 8; do
	both "kernel, $t threads" '/^checksum/p' \
		"$kernel" --threads "$t" --cells 20000 --steps 2000
done

real=0
if command -v pi_stress >/dev/null 2>&1; then
	if pi_stress -i 10 -g 1 -q >/dev/null 2>&1; then
		real=$((real + 1))
		both "pi_stress, 1 group" '/^Total inversion/p' \
			pi_stress -i 2000 -g 1 -q
	else
		skip "pi_stress cannot run here (SCHED_FIFO refused?)"
	fi
else
	skip "pi_stress not installed (Debian: rt-tests)"
fi

if command -v glxgears >/dev/null 2>&1 && command -v xvfb-run >/dev/null 2>&1; then
	real=$((real + 1))
	# glxgears prints its frame rate every 5 s and never ends: 7 s, then
	# SIGTERM (exit 124 from timeout, both ways). vblank_mode=0: no sync.
	for threads in 2; do # (the benchmark runs 2, 4 and 8)
		both "glxgears, llvmpipe $threads threads" \
			's/^[0-9]* frames in 5.0 seconds = .*/frames in 5.0 seconds/p' \
			env LP_NUM_THREADS="$threads" vblank_mode=0 \
			xvfb-run -a -s "-screen 0 640x480x24" timeout 7 glxgears
	done
else
	skip "glxgears or xvfb-run not installed (Debian: mesa-utils, xvfb)"
fi

echo "1..$n"
[ "$failed" -eq 0 ] || exit 1
[ "$real" -gt 0 ] || exit 77
exit 0
