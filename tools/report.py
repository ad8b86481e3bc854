#!/usr/bin/env python3
"""report.py — turn rally-bench's JSON into Markdown tables and a plot.

usage: tools/report.py [RESULTS.json] [--md OUT.md] [--png OUT.png]
                       [--python PYTHON.json] [--mpi MPI.json]
                       [--pthread PTHREAD.jsonl]

Prints the report (Markdown) on stdout: time per phase for every peer and
thread count with each peer's ratio to rally (how many times slower it is),
processes, events, the stencil workload, and the targets of the benchmark
issue checked against the numbers. With --png, plots time per phase against
threads (log scales), one line per peer. Medians are used when the run had
repetitions. With --mpi (tools/bench.sh's bench-results/mpi.json, or the
JSON lines of rally-mpi-bench), the MPI section: rally-mpi against
MPI_Barrier and the hand-written hybrid barrier, and its targets;
RESULTS.json may then be left out. With --pthread (tools/pthread_bench.py's
records), the drop-in section: programs with and without
librally-pthread.so, and its targets. Depends on python3 and, for the plot,
python3-matplotlib.
"""
import argparse
import json
import re
import statistics
import sys
from collections import defaultdict

PEER_ORDER = ["rally", "rally_nospin", "ck_centralized", "yield_floor",
              "std_barrier", "openmp", "pthread", "pthread_pshared",
              "futex_sleep"]


def load(path):
    """{run_name: {counter: value}}, medians over repetitions."""
    with open(path) as f:
        data = json.load(f)
    runs = defaultdict(list)
    medians = {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = b
        else:
            runs[name].append(b)
    out = {}
    for name, rs in runs.items():
        if name in medians:
            out[name] = dict(medians[name])
        else:
            keys = set().union(*(r.keys() for r in rs))
            out[name] = {k: statistics.median(r[k] for r in rs if k in r)
                         for k in keys
                         if all(isinstance(r.get(k, 0), (int, float))
                                for r in rs)}
    for name, m in medians.items():
        out.setdefault(name, m)
    for name, rs in runs.items():
        out[name]["_reps"] = rs  # each repetition, for the spreads
    return data.get("context", {}), out


def reps(r, key="ns_per_phase"):
    """The repetitions' values of key, sorted (the median alone if none)."""
    vals = sorted(x[key] for x in r.get("_reps", []) if key in x)
    return vals or ([r[key]] if key in r else [])


MIN_REPS = 3  # fewer: no verdict but "within noise"


def quantile(v, q):
    """The q-quantile (0..1) of sorted v, interpolated."""
    x = q * (len(v) - 1)
    i = int(x)
    return v[i] if i + 1 >= len(v) else v[i] + (v[i + 1] - v[i]) * (x - i)


def ratio_spread(num, den, key="ns_per_phase"):
    """num/den: the ratio of the medians, and its spread over the
    repetitions: the i-th fastest of one over the i-th fastest of the other
    (a host that turns slow for a while slows both alike; interleaved at
    random, both see it as often), min and max over i — at the same
    quantiles of both, interpolated when their counts differ (a repetition
    that failed is dropped), and never narrower than the ratio of the
    medians. k: the fewer repetitions of the two."""
    a, b = reps(num, key), reps(den, key)
    med = statistics.median(a) / statistics.median(b)
    n = max(len(a), len(b))
    qs = [i / (n - 1) for i in range(n)] if n > 1 else [0.5]
    rs = [quantile(a, q) / quantile(b, q) for q in qs] + [med]
    return med, min(rs), max(rs), min(len(a), len(b))


def verdict(lo, hi, op, bound):
    """held, missed, or within noise (the spread straddles the bound)."""
    ok = {"<=": lambda x: x <= bound, ">=": lambda x: x >= bound,
          ">": lambda x: x > bound, "<": lambda x: x < bound}[op]
    if ok(lo) and ok(hi):
        return "held"
    if not ok(lo) and not ok(hi):
        return "missed"
    return "within noise"


def check(num, den, op, bound, what, key="ns_per_phase"):
    """A target as (verdict, text)."""
    med, lo, hi, k = ratio_spread(num, den, key)
    v = verdict(lo, hi, op, bound) if k >= MIN_REPS else "within noise"
    return (v, f"{what} = {med:.2f} (spread {lo:.2f}–{hi:.2f} over {k} "
               f"repetitions; target {op} {bound}): {v}")


def parse(results):
    """Splits results into families keyed by (peer, n) etc."""
    phase, procs, events, stencil, overlap, noisy = {}, {}, {}, {}, {}, {}
    for name, r in results.items():
        m = re.match(r"phase/([a-z_]+)/.*?threads:(\d+)", name)
        if m and "ns_per_phase" in r:
            phase[(m.group(1), int(m.group(2)))] = r
            continue
        m = re.match(r"noisy/([a-z_]+)/threads:(\d+)", name)
        if m and "ns_per_phase" in r:
            noisy[(m.group(1), int(m.group(2)))] = r
            continue
        m = re.match(r"procs/([a-z_]+)/procs:(\d+)", name)
        if m and "ns_per_phase" in r:
            procs[(m.group(1), int(m.group(2)))] = r
            continue
        m = re.match(r"event/([a-z_]+)/([a-z_]+)", name)
        if m:
            key = "ns_per_wait" if m.group(1) == "wait_set" else "ns_per_wake"
            if key in r:
                events[(m.group(1), m.group(2))] = r[key]
            continue
        m = re.match(r"stencil/([a-z_]+)/n:(\d+)/threads:(\d+)", name)
        if m and "ns_per_step" in r:
            stencil[(m.group(1), int(m.group(2)), int(m.group(3)))] = \
                r["ns_per_step"]
            continue
        m = re.match(r"overlap/([a-z]+)/compute_ns:(\d+).*?threads:(\d+)",
                     name)
        if m and "ns_per_phase" in r:
            overlap[(m.group(1), int(m.group(2)), int(m.group(3)))] = \
                r["ns_per_phase"]
    return phase, procs, events, stencil, overlap, noisy


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns" if ns >= 10 else f"{ns:.1f} ns"


def cell(ns, ref):
    if ns is None:
        return "—"
    if ref is None or ref <= 0:
        return fmt_ns(ns)
    return f"{fmt_ns(ns)} ({ns / ref:.1f}×)"


def phase_table(phase):
    peers = [p for p in PEER_ORDER if any(k[0] == p for k in phase)]
    peers += sorted({k[0] for k in phase} - set(peers))
    ns = sorted({k[1] for k in phase})
    lines = ["| threads | " + " | ".join(peers) + " |",
             "|---" * (len(peers) + 1) + "|"]
    for n in ns:
        ref = phase.get(("rally", n), {}).get("ns_per_phase")
        row = [str(n)]
        for p in peers:
            r = phase.get((p, n))
            v = r["ns_per_phase"] if r else None
            row.append(fmt_ns(v) if p == "rally" and v else cell(v, ref))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Per phase for rally: CPU time of all parties, futex "
                 "calls, context switches (all kinds).")
    lines.append("")
    lines.append("| threads | wall | CPU | futex calls | context switches |")
    lines.append("|---|---|---|---|---|")
    for n in ns:
        r = phase.get(("rally", n))
        if r:
            lines.append(f"| {n} | {fmt_ns(r['ns_per_phase'])} | "
                         f"{fmt_ns(r.get('cpu_ns', 0))} | "
                         f"{r.get('futex', 0):.3f} | {r.get('csw', 0):.2f} |")
    return "\n".join(lines)


