"""Ctrl-C and timeouts while the arrival itself blocks (review 2).

A wait arrives, then waits in 50 ms slices with the signal handlers in
between. The arrival can block too: the last arrival of a phase waits
while an earlier phase's action runs, and a caller that arrives while a
reset runs waits for the reset to end. Those waits once ignored both the
timeout and Ctrl-C (KeyboardInterrupt 3.4 s and 4.8 s late, a
wait(timeout=0.5) that lasted 5 s, an action waiting on its own barrier
that hung for ever). Each case runs in a fresh interpreter: Ctrl-C goes to
its main thread.
"""
import json
import subprocess
import sys
import textwrap
import unittest

BOUND = 1.0  # the bound asserted: 50 ms slices, with ample slack

COMMON = textwrap.dedent("""
    import json, multiprocessing as mp, os, signal, sys, threading, time
    import rally
    BBE = threading.BrokenBarrierError

    def interrupt_in(seconds, sig=signal.SIGINT):
        # Off the 50 ms grid of the slices: the latency is measured, not
        # hidden by a tick that comes at the same instant.
        sent = []
        def kick():
            time.sleep(seconds)
            sent.append(time.monotonic())
            os.kill(os.getpid(), sig)
        threading.Thread(target=kick, daemon=True).start()
        return sent

    def outcome(f):
        t0 = time.monotonic()
        try:
            r = f()
        except BaseException as e:
            return type(e).__name__, time.monotonic() - t0, time.monotonic()
        return repr(r), time.monotonic() - t0, time.monotonic()

    def report(**kw):
        print(json.dumps(kw), flush=True)

    def main_wait(b):
        # The main thread's wait: Ctrl-C 0.325 s in, or a 0.5 s timeout.
        # Its outcome, time, and the latency from the signal.
        if MODE in ("ctrl-c", "handler-reset", "handler-action-reset",
                    "handler-fork-reset"):
            sig = signal.SIGINT
            if MODE == "handler-reset":
                # The handler runs inside the arrival, which counts this
                # thread in: a reset there would wait for it for ever.
                sig = signal.SIGUSR1
                signal.signal(sig, lambda *a: b.reset())
            elif MODE == "handler-action-reset":
                # ... also from the action of another barrier the
                # handler waits on (it runs inside the handler).
                sig = signal.SIGUSR1
                signal.signal(sig, lambda *a: rally.Barrier(
                    1, action=lambda: b.reset()).wait())
            elif MODE == "handler-fork-reset":
                # ... but not in a child fork()ed there: it is in no
                # arrival (its reset waits for the action, then resets).
                sig = signal.SIGUSR1
                def forks(*a):
                    pid = os.fork()
                    if pid == 0:
                        try:
                            b.reset()
                            os._exit(0)
                        except BaseException:
                            os._exit(3)
                    main_wait.child = pid
                signal.signal(sig, forks)
            sent = interrupt_in(0.325, sig)
            def wait():
                try:
                    return b.wait()
                except BaseException as e:
                    main_wait.message = str(e)
                    raise
            what, took, at = outcome(wait)
            return what, took, at - sent[0] if sent else None
        what, took, at = outcome(lambda: b.wait(timeout=0.5))
        return what, took, None
""")

# Phase 0's action runs (ACTION_S) in a thread; phase 1 has its first
# arrival (t3); the main thread arrives last in phase 1 and waits for
# phase 0.
ACTION = COMMON + textwrap.dedent("""
    ACTION_S = 3.0
    b = rally.Barrier(2, action=lambda: time.sleep(ACTION_S))
    got = {}
    def wait(name):
        got[name] = outcome(b.wait)[0]
    ts = [threading.Thread(target=wait, args=(n,)) for n in ("t1", "t2")]
    ts[0].start(); time.sleep(0.1)
    ts[1].start(); time.sleep(0.2)     # the action runs in t2
    ts.append(threading.Thread(target=wait, args=("t3",)))
    ts[2].start(); time.sleep(0.1)     # t3: the first of phase 1
    what, took, latency = main_wait(b)
    for t in ts:
        t.join(10)
    child = getattr(main_wait, "child", None)
    report(what=what, took=took, latency=latency, got=got, broken=b.broken,
           message=getattr(main_wait, "message", ""),
           child=os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
           if child else None)
""")

# A child process waits in phase 0 and is stopped there; a reset waits
# for it; the main thread's wait arrives during the reset.
RESET = COMMON + textwrap.dedent("""
    def child(b):
        try:
            b.wait()
        except Exception:
            pass

    if __name__ == "__main__":
        b = rally.Barrier(3)
        p = mp.get_context("fork").Process(target=child, args=(b,))
        p.start()
        while b.n_waiting < 1:
            time.sleep(0.01)
        os.kill(p.pid, signal.SIGSTOP)
        r = threading.Thread(target=b.reset)
        r.start()
        time.sleep(0.3)                 # the reset waits for the child
        def resume():                   # whatever happens, after 5 s
            time.sleep(5)
            os.kill(p.pid, signal.SIGCONT)
        threading.Thread(target=resume, daemon=True).start()
        what, took, latency = main_wait(b)
        os.kill(p.pid, signal.SIGCONT)
        r.join(10)
        p.join(10)
        report(what=what, took=took, latency=latency, broken=b.broken,
               n_waiting=b.n_waiting, reset_done=not r.is_alive())
        b.close()
""")

