/* hard_hostile --probe PATH --dir DIR CASE
 *
 * Real execs with hostile input. Each CASE prints one line per
 * variant:
 *   CASE VARIANT status S        the child's exit code (hard_probe: 0 as
 *                                expected, 40 a kept fd missing, 41 a leak
 *                                arrived), or 128+signal
 *   CASE VARIANT ret R errno E   a call that fails in this process (E2BIG),
 *                                after which the fds must still be open
 *                                ("BROKEN ..." and exit 1 if not)
 * The test runs each case with and without the library: with it every
 * status is 0; without it every status is 41 (the check can fail).
 *
 * In every variant fd 100 is deliberate (dup2'd there, K4), and fd 120 is a
 * leak (moved there with F_DUPFD, which is not intent), opened anew for
 * each variant (a posix_spawn sweeps the parent's copy).
 *
 * Cases:
 *   argv-null  execve(probe, NULL, NULL) after fork and after vfork; NULL
 *              argv only; NULL envp only (also posix_spawn). hard_probe with
 *              no arguments checks its fixed plan: keep 100, leak 120.
 *   nonutf8    non-UTF-8 bytes and junk fd references in argv and envp, the
 *              program reached through a symlink whose name is not UTF-8;
 *              through execve, execv (vfork), posix_spawn, system, popen.
 *              (The test runs it with CLOEXEC_LOG=debug.)
 *   bigarg     one 1 MiB argument (E2BIG for everyone: a string is at most
 *              128 KiB) through execve, execv, execvp, execl, posix_spawn;
 *              then 8 arguments of 120 KiB that name /dev/fd/N for
 *              thousands of N (the keep set overflows) and succeed.
 *   bigenv     100 000 environment entries, then GUNICORN_FD=110 at the very
 *              end: fd 110 (moved there with F_DUPFD) must be kept by K6.
 *              execve, execv with environ replaced, execle (vfork), posix_spawn.
 *   nearlimit  soft RLIMIT_NOFILE raised to the hard limit H (at most
 *              2^20); leak at H-1, deliberate at H-2 (or, where H-2 >= 65536,
 *              the README's intent capacity, expected swept: then passed as
 *              --leak). Then, if the hard limit can be raised to 70000
 *              (needs CAP_SYS_RESOURCE), deliberate 69000 and leak 69001,
 *              both expected swept (beyond the intent capacity).
 *   badptr     exec calls handed invalid pointers (path, argv entry, argv,
 *              envp), each in a child: "badptr VARIANT status S" where S is
 *              the errno the call failed with, or 128+signal if it crashed.
 *              glibc passes these to the kernel, which returns EFAULT.
 *   altstack   an exec from a signal handler running on an alternate signal
 *              stack of 8192 bytes (SIGSTKSZ), as crash handlers do, through
 *              each of the nine exec entries.
 *   stack      the exec path's stack use: each call runs (twice: the first
 *              run resolves lazy bindings) on a fresh thread whose stack was
 *              filled with a pattern; from the thread function's frame to
 *              the deepest byte changed, less the same for a no-op, is its
 *              use. Prints "stack CALL BYTES" and "stack max BYTES". Calls
 *              fail (ENOENT) or spawn, with small and huge inputs and 300
 *              leaked fds; last, with close_range blocked by seccomp (the
 *              /proc rung), then with the fd table full too (the probing
 *              rung). The test runs it with and without the library: the
 *              difference is the library's share. */
#include "close_range.h"
#include "common.h"
#include "exec_entry.h"
#include "hard_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DELIBERATE 100
#define LEAK 120
#define PROTOCOL_FD 110

static const char *probe, *dir;
static int src_fd;      /* O_CLOEXEC source of the deliberate fds */
static char *leak_file; /* what the leaks are opened on */
static int failed;
static char *volatile null_str;
static char **volatile null_vec;

/* ---- fds ---------------------------------------------------------------- */

/* A fresh leak at exactly `at` (F_DUPFD: not an act of intent). */
static void fresh_leak(int at)
{
    close(at);
    hmove_fd(hopen_leak(leak_file), at);
}

static void deliberate_at(int at)
{
    if (dup2(src_fd, at) != at)
        fail(HX_SETUP, "dup2 onto %d: %s", at, strerror(errno));
}

