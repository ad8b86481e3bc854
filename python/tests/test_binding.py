"""rally.Barrier and rally.Event beyond CPython's lock tests: the action's
exception, timeouts as threading takes them, bad arguments, the GIL released
while waiting, Ctrl-C, help text, and more threads than CPUs."""
import errno
import gc
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import unittest
from decimal import Decimal
from fractions import Fraction

import rally

BBE = threading.BrokenBarrierError


def run_threads(n, f):
    """Runs f(0) .. f(n - 1) in n threads and raises, in the caller, the
    first exception a worker raised: unittest sees only the main thread's
    (a worker's assertion would only be printed)."""
    errors = []

    def worker(i):
        try:
            f(i)
        except BaseException as e:
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
        if t.is_alive():
            raise AssertionError("a thread hung")
    if errors:
        raise errors[0]


def run_python(code, timeout=30):
    """Runs code in a fresh interpreter and returns its output: for the
    defects that crashed the interpreter, a crash fails one test, not the
    run."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"exit status {r.returncode}\n{r.stderr}")
    return r.stdout


class HarnessTests(unittest.TestCase):
    def test_a_failing_worker_fails_the_test(self):
        """unittest sees only the main thread's exceptions: run_threads
        hands a worker's on."""
        def f(i):
            if i == 1:
                raise AssertionError("worker 1 failed")
        with self.assertRaisesRegex(AssertionError, "worker 1 failed"):
            run_threads(3, f)


class ActionTests(unittest.TestCase):
    def test_action_exception_breaks_and_propagates(self):
        """As in CPython: the caller that ran the action gets its
        exception, the others BrokenBarrierError, the barrier is broken."""
        def action():
            raise ZeroDivisionError("in the action")
        b = rally.Barrier(3, action=action)
        got = []

        def f(i):
            try:
                b.wait(10)
                got.append("index")
            except ZeroDivisionError:
                got.append("action")
            except BBE:
                got.append("broken")
        run_threads(3, f)
        self.assertEqual(sorted(got), ["action", "broken", "broken"])
        self.assertTrue(b.broken)
        self.assertRaises(BBE, b.wait, 0)
        b.reset()
        self.assertFalse(b.broken)

    def test_action_runs_before_release(self):
        log = []
        b = rally.Barrier(4, action=lambda: log.append("action"))

        def f(i):
            for r in range(50):
                b.wait(10)
                # the action of this phase ran; nobody has completed
                # the next one, which needs this thread
                self.assertEqual(log.count("action"), 2 * r + 1)
                b.wait(10)
        run_threads(4, f)
        self.assertEqual(len(log), 100)

    def test_action_may_abort(self):
        b = rally.Barrier(2)
        b2 = rally.Barrier(2, action=b.abort)
        run_threads(2, lambda i: b2.wait(5))
        self.assertTrue(b.broken)

    def test_more_threads_than_parties_with_a_slow_action(self):
        """The action gives the GIL up (sleep) while callers of the next
        phase arrive: nobody deadlocks, each phase runs it once. (Threads
        do not split the phases evenly, so a fixed number of waits each
        could leave one thread to pair with itself: the 60th action
        aborts instead, and everyone leaves with BrokenBarrierError.)"""
        count, passed = [0], []

        def action():
            count[0] += 1
            time.sleep(0.0005)
            if count[0] == 60:
                b.abort()  # this phase completes, the next one breaks
        b = rally.Barrier(2, action=action)

        def f(i):
            try:
                while True:
                    b.wait(30)
                    passed.append(1)  # atomic, unlike += 1
            except BBE:
                pass
        run_threads(6, f)
        self.assertEqual(count[0], 60)
        self.assertEqual(len(passed), 120)
        self.assertTrue(b.broken)

    def test_reset_from_the_action(self):
        """RuntimeError, which says why (review round 40: it gave the
        message for a signal handler inside the arrival)."""
        b = rally.Barrier(1, action=lambda: b.reset())
        with self.assertRaisesRegex(RuntimeError, "own action"):
            b.wait()
        self.assertTrue(b.broken)

    def test_action_not_callable(self):
        self.assertRaises(TypeError, rally.Barrier, 2, action=42)


