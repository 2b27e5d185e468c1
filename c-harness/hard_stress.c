/* hard_stress --probe PATH [--fork N] [--vfork N] [--spawn N] [--threads T]
 *             [--timeout SECONDS]
 *
 * The load test. T threads (default 4) churn malloc/free,
 * open/close, pipe, fcntl(F_SETFD) both ways, dup2 and ioctl, while the main
 * thread runs N fork+execs, N vfork+execs and N posix_spawns of hard_probe,
 * interleaved. Every child gets:
 *   - deliberate fds: fd 100, dup2'd there in the fork/vfork child (or by a
 *     posix_spawn file action), and D2, whose close-on-exec flag the main
 *     thread cleared at start with fcntl(F_SETFD, 0);
 *   - leaked fds, opened fresh for each child without O_CLOEXEC: a file, both
 *     ends of a pipe, a socket.
 * hard_probe checks the deliberate fds are open and the leaked ones are not.
 *
 * The churn threads' fds are leaks too and may reach a child (swept or not,
 * racing with the exec); hard_probe never checks them. Their dup2 targets
 * are numbers from 600 up that nothing else uses, and their files are not
 * the main thread's (a K4 record names the open file, so a churn record can
 * never make the main thread's leak look deliberate).
 *
 * Output: "stress KIND runs N ok A missing B leaked C other D" for fork,
 * vfork and spawn, then "churn ops K". The first failures are listed as
 * "fail KIND I code C". Exit 0 if every child passed, 1 if not, 4 on the
 * deadline (--timeout, default 600 s; "TIMEOUT during KIND I" says where). */
#include "common.h"
#include "exec_entry.h"
#include "hard_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DELIBERATE_FD 100
#define CHURN_BASE 600
#define CHURN_PER_THREAD 16
#define MAX_THREADS 16

enum kind { K_FORK, K_VFORK, K_SPAWN, K_COUNT };
static const char *const kind_names[K_COUNT] = {"fork", "vfork", "spawn"};

static struct htally tallies[K_COUNT];

static atomic_int stop;
static atomic_long churn_ops;
static char *churn_files[MAX_THREADS];

/* Where the main thread is, for the deadline handler. */
static volatile sig_atomic_t now_kind = -1;
static volatile sig_atomic_t now_iter;

static void on_deadline(int sig)
{
    (void)sig;
    char num[24];
    hwrite_str(1, "TIMEOUT during ");
    hwrite_str(1, now_kind >= 0 ? kind_names[now_kind] : "setup");
    hwrite_str(1, " ");
    hwrite_str(1, hitoa(now_iter, num));
    hwrite_str(1, "\n");
    _exit(HX_TIMEOUT);
}

static void *churn(void *arg)
{
    int t = (int)(intptr_t)arg;
    unsigned seed = (unsigned)t * 7919u + 1u;
    long k = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t sz = 1 + (size_t)(rand_r(&seed) % 16384);
        char *p = malloc(sz);
        char *q = malloc(sz / 2 + 1);
        if (p)
            memset(p, t, sz);
        free(p);
        if (q)
            q[0] = 1;

        int fd = open(churn_files[t], O_RDONLY); /* a leak, on purpose */
        int pfd[2];
        if (pipe(pfd) != 0)
            pfd[0] = pfd[1] = -1;
        if (fd >= 0) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            fcntl(fd, F_SETFD, 0); /* intent, then a leak with intent */
            fcntl(fd, F_GETFD);
        }
        if (pfd[0] >= 0) {
            int target = CHURN_BASE + t * CHURN_PER_THREAD + (int)(k % CHURN_PER_THREAD);
            dup2(pfd[0], target);
            int n = 0;
            ioctl(pfd[0], FIONREAD, &n);
            ioctl(pfd[1], FIOCLEX);
            ioctl(pfd[1], FIONCLEX);
            close(target);
            close(pfd[0]);
            close(pfd[1]);
        }
        if (fd >= 0)
            close(fd);
        free(q);
        k++;
    }
    atomic_fetch_add(&churn_ops, k);
    return NULL;
}

