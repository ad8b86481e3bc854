#!/bin/sh
# tools/test.sh — every test of rally, as CI runs it.
#
# On Debian 12 as root it first installs what is missing. Then it builds
# rally three ways and runs Meson's suites:
#   plain        every suite (unit with hardening, stress with chaos,
#                races, fuzz and fuzz_schedule, model, python, cli,
#                install, mpi, pthread: the LD_PRELOAD shim against glibc,
#                and real programs — Debian's rt-tests pi_stress and
#                mesa-utils glxgears under xvfb — with and without it)
#   asan-ubsan   unit, stress, races and python under AddressSanitizer +
#                UBSan (the Python suites with the sanitizers preloaded)
#   tsan         the stress programs (stress, chaos) and the plain C unit
#                tests under ThreadSanitizer (Criterion cannot run there)
#   mpich        librally-mpi built against MPICH (installed beside Open
#                MPI; Debian's mpiexec.mpich): a sample of the mpi suite
#                (all of it passes too, in 1.5 min: meson test -C
#                build-ci/mpich --suite mpi)
# It ends with one line "N passed, N failed, N skipped" counted from this
# run's Meson test logs, after a line for each failure and each skip, and
# exits non-zero if anything failed. A failure is: a test that failed; a
# setup, build or `meson test` that failed (nothing of that build is
# counted as passed); a test that was skipped or did not run at all (a
# missing dependency), unless the README's "Tests allowed to skip" line
# names it.
#
# Environment: STRESS_SECONDS (default 20) for each stress run.
set -eu
cd "$(dirname "$0")/.."

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "usage: tools/test.sh [--help]" >&2
	exit 1
	;;
esac

# shellcheck source=tools/deps.sh
. tools/deps.sh
# Debian's interpreter, where Debian's python3-* packages are (another
# python3 may come first in PATH).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
deps_install meson ninja-build pkg-config gcc g++ python3 libcriterion-dev \
	clang libclang-rt-14-dev spin python3-dev libck-dev \
	openmpi-bin libopenmpi-dev mpich libmpich-dev \
	rt-tests mesa-utils xvfb strace
# CPython's own test.lock_tests, for the Python package's suite.
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
deps_install "libpython$pyver-testsuite"

stress=${STRESS_SECONDS:-20}
mkdir -p build-ci
# Each build's last step and its exit status ("DIR STEP STATUS"), for the
# tally: a build that stopped before its tests must count as a failure.
steps=build-ci/steps
: >"$steps"

# Runs every step of one build. Not under `set -e`: it is called in an
# `||` list, where the shell ignores -e, so each step is checked here.
run_build() { # dir meson-options...
	dir=$1
	shift
	# A test log from an earlier run must not be counted as this one's.
	rm -f "$dir"/meson-logs/testlog*.json
	echo "== $dir: meson setup $*"
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		set -- --reconfigure "$dir" "$@"
	else
		mkdir -p "$dir"
		set -- "$dir" "$@"
	fi
	if ! meson setup "$@" -Dstress_seconds="$stress" >"$dir.setup.log" 2>&1; then
		tail -n 40 "$dir.setup.log"
		echo "$dir setup 1" >>"$steps"
		return 1
	fi
	echo "== $dir: ninja ${build_only:-}"
	# shellcheck disable=SC2086 # target names, one word each
	if ! ninja -C "$dir" ${build_only:-} >"$dir.build.log" 2>&1; then
		tail -n 40 "$dir.build.log"
		echo "$dir build 1" >>"$steps"
		return 1
	fi
	echo "== $dir: meson test"
	rc=0
	# shellcheck disable=SC2086 # test names, one word each
	meson test -C "$dir" --print-errorlogs ${build_only:+--no-rebuild} \
		${test_only:-} || rc=$?
	echo "$dir test $rc" >>"$steps"
	[ "$rc" -eq 0 ]
}

status=0
run_build build-ci/plain -Dbenchmarks=disabled -Dpython="$py" || status=1
# The MPI suite runs in the plain build: Open MPI itself is not clean
# under the sanitizers (its own leaks and races fill their reports).
run_build build-ci/asan-ubsan -Dbenchmarks=disabled -Dpython="$py" \
	-Db_sanitize=address,undefined -Db_lundef=false -Dmpi=disabled ||
	status=1
run_build build-ci/tsan -Dbenchmarks=disabled -Dmpi=disabled \
	-Db_sanitize=thread -Db_lundef=false || status=1
# MPICH: the MPI suite's sample below (the whole suite under Open MPI
# above), to keep the run within its time.
mpich_sample="correct-n1-t4-1node correct-n4-t2-ns2 correct-n8-t2-ns3
	correct-n3-t2-ns2 correct-n4-t4-ns3 correct-n8-t4-ns1 tight-n1-t2-wait
	mixed-n4-t4,1,2,3-ns2 rank-timeout-n3-ns2 rank-timeout-n4-1node
	ibarrier-timeout-n2-ns1 ibarrier-timeout-n2-1node badargs-n4-ns1
	badcomm-n2-1node funneled-n4-t2-ns2 single-n2-ns1 stencil-n4-t2
	reask-n2-t2 action-n1-t2 nested-n1-t1 spin-env-budget-n4-ns2-t1
	spin-env-mixed-n4-ns2-t1"
