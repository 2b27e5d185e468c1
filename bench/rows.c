/* What `make bench` measures: one function per group of rows (issue 5's
 * table), plus the tools for taking a cost apart (--startup, --exec,
 * --hooks). */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- repetition counts ------------------------------------------------------ */

struct counts count;
int have_close_range;

/* Time budgets for the counts chosen by measurement, in ns. */
#define SEED_BUDGET_NS 6e9   /* per size */
#define HIDDEN_BUDGET_NS 4e9 /* probing to the soft limit */

enum { FAST_BATCH = 100 };   /* samples per request for the microsecond rows */

static unsigned scaled(unsigned n, unsigned min)
{
    double v = n * count.scale;
    return v < min ? min : (unsigned)v;
}

static unsigned round_up(unsigned n, unsigned batch)
{
    return (n + batch - 1) / batch * batch;
}

void counts_init(double scale)
{
    count.scale = scale;
    count.start = scaled(2000, 20);
    count.exec = scaled(2000, 20);
    count.sweep = round_up(scaled(20000, 200), FAST_BATCH);
    count.fallback = round_up(scaled(2000, 200), FAST_BATCH);
    count.hook_reps = scaled(200, 20);
    count.hook_calls = 10000;
    count.gens = scaled(8, 2);
}

/* Cost of the old plug-in's loop per fd number, and of the library's whole
 * exec hook, for the notes under the table. */
static double seed_per_fd_ns = -1, seed_loop_fds, hook_ns = -1;

/* ---- start-up ------------------------------------------------------------------ */

static uint64_t spawn_true(char **env, const posix_spawn_file_actions_t *fa)
{
    static char *const argv[] = {"true", NULL};
    pid_t pid;
    uint64_t t0 = now_ns();
    int err = posix_spawn(&pid, "/bin/true", fa, NULL, argv, env);
    if (err)
        die("posix_spawn /bin/true: %s", strerror(err));
    return reap_true(pid, t0, "; is the preload loadable?");
}

/* Spawns /bin/true `rounds` times under each environment, rotating who goes
 * first; the driver itself runs without the library. */
static void spawn_rounds(int nv, char ***env, const posix_spawn_file_actions_t **fa, unsigned rounds,
                         struct samples *s)
{
    for (int v = 0; v < nv; v++)
        for (int i = 0; i < 20; i++)
            spawn_true(env[v], fa ? fa[v] : NULL);
    for (unsigned r = 0; r < rounds; r++)
        for (int k = 0; k < nv; k++) {
            int v = (int)((r + (unsigned)k) % (unsigned)nv);
            uint64_t t = spawn_true(env[v], fa ? fa[v] : NULL);
            samples_push(&s[v], &t, 1);
        }
}

void rows_startup(void)
{
    enum { LIB, EMPTY, BARE, LIB_INH, EMPTY_INH, N };
    char **env[N] = {
        env_with(lib_path, NULL), env_with(empty_path, NULL), env_with(NULL, NULL),
        env_with(lib_path, NULL), env_with(empty_path, NULL),
    };
    /* The "inherited" variants hand the child fds 3, 10 and 251, like this
     * sandbox hands every process 10 and 251: the K3 snapshot runs. */
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int high = devnull < 0 ? -1 : fcntl(devnull, F_DUPFD_CLOEXEC, 1000);
    if (high < 0)
        die("/dev/null: %s", strerror(errno));
    close(devnull);
    posix_spawn_file_actions_t inherit;
    posix_spawn_file_actions_init(&inherit);
    posix_spawn_file_actions_adddup2(&inherit, high, 3);
    posix_spawn_file_actions_adddup2(&inherit, high, 10);
    posix_spawn_file_actions_adddup2(&inherit, high, 251);
    const posix_spawn_file_actions_t *fa[N] = {NULL, NULL, NULL, &inherit, &inherit};

    phase("start-up: %u spawns of /bin/true × %d variants", count.start, N);
    struct samples s[N] = {{0}};
    spawn_rounds(N, env, fa, count.start, s);
    row("start-up", "spawn `/bin/true`; A: `LD_PRELOAD=libcloexec.so`, B: `LD_PRELOAD=libempty.so`", &s[LIB],
        &s[EMPTY], 1, 1.03, NULL);
    row("start-up vs bare", "the same; A: `LD_PRELOAD=libcloexec.so`, B: no preload", &s[LIB], &s[BARE], 1, 0,
        NULL);
    row("start-up vs bare", "the same; A: `LD_PRELOAD=libempty.so`, B: no preload (what any preload costs)",
        &s[EMPTY], &s[BARE], 1, 0, NULL);
    row("start-up, 3 inherited fds",
        "the same, the child inheriting fds 3, 10, 251 (the K3 snapshot runs); A: libcloexec, B: libempty",
        &s[LIB_INH], &s[EMPTY_INH], 1, 0, NULL);
    for (int v = 0; v < N; v++) {
        samples_free(&s[v]);
        free_env(env[v]);
    }
    posix_spawn_file_actions_destroy(&inherit);
    close(high);
}

