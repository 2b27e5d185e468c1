/* Small helpers of the bench driver and workers: clock, errors, pipes,
 * children. */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vnote(const char *head, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "%s %s\n", head, line);
}

void die(const char *fmt, ...)
{
    char head[32];
    snprintf(head, sizeof head, "bench[%d]:", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vnote(head, fmt, ap);
    va_end(ap);
    exit(1);
}

void read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read: %s", strerror(errno));
        if (n == 0)
            die("read: unexpected end of pipe (the other side died; see above)");
        p += n;
        len -= (size_t)n;
    }
}

void write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("write: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

char **env_without_ours(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0, k = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "CLOEXEC_", 8) != 0)
            env[k++] = environ[i];
    return env;
}

uint64_t reap_true(pid_t pid, uint64_t t0, const char *hint)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    uint64_t t1 = now_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("/bin/true failed (status %#x)%s", status, hint);
    return t1 - t0;
}

void samples_push(struct samples *s, const uint64_t *v, size_t n)
{
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->n + n)
            cap *= 2;
        uint64_t *grown = realloc(s->v, cap * sizeof *grown);
        if (!grown)
            die("out of memory");
        s->v = grown;
        s->cap = cap;
    }
    memcpy(s->v + s->n, v, n * sizeof *v);
    s->n += n;
}

void samples_free(struct samples *s)
{
    free(s->v);
    *s = (struct samples){0};
}