def procs_table(procs, phase):
    ns = sorted({k[1] for k in procs})
    lines = ["| processes | rally | pthread_pshared | rally, as threads | "
             "rally processes / threads |", "|---|---|---|---|---|"]
    for n in ns:
        r = procs.get(("rally", n), {}).get("ns_per_phase")
        p = procs.get(("pthread_pshared", n), {}).get("ns_per_phase")
        t = phase.get(("rally", n), {}).get("ns_per_phase")
        lines.append(f"| {n} | {fmt_ns(r) if r else '—'} | {cell(p, r)} | "
                     f"{fmt_ns(t) if t else '—'} | "
                     f"{f'{r / t:.2f}' if r and t else '—'} |")
    return "\n".join(lines)


def noisy_table(noisy):
    peers = ["rally", "pthread", "std_barrier"]
    lines = ["| threads | " + " | ".join(peers) + " |",
             "|---" * (len(peers) + 1) + "|"]
    for n in sorted({k[1] for k in noisy}):
        ref = noisy.get(("rally", n), {}).get("ns_per_phase")
        row = [str(n)]
        for p in peers:
            r = noisy.get((p, n))
            row.append(spread_cell(r, ref if p != "rally" else None))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def parse_stats(results):
    """The stats family: {(peer, threads): result}."""
    out = {}
    for name, r in results.items():
        m = re.match(r"stats/([a-z_]+)/threads:(\d+)", name)
        if m and "ns_per_phase" in r:
            out[(m.group(1), int(m.group(2)))] = r
    return out


