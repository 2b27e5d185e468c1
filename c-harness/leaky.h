/* The leaky parent: its plan (how to reach the probe), the 13 entry points,
 * the leak set, and the stress modes. See c-harness/README.md. */
#ifndef CLOEXEC_HARNESS_LEAKY_H
#define CLOEXEC_HARNESS_LEAKY_H

#include "entry_points.h"

#include <stddef.h>

/* The l-variants (execl, execle, execlp) spell their arguments out, so the
 * probe may get at most this many arguments after its argv[0]. */
#define MAX_PROBE_ARGS 6

/* Everything an entry point needs, prepared before any fork, vfork or signal,
 * so calling an exec entry allocates nothing. */
struct plan {
    enum entry entry;
    const char *path;    /* probe path, as given (execve execv execl execle posix_spawn) */
    const char *name;    /* PATH-searched name (execvp execvpe execlp posix_spawnp) */
    const char *relname; /* name relative to dirfd (execveat) */
    char **argv;         /* path, probe args, NULL */
    int argc;
    char **envp;         /* environ plus HARNESS_MARK=<entry> (entries taking envp) */
    int fd;              /* fexecve: O_RDONLY|O_CLOEXEC fd of the program */
    int dirfd;           /* execveat: O_PATH dir fd */
    const char *command; /* system, popen: "exec 'path' 'arg'..." */
};

const char *entry_name(enum entry e);
int entry_parse(const char *s, enum entry *out);
/* 1 for the nine exec entries (they replace the caller), 0 for the spawners. */
int entry_is_exec(enum entry e);
/* 1 if the entry takes an envp argument. */
int entry_takes_envp(enum entry e);

/* Fills plan for reaching program (probe) with args. Sets PATH and
 * HARNESS_MARK in the environment as the entry needs. Exits EX_SETUP on error. */
void plan_prepare(struct plan *plan, enum entry e, const char *program, char **args, int nargs);
/* A shell command that execs argv, single-quoted; malloc'd. */
char *shell_command(char **argv);

/* Calls an exec entry. Returns only if it failed: -1 with errno as left by
 * the call. Async-signal-safe as far as the entry itself is. */
int plan_exec(const struct plan *plan);
/* Calls a spawn entry and waits for the child (forwarding popen's output to
 * stdout). Returns 0 and the wait status in *status, or an error number if the
 * call itself failed (posix_spawn's result, or errno of system/popen/pclose). */
int plan_spawn(const struct plan *plan, int *status);

/* Stress modes: run the entry `iterations` times, printing "iter K" before
 * and "status K CODE" after each child. vfork and signal take an exec entry;
 * threads-fork runs a spawn entry in the threaded parent itself. */
void run_vfork(const struct plan *plan, int iterations);
void run_threads_fork(const struct plan *plan, int iterations, int threads);
void run_signal(const struct plan *plan, int iterations);

/* Blocks close_range (native arch) with SECCOMP_RET_ERRNO|err, after
 * PR_SET_NO_NEW_PRIVS, then checks that close_range now fails with err. */
void seccomp_block_close_range(int err);
/* Lowers the soft RLIMIT_NOFILE to one past the highest open fd and fills
 * every free fd below it with /dev/null (no O_CLOEXEC: "leak N filler"), so
 * no fd can be opened (EMFILE). Checks that open() then fails with EMFILE. */
void fill_fd_table(void);

#endif
