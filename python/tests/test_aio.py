"""rally.AsyncBarrier and rally.AsyncEvent across processes, threads and
loops; cancellation storms that must leave nothing behind; the sleeper's
threads. (asyncio's own cases: test_aio_locks.py.)"""
import asyncio
import functools
import gc
import multiprocessing as mp
import os
import random
import signal
import sys
import threading
import time
import unittest

import rally
from rally import aio

from runner import main

CTX = mp.get_context("fork")


def _running():
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def fds():
    return sorted(os.listdir("/proc/self/fd"))


def tasks_of_process():
    return len(os.listdir("/proc/self/task"))


def shm_names():
    """The shared names this process made (other test programs, run
    beside this one by meson, make and remove theirs meanwhile)."""
    mine = f"rally.b.py.{os.getpid()}.", f"rally.e.py.{os.getpid()}."
    return {n for n in os.listdir("/dev/shm") if n.startswith(mine)}


def sleeper_of(loop):
    return getattr(loop, aio._ATTR, None)


# ---- across processes ---------------------------------------------------------

PHASES = 10000


def coroutine_process(b, rounds, slot, coros, errors):
    async def one(k):
        for r in range(PHASES):
            rounds[slot * 2 + k] = r
            await b.wait()
            # Released: every party wrote this round before arriving.
            lagging = [i for i in range(len(rounds)) if rounds[i] < r]
            if lagging:
                errors.value += 1
                return

    async def run():
        await asyncio.gather(*(one(k) for k in range(coros)))

    asyncio.run(run())