def stats_table(stats):
    """rally, rally with RALLY_STATS, rally with RALLY_TRACE: time per
    phase, and the cost as a multiple of rally's time in the same run."""
    peers = ["rally", "rally_stats", "rally_trace"]
    lines = ["| threads | rally | + RALLY_STATS (× rally) | "
             "+ RALLY_TRACE (× rally) |", "|---|---|---|---|"]
    for n in sorted({k[1] for k in stats}):
        ref = stats.get(("rally", n), {}).get("ns_per_phase")
        row = [str(n)] + [spread_cell(stats.get((p, n)),
                                      ref if p != "rally" else None)
                          for p in peers]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def spread_cell(r, ref):
    """Median (min–max over the repetitions), and the ratio to ref."""
    if r is None:
        return "—"
    v = reps(r)
    text = fmt_ns(r["ns_per_phase"])
    if len(v) > 1:
        text += f" ({fmt_ns(v[0])}–{fmt_ns(v[-1])})"
    if ref:
        text += f" {r['ns_per_phase'] / ref:.1f}×"
    return text


def events_table(events):
    what = {"wait_set": "wait on a set event",
            "pingpong": "set → waiter running (waiter spinning), ping-pong",
            "wake_sleeping": "set → waiter running (waiter asleep)"}
    lines = ["| measure | rally | condvar |", "|---|---|---|"]
    for kind, text in what.items():
        r = events.get((kind, "rally"))
        c = events.get((kind, "condvar"))
        if r is None and c is None:
            continue
        lines.append(f"| {text} | {fmt_ns(r) if r else '—'} | {cell(c, r)} |")
    return "\n".join(lines)


def stencil_table(stencil):
    keys = sorted({(k[1], k[2]) for k in stencil})
    lines = ["| grid | threads | rally | pthread | openmp |",
             "|---|---|---|---|---|"]
    for n, t in keys:
        r = stencil.get(("rally", n, t))
        lines.append(f"| {n}×{n} | {t} | {fmt_ns(r) if r else '—'} | "
                     f"{cell(stencil.get(('pthread', n, t)), r)} | "
                     f"{cell(stencil.get(('openmp', n, t)), r)} |")
    return "\n".join(lines)


def overlap_table(overlap):
    keys = sorted({(k[2], k[1]) for k in overlap})
    lines = ["| threads | compute per phase | wait after compute | "
             "arrive, compute, await |", "|---|---|---|---|"]
    for t, c in keys:
        w = overlap.get(("wait", c, t))
        sp = overlap.get(("split", c, t))
        lines.append(f"| {t} | {fmt_ns(c) if c else '0'} | "
                     f"{fmt_ns(w) if w else '—'} | "
                     f"{cell(sp, w) if sp else '—'} |")
    return "\n".join(lines)


def targets(phase, procs, noisy, cpus):
    """The benchmark issues' targets, each as (verdict, text): held, missed,
    or within noise when the spread over the repetitions straddles it."""
    out = []
    under = sorted(n for (p, n) in phase if p == "rally" and 2 <= n <= cpus)
    over = sorted(n for (p, n) in phase if p == "rally" and n > cpus)
    for n in under:
        r = phase[("rally", n)]
        for peer, op, bound in (("ck_centralized", "<=", 1.15),
                                ("pthread", ">=", 30), ("std_barrier", ">=", 3),
                                ("openmp", ">=", 3)):
            v = phase.get((peer, n))
            if v is None:
                continue
            if peer == "ck_centralized":
                out.append(check(r, v, op, bound,
                                 f"{n} threads: rally / spin floor"))
            else:
                out.append(check(v, r, op, bound, f"{n} threads: {peer} / rally"))
        f = r.get("futex", 0)
        out.append(("held" if f < 0.01 else "missed",
                    f"{n} threads: {f:.4f} futex calls per phase "
                    f"(target: none)"))
    for n in over:
        r = phase[("rally", n)]
        for peer, op, bound in (("pthread", ">=", 2.5),
                                ("std_barrier", ">" if n >= 4 * cpus else ">=",
                                 1.0)):
            v = phase.get((peer, n))
            if v is not None:
                out.append(check(v, r, op, bound,
                                 f"{n} threads ({n // cpus}× CPUs): "
                                 f"{peer} / rally"))
        y = phase.get(("yield_floor", n))
        if y is not None:
            out.append(check(r, y, "<=", 1.2,
                             f"{n} threads: rally / yield floor"))
    for (p, n) in sorted(procs):
        if p != "rally":
            continue
        ck = procs.get(("ck_centralized", n))
        if ck is not None:
            out.append(check(procs[(p, n)], ck, "<=", 1.15,
                             f"{n} processes: rally / spin floor"))
        t = phase.get(("rally", n))
        if t:
            out.append(check(procs[(p, n)], t, "<=", 1.3,
                             f"{n} processes: rally processes / threads"))
    for (p, n) in sorted(noisy):
        if p != "rally":
            continue
        for peer in ("std_barrier", "pthread"):
            v = noisy.get((peer, n))
            if v is not None:
                out.append(check(v, noisy[(p, n)], ">=", 1.0,
                                 f"{n} threads beside a busy CPU: "
                                 f"{peer} / rally"))
    return out