static void check_open(const char *what, const int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (fstat(fds[i], &st) != 0) {
            say("BROKEN %s fd %d closed after a failed exec", what, fds[i]);
            failed = 1;
        }
    }
}

/* ---- running a variant -------------------------------------------------- */

enum how {
    FORK_EXECVE,
    FORK_EXECV,  /* environ as set by the caller */
    VFORK_EXECVE,
    VFORK_EXECV,
    VFORK_EXECLE, /* argv must have exactly 5 entries */
    SPAWN,
};

static int run_child(enum how how, const char *path, char **argv, char **envp)
{
    pid_t pid;
    if (how == SPAWN) {
        int r = posix_spawn(&pid, path, NULL, NULL, argv, envp);
        if (r != 0) {
            say("posix_spawn failed: %s", errno_name(r));
            return 1000 + r;
        }
    } else if (how == FORK_EXECVE || how == FORK_EXECV) {
        pid = fork();
        if (pid == 0) {
            if (how == FORK_EXECVE)
                execve(path, argv, envp);
            else
                execv(path, argv);
            _exit(HX_EXEC_FAILED);
        }
    } else {
        pid = vfork();
        if (pid == 0) {
            if (how == VFORK_EXECVE)
                execve(path, argv, envp);
            else if (how == VFORK_EXECV)
                execv(path, argv);
            else
                execle(path, argv[0], argv[1], argv[2], argv[3], argv[4], (char *)NULL, envp);
            _exit(HX_EXEC_FAILED);
        }
    }
    if (pid < 0)
        fail(HX_SETUP, "fork: %s", strerror(errno));
    return hwait(pid, 60);
}

static void variant(const char *c, const char *v, enum how how, const char *path, char **argv,
                    char **envp)
{
    fresh_leak(LEAK);
    say("%s %s status %d", c, v, run_child(how, path, argv, envp));
}

static char *plain_argv[] = {NULL, "--keep", "100", "--leak", "fd.120", NULL};

/* ---- argv-null ---------------------------------------------------------- */

static void case_argv_null(void)
{
    deliberate_at(DELIBERATE);
    variant("argv-null", "fork-execve-both-null", FORK_EXECVE, probe, null_vec, null_vec);
    variant("argv-null", "vfork-execve-both-null", VFORK_EXECVE, probe, null_vec, null_vec);
    variant("argv-null", "fork-execve-argv-null", FORK_EXECVE, probe, null_vec, environ);
    variant("argv-null", "fork-execve-envp-null", FORK_EXECVE, probe, plain_argv, null_vec);
    variant("argv-null", "spawn-envp-null", SPAWN, probe, plain_argv, null_vec);
}

/* ---- nonutf8 ------------------------------------------------------------ */

static void case_nonutf8(void)
{
    char *link = hpath(dir, "probe-\xff\xfe-\xc3\x28");
    unlink(link);
    if (symlink(probe, link) != 0)
        fail(HX_SETUP, "symlink: %s", strerror(errno));
    char *argv[] = {link, "--keep", "100", "--leak", "fd.120",
                    "\xff\xfe", "/dev/fd/\xff", "/proc/self/fd/\xc3\x28", "/dev/fd/99999999999999999999",
                    "/proc/\xff/fd/3", "\xe9\x80/dev/fd/", "/proc/self/fd/", "/dev/fd/-1",
                    "/proc/4294967296/fd/120", NULL};
    /* environ plus hostile entries */
    static char *extra[] = {"\xff\xfe=\xc3\x28", "LISTEN_FDS=\xff", "LISTEN_PID=\xfe",
                            "MAKEFLAGS=--jobserver-auth=\xff,\xfe --jobserver-fds=9999999999,",
                            "NGINX=\xff;\xfe;", "GUNICORN_FD=\xff,-1", "SERVER_STARTER_PORT=\xff=\xfe;",
                            "\xff", "=\xff", NULL};
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + sizeof extra / sizeof extra[0] + 1, sizeof *envp);
    if (!envp)
        fail(HX_SETUP, "out of memory");
    memcpy(envp, environ, n * sizeof *envp);
    memcpy(envp + n, extra, sizeof extra);

    deliberate_at(DELIBERATE);
    variant("nonutf8", "fork-execve", FORK_EXECVE, link, argv, envp);
    variant("nonutf8", "vfork-execv", VFORK_EXECV, link, argv, NULL);
    variant("nonutf8", "spawn", SPAWN, link, argv, envp);

    /* system and popen: the command names the symlink and carries junk. */
    size_t len = strlen(link) + 256;
    char *cmd = malloc(len);
    if (!cmd)
        fail(HX_SETUP, "out of memory");
    snprintf(cmd, len, "exec '%s' --keep 100 --leak fd.120 '\xff\xfe' '/dev/fd/\xff' '/proc/self/fd/\xc3'",
             link);
    fresh_leak(LEAK);
    int st = system(cmd);
    say("nonutf8 system status %d", st == -1 ? -1 : status_code(st));
    fresh_leak(LEAK);
    FILE *f = popen(cmd, "r");
    if (!f)
        fail(HX_SETUP, "popen: %s", strerror(errno));
    st = pclose(f);
    say("nonutf8 popen status %d", st == -1 ? -1 : status_code(st));
    unlink(link);
}