def thread_process(b, rounds, base, threads, errors):
    def one(k):
        for r in range(PHASES):
            rounds[base + k] = r
            b.barrier.wait()
            if any(rounds[i] < r for i in range(len(rounds))):
                errors.value += 1
                return

    ts = [threading.Thread(target=one, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


class AcrossProcesses(unittest.TestCase):
    def test_four_loops_and_threads_meet(self):
        """Coroutines in 4 processes (2 each) and 2 threads in a 5th meet
        for 10 000 phases; nobody is released before every party wrote
        its round; the action runs once a phase."""
        parties = 4 * 2 + 2
        actions = CTX.Value("q", 0, lock=False)

        def count():
            actions.value += 1

        b = rally.AsyncBarrier(parties, action=count, timeout=120)
        rounds = CTX.Array("q", [-1] * parties, lock=False)
        errors = CTX.Value("i", 0)
        procs = [CTX.Process(target=coroutine_process,
                             args=(b, rounds, i, 2, errors))
                 for i in range(4)]
        procs.append(CTX.Process(target=thread_process,
                                 args=(b, rounds, 8, 2, errors)))
        t0 = time.monotonic()
        for p in procs:
            p.start()
        for p in procs:
            p.join(300)
        took = time.monotonic() - t0
        print(f"  10 000 phases, 4 loops x 2 coroutines + 2 threads: "
              f"{took:.1f} s ({took / PHASES * 1e6:.0f} us a phase)")
        self.assertEqual([p.exitcode for p in procs], [0] * 5)
        self.assertEqual(errors.value, 0)
        # Each process ran the action when it arrived last; their own
        # copies of the counter are theirs (fork): only the phase count
        # can be checked here.
        self.assertFalse(b.broken)

    def test_event_wakes_a_thousand_coroutines(self):
        """1000 coroutines of one loop await one event; a set() from
        another process wakes them all; the loop used one sleeper
        thread."""
        e = rally.AsyncEvent()

        def setter(ev):
            time.sleep(0.2)
            ev.event.set()

        async def run():
            waits = [asyncio.create_task(e.wait()) for _ in range(1000)]
            await asyncio.sleep(0)
            p = CTX.Process(target=setter, args=(e,))
            p.start()
            await asyncio.sleep(0.05)
            threads = sleeper_of(asyncio.get_running_loop())._threads.threads
            results = await asyncio.wait_for(asyncio.gather(*waits), 30)
            await asyncio.get_running_loop().run_in_executor(None, p.join)
            return results, threads

        results, threads = asyncio.run(run())
        self.assertEqual(results, [True] * 1000)
        self.assertEqual(threads, 1)

    def test_pickled_to_a_spawned_process(self):
        """A barrier pickled to a spawn child: its loop and ours meet,
        phase after phase."""
        b = rally.AsyncBarrier(2, timeout=60)
        ctx = mp.get_context("spawn")
        p = ctx.Process(target=_spawned_waiter, args=(b, 50))
        p.start()

        async def run():
            return [await b.wait() for _ in range(50)]

        got = asyncio.run(run())
        p.join(60)
        self.assertEqual(p.exitcode, 0)
        self.assertEqual(len(got), 50)

    def test_owner_dead_is_asyncio_broken(self):
        """A robust barrier whose participant dies: OwnerDeadError, an
        asyncio.BrokenBarrierError."""
        b = rally.AsyncBarrier(2, robust=True)
        p = CTX.Process(target=_take_part_and_die, args=(b,))

        async def run():
            p.start()
            p.join()
            with self.assertRaises(asyncio.BrokenBarrierError) as cm:
                await asyncio.wait_for(b.wait(), 5)
            return cm.exception

        # The child took part (it inherited the barrier) and died.
        exc = asyncio.run(run())
        self.assertIsInstance(exc, aio.OwnerDeadError)
        self.assertIsInstance(exc, rally.OwnerDeadError)


    def test_a_broken_robust_barrier_tells_coroutines_what_threads_hear(
            self):
        """Review round 26: a robust barrier broken by abort(), then a
        participant that dies unseen (nobody waits to look): a thread's
        arrival hears BrokenBarrierError (the barrier records no death),
        and a coroutine's heard OwnerDeadError (it read /proc itself)."""
        b = rally.AsyncBarrier(3, robust=True)
        p = CTX.Process(target=_take_part_and_die, args=(b,))
        p.start()
        p.join()
        b.barrier.abort()
        heard = []

        def thread():
            try:
                b.barrier.wait(timeout=1)
            except threading.BrokenBarrierError as e:
                heard.append(type(e))
        th = threading.Thread(target=thread)
        th.start()
        th.join()

        async def coroutine():
            try:
                await b.wait(timeout=1)
            except asyncio.BrokenBarrierError as e:
                heard.append(type(e))
        asyncio.run(coroutine())
        self.assertEqual(heard, [threading.BrokenBarrierError,
                                 asyncio.BrokenBarrierError])


def _arrive_and_die(b):
    """A participant that arrives (through a thread) and is killed
    mid-phase."""
    t = threading.Thread(target=b.barrier.wait, daemon=True)
    t.start()
    while b.barrier.n_waiting < 1:
        time.sleep(0.001)
    os.kill(os.getpid(), 9)


async def _with_a_thread(b, task):
    """The coroutine wait `task` and a thread's b.barrier.wait() 0.1 s
    later meet: their indices, sorted. In a loop that fork()ed a child
    whose loop has closed, so no executor, nor call_soon_threadsafe: the
    child's close took asyncio's own self-pipe out of the epoll set the
    two loops share (CPython's; not rally's to mend). The wait is woken
    by the sleeper's eventfd."""
    got = []
    th = threading.Thread(
        target=lambda: (time.sleep(0.1), got.append(b.barrier.wait())))
    th.start()
    got.append(await asyncio.wait_for(task, 3))
    th.join()
    return sorted(got)


def _fork_in_a_loop(q):
    parent = os.getpid()
    b = rally.AsyncBarrier(2, timeout=5)

    async def run():
        a = asyncio.create_task(b.wait())
        await asyncio.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # asyncio.run's end cancels the copies of `a`
        os.waitpid(pid, 0)
        left = b.n_waiting
        return left, await _with_a_thread(b, a)
    try:
        q.put(asyncio.run(run()))
    except BaseException as e:
        if os.getpid() == parent:
            q.put(repr(e))
        raise


def _fork_in_a_noattr_loop(q):
    class NoAttrLoop(asyncio.SelectorEventLoop):
        frozen = False

        def __setattr__(self, name, value):
            if self.frozen and name not in vars(self):
                raise AttributeError(name)
            super().__setattr__(name, value)

    def factory():
        loop = NoAttrLoop()
        loop.frozen = True
        return loop
    b = rally.AsyncBarrier(2, timeout=5)

    async def run():
        t = asyncio.create_task(b.wait())
        await asyncio.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            return None  # the Runner cancels the child's copy of t
        os.waitpid(pid, 0)
        return await _with_a_thread(b, t)
    parent = os.getpid()
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            got = runner.run(run())
    except BaseException as e:
        got = repr(e)
    if os.getpid() != parent:
        os._exit(0)
    q.put(got)


def _fork_with_stats(q):
    parent = os.getpid()
    b = rally.AsyncBarrier(2, stats=True, timeout=5)

    async def run():
        t = asyncio.create_task(b.wait())
        await asyncio.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            return None  # asyncio.run drops the child's copy of t
        os.waitpid(pid, 0)
        got = []
        th = threading.Thread(
            target=lambda: (time.sleep(0.1), got.append(b.barrier.wait())))
        th.start()
        await asyncio.wait_for(t, 3)
        th.join()
        return b.barrier.stats()["waits"]
    got = asyncio.run(run())
    if os.getpid() != parent:
        os._exit(0)
    q.put(got)


def _take_part_and_die(b):
    b.barrier.reset()  # a participant from here on (idle: no-op)
    os._exit(0)


def _spawned_waiter(b, n):
    async def run():
        for _ in range(n):
            await b.wait()
    asyncio.run(run())


# ---- threads and loops --------------------------------------------------------


class ThreadsAndLoops(unittest.TestCase):
    def test_thread_and_coroutine_meet(self):
        b = rally.AsyncBarrier(2)
        got = []
        t = threading.Thread(
            target=lambda: got.extend(b.barrier.wait() for _ in range(200)))
        t.start()

        async def run():
            return [await b.wait() for _ in range(200)]

        mine = asyncio.run(run())
        t.join()
        self.assertEqual(sorted(mine + got), [0, 1] * 200 and
                         sorted([0] * 200 + [1] * 200))

    def test_two_loops_in_two_threads(self):
        """Each loop its own object on the same barrier (from_barrier):
        the loops wake each other through their sleepers."""
        b = rally.Barrier(2)
        out = {}

        def loop_thread(k):
            ab = rally.AsyncBarrier.from_barrier(b)

            async def run():
                return [await ab.wait() for _ in range(300)]
            out[k] = asyncio.run(run())

        ts = [threading.Thread(target=loop_thread, args=(k,))
              for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(sorted(out[0] + out[1]),
                         sorted([0] * 300 + [1] * 300))

    def test_bound_to_one_loop(self):
        """Bound by the first wait that suspends, as asyncio's objects
        are by their first future; a last arrival, reset() and abort()
        bind nothing (review round 5: they did)."""
        b = rally.AsyncBarrier(1)
        asyncio.run(b.wait())
        asyncio.run(b.reset())
        asyncio.run(b.abort())
        asyncio.run(b.reset())
        self.assertEqual(asyncio.run(b.wait()), 0)
        b2 = rally.AsyncBarrier(2)

        async def suspends():
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await b2.wait()
        asyncio.run(suspends())
        with self.assertRaises(RuntimeError):
            asyncio.run(b2.wait())

    def test_a_loop_without_instance_attributes(self):
        """A loop that takes no instance attributes (as uvloop's): waits
        work, woken from a thread, and its sleeper goes with its last
        wait (review round 5: no wait could suspend)."""
        class NoAttrLoop(asyncio.SelectorEventLoop):
            frozen = False

            def __setattr__(self, name, value):
                if self.frozen and name not in vars(self):
                    raise AttributeError(name)
                super().__setattr__(name, value)
        b = rally.AsyncBarrier(2, timeout=5)
        e = rally.AsyncEvent()
        before = tasks_of_process()

        async def run():
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0.05)
            other = await asyncio.get_running_loop().run_in_executor(
                None, b.barrier.wait)
            w = asyncio.create_task(e.wait())
            await asyncio.sleep(0.05)
            threading.Thread(target=e.event.set).start()
            return sorted([await t, other]), await asyncio.wait_for(w, 5)
        loop = NoAttrLoop()
        loop.frozen = True
        try:
            got = loop.run_until_complete(run())
        finally:
            loop.close()
        self.assertEqual(got, ([0, 1], True))
        self.assertEqual(aio._by_id, {})
        # The executor's worker and the setter end on their own.
        deadline = time.monotonic() + 5
        while tasks_of_process() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertLessEqual(tasks_of_process(), before)

    def _noattr_loop(self):
        class NoAttrLoop(asyncio.SelectorEventLoop):
            frozen = False

            def __setattr__(self, name, value):
                if self.frozen and name not in vars(self):
                    raise AttributeError(name)
                super().__setattr__(name, value)
        loop = NoAttrLoop()
        loop.frozen = True
        return loop

    def test_registered_with_a_live_sleeper(self):
        """Review round 6: a wait that first waited for another party's
        action (whose sleeper closed with that wait) registers with a
        live sleeper, and a thread's completion wakes it."""
        def action():
            if threading.current_thread() is not threading.main_thread():
                time.sleep(0.3)
        b = rally.AsyncBarrier(2, action=action, timeout=5)

        async def run():
            ths = [threading.Thread(target=b.barrier.wait) for _ in range(2)]
            for t in ths:
                t.start()
            while not b.barrier._busy():
                await asyncio.sleep(0.001)
            t = asyncio.create_task(b.wait())
            for th in ths:
                await asyncio.get_running_loop().run_in_executor(
                    None, th.join)
            await asyncio.sleep(0.05)
            other = await asyncio.get_running_loop().run_in_executor(
                None, b.barrier.wait)
            return sorted([await asyncio.wait_for(t, 3), other])
        loop = self._noattr_loop()
        try:
            self.assertEqual(loop.run_until_complete(run()), [0, 1])
        finally:
            loop.close()

    def test_close_refused_while_running(self):
        """Review round 6: loop.close() on the running loop is refused,
        and the loop's waits still work."""
        b = rally.AsyncBarrier(2, timeout=5)

        async def run():
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0.01)
            with self.assertRaises(RuntimeError):
                asyncio.get_running_loop().close()
            other = await asyncio.get_running_loop().run_in_executor(
                None, b.barrier.wait)
            return sorted([await asyncio.wait_for(t, 3), other])
        self.assertEqual(asyncio.run(run()), [0, 1])

    def test_abort_and_reset_from_another_loop(self):
        """Review round 6: as asyncio's, abort() and reset() run from a
        loop other than the one the object is bound to."""
        b = rally.AsyncBarrier(2)

        async def bind():
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await b.wait()
        asyncio.run(bind())
        asyncio.run(b.abort())
        self.assertTrue(b.broken)
        asyncio.run(b.reset())
        self.assertFalse(b.broken)

    def test_a_reset_from_another_loop_then_a_fresh_phase(self):
        """Review round 13: reset() from another loop's thread breaks a
        wait of this loop; this loop's coroutine arrives in the fresh
        phase before this loop has run the reset's follow-up: the object
        is resetting only until the broken wait has left, and the fresh
        phase completes, as asyncio.Barrier's (the fresh arrival was
        counted as a broken one: the object stayed resetting, which held
        back the arrival it needed — a hang). With no wait to break, the
        same."""
        async def run(with_a_wait_to_break):
            b = rally.AsyncBarrier(2)
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0.01)
            await b.wait()
            await t  # bound to this loop, one phase done
            broken = None
            if with_a_wait_to_break:
                broken = asyncio.create_task(b.wait())
                await asyncio.sleep(0.01)
            th = threading.Thread(target=lambda: asyncio.run(b.reset()))
            th.start()
            th.join()

            async def late():
                await asyncio.sleep(0.05)
                return await b.wait()
            t2 = asyncio.create_task(late())
            # This coroutine arrives now, in this very step, before the
            # follow-up the reset queued.
            async with asyncio.timeout(5):
                first = await b.wait()
                got = sorted([first, await t2])
            if broken is not None:
                with self.assertRaises(asyncio.BrokenBarrierError):
                    await broken
            return got

        for with_a_wait_to_break in (False, True):
            self.assertEqual(asyncio.run(run(with_a_wait_to_break)), [0, 1])

    def test_a_reset_from_another_loop_keeps_the_drain(self):
        """Review round 14: reset() from another loop, then a phase of this
        loop completes before this loop has run the reset's follow-up:
        a coroutine arriving while the released waiter has not resumed
        waits for it, as asyncio.Barrier's (the follow-up overwrote the
        draining state: it arrived at once)."""
        async def run():
            b = rally.AsyncBarrier(2)
            await asyncio.gather(b.wait(), b.wait())  # bound to this loop
            t1 = asyncio.create_task(b.wait())
            t2 = asyncio.create_task(b.wait())  # the last: releases t1
            th = threading.Thread(target=lambda: asyncio.run(b.reset()))
            th.start()
            th.join()
            seen = []

            async def late():
                seen.append(b._state)
                await b.wait()
            t3 = asyncio.create_task(late())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            waiting = b.n_waiting
            t3.cancel()
            await asyncio.gather(t1, t2, t3, return_exceptions=True)
            return seen, waiting

        self.assertEqual(asyncio.run(run()), (["draining"], 0))

    def test_a_reset_here_after_one_from_another_loop(self):
        """Review round 32: reset() from another loop (nothing inside: it
        breaks nothing), then, before this loop ran its follow-up, a
        phase completed here and reset() through the object here too: the
        released coroutine, resuming after the reset made here, raises as
        asyncio.Barrier's (the older follow-up ran after the newer reset
        and overwrote its state: it returned its index)."""
        async def run():
            b = rally.AsyncBarrier(2)
            await asyncio.gather(b.wait(), b.wait())  # bound to this loop
            w = asyncio.create_task(b.wait())

            async def last_then_reset():
                index = await b.wait()  # releases w
                await b.reset()  # before w resumes
                return index
            m = asyncio.create_task(last_then_reset())
            th = threading.Thread(target=lambda: asyncio.run(b.reset()))
            th.start()
            th.join()
            got = await asyncio.gather(w, m, return_exceptions=True)
            return [type(g).__name__ if isinstance(g, BaseException)
                    else g for g in got], b._state

        self.assertEqual(asyncio.run(run()),
                         (["BrokenBarrierError", 1], "filling"))

    def test_a_reset_from_another_loop_as_the_bound_one_closes(self):
        """Review round 33 (from reading): the object's loop closing
        between reset()'s look (from another loop) and its note to that
        loop — made reachable by a loop whose note raises as a closed
        one's does — leaves the reset made, and reset() returns (it
        raised RuntimeError after the barrier was reset)."""
        b = rally.AsyncBarrier(2)
        loop = asyncio.new_event_loop()
        try:
            async def bind():
                await asyncio.gather(b.wait(), b.wait())
            loop.run_until_complete(bind())

            def closed(*args):
                raise RuntimeError("Event loop is closed")
            loop.call_soon_threadsafe = closed
            broken = []

            def party():
                try:
                    b.barrier.wait(30)
                except threading.BrokenBarrierError:
                    broken.append(True)
            t = threading.Thread(target=party)
            t.start()
            deadline = time.monotonic() + 30
            while b.barrier.n_waiting != 1 and time.monotonic() < deadline:
                time.sleep(0.001)
            asyncio.run(b.reset())
            t.join(30)
            self.assertEqual(broken, [True])  # the reset broke its wait
            self.assertFalse(b.broken)
            self.assertEqual(b.barrier.n_waiting, 0)
        finally:
            loop.close()

    def test_two_loops_first_waits_bind_one(self):
        """Review round 34: the first waits of two loops (two threads) on
        an unbound object, loop A's thread held between _bind's look and
        its binding (a trace function holds it there, as a thread switch
        would): one loop binds, the other's wait raises RuntimeError, as
        asyncio's (both bound; B's wait went on in an object bound to
        A)."""
        import inspect
        b = rally.AsyncBarrier(3)  # neither wait is the last: both bind
        lines, first = inspect.getsourcelines(aio._bind)
        line = first + next(i for i, text in enumerate(lines)
                            if "obj._loop = weakref.ref(loop)" in text)
        paused, go = threading.Event(), threading.Event()
        got = {}

        def tracer(frame, event, arg):
            if event == "call" and frame.f_code is aio._bind.__code__:
                def local(frame, event, arg):
                    if event == "line" and frame.f_lineno == line and \
                            not paused.is_set():
                        paused.set()
                        go.wait(30)
                    return local
                return local
            return None

        def in_a_loop(name, trace):
            async def main():
                if trace:
                    sys.settrace(tracer)
                try:
                    got[name] = await asyncio.wait_for(b.wait(), 5)
                except (RuntimeError, asyncio.TimeoutError) as e:
                    got[name] = type(e).__name__
                finally:
                    sys.settrace(None)
            asyncio.run(main())

        ta = threading.Thread(target=in_a_loop, args=("A", True))
        ta.start()
        self.assertTrue(paused.wait(30))
        tb = threading.Thread(target=in_a_loop, args=("B", False))
        tb.start()
        time.sleep(0.2)  # B's wait looks now (and binds, unguarded)
        go.set()
        # B's wait ends (refused) at once, or waits on (bound as well).
        deadline = time.monotonic() + 10
        while "B" not in got and time.monotonic() < deadline:
            time.sleep(0.001)
        # A's partners: two if B's wait was refused (its arrival taken
        # back), one if both went on.
        partners = [threading.Thread(target=b.barrier.wait, args=(30,))
                    for _ in range(3 - b.barrier.n_waiting)]
        for t in partners:
            t.start()
        for t in partners + [ta, tb]:
            t.join(30)
        self.assertEqual(got, {"A": 0, "B": "RuntimeError"})

    def test_a_reset_from_another_loop_noted_after_one_here(self):
        """Review round 34: reset() from another loop's thread (R1) takes
        effect, and that thread is switched out before it leaves its note
        for the object's loop (a stand-in holds it there); meanwhile W
        arrives in the fresh phase here, a thread completes it, and the
        loop resets here (R2): W, resuming after R2, raises as
        asyncio.Barrier's (R1's note, run after R2's, overwrote it: W
        returned its index)."""
        async def run(remote_first):
            b = rally.AsyncBarrier(2)
            await asyncio.gather(b.wait(), b.wait())  # bound here
            real = b._b
            held = b._b = _Held(real, "_reset", after=True)
            if remote_first:
                other = _in_another_loop(b.reset)
                self.assertTrue(held.there.wait(30))  # R1 made, not noted
            else:
                held.held = True  # R2 is not held
            w = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            t = threading.Thread(target=real.wait)  # completes W's phase
            t.start()
            t.join(30)
            await b.reset()  # R2
            if remote_first:
                held.go.set()
                other.join(30)
            b._b = real
            try:
                got = await w
            except asyncio.BrokenBarrierError:
                got = "BrokenBarrierError"
            await asyncio.sleep(0)
            return got, b._state

        for remote_first in (False, True):
            self.assertEqual(asyncio.run(run(remote_first)),
                             ("BrokenBarrierError", "filling"))

    def test_an_arrival_as_another_loop_aborts_or_resets(self):
        """Review round 34: a coroutine's arrival returns, and before
        wait() goes on another thread has the GIL — a thread completes
        the phase, another loop's thread aborts or resets through the
        object (a stand-in runs them there): the coroutine, released
        before that and resuming after, raises as asyncio's (its token
        was not yet inside: it returned its index)."""
        class OthersAfterArrival(_StandIn):
            others = None

            def _arrive(self, left, inside=None):
                token = self._real._arrive(left, inside)
                others, self.others = self.others, None
                if others is not None:
                    others()
                return token

        async def run(op):
            b = rally.AsyncBarrier(2)
            await asyncio.gather(b.wait(), b.wait())  # bound here
            real = b._b
            stand_in = b._b = OthersAfterArrival(real)

            def others():
                last = threading.Thread(target=real.wait, args=(30,))
                last.start()
                last.join(30)
                other = threading.Thread(
                    target=lambda: asyncio.run(getattr(b, op)()))
                other.start()
                other.join(30)
            stand_in.others = others
            try:
                got = await b.wait()
            except asyncio.BrokenBarrierError:
                got = "BrokenBarrierError"
            b._b = real
            return got

        for op in ("abort", "reset"):
            self.assertEqual(asyncio.run(run(op)), "BrokenBarrierError",
                             op)

    def test_an_arrival_after_a_reset_looked_from_another_loop(self):
        """Review round 34: reset() from another loop's thread looks at
        the waits inside, and before it takes effect (a stand-in holds it
        there, as a thread switch would) a coroutine here arrives and a
        thread completes its phase: the coroutine, released before the
        reset and resuming after it, raises as asyncio's (the reset's
        one look missed it: it returned its index)."""
        async def run():
            b = rally.AsyncBarrier(2)
            real = b._b
            held = b._b = _Held(real, "_reset")
            other = _in_another_loop(b.reset)
            self.assertTrue(held.there.wait(30))
            w = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            last = threading.Thread(target=real.wait, args=(30,))
            last.start()
            last.join(30)
            held.go.set()
            other.join(30)
            try:
                got = await w
            except asyncio.BrokenBarrierError:
                got = "BrokenBarrierError"
            b._b = real
            return got, b._state

        self.assertEqual(asyncio.run(run()),
                         ("BrokenBarrierError", "filling"))

    def test_arrivals_before_and_after_a_reset(self):
        """Barrier._reset() says where the reset took effect, and a
        token whether it arrived before: a pending arrival (its phase
        broken by the reset) and one whose phase completed before a reset
        with nothing to do came before; the arrivals after either did
        not (review round 34: a reset with nothing to do ends no epoch)."""
        b = rally.Barrier(2)
        done = b._arrive(None)
        b._arrive(None).finish("released")  # the last: done completed
        at = b._reset()  # nothing to reset
        after = b._arrive(None)
        self.assertEqual((done.arrived_by(at), after.arrived_by(at)),
                         (True, False))
        at = b._reset()  # breaks after's phase
        fresh = b._arrive(None)
        self.assertEqual((after.arrived_by(at), fresh.arrived_by(at),
                          done.arrived_by(at)), (True, False, True))
        for t, how in ((done, "released"), (after, "broken"),
                       (fresh, "withdrawn")):
            if how == "withdrawn":
                self.assertTrue(t.withdraw())  # taken back
            t.finish(how)

    def test_a_reset_here_then_a_break_by_another(self):
        """Review round 35: a coroutine released, then reset() through its
        object, then the barrier broken by another party (a thread's
        abort through .barrier, a thread's wait timing out in the next
        phase) before it resumes: it raises, as after the reset alone and
        as asyncio's (the later break undid the reset's mark: it returned
        its index)."""
        def thread_abort(b):
            b.barrier.abort()

        def thread_times_out(b):
            with self.assertRaises(threading.BrokenBarrierError):
                b.barrier.wait(timeout=0)

        async def run(then):
            b = rally.AsyncBarrier(2)
            t1 = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            await b.wait()  # the last: t1 released
            await b.reset()
            then(b)
            try:
                return await t1
            except asyncio.BrokenBarrierError:
                return "BrokenBarrierError"

        for then in (thread_abort, thread_times_out):
            self.assertEqual(asyncio.run(run(then)), "BrokenBarrierError",
                             then.__name__)

    def test_released_and_looked_at_before_a_reset_from_another_loop(self):
        """Review round 35: reset() from another loop's thread is held
        after its first look (a stand-in, as a thread switch would); a
        coroutine here arrives, a thread completes its phase and the loop
        sees it released (its token finished); the reset then takes
        effect (nothing to reset) and returns: the coroutine, resuming
        after, raises (the reset's look at finished tokens answered no)."""
        async def run():
            b = rally.AsyncBarrier(2)
            await asyncio.gather(b.wait(), b.wait())  # bound here
            real = b._b
            held = b._b = _Held(real, "_reset")
            other = _in_another_loop(b.reset)
            self.assertTrue(held.there.wait(30))
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            last = threading.Thread(target=real.wait, args=(30,))
            last.start()
            last.join(30)
            deadline = time.monotonic() + 30
            while not any(b._inside.values()) and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0)  # until the loop sees it released
            # t's resume is queued, not run: the reset goes first (it
            # needs nothing of this loop: joined without yielding).
            held.go.set()
            other.join(30)
            b._b = real
            try:
                return await t
            except asyncio.BrokenBarrierError:
                return "BrokenBarrierError"

        self.assertEqual(asyncio.run(run()), "BrokenBarrierError")

    def test_released_before_a_deferred_abort_from_another_loop(self):
        """Review round 35: abort() from another loop's thread is held
        before it takes effect (a stand-in); a coroutine here is released
        in phase p, phase p + 1's action starts in other threads, and the
        abort takes effect then (deferred): the coroutine, resuming after
        abort() returned, raises (only the look before the hold counted:
        it returned its index); phase p + 1's threads are released."""
        slow, in_action = threading.Event(), threading.Event()

        def action():
            if slow.is_set():
                in_action.set()
                time.sleep(0.3)

        async def run():
            b = rally.AsyncBarrier(2, action=action)
            await asyncio.gather(b.wait(), b.wait())  # bound here
            real = b._b
            held = b._b = _Held(real, "_abort")
            other = _in_another_loop(b.abort)
            self.assertTrue(held.there.wait(30))
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            await b.wait()  # the last of phase p: t released
            slow.set()
            got = []
            threads = [threading.Thread(
                target=lambda: got.append(real.wait(30)))
                for _ in range(2)]
            for x in threads:
                x.start()
            self.assertTrue(in_action.wait(30))
            # t's resume is queued: the abort goes first (it needs
            # nothing of this loop: joined without yielding).
            held.go.set()
            other.join(30)
            for x in threads:
                x.join(30)
            b._b = real
            try:
                result = await t
            except asyncio.BrokenBarrierError:
                result = "BrokenBarrierError"
            return result, sorted(got)

        self.assertEqual(asyncio.run(run()), ("BrokenBarrierError", [0, 1]))

    def test_released_after_an_abort_and_a_reset_by_another(self):
        """Review round 35: abort() from another loop's thread takes
        effect and is held before it looks at the waits (a stand-in);
        meanwhile a thread resets through .barrier and a fresh phase
        completes here: the coroutine released in that phase, after the
        abort, returns its index (a look made after the abort took every
        completed phase: it raised)."""
        async def run():
            b = rally.AsyncBarrier(2)
            await asyncio.gather(b.wait(), b.wait())  # bound here
            real = b._b
            held = b._b = _Held(real, "_abort", after=True)
            other = _in_another_loop(b.abort)
            self.assertTrue(held.there.wait(30))
            real.reset()  # another party's, through the thread face
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            last = threading.Thread(target=real.wait, args=(30,))
            last.start()
            last.join(30)
            held.go.set()
            other.join(30)  # (without yielding: t resumes after)
            b._b = real
            try:
                return await t
            except asyncio.BrokenBarrierError:
                return "BrokenBarrierError"

        self.assertEqual(asyncio.run(run()), 0)

    def test_a_forked_childs_look_at_the_state(self):
        """Review round 32: a child fork()ed while the parent's released
        coroutine has not resumed (the parent's object drains) and a
        thread waits in the next phase sees its own copy afresh in
        n_waiting, _count and _state, as its waits do (it read the
        parent's: 0, 1, draining)."""
        async def run():
            b = rally.AsyncBarrier(2)
            w = asyncio.create_task(b.wait())
            await asyncio.sleep(0.01)
            await b.wait()  # the last: w released, not resumed
            th = threading.Thread(target=b.barrier.wait, args=(30,))
            th.start()
            deadline = time.monotonic() + 30
            while b.barrier.n_waiting != 1 and time.monotonic() < deadline:
                time.sleep(0.001)
            r, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(wfd, repr((b.n_waiting, b._count,
                                    b._state)).encode())
                os._exit(0)
            os.close(wfd)
            os.waitpid(pid, 0)
            child = os.read(r, 200).decode()
            os.close(r)
            parent = (b.n_waiting, b._count, b._state)
            await w
            await b.wait()
            th.join(30)
            return child, parent

        self.assertEqual(asyncio.run(run()),
                         ("(1, 0, 'filling')", (0, 1, "draining")))

    def test_a_forked_childs_event_repr(self):
        """Review round 32, its finding for AsyncEvent: a child fork()ed
        while a coroutine of the parent waits on the event lists none of
        the parent's waiters (it listed 1)."""
        async def run():
            e = rally.AsyncEvent()
            w = asyncio.create_task(e.wait())
            await asyncio.sleep(0.01)
            r, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(wfd, repr(e).encode())
                os._exit(0)
            os.close(wfd)
            os.waitpid(pid, 0)
            child = os.read(r, 200).decode()
            os.close(r)
            parent = repr(e)
            e.set()
            await w
            return child.endswith("[unset]>"), parent.endswith(
                "[unset, waiters:1]>")

        self.assertEqual(asyncio.run(run()), (True, True))

    def test_an_arrival_while_another_party_resets(self):
        """Review round 14: a coroutine that arrives while another party's
        reset() runs (the barrier is broken until it ends) waits for the
        reset, in its loop, and arrives after it — as a thread does (it
        raised BrokenBarrierError at once). The reset is held 0.4 s by a
        stopped process's wait."""
        b = rally.AsyncBarrier(3)
        p = CTX.Process(target=_swallow, args=(b.barrier.wait,))
        p.start()
        _until(lambda: b.n_waiting == 1)
        os.kill(p.pid, signal.SIGSTOP)
        resetter = threading.Thread(target=b.barrier.reset)
        try:
            resetter.start()
            _until(lambda: b.broken)

            async def run():
                loop = asyncio.get_running_loop()
                t = asyncio.create_task(b.wait(timeout=10))
                await asyncio.sleep(0.4)
                self.assertFalse(t.done())
                os.kill(p.pid, signal.SIGCONT)
                await loop.run_in_executor(None, resetter.join)
                threading.Thread(target=b.barrier.wait, args=(10,),
                                 daemon=True).start()
                return await asyncio.wait_for(b.wait(), 10), await t

            got = asyncio.run(run())
        finally:
            os.kill(p.pid, signal.SIGCONT)
            p.join()
        self.assertEqual(len(got), 2)
        self.assertFalse(b.broken)

    def test_a_failed_event_wait_leaves_nothing(self):
        """Review round 6: an event wait that fails before it sleeps
        leaves no waiter behind."""
        e = rally.AsyncEvent()

        def fail(self, wait):
            raise OSError("no room")
        real = aio._LoopSleeper.add
        aio._LoopSleeper.add = fail
        try:
            async def run():
                with self.assertRaises(OSError):
                    await e.wait()
                return len(e._waiters)
            self.assertEqual(asyncio.run(run()), 0)
        finally:
            aio._LoopSleeper.add = real

    def test_loops_without_attributes_leave_no_sleeper(self):
        """Review round 6: waits that never suspend, in loops without
        instance attributes, leave no sleeper (nor its eventfd)."""
        gc.collect()
        before = fds()
        for _ in range(20):
            loop = self._noattr_loop()
            try:
                loop.run_until_complete(rally.AsyncBarrier(1).wait())
            finally:
                loop.close()
        gc.collect()
        self.assertEqual(aio._by_id, {})
        self.assertEqual(fds(), before)

    def test_the_last_wait_of_a_loop_without_attributes_ends_quietly(self):
        """Review round 16: in a loop without instance attributes, a wait
        whose end the sleeper's re-arm finds (an event set from this
        thread, no poke) is its sleeper's last: the sleeper closes with
        it, and the re-arm raises nothing into the loop's handler (it
        handed the closed threads their words: ValueError)."""
        errors = []
        e = rally.AsyncEvent()

        async def run():
            asyncio.get_running_loop().set_exception_handler(
                lambda loop, ctx: errors.append(
                    ctx.get("exception") or ctx["message"]))
            t = asyncio.create_task(e.wait())
            await asyncio.sleep(0)  # t registers; the re-arm is queued
            e.event.set()           # seen by the re-arm only
            got = await asyncio.wait_for(t, 5)
            await asyncio.sleep(0.05)
            return got

        loop = self._noattr_loop()
        try:
            self.assertIs(loop.run_until_complete(run()), True)
        finally:
            loop.close()
        self.assertEqual(errors, [])

    def test_a_busy_reset_binds_nothing(self):
        """Review round 7: a reset() that waits for another party's
        action binds the object to no loop: a wait in another loop
        works after it."""
        def action():
            if threading.current_thread() is not threading.main_thread():
                time.sleep(0.3)
        b = rally.AsyncBarrier(2, action=action, timeout=5)
        ths = [threading.Thread(target=b.barrier.wait) for _ in range(2)]
        for t in ths:
            t.start()
        while not b.barrier._busy():
            time.sleep(0.001)
        asyncio.run(b.reset())
        for t in ths:
            t.join()

        async def wait_in_another_loop():
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0.05)
            other = await asyncio.get_running_loop().run_in_executor(
                None, b.barrier.wait)
            return sorted([await t, other])
        self.assertEqual(asyncio.run(wait_in_another_loop()), [0, 1])

    def test_a_forked_child_leaves_the_parents_arrival(self):
        """Review round 7: a child fork()ed in a running loop that ends
        normally (sys.exit: asyncio.run cancels its copies of the
        parent's waits) does not take the parent's arrival back. Run in
        a process of its own: the child must not go on with this run."""
        q = CTX.Queue()
        p = CTX.Process(target=_fork_in_a_loop, args=(q,))
        p.start()
        got = q.get(timeout=30)
        p.join(30)
        self.assertEqual(got, (1, [0, 1]))

    def test_a_dropped_loop_without_attributes(self):
        """Review round 7: a wait left pending in a loop without instance
        attributes that is closed and dropped is taken back, and its
        sleeper goes (the table by id held it)."""
        b = rally.AsyncBarrier(2)
        gc.collect()
        before_fds, before_tasks = fds(), tasks_of_process()
        loop = self._noattr_loop()
        loop.create_task(b.wait())
        loop.run_until_complete(asyncio.sleep(0.05))
        self.assertEqual(b.n_waiting, 1)
        loop.close()
        del loop
        gc.collect()
        self.assertEqual(b.n_waiting, 0)
        self.assertEqual(aio._by_id, {})
        self.assertEqual(fds(), before_fds)
        self.assertEqual(tasks_of_process(), before_tasks)

    def test_a_child_started_during_a_wait_stops_taking_part(self):
        """Review round 12: a multiprocessing child fork()ed while a
        coroutine of its parent waits takes part in a robust barrier and
        exits normally: it stops taking part (its copy of the parent's
        wait kept the handle open, and its exit by os._exit left it
        registered: the next phase raised OwnerDeadError)."""
        b = rally.AsyncBarrier(2, robust=True)

        async def run():
            t = asyncio.create_task(b.wait(timeout=10))
            await asyncio.sleep(0.05)
            p = CTX.Process(target=_spawned_waiter, args=(b, 1))
            p.start()
            first = await t
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, p.join)
            th = threading.Thread(target=b.barrier.wait, args=(10,))
            th.start()
            # The thread's waits look for the dead every 50 ms meanwhile.
            await asyncio.sleep(0.3)
            second = await asyncio.wait_for(b.wait(), 10)
            th.join()
            return p.exitcode, first, second

        exitcode, first, second = asyncio.run(run())
        self.assertEqual(exitcode, 0)
        self.assertIn(first, (0, 1))
        self.assertIn(second, (0, 1))

    def test_a_child_that_drops_the_parents_waits_closes(self):
        """Review round 12: a child fork()ed by another thread than the
        one whose loop holds a pending wait, that drops that loop (its
        copy of the wait is freed) and closes the barrier or event: the
        handle is closed (the copy ended its call a second time — the
        count wrapped round, and the handle was never closed)."""
        b = rally.AsyncBarrier(2)
        self.assertEqual(self._child_drops_and_closes(b, b.barrier), [1, 0])
        self.assertEqual(b.n_waiting, 0)
        e = rally.AsyncEvent()
        self.assertEqual(self._child_drops_and_closes(e, e.event), [1, 0])

    def _child_drops_and_closes(self, obj, handle):
        """[mappings of the object's name in the child before its close,
        and after]."""
        loop = asyncio.new_event_loop()
        task = loop.create_task(obj.wait())
        loop.run_until_complete(asyncio.sleep(0.05))
        r, w = os.pipe()

        def mapped():
            with open("/proc/self/maps") as f:
                return sum(handle.name in line for line in f)

        def drop():
            nonlocal loop, task
            loop = task = None
            # What the object does at its first use in the child: its
            # state (an event's waiters' futures) was the parent's.
            obj._forked()

        def fork():
            pid = os.fork()
            if pid == 0:
                try:
                    drop()
                    gc.collect()
                    before = mapped()
                    handle.close()
                    os.write(w, bytes([before, mapped()]))
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)

        th = threading.Thread(target=fork)
        th.start()
        th.join()
        got = os.read(r, 2)
        os.close(r)
        os.close(w)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.close()
        return list(got)

    def test_a_forked_childs_sleeper_leaves_the_parents_loop(self):
        """Review round 8: a child fork()ed in a running loop (one
        without instance attributes, whose sleeper goes with its last
        wait) that ends normally leaves the parent's eventfd in the
        parent's loop — the epoll set they share. Run in a process of its
        own."""
        q = CTX.Queue()
        p = CTX.Process(target=_fork_in_a_noattr_loop, args=(q,))
        p.start()
        got = q.get(timeout=30)
        p.join(30)
        self.assertEqual(got, [0, 1])

    def test_a_last_arrival_from_another_loop(self):
        """Review round 11: as asyncio's, a wait that completes the phase
        without suspending runs from a loop the object is not bound to;
        the bound loop's waiter is released."""
        b = rally.AsyncBarrier(2)
        loop1 = asyncio.new_event_loop()
        loop2 = asyncio.new_event_loop()
        try:
            t = loop1.create_task(b.wait())
            loop1.run_until_complete(asyncio.sleep(0.01))  # t suspends
            self.assertEqual(loop2.run_until_complete(b.wait()), 1)
            self.assertEqual(loop1.run_until_complete(
                asyncio.wait_for(t, 2)), 0)
        finally:
            loop1.close()
            loop2.close()

    def test_a_last_arrival_from_another_loops_thread(self):
        """Review round 15: a last arrival made in another loop's thread
        changes nothing of the object's state there — it drained and
        notified from that thread, and, paused between the two, left a
        coroutine of the bound loop blocked and never woken (the pauses
        are made here on purpose, at the two steps)."""
        other = []

        class Paused(rally.AsyncBarrier):
            def _released(self, token=None):
                if threading.current_thread() is not main:
                    other.append("_released")
                    time.sleep(0.3)
                return super()._released(token)

            def _exit(self, released):
                if threading.current_thread() is not main:
                    other.append("_exit")
                    time.sleep(0.3)
                return super()._exit(released)

        main = threading.current_thread()
        b = Paused(2)

        def last_from_another_loop():
            async def run():
                _until(lambda: b.barrier.n_waiting == 1)
                await b.wait()
            asyncio.run(run())

        async def run():
            loop = asyncio.get_running_loop()
            th = threading.Thread(target=last_from_another_loop)
            th.start()
            await asyncio.wait_for(b.wait(), 5)  # completed by th's loop
            second = asyncio.ensure_future(b.wait())
            await loop.run_in_executor(None, th.join)
            t0 = time.monotonic()
            await loop.run_in_executor(
                None, _until, lambda: b.barrier.n_waiting == 1, 3)
            took = time.monotonic() - t0
            partner = threading.Thread(target=b.barrier.wait, args=(5,))
            partner.start()
            await asyncio.wait_for(second, 5)
            partner.join()
            return took

        took = asyncio.run(run())
        self.assertEqual(other, [])
        self.assertLess(took, 1.0)

    def test_a_wait_from_another_loop_is_refused_before_it_waits(self):
        """Review round 15: a wait that is not the last, from a loop the
        object is not bound to, raises RuntimeError (as asyncio's) before
        it waits at all — not after a wait in place that could release
        it there, its state written from that loop's thread."""
        b = rally.AsyncBarrier(3)
        spy = _PollSpy(b._b)
        b._b = spy
        loop1 = asyncio.new_event_loop()
        loop2 = asyncio.new_event_loop()
        try:
            t = loop1.create_task(b.wait())
            loop1.run_until_complete(asyncio.sleep(0.01))  # t suspends
            del spy.polls[:]
            with self.assertRaises(RuntimeError):
                loop2.run_until_complete(b.wait())
            self.assertEqual(spy.polls, [])
            self.assertEqual(b.n_waiting, 1)
            t.cancel()
            with self.assertRaises(asyncio.CancelledError):
                loop1.run_until_complete(t)
        finally:
            loop1.close()
            loop2.close()

    def test_released_in_the_order_they_came(self):
        """Review round 10: a phase's waiters of one loop resume first
        in, first out, after the last arrival, as asyncio.Barrier's."""
        async def order(make):
            b = make(12)
            out = []

            async def one(k):
                await b.wait()
                out.append(k)
            ts = [asyncio.create_task(one(k)) for k in range(12)]
            await asyncio.gather(*ts)
            return out
        self.assertEqual(asyncio.run(order(rally.AsyncBarrier)),
                         asyncio.run(order(asyncio.Barrier)))

    def test_a_last_arrival_whose_action_raises_lets_go_at_once(self):
        """Review round 19: a last arrival whose action raised broke its
        phase, and its loop's waiters learnt it only through the sleeper
        (a trip through the kernel and the eventfd), where a completing
        last arrival releases them at once: the waiter has resumed by the
        loop's next iteration, every time."""
        def fail():
            raise ValueError("action")

        async def rounds(n):
            b = rally.AsyncBarrier(2, action=fail)
            late = 0
            for _ in range(n):
                t = asyncio.create_task(b.wait())
                await asyncio.sleep(0)  # t waits (not in place: we run)
                with self.assertRaises(ValueError):
                    await b.wait()
                await asyncio.sleep(0)
                late += not t.done()
                with self.assertRaises(asyncio.BrokenBarrierError):
                    await t
                await b.reset()
            return late
        self.assertEqual(asyncio.run(rounds(50)), 0)

    def test_a_last_arrival_through_a_second_object_lets_go_at_once(self):
        """Review round 19: the last arrival made through a second
        object on the same rally.Barrier, in the loop where the first's
        coroutine waits, released it only through the sleeper."""
        async def rounds(n):
            rb = rally.Barrier(2)
            first = rally.AsyncBarrier.from_barrier(rb)
            second = rally.AsyncBarrier.from_barrier(rb)
            late = 0
            for _ in range(n):
                t = asyncio.create_task(first.wait())
                await asyncio.sleep(0)
                self.assertEqual(await second.wait(), 1)
                await asyncio.sleep(0)
                late += not t.done()
                self.assertEqual(await t, 0)
            return late
        self.assertEqual(asyncio.run(rounds(50)), 0)

    def test_a_release_through_an_object_bound_elsewhere_is_at_once(self):
        """Review round 21: the last arrival, or set(), made in this
        loop through a second object on the same barrier or event — bound
        to no loop, or to another running loop — left this loop's waiters
        to the sleeper and the kernel: every one has resumed by the next
        iteration, as through the object they wait on."""
        other_loop = asyncio.new_event_loop()
        th = threading.Thread(target=other_loop.run_forever)
        th.start()

        def bound_to_the_other_loop(obj):
            async def bind():
                t = asyncio.ensure_future(obj.wait())
                await asyncio.sleep(0.02)
                t.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await t
            asyncio.run_coroutine_threadsafe(bind(), other_loop).result(5)
            return obj

        async def barrier_round(second, n=20):
            mine = rally.AsyncBarrier(n + 1)
            through = second(rally.AsyncBarrier.from_barrier(mine.barrier))
            waits = [asyncio.create_task(mine.wait()) for _ in range(n)]
            await asyncio.sleep(0.02)
            await through.wait()
            await asyncio.sleep(0)
            done = sum(t.done() for t in waits)
            await asyncio.gather(*waits)
            return done

        async def event_round(second, n=20):
            mine = rally.AsyncEvent()
            through = second(rally.AsyncEvent.from_event(mine.event))
            waits = [asyncio.create_task(mine.wait()) for _ in range(n)]
            await asyncio.sleep(0.02)
            through.set()
            await asyncio.sleep(0)
            done = sum(t.done() for t in waits)
            await asyncio.gather(*waits)
            return done
        try:
            for second in (lambda o: o, bound_to_the_other_loop):
                self.assertEqual(asyncio.run(barrier_round(second)), 20)
                self.assertEqual(asyncio.run(event_round(second)), 20)
        finally:
            other_loop.call_soon_threadsafe(other_loop.stop)
            th.join()
            other_loop.close()

    def test_an_event_wakes_in_the_order_they_came(self):
        """Review round 22: set() woke the waiters of the object it was
        called on before earlier waiters of another object on the same
        event in the loop; asyncio's resume first in, first out."""
        async def order(make_two):
            a, b = make_two()
            out = []

            async def one(e, k):
                await e.wait()
                out.append(k)
            ts = []
            for k in range(8):
                ts.append(asyncio.create_task(one((b, a)[k % 2], k)))
                await asyncio.sleep(0)
            a.set()
            await asyncio.gather(*ts)
            return out

        def rally_two():
            a = rally.AsyncEvent()
            return a, rally.AsyncEvent.from_event(a.event)

        def asyncio_one():
            a = asyncio.Event()
            return a, a
        self.assertEqual(asyncio.run(order(rally_two)),
                         asyncio.run(order(asyncio_one)))

    def test_released_before_a_timeout_breaks_the_next_phase(self):
        """Review round 23: a coroutine released from a phase that
        completed, resuming after a timeout broke the next phase (a wait
        that waited for the action and arrived at its deadline), raised
        "Abort or reset of barrier"; a thread released from the same
        phase returns its index, and so does it now. Only an abort or a
        reset through the object makes a released coroutine raise, as
        asyncio's."""
        def act():
            time.sleep(0.4)

        async def run():
            b = rally.AsyncBarrier(2, action=act)
            first = asyncio.create_task(b.wait())
            await asyncio.sleep(0.05)
            last = threading.Thread(target=b.barrier.wait)
            last.start()  # completes the phase; its action runs 0.4 s
            await asyncio.sleep(0.05)
            with self.assertRaises(asyncio.BrokenBarrierError):
                await b.wait(timeout=0.2)  # breaks the next phase
            index = await first
            await asyncio.get_running_loop().run_in_executor(
                None, last.join)
            return index, b.broken
        self.assertEqual(asyncio.run(run()), (0, True))

    def test_an_abort_during_an_action_releases_its_phase(self):
        """Review round 24: an abort() through the object while another
        party's action runs takes effect once that phase has published,
        and the phase's waiters are released — its coroutine raised
        (it was inside when the abort began), where its threads returned
        their indices. Only the waits already released when an abort
        begins raise as they resume."""
        def act():
            time.sleep(0.3)

        async def run():
            b = rally.AsyncBarrier(3, action=act)
            out = {}

            def thread(key, delay):
                time.sleep(delay)
                out[key] = b.barrier.wait()
            ths = [threading.Thread(target=thread, args=(k, d))
                   for k, d in (("waiter", 0), ("last", 0.1))]
            coroutine = asyncio.ensure_future(b.wait())
            for th in ths:
                th.start()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, _until, b.barrier._busy, 5)
            await b.abort()
            out["coroutine"] = await coroutine
            for th in ths:
                await loop.run_in_executor(None, th.join)
            return sorted(out.values()), b.broken
        self.assertEqual(asyncio.run(run()), ([0, 1, 2], True))

    def test_an_abort_after_a_release_the_loop_has_not_seen(self):
        """Review round 26: a phase completed by a thread before an
        abort through the coroutine's object, the loop not yet told (its
        sleeper's callback not run): the coroutine returned its index,
        where it raised once the loop had seen the release, and where a
        reset makes it raise either way. Released before the abort, it
        raises."""
        async def run(op):
            b = rally.AsyncBarrier(2)
            first = asyncio.create_task(b.wait())
            await asyncio.sleep(0)  # waits, through the sleeper
            last = threading.Thread(target=b.barrier.wait)
            last.start()
            last.join()  # the phase completed; the loop has not run
            await getattr(b, op)()
            with self.assertRaises(asyncio.BrokenBarrierError):
                await first
        for op in ("abort", "reset"):
            asyncio.run(run(op))

    def test_a_phase_that_completes_as_the_abort_begins(self):
        """Review round 27: the abort looked for released waits before it
        broke the barrier; a phase completed in between (a thread's last
        arrival) let its coroutine, resuming after the abort, return its
        index. The waits whose phase completed before the abort took
        effect raise."""
        class CompletesFirst(_StandIn):
            """rally.Barrier, whose abort lets a thread complete the
            phase first — the window, made reachable."""
            def _abort(self):
                last = threading.Thread(target=self._real.wait)
                last.start()
                last.join()
                return self._real._abort()

        async def run():
            b = rally.AsyncBarrier(2)
            first = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            real = b._b
            b._b = CompletesFirst(real)
            try:
                await b.abort()
            finally:
                b._b = real
            with self.assertRaises(asyncio.BrokenBarrierError):
                await first
        asyncio.run(run())

    def test_a_phase_that_completes_after_a_deferred_abort(self):
        """The other side of round 27's window: an abort while another
        party's action runs is left for the next phase; the action's
        phase completing before the abort's look at the waits — made
        reachable here — still releases its coroutine, as its thread."""
        class ActionEndsFirst(_StandIn):
            def _abort(self):
                deferred = self._real._abort()
                _until(lambda: not self._real._busy(), 5)
                return deferred

        def act():
            time.sleep(0.2)

        async def run():
            b = rally.AsyncBarrier(2, action=act)
            first = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            last = threading.Thread(target=b.barrier.wait)
            last.start()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, _until, b.barrier._busy, 5)
            real = b._b
            b._b = ActionEndsFirst(real)
            try:
                await b.abort()
            finally:
                b._b = real
            index = await first
            await loop.run_in_executor(None, last.join)
            return index, b.broken
        self.assertEqual(asyncio.run(run()), (0, True))

    def test_an_abort_or_reset_from_another_loop_before_the_resume(self):
        """Review round 28: a coroutine released, then abort() or reset()
        through its object from another loop's thread, returned before
        the coroutine resumed: it returned its index (the follow-up that
        marks it came after its resume in the loop's queue), where the
        same call from its own loop makes it raise, as asyncio's."""
        async def run(op):
            b = rally.AsyncBarrier(2)
            first = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            self.assertEqual(await b.wait(), 1)  # releases `first`
            th = threading.Thread(
                target=lambda: asyncio.run(getattr(b, op)()))
            th.start()
            th.join()  # the loop has not run: `first` has not resumed
            with self.assertRaises(asyncio.BrokenBarrierError):
                await first
        for op in ("abort", "reset"):
            asyncio.run(run(op))

    def test_draining_counts_a_cancelled_waiter_of_the_phase(self):
        """Review round 8: a waiter cancelled whose phase completes
        before it unwinds drains with the others, as asyncio counts it
        until it leaves: the same outcomes as asyncio.Barrier's, step by
        step, with an abort 0, 1 or 2 steps later."""
        async def play(make, abort_at):
            b = make(2)
            t0 = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            t1 = asyncio.create_task(b.wait())
            t2 = asyncio.create_task(b.wait())
            t0.cancel()
            t3 = asyncio.create_task(b.wait())
            ts = [t0, t1, t2, t3]
            for i in range(10):
                if i == abort_at:
                    ts.append(asyncio.create_task(b.abort()))
                await asyncio.sleep(0)
            return ["cancelled" if t.cancelled() else
                    type(t.exception()).__name__ if t.exception()
                    else t.result() for t in ts]
        for abort_at in (None, 1, 2):
            self.assertEqual(
                asyncio.run(play(rally.AsyncBarrier, abort_at)),
                asyncio.run(play(asyncio.Barrier, abort_at)))

    def test_a_failure_after_the_arrival_takes_it_back(self):
        """Anything that fails between the arrival and the wait takes
        the arrival back (review round 5: an eventfd that could not be
        made left it counted, for a thread to complete a phase with)."""
        b = rally.AsyncBarrier(2)

        def fail(self, wait):
            raise OSError("no room")
        real = aio._LoopSleeper.add
        aio._LoopSleeper.add = fail
        try:
            async def run():
                with self.assertRaises(OSError):
                    await b.wait()
            asyncio.run(run())
        finally:
            aio._LoopSleeper.add = real
        self.assertEqual(b.n_waiting, 0)

    def test_more_than_127_words(self):
        """130 barriers with a waiter each: 130 words, two sleeper
        threads; each barrier's second arrival, from another thread,
        releases its waiter through the kernel."""
        bs = [rally.AsyncBarrier(2) for _ in range(130)]

        async def run():
            waits = [asyncio.create_task(b.wait()) for b in bs]
            await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            threads = sleeper_of(loop)._threads.threads
            await loop.run_in_executor(
                None, lambda: [b.barrier.wait() for b in reversed(bs)])
            return await asyncio.wait_for(asyncio.gather(*waits), 30), \
                threads

        got, threads = asyncio.run(run())
        self.assertEqual(got, [0] * 130)
        self.assertEqual(threads, 2)


