"""CPython's own tests of asyncio.Barrier and asyncio.Event
(test.test_asyncio.test_locks: BarrierTests, EventTests), unmodified, run
against rally.AsyncBarrier and rally.AsyncEvent: for the run, the test
module's asyncio.Barrier and asyncio.Event are rally's.

test.test_asyncio ships with the interpreter (Debian:
libpython3.X-testsuite). Cases skipped are listed with the reason at the
end of the run.
"""
import asyncio
import sys
import unittest

import rally

try:
    from test.test_asyncio import test_locks
except ImportError:
    print("test.test_asyncio is missing: install CPython's test suite "
          f"(Debian: apt-get install libpython{sys.version_info[0]}."
          f"{sys.version_info[1]}-testsuite)", file=sys.stderr)
    sys.exit(77)  # Meson: skipped

# Cases skipped, each with its reason (none: asyncio.Barrier's private
# _count, which test_reset_barrier_when_tasks_half_draining reads, is kept
# under that name with the same meaning — this process's coroutines inside
# wait(), draining ones included).
SKIPS = {}


def main():
    asyncio.Barrier = rally.AsyncBarrier
    asyncio.Event = rally.AsyncEvent
    for name, why in SKIPS.items():
        setattr(test_locks.BarrierTests, name,
                unittest.skip(why)(getattr(test_locks.BarrierTests, name)))
    suite = unittest.TestSuite()
    loader = unittest.defaultTestLoader
    for cls in (test_locks.BarrierTests, test_locks.EventTests):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        suite)
    skipped = len(result.skipped)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - skipped
    print(f"{passed} passed, {failed} failed ({skipped} skipped: "
          + "; ".join(f"{t.id().split('.')[-1]}: {why}"
                      for t, why in result.skipped) + ")")
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
