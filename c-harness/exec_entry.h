/* One switch over the nine exec entries, for every harness program that
 * execs: leaky (entry.c), and the hardening programs that exec from a signal
 * handler (hard_signal, hard_hostile's alternate stack) or a vfork child
 * (hard_stress).
 *
 * static inline and always_inline: it adds no frame between the caller and
 * the exec, so a handler on an 8 KiB alternate stack leaves the library the
 * same stack it had when each program spelled the calls out itself. It
 * allocates nothing and calls nothing but the exec: safe in a vfork child
 * and in a signal handler. */
#ifndef CLOEXEC_HARNESS_EXEC_ENTRY_H
#define CLOEXEC_HARNESS_EXEC_ENTRY_H

#include "entry_points.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

extern char **environ;

/* The l-variants spell out at most this many arguments, argv[0] included. */
#define EXEC_MAX_ARGS 16

/* Everything any exec entry needs; fill in what the entries used need. */
struct exec_target {
    const char *path;    /* execve execv execl execle */
    const char *name;    /* PATH-searched: execvp execvpe execlp */
    char *const *argv;   /* argc entries, then NULL */
    int argc;            /* 1..EXEC_MAX_ARGS */
    char *const *envp;   /* execve execvpe execle fexecve execveat */
    int fd;              /* fexecve: a read-only fd of the program */
    int dirfd;           /* execveat: directory fd (or AT_FDCWD) for relname */
    const char *relname;
};

/* a[0], ..., a[n-1]: the l-variants' arguments, spelled out as a program
 * with n arguments spells them (execle reads envp right after the NULL). */
#define EXEC_ARGS_1 a[0]
#define EXEC_ARGS_2 EXEC_ARGS_1, a[1]
#define EXEC_ARGS_3 EXEC_ARGS_2, a[2]
#define EXEC_ARGS_4 EXEC_ARGS_3, a[3]
#define EXEC_ARGS_5 EXEC_ARGS_4, a[4]
#define EXEC_ARGS_6 EXEC_ARGS_5, a[5]
#define EXEC_ARGS_7 EXEC_ARGS_6, a[6]
#define EXEC_ARGS_8 EXEC_ARGS_7, a[7]
#define EXEC_ARGS_9 EXEC_ARGS_8, a[8]
#define EXEC_ARGS_10 EXEC_ARGS_9, a[9]
#define EXEC_ARGS_11 EXEC_ARGS_10, a[10]
#define EXEC_ARGS_12 EXEC_ARGS_11, a[11]
#define EXEC_ARGS_13 EXEC_ARGS_12, a[12]
#define EXEC_ARGS_14 EXEC_ARGS_13, a[13]
#define EXEC_ARGS_15 EXEC_ARGS_14, a[14]
#define EXEC_ARGS_16 EXEC_ARGS_15, a[15]

/* `case n: CALL(a[0], ..., a[n-1])` for n = 1..EXEC_MAX_ARGS. */
#define EXEC_L_CASES(CALL) \
    case 1: CALL(EXEC_ARGS_1); \
    case 2: CALL(EXEC_ARGS_2); \
    case 3: CALL(EXEC_ARGS_3); \
    case 4: CALL(EXEC_ARGS_4); \
    case 5: CALL(EXEC_ARGS_5); \
    case 6: CALL(EXEC_ARGS_6); \
    case 7: CALL(EXEC_ARGS_7); \
    case 8: CALL(EXEC_ARGS_8); \
    case 9: CALL(EXEC_ARGS_9); \
    case 10: CALL(EXEC_ARGS_10); \
    case 11: CALL(EXEC_ARGS_11); \
    case 12: CALL(EXEC_ARGS_12); \
    case 13: CALL(EXEC_ARGS_13); \
    case 14: CALL(EXEC_ARGS_14); \
    case 15: CALL(EXEC_ARGS_15); \
    case 16: CALL(EXEC_ARGS_16);

#define EXEC_CALL_EXECL(...) return execl(t->path, __VA_ARGS__, (char *)NULL)
#define EXEC_CALL_EXECLE(...) return execle(t->path, __VA_ARGS__, (char *)NULL, t->envp)
#define EXEC_CALL_EXECLP(...) return execlp(t->name, __VA_ARGS__, (char *)NULL)

/* Calls exec entry e (an exec entry: E_EXECVE .. E_EXECVEAT) on t. Returns
 * only if the exec failed: -1 with errno as the call left it (EINVAL for a
 * spawn entry, E2BIG for an l-variant with argc out of range). */
static inline __attribute__((always_inline)) int exec_entry(enum entry e,
                                                            const struct exec_target *t)
{
    char *const *a = t->argv;
    switch (e) {
    case E_EXECVE: return execve(t->path, a, t->envp);
    case E_EXECV: return execv(t->path, a);
    case E_EXECVP: return execvp(t->name, a);
    case E_EXECVPE: return execvpe(t->name, a, t->envp);
    case E_EXECL:
        switch (t->argc) { EXEC_L_CASES(EXEC_CALL_EXECL) default: break; }
        break;
    case E_EXECLE:
        switch (t->argc) { EXEC_L_CASES(EXEC_CALL_EXECLE) default: break; }
        break;
    case E_EXECLP:
        switch (t->argc) { EXEC_L_CASES(EXEC_CALL_EXECLP) default: break; }
        break;
    case E_FEXECVE: return fexecve(t->fd, a, t->envp);
    case E_EXECVEAT: return execveat(t->dirfd, t->relname, a, t->envp, 0);
    default:
        errno = EINVAL;
        return -1;
    }
    errno = E2BIG;
    return -1;
}

#endif
