"""CPython's own fd and process tests, without and with libcloexec, compared test by test.

Usage: cpython.py --lib /abs/path/libcloexec.so [--python /usr/bin/python3] [--jobs N]
                  [--only NAME ...] [--full] [--keep]

Each suite runs twice in a clean environment (PATH, HOME, LANG, TMPDIR only), in its own scratch
directory, under a timeout: once as is, once with LD_PRELOAD naming the library (default
settings). compat/suite_runner.py runs the tests and records every test's outcome. A test that
passes without the library and fails, errors, skips or never finishes with it is a regression; each one
is run again, with the library, twice: if it fails again it fails this script, and if both
re-runs pass it is reported as flaky. Tests that fail or skip in both passes are reported and
do not fail the run.

Why these suites and subsets: see SUITES below and README.md ("Peers' own test suites").
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "suite_runner.py")

PASSED = {"pass", "xfail"}
FAILED = {"fail", "error", "xpass"}

# The multiprocessing tests come as mixin classes that _test_multiprocessing instantiates three
# times: WithProcesses* (real child processes, started by the start method under test: the exec,
# the pipes and the fds named in the child's argv are what the library judges), WithManager*
# (the same primitives through a manager server process) and WithThreads* (threads standing in
# for processes: no fork, no exec). Plain Test* classes each start processes of their own
# (TestCloseFds, TestResourceTracker, TestStartMethod, TestStdinBadfiledescriptor, ...).
# Kept: WithProcesses* and Test*: process start and exit, Pipe/Queue/Listener/Client, fd and
# connection passing between processes (test_fd_transfer, TestPicklingConnections), Pool
# workers, heap and shared memory, manager servers (TestManagerRestart, TestMyManager), the
# resource tracker and the forkserver. Left out, being most of the time and none of the fd
# story: WithThreads* (never reach exec); WithManager* (one manager process per class, then
# proxies over one socket); and the synchronisation primitives Lock, Semaphore, Condition,
# Event, Barrier and TestSyncManagerTypes, whose processes start the same way as the kept
# classes' and then mostly sleep through timeouts (spawn, whole module: 230 s on 2 busy cores).
MP_PATTERNS = [
    "WithProcesses*",
    "Test*",
    "MiscTestCase.*",
    "OtherTest.*",
    "SemLockTests.*",
    *(f"!WithProcessesTest{p}.*" for p in ("Lock", "Semaphore", "Condition", "Event", "Barrier")),
    "!TestSyncManagerTypes.*",
]


@dataclasses.dataclass
class Suite:
    name: str
    module: str
    patterns: list
    timeout: int  # seconds for one pass; generous, a hang is what it catches
    estimate: int  # seconds, to start the longest first


SUITES = [
    # Whole modules: each is about fds, process creation or what exec inherits.
    Suite("test_subprocess", "test.test_subprocess", [], 300, 40),
    Suite("test_os", "test.test_os", [], 120, 3),
    Suite("test_posix", "test.test_posix", [], 120, 3),
    Suite("test_pty", "test.test_pty", [], 60, 1),
    Suite("test_signal", "test.test_signal", [], 240, 50),
    Suite("test_asyncio.test_subprocess", "test.test_asyncio.test_subprocess", [], 180, 15),
    Suite("multiprocessing/fork", "test.test_multiprocessing_fork", MP_PATTERNS, 300, 60),
    Suite("multiprocessing/forkserver", "test.test_multiprocessing_forkserver", MP_PATTERNS, 400, 100),
    Suite("multiprocessing/spawn", "test.test_multiprocessing_spawn", MP_PATTERNS, 400, 150),
]


@dataclasses.dataclass
class Run:
    """One pass of one suite: what the runner recorded and how the process ended."""

    suite: Suite
    with_lib: bool
    results: dict  # test id -> {"status", "detail"}
    lib_mapped: object  # True, False or None (the runner never got that far)
    returncode: int
    timed_out: bool
    seconds: float
    unfinished: object  # the test running when the process ended early, or None
    log: str

    def count(self, statuses):
        return sum(1 for r in self.results.values() if r["status"] in statuses)

    def tally(self):
        extra = " +1 unfinished" if self.unfinished else ""
        return (
            f"{self.count(PASSED):4d} passed {self.count(FAILED):3d} failed "
            f"{self.count({'skip'}):3d} skipped{extra}"
        )


def clean_env(home, tmp, lib):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "TMPDIR": tmp,
    }
    if lib:
        env["LD_PRELOAD"] = lib
    return env


def run_suite(python, suite, lib, workdir, patterns=None, tag=""):
    """Runs one pass of `suite` (with the library when `lib` is set) and returns its Run."""
    label = f"{suite.name.replace('/', '-')}-{'with' if lib else 'without'}{tag}"
    base = os.path.join(workdir, label)
    cwd, home, tmp = (os.path.join(base, d) for d in ("cwd", "home", "tmp"))
    for d in (cwd, home, tmp):
        os.makedirs(d)
    results_path = os.path.join(base, "results.jsonl")
    log_path = os.path.join(base, "output.log")
    command = [python, RUNNER, results_path, suite.module, *(patterns or suite.patterns)]

    start = time.monotonic()
    timed_out = False
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=clean_env(home, tmp, lib),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=suite.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        # The whole session goes: a test's stray children must not outlive its pass.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    seconds = time.monotonic() - start
    return parse(suite, bool(lib), results_path, log_path, proc.returncode, timed_out, seconds)


def parse(suite, with_lib, results_path, log_path, returncode, timed_out, seconds):
    results, lib_mapped, started = {}, None, None
    try:
        lines = open(results_path, encoding="utf-8").read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if "lib" in record:
            lib_mapped = record["lib"]
        elif "start" in record:
            started = record["start"]
        elif "id" in record:
            results[record["id"]] = record
            if record["id"] == started:
                started = None
    return Run(suite, with_lib, results, lib_mapped, returncode, timed_out, seconds, started, log_path)


def regressions(without, with_):
    """Test ids that pass without the library and do not pass with it (a failure, an error, a
    skip, or no outcome at all), plus failures that exist only with it (a class or module
    fixture that broke)."""
    found = []
    for test_id, record in without.results.items():
        if record["status"] in PASSED:
            other = with_.results.get(test_id)
            if other is None or other["status"] not in PASSED:
                found.append(test_id)
    for test_id, record in with_.results.items():
        if test_id not in without.results and record["status"] in FAILED:
            found.append(test_id)
    return sorted(found)


def is_fixture(test_id):
    """unittest names a failed class or module fixture `setUpClass (test.test_x.Case)`."""
    return " (" in test_id and test_id.endswith(")")


def rerun_pattern(suite, test_id):
    """The runner's glob that selects `test_id` again; a fixture selects its class or module."""
    if is_fixture(test_id):
        scope = test_id.split(" (", 1)[1][:-1]
        local = scope.removeprefix(suite.module).lstrip(".")
        return f"{local}.*" if local else "*"
    return test_id.removeprefix(suite.module + ".")


