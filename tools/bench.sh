#!/bin/sh
# tools/bench.sh — the main job: rally against every peer, side by side.
#
# On Debian 12 as root it first installs what is missing. It builds rally in
# release mode, runs rally-bench (threads 1, 2, C, 2C, 4C, 8C, 16C; 2 to 4C
# processes; events; the heat-diffusion stencil) with REPS repetitions
# (default 7) interleaved at random, printing a line as each benchmark
# starts, then prints the Markdown report (time per phase and each peer's
# ratio to rally; each target with its spread over the repetitions, marked
# held, missed, or within noise when the spread straddles it) and writes
# the plot. REPS defaults to 7: fewer cannot tell a target from the noise.
#
# Then bench/python_bench.py: rally.Barrier against threading.Barrier and
# multiprocessing.Barrier at 2, 4, 8 threads and processes.
#
# Then MPI (about a minute; skipped, saying why, without mpirun or
# rally-mpi-bench): rally-mpi against Open MPI's MPI_Barrier at 2, 4 and 8
# ranks (mpirun --oversubscribe, Open MPI's default binding), flat, with 2
# threads per rank and with fake nodes of 2 (RALLY_MPI_NODE_SIZE=2), beside
# the yield floor (a bare counter in shared memory whose waiters yield); the
# hybrid case, 2 ranks x 2 threads (--bind-to none), rally-mpi against a
# pthread barrier + MPI_Barrier + pthread barrier; and the CPU rank 0 burns
# while rank 1 arrives 1 s late. One mpirun per row, its peers in turns.
# MPI_REPS (default 9) sets the rounds of each row.
#
# Then the pthread drop-in (about 5 minutes; tools/pthread_bench.py):
# programs that call pthread_barrier_wait, run with the C library's barrier
# and with librally-pthread.so preloaded, alternating, PTHREAD_REPS times
# each (default 5): our Jacobi kernel and Debian's glxgears (under Xvfb,
# Mesa's llvmpipe) at 2, 4 and 8 threads (not Debian's pi_stress, whose
# wall time its 0.75 s progress report paces: the tests run it); a program
# not installed is skipped, saying so. Then one more run each way with
# bench/barrier_probe.c preloaded: the share of the threads' time in
# barriers, which decides where the 1.3x target applies.
#
# Output: bench-results/results.json, python.json, mpi.json,
# pthread.jsonl, report.md, phase.png.
# Arguments are passed to rally-bench (e.g. --threads 2,8 --peers
# rally,pthread --quick); tools/bench.sh --help lists them.
set -eu
cd "$(dirname "$0")/.."

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	echo
	[ -x build-bench/bench/rally-bench ] &&
		build-bench/bench/rally-bench --help
	[ -x build-bench/bench/rally-mpi-bench ] && echo &&
		build-bench/bench/rally-mpi-bench --help
	exit 0
	;;
esac

. tools/deps.sh
# Debian's interpreter, where Debian's python3-* packages are (another
# python3 may come first in PATH).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
deps_install meson ninja-build pkg-config gcc g++ python3 \
	libbenchmark-dev libck-dev python3-matplotlib python3-dev
# MPI: librally-mpi and rally-mpi-bench. Not fatal: without them the MPI
# section is skipped.
(deps_install openmpi-bin libopenmpi-dev) ||
	echo "== MPI: Open MPI is not installed; the MPI section will be skipped"
# The drop-in's real programs. Not fatal either: each missing one is
# skipped, saying so.
(deps_install rt-tests mesa-utils xvfb) ||
	echo "== pthread: rt-tests, mesa-utils or xvfb not installed"

if [ -d build-bench ]; then
	meson setup --reconfigure build-bench --buildtype=release \
		-Dtests=false -Dpython="$py" >build-bench.setup.log 2>&1 ||
		{ cat build-bench.setup.log; exit 1; }
else
	meson setup build-bench --buildtype=release -Dtests=false \
		-Dpython="$py" >build-bench.setup.log 2>&1 ||
		{ cat build-bench.setup.log; exit 1; }
fi
echo "== building (release)"
ninja -C build-bench >/dev/null

out=bench-results
mkdir -p "$out"
echo "== running rally-bench, ${REPS:-7} repetitions (about 10 minutes)"
build-bench/bench/rally-bench \
	--benchmark_repetitions="${REPS:-7}" \
	--benchmark_enable_random_interleaving=true \
	--benchmark_display_aggregates_only=true \
	--benchmark_out="$out/results.json" --benchmark_out_format=json \
	"$@" >"$out/console.txt"
echo "== Python: rally.Barrier against threading and multiprocessing"
PYTHONPATH=build-bench/python "$py" bench/python_bench.py \
	--json "$out/python.json" | tee "$out/python.txt"
echo "== asyncio: rally.AsyncBarrier against run_in_executor and asyncio.Barrier"
PYTHONPATH=build-bench/python "$py" bench/aio_bench.py \
	--json "$out/aio.json" | tee "$out/aio.txt"

# ---- MPI: rally-mpi-bench under mpirun (bench/mpi_bench.c) ----------------
mpi_bench=build-bench/bench/rally-mpi-bench
rm -f "$out/mpi.json"
if ! command -v mpirun >/dev/null 2>&1; then
	echo "== MPI: skipped: no mpirun (Debian: apt-get install openmpi-bin libopenmpi-dev)"
