/* A bench worker: holds NFDS accidentally leaked fds (plain open(2) of
 * /dev/null, no O_CLOEXEC) and does timed work on request.
 *
 * It reads struct bench_request from fd 0 and answers with uint64_t samples
 * (nanoseconds) on fd 1. The driver starts it with or without
 * LD_PRELOAD=libcloexec.so; everything else is the same in both arms. The
 * programs it execs get its environment without LD_PRELOAD and CLOEXEC_*,
 * in both arms, so an exec row measures the sweep and not the start-up of
 * the exec'd program (that is the start-up row).
 *
 * Timed calls go through the PLT (plain libc calls), so the preloaded
 * library interposes on them. Set-up that must not be seen by the library
 * (clearing FD_CLOEXEC again between samples) uses raw syscall(2), which it
 * does not wrap: through fcntl() it would count as intent (K4). */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct {
    int lo_fd, hi_fd;  /* the leaked fds, inclusive */
    char **child_env;  /* environ without LD_PRELOAD and CLOEXEC_* */
    char **preloaded_env; /* child_env plus LD_PRELOAD=$BENCH_CHILD_PRELOAD */
    int hook_fd, hook_fd2, hook_pipe[2];
    uint64_t *buf;
    size_t buf_len;
} w = {.lo_fd = 1, .hi_fd = 0, .hook_fd = -1};

/* Reports a set-up failure to the driver (which decides whether it is
 * fatal) and exits. */
static void __attribute__((noreturn)) setup_failed(int err, const char *what)
{
    struct bench_ready r = {.err = err ? err : -1};
    snprintf(r.what, sizeof r.what, "%s: %s", what, strerror(err));
    write_full(1, &r, sizeof r);
    exit(3);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        setup_failed(errno, "getrlimit");
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        setup_failed(errno, "setrlimit(RLIMIT_NOFILE, hard)");
}

/* Makes /proc/self/fd unreachable: a private mount namespace and an empty
 * tmpfs over /proc. */