/* One child's plan: its argv (probe --keep ... --leak ...) and its leaks. */
#define ARGC 13
struct child_plan {
    char *argv[ARGC + 1];
    char nums[6][28];
    int leaks[4];
};

static void plan_child(struct child_plan *c, const char *probe, int d2, const char *leak_path)
{
    c->leaks[0] = hopen_leak(leak_path);
    int pfd[2];
    if (pipe(pfd) != 0)
        fail(HX_SETUP, "pipe: %s", strerror(errno));
    c->leaks[1] = pfd[0];
    c->leaks[2] = pfd[1];
    c->leaks[3] = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c->leaks[3] < 0)
        fail(HX_SETUP, "socket: %s", strerror(errno));
    int nums[6] = {DELIBERATE_FD, d2, c->leaks[0], c->leaks[1], c->leaks[2], c->leaks[3]};
    for (int i = 0; i < 6; i++)
        (i < 2 ? hitoa : hfdname)(nums[i], c->nums[i]);
    char **a = c->argv;
    int n = 0;
    a[n++] = (char *)probe;
    a[n++] = "--keep";
    a[n++] = c->nums[0];
    a[n++] = "--keep";
    a[n++] = c->nums[1];
    for (int i = 2; i < 6; i++) {
        a[n++] = "--leak";
        a[n++] = c->nums[i];
    }
    a[n] = NULL;
}

static void unplan_child(struct child_plan *c)
{
    for (int i = 0; i < 4; i++)
        close(c->leaks[i]);
}

static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail(HX_SETUP, "waitpid: %s", strerror(errno));
    return status_code(status);
}

static int run_fork(const struct child_plan *c, int src)
{
    pid_t pid = fork();
    if (pid < 0)
        fail(HX_SETUP, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (dup2(src, DELIBERATE_FD) != DELIBERATE_FD)
            _exit(HX_EXEC_FAILED);
        execve(c->argv[0], c->argv, environ);
        _exit(HX_EXEC_FAILED);
    }
    return wait_child(pid);
}

/* The vfork child rotates through four exec entries. It calls only dup2
 * (wrapped: records intent into the parent's memory) and the exec. */
/* Out of line: a loop counter in run_vfork itself could be clobbered by vfork. */
static __attribute__((noinline)) struct exec_target target_of(const struct child_plan *c)
{
    int argc = 0;
    while (c->argv[argc])
        argc++;
    return (struct exec_target){.path = c->argv[0],
                                .name = c->argv[0],
                                .argv = c->argv,
                                .argc = argc,
                                .envp = environ,
                                .dirfd = AT_FDCWD,
                                .relname = c->argv[0]};
}

static int run_vfork(const struct child_plan *c, int src, int i)
{
    static const enum entry rotation[] = {E_EXECVE, E_EXECV, E_EXECL, E_EXECVP};
    const struct exec_target target = target_of(c);
    pid_t pid = vfork();
    if (pid == 0) {
        if (dup2(src, DELIBERATE_FD) != DELIBERATE_FD)
            _exit(HX_EXEC_FAILED);
        exec_entry(rotation[i % (int)(sizeof rotation / sizeof rotation[0])], &target);
        _exit(HX_EXEC_FAILED);
    }
    if (pid < 0)
        fail(HX_SETUP, "vfork: %s", strerror(errno));
    return wait_child(pid);
}

static int run_spawn(const struct child_plan *c, int src, int i)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, src, DELIBERATE_FD);
    pid_t pid;
    int err = (i % 2 ? posix_spawnp : posix_spawn)(&pid, c->argv[0], &fa, NULL, c->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0)
        fail(HX_SETUP, "posix_spawn: %s", strerror(err));
    return wait_child(pid);
}

static int arg_int(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 10000000)
        fail(HX_USAGE, "bad number %s", s);
    return (int)v;
}