class ArgumentTests(unittest.TestCase):
    def test_parties(self):
        for bad in (0, -1, 2**31):
            self.assertRaises(ValueError, rally.Barrier, bad)
        self.assertRaises(TypeError, rally.Barrier, "2")
        self.assertRaises(TypeError, rally.Barrier, 2.0)
        self.assertEqual(rally.Barrier(1).parties, 1)

    def test_open_reports_the_objects_kind(self):
        """Barrier._open (the unpickler) says what the object is, not what
        it was told (review round 2: robust=True on a plain barrier read
        back True)."""
        for made, told in ((False, True), (True, False)):
            b = rally.Barrier(2, robust=made)
            o = rally.Barrier._open(b.name, 2, None, None, told)
            self.assertEqual(o.robust, made)
            o.close()
            b.close()

    def test_timeouts_as_threading_takes_them(self):
        """A negative or zero timeout does not block (CPython accepts it and
        treats it as 0: a lone waiter breaks the barrier); NaN and
        non-numbers are rejected."""
        for t in (0, 0.0, -1, -0.5):
            b, tb = rally.Barrier(2), threading.Barrier(2)
            self.assertRaises(BBE, tb.wait, t)
            self.assertRaises(BBE, b.wait, t)
            self.assertTrue(b.broken and tb.broken)
        e = rally.Event()
        self.assertFalse(e.wait(-1))
        self.assertFalse(e.wait(0))
        self.assertRaises(ValueError, e.wait, float("nan"))
        self.assertRaises(TypeError, e.wait, "1")
        self.assertRaises(ValueError, rally.Barrier(2).wait, float("nan"))
        self.assertRaises(TypeError, rally.Barrier(2).wait, "1")
        self.assertRaises(TypeError, rally.Barrier, 2, None, "1")
        self.assertFalse(e.wait(timeout=0.01))  # keyword, as threading

    def test_a_timeout_cannot_break_a_phase_whose_action_runs(self):
        """threading.Barrier's rule: once every party has arrived, the
        phase completes whatever the waiters' timeouts (the action here
        outlasts the first waiter's)."""
        b = rally.Barrier(2, action=lambda: time.sleep(0.5))

        def f(i):
            if i == 0:
                self.assertEqual(b.wait(0.3), 0)
            else:
                time.sleep(0.1)
                self.assertEqual(b.wait(), 1)
        run_threads(2, f)
        self.assertFalse(b.broken)

    def test_timed_wait_is_not_early(self):
        b = rally.Barrier(2)
        t0 = time.monotonic()
        self.assertRaises(BBE, b.wait, 0.2)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        e = rally.Event()
        t0 = time.monotonic()
        self.assertFalse(e.wait(0.2))
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)

    def test_timeouts_side_by_side_with_threading(self):
        """Each value as threading's own classes take it, in a wait that
        blocks (a lone barrier waiter, an event not set; a timer ends it)
        and in one that does not (an event set): the same outcome or the
        same exception. NaN, rejected, is a difference on purpose."""
        values = [math.inf, -math.inf, 1e300, -1e300, 2**1000, -2**1000,
                  2**1100, -2**1100, 10**300, 2**63, 9.3e9,
                  threading.TIMEOUT_MAX, threading.TIMEOUT_MAX * 1.001,
                  Decimal("0.1"), Decimal("-1"), Fraction(1, 10),
                  Fraction(-1, 10), "1", object(), True, -1, -0.5, 0]

        def outcome(make, kind, value):
            obj = make()
            if kind == "set":
                obj.set()
            end = threading.Timer(0.2, obj.abort if kind == "barrier"
                                  else obj.set)
            end.start()
            t0 = time.monotonic()
            try:
                got = ("returned", obj.wait(value))
            except Exception as e:
                got = ("raised", type(e))
            end.cancel()
            end.join()
            return got + (time.monotonic() - t0 > 0.1,
                          getattr(obj, "broken", None))
        for kind, ours, theirs in [
                ("barrier", lambda: rally.Barrier(2),
                 lambda: threading.Barrier(2)),
                ("event", rally.Event, threading.Event),
                ("set", rally.Event, threading.Event)]:
            for v in values:
                with self.subTest(kind=kind, timeout=repr(v)[:24]):
                    self.assertEqual(outcome(ours, kind, v),
                                     outcome(theirs, kind, v))

    def test_a_barrier_checks_its_timeouts_as_given(self):
        """The difference on purpose: threading looks at a timeout only
        once a wait blocks, rally as it is given (it could not withdraw an
        arrival whose timeout turns out wrong)."""
        self.assertEqual(threading.Barrier(1, timeout=math.inf).wait(), 0)
        self.assertRaises(OverflowError, rally.Barrier, 1, timeout=math.inf)
        self.assertRaises(OverflowError, rally.Barrier(1).wait, math.inf)
        self.assertRaises(TypeError, rally.Barrier(1).wait, Decimal(1))

    def test_the_longest_timeout_never_overflows_the_deadline(self):
        """threading.TIMEOUT_MAX, 292 years: the deadline saturates."""
        b = rally.Barrier(2, timeout=threading.TIMEOUT_MAX)
        run_threads(2, lambda i: b.wait())
        self.assertFalse(b.broken)
        run_threads(2, lambda i: b.wait(threading.TIMEOUT_MAX))
        self.assertFalse(b.broken)
        e = rally.Event()
        threading.Timer(0.1, e.set).start()
        self.assertTrue(e.wait(threading.TIMEOUT_MAX))

    def test_help_reads_like_the_contract(self):
        for text in (rally.Barrier.__doc__, rally.Barrier.wait.__doc__,
                     rally.Barrier.reset.__doc__, rally.Event.__doc__,
                     rally.Event.wait.__doc__):
            self.assertGreater(len(text), 100)
        self.assertIn("BrokenBarrierError", rally.Barrier.wait.__doc__)
        self.assertIn("GIL", rally.Barrier.wait.__doc__)
        self.assertTrue(issubclass(rally.OwnerDeadError, BBE))
        self.assertIs(rally.BrokenBarrierError, BBE)