def _run_an_action_and_die(b, parent):
    """The last arrival of a barrier whose action kills its process."""
    b.barrier.wait()


def _fill_a_phase_and_die(b):
    """Both parties of a phase, as two threads of this process: the last
    runs the action, which kills the process."""
    t = threading.Thread(target=b.barrier.wait, daemon=True)
    t.start()
    b.barrier.wait()


def _die_unless(parent):
    if os.getpid() != parent:
        # Alive when the waiting loop first looks (the busy state changed
        # the word), dead inside the action, holding the barrier busy.
        time.sleep(0.3)
        os._exit(0)


def _set_without_a_wake(word_address):
    """What a setter that dies between its change and its wake leaves:
    rally_event_set's change of the event's word (one generation more,
    the set bit; lib/event.c), and no futex wake."""
    import ctypes
    word = ctypes.c_uint32.from_address(word_address)
    word.value = ((word.value + 0x4) | 0x2) & ~0x1


def _until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.0001)


def _swallow(fn):
    try:
        fn()
    except threading.BrokenBarrierError:
        pass


class _StandIn:
    """A rally.Barrier but for the calls a test's subclass overrides."""

    def __init__(self, b):
        self._real = b

    def __getattr__(self, name):
        return getattr(self._real, name)


class _Held(_StandIn):
    """A rally.Barrier whose call `name` (_reset, _abort) is held once,
    before it takes effect or after it (after=True), until the test lets
    it go: a thread switch there, made to last. `there` is set while it
    is held; `go` lets it go."""

    def __init__(self, b, name, after=False):
        super().__init__(b)
        self.name, self.after, self.held = name, after, False
        self.there, self.go = threading.Event(), threading.Event()

    def _hold(self):
        self.there.set()
        self.go.wait(30)

    def __getattr__(self, name):
        call = getattr(self._real, name)
        if name != self.name or self.held:
            return call

        def held(*args):
            self.held = True
            if not self.after:
                self._hold()
            answer = call(*args)
            if self.after:
                self._hold()
            return answer
        return held