/* ---- bigarg ------------------------------------------------------------- */

/* Fills buf (len bytes, NUL included) with "/dev/fd/N " for N = *next,
 * *next + 2, ... (never a number the probe checks). */
static void fill_fd_refs(char *buf, size_t len, int *next)
{
    size_t at = 0;
    for (;;) {
        char item[32];
        int n = snprintf(item, sizeof item, "/dev/fd/%d ", *next);
        if (at + (size_t)n + 1 > len)
            break;
        memcpy(buf + at, item, (size_t)n);
        at += (size_t)n;
        *next += 2;
    }
    memset(buf + at, 'x', len - 1 - at);
    buf[len - 1] = 0;
}

static void case_bigarg(void)
{
    deliberate_at(DELIBERATE);
    int next = 1000;
    size_t mib = 1 << 20;
    char *huge = malloc(mib + 1);
    if (!huge)
        fail(HX_SETUP, "out of memory");
    fill_fd_refs(huge, mib + 1, &next);
    char *argv[] = {(char *)probe, "--keep", "100", "--leak", "fd.120", huge, NULL};
    const int mine[] = {DELIBERATE, LEAK};

#define FAILS(v, expr)                                                                             \
    do {                                                                                           \
        fresh_leak(LEAK);                                                                          \
        errno = 0;                                                                                 \
        long r_ = (long)(expr);                                                                    \
        say("bigarg %s ret %ld errno %s", v, r_, errno_name(errno));                                   \
        check_open("bigarg " v, mine, 2);                                                          \
    } while (0)
    FAILS("1MiB-execve", execve(probe, argv, environ));
    FAILS("1MiB-execv", execv(probe, argv));
    FAILS("1MiB-execvp", execvp(probe, argv));
    FAILS("1MiB-execl", execl(probe, probe, "--keep", "100", "--leak", "fd.120", huge, (char *)NULL));
    pid_t pid;
    fresh_leak(LEAK);
    int r = posix_spawn(&pid, probe, NULL, NULL, argv, environ);
    say("bigarg 1MiB-spawn ret %s", errno_name(r));
    check_open("bigarg 1MiB-spawn", mine, 2);
#undef FAILS

    /* 8 x 120 KiB of /dev/fd/N references: about 60 000 distinct fds named. */
    char *many[14] = {(char *)probe, "--keep", "100", "--leak", "fd.120"};
    for (int i = 0; i < 8; i++) {
        size_t len = 120 * 1024;
        many[5 + i] = malloc(len);
        if (!many[5 + i])
            fail(HX_SETUP, "out of memory");
        fill_fd_refs(many[5 + i], len, &next);
    }
    many[13] = NULL;
    variant("bigarg", "8x120KiB-fork-execve", FORK_EXECVE, probe, many, environ);
    variant("bigarg", "8x120KiB-vfork-execv", VFORK_EXECV, probe, many, NULL);
    variant("bigarg", "8x120KiB-spawn", SPAWN, probe, many, environ);
}

/* ---- bigenv ------------------------------------------------------------- */

#define ENV_ENTRIES 100000