/* ---- the configuration file ---------------------------------------------------- */

/* What /etc/cloexec.conf costs every process at load: /bin/true started with
 * the library by two workers, each in its own mount namespace with an overlay
 * /etc, one with the file (as `cloexec system enable` writes it) and one
 * without. Needs root; skipped otherwise. */
void rows_config(void)
{
    char setting[4200];
    snprintf(setting, sizeof setting, "BENCH_CHILD_PRELOAD=%s", lib_path);
    struct wspec ws[] = {
        {0, W_ETC_OVERLAY, NULL, setting},
        {0, W_ETC_OVERLAY | W_CONF, NULL, setting},
    };
    struct arm arms[2] = {
        {.worker = 0, .op = OP_SPAWN_PRELOADED, .n = 1},
        {.worker = 1, .op = OP_SPAWN_PRELOADED, .n = 1},
    };
    static const char what[] =
        "spawn `/bin/true` with libcloexec; A: `/etc/cloexec.conf` present (5 lines, as `cloexec system "
        "enable` writes them), B: absent (one failed `openat`); both in an overlay `/etc`";
    phase("configuration file: %u spawns of /bin/true × 2 variants", count.start);
    char why[128];
    if (run_arms(ws, 2, arms, 2, count.start, count.gens, why, sizeof why) != 0) {
        skipped_row("configuration file", what, why);
        return;
    }
    row("configuration file", what, &arms[1].s, &arms[0].s, 1, 0,
        "A − B: `openat`, `fstat` (the trust check), one `read`, `close`, and parsing");
    samples_free(&arms[0].s);
    samples_free(&arms[1].s);
}

/* ---- log targets ------------------------------------------------------------------- */

/* A process that receives and drops every datagram sent to `a` and `b`, as
 * a syslog daemon or journald would; it dies with the driver. */
static pid_t start_drain(int a, int b)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid > 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct pollfd fds[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    static char buf[65536];
    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            _exit(1);
        for (int i = 0; i < 2; i++)
            if (fds[i].revents & POLLIN)
                (void)recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
    }
}

static int bound_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("bind %s: %s", path, strerror(errno));
    return fd;
}

/* The cost of one log line per target: `execve` of a missing path from a
 * worker holding 3 leaked fds logs one `debug` line (it will fail, and what
 * its sweep marked is listed). B logs at `info`, which runs the same exec
 * path without writing that line, so A − B is formatting the line (a
 * `readlink` per fd) and delivering it. */
