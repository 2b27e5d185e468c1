/* Hook probe: the least a C interposer on fcntl/fcntl64 can cost.
 * fcntl reads its argument and forwards to glibc's fcntl; fcntl64 makes
 * the raw system call. Compare via `bench --hooks none this.so libcloexec.so`
 * (only hooks 0 and 1 are interposed here). */
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

static int (*real_fcntl)(int, int, ...);

__attribute__((constructor)) static void probe(void)
{
    real_fcntl = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl");
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (!real_fcntl) /* called before our constructor */
        probe();
    return real_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}