static void case_bigenv(void)
{
    deliberate_at(DELIBERATE);
    close(PROTOCOL_FD);
    hmove_fd(hopen_leak(leak_file), PROTOCOL_FD);

    char **envp = calloc(ENV_ENTRIES + 2, sizeof *envp);
    char *text = malloc((size_t)ENV_ENTRIES * 8);
    if (!envp || !text)
        fail(HX_SETUP, "out of memory");
    for (int i = 0; i < ENV_ENTRIES; i++) {
        char *e = text + (size_t)i * 8;
        snprintf(e, 8, "E%05d=", i);
        envp[i] = e;
    }
    envp[ENV_ENTRIES] = "GUNICORN_FD=110";
    envp[ENV_ENTRIES + 1] = NULL;

    char *argv[] = {(char *)probe, "--keep", "100", "--keep", "110", "--leak", "fd.120", NULL};
    variant("bigenv", "fork-execve", FORK_EXECVE, probe, argv, envp);
    variant("bigenv", "spawn", SPAWN, probe, argv, envp);
    char *argv5[] = {(char *)probe, "--keep", "110", "--leak", "fd.120", NULL};
    variant("bigenv", "vfork-execle", VFORK_EXECLE, probe, argv5, envp);
    char **saved = environ;
    environ = envp;
    variant("bigenv", "fork-execv-environ", FORK_EXECV, probe, argv, NULL);
    environ = saved;
}

/* ---- nearlimit ---------------------------------------------------------- */

static void near(const char *v, int keep_fd, int keep_expected, int leak_fd)
{
    char k[28], l[28];
    if (keep_expected)
        hitoa(keep_fd, k);
    else
        hfdname(keep_fd, k);
    hfdname(leak_fd, l);
    char *argv[] = {(char *)probe, keep_expected ? "--keep" : "--leak", k, "--leak", l, NULL};
    char name[64];
    static const struct {
        const char *n;
        enum how h;
    } hows[] = {{"fork-execve", FORK_EXECVE}, {"vfork-execv", VFORK_EXECV}, {"spawn", SPAWN}};
    for (size_t i = 0; i < sizeof hows / sizeof hows[0]; i++) {
        deliberate_at(keep_fd);
        fresh_leak(leak_fd);
        snprintf(name, sizeof name, "%s-%s", v, hows[i].n);
        say("nearlimit %s status %d", name, run_child(hows[i].h, probe, argv, environ));
    }
    close(keep_fd);
    close(leak_fd);
}

static void case_nearlimit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail(HX_SETUP, "getrlimit: %s", strerror(errno));
    /* A container may allow 1073741816 fds; an fd table that size costs
     * gigabytes, so above 2^20 the test stops there. */
    rlim_t hard = rl.rlim_max;
    if (hard == RLIM_INFINITY || hard > (1 << 20))
        hard = 1 << 20;
    rl.rlim_cur = hard;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail(HX_SETUP, "setrlimit soft=%ld: %s", (long)hard, strerror(errno));
    int h = (int)hard;
    say("nearlimit hard %d", h);
    /* Intent on any fd is kept: above the table's 65536 it spills into a
     * small table of its own (README, "Capacities fail open"). */
    near("hard-minus-2-kept", h - 2, 1, h - 1);

    if (h <= 70000) {
        struct rlimit up = {70001, 70001};
        if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
            say("nearlimit beyond-capacity skipped: cannot raise the hard limit (%s)",
                 errno_name(errno));
            return;
        }
    }
    near("69000-beyond-capacity-kept", 69000, 1, 69001);
}

/* ---- badptr ------------------------------------------------------------- */

static void case_badptr(void)
{
    char *bad = (char *)8;
    char *volatile vbad = bad;
    char *argv_bad_entry[] = {(char *)probe, vbad, NULL};
    char *argv_ok[] = {(char *)probe, NULL};
    char **volatile bad_vec = (char **)8;
    static const char *const names[] = {"execve-path", "execve-argv-entry", "execve-argv",
                                        "execve-envp", "execv-path",        "execv-argv-entry",
                                        "execveat-path"};
    for (int i = 0; i < 7; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            switch (i) {
            case 0:
                execve(vbad, argv_ok, environ);
                break;
            case 1:
                execve(probe, argv_bad_entry, environ);
                break;
            case 2:
                execve(probe, bad_vec, environ);
                break;
            case 3:
                execve(probe, argv_ok, bad_vec);
                break;
            case 4:
                execv(vbad, argv_ok);
                break;
            case 5:
                execv(probe, argv_bad_entry);
                break;
            default:
                execveat(AT_FDCWD, vbad, argv_ok, environ, 0);
                break;
            }
            _exit(errno);
        }
        say("badptr %s status %d", names[i], hwait(pid, 20));
    }
}

