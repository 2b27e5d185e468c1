/* hard_signal --probe PATH [--runs N] [--timeout SECONDS]
 *
 * Exec from a signal handler that interrupted the main thread inside one of
 * the wrapped calls. Each run opens the leaks (a file, a pipe, and a file
 * the child locks, all without O_CLOEXEC) and forks a child (the leaks are
 * its parent's: made in the child, they would be kept) that sets up
 *   - fd 100: dup2'd there on purpose (deliberate),
 * then is interrupted by SIGALRM, whose handler execs hard_probe (--keep
 * 100, --leak each leak), rotating execve, execv, execl, execle, execvp.
 * Three ways to be interrupted, in turn:
 *   blocked    the child is blocked inside the wrapped fcntl(F_SETLKW) on a
 *              lock the parent holds, so the signal lands inside the hook's
 *              call to the real fcntl, every time;
 *   hot        the child loops on wrapped calls only (dup2 onto 100, dup3
 *              with O_CLOEXEC, fcntl F_SETFD both ways and F_GETFD, fcntl64,
 *              ioctl FIONCLEX/FIOCLEX) and a timer with a varying delay
 *              interrupts it wherever it is;
 *   reentrant  the child loops on an execve that fails (ENOENT), so the
 *              signal mostly lands inside the library's own exec path, and
 *              the handler's exec runs that path again on top of it.
 * For hot and reentrant, the handler prints where the interrupted pc was
 * ("at lib", "at libc", "at main", "at other"; lib = libcloexec's code).
 *
 * Output: "signal MODE runs N ok A missing B leaked C other D" for each
 * mode, "interrupted MODE lib L libc C main M other O" for hot and
 * reentrant, and "fail MODE I code C" for the first failures. Exit 0 if
 * every run passed. */
#include "hard_util.h"

#include "common.h"
#include "exec_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

extern char **environ;
extern int fcntl64(int fd, int cmd, ...);

#define DELIBERATE_FD 100

struct range {
    uintptr_t lo, hi;
};

/* Executable segments of libcloexec, libc and this program (found before
 * any signal, read by the handler). */
static struct range ranges[3][4];
static int nranges[3];

static int find_ranges(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *name = info->dlpi_name;
    int which = !name || !*name                 ? 2
                : strstr(name, "libcloexec")    ? 0
                : strstr(name, "/libc.so")      ? 1
                                                : -1;
    if (which < 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nranges[which] < 4; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            ranges[which][nranges[which]++] = (struct range){lo, lo + ph->p_memsz};
        }
    }
    return 0;
}

static const char *where(uintptr_t pc)
{
    static const char *const names[3] = {"lib", "libc", "main"};
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < nranges[w]; i++)
            if (pc >= ranges[w][i].lo && pc < ranges[w][i].hi)
                return names[w];
    return "other";
}

static uintptr_t pc_of(void *uc)
{
    ucontext_t *ctx = uc;
#if defined(__x86_64__)
    return (uintptr_t)ctx->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)ctx->uc_mcontext.pc;
#else
    (void)ctx;
    return 0;
#endif
}

/* The child's plan, ready before the signal can come. */
static char *probe_argv[16];
static char nums[5][28];
static struct exec_target target;
static int entry;

/* The exec entries the runs rotate through. */
static const enum entry rotation[] = {E_EXECVE, E_EXECV, E_EXECL, E_EXECLE, E_EXECVP};

static void on_alarm(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    hwrite_str(1, "at ");
    hwrite_str(1, where(pc_of(uc)));
    hwrite_str(1, "\n");
    exec_entry(rotation[entry % (int)(sizeof rotation / sizeof rotation[0])], &target);
    _exit(HX_EXEC_FAILED);
}

