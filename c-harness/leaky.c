/* leaky ENTRY [options] -- PROGRAM [ARGS...]
 *
 * Opens a set of fds without close-on-exec (the leaks), prints
 * "leak N KIND TARGET" for each, then runs PROGRAM (normally the probe)
 * through ENTRY, one of the 13 entry points. See c-harness/README.md for the
 * options, the output lines and the exit codes. */
#include "leaky.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* How a leak is shown to still work after a failed exec. */
enum io {
    IO_STAT,    /* fstat only (its I/O is covered by another leak) */
    IO_PREAD,   /* pwrite + pread on itself (file, memfd) */
    IO_PEER,    /* write 1 byte to it, read it back from peer */
    IO_EVENTFD, /* eventfd write + read */
    IO_EPOLL,   /* epoll_wait with timeout 0 */
};

struct leak {
    int fd;
    const char *kind;
    enum io io;
    int peer;
};

#define MAX_LEAKS 64

static struct leak leaks[MAX_LEAKS];
static int nleaks;

static int add_leak(int fd, const char *kind, enum io io, int peer)
{
    if (fd < 0)
        fail(EX_SETUP, "opening the %s leak: %s", kind, strerror(errno));
    if (nleaks == MAX_LEAKS)
        fail(EX_SETUP, "too many leaks");
    leaks[nleaks++] = (struct leak){fd, kind, io, peer};
    return fd;
}

static void make_path(char *buf, size_t len, const char *tmpdir, const char *what, int n)
{
    snprintf(buf, len, "%s/cloexec-harness-%d-%s-%d", tmpdir, (int)getpid(), what, n);
}