static void hide_proc(void)
{
    if (unshare(CLONE_NEWNS) != 0)
        setup_failed(errno, "unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        setup_failed(errno, "mount --make-rprivate /");
    if (mount("none", "/proc", "tmpfs", 0, NULL) != 0)
        setup_failed(errno, "mount tmpfs on /proc");
    if (access("/proc/self/fd", F_OK) == 0)
        setup_failed(EEXIST, "/proc/self/fd still visible");
}

/* A private mount namespace whose /etc is an overlay (its upper layer on a
 * tmpfs that only this namespace sees), with /etc/cloexec.conf as the row
 * wants it: the same file system for both arms of the configuration rows. */
static void private_etc(int with_conf)
{
    if (unshare(CLONE_NEWNS) != 0)
        setup_failed(errno, "unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        setup_failed(errno, "mount --make-rprivate /");
    char layers[] = "/tmp/cloexec-bench-etc-XXXXXX";
    if (!mkdtemp(layers))
        setup_failed(errno, "mkdtemp");
    if (mount("none", layers, "tmpfs", 0, NULL) != 0)
        setup_failed(errno, "mount tmpfs");
    char upper[64], work[64], opts[256];
    snprintf(upper, sizeof upper, "%s/upper", layers);
    snprintf(work, sizeof work, "%s/work", layers);
    snprintf(opts, sizeof opts, "lowerdir=/etc,upperdir=%s,workdir=%s", upper, work);
    if (mkdir(upper, 0755) != 0 || mkdir(work, 0755) != 0)
        setup_failed(errno, "mkdir upper, work");
    if (mount("overlay", "/etc", "overlay", 0, opts) != 0)
        setup_failed(errno, "mount overlay on /etc");
    /* The overlay keeps the tmpfs alive: its mount point can go. */
    if (umount2(layers, MNT_DETACH) != 0 || rmdir(layers) != 0)
        setup_failed(errno, "detach the layers' tmpfs");
    if (unlink("/etc/cloexec.conf") != 0 && errno != ENOENT)
        setup_failed(errno, "unlink /etc/cloexec.conf");
    if (!with_conf)
        return;
    static const char conf[] =
        "# libcloexec's settings for every process (cloexec.conf(5)); written by\n"
        "# 'cloexec system enable'. A CLOEXEC_* variable overrides its line, except\n"
        "# in setuid programs, where only this file counts.\n"
        "CLOEXEC_MODE=sweep\n"
        "CLOEXEC_LOG_TO=stderr\n";
    int fd = open("/etc/cloexec.conf", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        setup_failed(errno, "create /etc/cloexec.conf");
    write_full(fd, conf, sizeof conf - 1);
    close(fd);
}

/* The configuration rows' child environment: /bin/true loads the library. */
static void make_preloaded_env(void)
{
    const char *lib = getenv("BENCH_CHILD_PRELOAD");
    if (!lib)
        return;
    size_t n = 0;
    while (w.child_env[n])
        n++;
    w.preloaded_env = calloc(n + 2, sizeof *w.preloaded_env);
    if (!w.preloaded_env || asprintf(&w.preloaded_env[n], "LD_PRELOAD=%s", lib) < 0)
        setup_failed(ENOMEM, "calloc");
    memcpy(w.preloaded_env, w.child_env, n * sizeof *w.child_env);
}

static void open_leaks(int nfds)
{
    for (int i = 0; i < nfds; i++) {
        int fd = open("/dev/null", O_RDONLY); /* the accidental leak: no O_CLOEXEC */
        if (fd < 0)
            setup_failed(errno, "open /dev/null");
        if (i == 0)
            w.lo_fd = fd;
        else if (fd != w.hi_fd + 1)
            setup_failed(EBADF, "leaked fds are not contiguous (the driver leaked an fd)");
        w.hi_fd = fd;
    }
}

/* No free fd below the soft limit: opening /proc/self/fd fails with EMFILE. */
static void fill_fd_table(void)
{
    if (w.lo_fd != 3)
        setup_failed(EBADF, "W_EMFILE needs the leaked fds to start at 3");
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        setup_failed(errno, "getrlimit");
    rl.rlim_cur = (rlim_t)w.hi_fd + 1;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        setup_failed(errno, "setrlimit(RLIMIT_NOFILE, open fds)");
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 || errno != EMFILE)
        setup_failed(fd >= 0 ? EEXIST : errno, "open /proc/self/fd did not fail with EMFILE");
}

/* close_range fails with ENOSYS, as on a kernel older than 5.9. */
static void block_close_range(void)
{
    const char *what;
    int err = install_close_range_filter(ENOSYS, &what);
    if (err)
        setup_failed(err, what);
    /* An empty range at the very top: harmless if the filter did not work. */
    long r = raw_close_range_cloexec(~0U - 1, ~0U);
    if (r != -ENOSYS && r != -EPERM) /* EPERM: a container's own filter came first */
        setup_failed(r ? (int)-r : EEXIST, "close_range not blocked by the filter");
}

/* Clears FD_CLOEXEC on every leaked fd again, behind the library's back. */
static void reset_leaks(void)
{
    for (int fd = w.lo_fd; fd <= w.hi_fd; fd++)
        if (syscall(SYS_fcntl, fd, F_SETFD, 0) != 0)
            die("reset F_SETFD %d: %s", fd, strerror(errno));
}

/* The old plug-in: F_GETFD/F_SETFD over 3..sysconf(_SC_OPEN_MAX). */
static void seed_loop(void)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > BENCH_LOOP_CAP)
        max = BENCH_LOOP_CAP;
    for (int fd = 3; fd < max; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

enum child_work { CHILD_NOTHING, CHILD_SEED, CHILD_CLOSE_RANGE, CHILD_PRELOADED };

static uint64_t spawn_true(enum child_work work)
{
    static char *const argv[] = {"true", NULL};
    if (work == CHILD_PRELOADED && !w.preloaded_env)
        die("OP_SPAWN_PRELOADED without BENCH_CHILD_PRELOAD");
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        if (work == CHILD_SEED)
            seed_loop();
        else if (work == CHILD_CLOSE_RANGE && raw_close_range_cloexec(3, ~0U) != 0)
            _exit(126);
        execve("/bin/true", argv, work == CHILD_PRELOADED ? w.preloaded_env : w.child_env);
        _exit(127);
    }
    if (pid < 0)
        die("fork: %s", strerror(errno));
    return reap_true(pid, t0, "");
}

static uint64_t exec_missing(void)
{
    static char *const argv[] = {"missing", NULL};
    reset_leaks();
    uint64_t t0 = now_ns();
    int r = execve("/nonexistent/libcloexec-bench", argv, w.child_env);
    int err = errno;
    uint64_t t1 = now_ns();
    if (r != -1 || err != ENOENT)
        die("execve of a missing path: %d, %s", r, strerror(err));
    return t1 - t0;
}

/* Like exec_missing, with `nargs` arguments such as a compiler gets. */
static uint64_t exec_missing_argv(int nargs)
{
    static char **argv;
    static int made;
    if (made != nargs) {
        free(argv);
        argv = calloc((size_t)nargs + 2, sizeof *argv);
        if (!argv)
            die("out of memory");
        argv[0] = "missing";
        for (int i = 1; i <= nargs; i++) {
            char buf[64];
            snprintf(buf, sizeof buf, "-Isrc/module_%d/include/generated-v%d.h", i, i % 7);
            argv[i] = strdup(buf);
            if (!argv[i])
                die("out of memory");
        }
        argv[nargs + 1] = NULL;
        made = nargs;
    }
    reset_leaks();
    uint64_t t0 = now_ns();
    int r = execve("/nonexistent/libcloexec-bench", argv, w.child_env);
    int err = errno;
    uint64_t t1 = now_ns();
    if (r != -1 || err != ENOENT)
        die("execve of a missing path: %d, %s", r, strerror(err));
    return t1 - t0;
}

static uint64_t bare_close_range(void)
{
    reset_leaks();
    uint64_t t0 = now_ns();
    long r = raw_close_range_cloexec(3, ~0U);
    uint64_t t1 = now_ns();
    if (r != 0)
        die("close_range: %s", strerror((int)-r));
    return t1 - t0;
}

static void open_hook_fds(void)
{
    if (w.hook_fd >= 0)
        return;
    w.hook_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w.hook_fd2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (w.hook_fd < 0 || w.hook_fd2 < 0 || pipe2(w.hook_pipe, O_CLOEXEC) != 0)
        die("hook fds: %s", strerror(errno));
}

/* `n` calls of one wrapped function, timed as a whole. */
static uint64_t hook_loop(int hook, uint32_t n)
{
    open_hook_fds();
    int fd = w.hook_fd, fd2 = w.hook_fd2, rd = w.hook_pipe[0];
    long failures = 0;
    int avail = 0;
    uint64_t t0 = now_ns();
    switch (hook) {
    case HOOK_FCNTL:
        for (uint32_t i = 0; i < n; i++)
            failures += fcntl(fd, F_GETFD) < 0;
        break;
    case HOOK_FCNTL64:
        for (uint32_t i = 0; i < n; i++)
            failures += fcntl64(fd, F_GETFD) < 0;
        break;
    case HOOK_DUP2_SAME:
        for (uint32_t i = 0; i < n; i++)
            failures += dup2(fd, fd) != fd;
        break;
    case HOOK_DUP2_OTHER:
        for (uint32_t i = 0; i < n; i++)
            failures += dup2(fd, fd2) != fd2;
        break;
    case HOOK_IOCTL:
        for (uint32_t i = 0; i < n; i++)
            failures += ioctl(rd, FIONREAD, &avail) != 0;
        break;
    case HOOK_FLOCK:
        for (uint32_t i = 0; i < n; i++)
            failures += (flock(fd, LOCK_EX) != 0) + (flock(fd, LOCK_UN) != 0);
        break;
    case HOOK_OPEN:
        for (uint32_t i = 0; i < n; i++) {
            int o = open("/dev/null", O_RDONLY);
            failures += o < 0 || close(o) != 0;
        }
        break;
    case HOOK_PIPE:
        for (uint32_t i = 0; i < n; i++) {
            int p[2];
            failures += pipe(p) != 0 || close(p[0]) != 0 || close(p[1]) != 0;
        }
        break;
    case HOOK_SOCKET:
        for (uint32_t i = 0; i < n; i++) {
            int so = socket(AF_UNIX, SOCK_STREAM, 0);
            failures += so < 0 || close(so) != 0;
        }
        break;
    case HOOK_FORK:
        for (uint32_t i = 0; i < n / HOOK_FORK_DIVISOR; i++) {
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            int status;
            failures += pid < 0 || waitpid(pid, &status, 0) != pid || status != 0;
        }
        break;
    default:
        die("unknown hook %d", hook);
    }
    uint64_t t1 = now_ns();
    if (failures)
        die("hook %d: %ld of %u calls failed", hook, failures, n);
    return t1 - t0;
}

static uint64_t *sample_buffer(size_t n)
{
    if (n > w.buf_len) {
        free(w.buf);
        w.buf = malloc(n * sizeof *w.buf);
        if (!w.buf)
            die("out of memory");
        w.buf_len = n;
    }
    return w.buf;
}

int worker_main(int nfds, int flags)
{
    raise_nofile();
    if (flags & W_HIDE_PROC)
        hide_proc();
    if (flags & W_ETC_OVERLAY)
        private_etc(flags & W_CONF);
    if (flags & W_STDERR_NULL) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 2) != 2)
            setup_failed(errno, "stderr to /dev/null");
        close(null);
    }
    open_leaks(nfds);
    if (flags & W_EMFILE)
        fill_fd_table();
    if (flags & W_SECCOMP)
        block_close_range();
    w.child_env = env_without_ours();
    if (!w.child_env)
        setup_failed(ENOMEM, "calloc");
    make_preloaded_env();

    struct bench_ready ready = {.err = 0, .lo_fd = w.lo_fd, .hi_fd = w.hi_fd};
    write_full(1, &ready, sizeof ready);

    for (;;) {
        struct bench_request req;
        ssize_t got = read(0, &req, sizeof req);
        if (got == 0)
            return 0; /* the driver is done with us */
        if (got != (ssize_t)sizeof req)
            die("short request (%zd bytes)", got);
        size_t n = req.op == OP_HOOK ? 1 : req.count;
        uint64_t *out = sample_buffer(n);
        for (size_t i = 0; i < n; i++) {
            switch (req.op) {
            case OP_SPAWN_TRUE:
                out[i] = spawn_true(CHILD_NOTHING);
                break;
            case OP_SEED_TRUE:
                out[i] = spawn_true(CHILD_SEED);
                break;
            case OP_FLOOR_TRUE:
                out[i] = spawn_true(CHILD_CLOSE_RANGE);
                break;
            case OP_EXEC_MISSING:
                out[i] = exec_missing();
                break;
            case OP_CLOSE_RANGE:
                out[i] = bare_close_range();
                break;
            case OP_HOOK:
                out[i] = hook_loop(req.arg, req.count);
                break;
            case OP_EXEC_MISSING_ARGV:
                out[i] = exec_missing_argv(req.arg);
                break;
            case OP_SPAWN_PRELOADED:
                out[i] = spawn_true(CHILD_PRELOADED);
                break;
            default:
                die("unknown op %d", req.op);
            }
        }
        write_full(1, out, n * sizeof *out);
    }
}
