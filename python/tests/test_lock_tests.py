"""CPython's own tests of threading.Barrier and threading.Event, unmodified,
run against rally.Barrier and rally.Event the way CPython's test_threading
runs them: a subclass that sets the class under test.

test.lock_tests ships with the interpreter (Debian: libpython3.X-testsuite).
"""
import sys
import unittest

import rally

try:
    from test import lock_tests
except ImportError:
    print("test.lock_tests is missing: install CPython's test suite "
          f"(Debian: apt-get install libpython{sys.version_info[0]}."
          f"{sys.version_info[1]}-testsuite)", file=sys.stderr)
    sys.exit(77)  # Meson: skipped


class RallyBarrierTests(lock_tests.BarrierTests):
    barriertype = staticmethod(rally.Barrier)


class RallyEventTests(lock_tests.EventTests):
    eventtype = staticmethod(rally.Event)

    # White box: threading.Event is a Condition around a Lock, and this
    # test checks that private Condition (evt._cond) and its private
    # after-fork hook. rally.Event has neither — no lock at all — so
    # there is nothing for it to check.
    @unittest.skip("tests threading.Event's private _cond, which "
                   "rally.Event has no equivalent of")
    def test_at_fork_reinit(self):
        pass


if __name__ == "__main__":
    suite = unittest.TestSuite()
    loader = unittest.defaultTestLoader
    for cls in (RallyBarrierTests, RallyEventTests):
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
