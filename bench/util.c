/* Small helpers of the bench driver and workers: clock, errors, pipes. */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture */
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void die(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bench[%d]: %s\n", (int)getpid(), line);
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

/* The bare system call, never glibc's wrapper or closefrom(): returns 0 or -errno. */
long raw_close_range_cloexec(unsigned lo, unsigned hi)
{
    long r = syscall(SYS_close_range, lo, hi, CLOSE_RANGE_CLOEXEC);
    return r == 0 ? 0 : -errno;
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
