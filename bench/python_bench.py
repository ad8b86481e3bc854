"""Python barriers side by side: rally.Barrier against threading.Barrier
(threads) and multiprocessing.Barrier (processes), in phases per second.

Each measurement runs N workers that cross one barrier in a loop; a short
calibration run sizes the real one to about --seconds. Then, unless
--no-busy, 2 workers of each kind again beside a noisy neighbour (a
process that keeps one CPU busy, started before and killed after). Prints
a table and writes JSON (--json). Needs the rally package on sys.path
(PYTHONPATH).
"""
import argparse
import json
import multiprocessing
import os
import sys
import threading
import time

import rally


def cross_threads(barrier, workers, phases):
    """Seconds for `workers` threads to cross `barrier` `phases` times."""
    go = threading.Barrier(workers + 1)
    times = []

    def work():
        go.wait()
        t0 = time.perf_counter()
        for _ in range(phases):
            barrier.wait()
        times.append(time.perf_counter() - t0)

    ts = [threading.Thread(target=work) for _ in range(workers)]
    for t in ts:
        t.start()
    go.wait()
    for t in ts:
        t.join()
    return max(times)


def _process_worker(barrier, phases, out):
    barrier.wait()  # everyone is up: start together
    t0 = time.perf_counter()
    for _ in range(phases):
        barrier.wait()
    out.put(time.perf_counter() - t0)


def cross_processes(ctx, barrier, workers, phases):
    out = ctx.Queue()
    ps = [ctx.Process(target=_process_worker, args=(barrier, phases, out))
          for _ in range(workers)]
    for p in ps:
        p.start()
    times = [out.get(timeout=600) for _ in ps]
    for p in ps:
        p.join()
    return max(times)


def _spin():
    """The noisy neighbour: one CPU kept busy."""
    while True:
        pass


def measure(run, seconds):
    """Phases per second: a calibration run, then one of ~`seconds`."""
    phases = 50
    elapsed = run(phases)
    while elapsed < 0.05 and phases < 10**8:
        phases *= 4
        elapsed = run(phases)
    phases = max(phases, int(phases * seconds / elapsed))
    elapsed = run(phases)
    return phases / elapsed, phases


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", default="2,4,8",
                    help="thread counts, comma-separated (default 2,4,8)")
    ap.add_argument("--processes", default="2,4,8",
                    help="process counts, comma-separated (default 2,4,8)")
    ap.add_argument("--seconds", type=float, default=0.5,
                    help="time per measurement (default 0.5)")
    ap.add_argument("--start-method", default="fork",
                    choices=["fork", "spawn", "forkserver"],
                    help="multiprocessing start method (default fork)")
    ap.add_argument("--json", metavar="FILE", help="write the results here")
    ap.add_argument("--no-busy", action="store_true",
                    help="skip the runs beside a busy CPU")
    args = ap.parse_args()
    try:
        threads = [int(x) for x in args.threads.split(",") if x]
        procs = [int(x) for x in args.processes.split(",") if x]
    except ValueError:
        ap.error("--threads and --processes take numbers, e.g. 2,4,8")
    if any(n < 1 for n in threads + procs) or args.seconds <= 0:
        ap.error("counts must be >= 1 and --seconds > 0")
    ctx = multiprocessing.get_context(args.start_method)
    results = []

    def record(kind, n, peer, rally_pps, peer_pps):
        r = {"kind": kind, "workers": n, "peer": peer,
             "rally_phases_per_s": rally_pps, "peer_phases_per_s": peer_pps,
             "ratio": rally_pps / peer_pps}
        results.append(r)
        print(f"{kind:14} {n:2}   rally {rally_pps:12,.0f}/s   "
              f"{peer} {peer_pps:10,.0f}/s   {r['ratio']:6.1f}x",
              flush=True)

    print(f"# Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.seconds} s per measurement", flush=True)
    for n in threads:
        b = rally.Barrier(n)
        rp, _ = measure(lambda k: cross_threads(b, n, k), args.seconds)
        tb = threading.Barrier(n)
        tp, _ = measure(lambda k: cross_threads(tb, n, k), args.seconds)
        record("threads", n, "threading.Barrier", rp, tp)
    for n in procs:
        b = rally.Barrier(n)
        rp, _ = measure(lambda k: cross_processes(ctx, b, n, k),
                        args.seconds)
        mb = ctx.Barrier(n)
        mp, _ = measure(lambda k: cross_processes(ctx, mb, n, k),
                        args.seconds)
        record("processes", n, "multiprocessing.Barrier", rp, mp)
    if not args.no_busy:
        hog = multiprocessing.get_context("fork").Process(target=_spin,
                                                          daemon=True)
        hog.start()
        try:
            b = rally.Barrier(2)
            rp, _ = measure(lambda k: cross_threads(b, 2, k), args.seconds)
            tb = threading.Barrier(2)
            tp, _ = measure(lambda k: cross_threads(tb, 2, k), args.seconds)
            record("busy-threads", 2, "threading.Barrier", rp, tp)
            b = rally.Barrier(2)
            rp, _ = measure(lambda k: cross_processes(ctx, b, 2, k),
                            args.seconds)
            mb = ctx.Barrier(2)
            mp, _ = measure(lambda k: cross_processes(ctx, mb, 2, k),
                            args.seconds)
            record("busy-processes", 2, "multiprocessing.Barrier", rp, mp)
        finally:
            hog.kill()
            hog.join()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python": sys.version.split()[0],
                       "cpus": os.cpu_count(),
                       "start_method": args.start_method,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