def plot(phase, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    peers = [p for p in PEER_ORDER if any(k[0] == p for k in phase)]
    for p in peers:
        pts = sorted((n, r["ns_per_phase"]) for (q, n), r in phase.items()
                     if q == p)
        if not pts:
            continue
        ax.plot([x for x, _ in pts], [y / 1e3 for _, y in pts], marker="o",
                linewidth=2.5 if p == "rally" else 1.2, label=p)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("threads")
    ax.set_ylabel("time per phase (µs)")
    ax.set_title("Barrier phase time against threads")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def python_section(path):
    """The Python table (bench/python_bench.py --json) and its targets."""
    with open(path) as f:
        data = json.load(f)
    rows = ["| workers | rally.Barrier | peer | peer / rally |",
            "|---|---|---|---|"]
    checks = []
    for r in data["results"]:
        kind, n = r["kind"], r["workers"]
        rows.append(f"| {n} {kind} | {r['rally_phases_per_s']:,.0f}/s "
                    f"({1e6 / r['rally_phases_per_s']:.2f} µs) | "
                    f"{r['peer']} {r['peer_phases_per_s']:,.0f}/s "
                    f"({1e6 / r['peer_phases_per_s']:.1f} µs) | "
                    f"{r['ratio']:.1f}× |")
        bound = {"threads": 30, "processes": 100, "busy-threads": 3,
                 "busy-processes": 10}.get(kind, 1)
        where = kind.replace("busy-", "") + (
            " beside a busy CPU" if kind.startswith("busy-") else "")
        # One measurement each: no spread to judge the noise by.
        checks.append(("held" if r["ratio"] >= bound else "missed",
                       f"Python, {n} {where}: rally.Barrier / {r['peer']} "
                       f"= {r['ratio']:.1f} (target >= {bound}; one "
                       f"measurement)"))
    head = (f"Python {data['python']}, start method {data['start_method']}"
            "; phases per second (time per phase).")
    return [head, "", "\n".join(rows)], checks


# ---- MPI: bench/mpi_bench.c (rally-mpi-bench) under tools/bench.sh -------

MPI_PEERS = ["mpi_barrier", "rally_flat", "rally_threads", "rally_node",
             "hand_threads", "yield_floor"]


def mpi_load(path):
    """The records of rally-mpi-bench and the runs that failed: a JSON
    document {"records": [...], "failed": [...]} (tools/bench.sh's
    mpi.json) or JSON lines (its own output)."""
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines()
                if line.strip()], []
    if isinstance(doc, dict):
        return doc["records"], doc.get("failed", [])
    return doc, []


def mpi_peer_key(name):
    """Sort key: MPI_PEERS' order, then the name (rally_node2 ...)."""
    base = re.sub(r"\d+$", "", name)
    return (MPI_PEERS.index(base) if base in MPI_PEERS else 99, name)


