#!/usr/bin/env python3
"""report_test.py — tools/report.py's verdicts on made-up results.

A target is held only when every pairing of the repetitions meets it and
so does the ratio of the medians; a repetition that failed (dropped) must
not let a ratio that misses pass for held (review round 3 of issue 13:
"rally / spin floor = 1.24 ... held"); with fewer than 3 repetitions of a
peer there is no verdict but "within noise". Prints TAP-free lines and
"N passed, N failed"; exits non-zero on a failure.
usage: report_test.py tools/report.py
"""
import json
import os
import subprocess
import sys
import tempfile

REPORT = (sys.argv[1] if len(sys.argv) > 1 else
          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "tools", "report.py"))
passed = failed = 0


def run(rally, ck, ck_errors=0):
    """The report's 2-thread floor line for these repetitions (ns)."""
    rows = []
    for peer, vals, errors in (("rally", rally, 0), ("ck_centralized", ck,
                                                      ck_errors)):
        name = f"phase/{peer}/real_time/threads:2"
        for i, v in enumerate(vals):
            rows.append({"name": name, "run_name": name,
                         "run_type": "iteration", "repetition_index": i,
                         "ns_per_phase": v, "futex": 0.0})
        for i in range(errors):
            rows.append({"name": name, "run_name": name,
                         "run_type": "iteration", "error_occurred": True,
                         "error_message": "wait failed"})
    with tempfile.NamedTemporaryFile("w", suffix=".json",
                                     delete=False) as f:
        json.dump({"context": {"num_cpus": 2}, "benchmarks": rows}, f)
    try:
        out = subprocess.run([sys.executable, REPORT, f.name], check=True,
                             capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return next(line for line in out.splitlines() if "spin floor" in line)


def expect(line, verdict, why):
    global passed, failed
    ok = line.endswith(": " + verdict)
    print(f"{'ok' if ok else 'FAILED'}: {why}: {line}")
    if ok:
        passed += 1
    else:
        failed += 1


expect(run([95, 96, 97, 98, 99, 100, 101], [100] * 7), "held",
       "rally 0.95-1.01x the floor in every pairing")
expect(run([130, 131, 132, 133, 134, 135, 136], [100] * 7), "missed",
       "rally 1.3x the floor in every pairing")
expect(run([95, 96, 97, 130, 131, 132, 133], [90, 90, 90, 120, 120, 120],
           ck_errors=1), "within noise",
       "6 of ck's repetitions against 7 of rally's: medians 1.24x")
expect(run([95, 96, 97, 130, 131, 132, 133], [105], ck_errors=6),
       "within noise", "one repetition of ck left")
expect(run([100, 101, 102, 103, 104, 105, 200], [100] * 7),
       "within noise", "one slow repetition straddles the bound")


# The MPI section (--mpi): rally-mpi-bench's records, as tools/bench.sh
# collects them ({"records": [...]}) or as its JSON lines.
def mpi_run(groups, late=None, lines=False):
    """The report's MPI target lines. groups: {ranks: {peer: [ns...]}};
    late: {peer: [cpu_frac...]}."""
    recs = [{"kind": "context", "run": "t", "ranks": 2, "cpus": 2}]
    for n, peers in groups.items():
        for peer, vals in peers.items():
            threads = 2 if "threads" in peer else 1
            recs += [{"kind": "phase", "run": f"ranks-{n}", "ranks": n,
                      "peer": peer, "threads": threads, "node_size": 0,
                      "rep": i, "phases": 1000, "ns_per_phase": v,
                      "cpu_ns_per_phase": 2 * v, "csw_per_phase": 0.0}
                     for i, v in enumerate(vals)]
    for peer, vals in (late or {}).items():
        recs += [{"kind": "late", "run": "late", "ranks": 2, "peer": peer,
                  "threads": 1, "node_size": 0, "rep": i,
                  "late_ns": 10 ** 9, "wait_ns": 10 ** 9,
                  "cpu_ns": f * 1e9, "cpu_frac": f, "release_ns": 1000,
                  "late_rank_cpu_ns": 0} for i, f in enumerate(vals)]
    with tempfile.NamedTemporaryFile("w", suffix=".json",
                                     delete=False) as f:
        if lines:
            f.write("".join(json.dumps(r) + "\n" for r in recs))
        else:
            json.dump({"records": recs}, f)
    try:
        out = subprocess.run([sys.executable, REPORT, "--mpi", f.name],
                             check=True, capture_output=True,
                             text=True).stdout
    finally:
        os.unlink(f.name)
    return [line for line in out.splitlines() if line.startswith("- ")
            and "MPI, " in line]


def mpi_line(lines, text):
    return next((line for line in lines if text in line), "(no line)")


m = [100, 101, 102, 103, 104]
out = mpi_run({2: {"mpi_barrier": m, "rally_flat": [105, 106, 107, 108,
                                                     109]},
               4: {"mpi_barrier": [1000] * 5,
                   "rally_flat": [300, 310, 320, 330, 340],
                   "rally_node2": [400] * 5},
               8: {"mpi_barrier": [1000] * 5,
                   "rally_flat": [500, 510, 520, 530, 540],
                   "rally_node2": [900, 950, 1000, 1050, 1100]}},
              late={"mpi_barrier": [0.99] * 5,
                    "rally_flat": [0.001, 0.002, 0.003, 0.004, 0.005],
                    "rally_node1": [0.01, 0.01, 0.01, 0.01, 0.03]})
expect(mpi_line(out, "2 ranks (2 CPUs)"), "held",
       "MPI: rally flat 1.05x MPI_Barrier at 2 ranks (target <= 1.2)")
expect(mpi_line(out, "4 ranks (2× CPUs)"), "held",
       "MPI: MPI_Barrier 3x rally flat at 4 ranks (target >= 2)")
expect(mpi_line(out, "8 ranks (4× CPUs)"), "missed",
       "MPI: MPI_Barrier 2x rally flat at 8 ranks (target >= 3)")
expect(mpi_line(out, "4 ranks, fake nodes of 2"), "held",
       "MPI: fake nodes of 2 faster than MPI_Barrier")
expect(mpi_line(out, "8 ranks, fake nodes of 2"), "within noise",
       "MPI: fake nodes of 2 0.9-1.1x MPI_Barrier")
expect(mpi_line(out, "rally_flat waiting"), "held",
       "MPI: a waiting rank at 0.1-0.5% of a CPU (target < 2%)")
expect(mpi_line(out, "rally_node1 waiting"), "within noise",
       "MPI: one of 5 waits at 3% of a CPU")
ok = not any("mpi_barrier waiting" in line for line in out)
print(f"{'ok' if ok else 'FAILED'}: MPI: no target for MPI_Barrier's wait")
passed, failed = passed + ok, failed + (not ok)
out = mpi_run({2: {"rally_threads2": [100] * 5,
                   "hand_threads2": [150, 160, 170, 180, 190]}},
              late={"rally_flat": [0.5, 0.6]}, lines=True)
expect(mpi_line(out, "hybrid 2 ranks × 2 threads"), "held",
       "MPI (JSON lines): hybrid, the hand-written barrier 1.5x slower")
expect(mpi_line(out, "rally_flat waiting"), "within noise",
       "MPI: 2 repetitions only: no verdict")


def pthread_run(glibc, shim, frac=None, unit="s", failed=0):
    """The drop-in's target lines for these runs (seconds, or fps), the
    probe's share of time in barriers (glibc's; None: no probe run), and
    `failed` failed runs of the shim."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl",
                                     delete=False) as f:
        for way, vals in (("glibc", glibc), ("shim", shim)):
            for i, v in enumerate(vals):
                r = {"kind": "pthread", "program": "kernel", "threads": 4,
                     "way": way, "rep": i, "value": v, "unit": unit}
                f.write(json.dumps(r) + "\n")
            if frac is not None:
                # the shim's share is not the rule's: glibc's is
                share = frac if way == "glibc" else frac * 0.3
                f.write(json.dumps({"kind": "pthread_probe",
                                    "program": "kernel", "threads": 4,
                                    "way": way, "in_barrier_frac": share,
                                    "after_last_frac": share / 2}) + "\n")
        for _ in range(failed):
            f.write(json.dumps({"kind": "pthread", "program": "kernel",
                                "threads": 4, "way": "shim",
                                "failed": "exit -11"}) + "\n")
    try:
        out = subprocess.run([sys.executable, REPORT, "--pthread", f.name],
                             check=True, capture_output=True,
                             text=True).stdout
    finally:
        os.unlink(f.name)
    return [line for line in out.splitlines() if "drop-in, kernel" in line]


lines = pthread_run([2.0, 2.1, 2.2], [1.0, 1.1, 1.2], frac=0.5)
expect(lines[0], "held", "drop-in: 1.8x faster, never slower")
expect(lines[1], "held", "drop-in: 1.8x faster with half its time in "
       "barriers: >= 1.3")
lines = pthread_run([1.0, 1.1, 1.2], [1.3, 1.4, 1.5], frac=0.5)
expect(lines[0], "missed", "drop-in: the shim 1.3x slower")
lines = pthread_run([1.0, 1.01, 1.02], [1.0, 1.01, 1.02], frac=0.05)
expect(lines[0], "held", "drop-in: as fast, within 2%")
expect(f"target lines: {len(lines)}", "1" if len(lines) == 1 else "one",
       "drop-in: no 1.3x target under 10% in barriers")
lines = pthread_run([100, 110, 120], [200, 210, 220], unit="fps",
                    frac=0.05)
expect(lines[0], "held", "drop-in: frames per second, higher is faster")
lines = pthread_run([1.0, 1.1, 1.2], [1.0, 1.1, 1.2], frac=0.3) + ["none"]
expect(lines[1], "missed", "drop-in: as fast with 30% of its time in "
       "barriers: below 1.3")
lines = pthread_run([2.0, 2.1, 2.2], [1.0, 1.1, 1.2], frac=0.5, failed=2)
expect(lines[0], "missed", "drop-in: 2 failed runs count against it, "
       "however fast the others")
# Near the bounds and at them, tight spreads: never slower is >= 0.98,
# the 1.3x target applies from 10% in barriers (90% is no exemption); fps:
# the shim's over glibc's. (glibc, shim, unit, share, target line, verdict)
for glibc, shim, unit, frac, k, want, what in [
        ([1.00, 1.01, 1.02], [1.031, 1.041, 1.052], "s", 0.05, 0, "missed",
         "0.97x is slower than never slower allows"),
        ([1.00, 1.01, 1.02], [1.010, 1.020, 1.030], "s", 0.05, 0, "held",
         "0.99x is within never slower's 2%"),
        ([1.25, 1.2625, 1.275], [1.0, 1.01, 1.02], "s", 0.5, 1, "missed",
         "1.25x with half its time in barriers: below 1.3"),
        ([1.5, 1.515, 1.53], [1.0, 1.01, 1.02], "s", 0.5, 1, "held",
         "1.5x with half its time in barriers"),
        ([1.00, 1.01, 1.02], [0.95, 1.01, 1.07], "s", 0.05, 0, "within noise",
         "the median as fast, the spread straddling 0.98: within noise, "
         "not held"),
        ([1.0] * 3, [0.98] * 3, "fps", 0.05, 0, "held",
         "a spread of exactly 0.98 holds"),
        ([1.0] * 3, [0.979] * 3, "fps", 0.05, 0, "missed",
         "a spread of 0.979 misses"),
        ([1.0] * 3, [1.3] * 3, "fps", 0.9, 1, "held",
         "1.30x with 90% in barriers holds"),
        ([1.0] * 3, [1.29] * 3, "fps", 0.9, 1, "missed",
         "1.29x with 90% in barriers misses")]:
    lines = pthread_run(glibc, shim, unit=unit, frac=frac) + ["none"]
    expect(lines[k], want, "drop-in: " + what)
lines = pthread_run([1.0, 1.01, 1.02], [1.0, 1.01, 1.02], frac=0.1) + ["none"]
expect(lines[1], "missed", "drop-in: exactly 10% of its time in barriers: "
       "the 1.3x target applies")
lines = pthread_run([1.0, 1.01, 1.02], [1.0, 1.01, 1.02]) + ["none"]
expect(lines[1], "missed", "drop-in: time in barriers not measured: the "
       "1.3x target cannot hold")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
