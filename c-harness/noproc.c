/* noproc PROGRAM [ARGS...]: runs PROGRAM with an empty tmpfs over /proc.
 *
 * In a new mount namespace (unshare(CLONE_NEWNS); if that is not allowed, a
 * new user namespace with it, mapping the caller to root), makes every mount
 * private so nothing propagates back to the host, mounts an empty tmpfs on
 * /proc, and execs PROGRAM. If any step is not allowed, exits 77 (EX_SKIP)
 * with "SKIP: <reason>" on stderr: the facility is unavailable, it is not a
 * failure of the code under test. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static void skip(const char *what)
{
    dprintf(2, "SKIP: noproc: %s: %s\n", what, strerror(errno));
    _exit(EX_SKIP);
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A user namespace where the caller is root, with a mount namespace. */
static void unshare_as_user(void)
{
    char map[64];
    unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        skip("unshare(CLONE_NEWNS) and unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    snprintf(map, sizeof map, "0 %u 1\n", uid);
    if (write_file("/proc/self/uid_map", map) != 0)
        skip("writing uid_map");
    if (write_file("/proc/self/setgroups", "deny\n") != 0 && errno != ENOENT)
        skip("writing setgroups");
    snprintf(map, sizeof map, "0 %u 1\n", gid);
    if (write_file("/proc/self/gid_map", map) != 0)
        skip("writing gid_map");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        dprintf(2, "usage: noproc PROGRAM [ARGS...]\n");
        return EX_USAGE;
    }
    if (unshare(CLONE_NEWNS) != 0)
        unshare_as_user();
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        skip("making / private");
    if (mount("noproc", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0555") != 0)
        skip("mounting tmpfs on /proc");
    execv(argv[1], argv + 1);
    dprintf(2, "noproc: exec %s: %s\n", argv[1], strerror(errno));
    return EX_EXEC_RETURNED;
}