/* A regular file, unlinked at once: nothing to clean up. */
static int open_unlinked(const char *tmpdir, const char *what, int n)
{
    char path[4096];
    make_path(path, sizeof path, tmpdir, what, n);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* Two high numbers for F_DUPFD leaks: 500 and 1000, or a quarter and a half
 * of the soft RLIMIT_NOFILE if it is too small for those. */
static int high_fd(int which)
{
    int limit = soft_nofile();
    if (limit > 1100)
        return which ? 1000 : 500;
    return which ? limit / 2 : limit / 4;
}

/* Every kind of fd a program leaks, all without close-on-exec. */
static void open_leaks(const char *tmpdir)
{
    int file = add_leak(open_unlinked(tmpdir, "file", 0), "file", IO_PREAD, -1);
    add_leak(open(tmpdir, O_RDONLY | O_DIRECTORY), "dir", IO_STAT, -1);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        fail(EX_SETUP, "socketpair: %s", strerror(errno));
    add_leak(sp[0], "socketpair", IO_PEER, sp[1]);
    add_leak(sp[1], "socketpair", IO_PEER, sp[0]);
    add_leak(socket(AF_UNIX, SOCK_DGRAM, 0), "socket", IO_STAT, -1);
    int p[2];
    if (pipe(p) != 0)
        fail(EX_SETUP, "pipe: %s", strerror(errno));
    add_leak(p[0], "pipe-r", IO_STAT, -1);
    add_leak(p[1], "pipe-w", IO_PEER, p[0]);
    add_leak(eventfd(0, 0), "eventfd", IO_EVENTFD, -1);
    add_leak(epoll_create1(0), "epoll", IO_EPOLL, -1);
    add_leak(memfd_create("cloexec-harness", 0), "memfd", IO_PREAD, -1);
    add_leak(dup(file), "dup", IO_PREAD, -1);
    add_leak(fcntl(p[1], F_DUPFD, high_fd(0)), "high-pipe-w", IO_PEER, p[0]);
    add_leak(fcntl(sp[0], F_DUPFD, high_fd(1)), "high-socket", IO_PEER, sp[1]);
}

/* --keep-dup2 N: a file put on N on purpose, for CLOEXEC_KEEP tests. */
static void keep_dup2(const char *tmpdir, int n)
{
    int fd = open_unlinked(tmpdir, "keep", n);
    if (fd < 0 || dup2(fd, n) != n)
        fail(EX_SETUP, "keep-dup2 %d: %s", n, strerror(errno));
    if (fd != n)
        close(fd);
    add_leak(n, "keep", IO_PREAD, -1);
}

static int check_io(const struct leak *l)
{
    char c = 'x';
    uint64_t one = 1, got = 0;
    struct epoll_event ev;
    switch (l->io) {
    case IO_PREAD:
        return pwrite(l->fd, &c, 1, 0) == 1 && pread(l->fd, &c, 1, 0) == 1 && c == 'x';
    case IO_PEER:
        return write(l->fd, &c, 1) == 1 && read(l->peer, &c, 1) == 1 && c == 'x';
    case IO_EVENTFD:
        return write(l->fd, &one, sizeof one) == sizeof one && read(l->fd, &got, sizeof got) == sizeof got &&
               got == 1;
    case IO_EPOLL:
        return epoll_wait(l->fd, &ev, 1, 0) >= 0;
    case IO_STAT:
    default:
        return 1;
    }
}

/* After a failed exec every leak must still be open (only its close-on-exec
 * flag may have changed) and work. */
static void check_leaks_usable(void)
{
    struct stat st;
    for (int i = 0; i < nleaks; i++) {
        const struct leak *l = &leaks[i];
        if (fcntl(l->fd, F_GETFD) == -1 || fstat(l->fd, &st) != 0)
            fail(EX_FD_LOST, "leak %d (%s) is gone: %s", l->fd, l->kind, strerror(errno));
        if (!check_io(l))
            fail(EX_FD_UNUSABLE, "leak %d (%s) unusable: %s", l->fd, l->kind, strerror(errno));
        say("usable-ok %d %s", l->fd, l->kind);
    }
}

/* Runs the entry once against a program that cannot run and checks the
 * failure: exec entries return -1 with errno, posix_spawn* return the error,
 * system/popen report the shell's 127 (not found) or 126 (not executable). */
static void expect_failure(const struct plan *bad, int want, int code)
{
    const char *entry = entry_name(bad->entry);
    if (entry_is_exec(bad->entry)) {
        errno = 0;
        int r = plan_exec(bad);
        int err = errno;
        if (r != -1 || err != want)
            fail(code, "%s returned %d errno %s, wanted -1 errno %s", entry, r, errno_name(err),
                 errno_name(want));
    } else if (bad->entry == E_POSIX_SPAWN || bad->entry == E_POSIX_SPAWNP) {
        int status = 0;
        int err = plan_spawn(bad, &status);
        if (err != want)
            fail(code, "%s returned %s, wanted %s", entry, errno_name(err), errno_name(want));
    } else {
        int status = 0;
        int err = plan_spawn(bad, &status);
        int shell = want == ENOENT ? 127 : 126;
        if (err != 0 || status_code(status) != shell)
            fail(code, "%s gave error %s status %d, wanted status %d", entry, errno_name(err),
                 status_code(status), shell);
    }
    say("errno-ok %s %s", entry, errno_name(want));
}

/* --fail-first: a missing program (ENOENT), then a file without execute
 * permission (EACCES; fexecve: a closed fd, EBADF), then checks that every
 * leak is still open and usable. The real run follows. */
static void fail_first(const struct plan *plan, const char *tmpdir)
{
    const char *missing = "/nonexistent-cloexec-harness/probe";
    char *missing_argv[] = {(char *)missing, NULL};
    struct plan bad = *plan;
    bad.path = missing;
    bad.name = "cloexec-harness-no-such-program";
    bad.relname = bad.name;
    bad.command = shell_command(missing_argv);
    if (plan->entry == E_FEXECVE) {
        bad.fd = dup(plan->fd);
        close(bad.fd);
        expect_failure(&bad, EBADF, EX_ERRNO_EBADF);
    } else {
        expect_failure(&bad, ENOENT, EX_ERRNO_ENOENT);
    }

    char noexec[4096];
    make_path(noexec, sizeof noexec, tmpdir, "noexec", 0);
    int fd = open(noexec, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "#!/bin/sh\nexit 0\n", 17) != 17 || close(fd) != 0)
        fail(EX_SETUP, "writing %s: %s", noexec, strerror(errno));
    char *noexec_argv[] = {noexec, NULL};
    bad = *plan;
    bad.path = noexec;
    bad.name = noexec; /* has a '/': the p-variants run it without PATH search */
    bad.relname = noexec; /* absolute: execveat ignores dirfd */
    bad.command = shell_command(noexec_argv);
    bad.fd = open(noexec, O_RDONLY | O_CLOEXEC);
    expect_failure(&bad, EACCES, EX_ERRNO_EACCES);
    close(bad.fd);
    unlink(noexec);

    check_leaks_usable();
}

