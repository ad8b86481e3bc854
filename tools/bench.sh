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
# Output: bench-results/results.json, python.json, report.md, phase.png.
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
echo
"$py" tools/report.py "$out/results.json" --md "$out/report.md" \
	--png "$out/phase.png" --python "$out/python.json"
echo
echo "report: $out/report.md   plot: $out/phase.png   raw: $out/results.json"
