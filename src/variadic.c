/*
 * The variadic hooks: execl, execle, execlp, fcntl, fcntl64, ioctl.
 *
 * Stable Rust cannot define a C-variadic function, so their bodies live
 * here. Each one reads its variable arguments and hands them to one Rust
 * entry point (cloexec_internal_*). The functions here are hidden; Rust
 * exports them under libc's names through naked trampolines
 * (src/hooks/variadic.rs), because rustc's version script would hide a C
 * symbol.
 *
 * Async-signal-safe: stack memory and va_arg only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* execl* arguments are copied into a bounded stack array (8 KiB): more
 * than this many fail with E2BIG, like an over-long argument list. */
#define CLOEXEC_EXECL_MAX_ARGS 1024

enum { EXECL = 0, EXECLE = 1, EXECLP = 2 };
enum { FCNTL = 0, FCNTL64 = 1 };

int cloexec_internal_execl(int kind, const char *path, char *const argv[], char *const envp[]);
int cloexec_internal_fcntl(int which, int fd, int cmd, void *arg);
int cloexec_internal_ioctl(int fd, unsigned long request, void *arg);

/* Collects arg0 and the variadic arguments up to their NULL into argv.
 * Returns 0, or -1 with errno = E2BIG if they do not fit. */
static int collect_args(const char **argv, const char *arg0, va_list *ap)
{
    size_t n = 0;
    argv[n] = arg0;
    while (argv[n] != NULL) {
        if (++n == CLOEXEC_EXECL_MAX_ARGS) {
            errno = E2BIG;
            return -1;
        }
        argv[n] = va_arg(*ap, const char *);
    }
    return 0;
}

/* The body of execl, execle and execlp. execle's environment follows
 * the terminating NULL. */
static int run_execl(int kind, const char *path, const char *arg0, va_list *ap)
{
    const char *argv[CLOEXEC_EXECL_MAX_ARGS];
    if (collect_args(argv, arg0, ap) < 0)
        return -1;
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