/* ---- altstack ----------------------------------------------------------- */

/* The handler's plan, ready before the signal. */
static char *alt_argv[] = {NULL, "--keep", "100", "--leak", "fd.120", NULL};
static struct exec_target alt_target;
static enum entry alt_entry;

static void on_usr1(int sig)
{
    (void)sig;
    exec_entry(alt_entry, &alt_target);
    _exit(HX_EXEC_FAILED);
}

/* A crash handler's setting: the handler runs on an alternate signal stack
 * of SIGSTKSZ bytes (glibc: 8192, "the usual size"), with a guard page
 * below, and execs from there. */
static void case_altstack(void)
{
#define EXEC_NAME(name, NAME) #name,
    static const char *const names[EXEC_ENTRY_COUNT] = {EXEC_ENTRIES(EXEC_NAME)};
    alt_argv[0] = (char *)probe;
    int probe_fd = open(probe, O_RDONLY | O_CLOEXEC);
    if (probe_fd < 0)
        fail(HX_SETUP, "open %s: %s", probe, strerror(errno));
    alt_target = (struct exec_target){.path = probe,
                                      .name = probe,
                                      .argv = alt_argv,
                                      .argc = 5,
                                      .envp = environ,
                                      .fd = probe_fd,
                                      .dirfd = AT_FDCWD,
                                      .relname = probe};
    deliberate_at(DELIBERATE);
    size_t size = 8192; /* SIGSTKSZ as glibc defined it for decades */
    for (int e = 0; e < EXEC_ENTRY_COUNT; e++) {
        fresh_leak(LEAK);
        alt_entry = (enum entry)e;
        pid_t pid = fork();
        if (pid == 0) {
            char *m = mmap(NULL, size + 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED || mprotect(m, 4096, PROT_NONE) != 0)
                _exit(HX_SETUP);
            stack_t ss = {.ss_sp = m + 4096, .ss_size = size, .ss_flags = 0};
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_usr1;
            sa.sa_flags = SA_ONSTACK;
            sigemptyset(&sa.sa_mask);
            if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
                _exit(HX_SETUP);
            raise(SIGUSR1);
            _exit(HX_EXEC_FAILED);
        }
        if (pid < 0)
            fail(HX_SETUP, "fork: %s", strerror(errno));
        say("altstack %s-%zu status %d", names[e], size, hwait(pid, 20));
    }
}

/* ---- stack -------------------------------------------------------------- */

#define STACK_SIZE (2 << 20)
#define PATTERN 0xA5
static unsigned char *stack_lo;
static char *missing;
static char *huge_arg;
static char **huge_env;
static char *small_argv[] = {NULL, "x", NULL};
static int noexec_fd;

/* The frame address of thread_main: the top of what the case uses. */
static uintptr_t case_top;

static __attribute__((noinline)) void *thread_main(void *arg)
{
    case_top = (uintptr_t)__builtin_frame_address(0);
    ((void (*)(void))arg)();
    return NULL;
}

/* Stack bytes used by fn: from thread_main's frame down to the deepest
 * byte that no longer holds the pattern. */
static size_t depth_once(void (*fn)(void))
{
    memset(stack_lo, PATTERN, STACK_SIZE);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, stack_lo, STACK_SIZE);
    pthread_t t;
    if (pthread_create(&t, &a, thread_main, (void *)fn) != 0)
        fail(HX_SETUP, "pthread_create failed");
    pthread_join(t, NULL);
    pthread_attr_destroy(&a);
    size_t i = 0;
    while (i < STACK_SIZE && stack_lo[i] == PATTERN)
        i++;
    uintptr_t deepest = (uintptr_t)(stack_lo + i);
    return case_top > deepest ? case_top - deepest : 0;
}

/* The second of two runs: the first resolves lazy PLT bindings (the
 * resolver saves the vector registers on the stack) and warms up glibc. */
