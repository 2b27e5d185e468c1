"""Run one CPython regression-test module and record every test's outcome.

Usage: suite_runner.py RESULTS MODULE [PATTERN ...]

MODULE is a dotted name under the `test` package (`test.test_subprocess`). PATTERNs are globs
(fnmatch) on a test's id within the module (`Class.test_method`); one that starts with `!`
excludes. A test runs when it matches an including pattern (or there are none) and no excluding
one.

One JSON object per line goes to RESULTS, flushed as it happens, so a run that crashes or is
killed by its timeout still leaves everything that finished, plus the test that was running:
  {"lib": true|false}                    whether libcloexec.so is mapped in this process
  {"start": ID}                          a test began
  {"id": ID, "status": S, "detail": T, "time": SECONDS}
                                         S is pass, fail, error, skip, xfail or xpass

Failing subtests count as a failure of their test (unittest reports them separately and never
calls addSuccess for it), and a failing setUpClass or setUpModule is recorded under unittest's
own id for it (`setUpClass (test.test_x.Case)`).

This stands in for regrtest (`python3 -m test`), whose JUnit output drops failing subtests and
fixture errors: the setup that matters is copied (faulthandler, a per-test timeout, resources,
a scratch working directory).
"""

import faulthandler
import fnmatch
import json
import os
import sys
import time
import unittest

# Tests may run this long before faulthandler prints every thread's stack and exits; the driver
# then records the running test as a timeout.
PER_TEST_TIMEOUT = float(os.environ.get("COMPAT_TEST_TIMEOUT", "120"))

# regrtest's optional resources (network, cpu, largefile, ...): none, as `python3 -m test`
# without -u. The suites run here gate nothing that matters for fds on them.
RESOURCES = []


class Recorder(unittest.TestResult):
    """Collects one outcome per test id and writes it out as soon as it is known."""

    STRENGTH = {"pass": 0, "xfail": 0, "skip": 1, "xpass": 2, "fail": 3, "error": 4}

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.current = {}

    def emit(self, record):
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def note(self, test, status, detail=""):
        test_id = getattr(test, "test_case", test).id()
        entry = self.current.get(test_id)
        if entry is None:
            # Not between startTest and stopTest: a class or module fixture error.
            self.emit({"id": test_id, "status": status, "detail": detail})
            return
        if self.STRENGTH[status] >= self.STRENGTH[entry["status"]]:
            entry["status"] = status
        if detail:
            entry["detail"] += detail

    def describe(self, test, err):
        # unittest's own formatting, which leaves out unittest's frames.
        return f"[{test}]\n{self._exc_info_to_string(err, test)}"

    def startTest(self, test):
        super().startTest(test)
        self.current[test.id()] = {"id": test.id(), "status": "pass", "detail": "", "t0": time.monotonic()}
        self.emit({"start": test.id()})
        faulthandler.dump_traceback_later(PER_TEST_TIMEOUT, exit=True)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        entry = self.current.pop(test.id(), None)
        if entry is not None:
            entry["time"] = round(time.monotonic() - entry.pop("t0"), 3)
            self.emit(entry)
        super().stopTest(test)

    def addError(self, test, err):
        super().addError(test, err)
        self.note(test, "error", self.describe(test, err))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.note(test, "fail", self.describe(test, err))

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.note(test, "fail" if failed else "error", self.describe(subtest, err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.note(test, "skip", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.note(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.note(test, "xpass")


def select(suite, module_name, patterns):
    """The tests of `suite` that the patterns choose (see the module's doc)."""
    if not patterns:
        return suite
    include = [p for p in patterns if not p.startswith("!")]
    exclude = [p[1:] for p in patterns if p.startswith("!")]
    chosen = unittest.TestSuite()
    for test in iterate(suite):
        local_id = test.id().removeprefix(module_name + ".")
        if include and not any(fnmatch.fnmatchcase(local_id, p) for p in include):
            continue
        if not any(fnmatch.fnmatchcase(local_id, p) for p in exclude):
            chosen.addTest(test)
    return chosen


def iterate(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iterate(item)
        else:
            yield item


def library_mapped():
    with open("/proc/self/maps") as maps:
        return any(line.rstrip().endswith("/libcloexec.so") for line in maps)


def main():
    results_path, module_name, *patterns = sys.argv[1:]
    faulthandler.enable(all_threads=True)

    from test import support
    support.use_resources = RESOURCES
    support.verbose = False

    out = open(results_path, "w", encoding="utf-8")
    recorder = Recorder(out)
    recorder.emit({"lib": library_mapped()})

    suite = unittest.defaultTestLoader.loadTestsFromName(module_name)
    suite = select(suite, module_name, patterns)
    # Unittest's class and module fixtures run in suite.run(), as under regrtest.
    suite.run(recorder)
    recorder.emit({"done": recorder.testsRun})
    out.close()


if __name__ == "__main__":
    main()