def confirm(python, suite, lib, workdir, ids, attempts=2):
    """Re-runs `ids` with the library; returns (failed again, passed on every re-run)."""
    failing = set()
    for attempt in range(attempts):
        patterns = [rerun_pattern(suite, i) for i in ids]
        run = run_suite(python, suite, lib, workdir, patterns, f"-rerun{attempt}")
        for test_id in ids:
            record = run.results.get(test_id)
            if record is None and is_fixture(test_id):
                continue  # the fixture worked this time
            if record is None or record["status"] not in PASSED:
                failing.add(test_id)
    return sorted(failing), sorted(set(ids) - failing)


def describe_end(run):
    if run.timed_out:
        return f"timed out after {run.suite.timeout} s"
    if run.returncode != 0:
        return f"exit status {run.returncode}"
    return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, help="absolute path of libcloexec.so")
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--jobs", type=int, default=4, help="passes run at once (default 4)")
    parser.add_argument("--only", nargs="*", help="suite names to run (default all)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--full", action="store_true",
                        help="whole modules, no subsets (several times slower; timeouts tripled)")
    args = parser.parse_args()

    if not os.path.isabs(args.lib) or not os.path.isfile(args.lib):
        sys.exit(f"compat: --lib must be the absolute path of the built library, not {args.lib!r}")
    probe = subprocess.run(
        [args.python, "-c", "import test.test_subprocess, test.test_multiprocessing_spawn"],
        env=clean_env("/", "/tmp", None),
        capture_output=True,
    )
    if probe.returncode != 0:
        sys.exit(
            f"compat: {args.python} has no CPython test suite "
            "(Debian: apt-get install libpython3.11-testsuite)\n" + probe.stderr.decode(errors="replace")
        )
    suites = [s for s in SUITES if not args.only or s.name in args.only]
    if args.full:
        suites = [dataclasses.replace(s, patterns=[], timeout=3 * s.timeout) for s in suites]
    if not suites:
        sys.exit(f"compat: no suite named {args.only}; known: {[s.name for s in SUITES]}")

    # Under /tmp whatever TMPDIR says: multiprocessing puts unix sockets in the passes' TMPDIR,
    # and a socket's path must stay under 108 bytes.
    workdir = tempfile.mkdtemp(prefix="cloexec-compat-", dir="/tmp")
    jobs = sorted(((s, lib) for s in suites for lib in (None, args.lib)), key=lambda j: -j[0].estimate)
    print(f"compat: {len(suites)} suites, without and with {args.lib}, {args.jobs} at a time "
          f"(logs in {workdir})", flush=True)
    start = time.monotonic()
    runs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_suite, args.python, s, lib, workdir): (s.name, bool(lib)) for s, lib in jobs}
        for future in concurrent.futures.as_completed(futures):
            run = future.result()
            runs[futures[future]] = run
            print(f"  done: {run.suite.name} {'with' if run.with_lib else 'without'} "
                  f"in {run.seconds:.0f} s", flush=True)

    problems, regressed, flaky, both_failed = [], [], [], []
    print(f"\n{'suite':30s}  {'without the library':44s}  with the library")
    for suite in suites:
        without, with_ = runs[(suite.name, False)], runs[(suite.name, True)]
        print(f"{suite.name:30s}  {without.tally():44s}  {with_.tally()}   "
              f"({without.seconds:.0f} s / {with_.seconds:.0f} s)")
        for run in (without, with_):
            end = describe_end(run)
            if end:
                where = f", while running {run.unfinished}" if run.unfinished else ""
                print(f"{'':32s}{'with' if run.with_lib else 'without'}: {end}{where}")
        if with_.lib_mapped is not True:
            problems.append(f"{suite.name}: the library was not loaded in the with-library pass")
        if without.lib_mapped is not False:
            problems.append(f"{suite.name}: the without-library pass did not start cleanly "
                            f"(library mapped: {without.lib_mapped})")
        if not without.results:
            problems.append(f"{suite.name}: no test ran without the library; see {without.log}")
        both_failed += [
            f"{suite.name}: {i} ({r['status']})" for i, r in sorted(without.results.items())
            if r["status"] in FAILED and with_.results.get(i, {}).get("status") in FAILED
        ]
        ids = regressions(without, with_)
        if ids:
            failing, passing = confirm(args.python, suite, args.lib, workdir, ids)
            regressed += [(suite, with_, i) for i in failing]
            flaky += [f"{suite.name}: {i}" for i in passing]

    print(f"\ncompat: {time.monotonic() - start:.0f} s in all")
    if both_failed:
        print("\nFailing in both passes (not the library's doing):")
        print("".join(f"  {line}\n" for line in both_failed), end="")
    if flaky:
        print("\nFailed once with the library, then passed twice when re-run with it (flaky):")
        print("".join(f"  {line}\n" for line in flaky), end="")
    for line in problems:
        print(f"\nPROBLEM: {line}")
    if regressed:
        print(f"\n{len(regressed)} test(s) pass without the library and fail with it "
              f"(CLOEXEC_LOG=debug on the command shows what was swept):")
        for suite, run, test_id in regressed:
            record = run.results.get(test_id)
            print(f"\n=== {suite.name}: {test_id}")
            if record is None:
                print(f"did not finish with the library ({describe_end(run) or 'not run'}); "
                      f"log: {run.log}")
            else:
                print(f"{record['status']}:\n{record['detail'].rstrip()}")
    if regressed or problems:
        print(f"\ncompat: FAILED (logs kept in {workdir})")
        return 1
    if args.keep:
        print(f"compat: logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("compat: ok, no test passes without the library and fails with it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
