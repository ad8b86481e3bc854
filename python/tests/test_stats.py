"""rally.Barrier(stats=True): the counts of the C library as a dict, from
threads and from processes, and their refusals."""
import multiprocessing
import os
import signal
import threading
import time
import unittest

import rally

import runner


def _straggle(barrier, rounds):
    """Arrives last in every phase: once the others wait."""
    for _ in range(rounds):
        while barrier.n_waiting < barrier.parties - 1:
            time.sleep(0.0005)
        barrier.wait()


class StatsTests(unittest.TestCase):
    def test_refused_without_stats_or_with_robust(self):
        b = rally.Barrier(2)
        self.assertFalse(b.stats_kept)
        with self.assertRaises(ValueError):
            b.stats()
        with self.assertRaises(ValueError):
            rally.Barrier(2, robust=True, stats=True)
        b.close()
        with self.assertRaises(ValueError):
            b.stats()

    def test_counts_of_threads(self):
        rounds = 25
        b = rally.Barrier(3, stats=True)
        self.assertTrue(b.stats_kept)
        ts = [threading.Thread(target=lambda: [b.wait()
                                               for _ in range(rounds)])
              for _ in range(2)]
        for t in ts:
            t.start()
        _straggle(b, rounds)
        for t in ts:
            t.join()
        s = b.stats()
        self.assertEqual(s["phases"], rounds)
        self.assertEqual(s["waits"], 3 * rounds)
        self.assertEqual(s["broken"] + s["timeouts"] + s["aborts"]
                         + s["resets"], 0)
        # A shared barrier names the last by pid.
        self.assertEqual(s["last_id"], os.getpid())
        self.assertEqual(s["last_count"], rounds)
        self.assertEqual(s["skew_phases"] + s["skew_missed"], rounds)
        self.assertEqual(sum(s["skew_hist"]), s["skew_phases"])
        self.assertEqual(len(s["wait_ns"]), 16)
        # The two that waited for the straggler waited longer than it.
        self.assertGreater(min(s["wait_ns"][:2]), s["wait_ns"][2])
        self.assertLessEqual(s["skew_p50_ns"], s["skew_p99_ns"])
        self.assertLessEqual(s["skew_p99_ns"], s["skew_max_ns"])

    def test_timeout_abort_reset(self):
        b = rally.Barrier(2, stats=True)
        with self.assertRaises(rally.BrokenBarrierError):
            b.wait(timeout=0.01)
        b.abort()
        b.reset()
        s = b.stats()
        self.assertEqual((s["timeouts"], s["broken"], s["aborts"],
                          s["resets"], s["phases"]), (1, 1, 1, 1, 0))

    def test_wait_stopped_after_its_arrival_completed_its_phase(self):
        """A signal handler that raises while the arrival waits for an
        earlier phase's action: the arrival still completes its phase —
        a wait that got its index, counted (review round 3)."""
        calls = []

        def action():
            calls.append(1)
            if len(calls) == 1:
                time.sleep(0.3)
        b = rally.Barrier(1, action=action, stats=True)

        def handler(sig, frame):
            time.sleep(0.5)  # phase 0 completes meanwhile
            raise RuntimeError("signal")
        old = signal.signal(signal.SIGALRM, handler)
        try:
            t = threading.Thread(target=b.wait)  # phase 0: the slow action
            t.start()
            time.sleep(0.05)
            signal.setitimer(signal.ITIMER_REAL, 0.08)
            with self.assertRaises(RuntimeError):
                b.wait()  # phase 1's only arrival
            t.join()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        s = b.stats()
        self.assertEqual(len(calls), 2)
        self.assertEqual((s["phases"], s["waits"]), (2, 2))
        b.close()

    def test_counts_of_processes(self):
        rounds = 20
        ctx = multiprocessing.get_context("spawn")
        b = rally.Barrier(2, stats=True)
        p = ctx.Process(target=_straggle, args=(b, rounds))
        p.start()
        for _ in range(rounds):
            b.wait()
        p.join(60)
        self.assertEqual(p.exitcode, 0)
        s = b.stats()
        self.assertEqual(s["phases"], rounds)
        self.assertEqual(s["last_id"], p.pid)
        self.assertEqual(s["last_count"], rounds)


if __name__ == "__main__":
    runner.main()
