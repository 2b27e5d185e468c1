/* The library's hooks: the one list that the harness (leaky's entry names,
 * the exec-entry switch in exec_entry.h), the Rust tests (tests/common:
 * ENTRIES, EXEC_ENTRIES, HOOKS, read from this file when they compile) and
 * the static export check derive from. A new hook is one line here.
 *
 * X-macros, one per family, each line `X(name, NAME)`:
 *   EXEC_ENTRIES    replace the caller (usable in a vfork child, a fork child
 *                   of a threaded program, a signal handler); listed first
 *   SPAWN_ENTRIES   start a child and return
 *   RECORDER_HOOKS  record an act of intent or a lock; they never sweep
 *   CHILD_HOOKS     make or close fds: in a fork child they report what
 *                   the child made and closed (K11-K13); elsewhere they
 *                   only forward
 * tests/common parses the lines that start with `X(` under a
 * `#define FAMILY(X)` line: keep one entry per line. */
#ifndef CLOEXEC_HARNESS_ENTRY_POINTS_H
#define CLOEXEC_HARNESS_ENTRY_POINTS_H

#define EXEC_ENTRIES(X) \
    X(execve, EXECVE) \
    X(execv, EXECV) \
    X(execvp, EXECVP) \
    X(execvpe, EXECVPE) \
    X(execl, EXECL) \
    X(execle, EXECLE) \
    X(execlp, EXECLP) \
    X(fexecve, FEXECVE) \
    X(execveat, EXECVEAT)

#define SPAWN_ENTRIES(X) \
    X(posix_spawn, POSIX_SPAWN) \
    X(posix_spawnp, POSIX_SPAWNP) \
    X(system, SYSTEM) \
    X(popen, POPEN)

#define RECORDER_HOOKS(X) \
    X(dup2, DUP2) \
    X(dup3, DUP3) \
    X(fcntl, FCNTL) \
    X(fcntl64, FCNTL64) \
    X(ioctl, IOCTL) \
    X(flock, FLOCK) \
    X(lockf, LOCKF) \
    X(lockf64, LOCKF64)

#define CHILD_HOOKS(X) \
    X(open, OPEN) \
    X(open64, OPEN64) \
    X(openat, OPENAT) \
    X(openat64, OPENAT64) \
    X(__open_2, OPEN_2) \
    X(__open64_2, OPEN64_2) \
    X(__openat_2, OPENAT_2) \
    X(__openat64_2, OPENAT64_2) \
    X(creat, CREAT) \
    X(creat64, CREAT64) \
    X(pipe, PIPE) \
    X(pipe2, PIPE2) \
    X(socket, SOCKET) \
    X(socketpair, SOCKETPAIR) \
    X(accept, ACCEPT) \
    X(accept4, ACCEPT4) \
    X(dup, DUP) \
    X(close, CLOSE) \
    X(close_range, CLOSE_RANGE) \
    X(closefrom, CLOSEFROM)

/* The entry points as one enum, the exec entries first: E_EXECVE, ... */
#define ENTRY_ENUM_ITEM(name, NAME) E_##NAME,
enum entry { EXEC_ENTRIES(ENTRY_ENUM_ITEM) SPAWN_ENTRIES(ENTRY_ENUM_ITEM) E_COUNT };

#define ENTRY_COUNT_ONE(name, NAME) +1
#define EXEC_ENTRY_COUNT (0 EXEC_ENTRIES(ENTRY_COUNT_ONE))

#endif