void rows_log(void)
{
    enum { NFDS = 3 };
    char dir[] = "/tmp/cloexec-bench-log-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char file[64], syslog_sock[64], journal_sock[64];
    snprintf(file, sizeof file, "%s/lines.log", dir);
    snprintf(syslog_sock, sizeof syslog_sock, "%s/syslog.sock", dir);
    snprintf(journal_sock, sizeof journal_sock, "%s/journal.sock", dir);
    int syslog_fd = bound_socket(syslog_sock), journal_fd = bound_socket(journal_sock);
    pid_t drain = start_drain(syslog_fd, journal_fd);

    enum { NONE, STDERR, FILE_, SYSLOG, JOURNAL, NV };
    char settings[NV][160];
    snprintf(settings[NONE], sizeof settings[NONE], "CLOEXEC_LOG=info");
    snprintf(settings[STDERR], sizeof settings[STDERR], "CLOEXEC_LOG=debug\nCLOEXEC_LOG_TO=stderr");
    snprintf(settings[FILE_], sizeof settings[FILE_], "CLOEXEC_LOG=debug\nCLOEXEC_LOG_TO=file:%s", file);
    snprintf(settings[SYSLOG], sizeof settings[SYSLOG], "CLOEXEC_LOG=debug\nCLOEXEC_LOG_TO=syslog:%s",
             syslog_sock);
    snprintf(settings[JOURNAL], sizeof settings[JOURNAL], "CLOEXEC_LOG=debug\nCLOEXEC_LOG_TO=journal:%s",
             journal_sock);
    struct wspec ws[NV];
    struct arm arms[NV];
    for (int v = 0; v < NV; v++) {
        ws[v] = (struct wspec){NFDS, W_STDERR_NULL, lib_path, settings[v]};
        arms[v] = (struct arm){.worker = v, .op = OP_EXEC_MISSING, .n = FAST_BATCH};
    }
    unsigned n = round_up(scaled(10000, 200), FAST_BATCH);
    phase("log targets: %u execve of a missing path × %d targets", n, NV);
    char why[128];
    if (run_arms(ws, NV, arms, NV, n / FAST_BATCH, count.gens / 2, why, sizeof why) != 0)
        die("log workers: %s", why);
    static const char *what[NV] = {
        [STDERR] = "one `debug` line per `execve` (3 fds listed), to stderr (here `/dev/null`); A: that, B: "
                   "`CLOEXEC_LOG=info` (no line)",
        [FILE_] = "the same line to `file:PATH` (opened, appended, closed per line)",
        [SYSLOG] = "the same line to `syslog:SOCKET` (a socket, one datagram, closed per line; a reader drains it)",
        [JOURNAL] = "the same line to `journal:SOCKET` (native protocol with its fields; a reader drains it)",
    };
    for (int v = STDERR; v < NV; v++)
        row("log line", what[v], &arms[v].s, &arms[NONE].s, 1, 0, "A − B is one line, formatted and delivered");
    for (int v = 0; v < NV; v++)
        samples_free(&arms[v].s);
    kill(drain, SIGKILL);
    waitpid(drain, NULL, 0);
    close(syslog_fd);
    close(journal_fd);
    unlink(file);
    unlink(syslog_sock);
    unlink(journal_sock);
    rmdir(dir);
}

/* ---- exec sweep and seed comparator ------------------------------------------ */

