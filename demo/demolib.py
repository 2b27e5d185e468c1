"""Shared by the two parts of `make demo`: run a reloading server, count its fds, print the table.

The drivers (reload_demo.py, cherrypy_demo.py) run each server twice: once with a clean environment
(no LD_PRELOAD, no CLOEXEC_*, so a library in the user's profile cannot hide the leak) and once with
LD_PRELOAD=<the library> and CLOEXEC_LOG=info written to a log file. The server is started with only
fds 0, 1 and 2 (subprocess closes the rest) and tells the driver it is up by writing a line to its
stdout after every (re)start. The driver counts the server's fds from outside, in /proc/PID/fd, so
counting adds no fd of its own.
"""

import os
import select
import signal
import subprocess
import sys
import time

# How long one start or reload may take before the demo gives up on it.
READY_TIMEOUT = 30.0


class DemoError(Exception):
    """Something in the demo went wrong; the message says what."""


def check_library(path):
    """The preload library's path, which must be absolute (the loader ignores relative ones)."""
    if not os.path.isabs(path):
        raise DemoError("LD_PRELOAD needs an absolute path, got %r" % path)
    if not os.path.isfile(path):
        raise DemoError("%s does not exist: run `make lib` first" % path)
    return path


def environment(lib=None, log_file=None, extra=None):
    """The server's environment: ours without LD_PRELOAD and CLOEXEC_*, then the library if given."""
    env = {
        k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("CLOEXEC_")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if lib is not None:
        env["LD_PRELOAD"] = lib
        env["CLOEXEC_LOG"] = "info"
        env["CLOEXEC_LOG_FILE"] = log_file
    env.update(extra or {})
    return env


def count_fds(pid):
    """The number of fds open in process `pid` (entries of /proc/PID/fd)."""
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_table(pid):
    """{fd: target} of process `pid`, from the /proc/PID/fd links (fds closed meanwhile left out)."""
    table = {}
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            table[int(name)] = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except FileNotFoundError:
            pass
    return table


def count_fds_settled(pid, interval=0.05, times=4, limit=5.0):
    """The number of fds open in `pid` once its fd table stays the same for `times` looks in a row.

    For a multithreaded server whose threads are still settling when it says it is ready (CherryPy
    accepts and drops its own port probe then). Gives up waiting after `limit` seconds.
    """
    deadline = time.monotonic() + limit
    last, same = None, 0
    while True:
        table = fd_table(pid)
        same = same + 1 if table == last else 1
        if same >= times or time.monotonic() >= deadline:
            return len(table)
        last = table
        time.sleep(interval)


class Server:
    """A server process, with its stdout read line by line under a timeout.

    Use it as a context manager: leaving the block ends it (SIGTERM, then SIGKILL). It stays in our
    process group, so Ctrl-C, or a test runner that kills our group, ends it too. Its stderr goes to
    `stderr_path`, shown when something fails.
    """

    def __init__(self, argv, env, cwd, stderr_path):
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                close_fds=True,
            )
        self.pid = self.proc.pid
        self._buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def wait_line(self, prefix, timeout=READY_TIMEOUT):
        """Waits for the next stdout line that starts with `prefix` and returns it."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(prefix):
                    return text
            left = deadline - time.monotonic()
            if left <= 0:
                raise DemoError("the server said no %r within %.0f s%s" % (prefix, timeout, self._tail()))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=5)
                    raise DemoError(
                        "the server exited (status %s)%s" % (self.proc.returncode, self._tail())
                    )
                self._buf += chunk

    def stop(self):
        """Ends the server and closes our end of its stdout."""
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        self.proc.stdout.close()

    def _tail(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                lines = f.read().splitlines()[-15:]
        except OSError:
            return ""
        return "".join("\n    server stderr: " + line for line in lines)


def read_log(path):
    """The lines the library wrote to CLOEXEC_LOG_FILE (none if it wrote nothing)."""
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def print_table(without, with_lib):
    """The side-by-side table: one row per reload (0 is the first start)."""
    print("    reload   fds without   fds with libcloexec")
    for i, (a, b) in enumerate(zip(without, with_lib)):
        print("    %6d   %11d   %19d" % (i, a, b))


def print_summary(without, with_lib, log_lines, reloads):
    """What the table shows, in words, then one line of the library's log."""
    n = len(without) - 1
    grew = without[-1] - without[0]
    per = grew / n if n else 0
    print()
    print(
        "    without the library: %d -> %d fds after %d reloads (%s per reload)"
        % (without[0], without[-1], n, ("%g" % per))
    )
    print(
        "    with libcloexec:     %d -> %d fds after %d reloads"
        % (with_lib[0], with_lib[-1], n)
    )
    swept = [line for line in log_lines if "swept" in line]
    if swept:
        print(
            "    its log (CLOEXEC_LOG=info, CLOEXEC_LOG_FILE): %d lines for %d reloads; the first:"
            % (len(swept), reloads)
        )
        print("      " + swept[0])
    else:
        print("    the library logged no sweep (CLOEXEC_LOG=info)")


def main_guard(run):
    """Runs `run()`, turning a DemoError or Ctrl-C into a one-line message and exit status 1."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run()
    except DemoError as e:
        print("demo failed: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        return 130