static size_t depth_of(void (*fn)(void))
{
    depth_once(fn);
    return depth_once(fn);
}

static void s_noop(void) {}
static void s_execve(void) { execve(missing, small_argv, environ); }
static void s_execv(void) { execv(missing, small_argv); }
static void s_execvp(void) { execvp(missing, small_argv); }
static void s_execvpe(void) { execvpe(missing, small_argv, environ); }
static void s_execl(void) { execl(missing, "m", "x", (char *)NULL); }
static void s_execle(void) { execle(missing, "m", "x", (char *)NULL, environ); }
static void s_execlp(void) { execlp(missing, "m", "x", (char *)NULL); }
static void s_fexecve(void) { fexecve(noexec_fd, small_argv, environ); }
static void s_execveat(void) { execveat(AT_FDCWD, missing, small_argv, environ, 0); }
static void s_spawn(void)
{
    pid_t pid;
    char *argv[] = {(char *)probe, "-", NULL};
    if (posix_spawn(&pid, probe, NULL, NULL, argv, environ) == 0)
        waitpid(pid, NULL, 0);
}
static void s_spawnp(void)
{
    pid_t pid;
    char *argv[] = {(char *)probe, "-", NULL};
    if (posix_spawnp(&pid, probe, NULL, NULL, argv, environ) == 0)
        waitpid(pid, NULL, 0);
}
static void s_system(void)
{
    int r = system("exit 0");
    (void)r;
}
static void s_popen(void)
{
    FILE *f = popen("exit 0", "r");
    if (f)
        pclose(f);
}
static void s_huge_arg(void)
{
    char *argv[] = {missing, huge_arg, NULL};
    execve(missing, argv, environ);
}
static void s_huge_env(void) { execve(missing, small_argv, huge_env); }
#define D "-"
#define R10 D, D, D, D, D, D, D, D, D, D
#define R100 R10, R10, R10, R10, R10, R10, R10, R10, R10, R10
static void s_execl_1023(void)
{
    execl(missing, "m", R100, R100, R100, R100, R100, R100, R100, R100, R100, R100, R10, R10, D,
          D, (char *)NULL);
}
static void s_execl_1024(void)
{
    execl(missing, "m", R100, R100, R100, R100, R100, R100, R100, R100, R100, R100, R10, R10, D,
          D, D, (char *)NULL);
}

struct stack_case {
    const char *name;
    void (*fn)(void);
};

static size_t baseline, worst;

static void measure(const struct stack_case *cases, size_t n, const char *suffix)
{
    for (size_t i = 0; i < n; i++) {
        size_t d = depth_of(cases[i].fn);
        size_t used = d > baseline ? d - baseline : 0;
        if (used > worst)
            worst = used;
        say("stack %s%s %zu", cases[i].name, suffix, used);
    }
}

/* The /proc rung: close_range fails with ENOSYS from here on. */
static void block_close_range(void)
{
    const char *what;
    int err = install_close_range_filter(ENOSYS, &what);
    if (err)
        fail(HX_SETUP, "seccomp: %s", strerror(err));
}

/* Lowers the soft limit to one past the highest open fd and fills every
 * hole, so /proc/self/fd cannot be opened (EMFILE). */
static void fill_table(void)
{
    int top = 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    for (int fd = 0; fd < (int)rl.rlim_cur && fd < (1 << 20); fd++)
        if (fcntl(fd, F_GETFD) != -1)
            top = fd;
    rl.rlim_cur = (rlim_t)top + 1;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail(HX_SETUP, "setrlimit: %s", strerror(errno));
    int fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0)
        ;
    if (errno != EMFILE)
        fail(HX_SETUP, "filling the fd table: %s", strerror(errno));
}

