#!/usr/bin/env python3
"""chaos_mutants.py SOURCE WORKDIR [SECONDS] — reintroduces defects the
hardening issue listed (and one the chaos stress found), each as one small
edit of a scratch copy of lib/, builds the chaos stress against it, and
reports how long the stress took to catch it: the first FAIL line, a crash,
or a hang (the stress's watchdog). TAP out. An edit that no longer applies
is a failure too: the list must follow the code.

  A1  the completer reads the object (parties) after its releasing CAS
  A1b the same after an action (flags: the old busy_leave)
  A2  a completer whose publish failed leaves without counting itself out
  A3  a deadline breaks the phase gen names, not the caller's own
  BUSY a deadline breaks a state it has not judged (the bug chaos found)
  REARRIVE  a caller re-arrives although its phase completed before the cut
"""
import os
import shutil
import subprocess
import sys
import time

MUTANTS = {
    "A1": ("phase.c",
           "\trally__wake_if(b, old, view_shared(v));\n\t*ret = (int)v->parties - 1;",
           "\trally__wake_if(b, old, view_shared(v));\n\t*ret = (int)b->parties - 1;"),
    "A1b": ("phase.c",
            "\trally__wake_if(b, s, shared);\n\t/* A failed phase",
            "\trally__wake_if(b, s, shared);\n\tif (b->flags & RALLY_ROBUST)\n\t\tret++;\n\t/* A failed phase"),
    "A2": ("phase.c",
           "\t\t\tint code = rally__broken_code(v);\n\t\t\trally__leave(v);\n\t\t\treturn code;\n\t\t}\n\t\tif (o == PENDING && st_parity(s) == parity &&",
           "\t\t\tint code = rally__broken_code(v);\n\t\t\treturn code;\n\t\t}\n\t\tif (o == PENDING && st_parity(s) == parity &&"),
    "A3": ("phase.c",
           "\tif (st_parity(old) == parity && d == 0) {\n\t\tnext = st_with_ahead",
           "\tif (true) {\n\t\tnext = st_with_ahead"),
    "BUSY": ("phase.c",
             "\tif (rally__classify(old, p, parity) != PENDING)\n\t\treturn BRK_CHANGED;",
             "\tif ((old & ST_BROKEN) && !(old & ST_BUSY))\n\t\treturn BRK_CHANGED;"),
    "REARRIVE": ("barrier_impl.h",
                 "st_parity(s) == parity && seq_diff(p, st_seq(s)) >= 0;",
                 "st_parity(s) == parity;"),
}


def build(src, work, name, edit):
    lib = os.path.join(work, name, "lib")
    shutil.rmtree(os.path.join(work, name), ignore_errors=True)
    shutil.copytree(os.path.join(src, "lib"), lib)
    path = os.path.join(lib, edit[0])
    text = open(path).read()
    if text.count(edit[1]) != 1:
        return None, f"the edit does not apply to {edit[0]}"
    open(path, "w").write(text.replace(edit[1], edit[2]))
    exe = os.path.join(work, name, "chaos")
    cmd = ["cc", "-std=c11", "-O1", "-g", "-D_GNU_SOURCE",
           "-DRALLY_DELAY_POINTS", "-I" + os.path.join(src, "include"),
           "-I" + lib] + [os.path.join(lib, f) for f in sorted(os.listdir(lib))
                          if f.endswith(".c")] + \
          [os.path.join(src, "tests", "chaos.c"), "-pthread", "-o", exe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return None, "does not build: " + r.stderr[-300:]
    return exe, None


def hunt(exe, seconds, log):
    """Seconds until the stress says FAIL, crashes or hangs; None if not."""
    start = time.monotonic()
    with open(log, "w") as out:
        p = subprocess.Popen([exe, "--seconds", str(seconds), "--hang",
                              "20", "--seed", "1"], stdout=out,
                             stderr=subprocess.STDOUT)
        while p.poll() is None:
            time.sleep(0.2)
            if "FAIL" in open(log).read():
                took = time.monotonic() - start
                p.kill()
                p.wait()
                return took, "FAIL"
            if time.monotonic() - start > seconds + 120:
                p.kill()
                p.wait()
                return time.monotonic() - start, "hang"
    took = time.monotonic() - start
    text = open(log).read()
    if p.returncode < 0:
        return took, f"signal {-p.returncode}"
    if p.returncode or "FAIL" in text:
        return took, "FAIL"
    return None, "not caught"


def main():
    src, work = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 120
    os.makedirs(work, exist_ok=True)
    failed = 0
    for n, (name, edit) in enumerate(MUTANTS.items(), 1):
        exe, why = build(src, work, name, edit)
        if exe is None:
            failed += 1
            print(f"not ok {n} - mutant {name}: {why}")
            continue
        log = os.path.join(work, name, "chaos.log")
        took, how = hunt(exe, seconds, log)
        if took is None:
            failed += 1
            print(f"not ok {n} - mutant {name}: {how} in {seconds} s")
        else:
            first = next((l for l in open(log) if "FAIL" in l), "").strip()
            print(f"ok {n} - mutant {name}: caught in {took:.1f} s ({how})"
                  + (f": {first[:120]}" if first else ""))
        sys.stdout.flush()
    print(f"1..{len(MUTANTS)}")
    print(f"# {len(MUTANTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