def _in_another_loop(make_coroutine):
    """A started thread that runs make_coroutine() in a loop of its own."""
    t = threading.Thread(target=lambda: asyncio.run(make_coroutine()))
    t.start()
    return t


class _PollSpy:
    """A rally.Barrier as rally.aio sees it, noting the nanoseconds each
    of its tokens' poll() is given."""

    def __init__(self, barrier):
        self._barrier = barrier
        self.polls = []

    def __getattr__(self, name):
        return getattr(self._barrier, name)

    def _arrive(self, left, inside=None):
        token = self._barrier._arrive(left)
        spy = _TokenSpy(token, self.polls)
        if inside is not None and not token.last:
            inside[spy] = None  # the spy is the wait's token
        return spy


class _TokenSpy:
    def __init__(self, token, polls):
        self._token = token
        self._polls = polls

    def __getattr__(self, name):
        return getattr(self._token, name)

    def poll(self, ns):
        self._polls.append(ns)
        return self._token.poll(ns)


class IdleLoops(unittest.TestCase):
    """A loop's sleeper wakes its loop for a change, and every 50 ms only
    for waits whose end no word shows (review round 11: each 50 ms slice
    woke the loop to look at every pending wait — 1000 waits cost 6% of a
    CPU doing nothing)."""

    def test_an_idle_loop_is_not_woken(self):
        """20 barriers and an event waited at by 41 coroutines for 0.4 s
        (8 slices): the sleeper never wakes the loop; then they all
        complete."""
        bs = [rally.AsyncBarrier(3) for _ in range(20)]
        e = rally.AsyncEvent()

        async def run():
            waits = [asyncio.create_task(b.wait()) for b in bs for _ in (0, 1)]
            waits.append(asyncio.create_task(e.wait()))
            await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            before = sleeper_of(loop)._threads.fired
            await asyncio.sleep(0.4)
            idle = sleeper_of(loop)._threads.fired - before
            th = threading.Thread(
                target=lambda: ([b.barrier.wait() for b in bs], e.set()))
            th.start()
            got = await asyncio.wait_for(asyncio.gather(*waits), 10)
            th.join()
            return idle, got

        idle, got = asyncio.run(run())
        self.assertEqual(idle, 0)
        self.assertEqual(sorted(got[:-1]), sorted([0, 1] * 20))
        self.assertIs(got[-1], True)

    def test_a_change_without_a_wake_is_seen(self):
        """An event's word changed as a set does, with no wake (its setter
        died between the two): the waiting coroutine sees it at the end
        of the sleeper's 50 ms slice, not never."""
        e = rally.AsyncEvent()

        async def run():
            w = asyncio.create_task(e.wait())
            await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            (wait,) = sleeper_of(loop)._waits
            address = wait.futex()[0]
            t0 = time.monotonic()
            _set_without_a_wake(address)
            got = await asyncio.wait_for(w, 5)
            return got, time.monotonic() - t0

        got, took = asyncio.run(run())
        self.assertIs(got, True)
        self.assertLess(took, 2.0)

    def test_a_robust_party_that_dies_during_the_wait(self):
        """A robust barrier's party dies while a coroutine waits: its death
        changes no word, and the loop's looks every 50 ms find it —
        OwnerDeadError."""
        b = rally.AsyncBarrier(3, robust=True)

        async def run():
            w = asyncio.create_task(b.wait())
            await asyncio.sleep(0.1)
            p = CTX.Process(target=_arrive_and_die, args=(b,))
            p.start()
            await asyncio.get_running_loop().run_in_executor(None, p.join)
            with self.assertRaises(asyncio.BrokenBarrierError) as cm:
                await asyncio.wait_for(w, 5)
            return cm.exception

        self.assertIsInstance(asyncio.run(run()), aio.OwnerDeadError)

    def test_an_action_runner_that_dies(self):
        """The last arrival, in another process, dies inside the action
        (a shared barrier, not robust): the waiting coroutine is not left
        waiting for ever — the runner's death is found by looks while the
        barrier is busy, and breaks the barrier."""
        parent = os.getpid()
        b = rally.AsyncBarrier(2, action=functools.partial(_die_unless,
                                                           parent))

        async def run():
            w = asyncio.create_task(b.wait())
            await asyncio.sleep(0.1)
            p = CTX.Process(target=_run_an_action_and_die, args=(b, parent))
            p.start()
            await asyncio.get_running_loop().run_in_executor(None, p.join)
            with self.assertRaises(asyncio.BrokenBarrierError):
                await asyncio.wait_for(w, 5)

        asyncio.run(run())

    def test_an_arrival_while_the_action_runner_dies(self):
        """A coroutine arrives while another process runs the action of
        the phase before, and that process dies inside it: the arrival,
        waiting in its loop for the action to end, finds the death by
        looks and raises BrokenBarrierError."""
        parent = os.getpid()
        b = rally.AsyncBarrier(2, action=functools.partial(_die_unless,
                                                           parent))

        async def run():
            # Both parties of the phase in the one process that dies: no
            # other waiter is left to find the death.
            p = CTX.Process(target=_fill_a_phase_and_die, args=(b,))
            p.start()
            deadline = time.monotonic() + 10
            while not b.barrier._busy() and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            self.assertTrue(b.barrier._busy())
            with self.assertRaises(asyncio.BrokenBarrierError):
                await asyncio.wait_for(b.wait(), 5)
            await asyncio.get_running_loop().run_in_executor(None, p.join)

        asyncio.run(run())


