/* Forcing the library's sweep down its fallback ladder, for real:
 *   seccomp_block_close_range  close_range fails (ENOSYS/EPERM/EINVAL), so the
 *                              library must walk /proc/self/fd;
 *   fill_fd_table              no fd can be opened (EMFILE), so with
 *                              close_range blocked too, /proc/self/fd cannot
 *                              be opened and the library must loop to the
 *                              soft RLIMIT_NOFILE. */
#include "leaky.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture's AUDIT_ARCH_* here"
#endif

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture */
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

void seccomp_block_close_range(int err)
{
    struct sock_filter filter[] = {
        /* Another architecture's syscall numbers mean other calls: allow. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof filter / sizeof filter[0]),
        .filter = filter,
    };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail(EX_SECCOMP, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        fail(EX_SECCOMP, "SECCOMP_SET_MODE_FILTER: %s", strerror(errno));

    /* An empty range at the top: harmless if the filter did not work. */
    long r = syscall(SYS_close_range, ~0U - 1, ~0U, CLOSE_RANGE_CLOEXEC);
    int got = r == 0 ? 0 : errno;
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
