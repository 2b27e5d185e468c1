#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void vsay_fd(int fd, const char *prefix, const char *fmt, va_list ap)
{
    char line[8192];
    int head = snprintf(line, sizeof line, "%s", prefix);
    int body = vsnprintf(line + head, sizeof line - (size_t)head - 1, fmt, ap);
    size_t len = (size_t)head + (body < 0 ? 0 : (size_t)body);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    write_all(fd, line, len);
}

void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay_fd(1, "", fmt, ap);
    va_end(ap);
}

void fail(int code, const char *fmt, ...)
{
    char prefix[32];
    va_list ap;
    snprintf(prefix, sizeof prefix, "FAIL %d: ", code);
    va_start(ap, fmt);
    vsay_fd(2, prefix, fmt, ap);
    va_end(ap);
    _exit(code);
}

static const char *type_name(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "reg";
    case S_IFDIR: return "dir";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "sock";
    case S_IFLNK: return "lnk";
    default: return "anon";
    }
}

const char *describe_fd(int fd, char *buf, size_t len)
{
    char link[64];
    struct stat st;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, len - 1);
    if (n >= 0) {
        buf[n] = '\0';
        return buf;
    }
    if (fstat(fd, &st) == 0)
        snprintf(buf, len, "%s:[%llu:%llu]", type_name(st.st_mode),
                 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    else
        snprintf(buf, len, "?:[%s]", errno_name(errno));
    return buf;
}

int soft_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > SCAN_CAP)
        return SCAN_CAP;
    return (int)rl.rlim_cur;
}

int status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

const char *errno_name(int err)
{
    static const struct {
        int n;
        const char *s;
    } names[] = {
        {0, "0"},           {EPERM, "EPERM"},     {ENOENT, "ENOENT"},   {EINTR, "EINTR"},
        {EIO, "EIO"},       {E2BIG, "E2BIG"},     {ENOEXEC, "ENOEXEC"}, {EBADF, "EBADF"},
        {ECHILD, "ECHILD"}, {EAGAIN, "EAGAIN"},   {ENOMEM, "ENOMEM"},   {EACCES, "EACCES"},
        {EFAULT, "EFAULT"}, {EBUSY, "EBUSY"},     {EEXIST, "EEXIST"},   {ENOTDIR, "ENOTDIR"},
        {EISDIR, "EISDIR"}, {EINVAL, "EINVAL"},   {EMFILE, "EMFILE"},   {ENOTTY, "ENOTTY"},
        {ESPIPE, "ESPIPE"}, {ERANGE, "ERANGE"},   {ENOSYS, "ENOSYS"},   {ELOOP, "ELOOP"},
        {ENAMETOOLONG, "ENAMETOOLONG"},           {EOPNOTSUPP, "EOPNOTSUPP"},
        {ENOTSOCK, "ENOTSOCK"}, {ETXTBSY, "ETXTBSY"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].n == err)
            return names[i].s;
    static char other[16];
    snprintf(other, sizeof other, "E%d", err);
    return other;
}