class NothingLeft(unittest.TestCase):
    def test_loops_that_end_leave_nothing(self):
        """20 asyncio.run()s, each with a wait that completes or is
        cancelled: once the loops are gone, so are their sleepers' fds and
        threads (review round 1: a table keyed weakly by the loop kept
        every loop, its eventfd and its thread)."""
        gc.collect()  # earlier tests' loops, and their sleepers, go now
        before_fds, before_tasks = fds(), tasks_of_process()
        b = rally.Barrier(2)

        def one(cancel):
            ab = rally.AsyncBarrier.from_barrier(b)

            async def run():
                t = asyncio.create_task(ab.wait())
                await asyncio.sleep(0.01)
                if cancel:
                    t.cancel()
                else:
                    b.wait()
                await asyncio.gather(t, return_exceptions=True)
            asyncio.run(run())

        for k in range(20):
            one(k % 2 == 0)
        gc.collect()
        self.assertEqual(b.n_waiting, 0)
        self.assertEqual(fds(), before_fds)
        self.assertEqual(tasks_of_process(), before_tasks)

    def test_abandoned_wait_is_taken_back(self):
        """A wait left pending on a loop that is closed and dropped: its
        arrival is taken back when the loop goes, not left counted in the
        shared barrier for threads and processes to complete phases on."""
        b = rally.Barrier(2)
        loop = asyncio.new_event_loop()
        ab = rally.AsyncBarrier.from_barrier(b)

        async def start():
            asyncio.get_running_loop().create_task(ab.wait())
            await asyncio.sleep(0.01)
        loop.run_until_complete(start())
        self.assertEqual(b.n_waiting, 1)
        loop.close()
        del loop
        gc.collect()
        self.assertEqual(b.n_waiting, 0)


