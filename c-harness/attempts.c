/* attempts MODE LEAK ... : exec attempts that fail before the one that runs
 * (tests/log_attempts.rs). Opens LEAK read-only without close-on-exec and
 * prints "leak N", then:
 *
 *   pathloop LEAK NAME DIR...    execv(DIR/NAME) for each DIR in turn, as
 *                                CPython's and daemontools' PATH searches do
 *   execvp LEAK NAME             one execvp(NAME): glibc searches PATH itself
 *   vfork LEAK LEAK2 NAME GOOD DIR...
 *                                a vfork child tries execv(DIR/NAME) for each
 *                                DIR and exits 127; the parent then marks
 *                                LEAK close-on-exec itself, opens LEAK2
 *                                ("leak2 N") and runs execv(GOOD/NAME) with
 *                                the same argv the child passed
 *
 * The argv is always { NAME, NULL }. Exits EX_EXEC_RETURNED if no exec ran. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_leak(const char *path, const char *label)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail(EX_SETUP, "open %s: %s", path, strerror(errno));
    say("%s %d", label, fd);
    return fd;
}

/* execv(DIR/NAME) for each DIR; returns only if every attempt failed. */
static void try_each(char *const argv[], char **dirs, int ndirs)
{
    char path[PATH_MAX];
    for (int i = 0; i < ndirs; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], argv[0]);
        execv(path, argv);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4)
        fail(EX_USAGE, "usage: attempts pathloop|execvp|vfork LEAK ...");
    const char *mode = argv[1];
    if (strcmp(mode, "pathloop") == 0 && argc >= 5) {
        open_leak(argv[2], "leak");
        char *args[] = {argv[3], NULL};
        try_each(args, argv + 4, argc - 4);
    } else if (strcmp(mode, "execvp") == 0 && argc == 4) {
        open_leak(argv[2], "leak");
        char *args[] = {argv[3], NULL};
        execvp(args[0], args);
    } else if (strcmp(mode, "vfork") == 0 && argc >= 7) {
        int leak = open_leak(argv[2], "leak");
        char *args[] = {argv[4], NULL};
        pid_t pid = vfork();
        if (pid == 0) {
            try_each(args, argv + 6, argc - 6);
            _exit(127);
        }
        if (pid < 0)
            fail(EX_SPAWN, "vfork: %s", strerror(errno));
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 127)
            fail(EX_CHILD, "the vfork child ran something");
        if (fcntl(leak, F_SETFD, FD_CLOEXEC) != 0)
            fail(EX_SETUP, "F_SETFD: %s", strerror(errno));
        open_leak(argv[3], "leak2");
        try_each(args, argv + 5, 1);
    } else {
        fail(EX_USAGE, "unknown mode or wrong arguments: %s", mode);
    }
    fail(EX_EXEC_RETURNED, "no exec ran: %s", strerror(errno));
}
