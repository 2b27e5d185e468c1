/* The `make bench` driver (issue #5): what its parts share.
 *
 * One binary, two roles:
 *   bench --lib L --empty E --out F   the driver: runs every row, prints the
 *                                     Markdown table and writes it to F;
 *   bench --worker NFDS FLAGS         a worker: holds NFDS leaked fds and
 *                                     does timed work on request.
 *
 * The driver starts workers in pairs, one with LD_PRELOAD=libcloexec.so and
 * one without, and sends them the same requests in turn (A, B, B, A, ...),
 * so that drift of the machine hits both arms alike. A worker answers each
 * request with its samples, in nanoseconds.
 *
 * Only libc (and kernel UAPI headers for the seccomp filter). */
#ifndef CLOEXEC_BENCH_H
#define CLOEXEC_BENCH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* raw_close_range_cloexec(), install_close_range_filter(): shared with the
 * harness (c-harness/close_range.c is linked into the bench). */
#include "../c-harness/close_range.h"

/* The old plug-in's loop and our probing rows stop here, like the library's
 * own probing cap (src/sweep.rs PROBE_CAP); beyond it costs are extrapolated. */
#define BENCH_LOOP_CAP (1L << 20)

/* What a worker is asked to do; every op answers `count` samples, except
 * OP_HOOK, which answers one (the time of all `count` calls). */
enum bench_op {
    OP_SPAWN_TRUE = 1, /* fork; execve /bin/true in the child; waitpid */
    OP_SEED_TRUE,      /* the same, the old plug-in's loop in the child before execve */
    OP_FLOOR_TRUE,     /* the same, one bare close_range(3, ~0U, CLOEXEC) in the child before
                          execve: what the kernel charges for closing the fds at exec */
    OP_EXEC_MISSING,   /* execve of a missing path: under the library the hook sweeps,
                          then the real call fails fast with ENOENT */
    OP_CLOSE_RANGE,    /* one bare close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) */
    OP_HOOK,           /* `count` calls of hook `arg` (enum bench_hook) in a tight loop */
    OP_EXEC_MISSING_ARGV, /* OP_EXEC_MISSING with `arg` arguments of 40 bytes (a compiler's
                             command line): under the library the hook scans them (K5) */
    OP_SPAWN_PRELOADED, /* OP_SPAWN_TRUE, /bin/true getting LD_PRELOAD=$BENCH_CHILD_PRELOAD: what
                           loading the library costs the new program, in this worker's /etc */
};

enum bench_hook {
    HOOK_FCNTL,      /* fcntl(fd, F_GETFD) */
    HOOK_FCNTL64,    /* fcntl64(fd, F_GETFD) */
    HOOK_DUP2_SAME,  /* dup2(fd, fd): changes nothing, records nothing */
    HOOK_DUP2_OTHER, /* dup2(a, b): records intent (one extra fstat) */
    HOOK_IOCTL,      /* ioctl(pipe, FIONREAD, &n) */
    HOOK_FLOCK,      /* flock(fd, LOCK_EX) then flock(fd, LOCK_UN): records a lock (one fstat), drops it */
    HOOK_OPEN,       /* open("/dev/null") then close: the creation and close hooks outside a fork child */
    HOOK_PIPE,       /* pipe then two closes */
    HOOK_SOCKET,     /* socket(AF_UNIX) then close */
    HOOK_FORK,       /* fork, the child _exits, waitpid: the atfork child handler (K11-K13) */
    HOOK_COUNT,
};

/* A fork costs some 1000 times a call: the fork row makes this many fewer. */
enum {
    HOOK_FORK_DIVISOR = 200,
};

struct bench_request {
    int32_t op;
    int32_t arg;
    uint32_t count;
};

/* Set-up flags of a worker (its second argument). */
enum {
    W_SECCOMP = 1,   /* close_range fails with ENOSYS: the library falls back to /proc */
    W_EMFILE = 2,    /* soft RLIMIT_NOFILE = open fds, so /proc/self/fd cannot be opened */
    W_HIDE_PROC = 4, /* a private mount namespace with a tmpfs over /proc (needs root) */
    W_ETC_OVERLAY = 8, /* a private mount namespace with an overlay over /etc, and no
                          /etc/cloexec.conf in it (needs root) */
    W_CONF = 16,       /* with W_ETC_OVERLAY: an /etc/cloexec.conf as `cloexec system enable` writes it */
    W_STDERR_NULL = 32, /* stderr to /dev/null (the library's stderr log lines go nowhere) */
};

/* A worker's first message: 0 and its fd range, or an errno and what failed. */
struct bench_ready {
    int32_t err;
    int32_t lo_fd, hi_fd; /* the leaked fds, inclusive; lo > hi when none */
    char what[116];
};

int worker_main(int nfds, int flags);

