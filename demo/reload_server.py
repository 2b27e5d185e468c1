"""A small reloading server that leaks the way a C library does.

Usage: reload_server.py LOG_PATH DRIVER_PID

On every start it opens LOG_PATH for appending and creates a TCP socket (the kind a message-queue
client keeps), both through libc via ctypes, so neither gets O_CLOEXEC / SOCK_CLOEXEC: Python's own
open() and socket() would set it. It writes "ready PID LOG_FD SOCKET_FD" to stdout, then waits. On
SIGHUP it reloads the way autoreloaders do: os.execv(sys.executable, [sys.executable] + sys.argv).
Nothing closes the two fds before that exec, so without libcloexec every reload adds two more.
It exits when its parent, the demo driver DRIVER_PID, is gone.
"""

import ctypes
import os
import signal
import socket
import sys
import time

LIBC = ctypes.CDLL(None, use_errno=True)


def leaky_open(path):
    """libc open(path, O_WRONLY|O_CREAT|O_APPEND, 0644): no O_CLOEXEC."""
    fd = LIBC.open(path.encode(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "open", path)
    return fd


def leaky_socket():
    """libc socket(AF_INET, SOCK_STREAM, 0): no SOCK_CLOEXEC."""
    fd = LIBC.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "socket")
    return fd


def reload(_signum, _frame):
    os.execv(sys.executable, [sys.executable] + sys.argv)


def main():
    log_fd = leaky_open(sys.argv[1])
    sock_fd = leaky_socket()
    os.write(log_fd, b"server %d started\n" % os.getpid())
    signal.signal(signal.SIGHUP, reload)
    print("ready %d %d %d" % (os.getpid(), log_fd, sock_fd), flush=True)
    while os.getppid() == int(sys.argv[2]):
        time.sleep(0.2)


if __name__ == "__main__":
    main()