void rows_exec(void)
{
    static const int sizes[] = {10, 1000, 10000};
    unsigned long hard = nofile_hard();
    long loop_end = hard > BENCH_LOOP_CAP ? BENCH_LOOP_CAP : (long)hard;
    seed_loop_fds = (double)loop_end - 3;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int n = sizes[i];
        if ((unsigned long)n + 64 > hard)
            n = (int)hard - 64;
        /* Worker 0 (no library) serves the bare, floor and seed arms;
         * worker 2 shows what any preload in the parent costs. */
        struct wspec ws[] = {{n, 0, NULL, NULL}, {n, 0, lib_path, NULL}, {n, 0, empty_path, NULL}};
        char why[128];
        double one_seed = probe_op(&ws[0], OP_SEED_TRUE, 3, why, sizeof why);
        if (one_seed < 0)
            die("exec sweep worker: %s", why);
        double fit = SEED_BUDGET_NS / one_seed;
        unsigned seed_n = fit >= count.exec ? count.exec : fit < 50 ? 50 : (unsigned)fit;
        if (count.seed == 0 || seed_n < count.seed)
            count.seed = seed_n;
        enum { BARE, LIB, EMPTY, FLOOR, SEED, NARM };
        struct arm arms[NARM] = {
            [BARE] = {.worker = 0, .op = OP_SPAWN_TRUE, .n = 1},
            [LIB] = {.worker = 1, .op = OP_SPAWN_TRUE, .n = 1},
            [EMPTY] = {.worker = 2, .op = OP_SPAWN_TRUE, .n = 1},
            [FLOOR] = {.worker = 0, .op = OP_FLOOR_TRUE, .n = 1},
            [SEED] = {.worker = 0, .op = OP_SEED_TRUE, .n = 1, .quota = seed_n},
        };
        int narm = NARM;
        if (!have_close_range) { /* no floor arm: the seed arm moves up */
            arms[FLOOR] = arms[SEED];
            narm = FLOOR + 1;
        }
        phase("exec sweep, %d leaked fds: %u fork+exec × %d arms, %u with the seed loop, %u worker generations", n,
              count.exec, narm - 1, seed_n, count.gens);
        if (run_arms(ws, 3, arms, narm, count.exec, count.gens, why, sizeof why) != 0)
            die("exec sweep workers: %s", why);
        struct arm *seed = &arms[narm - 1];

        char what[256];
        snprintf(what, sizeof what,
                 "fork+exec `/bin/true` from a parent holding %d leaked fds; A: libcloexec, B: no library", n);
        row("exec sweep", what, &arms[LIB].s, &arms[BARE].s, 1, 1.02, NULL);
        snprintf(what, sizeof what, "the same, %d fds; A: the parent preloads libempty, B: no library (what any "
                 "preload in the parent costs)", n);
        row("exec sweep, any preload", what, &arms[EMPTY].s, &arms[BARE].s, 1, 0, NULL);
        if (have_close_range) {
            snprintf(what, sizeof what,
                     "the same, %d fds; A: one bare `close_range(3, ~0U, CLOEXEC)` in the child, B: no library "
                     "(what the kernel charges for closing the fds at exec: the floor)",
                     n);
            row("exec sweep floor", what, &arms[FLOOR].s, &arms[BARE].s, 1, 0, NULL);
            snprintf(what, sizeof what, "the same, %d fds; A: libcloexec, B: the floor", n);
            row("exec sweep vs floor", what, &arms[LIB].s, &arms[FLOOR].s, 1, 0, NULL);
        } else {
            skipped_row("exec sweep floor", "a bare `close_range` in the child", "`close_range` is not available");
        }
        snprintf(what, sizeof what, "the same, %d fds; A: the old plug-in's loop over 3..%ld, B: libcloexec", n,
                 loop_end);
        row("seed comparator", what, &seed->s, &arms[LIB].s, 1, 0, NULL);
        if (i == 0)
            seed_per_fd_ns = (median(seed->s.v, seed->s.n) - median(arms[BARE].s.v, arms[BARE].s.n)) / seed_loop_fds;
        for (int a = 0; a < narm; a++)
            samples_free(&arms[a].s);
    }
}

/* ---- sweep alone ------------------------------------------------------------------ */

/* execve of a missing path with and without the library: the difference is
 * the hook's whole work (keep set, sweep), against one bare close_range.
 * Each worker holds 200 leaked fds, 3..202, and clears their close-on-exec
 * flags again before each sample. */
void rows_sweep(void)
{
    enum { NFDS = 200 };
    char keep100[512];
    size_t off = (size_t)snprintf(keep100, sizeof keep100, "CLOEXEC_KEEP=4");
    for (int fd = 6; fd <= 202; fd += 2)
        off += (size_t)snprintf(keep100 + off, sizeof keep100 - off, ",%d", fd);
    struct wspec ws[] = {
        {NFDS, 0, NULL, NULL},
        {NFDS, 0, lib_path, NULL},
        {NFDS, 0, lib_path, "CLOEXEC_KEEP=53,103,153"},
        {NFDS, 0, lib_path, keep100},
    };
    enum { BARE, K0, K3, K100, FLOOR, NARM };
    struct arm arms[NARM];
    for (int a = 0; a < NARM; a++)
        arms[a] = (struct arm){.worker = a == FLOOR ? 0 : a, .op = a == FLOOR ? OP_CLOSE_RANGE : OP_EXEC_MISSING,
                               .n = FAST_BATCH};
    int narm = have_close_range ? NARM : FLOOR;
    phase("sweep alone: %u execve of a missing path × 4 variants, %u bare close_range", count.sweep, count.sweep);
    char why[128];
    if (run_arms(ws, 4, arms, narm, count.sweep / FAST_BATCH, count.gens / 2, why, sizeof why) != 0)
        die("sweep workers: %s", why);

    double floor = have_close_range ? median(arms[FLOOR].s.v, arms[FLOOR].s.n) : 0;
    if (have_close_range)
        single_row("sweep alone", "one bare `close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)`, 200 leaked fds",
                   &arms[FLOOR].s, "the floor");
    else
        skipped_row("sweep alone", "one bare `close_range`", "`close_range` is not available");
    static const char *what[] = {
        [K0] = "0 kept: `execve` of a missing path with 200 leaked fds; A: libcloexec, B: no library; A − B is "
               "the exec hook's whole work",
        [K3] = "3 kept (`CLOEXEC_KEEP=53,103,153`: 4 `close_range` calls)",
        [K100] = "100 kept (`CLOEXEC_KEEP=4,6,…,202`: 101 `close_range` calls)",
    };
    for (int a = K0; a <= K100; a++) {
        double ma = median(arms[a].s.v, arms[a].s.n), mb = median(arms[BARE].s.v, arms[BARE].s.n);
        char note[64] = "";
        if (floor > 0)
            snprintf(note, sizeof note, "A − B ≈ %.1f × the floor", (ma - mb) / floor);
        row("sweep alone", what[a], &arms[a].s, &arms[BARE].s, 1, 0, note);
        if (a == K0)
            hook_ns = ma - mb;
    }
    for (int a = 0; a < NARM; a++)
        samples_free(&arms[a].s);
}