def mpi_groups(records, kind):
    """{(run, ranks): {peer: {"<key>": median, "_reps": [records]}}}."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("kind") == kind:
            groups[(r.get("run", ""), r["ranks"])][r["peer"]].append(r)
    out = {}
    for g, peers in groups.items():
        out[g] = {}
        for peer, rs in peers.items():
            d = {"_reps": rs}
            for k in rs[0]:
                if isinstance(rs[0][k], (int, float)):
                    d[k] = statistics.median(x[k] for x in rs if k in x)
            out[g][peer] = d
    return out


def mpi_cell(r, key, ref=None, fmt=fmt_ns):
    """median (min–max), and ref's median over this one's (× faster)."""
    if r is None:
        return "—"
    v = reps(r, key)
    text = fmt(r[key])
    if len(v) > 1:
        text += f" ({fmt(v[0])}–{fmt(v[-1])})"
    if ref is not None and r[key] > 0:
        text += f" {ref[key] / r[key]:.2f}×"
    return text


def mpi_section(path):
    """The MPI tables and their targets, as (lines, checks)."""
    records, failed = mpi_load(path)
    ctx = [r for r in records if r.get("kind") == "context"]
    phase = mpi_groups(records, "phase")
    late = mpi_groups(records, "late")
    if not (phase or late or failed):
        raise ValueError("no rally-mpi-bench measurements")
    cpus = max((c.get("cpus", 0) for c in ctx), default=0) or 1
    lines, checks = [], []
    if failed:
        lines += ["**Runs that failed** (their rows hold only the rounds "
                  "measured before; tools/bench.sh's mpi.txt has their "
                  "output):", ""] + [f"- {f}" for f in failed] + [""]
    c0 = ctx[0] if ctx else {}
    reps_seen = sorted({len(p["_reps"]) for g in phase.values()
                        for p in g.values()})
    lines += [f"{c0.get('mpi', 'MPI')} on one machine ({cpus} CPUs; "
              f"host {c0.get('host', '?')}, {c0.get('date', '')}); MPI "
              f"thread level {c0.get('thread_level', '?')}. Each row is one "
              "mpirun: its peers take turns in a shuffled order, "
              f"{'/'.join(map(str, reps_seen)) or '?'} rounds; median "
              "(min–max over the rounds). Wall: the slowest rank's time "
              "per phase. CPU: getrusage(RUSAGE_SELF) of every rank (all "
              "its threads, MPI's included), summed over the ranks, per "
              "phase. × : MPI_Barrier's (or the hand-written barrier's) "
              "median over this peer's (higher: rally-mpi is faster); none "
              "for rally_threads, which has more parties per phase than "
              "MPI_Barrier. yield_floor is no library: a counter in memory "
              "the ranks share, each waiting rank yielding its CPU until "
              "the last arrives — what a phase costs where every waiting "
              "rank hands its CPU over.", ""]
    for c in ctx:
        lines.append(f"- run {c.get('run')}, {c.get('ranks')} ranks: "
                     f"CPUs per rank {c.get('cpus_per_rank')}, Open MPI "
                     f"oversubscribed={c.get('ompi_oversubscribe') or '?'}"
                     + "".join(f", {p}: {v['nodes']} node(s) of "
                               f"{v['node_size']}"
                               for p, v in c.get("layouts", {}).items()))
    ranks_groups = sorted((g for g in phase if "mpi_barrier" in phase[g]),
                          key=lambda g: (g[1], g[0]))
    if ranks_groups:
        peers = sorted({p for g in ranks_groups for p in phase[g]},
                       key=mpi_peer_key)
        head = "| ranks | " + " | ".join(peers) + " |"
        sep = "|---" * (len(peers) + 1) + "|"
        lines += ["", "#### Time per phase (wall)", "", head, sep]
        for g in ranks_groups:
            ref = phase[g]["mpi_barrier"]
            lines.append(f"| {g[1]} | " + " | ".join(
                mpi_cell(phase[g].get(p), "ns_per_phase",
                         None if p == "mpi_barrier" or
                         phase[g].get(p, {}).get("threads", 1) > 1 else ref)
                for p in peers) + " |")
        lines += ["", "#### CPU time per phase, all ranks together", "",
                  head, sep]
        for g in ranks_groups:
            ref = phase[g]["mpi_barrier"]
            lines.append(f"| {g[1]} | " + " | ".join(
                mpi_cell(phase[g].get(p), "cpu_ns_per_phase",
                         None if p == "mpi_barrier" or
                         phase[g].get(p, {}).get("threads", 1) > 1 else ref)
                for p in peers) + " |")
    hybrid = sorted(g for g in phase
                    if any(p.startswith("hand_threads") for p in phase[g]))
    if hybrid:
        lines += ["", "#### Hybrid: T threads per rank, rally-mpi against "
                  "a pthread barrier, MPI_Barrier by the main thread, a "
                  "pthread barrier", "",
                  "| ranks × threads | peer | wall per phase | CPU per "
                  "phase (all ranks) | context switches per phase |",
                  "|---|---|---|---|---|"]
        for g in hybrid:
            hands = [p for p in phase[g] if p.startswith("hand_threads")]
            for hand in hands:
                t = hand[len("hand_threads"):]
                ref = phase[g][hand]
                for p in (f"rally_threads{t}", hand):
                    r = phase[g].get(p)
                    if r is None:
                        continue
                    to = ref if p != hand else None
                    lines.append(
                        f"| {g[1]} × {t} (run {g[0]}) | {p} | "
                        f"{mpi_cell(r, 'ns_per_phase', to)} | "
                        f"{mpi_cell(r, 'cpu_ns_per_phase', to)} | "
                        f"{r.get('csw_per_phase', 0):.2f} |")
    if late:
        pct = lambda x: f"{100 * x:.2f}%"  # noqa: E731
        lines += ["", "#### A rank waiting for a late one: rank 1 arrives "
                  "late, rank 0's CPU time while it waits "
                  "(getrusage(RUSAGE_SELF) of rank 0: all its threads)", "",
                  "| ranks | peer | late by | rank 0's CPU, % of its wait "
                  "| rank 0 returns after rank 1 arrived | the late "
                  "rank's own CPU |", "|---|---|---|---|---|---|"]
        for g in sorted(late, key=lambda g: (g[1], g[0])):
            for p in sorted(late[g], key=mpi_peer_key):
                r = late[g][p]
                lines.append(
                    f"| {g[1]} | {p} | {fmt_ns(r['late_ns'])} | "
                    f"{mpi_cell(r, 'cpu_frac', fmt=pct)} | "
                    f"{mpi_cell(r, 'release_ns')} | "
                    f"{fmt_ns(r.get('late_rank_cpu_ns', 0))} |")
    checks += mpi_targets(phase, late, cpus)
    return lines, checks


def mpi_targets(phase, late, cpus):
    """The MPI issue's targets, each as (verdict, text)."""
    out = []
    for g in sorted(phase, key=lambda g: (g[1], g[0])):
        peers, n = phase[g], g[1]
        m = peers.get("mpi_barrier")
        flat = peers.get("rally_flat")
        if m and flat:
            if n <= cpus:
                out.append(check(flat, m, "<=", 1.2,
                                 f"MPI, {n} ranks ({cpus} CPUs): "
                                 "rally-mpi flat / MPI_Barrier"))
            elif n >= 2 * cpus:
                bound = 3 if n >= 4 * cpus else 2
                verd, text = check(m, flat, ">=", bound,
                                   f"MPI, {n} ranks ({n / cpus:g}× CPUs): "
                                   "MPI_Barrier / rally-mpi flat")
                floor = peers.get("yield_floor")
                if floor:  # what no barrier that yields its CPU beats
                    med, lo, hi, _ = ratio_spread(m, floor)
                    fmed, flo, fhi, _ = ratio_spread(flat, floor)
                    text += (f" (the yield floor: MPI_Barrier / floor = "
                             f"{med:.2f}, spread {lo:.2f}–{hi:.2f}; "
                             f"rally-mpi flat / floor = {fmed:.2f}, spread "
                             f"{flo:.2f}–{fhi:.2f})")
                out.append((verd, text))
        for p in sorted(peers, key=mpi_peer_key):
            if m and p.startswith("rally_node") and p != "rally_node1":
                out.append(check(m, peers[p], ">=", 1.0,
                                 f"MPI, {n} ranks, fake nodes of "
                                 f"{p[len('rally_node'):]}: MPI_Barrier / "
                                 f"{p}"))
            if p.startswith("hand_threads"):
                r = peers.get("rally_threads" + p[len("hand_threads"):])
                if r:
                    out.append(check(peers[p], r, ">", 1.0,
                                     f"MPI, hybrid {n} ranks × "
                                     f"{p[len('hand_threads'):]} threads: "
                                     f"{p} / rally_threads"
                                     f"{p[len('hand_threads'):]}"))
    for g in sorted(late, key=lambda g: (g[1], g[0])):
        for p in sorted(late[g], key=mpi_peer_key):
            if not p.startswith("rally"):
                continue
            r = late[g][p]
            v = reps(r, "cpu_frac")
            k = len(v)
            verd = (verdict(v[0], v[-1], "<", 0.02) if k >= MIN_REPS
                    else "within noise")
            out.append((verd, f"MPI, {p} waiting {fmt_ns(r['late_ns'])} "
                              f"for a late rank: rank 0 uses "
                              f"{100 * r['cpu_frac']:.2f}% of a CPU (spread "
                              f"{100 * v[0]:.2f}–{100 * v[-1]:.2f}% over {k} "
                              f"repetitions; target < 2%): {verd}"))
    return out


