#!/usr/bin/env python3
"""Run the host unit tests of scripts/ashmem-diag and print TAP, one case per
test method, headed "# diag-unit: ashmem-diag host unit tests".

usage: tap_unittest.py   (exits 1 when a test fails or errors)
"""
import os
import sys
import unittest


class TapResult(unittest.TextTestResult):
    """Prints "ok N name" / "not ok N name" as each test ends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.n = 0

    def _line(self, test, ok, detail=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} {test.id()}")
        for line in detail.splitlines():
            print(f"#   {line}")

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, False, self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, False, self.errors[-1][1])

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.n += 1
        print(f"ok {self.n} {test.id()} # SKIP {reason}")


def main():
    if len(sys.argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    suite = unittest.defaultTestLoader.discover(here)
    print("# diag-unit: ashmem-diag host unit tests")
    print(f"1..{suite.countTestCases()}")
    with open(os.devnull, "w") as quiet:
        runner = unittest.TextTestRunner(stream=quiet, resultclass=TapResult)
        result = runner.run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