/* ---- K5: the argument scan ------------------------------------------------------------ */

/* execve of a missing path with 1000 compiler-style arguments (no fd numbers
 * in them, so the scan finds nothing and the sweep is one close_range): the
 * hook reads every byte of every argument for K5. */
void rows_argv(void)
{
    enum { NFDS = 10, NARGS = 1000 };
    struct wspec ws[] = {{NFDS, 0, NULL, NULL}, {NFDS, 0, lib_path, NULL}};
    enum { BARE_LONG, LIB_LONG, LIB_SHORT, NARM };
    struct arm arms[NARM] = {
        [BARE_LONG] = {.worker = 0, .op = OP_EXEC_MISSING_ARGV, .arg = NARGS, .n = FAST_BATCH},
        [LIB_LONG] = {.worker = 1, .op = OP_EXEC_MISSING_ARGV, .arg = NARGS, .n = FAST_BATCH},
        [LIB_SHORT] = {.worker = 1, .op = OP_EXEC_MISSING, .n = FAST_BATCH},
    };
    unsigned n = round_up(scaled(4000, 200), FAST_BATCH);
    phase("K5 scan: %u execve of a missing path with %d arguments × 2 arms, %u with one", n, NARGS, n);
    char why[128];
    if (run_arms(ws, 2, arms, NARM, n / FAST_BATCH, count.gens / 2, why, sizeof why) != 0)
        die("argv workers: %s", why);
    row("K5 scan", "`execve` of a missing path, 1000 arguments of 40 bytes; A: libcloexec, B: no library",
        &arms[LIB_LONG].s, &arms[BARE_LONG].s, 1, 0, "A − B is the hook with its K5 scan");
    row("K5 scan", "the same; A: 1000 arguments, B: one argument, both with libcloexec", &arms[LIB_LONG].s,
        &arms[LIB_SHORT].s, 1, 0, "A − B is the scan of 40 kB of arguments");
    for (int a = 0; a < NARM; a++)
        samples_free(&arms[a].s);
}

/* ---- fallbacks -------------------------------------------------------------------- */

/* One fallback pair: execve of a missing path with and without the library,
 * both workers set up alike; A − B is the sweep by the path forced. `n` = 0:
 * chosen by time. */
static void fallback_pair(int nfds, int flags, const char *what, unsigned n)
{
    struct wspec ws[] = {{nfds, flags, NULL, NULL}, {nfds, flags, lib_path, NULL}};
    uint32_t batch = FAST_BATCH;
    char why[128];
    if (n == 0) {
        double one = probe_op(&ws[1], OP_EXEC_MISSING, 3, why, sizeof why);
        if (one < 0) {
            skipped_row("fallbacks", what, why);
            return;
        }
        double fit = HIDDEN_BUDGET_NS / one;
        unsigned most = scaled(200, 20);
        n = fit > most ? most : fit < 20 ? 20 : (unsigned)fit;
        count.hidden = n;
        batch = 1;
    }
    struct arm arms[2] = {
        {.worker = 0, .op = OP_EXEC_MISSING, .n = batch},
        {.worker = 1, .op = OP_EXEC_MISSING, .n = batch},
    };
    phase("fallbacks: %s: %u execve of a missing path per arm", what, n);
    if (run_arms(ws, 2, arms, 2, n / batch, 2, why, sizeof why) != 0) {
        skipped_row("fallbacks", what, why);
        return;
    }
    row("fallbacks", what, &arms[1].s, &arms[0].s, 1, 0, "A − B is the sweep");
    samples_free(&arms[0].s);
    samples_free(&arms[1].s);
}

