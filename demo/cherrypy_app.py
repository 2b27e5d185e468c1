"""A CherryPy app whose module leaks two fds at import, run under CherryPy's own autoreloader.

Usage: cherrypy_app.py PORT DRIVER_PID

At import it opens app.log (next to this file) and creates a TCP socket through libc via ctypes,
as a C logging or message-queue library would: no O_CLOEXEC. Then it serves on 127.0.0.1:PORT with
the autoreloader on. When this file's mtime changes, CherryPy stops the engine and re-execs with
os.execv(sys.executable, args). After each (re)start it writes "ready PID" to stdout. It exits when
its parent, the demo driver DRIVER_PID, is gone.

CherryPy's own fix, a loop of fcntl(F_SETFD, FD_CLOEXEC) over every fd from 3 to SC_OPEN_MAX before
that exec, is turned off (max_cloexec_files = 0), as it has to be where nofile is 1073741816 and that
loop takes minutes.
"""

import ctypes
import os
import socket
import sys
import time

import cherrypy
from cherrypy.process.plugins import Monitor

HERE = os.path.dirname(os.path.abspath(__file__))
LIBC = ctypes.CDLL(None, use_errno=True)

# The leaks, at import time.
LOG_FD = LIBC.open(
    os.path.join(HERE, "app.log").encode(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
)
MQ_FD = LIBC.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
if LOG_FD < 0 or MQ_FD < 0:
    raise OSError(ctypes.get_errno(), "ctypes open/socket")


class Root:
    @cherrypy.expose
    def index(self):
        return "pid %d has %d fds open\n" % (os.getpid(), len(os.listdir("/proc/self/fd")))


def wait_for_autoreloader(limit=10.0):
    """Waits until the autoreloader's thread has recorded this file's mtime.

    A touch before that would become its baseline and go unseen. (Calling autoreload.run() here
    instead races with that thread: run() reads a missing mtime as 0, so a file that the other
    thread records meanwhile looks changed, and CherryPy restarts for nothing.)
    """
    me = os.path.abspath(__file__)
    deadline = time.monotonic() + limit
    while me not in cherrypy.engine.autoreload.mtimes and time.monotonic() < deadline:
        time.sleep(0.01)


def exit_if_orphaned():
    if os.getppid() != int(sys.argv[2]):
        cherrypy.engine.exit()


def main():
    cherrypy.config.update(
        {
            "server.socket_host": "127.0.0.1",
            "server.socket_port": int(sys.argv[1]),
            "engine.autoreload.on": True,
            "engine.autoreload.frequency": 0.1,
            "checker.on": False,
            "log.screen": False,
            "log.error_file": os.path.join(HERE, "cherrypy-error.log"),
        }
    )
    cherrypy.engine.max_cloexec_files = 0
    cherrypy.tree.mount(Root(), "/")
    cherrypy.engine.signal_handler.subscribe()
    Monitor(cherrypy.engine, exit_if_orphaned, frequency=0.5, name="orphan check").subscribe()
    cherrypy.engine.start()
    wait_for_autoreloader()
    try:
        print("ready %d" % os.getpid(), flush=True)
    except BrokenPipeError:
        cherrypy.engine.exit()
        return
    cherrypy.engine.block()


if __name__ == "__main__":
    main()
