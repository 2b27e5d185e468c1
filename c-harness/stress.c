/* Stress modes: the exec entry runs where only async-signal-safe code may run.
 *
 *   vfork         the exec runs in a vfork child, on the parent's memory;
 *   threads-fork  the exec runs in a fork child of a process whose other
 *                 threads hammer malloc, open/close and the intent-recording
 *                 calls (dup2, dup3, fcntl F_SETFD, ioctl FIONCLEX/FIOCLEX),
 *                 so a lock held by one of them at fork time stays held;
 *                 a spawn entry (posix_spawn, system, popen) runs in that
 *                 threaded parent itself, concurrently with the hammering;
 *   signal        the exec runs in a SIGALRM handler that interrupts the same
 *                 hammering at a varying point.
 * A hook that allocates or locks hangs or crashes here; the Rust test has a
 * timeout. Each child is waited for before the next one starts. */
#include "leaky.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* The fd number where hammer `slot` works (base and base+1): 2000 + 8 * slot,
 * or below the soft RLIMIT_NOFILE if that is lower. Far above the leak set. */
static int hammer_base(int slot)
{
    int top = soft_nofile();
    int base = 2000 + 8 * slot;
    return base + 2 < top ? base : top - 8 * (slot + 1);
}

/* One round of the calls a hook could be in the middle of. Works on fds at
 * base and base+1 only, so concurrent hammers never touch each other's fds
 * or the leak set. */
static void hammer_once(int base, unsigned round)
{
    size_t size = 16 + (round * 37u) % 4000u;
    char *m = malloc(size);
    if (m) {
        memset(m, (int)round, size);
        free(m);
    }
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, base);
        fcntl(base, F_SETFD, 0);
        ioctl(base, FIOCLEX);
        ioctl(base, FIONCLEX);
        dup3(fd, base + 1, O_CLOEXEC);
        fcntl(base + 1, F_SETFD, FD_CLOEXEC);
        close(base + 1);
        close(base);
        close(fd);
    }
    int p[2];
    if (pipe(p) == 0) {
        close(p[0]);
        close(p[1]);
    }
}

static void report_child(int k, pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            fail(EX_SPAWN, "waitpid: %s", strerror(errno));
    }
    int code = status_code(status);
    say("status %d %d", k, code);
    if (code != 0)
        fail(EX_CHILD, "iteration %d: child status %d", k, code);
}

/* A spawn entry in the threaded parent itself: the library's hook runs while
 * the other threads are inside the intent-recording calls. */
static void spawn_once(const struct plan *plan, int k)
{
    int status = 0;
    int err = plan_spawn(plan, &status);
    if (err)
        fail(EX_SPAWN, "iteration %d: %s: %s", k, entry_name(plan->entry), strerror(err));
    say("status %d %d", k, status_code(status));
    if (status_code(status) != 0)
        fail(EX_CHILD, "iteration %d: child status %d", k, status_code(status));
}

/* Only the exec runs in the vfork child; nothing here is modified after
 * vfork returns, so no local can be clobbered. */
static pid_t vfork_exec(const struct plan *plan)
{
    pid_t pid = vfork();
    if (pid == 0) {
        plan_exec(plan);
        _exit(EX_EXEC_RETURNED);
    }
    return pid;
}

void run_vfork(const struct plan *plan, int iterations)
{
    for (int k = 0; k < iterations; k++) {
        say("iter %d", k);
        pid_t pid = vfork_exec(plan);
        if (pid < 0)
            fail(EX_SPAWN, "vfork: %s", strerror(errno));
        report_child(k, pid);
    }
}

static atomic_int hammer_stop;

static void *hammer_thread(void *arg)
{
    int base = (int)(long)arg;
    for (unsigned round = 0; !atomic_load(&hammer_stop); round++)
        hammer_once(base, round);
    return NULL;
}

void run_threads_fork(const struct plan *plan, int iterations, int threads)
{
    pthread_t tids[64];
    if (threads > 64)
        threads = 64;
    for (int t = 0; t < threads; t++) {
        int err = pthread_create(&tids[t], NULL, hammer_thread, (void *)(long)hammer_base(t));
        if (err)
            fail(EX_SETUP, "pthread_create: %s", strerror(err));
    }
    for (int k = 0; k < iterations; k++) {
        say("iter %d", k);
        if (!entry_is_exec(plan->entry)) {
            spawn_once(plan, k);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            plan_exec(plan);
            _exit(EX_EXEC_RETURNED);
        }
        if (pid < 0)
            fail(EX_SPAWN, "fork: %s", strerror(errno));
        report_child(k, pid);
    }
    atomic_store(&hammer_stop, 1);
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
}

static const struct plan *signal_plan;

static void exec_from_handler(int sig)
{
    (void)sig;
    plan_exec(signal_plan);
    _exit(EX_EXEC_RETURNED);
}

/* In the child: arm a one-shot timer, then hammer until the handler execs. */
static void __attribute__((noreturn)) signal_child(int k)
{
    int base = hammer_base(64);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = exec_from_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        _exit(EX_SETUP);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 100 + (k * 131) % 3000;
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        _exit(EX_SETUP);
    for (unsigned round = 0;; round++)
        hammer_once(base, round);
}

void run_signal(const struct plan *plan, int iterations)
{
    signal_plan = plan;
    for (int k = 0; k < iterations; k++) {
        say("iter %d", k);
        pid_t pid = fork();
        if (pid == 0)
            signal_child(k);
        if (pid < 0)
            fail(EX_SPAWN, "fork: %s", strerror(errno));
        report_child(k, pid);
    }
}
