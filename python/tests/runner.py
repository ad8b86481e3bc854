"""Runs a test module's unittest cases and ends with the line CI counts:
"N passed, N failed"."""
import sys
import unittest


def main():
    result = unittest.main(module="__main__", exit=False,
                           verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed - len(result.skipped)} passed, "
          f"{failed} failed")
    sys.exit(0 if result.wasSuccessful() else 1)
