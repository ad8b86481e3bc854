"""RALLY_TRACE (lib/trace.c): the file trace_prog writes, checked against
what it did — valid Chrome Trace Event JSON, one event per wait, the
events of each phase of a barrier its parties with each index once, events
nested per thread, a thread that ended and a barrier destroyed, a timeout,
a fork()ed child's own file, "%p", a process killed by a signal (only the
last buffer of each thread lost), the cap on events, an unwritable path.

And tools/trace_svg.py's drawing of those files: a bar per wait.

Usage: trace_test.py TRACE_PROG RALLY_TOOL TRACE_SVG TRACE_DLCLOSE
LIBRALLY.SO LIBRALLY-PTHREAD.SO. TAP out, ending with the line "N passed,
N failed"."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict

PROG, RALLY, SVG, DLCLOSE, LIBRALLY, SHIM = map(os.path.abspath,
                                              sys.argv[1:7])
# A sanitizer's build: its runtime makes system calls of its own, and
# reports the buffers a dlclose() leaves behind (documented).
SANITIZED = len(sys.argv) > 7 and sys.argv[7] != "none"
QUIET_ASAN = "verify_asan_link_order=0:detect_leaks=0"
CHUNK = 1024  # lib/trace.c's TRACE_CHUNK
results = []


skips = 0


def skip(what, why):
    global skips
    skips += 1
    results.append(True)
    print(f"ok {len(results)} - {what} # SKIP {why}")


def check(ok, what, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {what}")
    if not ok and detail:
        for line in str(detail).splitlines()[:20]:
            print(f"# {line}")


def run(mode, path, phases=None, env=None):
    e = dict(os.environ, RALLY_TRACE=path, **(env or {}))
    args = [PROG, mode] + ([str(phases)] if phases else [])
    p = subprocess.run(args, env=e, capture_output=True, text=True,
                       timeout=120)
    info = json.loads(p.stdout) if p.stdout.strip() else {}
    return p, info


def load(path, mend=False):
    text = open(path).read()
    if mend and not text.rstrip().endswith("]}"):
        text += "\n]}"
    return json.loads(text)


def waits(doc):
    return [e for e in doc["traceEvents"] if e.get("ph") == "X"]


def nested(events):
    """Per thread, any two waits are disjoint or one holds the other."""
    by_tid = defaultdict(list)
    for e in events:
        by_tid[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_tid.values():
        spans.sort()
        stack = []
        for s, t in spans:
            while stack and stack[-1] <= s:
                stack.pop()
            if stack and t > stack[-1]:
                return False
            stack.append(t)
    return True


def phases_whole(events, parties, phases):
    """The barrier's phases 0..phases-1: parties waits each, indices once,
    all released."""
    per = defaultdict(list)
    for e in events:
        per[e["args"]["phase"]].append(e)
    if sorted(per) != list(range(phases)):
        return False
    return all(sorted(x["args"]["index"] for x in es) == list(range(parties))
               and all(x["args"]["outcome"] == "released" for x in es)
               for es in per.values())


with tempfile.TemporaryDirectory() as tmp:
    # ---- main: the whole file
    path = os.path.join(tmp, "t.json")
    p, info = run("main", path)
    check(p.returncode == 0, "trace_prog main ran", p.stderr)
    try:
        doc = load(path)
        check(True, "the trace is valid JSON")
    except (OSError, ValueError) as ex:
        doc = {"traceEvents": []}
        check(False, "the trace is valid JSON", ex)
    ev = waits(doc)
    n, t = info.get("phases", 0), info.get("threads", 0)
    by_barrier = defaultdict(list)
    for e in ev:
        by_barrier[e["args"]["barrier"]].append(e)
    sizes = sorted(len(v) for v in by_barrier.values())
    check(sizes == [1, 5, 5, n * t],
          "one event per wait: A's, B's, C's, E's", sizes)
    check(all(e["pid"] == info.get("pid") for e in ev),
          "events carry the process's pid")
    a = max(by_barrier.values(), key=len)
    check(phases_whole(a, t, n),
          "each of A's phases: its parties, each index once, released")
    check(len({e["tid"] for e in a}) == t, "A's waits come from its threads")
    check(nested(ev), "waits nest per thread")
    five = [v for v in by_barrier.values() if len(v) == 5]
    bev = [v for v in five if v[0]["tid"] != info.get("pid")]
    check(len(bev) == 1 and len({e["tid"] for e in bev[0]}) == 1 and
          bev[0][0]["tid"] not in {e["tid"] for e in a} and
          sorted(e["args"]["phase"] for e in bev[0]) == list(range(5)),
          "a thread that ended (barrier B, then destroyed) is in the file")
    eev = [v for v in five if v[0]["tid"] == info.get("pid")]
    check(len(eev) == 1 and
          sorted(e["args"]["phase"] for e in eev[0]) == list(range(5)),
          "written at destroy and again at exit: each wait once (E)")
    cev = [v for v in by_barrier.values() if len(v) == 1]
    check(bool(cev) and cev[0][0]["args"]["outcome"] == "timeout" and
          cev[0][0]["args"]["index"] == 0 and cev[0][0]["dur"] >= 1000,
          "the timeout: outcome timeout, index 0, at least 1 ms",
          cev and cev[0][0])
    meta = [e for e in doc["traceEvents"] if e.get("name") == "rally_trace"]
    check(meta and meta[0]["args"] == {"events": len(ev), "dropped": 0},
          "the last event counts the waits written", meta)
    child = f"{path}.{info.get('child')}"
    try:
        cdoc = load(child)
        cev2 = waits(cdoc)
        check(len(cev2) == 3 and all(e["pid"] == e["tid"] == info.get("child")
                                     for e in cev2),
              "a fork()ed child writes FILE.PID with its own waits", cev2)
    except (OSError, ValueError) as ex:
        check(False, "a fork()ed child writes FILE.PID with its own waits",
              ex)

    # ---- trace_svg.py: a bar (with its tooltip) per wait, valid SVG
    def bars(args):
        q = subprocess.run([sys.executable, SVG] + args, capture_output=True,
                           text=True)
        try:
            root = ET.fromstring(q.stdout)
        except ET.ParseError as ex:
            return q, None, ex
        ns = "{http://www.w3.org/2000/svg}"
        return q, [r for r in root.iter(ns + "rect")
                   if r.find(ns + "title") is not None], None
    q, rects, err = bars([path, child])
    check(rects is not None and len(rects) == len(ev) + 3,
          "trace_svg: a bar per wait of both files", err or q.stderr)
    # Up to half the time to the last wait's start: that one is out.
    span = max(e["ts"] for e in ev) - min(e["ts"] for e in ev)
    q, rects, err = bars([path, "--to", str(span / 2000)])
    check(rects is not None and 0 < len(rects) < len(ev),
          "trace_svg --to: only the waits in the window", err or q.stderr)
    q, rects, err = bars([os.path.join(tmp, "none.json")])
    check(q.returncode == 1 and "none.json" in q.stderr,
          "trace_svg: a missing file is named, exit 1", q.stderr)

    # ---- system calls per phase: none, with statistics or without (strace
    # counts a run of 100 phases and one of 20000: the same calls)
    def syscalls(mode, phases):
        log = os.path.join(tmp, "strace.txt")
        q = subprocess.run(["strace", "-f", "-c", "-o", log, PROG, mode,
                            str(phases)], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items()
                                if not k.startswith("RALLY_TRACE")})
        total = [ln.split() for ln in open(log) if ln.split()[-1:] ==
                 ["total"]]
        return q.returncode, int(total[0][3]) if total else -1
    if SANITIZED:
        skip("no system call per phase", "a sanitizer's runtime makes its "
             "own")
    elif shutil.which("strace"):
        for mode in ("phases", "phases-stats"):
            (r1, few), (r2, many) = syscalls(mode, 100), syscalls(mode, 20000)
            check(r1 == r2 == 0 and few == many > 0,
                  f"{mode}: 20000 phases make the system calls 100 do",
                  (few, many))
    else:
        check(False, "strace is needed (tools/test.sh installs it)")

    # ---- review round 1: the library unloaded before a traced thread
    # ends; two tracers in one process (a program's rally and the pthread
    # shim's copy); a program name cut inside a UTF-8 character
    q = subprocess.run([DLCLOSE, LIBRALLY], capture_output=True, text=True,
                       env=dict(os.environ, ASAN_OPTIONS=QUIET_ASAN,
                                RALLY_TRACE=os.path.join(tmp, "dl.json")))
    check(q.returncode == 0, "dlclose() before a traced thread ends",
          f"exit {q.returncode} {q.stderr}")
    mpat = os.path.join(tmp, "mx.%p.json")
    p, info = run("mixed", mpat, phases=300,
                  env={"LD_PRELOAD": SHIM, "ASAN_OPTIONS": QUIET_ASAN})
    files = [f for f in os.listdir(tmp) if f.startswith("mx.")]
    try:
        mev = [e for f in files for e in waits(load(os.path.join(tmp, f)))]
        check(p.returncode == 0 and len(files) == 2 and len(mev) == 4 * 300,
              "two tracers in one process: a file each, every wait",
              (files, len(mev)))
    except ValueError as ex:
        check(False, "two tracers in one process: a file each, every wait",
              ex)
    odd = os.path.join(tmp, "a" + "\u00e9" * 40 + "\udcff")
    try:
        shutil.copy(PROG, odd.encode("utf-8", "surrogateescape"))
        os.chmod(odd.encode("utf-8", "surrogateescape"), 0o755)
        npath = os.path.join(tmp, "name.json")
        q = subprocess.run([odd.encode("utf-8", "surrogateescape"), "main",
                            "3"], capture_output=True,
                           env=dict(os.environ, RALLY_TRACE=npath))
        doc = load(npath)
        name = [e for e in doc["traceEvents"]
                if e.get("name") == "process_name"][0]["args"]["name"]
        check(q.returncode == 0 and name.startswith("a\u00e9"),
              "a program name of many UTF-8 bytes, and one not UTF-8: "
              "valid JSON", name)
    except (OSError, ValueError, IndexError) as ex:
        check(False, "a program name of many UTF-8 bytes: valid JSON", ex)

    # ---- review round 2: a FIFO (written as it is: no FIFO.1 beside it);
    # trace_svg on a file cut inside an event, the array form, an event
    # without a duration, an empty file
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", fifo], stdout=subprocess.PIPE)
    p, info = run("main", fifo, phases=3)
    got = reader.communicate(timeout=60)[0].decode()
    try:
        ok_json = len(waits(json.loads(got))) > 0
    except ValueError:
        ok_json = False
    check(p.returncode == 0 and ok_json and
          not os.path.exists(fifo + ".1"),
          "RALLY_TRACE to a FIFO: the reader gets the trace, no FIFO.1")
    text = open(path).read()
    cut = os.path.join(tmp, "cut.json")
    with open(cut, "w") as f:
        f.write(text[:len(text) // 2])
    arr = os.path.join(tmp, "array.json")
    with open(arr, "w") as f:
        json.dump([{"ph": "X", "ts": 1, "dur": 2, "pid": 1, "tid": 1},
                   {"ph": "X", "ts": 3, "pid": 1, "tid": 1}], f)
    empty = os.path.join(tmp, "empty.json")
    open(empty, "w").close()
    bad = os.path.join(tmp, "bad.json")  # review round 3
    with open(bad, "w") as f:
        f.write('{"traceEvents":[{"ph":"X","ts":1,"dur":1,"pid":1,"tid":1,'
                '"args":null},{"ph":"X","ts":1,"dur":1,"pid":"<b>&",'
                '"tid":2},{"ph":"X","ts":1,"dur":1,"pid":[1],"tid":1},'
                '{"ph":"X","ts":1,"dur":NaN,"pid":1,"tid":1}]}')
    q = subprocess.run([sys.executable, SVG, bad], capture_output=True,
                       text=True)
    try:
        ET.fromstring(q.stdout)
        good = q.returncode == 0 and q.stdout.count("<title>") == 1 and \
            "nan" not in q.stdout
    except ET.ParseError:
        good = False
    check(good, "trace_svg: malformed events left out, labels escaped",
          q.stderr[-300:])
    q = subprocess.run([sys.executable, SVG, cut, arr, empty],
                       capture_output=True, text=True)
    n_cut = text[:len(text) // 2].count('"ph":"X"') - 1  # the last is cut
    check(q.returncode == 0 and
          q.stdout.count("<title>") in (n_cut + 1, n_cut + 2),
          "trace_svg: a file cut inside an event, the array form, an "
          "event without dur, an empty file", q.stderr[-500:])

    q = subprocess.run([PROG, "cdphases", "3"], cwd=tmp,
                       capture_output=True, text=True,
                       env=dict(os.environ, RALLY_TRACE="rel.json"))
    check(q.returncode == 0 and os.path.exists(os.path.join(tmp, "rel.json")),
          "a relative RALLY_TRACE: where the program started, though it "
          "changed directory", q.stderr)

    # ---- %p
    pat = os.path.join(tmp, "p.%p.json")
    p, info = run("main", pat, phases=3)
    names = sorted(os.listdir(tmp))
    want = {f"p.{info.get('pid')}.json", f"p.{info.get('child')}.json"}
    check(p.returncode == 0 and want <= set(names),
          "%p in the name: a file per process", names)

    # ---- killed: only the last buffer of each thread lost, no "]}"
    kpath = os.path.join(tmp, "k.json")
    phases = 3000
    p, info = run("kill", kpath, phases=phases)
    check(p.returncode == -9, "trace_prog kill died of SIGKILL",
          p.returncode)
    text = open(kpath).read() if os.path.exists(kpath) else ""
    check(text.startswith('{"traceEvents":[') and
          not text.rstrip().endswith("]}"),
          "a killed process's file has no closing ]}")
    try:
        kev = waits(load(kpath, mend=True))
        total, threads = phases * info.get("threads", 0), info.get("threads")
        lost = total - len(kev)
        check(0 < lost <= threads * CHUNK,
              "mended with ]}, it parses; at most a buffer per thread lost",
              f"{len(kev)} of {total}")
        per_tid = defaultdict(int)
        for e in kev:
            per_tid[e["tid"]] += 1
        check(all(c % CHUNK == 0 for c in per_tid.values()),
              "each thread's written waits are whole buffers", dict(per_tid))
        q = subprocess.run([sys.executable, SVG, kpath], capture_output=True,
                           text=True)
        check(q.returncode == 0 and q.stdout.count("<title>") == len(kev),
              "trace_svg reads a file cut short", q.stderr)
    except (OSError, ValueError) as ex:
        check(False, "mended with ]}, it parses", ex)

    # ---- the cap
    mpath = os.path.join(tmp, "m.json")
    p, info = run("main", mpath, phases=100,
                  env={"RALLY_TRACE_MAX": "50"})
    mdoc = load(mpath)
    meta = [e for e in mdoc["traceEvents"] if e.get("name") == "rally_trace"]
    total = 100 * info.get("threads", 0) + 5 + 5 + 1
    check(len(waits(mdoc)) == 50 and meta and
          meta[0]["args"] == {"events": 50, "dropped": total - 50},
          "RALLY_TRACE_MAX=50: 50 written, the rest counted as dropped",
          meta)
    p, info = run("main", mpath, phases=2,
                  env={"RALLY_TRACE_MAX": "lots"})
    check(p.returncode == 0 and "not a number" in p.stderr,
          "a bad RALLY_TRACE_MAX is named, the default kept", p.stderr)

    # ---- an unwritable path: the program runs on, told why
    p, info = run("main", os.path.join(tmp, "no", "such", "dir.json"),
                  phases=3)
    check(p.returncode == 0 and "cannot open" in p.stderr,
          "an unwritable path: said once, the program unharmed", p.stderr)

    # ---- no waits, no file
    npath = os.path.join(tmp, "none.json")
    subprocess.run([RALLY, "--help"], env=dict(os.environ, RALLY_TRACE=npath),
                   capture_output=True)
    check(not os.path.exists(npath), "a process that never waits writes "
          "no file")

failed = results.count(False)
print(f"1..{len(results)}")
print(f"{len(results) - failed - skips} passed, {failed} failed")
sys.exit(1 if failed else 0)