int main(int argc, char **argv)
{
    const char *probe = NULL;
    int n[K_COUNT] = {200, 200, 50};
    int threads = 4, timeout = 600;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            fail(HX_USAGE, "usage: see the comment at the top of hard_stress.c");
        if (strcmp(argv[i], "--probe") == 0)
            probe = argv[++i];
        else if (strcmp(argv[i], "--fork") == 0)
            n[K_FORK] = arg_int(argv[++i]);
        else if (strcmp(argv[i], "--vfork") == 0)
            n[K_VFORK] = arg_int(argv[++i]);
        else if (strcmp(argv[i], "--spawn") == 0)
            n[K_SPAWN] = arg_int(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = arg_int(argv[++i]);
        else if (strcmp(argv[i], "--timeout") == 0)
            timeout = arg_int(argv[++i]);
        else
            fail(HX_USAGE, "unknown option %s", argv[i]);
    }
    if (!probe || threads > MAX_THREADS)
        fail(HX_USAGE, "need --probe PATH (and at most %d threads)", MAX_THREADS);

    signal(SIGALRM, on_deadline);
    alarm((unsigned)timeout);

    /* The churn's dup2 targets must be free and below the soft limit. */
    int top = CHURN_BASE + MAX_THREADS * CHURN_PER_THREAD;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= (rlim_t)top) {
        rl.rlim_cur = rl.rlim_max;
        if (rl.rlim_cur <= (rlim_t)top || setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fail(HX_SETUP, "RLIMIT_NOFILE too low for the churn (need > %d)", top);
    }
    for (int fd = CHURN_BASE; fd < top; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            fail(HX_SETUP, "fd %d is open already; the churn needs it", fd);
    if (fcntl(DELIBERATE_FD, F_GETFD) != -1)
        fail(HX_SETUP, "fd %d is open already", DELIBERATE_FD);

    char *dir = htempdir("hard-stress");
    char *deliberate = hpath(dir, "deliberate"), *deliberate2 = hpath(dir, "deliberate2");
    char *leak = hpath(dir, "leak");
    hwrite_file(deliberate, "d", 1, 0644);
    hwrite_file(deliberate2, "e", 1, 0644);
    hwrite_file(leak, "l", 1, 0644);
    for (int t = 0; t < threads; t++) {
        char name[32];
        snprintf(name, sizeof name, "churn-%d", t);
        churn_files[t] = hpath(dir, name);
        hwrite_file(churn_files[t], "c", 1, 0644);
    }

    int src = open(deliberate, O_RDONLY | O_CLOEXEC);
    int d2 = open(deliberate2, O_RDONLY | O_CLOEXEC);
    if (src < 0 || d2 < 0 || fcntl(d2, F_SETFD, 0) != 0)
        fail(HX_SETUP, "opening the deliberate fds: %s", strerror(errno));

    pthread_t tids[MAX_THREADS];
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tids[t], NULL, churn, (void *)(intptr_t)t) != 0)
            fail(HX_SETUP, "pthread_create failed");

    int most = n[0] > n[1] ? n[0] : n[1];
    most = most > n[2] ? most : n[2];
    for (int i = 0; i < most; i++) {
        for (int k = 0; k < K_COUNT; k++) {
            if (i >= n[k])
                continue;
            now_kind = k;
            now_iter = i;
            struct child_plan c;
            plan_child(&c, probe, d2, leak);
            int code = k == K_FORK    ? run_fork(&c, src)
                       : k == K_VFORK ? run_vfork(&c, src, i)
                                      : run_spawn(&c, src, i);
            unplan_child(&c);
            htally_add(&tallies[k], kind_names[k], i, code);
        }
    }
    now_kind = -1;
    atomic_store(&stop, 1);
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    alarm(0);

    int bad = 0;
    for (int k = 0; k < K_COUNT; k++)
        bad |= htally_say("stress", kind_names[k], &tallies[k]);
    say("churn ops %ld", atomic_load(&churn_ops));

    unlink(deliberate);
    unlink(deliberate2);
    unlink(leak);
    for (int t = 0; t < threads; t++)
        unlink(churn_files[t]);
    rmdir(dir);
    return bad ? HX_FAILED : HX_OK;
}