/* util.c */
uint64_t now_ns(void);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* "HEAD MESSAGE\n" on stderr (the message at most 511 bytes); die() and phase() use it. */
void vnote(const char *head, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void read_full(int fd, void *buf, size_t len);
void write_full(int fd, const void *buf, size_t len);
/* environ without LD_PRELOAD and CLOEXEC_* (its strings, in a calloc'd
 * array); NULL when out of memory. */
char **env_without_ours(void);
/* Reaps pid, a /bin/true started at t0 (now_ns()); dies unless it exited 0
 * (the message ends with `hint`). Returns the ns from t0 to the reaping. */
uint64_t reap_true(pid_t pid, uint64_t t0, const char *hint);

/* stats.c: medians and a bootstrap interval for a ratio of medians. */
double median(const uint64_t *v, size_t n);
struct interval {
    double lo, hi;
};
/* 95 % interval of median(a)/median(b) and of median(a)-median(b). */
void bootstrap(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
               struct interval *ratio, struct interval *diff);

/* Paired samples a[i], b[i]: the median ratio and difference, with 95 % intervals. */
void paired(const uint64_t *a, const uint64_t *b, size_t n, double *ratio, double *diff,
            struct interval *ratio_ci, struct interval *diff_ci);

/* A growing array of samples. */
struct samples {
    uint64_t *v;
    size_t n, cap;
};
void samples_push(struct samples *s, const uint64_t *v, size_t n);
void samples_free(struct samples *s);

/* ---- the driver's side (driver.c) ---- */

extern char bench_self[4096];     /* this binary: workers are started from it */
extern const char *lib_path;      /* libcloexec.so, absolute */
extern const char *empty_path;    /* the empty preload library, absolute */
extern char **base_env;           /* the environment without LD_PRELOAD and CLOEXEC_* */

void driver_init(void);
void check_preload(const char *path, const char *what);
/* base_env, plus LD_PRELOAD=preload and `setting` if not NULL: "VAR=value", or
 * several such entries separated by newlines. */
char **env_with(const char *preload, const char *setting);
void free_env(char **env);
unsigned long nofile_hard(void);

/* A worker to start: its leaked fds, set-up flags (W_*), preload (NULL:
 * none) and one extra setting (NULL: none). */
struct wspec {
    int nfds, flags;
    const char *preload, *setting;
};

/* One arm of a comparison: requests `op`/`arg` of `n` samples (OP_HOOK: one
 * sample of `n` calls) to worker `worker`. `quota`, if not 0, is how many
 * requests over the whole run (spread evenly); otherwise one per round. */
struct arm {
    int worker;
    int op, arg;
    uint32_t n;
    unsigned quota;
    struct samples s;
};

/* Runs `rounds` rounds, each asking every due arm once, in an order that
 * rotates from round to round, over `gens` generations of freshly started
 * workers (so that no one process's luck decides a row). Returns 0, or -1
 * with the reason in `why` when a worker could not be started. */
int run_arms(const struct wspec *ws, int nw, struct arm *arms, int na, unsigned rounds, unsigned gens,
             char *why, size_t whylen);
/* Median time of one `op` request of `n` samples in a fresh worker; -1
 * with the reason in `why` if the worker could not be started. */
double probe_op(const struct wspec *ws, int op, uint32_t n, char *why, size_t whylen);

/* The table: rows go to the Markdown stream `md`. */
extern FILE *md;
extern int targets_missed;
/* A against B, times divided by `per`; `target` > 0 is a ceiling on A/B,
 * 0 means report only; `note` (may be NULL) fills the result column. */
void row(const char *name, const char *what, const struct samples *a, const struct samples *b, double per,
         double target, const char *note);
void single_row(const char *name, const char *what, const struct samples *a, const char *note);
void skipped_row(const char *name, const char *what, const char *why);
void table_head(void);
void fmt_time(char *buf, size_t len, double ns);
void phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern uint64_t t_start;

/* ---- what is measured (rows.c) ---- */

struct counts {
    unsigned start;      /* spawns of /bin/true per start-up variant */
    unsigned exec;       /* fork+exec per exec-sweep arm and size */
    unsigned seed;       /* the same with the seed loop (the smallest chosen) */
    unsigned sweep;      /* execve of a missing path per sweep-alone variant */
    unsigned fallback;   /* the same, per fallback arm */
    unsigned hidden;     /* the same, probing to the soft limit (chosen by time) */
    unsigned hook_reps;  /* timed runs per hook and arm */
    uint32_t hook_calls; /* calls per timed run */
    unsigned gens;       /* worker generations per row */
    double scale;
};
extern struct counts count;
extern int have_close_range; /* close_range(CLOSE_RANGE_CLOEXEC) works here (no seccomp profile blocks it) */
void counts_init(double scale);

void rows_startup(void);
void rows_exec(void);
void rows_sweep(void);
void rows_fallbacks(void);
void rows_hooks(void);
void rows_argv(void);
void rows_config(void);
void rows_log(void);
void rows_notes(void);

int tool_startup(int nlibs, char **libs);
int tool_compare(int hooks, int nfds, int nspecs, char **specs);

#endif