class GilTests(unittest.TestCase):
    def test_waits_release_the_gil(self):
        """While one thread waits (barrier or event), another runs Python
        code: it counts well past what a GIL-holding wait would allow."""
        for kind in ("barrier", "event"):
            b, e = rally.Barrier(2), rally.Event()
            done = threading.Event()
            count = [0]

            def spinner():
                while not done.is_set():
                    count[0] += 1
            t = threading.Thread(target=spinner)
            t.start()
            try:
                if kind == "barrier":
                    self.assertRaises(BBE, b.wait, 0.3)
                else:
                    self.assertFalse(e.wait(0.3))
            finally:
                done.set()
                t.join()
            self.assertGreater(count[0], 10000, kind)

    def test_a_wait_for_a_reset_to_end_releases_the_gil(self):
        """A wait that arrives while a reset runs waits for the reset to
        end; the reset waits for the callers of the phase it cancels to
        leave. A C caller of another process, stopped inside its wait,
        holds the reset (until SIGCONT): meanwhile this process's other
        threads must run."""
        import ctypes
        b = rally.Barrier(2)
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import ctypes, rally._rally as m
            lib = ctypes.CDLL(m.__file__)
            h = ctypes.c_void_p()
            assert lib.rally_barrier_open(ctypes.byref(h), b"{b.name}",
                                          0, None, 0, 0) == 0
            print(lib.rally_barrier_wait(h))
            """)], stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while b.n_waiting < 1 and time.monotonic() < deadline:
                time.sleep(0.001)
            self.assertEqual(b.n_waiting, 1, "the C caller is not waiting")
            child.send_signal(signal.SIGSTOP)
            while open(f"/proc/{child.pid}/stat").read().split()[2] != "T":
                time.sleep(0.001)
            resetter = threading.Thread(target=b.reset)
            resetter.start()
            while not b.broken:  # the reset has claimed the barrier
                time.sleep(0.001)
            # Should the GIL be held, nothing in this process could send
            # SIGCONT: a process of its own does, in 3 s.
            rescuer = subprocess.Popen(
                ["sh", "-c", f"sleep 3; kill -CONT {child.pid} 2>/dev/null"])
            result = []
            waiter = threading.Thread(
                target=lambda: result.append(b.wait(30)))
            # The waiter waits for the reset; it must not hold the GIL
            # (start() itself returns only once it may run again).
            gaps, last = [], time.monotonic()
            waiter.start()
            for _ in range(20):
                time.sleep(0.02)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
            child.send_signal(signal.SIGCONT)
            resetter.join(10)
            self.assertFalse(resetter.is_alive())
            b.wait(10)  # the waiter's partner in the fresh phase
            waiter.join(10)
            self.assertEqual(len(result), 1)
            self.assertLess(max(gaps), 0.3, "the GIL was held")
        finally:
            child.send_signal(signal.SIGCONT)
            out, _ = child.communicate(timeout=10)
        rescuer.kill()
        rescuer.wait()
        self.assertEqual(out.strip(), str(-errno.EPIPE), "RALLY_BROKEN")

    def test_more_threads_than_cpus(self):
        n = 4 * (os.cpu_count() or 1)
        b = rally.Barrier(n)
        seen = [[0] * n for _ in range(200)]

        def f(i):
            for r in range(200):
                seen[r][b.wait(30)] += 1
        run_threads(n, f)
        self.assertTrue(all(row == [1] * n for row in seen))


class EventTests(unittest.TestCase):
    def set_and_clear_while_the_waiter_is_off(self, Event, busy):
        """A waiter blocks; this thread, holding the GIL all along (a long
        switch interval), runs Python for `busy` seconds and then sets and
        clears the event at once. The waiter was blocked when the flag was
        set: it returns True, though it ran only after the clear."""
        e = Event()
        got = []
        t = threading.Thread(target=lambda: got.append(e.wait(5)))
        old = sys.getswitchinterval()
        sys.setswitchinterval(1.0)
        try:
            t.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < busy:
                pass
            e.set()
            e.clear()
        finally:
            sys.setswitchinterval(old)
        t.join(10)
        return got

    def test_set_then_clear_wakes_a_waiter_that_is_not_running(self):
        # Less than a 50 ms slice of rally's wait, and more: the set
        # comes while the waiter sleeps, or while it waits for the GIL
        # between two slices.
        for busy in (0.02, 0.08):
            for Event in (threading.Event, rally.Event):
                self.assertEqual(
                    self.set_and_clear_while_the_waiter_is_off(Event, busy),
                    [True], (Event, busy))

    def test_a_set_from_another_process_between_slices(self):
        """The same with the set and the clear in another process, while
        this process holds the GIL past the end of a slice."""
        import pickle
        e, done = rally.Event(), rally.Event()
        got = []
        t = threading.Thread(target=lambda: got.append(e.wait(5)))
        code = ("import pickle, sys, time\n"
                "e, done = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
                "time.sleep(0.08)\n"
                "e.set(); e.clear(); done.set()\n")
        old = sys.getswitchinterval()
        sys.setswitchinterval(1.0)
        try:
            t.start()
            p = subprocess.Popen([sys.executable, "-c", code,
                                  pickle.dumps((e, done)).hex()])
            t0 = time.monotonic()
            # Holds the GIL (no switch in a second, no call that drops it)
            # until the other process is done.
            while not done.is_set() and time.monotonic() - t0 < 10:
                pass
        finally:
            sys.setswitchinterval(old)
        t.join(10)
        self.assertEqual((p.wait(10), got), (0, [True]))


class SubclassTests(unittest.TestCase):
    def test_subclass_init_with_other_arguments(self):
        """As with threading's classes (checked side by side), a
        subclass's __init__ takes its own arguments and passes on what the
        base needs: the arguments are parsed by __init__, not __new__."""
        for base in (threading.Barrier, rally.Barrier):
            class B(base):
                def __init__(self, n, tag):
                    super().__init__(n, timeout=5)
                    self.tag = tag
            b = B(1, "x")
            self.assertEqual((b.parties, b.tag, b.wait()), (1, "x", 0))

            class B1(base):
                def __init__(self, n):
                    super().__init__(n)
            self.assertEqual(B1(2).parties, 2)
        for base in (threading.Event, rally.Event):
            class E(base):
                def __init__(self, flag):
                    super().__init__()
                    if flag:
                        self.set()
            self.assertTrue(E(True).is_set())
            self.assertFalse(E(False).wait(0))
        self.assertRaises(TypeError, rally.Barrier)
        self.assertRaises(TypeError, rally.Event, 1)

    def test_subclass_that_skips_the_base_init(self):
        """Not initialised: every call raises ValueError, nothing crashes;
        and __init__ cannot replace a barrier or event in use."""
        class B(rally.Barrier):
            def __init__(self):
                pass

        class E(rally.Event):
            def __init__(self):
                pass
        b, e = B(), E()
        for call in (b.wait, b.reset, b.abort, e.wait, e.set, e.clear,
                     e.is_set, b.__reduce__, e.__reduce__):
            self.assertRaises(ValueError, call)
        self.assertFalse(b.broken)
        self.assertEqual(b.n_waiting, 0)
        self.assertIn("not initialised", repr(b))
        self.assertIn("not initialised", repr(e))
        b.close()
        e.close()
        b, e = rally.Barrier(2), rally.Event()
        self.assertRaises(RuntimeError, b.__init__, 3)
        self.assertRaises(RuntimeError, e.__init__)
        self.assertEqual(b.parties, 2)

    def test_repr_with_a_module_that_is_not_a_str(self):
        """The class's __module__ is whatever the class says; threading's
        repr formats it with str()."""
        out = run_python("""
            import rally
            class B(rally.Barrier):
                __module__ = 42
            class E(rally.Event):
                __module__ = 42
            print(repr(B(2)))
            print(repr(E()))
        """)
        b, e = out.splitlines()
        self.assertRegex(b, r"^<42\.B at 0x[0-9a-f]+: waiters=0/2>$")
        self.assertRegex(e, r"^<42\.E at 0x[0-9a-f]+: unset>$")


class CloseTests(unittest.TestCase):
    """close() while calls are in flight on the object: they go on on the
    barrier or event (the memory stays until the last leaves); later calls
    raise ValueError. Each runs in a child: the defect was a segfault."""

    def test_close_while_another_thread_waits_on_the_barrier(self):
        out = run_python("""
            import os, pickle, threading, time, rally
            b = rally.Barrier(2)
            path = f"/dev/shm/rally.b.{b.name}"
            other = pickle.loads(pickle.dumps(b))  # a second handle
            def closer():
                time.sleep(0.2)
                b.close()  # the main thread waits on b
                print("closed", b.closed, os.path.exists(path), repr(b))
                time.sleep(0.2)
                other.wait(5)  # completes the main thread's phase
            t = threading.Thread(target=closer)
            t.start()
            print("index", b.wait(5))
            t.join()
            try:
                b.wait(0)
            except ValueError as e:
                print("then", e)
        """)
        self.assertRegex(out, r"^closed True False <rally\.Barrier at "
                              r"0x[0-9a-f]+: closed>\n"
                              r"index 0\nthen the barrier is closed\n$")

    def test_close_from_the_action(self):
        out = run_python("""
            import threading, rally
            b = rally.Barrier(2, action=lambda: b.close())
            got = []
            t = threading.Thread(target=lambda: got.append(b.wait(5)))
            t.start()
            got.append(b.wait(5))
            t.join()
            print(sorted(got), b.closed)
            c = rally.Barrier(1, action=lambda: c.close())
            print(c.wait(), c.closed)
        """)
        self.assertEqual(out, "[0, 1] True\n0 True\n")

    def test_close_while_another_thread_waits_on_the_event(self):
        out = run_python("""
            import pickle, threading, time, rally
            e = rally.Event()
            other = pickle.loads(pickle.dumps(e))
            def closer():
                time.sleep(0.2)
                e.close()
                print("closed", e.closed)
                time.sleep(0.2)
                other.set()
            t = threading.Thread(target=closer)
            t.start()
            print("waited", e.wait(5))
            t.join()
            try:
                e.is_set()
            except ValueError as x:
                print("then", x)
        """)
        self.assertEqual(out, "closed True\nwaited True\n"
                              "then the event is closed\n")

    def test_a_call_after_daemon_threads_ended_inside_theirs(self):
        """Daemon threads waiting at exit end inside their waits as they
        wake during the interpreter's finalization: their calls never
        leave. A call made after that (here from a __del__) must not
        touch what those threads left (it was a segfault, most runs)."""
        for _ in range(3):
            out = run_python("""
                import threading, time, rally
                e, e2 = rally.Event(), rally.Event()
                for _ in range(30):
                    threading.Thread(target=e.wait, daemon=True).start()
                time.sleep(0.1)
                class Late:
                    def __init__(self, sleep, e2):
                        self.sleep, self.e2 = sleep, e2
                    def __del__(self):
                        self.sleep(0.3)  # the daemon threads end
                        print("late wait", self.e2.wait(0))
                late = Late(time.sleep, e2)
            """)
            self.assertEqual(out, "late wait False\n")


class ForkTests(unittest.TestCase):
    """A fork()ed child inherits the calls in flight of the parent's
    threads, but only the forking thread."""

    def test_close_in_a_child_forked_inside_a_wait(self):
        """The main thread forks from a signal handler inside its own wait,
        while another thread waits too. In the child, close() keeps the
        memory while that wait of the main thread goes on (without it, a
        segfault), and the wait's end lets it go: the other thread's wait,
        not there, must not keep it."""
        out = run_python("""
            import os, signal, threading, time, rally
            parent = os.getpid()
            e = rally.Event()
            def mapped():
                with open("/proc/self/maps") as f:
                    return sum(e.name in line for line in f)
            def fork(*args):
                if os.fork() == 0:
                    e.close()
                    print("child: closed", e.closed, "mapped", mapped(),
                          flush=True)
                    return  # to the wait, in the child
            signal.signal(signal.SIGALRM, fork)
            t = threading.Thread(target=e.wait, args=(10,))
            t.start()
            time.sleep(0.05)
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            waited = e.wait(0.5)
            if os.getpid() != parent:
                print("child: waited", waited, "mapped", mapped(),
                      flush=True)
                os._exit(0)
            os.wait()
            e.set()
            t.join()
            print("parent: waited", waited)
        """)
        self.assertEqual(out, "child: closed True mapped 1\n"
                              "child: waited False mapped 0\n"
                              "parent: waited False\n")


class GcTests(unittest.TestCase):
    def test_a_cycle_through_the_action_is_collected(self):
        """An action that refers to its barrier makes a cycle: the
        collector must see it, and the barrier's name goes with it."""
        def make():
            b = rally.Barrier(2, action=lambda: b.abort())
            return f"/dev/shm/rally.b.{b.name}"
        gc.collect()
        path = make()
        self.assertTrue(os.path.exists(path))
        gc.collect()
        self.assertFalse(os.path.exists(path))


CTRL_C_CHILD = textwrap.dedent("""
    import sys, threading, time, rally
    kind = sys.argv[1]
    b, e = rally.Barrier(2), rally.Event()
    print("waiting", flush=True)
    t0 = time.monotonic()
    try:
        b.wait() if kind == "barrier" else e.wait()
        print("returned")
    except KeyboardInterrupt:
        print(f"interrupted {time.monotonic() - t0:.3f} broken={b.broken}")
""")


class CtrlCTests(unittest.TestCase):
    def ctrl_c(self, kind):
        p = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD, kind],
                             stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ))
        self.assertEqual(p.stdout.readline().strip(), "waiting")
        time.sleep(0.3)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
        latency = time.monotonic() - t0
        self.assertTrue(out.startswith("interrupted"), out)
        self.assertLess(latency, 0.5)
        return out

    def test_ctrl_c_ends_a_barrier_wait_and_breaks_it(self):
        self.assertIn("broken=True", self.ctrl_c("barrier"))

    def test_ctrl_c_ends_an_event_wait(self):
        self.ctrl_c("event")


if __name__ == "__main__":
    import runner
    runner.main()
