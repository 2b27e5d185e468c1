/* The driver's machinery: the environment handed to children, workers and
 * the interleaved runner, the Markdown table, progress lines. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

char bench_self[4096];
const char *lib_path, *empty_path;
char **base_env;

/* ---- the environment ---------------------------------------------------- */

void driver_init(void)
{
    ssize_t len = readlink("/proc/self/exe", bench_self, sizeof bench_self - 1);
    if (len < 0)
        die("readlink /proc/self/exe: %s", strerror(errno));
    bench_self[len] = 0;

    /* Nothing of ours leaks into a child: they start with 0-2 only. */
    if (raw_close_range_cloexec(3, ~0U) != 0)
        for (int fd = 3; fd < 65536; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);

    base_env = env_without_ours();
    if (!base_env)
        die("out of memory");
}

void check_preload(const char *path, const char *what)
{
    if (!path || path[0] != '/')
        die("%s must be an absolute path (LD_PRELOAD ignores relative ones)", what);
    if (access(path, R_OK) != 0)
        die("%s %s: %s (run `make all` first)", what, path, strerror(errno));
}

static size_t base_len(void)
{
    size_t n = 0;
    while (base_env[n])
        n++;
    return n;
}

char **env_with(const char *preload, const char *setting)
{
    size_t n = base_len(), extra = 0;
    for (const char *p = setting; p && *p; p++)
        extra += *p == '\n';
    char **env = calloc(n + extra + 3, sizeof *env);
    if (!env)
        die("out of memory");
    memcpy(env, base_env, n * sizeof *env);
    if (preload && asprintf(&env[n++], "LD_PRELOAD=%s", preload) < 0)
        die("out of memory");
    for (const char *p = setting; p && *p;) {
        size_t len = strcspn(p, "\n");
        if (!(env[n++] = strndup(p, len)))
            die("out of memory");
        p += len + (p[len] == '\n');
    }
    return env;
}

void free_env(char **env)
{
    for (char **p = env + base_len(); *p; p++)
        free(*p);
    free(env);
}

unsigned long nofile_hard(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit: %s", strerror(errno));
    return rl.rlim_max == RLIM_INFINITY ? ~0UL : (unsigned long)rl.rlim_max;
}

/* ---- workers -------------------------------------------------------------- */

struct worker {
    pid_t pid;
    int req, resp;
    struct bench_ready ready;
};

