"""asyncio barriers side by side, in phases per second:

- rally.AsyncBarrier across processes (each its own event loop, one
  coroutine each) against the usual way to reach a multiprocessing.Barrier
  from asyncio — `await loop.run_in_executor(None, barrier.wait)`, a thread
  of the default executor parked per waiter (aioprocessing's way) — at 2
  and 4 processes;
- rally.AsyncBarrier with 8 coroutines in one loop against asyncio.Barrier
  (which is in-loop only).

Each measurement runs a short calibration, then about --seconds; the
median of --reps runs, interleaved peer and rally. Prints a table with the
targets (cross-process >= 20x the executor baseline; in-loop within 2x of
asyncio.Barrier) and writes JSON (--json). Needs the rally package on
sys.path (PYTHONPATH).
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time

import rally

CTX = mp.get_context("fork")


# ---- across processes ---------------------------------------------------------

def _rally_process(b, phases, out):
    async def run():
        await b.wait()  # everyone is up
        t0 = time.perf_counter()
        for _ in range(phases):
            await b.wait()
        return time.perf_counter() - t0
    out.put(asyncio.run(run()))


def _executor_process(b, phases, out):
    async def run():
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, b.wait)
        t0 = time.perf_counter()
        for _ in range(phases):
            await loop.run_in_executor(None, b.wait)
        return time.perf_counter() - t0
    out.put(asyncio.run(run()))


def across(kind, procs, phases):
    """Phases per second of `procs` processes (one loop each)."""
    if kind == "rally":
        b, target = rally.AsyncBarrier(procs, timeout=600), _rally_process
    else:
        b, target = CTX.Barrier(procs, timeout=600), _executor_process
    out = CTX.Queue()
    ps = [CTX.Process(target=target, args=(b, phases, out))
          for _ in range(procs)]
    for p in ps:
        p.start()
    times = [out.get(timeout=600) for _ in ps]
    for p in ps:
        p.join()
    return phases / max(times)


# ---- in one loop --------------------------------------------------------------

def in_loop(kind, coros, phases):
    async def run():
        b = rally.AsyncBarrier(coros) if kind == "rally" else \
            asyncio.Barrier(coros)

        async def one():
            for _ in range(phases):
                await b.wait()
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(coros)))
        return phases / (time.perf_counter() - t0)
    return asyncio.run(run())


def measure(fn, kind, n, seconds):
    """Calibrate, then one run of about `seconds`."""
    phases = 50
    while True:
        t0 = time.perf_counter()
        fn(kind, n, phases)
        took = time.perf_counter() - t0
        if took > seconds / 8 or phases >= 1 << 20:
            break
        phases *= 4
    phases = max(10, int(phases * seconds / max(took, 1e-3)))
    return fn(kind, n, phases)


CASES = [
    # (label, fn, n, peer, target: rally / peer at least)
    ("2 processes x 1 coroutine", across, 2, "executor", 20.0),
    ("4 processes x 1 coroutine", across, 4, "executor", 20.0),
    ("1 process x 8 coroutines", in_loop, 8, "asyncio", 0.5),
]

PEER_NAMES = {"executor": "run_in_executor(mp.Barrier.wait)",
              "asyncio": "asyncio.Barrier"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0,
                    help="length of each run (default 1)")
    ap.add_argument("--reps", type=int, default=3,
                    help="runs of each, interleaved (default 3)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    results = []
    print("| workers | rally.AsyncBarrier | peer | rally / peer | target |")
    print("|---|---|---|---|---|")
    for label, fn, n, peer, target in CASES:
        mine, theirs = [], []
        for _ in range(args.reps):
            theirs.append(measure(fn, peer, n, args.seconds))
            mine.append(measure(fn, "rally", n, args.seconds))
        m, t = statistics.median(mine), statistics.median(theirs)
        ratios = sorted(a / b for a, b in zip(sorted(mine), sorted(theirs)))
        r = m / t
        ok = "held" if r >= target else "missed"
        results.append({"case": label, "rally_phases_per_s": m,
                        "peer": PEER_NAMES[peer], "peer_phases_per_s": t,
                        "ratio": r, "target": target, "verdict": ok,
                        "rally_runs": mine, "peer_runs": theirs})
        print(f"| {label} | {m:,.0f}/s ({1e6 / m:.1f} µs) | "
              f"{PEER_NAMES[peer]} {t:,.0f}/s ({1e6 / t:.1f} µs) | "
              f"{r:.2f}× | ≥ {target}× ({ok}; runs {mine and min(mine):,.0f}"
              f"–{max(mine):,.0f}/s) |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python": sys.version.split()[0], "reps": args.reps,
                       "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