# An action that waits on its own barrier: its wait is the last arrival
# of the next phase, which waits for the action itself.
SELF = COMMON + textwrap.dedent("""
    inner = []
    def action():
        try:
            b.wait(timeout=TIMEOUT)
        except BaseException as e:
            inner.append(type(e).__name__)
            raise
    b = rally.Barrier(1, action=action)
    sent = interrupt_in(0.525) if MODE == "ctrl-c" else []
    what, took, at = outcome(b.wait)
    latency = at - sent[0] if sent else None
    report(what=what, took=took, latency=latency, inner=inner,
           broken=b.broken)
""")


def run(script, mode, **params):
    prelude = f"MODE = {mode!r}\n" + "".join(
        f"{k} = {v!r}\n" for k, v in params.items())
    try:
        r = subprocess.run([sys.executable, "-c", prelude + script],
                           capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("hung: no outcome after 20 s") from None
    if r.returncode != 0:
        raise AssertionError(f"exit status {r.returncode}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


class LastArrivalDuringAnActionTests(unittest.TestCase):
    def test_ctrl_c_while_the_previous_phase_s_action_runs(self):
        out = run(ACTION, "ctrl-c")
        self.assertEqual(out["what"], "KeyboardInterrupt", out)
        self.assertLess(out["latency"], BOUND, out)
        # Phase 0 completed; the interrupted caller broke its own phase,
        # which its partner sees (no phantom arrival).
        self.assertEqual(sorted([out["got"]["t1"], out["got"]["t2"]]),
                         ["0", "1"], out)
        self.assertEqual(out["got"]["t3"], "BrokenBarrierError", out)
        self.assertTrue(out["broken"], out)

    def test_a_handler_that_resets_this_barrier_is_refused(self):
        """Review round 4: a SIGUSR1 handler calling b.reset() while the
        arrival blocked hung the process: the reset waited for the
        handler's own thread. It raises RuntimeError instead."""
        out = run(ACTION, "handler-reset")
        self.assertEqual(out["what"], "RuntimeError", out)
        self.assertIn("signal handler", out["message"], out)
        self.assertLess(out["latency"], BOUND, out)

    def test_a_handler_that_resets_it_from_another_barrier_s_action(self):
        """Review round 43: the handler waits on another barrier whose
        action resets this one: refused as well (one slot for the
        arrival forgot this barrier's, and the reset hung)."""
        out = run(ACTION, "handler-action-reset")
        self.assertEqual(out["what"], "RuntimeError", out)
        self.assertIn("signal handler", out["message"], out)
        self.assertLess(out["latency"], BOUND, out)

    def test_a_child_forked_by_the_handler_may_reset_it(self):
        """Review round 44: the child of a fork() made in that handler is
        in none of its parent's arrivals: its reset was refused too."""
        out = run(ACTION, "handler-fork-reset")
        self.assertEqual(out["child"], 0, out)

    def test_timeout_while_the_previous_phase_s_action_runs(self):
        out = run(ACTION, "timeout")
        self.assertEqual(out["what"], "BrokenBarrierError", out)
        self.assertGreaterEqual(out["took"], 0.5, out)
        self.assertLess(out["took"], 0.5 + BOUND, out)
        self.assertEqual(out["got"]["t3"], "BrokenBarrierError", out)


class ArrivalDuringAResetTests(unittest.TestCase):
    def check_after(self, out):
        # The caller was in no phase: it broke nothing and left nothing.
        self.assertTrue(out["reset_done"], out)
        self.assertFalse(out["broken"], out)
        self.assertEqual(out["n_waiting"], 0, out)

    def test_ctrl_c_while_a_reset_runs(self):
        out = run(RESET, "ctrl-c")
        self.assertEqual(out["what"], "KeyboardInterrupt", out)
        self.assertLess(out["latency"], BOUND, out)
        self.check_after(out)

    def test_timeout_while_a_reset_runs(self):
        out = run(RESET, "timeout")
        # As rally_barrier_timedwait: RALLY_TIMEDOUT, a BrokenBarrierError.
        self.assertEqual(out["what"], "BrokenBarrierError", out)
        self.assertGreaterEqual(out["took"], 0.5, out)
        self.assertLess(out["took"], 0.5 + BOUND, out)
        self.check_after(out)


class ActionWaitingOnItsBarrierTests(unittest.TestCase):
    def test_its_timeout_ends_it(self):
        """As rally_barrier_timedwait from inside the action: the timeout
        breaks the next phase (BrokenBarrierError in the action, which
        raised it on to the caller that ran the action)."""
        out = run(SELF, "timeout", TIMEOUT=1.0)
        self.assertEqual(out["inner"], ["BrokenBarrierError"], out)
        self.assertEqual(out["what"], "BrokenBarrierError", out)
        self.assertGreaterEqual(out["took"], 1.0, out)
        self.assertLess(out["took"], 1.0 + BOUND, out)
        self.assertTrue(out["broken"], out)

    def test_ctrl_c_ends_it(self):
        out = run(SELF, "ctrl-c", TIMEOUT=None)
        self.assertEqual(out["inner"], ["KeyboardInterrupt"], out)
        self.assertEqual(out["what"], "KeyboardInterrupt", out)
        self.assertLess(out["latency"], BOUND, out)


if __name__ == "__main__":
    import runner
    runner.main()