void rows_fallbacks(void)
{
    static const int sizes[] = {10, 1000};
    char what[256];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int n = sizes[i];
        snprintf(what, sizeof what, "`close_range` path, %d leaked fds (for comparison)", n);
        if (have_close_range)
            fallback_pair(n, 0, what, count.fallback);
        else
            skipped_row("fallbacks", what, "`close_range` is not available");
        snprintf(what, sizeof what, "`/proc/self/fd` path, %d leaked fds (seccomp: `close_range` → ENOSYS)", n);
        fallback_pair(n, W_SECCOMP, what, count.fallback);
        snprintf(what, sizeof what,
                 "probing path, %d leaked fds (seccomp, and soft `RLIMIT_NOFILE` = open fds so `/proc` → "
                 "EMFILE: probes 3..%d)",
                 n, n + 2);
        fallback_pair(n, W_SECCOMP | W_EMFILE, what, count.fallback);
    }
    unsigned long hard = nofile_hard();
    snprintf(what, sizeof what,
             "probing path at the soft limit, 10 leaked fds (seccomp, a tmpfs over `/proc`, soft limit %lu: "
             "probes 3..%lu)",
             hard, hard > BENCH_LOOP_CAP ? (unsigned long)BENCH_LOOP_CAP : hard);
    fallback_pair(10, W_SECCOMP | W_HIDE_PROC, what, 0);
}

/* ---- hook pass-through ---------------------------------------------------------- */

void rows_hooks(void)
{
    static const char *what[HOOK_COUNT] = {
        [HOOK_FCNTL] = "`fcntl(fd, F_GETFD)`",
        [HOOK_FCNTL64] = "`fcntl64(fd, F_GETFD)`",
        [HOOK_DUP2_SAME] = "`dup2(fd, fd)` (records nothing)",
        [HOOK_DUP2_OTHER] = "`dup2(a, b)` (records intent: one more `fstat`)",
        [HOOK_IOCTL] = "`ioctl(pipe, FIONREAD)`",
        [HOOK_FLOCK] = "`flock(fd, LOCK_EX)` + `flock(fd, LOCK_UN)` (records a lock: one more `fstat`)",
        [HOOK_OPEN] = "`open(\"/dev/null\")` + `close` (creation and close hooks, not in a fork child)",
        [HOOK_PIPE] = "`pipe` + two `close` (not in a fork child)",
        [HOOK_SOCKET] = "`socket(AF_UNIX)` + `close` (not in a fork child)",
        [HOOK_FORK] = "`fork` + `_exit` + `waitpid` (the atfork child handler of K11-K13)",
    };
    static const double target[HOOK_COUNT] = {1.05, 1.05, 1.05, 0, 1.05, 0, 1.05, 1.05, 1.05, 0};
    struct wspec ws[] = {{0, 0, NULL, NULL}, {0, 0, lib_path, NULL}};
    struct arm arms[2 * HOOK_COUNT];
    for (int h = 0; h < HOOK_COUNT; h++)
        for (int lib = 0; lib < 2; lib++)
            arms[2 * h + lib] = (struct arm){.worker = lib, .op = OP_HOOK, .arg = h, .n = count.hook_calls};
    phase("hook pass-through: %u runs of %u calls × %d functions × 2 arms", count.hook_reps, count.hook_calls,
          HOOK_COUNT);
    char why[128];
    if (run_arms(ws, 2, arms, 2 * HOOK_COUNT, count.hook_reps, count.gens / 2, why, sizeof why) != 0)
        die("hook workers: %s", why);
    for (int h = 0; h < HOOK_COUNT; h++) {
        char w[200];
        snprintf(w, sizeof w, "%s, per call; A: libcloexec, B: no library", what[h]);
        unsigned per = h == HOOK_FORK ? count.hook_calls / HOOK_FORK_DIVISOR : count.hook_calls;
        row("hook pass-through", w, &arms[2 * h + 1].s, &arms[2 * h].s, per, target[h], NULL);
        samples_free(&arms[2 * h].s);
        samples_free(&arms[2 * h + 1].s);
    }
}

