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

/* The entry points as one enum, the exec entries first: E_EXECVE, ... */
#define ENTRY_ENUM_ITEM(name, NAME) E_##NAME,
enum entry { EXEC_ENTRIES(ENTRY_ENUM_ITEM) SPAWN_ENTRIES(ENTRY_ENUM_ITEM) E_COUNT };

#define ENTRY_COUNT_ONE(name, NAME) +1
#define EXEC_ENTRY_COUNT (0 EXEC_ENTRIES(ENTRY_COUNT_ONE))

#endif