/* Starts a worker; returns 0, or -1 with the reason in w->ready.what. */
static int start_worker(struct worker *w, const struct wspec *ws)
{
    int req[2], resp[2];
    if (pipe2(req, O_CLOEXEC) != 0 || pipe2(resp, O_CLOEXEC) != 0)
        die("pipe2: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, req[0], 0);
    posix_spawn_file_actions_adddup2(&fa, resp[1], 1);
    char nfds_s[16], flags_s[16];
    snprintf(nfds_s, sizeof nfds_s, "%d", ws->nfds);
    snprintf(flags_s, sizeof flags_s, "%d", ws->flags);
    char *argv[] = {bench_self, "--worker", nfds_s, flags_s, NULL};
    char **env = env_with(ws->preload, ws->setting);
    int err = posix_spawn(&w->pid, bench_self, &fa, NULL, argv, env);
    if (err)
        die("posix_spawn %s: %s", bench_self, strerror(err));
    free_env(env);
    posix_spawn_file_actions_destroy(&fa);
    close(req[0]);
    close(resp[1]);
    w->req = req[1];
    w->resp = resp[0];

    ssize_t got = read(w->resp, &w->ready, sizeof w->ready);
    if (got != (ssize_t)sizeof w->ready) {
        w->ready.err = -1;
        snprintf(w->ready.what, sizeof w->ready.what, "worker died during set-up");
    }
    if (w->ready.err != 0) {
        close(w->req);
        close(w->resp);
        waitpid(w->pid, NULL, 0);
        return -1;
    }
    return 0;
}

static void stop_worker(struct worker *w)
{
    close(w->req);
    close(w->resp);
    int status;
    if (waitpid(w->pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("worker %d ended badly (status %#x)", (int)w->pid, status);
}

/* One request; its samples are appended to `out` (NULL: a warm-up, dropped). */
static void ask(struct worker *w, int op, int arg, uint32_t n, struct samples *out)
{
    struct bench_request r = {.op = op, .arg = arg, .count = n};
    write_full(w->req, &r, sizeof r);
    size_t k = op == OP_HOOK ? 1 : n;
    uint64_t stack[128];
    uint64_t *buf = k <= 128 ? stack : malloc(k * sizeof *buf);
    if (!buf)
        die("out of memory");
    read_full(w->resp, buf, k * sizeof *buf);
    if (out)
        samples_push(out, buf, k);
    if (buf != stack)
        free(buf);
}

/* Starts the workers, the first one being worker `first`: the order they
 * open their fds in decides where the kernel puts those files, which shows
 * in fork and exec times with thousands of fds, so it rotates. */
static int start_all(struct worker *w, const struct wspec *ws, int nw, int first, char *why, size_t whylen)
{
    for (int k = 0; k < nw; k++) {
        int i = (first + k) % nw;
        if (start_worker(&w[i], &ws[i]) != 0) {
            snprintf(why, whylen, "%s", w[i].ready.what);
            while (k-- > 0)
                stop_worker(&w[(first + k) % nw]);
            return -1;
        }
    }
    return 0;
}

enum { WARMUP_REQUESTS = 5 };

/* Whether an arm with a quota is due in round r of `rounds`. */
static int due(const struct arm *a, unsigned r, unsigned rounds)
{
    if (!a->quota)
        return 1;
    return (unsigned long long)(r + 1) * a->quota / rounds != (unsigned long long)r * a->quota / rounds;
}

int run_arms(const struct wspec *ws, int nw, struct arm *arms, int na, unsigned rounds, unsigned gens,
             char *why, size_t whylen)
{
    struct worker *w = calloc((size_t)nw, sizeof *w);
    if (!w)
        die("out of memory");
    if (gens < 1)
        gens = 1;
    if (gens > rounds)
        gens = rounds;
    for (unsigned g = 0; g < gens; g++) {
        if (start_all(w, ws, nw, (int)(g % (unsigned)nw), why, whylen) != 0) {
            free(w);
            return -1;
        }
        for (int a = 0; a < na; a++)
            for (int i = 0; i < (arms[a].op == OP_HOOK ? 1 : WARMUP_REQUESTS); i++)
                ask(&w[arms[a].worker], arms[a].op, arms[a].arg, arms[a].n, NULL);
        unsigned first = (unsigned)((unsigned long long)g * rounds / gens);
        unsigned last = (unsigned)((unsigned long long)(g + 1) * rounds / gens);
        for (unsigned r = first; r < last; r++)
            for (int k = 0; k < na; k++) {
                struct arm *a = &arms[(r + (unsigned)k) % (unsigned)na];
                if (due(a, r, rounds))
                    ask(&w[a->worker], a->op, a->arg, a->n, &a->s);
            }
        for (int i = 0; i < nw; i++)
            stop_worker(&w[i]);
    }
    free(w);
    return 0;
}

double probe_op(const struct wspec *ws, int op, uint32_t n, char *why, size_t whylen)
{
    struct worker w;
    if (start_worker(&w, ws) != 0) {
        snprintf(why, whylen, "%s", w.ready.what);
        return -1;
    }
    struct samples s = {0};
    ask(&w, op, 0, n, &s);
    stop_worker(&w);
    double m = median(s.v, s.n);
    samples_free(&s);
    return m;
}

/* ---- the table ------------------------------------------------------------ */

FILE *md;
int targets_missed;

void fmt_time(char *buf, size_t len, double ns)
{
    double a = ns < 0 ? -ns : ns;
    if (a < 1000)
        snprintf(buf, len, "%.1f ns", ns);
    else if (a < 10e3)
        snprintf(buf, len, "%.2f µs", ns / 1e3);
    else if (a < 1e6)
        snprintf(buf, len, "%.1f µs", ns / 1e3);
    else
        snprintf(buf, len, "%.2f ms", ns / 1e6);
}

void table_head(void)
{
    fprintf(md, "| row | case | n (A / B) | A | B | A − B | A / B | target | result |\n");
    fprintf(md, "|---|---|---|---|---|---|---|---|---|\n");
}

void row(const char *name, const char *what, const struct samples *a, const struct samples *b, double per,
         double target, const char *note)
{
    double ma = median(a->v, a->n) / per, mb = median(b->v, b->n) / per;
    double r, d;
    struct interval ratio, diff;
    if (a->n == b->n) {
        /* Interleaved arms: pair the i-th samples, taken next to each other. */
        paired(a->v, b->v, a->n, &r, &d, &ratio, &diff);
    } else {
        bootstrap(a->v, a->n, b->v, b->n, &ratio, &diff);
        r = ma / mb;
        d = (ma - mb) * per;
    }
    char ta[32], tb[32], td[32], dlo[32], dhi[32];
    fmt_time(ta, sizeof ta, ma);
    fmt_time(tb, sizeof tb, mb);
    fmt_time(td, sizeof td, d / per);
    fmt_time(dlo, sizeof dlo, diff.lo / per);
    fmt_time(dhi, sizeof dhi, diff.hi / per);
    char tgt[32] = "report", res[200] = "";
    if (target > 0) {
        snprintf(tgt, sizeof tgt, "≤ %.2f", target);
        snprintf(res, sizeof res, "%s", r <= target ? "met" : "**missed**");
        if (r > target)
            targets_missed++;
    }
    if (note)
        snprintf(res + strlen(res), sizeof res - strlen(res), "%s%s", res[0] ? "; " : "", note);
    fprintf(md, "| %s | %s | %zu / %zu | %s | %s | %s [%s, %s] | %.3f [%.3f, %.3f] | %s | %s |\n", name, what,
            a->n, b->n, ta, tb, td, dlo, dhi, r, ratio.lo, ratio.hi, tgt, res);
    fflush(md);
}

void single_row(const char *name, const char *what, const struct samples *a, const char *note)
{
    char ta[32];
    fmt_time(ta, sizeof ta, median(a->v, a->n));
    fprintf(md, "| %s | %s | %zu | %s | — | — | — | report | %s |\n", name, what, a->n, ta, note ? note : "");
}

void skipped_row(const char *name, const char *what, const char *why)
{
    fprintf(md, "| %s | %s | — | — | — | — | — | report | skipped: %s |\n", name, what, why);
}

/* ---- progress -------------------------------------------------------------- */

uint64_t t_start;

void phase(const char *fmt, ...)
{
    char head[32];
    snprintf(head, sizeof head, "bench: [%5.1f s]", (now_ns() - t_start) / 1e9);
    va_list ap;
    va_start(ap, fmt);
    vnote(head, fmt, ap);
    va_end(ap);
}
