"""`make demo`, part 1: a reloading server leaks two fds per reload; under libcloexec it leaks none.

Usage: reload_demo.py --lib /abs/path/libcloexec.so [--reloads N] [--machine]

Runs demo/reload_server.py twice, without and then with the library, sends it SIGHUP N times
(each one an os.execv of the whole server) and counts its open fds after the first start and after
each reload. Prints a table, a summary and the first line the library logged. With --machine it
prints instead, for tests:
    without N0 N1 ... NN
    with N0 N1 ... NN
    log LINE            (one per line the library logged)
"""

import argparse
import os
import signal
import sys
import tempfile

sys.dont_write_bytecode = True  # no demo/__pycache__ in the work tree
import demolib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "reload_server.py")


def run_server(python, reloads, workdir, tag, lib=None):
    """Starts the server, reloads it `reloads` times, returns its fd count after each (re)start."""
    log_file = os.path.join(workdir, "cloexec-%s.log" % tag)
    env = demolib.environment(lib, log_file)
    argv = [python, SERVER, os.path.join(workdir, "app.log"), str(os.getpid())]
    counts = []
    with demolib.Server(argv, env, workdir, os.path.join(workdir, "stderr-%s" % tag)) as server:
        server.wait_line("ready ")
        counts.append(demolib.count_fds(server.pid))
        for _ in range(reloads):
            os.kill(server.pid, signal.SIGHUP)
            server.wait_line("ready ")
            counts.append(demolib.count_fds(server.pid))
    return counts, demolib.read_log(log_file)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", required=True, help="absolute path of libcloexec.so")
    ap.add_argument("--reloads", type=int, default=10, help="how many reloads (default 10)")
    ap.add_argument("--python", default="/usr/bin/python3", help="the server's interpreter")
    ap.add_argument("--machine", action="store_true", help="print lists instead of the table")
    ap.add_argument("--save-log", metavar="PATH", help="also write the library's log lines to PATH")
    args = ap.parse_args()

    def run():
        lib = demolib.check_library(args.lib)
        if not args.machine:
            print("== demo 1/2: a reloading server that leaks a log file and a socket ==")
            print("    demo/reload_server.py opens app.log and a TCP socket through ctypes (libc open")
            print("    and socket, no O_CLOEXEC, as a C library does), then re-execs itself with")
            print("    os.execv on every reload (SIGHUP). Open fds of the server, from /proc/PID/fd:")
            print(flush=True)
        with tempfile.TemporaryDirectory(prefix="cloexec-demo-") as workdir:
            without, _ = run_server(args.python, args.reloads, workdir, "without")
            with_lib, log = run_server(args.python, args.reloads, workdir, "with", lib)
        if args.save_log:
            with open(args.save_log, "w") as saved:
                saved.writelines(line + "\n" for line in log)
        if args.machine:
            print("without", *without)
            print("with", *with_lib)
            for line in log:
                print("log", line)
            return 0
        demolib.print_table(without, with_lib)
        demolib.print_summary(without, with_lib, log, args.reloads)
        print()
        return 0

    return demolib.main_guard(run)


if __name__ == "__main__":
    sys.exit(main())