static void arm(long usec)
{
    struct itimerval it = {{0, 0}, {usec / 1000000, usec % 1000000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

enum mode { BLOCKED, HOT, REENTRANT, MODES };
static const char *const modes[MODES] = {"blocked", "hot", "reentrant"};

/* Sets up the fds, then waits for SIGALRM as `mode` says. Never returns:
 * the handler execs. `toggled` has its close-on-exec flag flipped all the
 * time, so its state at the exec is not checked. */
/* The leaks of one run, opened by the parent before it forks; the lock
 * file's (leaks[3]) is opened once and never closed, since closing any fd
 * of the file would drop the parent's own lock on it. */
static void open_leaks(const char *dir, int leaks[4])
{
    leaks[0] = hopen_leak(hpath(dir, "leak"));
    int pfd[2];
    if (pipe(pfd) != 0)
        fail(HX_SETUP, "pipe: %s", strerror(errno));
    leaks[1] = pfd[0];
    leaks[2] = pfd[1];
    static int lock_leak = -1;
    if (lock_leak < 0) {
        char *lockfile = hpath(dir, "lock");
        lock_leak = open(lockfile, O_RDWR);
        if (lock_leak < 0)
            fail(HX_SETUP, "open %s: %s", lockfile, strerror(errno));
    }
    leaks[3] = lock_leak;
}

static void child(const char *probe, const char *dir, enum mode mode, int run, const int leaks[4])
{
    char *deliberate = hpath(dir, "deliberate");
    int src = open(deliberate, O_RDONLY | O_CLOEXEC);
    int toggled = open(deliberate, O_RDONLY | O_CLOEXEC);
    if (src < 0 || toggled < 0 || dup2(src, DELIBERATE_FD) != DELIBERATE_FD)
        fail(HX_SETUP, "deliberate fd: %s", strerror(errno));

    int n = 0;
    probe_argv[n++] = (char *)probe;
    probe_argv[n++] = "--keep";
    probe_argv[n++] = hitoa(DELIBERATE_FD, nums[0]);
    for (int i = 0; i < 4; i++) {
        probe_argv[n++] = "--leak";
        probe_argv[n++] = hfdname(leaks[i], nums[i + 1]);
    }
    probe_argv[n] = NULL;
    target = (struct exec_target){.path = probe,
                                  .name = probe,
                                  .argv = probe_argv,
                                  .argc = n,
                                  .envp = environ,
                                  .dirfd = AT_FDCWD,
                                  .relname = probe};
    entry = run;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    if (mode == BLOCKED) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        arm(20000);
        fcntl(leaks[3], F_SETLKW, &fl); /* the parent holds it: blocks here */
        fail(HX_FAILED, "F_SETLKW returned: %s", strerror(errno));
    }
    arm(1000 + (run * 7919L) % 9000);
    if (mode == REENTRANT) {
        char *missing = hpath(dir, "missing");
        char *argv[] = {missing, "--keep", "100", NULL};
        for (;;)
            execve(missing, argv, environ);
    }
    for (;;) {
        dup2(src, DELIBERATE_FD);
        fcntl(leaks[0], F_GETFD);
        fcntl(toggled, F_SETFD, 0);
        fcntl64(toggled, F_SETFD, FD_CLOEXEC);
        dup3(src, 101, O_CLOEXEC);
        ioctl(toggled, FIONCLEX);
        ioctl(toggled, FIOCLEX);
        fcntl64(leaks[1], F_GETFD);
    }
}

int main(int argc, char **argv)
{
    const char *probe = NULL;
    int runs = 40, timeout = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--probe") == 0)
            probe = argv[i + 1];
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout") == 0)
            timeout = atoi(argv[i + 1]);
        else
            fail(HX_USAGE, "unknown option %s", argv[i]);
    }
    if (!probe || runs <= 0 || timeout <= 0)
        fail(HX_USAGE, "usage: hard_signal --probe PATH [--runs N] [--timeout S]");
    dl_iterate_phdr(find_ranges, NULL);

    char *dir = htempdir("hard-signal");
    char *files[3] = {hpath(dir, "deliberate"), hpath(dir, "leak"), hpath(dir, "lock")};
    for (int i = 0; i < 3; i++)
        hwrite_file(files[i], "x", 1, 0644);

    /* The parent's lock, which the blocked children wait for. */
    int lock = open(files[2], O_RDWR | O_CLOEXEC);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    if (lock < 0 || fcntl(lock, F_SETLK, &fl) != 0)
        fail(HX_SETUP, "locking %s: %s", files[2], strerror(errno));

    struct htally tally[MODES] = {{0}, {0}, {0}};
    static const char *const places[3] = {"lib", "libc", "main"};
    int at[MODES][4] = {{0}};
    for (int r = 0; r < runs; r++) {
        enum mode mode = (enum mode)(r % MODES);
        int out[2];
        if (pipe2(out, O_CLOEXEC) != 0)
            fail(HX_SETUP, "pipe: %s", strerror(errno));
        int leaks[4];
        open_leaks(dir, leaks);
        pid_t pid = fork();
        if (pid < 0)
            fail(HX_SETUP, "fork: %s", strerror(errno));
        if (pid == 0) {
            dup2(out[1], 1);
            child(probe, dir, mode, r / MODES, leaks);
        }
        for (int i = 0; i < 3; i++)
            close(leaks[i]);
        close(out[1]);
        int code = hwait(pid, timeout);
        char buf[256];
        ssize_t got = read(out[0], buf, sizeof buf - 1);
        close(out[0]);
        buf[got > 0 ? got : 0] = 0;
        if (mode != BLOCKED) {
            /* Count the handler's "at WHERE" line. */
            char *line = strstr(buf, "at ");
            int w = 3;
            for (int i = 0; line && i < 3; i++)
                if (strncmp(line + 3, places[i], strlen(places[i])) == 0 &&
                    line[3 + strlen(places[i])] == '\n')
                    w = i;
            at[mode][w]++;
        }
        htally_add(&tally[mode], modes[mode], r / MODES, code);
    }
    int bad = 0;
    for (int m = 0; m < MODES; m++)
        bad |= htally_say("signal", modes[m], &tally[m]);
    for (int m = HOT; m < MODES; m++)
        say("interrupted %s lib %d libc %d main %d other %d", modes[m], at[m][0], at[m][1],
             at[m][2], at[m][3]);
    for (int i = 0; i < 3; i++)
        unlink(files[i]);
    rmdir(dir);
    return bad ? HX_FAILED : HX_OK;
}