# ---- the pthread drop-in: tools/pthread_bench.py -----------------------------

PTHREAD_ORDER = ["kernel", "glxgears"]
PTHREAD_WHAT = {
    "kernel": "rally-pthread-kernel (ours: Jacobi, 3 barriers a step)",
    "glxgears": "glxgears under Xvfb (Mesa llvmpipe, LP_NUM_THREADS)",
}


def pthread_records(path):
    """tools/pthread_bench.py's records: the timed runs by (program,
    threads) and way, the failed runs' count by (program, threads), and the
    probe's records by (program, threads) and way."""
    groups = defaultdict(lambda: {"glibc": [], "shim": []})
    failed, probes = defaultdict(int), defaultdict(dict)
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            g = (r.get("program"), r.get("threads"))
            if r.get("kind") not in ("pthread", "pthread_probe"):
                continue
            if "failed" in r:
                failed[g] += 1
            elif r["kind"] == "pthread":
                groups[g][r["way"]].append(r)
            else:
                probes[g][r["way"]] = r
    return groups, failed, probes


def pthread_section(path):
    """The drop-in table and its targets, as (lines, checks)."""
    groups, failed, probes = pthread_records(path)
    if not groups and not failed:
        raise ValueError("no pthread_bench.py records")
    lines = ["Each program as Debian ships it (and our kernel), run with the "
             "C library's barrier and with `librally-pthread.so` preloaded, "
             "the two alternating; median (min–max) over the runs. Time: "
             "wall seconds (lower is better); fps: frames per second "
             "(higher is better). Speed-up: glibc's over the shim's time, "
             "or the shim's frame rate over glibc's. In barriers: the "
             "share of the time of the threads that wait at barriers "
             "spent inside pthread_barrier_wait, glibc / the shim (one "
             "more run each way with bench/barrier_probe.c preloaded, "
             "untimed); after the last arrival: the part of that time "
             "after the last party of a phase arrived, as a share of the "
             "same — the barrier's release and wake-up, and with more "
             "threads than CPUs the woken threads' wait for a CPU; the "
             "rest is waiting for the last party — the program's "
             "imbalance, and a barrier's late wake-up carried into the "
             "next phase.", "",
             "| program | threads | glibc | shim | speed-up | in barriers "
             "| after the last arrival |",
             "|---|---|---|---|---|---|---|"]
    checks = []
    key = lambda g: (PTHREAD_ORDER.index(g[0]) if g[0] in PTHREAD_ORDER
                     else 99, g[1])
    for g in sorted(set(groups) | set(failed), key=key):
        what = f"drop-in, {g[0]}, {g[1]} threads"
        pr = probes.get(g, {})
        share = lambda k: " / ".join(
            f"{100 * pr[w][k]:.0f}%" if w in pr else "?"
            for w in ("glibc", "shim"))
        runs = groups[g]
        if failed[g]:
            checks.append(("missed", f"{what}: {failed[g]} run(s) failed "
                                     "(bench-results/pthread.txt): missed"))
        if not runs["glibc"] or not runs["shim"]:
            lines.append(f"| {g[0]} | {g[1]} | (a way failed: "
                         f"{len(runs['glibc'])} glibc, {len(runs['shim'])} "
                         "shim runs) | | | | |")
            checks.append(("missed", f"{what}: a way has no run (failed): "
                                     "missed"))
            continue
        unit = runs["glibc"][0]["unit"]
        rec = {w: {"value": statistics.median(x["value"] for x in rs),
                   "_reps": rs} for w, rs in runs.items()}
        v = {w: reps(rec[w], "value") for w in rec}
        cell = lambda w: (f"{rec[w]['value']:.4g} {unit} ({v[w][0]:.4g}–"
                          f"{v[w][-1]:.4g})")
        # faster: glibc's time over the shim's, or fps the other way
        num, den = (("glibc", "shim") if unit == "s" else ("shim", "glibc"))
        med, lo, hi, k = ratio_spread(rec[num], rec[den], "value")
        lines.append(f"| {g[0]} | {g[1]} | {cell('glibc')} | {cell('shim')} "
                     f"| {med:.2f}× ({lo:.2f}–{hi:.2f}) | "
                     f"{share('in_barrier_frac')} | "
                     f"{share('after_last_frac')} |")
        # Never slower: within 2% (a program whose barriers do not matter
        # runs as fast either way, and its spread straddles 1.0).
        verd = (verdict(lo, hi, ">=", 0.98) if k >= MIN_REPS
                else "within noise")
        checks.append((verd, f"{what}: never slower — speed-up {med:.2f} "
                             f"(spread {lo:.2f}–{hi:.2f} over {k} runs; "
                             f"target >= 0.98): {verd}"))
        frac = pr.get("glibc", {}).get("in_barrier_frac")
        if frac is None:
            checks.append(("missed", f"{what}: its time in barriers was "
                                     "not measured (no probe run): the "
                                     ">= 1.3 target cannot be judged: "
                                     "missed"))
        elif frac >= 0.1:
            verd = (verdict(lo, hi, ">=", 1.3) if k >= MIN_REPS
                    else "within noise")
            after = pr["glibc"]["after_last_frac"]
            checks.append((verd, f"{what}, {100 * frac:.0f}% of its "
                                 f"threads' time in barriers ("
                                 f"{100 * after:.0f}% after the last "
                                 f"arrival): speed-up {med:.2f} (spread "
                                 f"{lo:.2f}–{hi:.2f}; target >= 1.3): "
                                 f"{verd}"))
    lines += ["", "Programs: " + "; ".join(
        f"{p}: {PTHREAD_WHAT[p]}" for p in PTHREAD_ORDER
        if any(g[0] == p for g in groups)) + "."]
    return lines, checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="?",
                    help="rally-bench --benchmark_out JSON file (may be "
                    "left out with --mpi)")
    ap.add_argument("--md", help="also write the report to this file")
    ap.add_argument("--png", help="write the plot to this PNG file")
    ap.add_argument("--python", metavar="JSON",
                    help="bench/python_bench.py --json output to include")
    ap.add_argument("--mpi", metavar="JSON",
                    help="rally-mpi-bench's records (tools/bench.sh's "
                    "mpi.json) to include")
    ap.add_argument("--pthread", metavar="JSONL",
                    help="tools/pthread_bench.py's records (the drop-in, "
                    "tools/bench.sh's pthread.jsonl) to include")
    args = ap.parse_args()
    if args.json is None and args.mpi is None and args.pthread is None:
        ap.error("RESULTS.json, --mpi or --pthread is needed")
    context, results = {}, {}
    if args.json is not None:
        try:
            context, results = load(args.json)
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"report.py: cannot read {args.json}: {e}")
    phase, procs, events, stencil, overlap, noisy = parse(results)
    stats = parse_stats(results)
    if args.json is not None and not (phase or procs or events or stencil
                                      or overlap or noisy or stats):
        sys.exit(f"report.py: no rally-bench results in {args.json}")
    cpus = int(context.get("num_cpus", 1))
    parts = [f"Machine: {context.get('host_name', '?')}, {cpus} CPUs at "
             f"{context.get('mhz_per_cpu', '?')} MHz; {context.get('date', '')}."
             " Ratios are each peer's time over rally's, measured in the "
             "same run (higher: rally is faster)."] if args.json else []
    if phase:
        parts += ["", "### Barrier: time per phase", "", phase_table(phase)]
    if procs:
        parts += ["", "### Processes (fork()ed, process-shared barrier)", "",
                  procs_table(procs, phase)]
    if noisy:
        parts += ["", "### Beside a noisy neighbour (a process keeps one "
                  "CPU busy)", "", noisy_table(noisy)]
    if events:
        parts += ["", "### Events", "", events_table(events)]
    if stencil:
        parts += ["", "### Heat-diffusion stencil: time per step", "",
                  stencil_table(stencil)]
    if overlap:
        parts += ["", "### Split phase: time per phase, computing between "
                  "arrive and await (ratio: split over wait)", "",
                  overlap_table(overlap)]
    if stats:
        parts += ["", "### What statistics and traces cost: time per phase "
                  "(ratio: over rally's own, in the same run; higher costs "
                  "more)", "", stats_table(stats)]
    checks = targets(phase, procs, noisy, cpus)
    # The optional sections: (file, reader, heading).
    for path, read, heading in (
            (args.python, python_section, "Python: rally.Barrier against "
             "threading.Barrier and multiprocessing.Barrier"),
            (args.mpi, mpi_section, "MPI: rally-mpi against MPI_Barrier "
             "and the hand-written hybrid barrier"),
            (args.pthread, pthread_section, "The pthread drop-in: programs "
             "with and without librally-pthread.so")):
        if not path:
            continue
        try:
            section, section_checks = read(path)
        except (OSError, ValueError, KeyError, TypeError,
                ZeroDivisionError) as e:
            sys.exit(f"report.py: cannot read {path}: {e}")
        parts += ["", "### " + heading, ""] + section
        checks += section_checks
    if checks:
        mark = {"held": "✓", "missed": "✗", "within noise": "~"}
        count = {v: sum(c == v for c, _ in checks) for v in mark}
        parts += ["", f"### Targets: {count['held']} of {len(checks)} hold, "
                  f"{count['within noise']} within noise, "
                  f"{count['missed']} missed", ""]
        parts += [f"- {mark[c]} {text}" for c, text in checks]
    report = "\n".join(parts).lstrip("\n") + "\n"
    sys.stdout.write(report)
    if args.md:
        with open(args.md, "w") as f:
            f.write(report)
    if args.png and phase:
        try:
            plot(phase, args.png)
        except ImportError:
            sys.exit("report.py: python3-matplotlib is needed for --png")


if __name__ == "__main__":
    main()