static void case_stack(void)
{
    void *mem = mmap(NULL, STACK_SIZE + 65536, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        fail(HX_SETUP, "mmap: %s", strerror(errno));
    mprotect(mem, 65536, PROT_NONE); /* a guard below the stack */
    stack_lo = (unsigned char *)mem + 65536;
    missing = hpath(dir, "missing");
    small_argv[0] = missing;
    char *noexec = hpath(dir, "noexec");
    hwrite_file(noexec, "x", 1, 0644);
    noexec_fd = open(noexec, O_RDONLY | O_CLOEXEC);
    huge_arg = malloc(1 << 20);
    int next = 1000;
    fill_fd_refs(huge_arg, 1 << 20, &next);
    huge_env = calloc(ENV_ENTRIES + 1, sizeof *huge_env);
    char *text = malloc((size_t)ENV_ENTRIES * 8);
    if (!huge_arg || !huge_env || !text || noexec_fd < 0)
        fail(HX_SETUP, "stack setup failed");
    for (int i = 0; i < ENV_ENTRIES; i++) {
        huge_env[i] = text + (size_t)i * 8;
        snprintf(huge_env[i], 8, "E%05d=", i);
    }
    /* 300 leaks (the log lists 64 and counts the rest), deliberate fds too. */
    deliberate_at(DELIBERATE);
    for (int i = 0; i < 300; i++)
        hopen_leak(leak_file);

    baseline = depth_of(s_noop);
    say("stack baseline %zu", baseline);
    static const struct stack_case plain[] = {
        {"execve", s_execve},     {"execv", s_execv},         {"execvp", s_execvp},
        {"execvpe", s_execvpe},   {"execl", s_execl},         {"execle", s_execle},
        {"execlp", s_execlp},     {"fexecve", s_fexecve},     {"execveat", s_execveat},
        {"posix_spawn", s_spawn}, {"posix_spawnp", s_spawnp}, {"system", s_system},
        {"popen", s_popen},       {"execve-1MiB-arg", s_huge_arg},
        {"execve-100000-env", s_huge_env}, {"execl-1023-args", s_execl_1023},
        {"execl-1024-args", s_execl_1024},
    };
    measure(plain, sizeof plain / sizeof plain[0], "");
    /* The spawners sweep the parent: re-open fresh leaks for the next rungs. */
    for (int i = 0; i < 50; i++)
        hopen_leak(leak_file);
    block_close_range();
    static const struct stack_case rung[] = {
        {"execve", s_execve}, {"execl", s_execl}, {"execve-1MiB-arg", s_huge_arg},
        {"execve-100000-env", s_huge_env}};
    measure(rung, sizeof rung / sizeof rung[0], "-proc-rung");
    for (int i = 0; i < 50; i++)
        hopen_leak(leak_file);
    fill_table();
    measure(rung, sizeof rung / sizeof rung[0], "-probing-rung");
    say("stack max %zu", worst);
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *which = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--probe") == 0 && i + 1 < argc)
            probe = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (!which)
            which = argv[i];
        else
            fail(HX_USAGE, "usage: hard_hostile --probe PATH --dir DIR CASE");
    }
    if (!probe || !dir || !which)
        fail(HX_USAGE, "usage: hard_hostile --probe PATH --dir DIR CASE");
    plain_argv[0] = (char *)probe;

    hstack_8mib(); /* ARG_MAX: 2 MiB of arguments and environment, everywhere */
    for (int fd = DELIBERATE; fd <= LEAK; fd += LEAK - DELIBERATE)
        if (fcntl(fd, F_GETFD) != -1)
            fail(HX_SETUP, "fd %d is open already", fd);
    leak_file = hpath(dir, "leak");
    char *deliberate = hpath(dir, "deliberate");
    hwrite_file(leak_file, "l", 1, 0644);
    hwrite_file(deliberate, "d", 1, 0644);
    src_fd = open(deliberate, O_RDONLY | O_CLOEXEC);
    if (src_fd < 0)
        fail(HX_SETUP, "open %s: %s", deliberate, strerror(errno));

    if (strcmp(which, "argv-null") == 0)
        case_argv_null();
    else if (strcmp(which, "nonutf8") == 0)
        case_nonutf8();
    else if (strcmp(which, "bigarg") == 0)
        case_bigarg();
    else if (strcmp(which, "bigenv") == 0)
        case_bigenv();
    else if (strcmp(which, "nearlimit") == 0)
        case_nearlimit();
    else if (strcmp(which, "badptr") == 0)
        case_badptr();
    else if (strcmp(which, "altstack") == 0)
        case_altstack();
    else if (strcmp(which, "stack") == 0)
        case_stack();
    else
        fail(HX_USAGE, "unknown case %s", which);
    say("done failed %d", failed);
    return failed ? HX_FAILED : HX_OK;
}
