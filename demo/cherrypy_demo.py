"""`make demo`, part 2: the real CherryPy autoreloader, without and with libcloexec.

Usage: cherrypy_demo.py --lib /abs/path/libcloexec.so [--reloads N]

Installs CherryPy with pip into a venv, target/demo-venv (or, where `python3 -m venv` cannot make
one, into target/demo-pylib with `pip install --target`, used through PYTHONPATH). Then runs
demo/cherrypy_app.py from a temp dir twice, without and with the library, and each time touches
the app's source file N times; each touch makes CherryPy's autoreloader re-exec the server. The
server's fds are counted after the first start and after each reload.

If CherryPy cannot be installed (no network to the package registry, no venv and no pip), it says
so in one line and exits 0: this part is then skipped.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no demo/__pycache__ in the work tree
import demolib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APP = os.path.join(HERE, "cherrypy_app.py")
SYSTEM_PYTHON = "/usr/bin/python3"
REQUIREMENT = "CherryPy==18.10.0"
VENV = os.path.join(ROOT, "target", "demo-venv")
PYLIB = os.path.join(ROOT, "target", "demo-pylib")
PIP_OPTIONS = ["--quiet", "--disable-pip-version-check", "--retries", "1", "--timeout", "30"]


def quiet(argv, env=None, timeout=600):
    """Runs argv with its output captured; True if it exited 0 in time."""
    try:
        done = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def has_cherrypy(python, extra_env):
    return quiet([python, "-c", "import cherrypy"], demolib.environment(extra=extra_env), 60)


def install_cherrypy():
    """(python, extra env) that can import CherryPy, or (None, why not)."""
    venv_python = os.path.join(VENV, "bin", "python")
    pylib_env = {"PYTHONPATH": PYLIB}
    if os.path.exists(venv_python) and has_cherrypy(venv_python, {}):
        return venv_python, {}
    if os.path.isdir(PYLIB) and has_cherrypy(SYSTEM_PYTHON, pylib_env):
        return SYSTEM_PYTHON, pylib_env

    env = demolib.environment()
    if not os.path.exists(venv_python):
        shutil.rmtree(VENV, ignore_errors=True)
        if not quiet([SYSTEM_PYTHON, "-m", "venv", VENV], env, 300):
            shutil.rmtree(VENV, ignore_errors=True)
    if os.path.exists(venv_python) and quiet([venv_python, "-m", "pip", "--version"], env, 60):
        where, python, extra = "target/demo-venv", venv_python, {}
        pip = [venv_python, "-m", "pip", "install"]
    elif quiet([SYSTEM_PYTHON, "-m", "pip", "--version"], env, 60):
        where, python, extra = "target/demo-pylib", SYSTEM_PYTHON, pylib_env
        pip = [SYSTEM_PYTHON, "-m", "pip", "install", "--target", PYLIB]
    else:
        return None, (
            "`%s -m venv` cannot make a venv (Debian: apt-get install python3-venv) "
            "and there is no pip to install CherryPy with" % SYSTEM_PYTHON
        )
    print("    installing %s into %s with pip ..." % (REQUIREMENT, where), flush=True)
    if not quiet(pip + PIP_OPTIONS + [REQUIREMENT], env, 600) or not has_cherrypy(python, extra):
        return None, "pip could not install %s (is the package registry reachable?)" % REQUIREMENT
    return python, extra


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def touch(path):
    """Moves path's mtime one second later than it is, so the autoreloader sees a change."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def run_app(python, extra_env, reloads, tag, lib=None):
    """Starts the app, touches it `reloads` times, returns its fd count after each (re)start."""
    with tempfile.TemporaryDirectory(prefix="cloexec-demo-cherrypy-") as workdir:
        app = os.path.join(workdir, "app.py")
        shutil.copyfile(APP, app)
        log_file = os.path.join(workdir, "cloexec.log")
        env = demolib.environment(lib, log_file, extra_env)
        argv = [python, app, str(free_port()), str(os.getpid())]
        counts = []
        with demolib.Server(argv, env, workdir, os.path.join(workdir, "stderr")) as server:
            ready = "ready %d" % server.pid
            server.wait_line(ready)
            counts.append(demolib.count_fds_settled(server.pid))
            for _ in range(reloads):
                touch(app)
                server.wait_line(ready)
                counts.append(demolib.count_fds_settled(server.pid))
        return counts, demolib.read_log(log_file)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", required=True, help="absolute path of libcloexec.so")
    ap.add_argument("--reloads", type=int, default=5, help="how many reloads (default 5)")
    args = ap.parse_args()

    def run():
        lib = demolib.check_library(args.lib)
        print("== demo 2/2: the real CherryPy autoreloader ==", flush=True)
        python, extra = install_cherrypy()
        if python is None:
            print("    skipped: %s" % extra)
            return 0
        print("    demo/cherrypy_app.py opens app.log and a TCP socket through ctypes at import and")
        print("    serves with engine.autoreload on (CherryPy's own SC_OPEN_MAX loop turned off:")
        print("    max_cloexec_files = 0). Each touch of its source makes CherryPy re-exec the server")
        print("    with os.execv(sys.executable, args). Open fds of the server, from /proc/PID/fd:")
        print(flush=True)
        without, _ = run_app(python, extra, args.reloads, "without")
        with_lib, log = run_app(python, extra, args.reloads, "with", lib)
        demolib.print_table(without, with_lib)
        demolib.print_summary(without, with_lib, log, args.reloads)
        return 0

    return demolib.main_guard(run)


if __name__ == "__main__":
    sys.exit(main())