static void __attribute__((noreturn)) usage(void)
{
    fail(EX_USAGE,
         "usage: leaky ENTRY [--vfork|--threads-fork|--signal] [--iterations N] [--threads N]\n"
         "       [--fail-first] [--seccomp-close-range ENOSYS|EPERM|EINVAL] [--fill-fds]\n"
         "       [--keep-dup2 N]... [--tmpdir DIR] -- PROGRAM [ARGS...]");
}

static int parse_int(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 1 << 24)
        usage();
    return (int)v;
}

static int parse_errno(const char *s)
{
    if (strcmp(s, "ENOSYS") == 0)
        return ENOSYS;
    if (strcmp(s, "EPERM") == 0)
        return EPERM;
    if (strcmp(s, "EINVAL") == 0)
        return EINVAL;
    usage();
}

/* Brings the soft RLIMIT_NOFILE into [4096, 65536] as far as the hard limit
 * allows: room for the high leaks and the hammer threads' fds, and scans to
 * the limit (the probe without /proc, the library's last-resort loop) stay
 * short even where nofile is huge. */
static void clamp_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_cur;
    if (want < 4096)
        want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096 ? 4096 : rl.rlim_max;
    if (want > 65536)
        want = 65536;
    if (want != rl.rlim_cur) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

enum mode { M_DIRECT, M_VFORK, M_THREADS_FORK, M_SIGNAL };

int main(int argc, char **argv)
{
    enum entry entry;
    enum mode mode = M_DIRECT;
    int iterations = 1, threads = 4, first_fail = 0, block_err = 0, fill = 0;
    int keep[16], nkeep = 0;
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    if (argc < 2 || entry_parse(argv[1], &entry) != 0)
        usage();
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--vfork") == 0)
            mode = M_VFORK;
        else if (strcmp(o, "--threads-fork") == 0)
            mode = M_THREADS_FORK;
        else if (strcmp(o, "--signal") == 0)
            mode = M_SIGNAL;
        else if (strcmp(o, "--fail-first") == 0)
            first_fail = 1;
        else if (strcmp(o, "--fill-fds") == 0)
            fill = 1;
        else if (!v)
            usage();
        else if (strcmp(o, "--iterations") == 0)
            iterations = parse_int(argv[++i]);
        else if (strcmp(o, "--threads") == 0)
            threads = parse_int(argv[++i]);
        else if (strcmp(o, "--seccomp-close-range") == 0)
            block_err = parse_errno(argv[++i]);
        else if (strcmp(o, "--keep-dup2") == 0 && nkeep < 16)
            keep[nkeep++] = parse_int(argv[++i]);
        else if (strcmp(o, "--tmpdir") == 0)
            tmpdir = argv[++i];
        else
            usage();
    }
    if (i + 1 >= argc)
        usage();
    if (mode != M_DIRECT && first_fail)
        fail(EX_USAGE, "--fail-first works only without --vfork/--threads-fork/--signal");
    if ((mode == M_VFORK || mode == M_SIGNAL) && !entry_is_exec(entry))
        fail(EX_USAGE, "--vfork and --signal take an exec entry");

    clamp_nofile();
    open_leaks(tmpdir);
    for (int k = 0; k < nkeep; k++)
        keep_dup2(tmpdir, keep[k]);
    for (int k = 0; k < nleaks; k++) {
        char target[128];
        say("leak %d %s %s", leaks[k].fd, leaks[k].kind, describe_fd(leaks[k].fd, target, sizeof target));
    }

    struct plan plan;
    plan_prepare(&plan, entry, argv[i + 1], argv + i + 2, argc - i - 2);
    if (block_err)
        seccomp_block_close_range(block_err);
    if (fill)
        fill_fd_table();
    if (first_fail)
        fail_first(&plan, tmpdir);

    switch (mode) {
    case M_VFORK:
        run_vfork(&plan, iterations);
        return 0;
    case M_THREADS_FORK:
        run_threads_fork(&plan, iterations, threads);
        return 0;
    case M_SIGNAL:
        run_signal(&plan, iterations);
        return 0;
    case M_DIRECT:
        break;
    }
    if (entry_is_exec(entry)) {
        plan_exec(&plan);
        fail(EX_EXEC_RETURNED, "%s returned: %s", entry_name(entry), strerror(errno));
    }
    int status = 0;
    int err = plan_spawn(&plan, &status);
    if (err)
        fail(EX_SPAWN, "%s failed: %s", entry_name(entry), strerror(err));
    say("child-status %d", status_code(status));
    if (status_code(status) != 0)
        fail(EX_CHILD, "%s: child status %d", entry_name(entry), status_code(status));
    return 0;
}
