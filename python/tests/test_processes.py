"""rally.Barrier and rally.Event across multiprocessing processes, with the
fork and the spawn start methods: pickled to their shared names, the creator
owning the name, and robust barriers that break when a child is killed."""
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import unittest

import rally

N = 4


def _cross(barrier, rounds, out):
    """Crosses `barrier` `rounds` times, recording each index per round."""
    for r in range(rounds):
        out.put((r, barrier.wait()))


def _count_action_child(barrier, counter, rounds):
    for _ in range(rounds):
        barrier.wait()


def _bump(counter):
    with counter.get_lock():
        counter.value += 1


class _Bump:
    """A picklable action: counts completed phases in shared memory."""

    def __init__(self, counter):
        self.counter = counter

    def __call__(self):
        _bump(self.counter)


def _event_child(ready, go, out):
    ready.set()
    out.put(go.wait(30))


def _robust_child(barrier, mode):
    barrier.wait()  # phase 1: everyone
    if mode == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    try:
        barrier.wait(30)
        sys.exit(0)
    except rally.OwnerDeadError:
        sys.exit(3)
    except threading.BrokenBarrierError:
        sys.exit(4)


def _robust_finisher(barrier, rounds):
    for _ in range(rounds):
        barrier.wait(30)


def _phase_of_threads(barrier, n):
    """A phase crossed by n threads of this process: the exceptions they
    raised, [] if none."""
    errors = []

    def cross():
        try:
            barrier.wait(30)
        except Exception as e:
            errors.append(e)
    ts = [threading.Thread(target=cross) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return [type(e).__name__ for e in errors]


class ProcessTests:
    method = None

    def setUp(self):
        self.ctx = multiprocessing.get_context(self.method)

    def start(self, target, *args):
        p = self.ctx.Process(target=target, args=args)
        p.start()
        return p

    def test_barrier_across_processes(self):
        """N processes, 20 rounds: each round's indices are 0..N-1."""
        b = rally.Barrier(N)
        out = self.ctx.Queue()
        ps = [self.start(_cross, b, 20, out) for _ in range(N)]
        seen = {}
        for _ in range(20 * N):
            r, i = out.get(timeout=60)
            seen.setdefault(r, []).append(i)
        for p in ps:
            p.join(30)
            self.assertEqual(p.exitcode, 0)
        for r in range(20):
            self.assertEqual(sorted(seen[r]), list(range(N)))
        self.assertFalse(b.broken)

    def test_action_runs_once_per_phase_in_some_process(self):
        counter = self.ctx.Value("i", 0)
        b = rally.Barrier(N, action=_Bump(counter))
        ps = [self.start(_count_action_child, b, counter, 25)
              for _ in range(N)]
        for p in ps:
            p.join(60)
            self.assertEqual(p.exitcode, 0)
        self.assertEqual(counter.value, 25)

    def test_parent_and_children_mixed(self):
        b = rally.Barrier(N)
        out = self.ctx.Queue()
        ps = [self.start(_cross, b, 5, out) for _ in range(N - 1)]
        mine = [b.wait(30) for _ in range(5)]
        for p in ps:
            p.join(30)
            self.assertEqual(p.exitcode, 0)
        got = [out.get(timeout=10) for _ in range(5 * (N - 1))]
        for r in range(5):
            idx = sorted([i for rr, i in got if rr == r] + [mine[r]])
            self.assertEqual(idx, list(range(N)))

    def test_event_across_processes(self):
        ready, go = rally.Event(), rally.Event()
        out = self.ctx.Queue()
        ps = [self.start(_event_child, ready, go, out) for _ in range(3)]
        self.assertTrue(ready.wait(60))
        time.sleep(0.05)
        go.set()
        self.assertEqual([out.get(timeout=30) for _ in ps], [True] * 3)
        for p in ps:
            p.join(30)

    def test_robust_killed_child_breaks_the_barrier(self):
        """A child SIGKILLed mid-phase: the others get OwnerDeadError
        within a fraction of a second instead of hanging."""
        b = rally.Barrier(3, robust=True)
        victim = self.start(_robust_child, b, "die")
        survivor = self.start(_robust_child, b, "live")
        b.wait(60)  # phase 1 with both children
        t0 = time.monotonic()
        with self.assertRaises(rally.OwnerDeadError):
            b.wait(30)
        self.assertLess(time.monotonic() - t0, 2.0)
        victim.join(30)
        survivor.join(30)
        self.assertEqual(victim.exitcode, -signal.SIGKILL)
        self.assertEqual(survivor.exitcode, 3)
        self.assertTrue(b.broken)
        b.reset()
        self.assertFalse(b.broken)

    def test_robust_children_that_exit_normally_break_nothing(self):
        b = rally.Barrier(2, robust=True)
        p = self.start(_robust_finisher, b, 10)
        for _ in range(10):
            b.wait(30)
        p.join(30)
        self.assertEqual(p.exitcode, 0)
        time.sleep(0.3)  # past robust detection: still whole
        self.assertFalse(b.broken)
        p = self.start(_robust_finisher, b, 3)
        for _ in range(3):
            b.wait(30)
        p.join(30)
        self.assertEqual(p.exitcode, 0)

    def test_robust_child_started_while_a_thread_waits(self):
        """A child started while another thread of the parent is inside a
        wait (fork: the child inherits that call, but not the thread that
        makes it) still stops taking part as it exits normally."""
        b = rally.Barrier(2, robust=True)
        t = threading.Thread(target=b.wait, args=(30,))
        t.start()
        while b.n_waiting < 1:
            time.sleep(0.001)
        p = self.start(_robust_finisher, b, 1)  # completes t's phase
        p.join(30)
        t.join(30)
        self.assertEqual(p.exitcode, 0)
        time.sleep(0.3)  # past robust detection: still whole
        phases = [_phase_of_threads(b, 2) for _ in range(2)]
        self.assertEqual((phases, b.broken), ([[], []], False))


class ForkTests(ProcessTests, unittest.TestCase):
    method = "fork"


class SpawnTests(ProcessTests, unittest.TestCase):
    method = "spawn"


class NameTests(unittest.TestCase):
    def shm(self, obj):
        kind = "b" if isinstance(obj, rally.Barrier) else "e"
        return f"/dev/shm/rally.{kind}.{obj.name}"

    def test_pickles_to_the_name(self):
        b = rally.Barrier(3, timeout=1.5)
        c = pickle.loads(pickle.dumps(b))
        self.assertEqual((c.name, c.parties), (b.name, 3))
        e = rally.Event()
        f = pickle.loads(pickle.dumps(e))
        e.set()
        self.assertTrue(f.is_set())
        c.abort()
        self.assertTrue(b.broken)

    def test_creator_removes_the_name(self):
        b, e = rally.Barrier(2), rally.Event()
        paths = [self.shm(b), self.shm(e)]
        self.assertTrue(all(os.path.exists(p) for p in paths))
        c = pickle.loads(pickle.dumps(b))
        c.close()  # not the creator: the name stays
        self.assertTrue(os.path.exists(paths[0]))
        del b, e
        self.assertFalse(any(os.path.exists(p) for p in paths))

    def test_close(self):
        b = rally.Barrier(2)
        path = self.shm(b)
        b.close()
        b.close()
        self.assertTrue(b.closed)
        self.assertFalse(os.path.exists(path))
        for call in (b.wait, b.reset, b.abort):
            self.assertRaises(ValueError, call)
        self.assertIn("closed", repr(b))
        e = rally.Event()
        e.close()
        self.assertRaises(ValueError, e.wait)

    def test_exit_with_shared_objects_alive(self):
        """A creator that shared its objects and exits with them alive
        removes the names, and the resource tracker finds nothing to clean
        up (no warning)."""
        import subprocess
        code = ("import multiprocessing as mp, rally, sys\n"
                "def f(b, e): b.wait(10); e.set()\n"
                "if __name__ == '__main__':\n"
                "    b, e = rally.Barrier(2), rally.Event()\n"
                "    p = mp.get_context('spawn').Process(target=f, args=(b, e))\n"
                "    p.start(); b.wait(10); e.wait(10); p.join()\n"
                "    print(b.name, e.name)\n")
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".py") as script:
            script.write(code)
            script.flush()
            r = subprocess.run([sys.executable, script.name],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("leaked", r.stderr)
        self.assertNotIn("Warning", r.stderr)
        bname, ename = r.stdout.split()
        self.assertFalse(os.path.exists(f"/dev/shm/rally.b.{bname}"))
        self.assertFalse(os.path.exists(f"/dev/shm/rally.e.{ename}"))

    def run_script(self, code, *args, **kw):
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            stdout=subprocess.PIPE, text=True, **kw)

    def assertGone(self, *paths, within=10.0):
        """The resource tracker removes names once it notices that every
        process holding its pipe ended: poll for that."""
        deadline = time.monotonic() + within
        while any(os.path.exists(p) for p in paths):
            if time.monotonic() > deadline:
                for p in paths:  # leave no garbage behind a failure
                    if os.path.exists(p):
                        rally._unlink(p[len("/dev/shm/rally.")], p[17:])
                self.fail(f"still there: {paths}")
            time.sleep(0.05)

    def test_killed_creator_of_a_fork_child_leaves_no_name(self):
        """With the fork start method the child inherits the barrier (no
        pickling): the fork itself makes the name reachable from another
        process, and the resource tracker must know it."""
        p = self.run_script("""
            import multiprocessing as mp, os, time, rally
            def child(b, creator):
                while os.getppid() == creator:  # until it is killed
                    time.sleep(0.05)
            if __name__ == "__main__":
                b = rally.Barrier(2)
                mp.get_context("fork").Process(
                    target=child, args=(b, os.getpid())).start()
                print(b.name, flush=True)
                time.sleep(60)
        """, stderr=subprocess.DEVNULL)
        path = f"/dev/shm/rally.b.{p.stdout.readline().strip()}"
        self.assertTrue(os.path.exists(path))
        p.kill()
        p.wait()
        p.stdout.close()
        self.assertGone(path)

    def test_names_of_a_fork_child_that_ends_by_os_exit(self):
        """A fork()ed child's objects are not freed when it ends through
        os._exit (as multiprocessing's children do): their names go
        through the resource tracker — at once if the child's tracker is
        its own, once the parent exits too if it shares the parent's."""
        code = """
            import os, sys, rally
            keep = [rally.Event()] if sys.argv[1] == "parent-owns" else []
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                b = rally.Barrier(2)
                os.write(w, b.name.encode())
                os._exit(0)
            os.close(w)
            name = os.read(r, 100).decode()
            os.waitpid(pid, 0)
            print(name, *[e.name for e in keep], flush=True)
            if not keep:
                sys.stdin.read()  # alive until the test is done
        """
        p = self.run_script(code, "none", stdin=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
        name = p.stdout.readline().strip()
        self.assertGone(f"/dev/shm/rally.b.{name}")  # the parent lives
        p.communicate("")
        p = self.run_script(code, "parent-owns", stderr=subprocess.DEVNULL)
        bname, ename = p.communicate()[0].split()
        self.assertEqual(p.returncode, 0)
        self.assertGone(f"/dev/shm/rally.b.{bname}",
                        f"/dev/shm/rally.e.{ename}")

    def test_threads_only_programs_start_no_resource_tracker(self):
        r = subprocess.run([sys.executable, "-c", textwrap.dedent("""
            import subprocess, sys, threading, rally
            b, e = rally.Barrier(2), rally.Event()
            t = threading.Thread(target=lambda: (b.wait(10), e.set()))
            t.start()
            b.wait(10)
            e.wait(10)
            t.join()
            subprocess.run(["true"])  # a fork without Python's hooks
            b.close()
            print("multiprocessing.resource_tracker" in sys.modules)
        """)], capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "False\n"), r.stderr)

    def test_unpickling_a_removed_name(self):
        b = rally.Barrier(2)
        data = pickle.dumps(b)
        b.close()
        with self.assertRaises(FileNotFoundError):
            pickle.loads(data)


if __name__ == "__main__":
    import runner
    runner.main()
