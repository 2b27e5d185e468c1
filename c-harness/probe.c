/* probe [--out PATH]: reports every fd this process has, then exits 0.
 *
 * Output, one line each:
 *   probe method proc|scan pid P rlimit R   how the fds were found
 *   probe-env HARNESS_MARK VALUE            only if HARNESS_MARK is set
 *   fd N TARGET                             one per open fd, ascending
 * TARGET is the /proc/self/fd/N link, or "<type>:[dev:ino]" when /proc is not
 * there (see describe_fd in common.c). The directory fd used to list
 * /proc/self/fd is not reported.
 *
 * Finding the fds: list /proc/self/fd; if it cannot be opened (no procfs,
 * EMFILE because the whole fd table is full), probe every fd from 0 to the
 * soft RLIMIT_NOFILE with fcntl(F_GETFD), which needs no new fd.
 *
 * The probe is linked statically, so LD_PRELOAD never loads anything into it
 * (it only observes) and it starts even when every fd below the limit is
 * taken (no shared libraries to open). */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fdlist {
    int *fds;
    size_t len, cap;
};

static void push(struct fdlist *l, int fd)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->fds = realloc(l->fds, l->cap * sizeof *l->fds);
        if (!l->fds)
            fail(EX_PROBE_OUT, "probe: out of memory");
    }
    l->fds[l->len++] = fd;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Lists /proc/self/fd. Returns 0, or -1 if the directory cannot be opened. */
static int list_by_proc(struct fdlist *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd != self)
            push(out, fd);
    }
    closedir(d);
    return 0;
}

static void list_by_scan(struct fdlist *out, int limit)
{
    for (int fd = 0; fd < limit; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            push(out, fd);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else
            fail(EX_USAGE, "usage: probe [--out PATH]");
    }

    struct fdlist fds = {0};
    int limit = soft_nofile();
    const char *method = "proc";
    if (list_by_proc(&fds) != 0) {
        method = "scan";
        list_by_scan(&fds, limit);
    }
    qsort(fds.fds, fds.len, sizeof *fds.fds, cmp_int);

    /* Describe everything before opening the output file, so it is not seen. */
    size_t cap = 256 + fds.len * 160;
    char *report = malloc(cap);
    if (!report)
        fail(EX_PROBE_OUT, "probe: out of memory");
    size_t len = (size_t)snprintf(report, cap, "probe method %s pid %d rlimit %d\n", method,
                                  (int)getpid(), limit);
    const char *mark = getenv("HARNESS_MARK");
    if (mark)
        len += (size_t)snprintf(report + len, cap - len, "probe-env HARNESS_MARK %s\n", mark);
    for (size_t i = 0; i < fds.len; i++) {
        char target[128];
        describe_fd(fds.fds[i], target, sizeof target);
        len += (size_t)snprintf(report + len, cap - len, "fd %d %s\n", fds.fds[i], target);
    }

    int out = 1;
    if (out_path) {
        out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0)
            fail(EX_PROBE_OUT, "probe: cannot open %s: %s", out_path, strerror(errno));
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(out, report + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail(EX_PROBE_OUT, "probe: write: %s", strerror(errno));
        off += (size_t)n;
    }
    return 0;
}
