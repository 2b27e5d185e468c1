/* Forcing the library's sweep down its fallback ladder, for real:
 *   seccomp_block_close_range  close_range fails (ENOSYS/EPERM/EINVAL), so the
 *                              library must walk /proc/self/fd;
 *   fill_fd_table              no fd can be opened (EMFILE), so with
 *                              close_range blocked too, /proc/self/fd cannot
 *                              be opened and the library must loop to the
 *                              soft RLIMIT_NOFILE. */
#include "leaky.h"

#include "close_range.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void seccomp_block_close_range(int err)
{
    const char *what;
    int failed = install_close_range_filter(err, &what);
    if (failed)
        fail(EX_SECCOMP, "%s: %s", what, strerror(failed));

    /* An empty range at the top: harmless if the filter did not work. */
    int got = (int)-raw_close_range_cloexec(~0U - 1, ~0U);
    if (got != err)
        fail(EX_SECCOMP_VERIFY, "close_range gave %s, wanted %s", errno_name(got), errno_name(err));
    say("seccomp-ok close_range %s", errno_name(err));
}

void fill_fd_table(void)
{
    int top = -1;
    int limit = soft_nofile();
    for (int fd = 0; fd < limit; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            top = fd;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail(EX_FILL, "getrlimit: %s", strerror(errno));
    rl.rlim_cur = (rlim_t)top + 1;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail(EX_FILL, "setrlimit: %s", strerror(errno));

    int fillers = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            if (errno != EMFILE)
                fail(EX_FILL, "open /dev/null: %s", strerror(errno));
            break;
        }
        char target[128];
        say("leak %d filler %s", fd, describe_fd(fd, target, sizeof target));
        fillers++;
    }
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 || errno != EMFILE)
        fail(EX_FILL_VERIFY, "open /proc/self/fd gave fd %d (%s), wanted EMFILE", fd,
             errno_name(fd >= 0 ? 0 : errno));
    say("fill-ok rlimit %d fillers %d", top + 1, fillers);
}
