/* See hard_util.h. */
#include "hard_util.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void hwrite_str(int fd, const char *s)
{
    ssize_t w = write(fd, s, strlen(s));
    (void)w;
}

char *hitoa(long v, char *buf)
{
    char tmp[24];
    int n = 0;
    int neg = v < 0;
    unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int i = 0;
    if (neg)
        buf[i++] = '-';
    while (n)
        buf[i++] = tmp[--n];
    buf[i] = 0;
    return buf;
}

char *hfdname(long fd, char *buf)
{
    buf[0] = 'f';
    buf[1] = 'd';
    buf[2] = '.';
    hitoa(fd, buf + 3);
    return buf;
}

int hwait(pid_t pid, int seconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long sleep_ns = 20000;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status_code(status);
        if (r < 0 && errno != EINTR)
            return -2;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= seconds) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 5000000)
            sleep_ns *= 2;
    }
}

char *hpath(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (!p)
        fail(HX_SETUP, "out of memory");
    snprintf(p, len, "%s/%s", dir, name);
    return p;
}

void hwrite_file(const char *path, const void *data, size_t len, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        fail(HX_SETUP, "create %s: %s", path, strerror(errno));
    if (len && write(fd, data, len) != (ssize_t)len)
        fail(HX_SETUP, "write %s: %s", path, strerror(errno));
    if (fchmod(fd, (mode_t)mode) != 0)
        fail(HX_SETUP, "chmod %s: %s", path, strerror(errno));
    close(fd);
}

int hopen_leak(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail(HX_SETUP, "open %s: %s", path, strerror(errno));
    return fd;
}

int hmove_fd(int fd, int at)
{
    if (fcntl(at, F_GETFD) != -1)
        fail(HX_SETUP, "fd %d is already open", at);
    int got = fcntl(fd, F_DUPFD, at);
    if (got != at)
        fail(HX_SETUP, "F_DUPFD onto %d gave %d: %s", at, got, strerror(errno));
    close(fd);
    return got;
}

void htally_add(struct htally *t, const char *kind, int i, int code)
{
    static int listed;
    t->runs++;
    if (code == HP_OK)
        t->ok++;
    else if (code == HP_KEEP_MISSING)
        t->missing++;
    else if (code == HP_LEAK_OPEN)
        t->leaked++;
    else
        t->other++;
    if (code != HP_OK && listed < 20) {
        listed++;
        say("fail %s %d code %d%s", kind, i, code, code == -1 ? " (timeout)" : "");
    }
}

int htally_say(const char *test, const char *kind, const struct htally *t)
{
    say("%s %s runs %d ok %d missing %d leaked %d other %d", test, kind, t->runs, t->ok, t->missing,
         t->leaked, t->other);
    return t->ok != t->runs;
}

char *htempdir(const char *name)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    size_t len = strlen(tmp) + strlen(name) + sizeof "/-XXXXXX";
    char *dir = malloc(len);
    if (!dir)
        fail(HX_SETUP, "out of memory");
    snprintf(dir, len, "%s/%s-XXXXXX", tmp, name);
    if (!mkdtemp(dir))
        fail(HX_SETUP, "mkdtemp: %s", strerror(errno));
    return dir;
}

void hstack_8mib(void)
{
    struct rlimit st;
    if (getrlimit(RLIMIT_STACK, &st) == 0) {
        st.rlim_cur = 8 << 20;
        if (st.rlim_max != RLIM_INFINITY && st.rlim_max < st.rlim_cur)
            st.rlim_cur = st.rlim_max;
        setrlimit(RLIMIT_STACK, &st);
    }
}
