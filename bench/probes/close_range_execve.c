/* Exec probe: the least any sweep-at-exec preload can do. execve marks
 * 3..~0U close-on-exec with one close_range and calls the real execve.
 * Compare with libcloexec via `bench --exec NFDS none this.so libcloexec.so`. */
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

static int (*real_execve)(const char *, char *const[], char *const[]);

__attribute__((constructor)) static void probe(void)
{
    real_execve = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execve");
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    return real_execve(path, argv, envp);
}