# (not spin-env-never-*: its member-CPU bound, 20 us a phase, was crossed
# once under MPICH, 37 us, on a fresh clone; it runs under Open MPI above)
# Only what the sample runs is built there.
test_only=$mpich_sample
build_only="tests/mpi/mpi_barrier_test tests/mpi/mpi_reentry_test
	tests/mpi/mpi_spin_env_test tests/mpi_stencil_example"
run_build build-ci/mpich -Dbenchmarks=disabled -Dpython_module=disabled \
	-Dmpi=enabled -Dmpi_impl=mpich || status=1
test_only= build_only=

"$py" - "$steps" README.md "$mpich_sample" <<'PY' || status=1
import json, re, sys

# The tests each build must run: one that is not registered (Meson leaves
# out a suite whose dependency it does not find: Criterion, spin, clang,
# Python's headers) has not passed.
unit = ["waitv_example", "cxx_header", "slot_races", "late_races",
        "bench_layout", "report", "trace", "pthread-glibc", "pthread-shim",
        "pthread-shim-never"]
criterion = ["barrier", "shared", "event", "named", "robust", "split",
             "stats", "hardening", "withdraw"]
python = ["python-lock_tests", "python-processes", "python-binding",
          "python-arrival", "python-stats", "python-ctrl_c_action",
          "python-aio_locks", "python-aio"]
stress = ["stress", "chaos", "stress_withdraw"]
# A sample of the MPI suite (tests/mpi/meson.build registers ~70): if
# MPI or mpirun went missing, these did not run.
mpi = ["correct-n1-t4-1node", "correct-n4-t2-ns2", "correct-n8-t2-ns3",
       "tight-n1-t2-wait", "mixed-n4-t4,1,2,3-ns2", "rank-timeout-n3-ns2",
       "ibarrier-timeout-n2-ns1", "badargs-n4-ns1", "badcomm-n2-1node",
       "funneled-n4-t2-ns2", "single-n2-ns1", "stencil-n4-t2",
       "reask-n2-t2", "action-n1-t2", "nested-n1-t1", "late-n2-ns1"]
expected = {
    "build-ci/plain": unit + criterion + python + stress + mpi
    + ["races", "model", "fuzz", "fuzz_schedule", "cli", "install",
       "pthread-programs", "barrier-probe"],
    "build-ci/asan-ubsan": unit + criterion + python + stress + ["races"],
    # TSan's own pthread_barrier_* interceptors: no shim tests there.
    "build-ci/tsan": [u for u in unit if not u.startswith("pthread-")]
    + stress,
    "build-ci/mpich": sys.argv[3].split(),
}

steps_file, readme = sys.argv[1:3]
last = {}
for line in open(steps_file):
    d, step, rc = line.split()
    last[d] = (step, int(rc))
# The README's bullet "- Tests allowed to skip:": the test names in
# backquotes in it, up to the next bullet or blank line.
allowed, bullet = set(), False
for line in open(readme):
    if line.startswith("- ") or not line.strip():
        bullet = line.startswith("- Tests allowed to skip:")
    if bullet:
        allowed.update(re.findall(r"`([\w-]+)`", line))

passed = failed = skipped = 0
def fail(d, why):
    global failed
    failed += 1
    print(f"FAILED: {d}: {why}")

for d, tests in expected.items():
    step, rc = last.get(d, ("setup", 1))
    if step != "test":
        fail(d, f"{step} failed: its tests did not run (see above)")
        continue
    # meson test exits with the number of failed tests (counted below
    # from the log); with no failed test in the log, it could not run them
    try:
        lines = open(d + "/meson-logs/testlog.json").read().splitlines()
    except OSError:
        fail(d, f"no test log (meson test exited {rc})")
        continue
    ran, failed_here = set(), failed
    for line in lines:
        t = json.loads(line)
        name = t["name"].split(" / ", 1)[-1]
        ran.add(name)
        if t["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif t["result"] == "SKIP":
            why = (t.get("stdout") or "").strip().splitlines()[-1:]
            why = f" ({why[0]})" if why else ""
            if name in allowed:
                skipped += 1
                print(f"SKIPPED: {d}: {name}{why}")
            else:
                fail(d, f"{name} skipped{why}, and the README does not "
                        "allow it to skip")
        else:
            fail(d, f"{name} ({t['result']})")
    for name in tests:
        if name not in ran:
            fail(d, f"{name} did not run (not built: a missing dependency?)")
    if rc != 0 and failed == failed_here:
        fail(d, f"meson test exited {rc}, but its log shows no failed "
                "test: it could not run them")

print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
exit $status