void rows_notes(void)
{
    fprintf(md,
            "\ncounts: start-up %u spawns per variant; exec sweep %u fork+exec per arm and size, seed comparator "
            "at least %u (chosen by time); sweep alone %u per variant; fallbacks %u per arm (at the soft limit "
            "%u); hooks %u runs of %u calls per function and arm; workers restarted %u times per exec row%s\n",
            count.start, count.exec, count.seed, count.sweep, count.fallback, count.hidden, count.hook_reps,
            count.hook_calls, count.gens,
            count.scale != 1.0 ? " (**reduced by BENCH_SCALE, below the issue's minimums**)" : "");
    if (seed_per_fd_ns > 0 && hook_ns > 0)
        fprintf(md,
                "\nthe old plug-in's loop costs %.0f ns per fd number here (%.0f numbers); at `nofile = "
                "1073741816` one reload would spend %.0f s in it, against %.2f µs for libcloexec's whole exec "
                "hook (sweep alone, 0 kept), whatever the limit\n",
                seed_per_fd_ns, seed_loop_fds, seed_per_fd_ns * (1073741816.0 - 3) / 1e9, hook_ns / 1e3);
}

/* ---- tools for taking a cost apart --------------------------------------------- */

int tool_startup(int nlibs, char **libs)
{
    int nv = nlibs + 1;
    char ***env = calloc((size_t)nv, sizeof *env);
    struct samples *s = calloc((size_t)nv, sizeof *s);
    if (!env || !s)
        die("out of memory");
    for (int v = 0; v < nlibs; v++) {
        check_preload(libs[v], libs[v]);
        env[v] = env_with(libs[v], NULL);
    }
    env[nlibs] = env_with(NULL, NULL);
    spawn_rounds(nv, env, NULL, count.start, s);
    md = stdout;
    table_head();
    for (int v = 0; v < nv; v++)
        row("start-up", v < nlibs ? libs[v] : "(no preload)", &s[v], &s[0], 1, 0, NULL);
    return 0;
}

int tool_compare(int hooks, int nfds, int nspecs, char **specs)
{
    struct wspec *ws = calloc((size_t)nspecs, sizeof *ws);
    int kinds = hooks ? HOOK_COUNT : 1;
    struct arm *arms = calloc((size_t)(nspecs * kinds), sizeof *arms);
    if (!ws || !arms)
        die("out of memory");
    for (int v = 0; v < nspecs; v++) {
        char *spec = strdup(specs[v]);
        char *setting = strchr(spec, ',');
        if (setting)
            *setting++ = 0;
        ws[v] = (struct wspec){nfds, 0, strcmp(spec, "none") == 0 ? NULL : spec, setting};
        if (ws[v].preload)
            check_preload(ws[v].preload, ws[v].preload);
        for (int h = 0; h < kinds; h++)
            arms[h * nspecs + v] = (struct arm){
                .worker = v,
                .op = hooks ? OP_HOOK : OP_SPAWN_TRUE,
                .arg = h,
                .n = hooks ? count.hook_calls : 1,
            };
    }
    char why[128];
    if (run_arms(ws, nspecs, arms, nspecs * kinds, hooks ? count.hook_reps : count.exec, count.gens, why,
                 sizeof why) != 0)
        die("workers: %s", why);
    md = stdout;
    table_head();
    for (int h = 0; h < kinds; h++)
        for (int v = 0; v < nspecs; v++) {
            char name[32];
            snprintf(name, sizeof name, hooks ? "hook %d" : "exec, %d fds", hooks ? h : nfds);
            row(name, specs[v], &arms[h * nspecs + v].s, &arms[h * nspecs].s, hooks ? count.hook_calls : 1, 0,
                NULL);
        }
    return 0;
}