class WaitInPlace(unittest.TestCase):
    """Barrier._spun: a wait whose loop has nothing else to run waits in
    place for up to 50 us before it goes through the loop's sleeper."""

    def test_not_while_the_loop_has_work(self):
        """Two coroutines of one loop: the first to arrive always has the
        other's step queued — it never waits in place (it would wait for
        a party that cannot run)."""
        b = rally.AsyncBarrier(2)

        async def run():
            async def one():
                for _ in range(200):
                    await b.wait()
            await asyncio.gather(one(), one())
        asyncio.run(run())
        self.assertEqual((b._spin_misses, b._spin_skip), (0, 0))

    def test_a_late_party_makes_waits_skip_it(self):
        """The other party, a thread, comes 20 ms late each time: the
        first wait waits in place in vain and makes the next skip it,
        which then does."""
        b = rally.AsyncBarrier(2)

        def late():
            time.sleep(0.02)
            b.barrier.wait()

        async def run():
            loop = asyncio.get_running_loop()
            seen = []
            for _ in range(2):
                t = loop.run_in_executor(None, late)
                self.assertEqual(await b.wait(), 0)
                seen.append((b._spin_misses, b._spin_skip))
                await t
            return seen
        self.assertEqual(asyncio.run(run()), [(1, 1), (1, 0)])

    def test_released_in_place_then_aborted_before_it_resumes(self):
        """Released in place, a wait that has run nothing else for a
        while yields to the loop once (asyncio.sleep(0)) before it
        returns; an abort through its object in that yield makes it
        raise, as asyncio's released waiter that has not resumed does and
        as one the sleeper released does: the wait in place marks its
        token released for the abort's look. The window, made reachable:
        a thread completes the phase as the coroutine arrives (so the
        poll finds it done at once), and the abort's task is made as the
        release pokes the loop."""
        class CompletedAtArrival(_StandIn):
            def _arrive(self, left, inside=None):
                token = self._real._arrive(left, inside)
                last = threading.Thread(target=self._real.wait)
                last.start()
                last.join()
                return token

        async def run():
            loop = asyncio.get_running_loop()
            b = rally.AsyncBarrier(2)
            b._b = CompletedAtArrival(b._b)
            aborts = []
            poke = b._poke

            def poke_then_abort(lp):
                poke(lp)
                if not aborts:
                    aborts.append(loop.create_task(b.abort()))
            b._poke = poke_then_abort
            spun, spin = [], b._spun
            b._spun = lambda *a: spun.append(spin(*a)) or spun[-1]
            b._suspended_at = float("-inf")  # it yields once released
            with self.assertRaises(asyncio.BrokenBarrierError):
                await b.wait()
            self.assertEqual(spun, [True])  # released in place
            self.assertEqual(len(aborts), 1)
            await aborts[0]
            return b.broken
        self.assertTrue(asyncio.run(run()))

    def test_released_in_place_across_processes(self):
        """2 processes, 2000 phases: the phases complete (through the
        wait in place, mostly) and every index comes out once a phase."""
        b = rally.AsyncBarrier(2, timeout=60)
        p = CTX.Process(target=_spawned_waiter, args=(b, 2000))
        p.start()

        async def run():
            return [await b.wait() for _ in range(2000)]
        got = asyncio.run(run())
        p.join(60)
        self.assertEqual(p.exitcode, 0)
        self.assertEqual(len(got), 2000)
        self.assertLessEqual(set(got), {0, 1})