elif [ ! -x "$mpi_bench" ]; then
	echo "== MPI: skipped: no $mpi_bench (Meson found no MPI, or librally-mpi is not built)"
else
	echo "== MPI: rally-mpi against MPI_Barrier, ${MPI_REPS:-9} rounds (about a minute)"
	mpi_tmp=$(mktemp -d)
	mpi_start=$(date +%s)
	mpi_failed=0
	mpirun_base=--oversubscribe
	if [ "$(id -u)" -eq 0 ]; then
		mpirun_base="$mpirun_base --allow-run-as-root"
	fi
	: >"$out/mpi.txt"
	# mpi_run NAME NP 'MPIRUN OPTIONS' RALLY-MPI-BENCH OPTIONS...
	mpi_run() {
		name=$1 np=$2 mpirun_opts=$3
		shift 3
		set -- --label "$name" --reps "${MPI_REPS:-9}" --watchdog 10 "$@" \
			--json "$mpi_tmp/$name.jsonl"
		echo "   $name: mpirun $mpirun_base -np $np $mpirun_opts $mpi_bench $*" |
			tee -a "$out/mpi.txt"
		# shellcheck disable=SC2086
		if timeout 120 mpirun $mpirun_base -np "$np" $mpirun_opts \
			"$mpi_bench" "$@" </dev/null >"$mpi_tmp/$name.log" 2>&1; then
			cat "$mpi_tmp/$name.log" >>"$out/mpi.txt"
		else
			rc=$?
			cat "$mpi_tmp/$name.log" >>"$out/mpi.txt"
			why=$(grep -m 1 'rally-mpi-bench:' "$mpi_tmp/$name.log" ||
				true)
			[ "$rc" = 124 ] && why="no end after 120 s${why:+; $why}"
			echo "$name (mpirun exit $rc): ${why:-see mpi.txt}" |
				tee "$mpi_tmp/$name.failed" | sed 's/^/   FAILED: /'
			mpi_failed=1
		fi
	}
	for np in 2 4 8; do
		mpi_run "ranks-$np" "$np" "" \
			--peers mpi_barrier,rally_flat,rally_threads,rally_node,yield_floor
	done
	mpi_run hybrid 2 "--bind-to none" --peers rally_threads,hand_threads \
		--reps "$((2 * ${MPI_REPS:-9}))"
	mpi_run late 2 "" --mode late --reps 5
	# mpi.json: every record, and the runs that failed (a row of one of
	# them holds the rounds measured before it failed).
	"$py" -c 'import glob, json, sys
def lines(f):
    for l in open(f):
        try:
            yield json.loads(l)
        except ValueError:  # a line cut short by a failed run
            pass
recs = [r for f in sorted(glob.glob(sys.argv[1] + "/*.jsonl"))
        for r in lines(f)]
failed = [open(f).read().strip()
          for f in sorted(glob.glob(sys.argv[1] + "/*.failed"))]
json.dump({"records": recs, "failed": failed}, sys.stdout, indent=1)' \
		"$mpi_tmp" >"$out/mpi.json" || rm -f "$out/mpi.json"
	rm -rf "$mpi_tmp"
	echo "== MPI: $(($(date +%s) - mpi_start)) s$([ "$mpi_failed" = 0 ] || echo ', with failures')"
fi
mpi_report=""
[ -s "$out/mpi.json" ] && mpi_report="--mpi $out/mpi.json"

# ---- the pthread drop-in: tools/pthread_bench.py ---------------------------
echo "== pthread drop-in: programs with and without librally-pthread.so, ${PTHREAD_REPS:-5} runs each way, and a probe run each way (about 5 minutes)"
rm -f "$out/pthread.jsonl" "$out/pthread.rc"
pthread_report=""
# (the exit status through the pipe to tee: in a file; `|| rc=$?`, as
# set -e would end the group before it wrote the file)
{
	rc=0
	"$py" tools/pthread_bench.py --reps "${PTHREAD_REPS:-5}" \
		--shim build-bench/lib/pthread/librally-pthread.so \
		--kernel build-bench/bench/rally-pthread-kernel \
		--probe build-bench/bench/rally-barrier-probe.so \
		--json "$out/pthread.jsonl" || rc=$?
	echo "$rc" >"$out/pthread.rc"
} 2>&1 | tee "$out/pthread.txt"
[ "$(cat "$out/pthread.rc" 2>/dev/null)" = 0 ] ||
	echo "== pthread: a run failed (bench-results/pthread.txt)"
[ -s "$out/pthread.jsonl" ] && pthread_report="--pthread $out/pthread.jsonl"

echo
# shellcheck disable=SC2086
"$py" tools/report.py "$out/results.json" --md "$out/report.md" \
	--png "$out/phase.png" --python "$out/python.json" $mpi_report \
	$pthread_report
echo
{
	echo
	echo "### asyncio: rally.AsyncBarrier (bench/aio_bench.py)"
	echo
	cat "$out/aio.txt"
} >>"$out/report.md"
echo "report: $out/report.md   plot: $out/phase.png   raw: $out/results.json"
