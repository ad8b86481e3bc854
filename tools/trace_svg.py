#!/usr/bin/env python3
"""Draws RALLY_TRACE files (Chrome Trace Event JSON, lib/trace.c) as an SVG
timeline: a row per thread, a bar per barrier wait from the call to its
return (blue released, red broken, orange timed out), and a tick on the top
axis at each phase's last arrival. What Perfetto or chrome://tracing show,
for a page or a README, offline.

  trace_svg.py [--from MS] [--to MS] [--width PX] [-o OUT.svg] TRACE...

Times are in ms from the earliest event. A file cut short (a process killed
by a signal, a full disk: no closing "]}", maybe half an event) is read as
far as it goes, an event to a line; the JSON array form of the format is
read too; events without a duration are left out."""
import argparse
import json
import math
import sys
from collections import defaultdict
from xml.sax.saxutils import escape

COLOURS = {"released": "#3b75af", "broken": "#c0392b", "timeout": "#e67e22",
           "ownerdead": "#8e44ad", "error": "#7f8c8d"}


def number(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and
            math.isfinite(v))


def complete(e):
    """A complete event ("X") with what a bar needs, of the right types
    (a malformed one is left out: review round 3)."""
    if not (isinstance(e, dict) and e.get("ph") == "X" and
            number(e.get("ts")) and number(e.get("dur")) and e["dur"] >= 0):
        return False
    if not all(isinstance(e.get(k), (int, str)) and
               not isinstance(e.get(k), bool) for k in ("pid", "tid")):
        return False
    if not isinstance(e.get("args", {}), dict):
        return False
    e.setdefault("args", {})
    e["pid"], e["tid"] = str(e["pid"]), str(e["tid"])
    return True


def load(path):
    """The wait events of one file. Whole JSON (object or array form), or
    else — a file cut short — each line that holds one whole event."""
    text = open(path, encoding="utf-8", errors="replace").read()
    try:
        doc = json.loads(text)
        events = doc.get("traceEvents", []) if isinstance(doc, dict) else doc
    except ValueError:
        events = []
        for line in text.splitlines():
            line = line.strip().rstrip(",")
            if line.startswith("{") and line.endswith("}"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    return [e for e in events if complete(e)] if isinstance(events, list) \
        else []


def barrier_of(e):
    """A barrier's identity: its tag, and the pid for a process-private one
    (a fork()ed child's copy has the same tag)."""
    a = e.get("args", {})
    return (str(a.get("barrier")), None if a.get("shared", 1) else e["pid"])


def last_arrivals(events):
    """Per (barrier, phase) of released waits, the time of the last call."""
    last = {}
    for e in events:
        a = e.get("args", {})
        if a.get("outcome") != "released":
            continue
        k = (barrier_of(e), str(a.get("phase")))
        last[k] = max(last.get(k, e["ts"]), e["ts"])
    return sorted(last.values())


def render(events, t_from, t_to, width):
    t0 = min(e["ts"] for e in events)
    lo = t0 + (t_from or 0) * 1000
    hi = (t0 + t_to * 1000) if t_to is not None else \
        max(e["ts"] + e["dur"] for e in events)
    hi = max(hi, lo + 1)
    rows = sorted({(e["pid"], e["tid"]) for e in events})
    left, top, row_h, pad = 150, 40, 22, 4
    plot_w = width - left - 20
    height = top + row_h * len(rows) + 50

    def x(ts):
        return left + (min(max(ts, lo), hi) - lo) / (hi - lo) * plot_w

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    # The axis: ms from the first event, 5 ticks.
    for i in range(6):
        ts = lo + (hi - lo) * i / 5
        out.append(f'<line x1="{x(ts):.1f}" y1="{top - 6}" x2="{x(ts):.1f}" '
                   f'y2="{height - 40}" stroke="#ddd"/>')
        out.append(f'<text x="{x(ts):.1f}" y="{height - 26}" '
                   f'text-anchor="middle">{(ts - t0) / 1000:.2f} ms</text>')
    # Each phase's last arrival: a tick above the rows.
    for ts in last_arrivals(events):
        if lo <= ts <= hi:
            out.append(f'<line x1="{x(ts):.1f}" y1="{top - 12}" '
                       f'x2="{x(ts):.1f}" y2="{top - 4}" stroke="#555"/>')
    out.append(f'<text x="{left}" y="{top - 16}">ticks: each phase\'s last '
               f'arrival</text>')
    index = {r: i for i, r in enumerate(rows)}
    for (pid, tid), i in index.items():
        y = top + i * row_h
        out.append(f'<text x="{left - 8}" y="{y + row_h / 2 + 4:.1f}" '
                   f'text-anchor="end">{escape(f"pid {pid} tid {tid}")}'
                   '</text>')
        out.append(f'<line x1="{left}" y1="{y + row_h - 1}" '
                   f'x2="{left + plot_w}" y2="{y + row_h - 1}" '
                   f'stroke="#f0f0f0"/>')
    drawn = 0
    for e in events:
        s, t = e["ts"], e["ts"] + e["dur"]
        if t < lo or s > hi:
            continue
        a = e.get("args", {})
        y = top + index[(e["pid"], e["tid"])] * row_h + pad
        w = max(x(t) - x(s), 0.5)
        colour = COLOURS.get(a.get("outcome"), "#7f8c8d")
        tip = escape(f"barrier {a.get('barrier')} phase {a.get('phase')} "
                     f"index {a.get('index')} {a.get('outcome')} "
                     f"{e['dur']:.1f} us")
        out.append(f'<rect x="{x(s):.2f}" y="{y}" width="{w:.2f}" '
                   f'height="{row_h - 2 * pad}" fill="{colour}">'
                   f'<title>{tip}</title></rect>')
        drawn += 1
    lx = left
    for name, colour in COLOURS.items():
        out.append(f'<rect x="{lx}" y="{height - 16}" width="10" '
                   f'height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 7}">{name}</text>')
        lx += 90
    out.append(f'<text x="{width - 20}" y="{height - 7}" text-anchor="end">'
               f'bars: a thread waiting at a barrier</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n", drawn


def main():
    ap = argparse.ArgumentParser(
        description="Draw RALLY_TRACE files as an SVG timeline.")
    ap.add_argument("traces", nargs="+", metavar="TRACE")
    ap.add_argument("--from", dest="t_from", type=float, default=None,
                    metavar="MS", help="start, ms after the first event")
    ap.add_argument("--to", dest="t_to", type=float, default=None,
                    metavar="MS", help="end, ms after the first event")
    ap.add_argument("--width", type=int, default=1000, metavar="PX")
    ap.add_argument("-o", "--output", default="-", metavar="OUT.svg")
    args = ap.parse_args()
    if args.width < 300:
        ap.error("--width: at least 300")
    events, failed = [], False
    for path in args.traces:
        try:
            got = load(path)
        except OSError as ex:
            print(f"trace_svg: {path}: {ex}", file=sys.stderr)
            failed = True
            continue
        if not got:
            print(f"trace_svg: {path}: no wait events", file=sys.stderr)
        events += got
    if failed:
        return 1
    if not events:
        print("trace_svg: no wait events in the traces", file=sys.stderr)
        return 1
    svg, drawn = render(events, args.t_from, args.t_to, args.width)
    if args.output == "-":
        sys.stdout.write(svg)
    else:
        with open(args.output, "w") as f:
            f.write(svg)
    print(f"trace_svg: {drawn} waits of {len(events)} drawn",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
