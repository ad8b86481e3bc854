#!/usr/bin/env python3
"""pthread_bench.py — programs that use pthread barriers, timed with the C
library's barrier and with librally-pthread.so preloaded, side by side.

usage: tools/pthread_bench.py --shim LIB --kernel PROG [--probe LIB]
                              [--reps N] [--threads LIST] [--json FILE]
                              [--quick]

Each (program, threads) runs REPS times each way, the two ways alternating,
which goes first turned round each repetition (a host that turns slow for
a while slows both alike). A shim run must show that the shim took a
barrier (RALLY_PTHREAD_VERBOSE's line on stderr), or it is a failed run. Programs:
  kernel    rally-pthread-kernel (bench/pthread_kernel.c): a Jacobi solver,
            3 barriers a step; wall seconds (lower is better).
  glxgears  Debian's glxgears under xvfb-run in its own 300x300 window,
            Mesa's llvmpipe with LP_NUM_THREADS rasterizer threads (they
            meet at a pthread barrier twice a frame): frames per second
            over its first 5 s report (higher is better). Skipped (said)
            without glxgears or xvfb-run.
Not Debian's pi_stress (rt-tests), which the tests run with and without
the shim: its wall time is paced by its progress report, a 0.75 s sleep
(10, 300 and 3000 inversions all take 0.75 s), not by its barriers.
The output of both runs must agree (the kernel's checksum); a run that fails is an error, recorded as failed (the report
counts it against the program), and so are all the runs of a (program,
threads) whose outputs disagree.

With --probe (bench/barrier_probe.c, rally-barrier-probe.so), each
(program, threads) also runs once more each way, untimed, with the probe
preloaded: the share of its threads' time inside pthread_barrier_wait,
and the part of it after the last party of a phase arrived (the barrier's
release and wake-up, and a woken thread's wait for a CPU; the rest is
waiting for the last party — imbalance, and a late wake-up carried over).

Writes JSON lines (one record per run) to --json FILE, a line of progress
per run to stderr, and exits 1 if a run failed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def run(cmd, env_extra, timeout, preloaded=None):
    """Runs cmd; a run of the shim (RALLY_PTHREAD_VERBOSE in env_extra, or
    preloaded) must show that the shim took a barrier."""
    env = dict(os.environ)
    env.update(env_extra)
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    if preloaded is None:
        preloaded = "RALLY_PTHREAD_VERBOSE" in env_extra
    if preloaded and "librally-pthread: barrier" not in p.stderr:
        # the preload did not happen (a bad path, ...)
        raise RuntimeError("the shim took no barrier: "
                           f"{p.stderr.strip()[:200]}")
    return p, wall


def kernel(args, threads, env):
    p, _ = run([args.kernel, "--threads", str(threads), "--cells",
                str(args.cells), "--steps", str(args.steps)], env, 300)
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {p.stderr.strip()[:200]}")
    out = dict(line.split(" ", 1) for line in p.stdout.splitlines()
               if " " in line)
    return {"value": float(out["time_s"]), "unit": "s",
            "agree": out["checksum"]}


def glxgears(args, threads, env):
    env = dict(env, LP_NUM_THREADS=str(threads), vblank_mode="0")
    # glxgears' own window (300x300: 25 of llvmpipe's 64x64 tiles, work
    # for every rasterizer thread; a 64x64 window is one tile, one thread).
    # timeout inside xvfb-run: Xvfb's start is not in the 7 s, and
    # xvfb-run, not killed, cleans up after itself.
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 640x480x24", "timeout", "7",
           "glxgears"]
    if "LD_PRELOAD" in env:  # the program only, not xvfb-run and Xvfb
        cmd = cmd[:4] + ["env", "LD_PRELOAD=" + env.pop("LD_PRELOAD")] + \
            cmd[4:]
    p, _ = run(cmd, env, 60, preloaded="RALLY_PTHREAD_VERBOSE" in env)
    if p.returncode != 124:  # ended by timeout, as it never ends itself
        raise RuntimeError(f"exit {p.returncode}, not timeout's 124: "
                           f"{(p.stdout + p.stderr).strip()[:200]}")
    m = re.search(r"(\d+) frames in ([\d.]+) seconds = ([\d.]+) FPS",
                  p.stdout + p.stderr)
    if not m:
        raise RuntimeError(f"no frame rate (exit {p.returncode}): "
                           f"{(p.stdout + p.stderr).strip()[:200]}")
    return {"value": float(m.group(3)), "unit": "fps", "agree": "frames"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shim", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--probe", help="rally-barrier-probe.so: also measure "
                    "the time in barriers, each way")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", default="2,4,8")
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true",
                    help="short runs (a smoke test, not a measurement)")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be 1 or more")
    try:
        threads = [int(t) for t in args.threads.split(",")]
        if any(t < 1 or t > 1024 for t in threads):
            raise ValueError
    except ValueError:
        ap.error("--threads: a comma-separated list of 1 ..= 1024")
    for f in (args.shim, args.kernel) + ((args.probe,) if args.probe
                                         else ()):
        if not os.path.exists(f):
            ap.error(f"{f}: no such file")
    args.cells, args.steps = (20000, 300) if args.quick else (100000, 2000)

    programs = [("kernel", kernel, threads)]
    if shutil.which("glxgears") and shutil.which("xvfb-run"):
        programs.append(("glxgears", glxgears, threads))
    else:
        print("pthread_bench: glxgears skipped: no glxgears or xvfb-run "
              "(Debian: mesa-utils, xvfb)", file=sys.stderr)

    shim = os.path.abspath(args.shim)
    probe = os.path.abspath(args.probe) if args.probe else None
    for lib in (shim, probe):
        if lib and any(c in lib for c in " :\t\n"):  # ld.so splits there
            ap.error(f"{lib}: a path with a space or colon cannot be "
                     "preloaded")
    out = open(args.json, "w") if args.json else sys.stdout
    failed = 0
    ways = [("glibc", {}), ("shim", {"LD_PRELOAD": shim,
                                     "RALLY_PTHREAD_VERBOSE": "1"})]
    for name, fn, counts in programs:
        for t in counts:
            failed += timed_runs(args, name, fn, t, ways, out)
            if probe:
                failed += probe_runs(args, name, fn, t, ways, probe, out)
    if out is not sys.stdout:
        out.close()
    return 1 if failed else 0


def failure(name, t, way, why, out, kind="pthread"):
    """A failed run: said, and recorded (the report counts it)."""
    print(f"pthread_bench: {name} {t} threads {way}: FAILED: {why}",
          file=sys.stderr)
    print(json.dumps({"kind": kind, "program": name, "threads": t,
                      "way": way, "failed": str(why)[:300]}), file=out,
          flush=True)
    return 1


def timed_runs(args, name, fn, t, ways, out):
    """REPS runs each way, alternating; the number of failures."""
    agree, recs, failed = {}, [], 0
    for rep in range(args.reps):
        for way, env in ways if rep % 2 == 0 else ways[::-1]:
            try:
                r = fn(args, t, dict(env))
            except (RuntimeError, subprocess.TimeoutExpired, KeyError,
                    ValueError) as e:
                failed += failure(name, t, way, e, out)
                continue
            agree.setdefault(r.pop("agree"), []).append(way)
            recs.append({"kind": "pthread", "program": name, "threads": t,
                         "way": way, "rep": rep, **r})
            print(f"   {name:9} {t} threads  {way:5}  {r['value']:.4g} "
                  f"{r['unit']}", file=sys.stderr)
    if len(agree) > 1:  # none of them counts
        return failed + failure(name, t, "both", "the runs disagree, all "
                                f"left out: {agree}", out)
    for rec in recs:
        print(json.dumps(rec), file=out, flush=True)
    return failed


PROBE_LINE = re.compile(
    r"^probe threads (\d+) waits (\d+) phases (\d+) unassigned (\d+) "
    r"untracked (\d+) in_progress (\d+) span_s ([\d.]+) in_barrier_s "
    r"([\d.]+) after_last_s ([\d.]+) dropped (\d+)$", re.M)


def probe_runs(args, name, fn, t, ways, probe, out):
    """One untimed run each way with the probe preloaded first (before the
    shim, whose functions it then wraps); the number of failures."""
    failed = 0
    for way, env in ways:
        with tempfile.NamedTemporaryFile("r", suffix=".probe") as f:
            env = dict(env, RALLY_PROBE_OUT=f.name, RALLY_PROBE_SECONDS="4",
                       LD_PRELOAD=":".join(
                           [probe] + ([env["LD_PRELOAD"]]
                                      if "LD_PRELOAD" in env else [])))
            try:
                fn(args, t, env)
                found = PROBE_LINE.findall(f.read())
                if len(found) != 1:  # none, or a child's too
                    raise RuntimeError(f"the probe wrote {len(found)} "
                                       "lines, not 1")
                m = found[0]
            except (RuntimeError, subprocess.TimeoutExpired, KeyError,
                    ValueError) as e:
                failed += failure(name, t, way, e, out, "pthread_probe")
                continue
        n = [float(x) for x in m]
        span, in_b, after = n[6], n[7], n[8]
        if span <= 0 or n[2] == 0:
            failed += failure(name, t, way, f"no whole phase: {m}", out,
                              "pthread_probe")
            continue
        rec = {"kind": "pthread_probe", "program": name, "threads": t,
               "way": way, "in_barrier_frac": in_b / span,
               "after_last_frac": after / span, "phases": int(n[2]),
               "unassigned": int(n[3]), "untracked": int(n[4]),
               "in_progress": int(n[5]), "dropped": int(n[9])}
        print(json.dumps(rec), file=out, flush=True)
        print(f"   {name:9} {t} threads  {way:5}  probe: "
              f"{100 * rec['in_barrier_frac']:.1f}% in barriers, "
              f"{100 * rec['after_last_frac']:.1f}% after the last "
              "arrival", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())