async def _heartbeat(gaps):
    """Ticks every 5 ms; gaps: the longest time the loop ran nothing."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.005)
        now = time.monotonic()
        gaps[0] = max(gaps[0], now - last)
        last = now


class TheLoopRunsOn(unittest.TestCase):
    """Review round 2: nothing a wait does keeps the loop from its timers,
    I/O and other tasks for long."""

    def test_a_partner_that_keeps_pace(self):
        """A thread partner crossing as fast as the coroutine: waits
        released in place still let the loop run (a timer and
        asyncio.timeout() fire on time)."""
        for _ in range(3):
            b = rally.AsyncBarrier(2)
            stop = []

            def partner():
                try:
                    while not stop:
                        b.barrier.wait()
                except threading.BrokenBarrierError:
                    pass
            th = threading.Thread(target=partner)
            th.start()

            async def run():
                t0 = time.monotonic()
                woke = []

                async def timer():
                    await asyncio.sleep(0.05)
                    woke.append(time.monotonic() - t0)
                asyncio.get_running_loop().create_task(timer())
                try:
                    async with asyncio.timeout(0.2):
                        while time.monotonic() - t0 < 3:
                            await b.wait()
                except TimeoutError:
                    pass
                stop.append(1)
                await b.abort()
                return time.monotonic() - t0, woke

            took, woke = asyncio.run(run())
            th.join()
            self.assertLess(took, 0.3)
            self.assertEqual(len(woke), 1)
            self.assertLess(woke[0], 0.1)

    def test_an_arrival_during_an_action(self):
        """The last arrival of a phase while a thread runs the previous
        phase's long action: it waits off the loop."""
        def action():
            if threading.current_thread() is not threading.main_thread():
                time.sleep(0.4)
        b = rally.AsyncBarrier(2, action=action)

        async def run():
            gaps = [0.0]
            hb = asyncio.get_running_loop().create_task(_heartbeat(gaps))
            first = asyncio.create_task(b.wait())  # phase 0, index 0
            await asyncio.sleep(0.02)
            th = threading.Thread(target=b.barrier.wait)  # its last
            th.start()
            await asyncio.sleep(0.05)  # the action runs in the thread
            # Phase 1: a thread first, then this loop's last arrival,
            # which must wait for phase 0's action.
            th2 = threading.Thread(target=b.barrier.wait)
            th2.start()
            await asyncio.sleep(0.02)
            got = await b.wait()
            await first
            await asyncio.sleep(0.02)  # the heartbeat's tick after it
            hb.cancel()
            th.join()
            th2.join()
            return got, gaps[0]

        got, gap = asyncio.run(run())
        self.assertEqual(got, 1)
        self.assertLess(gap, 0.2)

    def test_cancelled_while_arriving_off_the_loop(self):
        """A wait cancelled while its arrival is made in the executor:
        the arrival is taken back once made."""
        def action():
            if threading.current_thread() is not threading.main_thread():
                time.sleep(0.3)
        b = rally.AsyncBarrier(2, action=action)

        async def run():
            ths = [threading.Thread(target=b.barrier.wait) for _ in range(2)]
            for t in ths:
                t.start()
            while b.n_waiting < 2:  # phase 0 whole: its action runs
                await asyncio.sleep(0.001)
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            t.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await t
            for th in ths:
                await asyncio.get_running_loop().run_in_executor(
                    None, th.join)
            await asyncio.sleep(0.05)
            return b.n_waiting

        self.assertEqual(asyncio.run(run()), 0)

    def test_the_action_runs_in_its_loop_after_waiting(self):
        """Review round 3: the arrival that waited off the loop for
        another party's action is made in the loop: its phase's action
        runs there, with the loop running."""
        ran = []

        def action():
            ran.append((threading.current_thread() is
                        threading.main_thread(), _running()))
            if threading.current_thread() is not threading.main_thread():
                time.sleep(0.3)
        b = rally.AsyncBarrier(2, action=action)

        async def run():
            ths = [threading.Thread(target=b.barrier.wait) for _ in range(2)]
            for t in ths:
                t.start()
            while not b.barrier._busy():
                await asyncio.sleep(0.001)
            got = await asyncio.gather(b.wait(), b.wait())
            for t in ths:
                await asyncio.get_running_loop().run_in_executor(
                    None, t.join)
            return got

        self.assertEqual(sorted(asyncio.run(run())), [0, 1])
        self.assertEqual(ran, [(False, False), (True, True)])

    def test_cancelled_before_its_arrival_was_made(self):
        """Review round 3: a wait cancelled while it waited off the loop
        for another party's action never arrives: the phase still needs
        its party."""
        def action():
            if threading.current_thread() is not threading.main_thread():
                time.sleep(0.3)
        b = rally.AsyncBarrier(2, action=action)

        async def run():
            ths = [threading.Thread(target=b.barrier.wait) for _ in range(2)]
            for t in ths:
                t.start()
            while not b.barrier._busy():
                await asyncio.sleep(0.001)
            def phase_two_first():
                try:
                    b.barrier.wait(timeout=1.0)
                except threading.BrokenBarrierError:
                    pass  # nobody else came: as it should be
            third = threading.Thread(target=phase_two_first)
            third.start()  # phase 2's first: it waits for one more
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0.05)
            t.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await t
            for th in ths:
                await asyncio.get_running_loop().run_in_executor(
                    None, th.join)
            await asyncio.sleep(0.1)
            waiting = b.n_waiting
            await asyncio.get_running_loop().run_in_executor(
                None, third.join)
            return waiting

        self.assertEqual(asyncio.run(run()), 1)

    def test_more_words_than_the_threads_take(self):
        """Review round 3: 10 waits beyond the 64 x 127 words the
        sleeper's threads take are still woken (looked at every ms)."""
        n = rally._rally._SLEEPER_WORDS_MAX + 10
        bs = [rally.AsyncBarrier(2) for _ in range(n)]

        errors = []

        async def run():
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _, ctx: errors.append(ctx))
            waits = [asyncio.create_task(b.wait()) for b in bs]
            await asyncio.sleep(0.2)
            await loop.run_in_executor(None, bs[-1].barrier.wait)
            got = await asyncio.wait_for(waits[-1], 10)
            for w in waits[:-1]:
                w.cancel()
            await asyncio.gather(*waits[:-1], return_exceptions=True)
            return got

        self.assertEqual(asyncio.run(run()), 0)
        self.assertEqual(errors, [])  # nothing went wrong in a callback
        for b in bs:
            b.close()

    def _busy_barrier(self, seconds, **kw):
        """A barrier of 2 whose phase 0 two threads complete, its action
        (in a thread) taking `seconds`: returns it and the threads."""
        def action():
            if threading.current_thread() is not threading.main_thread():
                time.sleep(seconds)
        b = rally.AsyncBarrier(2, action=action, **kw)
        ths = [threading.Thread(target=b.barrier.wait) for _ in range(2)]
        for t in ths:
            t.start()
        while not b.barrier._busy():
            time.sleep(0.001)
        return b, ths

    def test_a_timeout_while_an_action_runs(self):
        """Review round 4: wait(timeout=) and the barrier's own timeout
        end on time while another party's action runs (as a thread's
        timed wait does), breaking the barrier."""
        for own in (False, True):
            b, ths = self._busy_barrier(1.0, timeout=0.2 if own else None)

            async def run():
                t0 = time.monotonic()
                with self.assertRaises(asyncio.BrokenBarrierError):
                    await (b.wait() if own else b.wait(timeout=0.2))
                return time.monotonic() - t0
            took = asyncio.run(run())
            for t in ths:
                t.join()
            self.assertLess(took, 0.6)
            self.assertTrue(b.broken)

    def test_a_cancelled_wait_for_an_action_holds_no_thread(self):
        """Review round 4: a wait for another party's action holds no
        thread, and asyncio.run() returns as soon as it is cancelled."""
        b, ths = self._busy_barrier(1.0)
        before = threading.active_count()  # Python's threads (not C's)

        async def run():
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0.1)
            during = threading.active_count()
            t.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await t
            return during
        t0 = time.monotonic()
        during = asyncio.run(run())
        took = time.monotonic() - t0
        for t in ths:
            t.join()
        self.assertEqual(during, before)  # the sleeper is C's: not here
        self.assertLess(took, 0.5)

    def test_a_cancelled_reset_resets_nothing(self):
        """Review round 4: reset() cancelled while it waits for another
        party's action resets nothing, then or later."""
        b, ths = self._busy_barrier(0.4)

        async def run():
            t = asyncio.create_task(b.reset())
            await asyncio.sleep(0.1)
            t.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await t
            # Phase 1's first arrival, a thread, begun while phase 0's
            # action still runs: a reset made late, once the action
            # ends, would break its phase.
            got = []

            def phase_one():
                try:
                    got.append(b.barrier.wait(timeout=5))
                except threading.BrokenBarrierError as e:
                    got.append(repr(e))
            more = [threading.Thread(target=phase_one) for _ in range(2)]
            more[0].start()
            for th in ths:
                await asyncio.get_running_loop().run_in_executor(
                    None, th.join)
            await asyncio.sleep(0.1)
            more[1].start()
            for th in more:
                await asyncio.get_running_loop().run_in_executor(
                    None, th.join)
            return sorted(got)
        self.assertEqual(asyncio.run(run()), [0, 1])
        self.assertFalse(b.broken)

    def test_owner_dead_before_the_wait(self):
        """Review round 4: a robust barrier whose participant died before
        this wait began: OwnerDeadError, as rally.Barrier's wait."""
        b = rally.AsyncBarrier(3, robust=True)
        p = CTX.Process(target=_arrive_and_die, args=(b,))
        p.start()
        p.join()
        # A thread's wait finds the death and breaks the barrier.
        with self.assertRaises(rally.OwnerDeadError):
            b.barrier.wait(timeout=5)
        self.assertTrue(b.broken)

        async def run():
            with self.assertRaises(aio.OwnerDeadError):
                await b.wait()
        asyncio.run(run())

    def test_a_reset_during_an_action(self):
        """reset() while another party's action runs: the loop runs on."""
        def action():
            time.sleep(0.4)
        b = rally.AsyncBarrier(2, action=action)

        async def run():
            gaps = [0.0]
            hb = asyncio.get_running_loop().create_task(_heartbeat(gaps))
            ths = [threading.Thread(target=b.barrier.wait) for _ in range(2)]
            for t in ths:
                t.start()
            await asyncio.sleep(0.05)
            await b.reset()
            await asyncio.sleep(0.02)  # the heartbeat's tick after it
            hb.cancel()
            for t in ths:
                t.join()
            return gaps[0]

        self.assertLess(asyncio.run(run()), 0.2)

    def test_closed_loops_leave_nothing_without_the_collector(self):
        """asyncio.run() closes its loop: the sleeper goes with it, with
        the collector off."""
        gc.collect()
        before_fds, before_tasks = fds(), tasks_of_process()
        gc.disable()
        try:
            for _ in range(10):
                e = rally.AsyncEvent()

                async def run():
                    t = asyncio.create_task(e.wait())
                    await asyncio.sleep(0.01)
                    e.set()
                    await t
                asyncio.run(run())
            time.sleep(0.1)
            self.assertEqual(fds(), before_fds)
            self.assertEqual(tasks_of_process(), before_tasks)
        finally:
            gc.enable()

    def test_inherited_through_fork(self):
        """An object a fork()ed child inherits after the parent waited on
        it: the child's loop is its own."""
        b = rally.AsyncBarrier(2, timeout=30)

        async def first():
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            b.barrier.wait()
            return await t
        self.assertEqual(asyncio.run(first()), 0)
        p = CTX.Process(target=_spawned_waiter, args=(b, 1))
        p.start()  # fork: b is inherited, not pickled
        b.barrier.wait()
        p.join(30)
        self.assertEqual(p.exitcode, 0)


