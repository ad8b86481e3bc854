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

REPORT = sys.argv[1]
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
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
