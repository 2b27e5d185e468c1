/*
 * The variadic hooks: execl, execle, execlp, fcntl, fcntl64, ioctl, and
 * open, open64, openat, openat64.
 *
 * Stable Rust cannot define a C-variadic function, so their bodies live
 * here. Each one reads its variable arguments and hands them to one Rust
 * entry point (cloexec_internal_*). The functions here are hidden; Rust
 * exports them under libc's names through naked trampolines
 * (src/hooks/trampolines.rs), because rustc's version script would hide a C
 * symbol.
 *
 * Async-signal-safe: stack memory and va_arg only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* execl* arguments are counted, then copied into a stack array of exactly
 * that size (at most 8 KiB): more than this many fail with E2BIG, like an
 * over-long argument list. Sizing the array to the call keeps the usual
 * exec, with a handful of arguments, small enough for an 8 KiB alternate
 * signal stack. */
#define CLOEXEC_EXECL_MAX_ARGS 1024

enum { EXECL = 0, EXECLE = 1, EXECLP = 2 };
enum { FCNTL = 0, FCNTL64 = 1 };

int cloexec_internal_execl(int kind, const char *path, char *const argv[], char *const envp[]);
int cloexec_internal_fcntl(int which, int fd, int cmd, void *arg);
int cloexec_internal_ioctl(int fd, unsigned long request, void *arg);
int cloexec_internal_open(int which, int dirfd, const char *path, int flags, unsigned mode);

/* How many arguments arg0 and the variadic list hold before their NULL,
 * counting no further than CLOEXEC_EXECL_MAX_ARGS. */
static size_t count_args(const char *arg0, va_list *ap)
{
    va_list scan;
    va_copy(scan, *ap);
    size_t n = 0;
    for (const char *arg = arg0; arg != NULL && n < CLOEXEC_EXECL_MAX_ARGS;
         arg = va_arg(scan, const char *))
        n++;
    va_end(scan);
    return n;
}

/* The body of execl, execle and execlp. execle's environment follows
 * the terminating NULL. */
static int run_execl(int kind, const char *path, const char *arg0, va_list *ap)
{
    size_t argc = count_args(arg0, ap);
    if (argc == CLOEXEC_EXECL_MAX_ARGS) {
        errno = E2BIG;
        return -1;
    }
    const char *argv[argc + 1]; /* bounded by CLOEXEC_EXECL_MAX_ARGS */
    argv[0] = arg0;
    for (size_t i = 1; i < argc; i++)
        argv[i] = va_arg(*ap, const char *);
    argv[argc] = NULL;
    if (argc > 0)
        (void)va_arg(*ap, const char *); /* the terminating NULL */
    char *const *envp = kind == EXECLE ? va_arg(*ap, char *const *) : NULL;
    return cloexec_internal_execl(kind, path, (char *const *)argv, envp);
}

#define EXECL_HOOK(name, kind)                                       \
    HIDDEN int name(const char *path, const char *arg, ...)          \
    {                                                                \
        va_list ap;                                                  \
        va_start(ap, arg);                                           \
        int ret = run_execl(kind, path, arg, &ap);                   \
        va_end(ap);                                                  \
        return ret;                                                  \
    }

EXECL_HOOK(cloexec_c_execl, EXECL)
EXECL_HOOK(cloexec_c_execle, EXECLE)
EXECL_HOOK(cloexec_c_execlp, EXECLP)

/* fcntl and ioctl take at most one more argument, an int or a pointer.
 * Reading it as a pointer is what glibc's own fcntl does. */
#define FCNTL_HOOK(name, which)                                      \
    HIDDEN int name(int fd, int cmd, ...)                            \
    {                                                                \
        va_list ap;                                                  \
        va_start(ap, cmd);                                           \
        void *arg = va_arg(ap, void *);                              \
        va_end(ap);                                                  \
        return cloexec_internal_fcntl(which, fd, cmd, arg);          \
    }

FCNTL_HOOK(cloexec_c_fcntl, FCNTL)
FCNTL_HOOK(cloexec_c_fcntl64, FCNTL64)

HIDDEN int cloexec_c_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return cloexec_internal_ioctl(fd, request, arg);
}

/* open and openat read their mode only when the flags create a file, as
 * libc's own do: reading an argument that was not passed is undefined. */
enum { OPEN = 0, OPEN64 = 1, OPENAT = 2, OPENAT64 = 3 };

static int needs_mode(int flags)
{
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

/* Sets `mode` to the argument that follows `flags`, read only when the
 * flags call for one. */
#define READ_MODE(flags, mode)                                       \
    do {                                                             \
        if (needs_mode(flags)) {                                     \
            va_list ap;                                              \
            va_start(ap, flags);                                     \
            (mode) = va_arg(ap, unsigned);                           \
            va_end(ap);                                              \
        }                                                            \
    } while (0)

#define OPEN_HOOK(name, which)                                       \
    HIDDEN int name(const char *path, int flags, ...)                \
    {                                                                \
        unsigned mode = 0;                                           \
        READ_MODE(flags, mode);                                      \
        return cloexec_internal_open(which, AT_FDCWD, path, flags, mode); \
    }

#define OPENAT_HOOK(name, which)                                     \
    HIDDEN int name(int dirfd, const char *path, int flags, ...)     \
    {                                                                \
        unsigned mode = 0;                                           \
        READ_MODE(flags, mode);                                      \
        return cloexec_internal_open(which, dirfd, path, flags, mode); \
    }

OPEN_HOOK(cloexec_c_open, OPEN)
OPEN_HOOK(cloexec_c_open64, OPEN64)
OPENAT_HOOK(cloexec_c_openat, OPENAT)
OPENAT_HOOK(cloexec_c_openat64, OPENAT64)