class StatsAndTraces(unittest.TestCase):
    def test_every_wait_counted_as_wait_counts_it(self):
        """Review round 8: with stats=True a wait that times out or is
        broken is counted, with its time, as rally.Barrier.wait's; a
        cancelled wait whose arrival was taken back is not a wait."""
        b = rally.AsyncBarrier(2, stats=True)

        async def run():
            with self.assertRaises(asyncio.BrokenBarrierError):
                await b.wait(timeout=0.05)  # times out: breaks
            with self.assertRaises(asyncio.BrokenBarrierError):
                await b.wait()  # broken
            await b.reset()
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(0.02):
                    await b.wait()  # cancelled: taken back
        asyncio.run(run())
        st = b.barrier.stats()
        self.assertEqual(st["timeouts"], 1)
        self.assertEqual(st["waits"], 1)  # the broken one never arrived
        self.assertGreaterEqual(st["wait_ns"][0], 50_000_000)

    def test_a_forked_child_counts_none_of_the_parents_waits(self):
        """Review round 9: a child fork()ed in a running loop, its copy
        of the parent's pending wait dropped, counts nothing: a phase of
        2 shows 2 waits, not 3."""
        q = CTX.Queue()
        p = CTX.Process(target=_fork_with_stats, args=(q,))
        p.start()
        got = q.get(timeout=30)
        p.join(30)
        self.assertEqual(got, 2)

    def test_traced_as_wait_traces_it(self):
        """Review round 8: under RALLY_TRACE an async wait that times
        out is traced as a timeout (it was 'broken'), a released one as
        released."""
        import json
        import subprocess
        import tempfile
        prog = (
            "import asyncio, rally\n"
            "b = rally.AsyncBarrier(2)\n"
            "async def run():\n"
            "    try:\n"
            "        await b.wait(timeout=0.05)\n"
            "    except asyncio.BrokenBarrierError:\n"
            "        pass\n"
            "    await b.reset()\n"
            "    t = asyncio.create_task(b.wait())\n"
            "    await asyncio.sleep(0.01)\n"
            "    await asyncio.get_running_loop().run_in_executor(\n"
            "        None, b.barrier.wait)\n"
            "    await t\n"
            "asyncio.run(run())\n")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "trace.json")
            env = dict(os.environ, RALLY_TRACE=path)
            subprocess.run([sys.executable, "-c", prog], env=env, check=True,
                           timeout=60)
            with open(path) as f:
                events = json.load(f)["traceEvents"]
        got = sorted(e["args"]["outcome"] for e in events
                     if e.get("ph") == "X")
        self.assertEqual(got, ["released", "released", "timeout"])


# ---- timeouts and cancellation ------------------------------------------------


class Cancellation(unittest.TestCase):
    def test_cancel_after_the_phase_is_whole(self):
        """A waiter cancelled once every party arrived: the phase
        completes without it; the others are released."""
        b = rally.AsyncBarrier(2)

        async def run():
            t = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            # The second party, through the rally.Barrier, in this very
            # step (it is the last: it does not block): the phase is
            # whole, and the waiter does not know yet.
            self.assertEqual(b.barrier.wait(), 1)
            t.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await t
            self.assertEqual(b.n_waiting, 0)
            # The next phase starts empty.
            u = asyncio.create_task(b.wait())
            await asyncio.sleep(0)
            self.assertEqual(b.n_waiting, 1)
            await asyncio.get_running_loop().run_in_executor(
                None, b.barrier.wait)
            return await u

        self.assertEqual(asyncio.run(run()), 0)

    def test_wait_for_and_timeout(self):
        """asyncio.wait_for and asyncio.timeout cancel (the phase keeps
        filling); the barrier's own timeout breaks it."""
        async def run():
            b = rally.AsyncBarrier(2)
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(b.wait(), 0.05)
            self.assertEqual(b.n_waiting, 0)
            self.assertFalse(b.broken)
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await b.wait()
            self.assertFalse(b.broken)
            t0 = time.monotonic()
            with self.assertRaises(asyncio.BrokenBarrierError):
                await b.wait(timeout=0.1)
            self.assertGreaterEqual(time.monotonic() - t0, 0.09)
            self.assertTrue(b.broken)
            await b.reset()
            timed = rally.AsyncBarrier(2, timeout=0.05)
            with self.assertRaises(asyncio.BrokenBarrierError):
                await timed.wait()
            self.assertTrue(timed.broken)

        asyncio.run(run())

    def test_a_timeout_of_zero_does_not_wait(self):
        """Review round 12: wait(timeout=0) (or less) of a party that is not
        the last breaks the barrier at once, as threading's and
        rally.Barrier's do — not released by a partner that arrives in
        the same loop iteration (nor in the wait in place)."""
        async def one(timeout):
            b = rally.AsyncBarrier(2)

            async def first():
                return await b.wait(timeout=timeout)

            async def second():
                await asyncio.sleep(0)
                return await b.wait()
            got = await asyncio.gather(first(), second(),
                                       return_exceptions=True)
            return [type(g).__name__ if isinstance(g, BaseException) else g
                    for g in got], b.broken

        for timeout in (0, -1):
            got, broken = asyncio.run(one(timeout))
            self.assertEqual(got, ["BrokenBarrierError"] * 2, timeout)
            self.assertTrue(broken)
        # The wait in place never outlasts the deadline: what it asks
        # rally_barrier_poll for is seen through a stand-in for the
        # barrier (a partner arriving meanwhile would make a race: a
        # timeout of 0 of threading's is released by an arrival between
        # its own and its look, too).
        for timeout, most in ((0, None), (0.00002, 20000)):
            b = rally.AsyncBarrier(2)
            spy = _PollSpy(b._b)
            b._b = spy

            async def alone():
                await b.wait(timeout=timeout)
            with self.assertRaises(asyncio.BrokenBarrierError):
                asyncio.run(alone())
            if most is None:
                self.assertEqual(spy.polls, [], timeout)
            else:
                self.assertTrue(all(ns <= most for ns in spy.polls),
                                spy.polls)

    def test_cancellation_storm_leaves_nothing(self):
        """10 000 waits of 8 coroutines on 3-party barriers, cancelled at
        random, with timeouts and resets; every phase that completed
        released exactly its parties; afterwards no fd, thread or shared
        name is left."""
        gc.collect()  # earlier tests' loops, and their sleepers, go now
        before_fds, before_tasks = fds(), tasks_of_process()
        before_shm = shm_names()
        stats = asyncio.run(_storm(10000))
        gc.collect()
        deadline = time.monotonic() + 5
        while tasks_of_process() > before_tasks and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"  storm: {stats}")
        # Every completed phase released exactly its 3 parties (some of
        # them cancelled, or broken by an abort, before they resumed, as
        # in asyncio: they do not return an index).
        self.assertEqual(stats["handed_out"], 3 * stats["phases"])
        self.assertLessEqual(stats["released"], stats["handed_out"])
        self.assertGreater(stats["released"], stats["phases"])
        self.assertGreater(stats["cancelled"], 100)
        self.assertEqual(fds(), before_fds)
        self.assertEqual(tasks_of_process(), before_tasks)
        self.assertEqual(shm_names(), before_shm)


class CountingBarrier(rally.AsyncBarrier):
    """Counts the coroutines each phase released (white box: the hook
    that also starts this process's draining)."""
    handed_out = 0

    def _released(self, token=None):
        self.handed_out += 1
        super()._released(token)

    def _released_cancelled(self):
        self.handed_out += 1


async def _storm(n):
    rng = random.Random(1)
    phases = [0]
    b = CountingBarrier(3, action=lambda: phases.__setitem__(
        0, phases[0] + 1))
    stats = {"released": 0, "cancelled": 0, "broken": 0, "waits": 0}

    async def waiter():
        while stats["waits"] < n:
            stats["waits"] += 1
            try:
                await b.wait()
                stats["released"] += 1
            except asyncio.BrokenBarrierError:
                stats["broken"] += 1
                if rng.random() < 0.2:
                    await b.reset()
            await asyncio.sleep(0)

    tasks = set()
    while stats["waits"] < n:
        while len(tasks) < 8:
            tasks.add(asyncio.create_task(waiter()))
        await asyncio.sleep(0)
        r = rng.random()
        if r < 0.3:
            victim = rng.choice(list(tasks))
            victim.cancel()
            stats["cancelled"] += 1
        elif r < 0.31:
            await b.abort()
            await b.reset()
        tasks = {t for t in tasks if not t.done()}
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await b.abort()
    await b.reset()
    loop = asyncio.get_running_loop()
    s = sleeper_of(loop)
    if s is not None:
        s.close()
    stats["phases"] = phases[0]
    stats["handed_out"] = b.handed_out
    b.close()
    return stats


if __name__ == "__main__":
    main()
