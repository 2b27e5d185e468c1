/* hard_errno --probe PATH --dir DIR [--no-final-exec] [--skip WORD]
 *
 * Failing execs and exact errno. Run it twice, under the
 * library and without it, and diff the stdout: every wrapped call must
 * return what the real call returns and leave errno as the real call left
 * it, on success (errno stays at the sentinel 12345) and on failure.
 *
 * Lines:
 *   LABEL ret R errno E        one call: its result and errno afterwards
 *   LABEL status S             a child's wait status as one number
 *   intact LABEL               after a failed exec/spawn: every fd of the
 *                              caller still open, and I/O through each works
 *   BROKEN LABEL ...           the same check failed (exit 1 at the end)
 *   doc LABEL ...              a documented difference from glibc (the
 *                              execl family's argument cap): the test checks
 *                              these lines itself and leaves them out of the diff
 *
 * Covered: the 13 exec/spawn entry points failing with ENOENT, EACCES,
 * ENOEXEC and E2BIG (argv bigger than ARG_MAX), plus EFAULT, EBADF and
 * EINVAL where they apply, and the spawners' successful paths; dup2, dup3,
 * fcntl, fcntl64 and ioctl on success and failure, including commands with
 * pointer arguments (their varargs must arrive intact).
 *
 * At the end (unless --no-final-exec) it execs hard_probe with a
 * deliberate fd (--keep) and its leaks (--leak): a second exec after all
 * the failures works, and the sweep still applies (exit 0 under the
 * library; 41 without it). DIR must exist and be empty; files go there. */
#include "common.h"
#include "hard_util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;
extern int fcntl64(int fd, int cmd, ...);

/* errno before each call: a value no call sets, so "errno SENTINEL" in a
 * report line says the call left errno alone. */
#define SENTINEL 12345

/* errno_name(), with the sentinel by name. */
static const char *err_label(int err)
{
    return err == SENTINEL ? "SENTINEL" : errno_name(err);
}

static int failed;

/* NULLs that the compiler cannot see (glibc declares these arguments nonnull;
 * Linux accepts NULL, and the library must too). */
static char *volatile null_str;
static char **volatile null_vec;

/* --skip WORD (repeatable): leave out the calls whose label contains WORD.
 * Under valgrind: --skip E2BIG (valgrind cannot survive an execve that
 * fails with E2BIG), --skip EFAULT --skip NULL (memcheck reports the bad
 * pointers those calls pass on purpose). */
static const char *skip_words[8];
static int nskip;

static int skipped(const char *label)
{
    for (int i = 0; i < nskip; i++)
        if (strstr(label, skip_words[i]))
            return 1;
    return 0;
}

/* Runs EXPR with errno at the sentinel, then reports its result and errno. */
#define CALL(label, expr)                                                                          \
    do {                                                                                           \
        if (skipped(label))                                                                        \
            break;                                                                                 \
        errno = SENTINEL;                                                                          \
        long r_ = (long)(expr);                                                                    \
        int e_ = errno;                                                                            \
        say("%s ret %ld errno %s", (label), r_, err_label(e_));                                    \
    } while (0)

/* The caller's fds that must survive every failed exec: a pipe, a file, a
 * socket pair, all without O_CLOEXEC (leaks), and a deliberate dup2. */
static int pipe_r, pipe_w, file_fd, sock_a, sock_b, kept_fd;

static void intact(const char *label)
{
    const int fds[] = {pipe_r, pipe_w, file_fd, sock_a, sock_b, kept_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        struct stat st;
        if (fstat(fds[i], &st) != 0) {
            say("BROKEN %s fd %d closed", label, fds[i]);
            failed = 1;
            return;
        }
    }
    char c = 'x', d = 0;
    if (write(pipe_w, &c, 1) != 1 || read(pipe_r, &d, 1) != 1 || d != 'x') {
        say("BROKEN %s pipe", label);
        failed = 1;
    }
    char buf[4] = {0};
    if (pwrite(file_fd, "abcd", 4, 0) != 4 || pread(file_fd, buf, 4, 0) != 4 ||
        memcmp(buf, "abcd", 4) != 0) {
        say("BROKEN %s file", label);
        failed = 1;
    }
    d = 0;
    if (send(sock_a, &c, 1, 0) != 1 || recv(sock_b, &d, 1, 0) != 1 || d != 'x') {
        say("BROKEN %s socketpair", label);
        failed = 1;
    }
    say("intact %s", label);
}

/* A failing exec: report it, then check the fds. */
#define EXEC_FAILS(label, expr)                                                                    \
    do {                                                                                           \
        if (skipped(label))                                                                        \
            break;                                                                                 \
        CALL(label, expr);                                                                         \
        intact(label);                                                                             \
    } while (0)

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status_code(st);
}

/* posix_spawn/posix_spawnp: report result and errno; on success, the status. */
static void spawn_case(const char *label, int p, const char *file, char *const argv[],
                       char *const envp[])
{
    if (skipped(label))
        return;
    pid_t pid = -1;
    errno = SENTINEL;
    int r = (p ? posix_spawnp : posix_spawn)(&pid, file, NULL, NULL, argv, envp);
    int e = errno;
    say("%s ret %s errno %s", label, err_label(r), err_label(e));
    if (r == 0)
        say("%s status %d", label, wait_status(pid));
    intact(label);
}

static void system_case(const char *label, const char *cmd)
{
    if (skipped(label))
        return;
    CALL(label, system(cmd));
    intact(label);
}

static void popen_case(const char *label, const char *cmd, const char *mode)
{
    if (skipped(label))
        return;
    errno = SENTINEL;
    FILE *f = popen(cmd, mode);
    int e = errno;
    say("%s ret %s errno %s", label, f ? "stream" : "NULL", err_label(f ? SENTINEL : e));
    if (f) {
        char line[64] = {0};
        if (mode[0] == 'r' && fgets(line, sizeof line, f))
            line[strcspn(line, "\n")] = 0;
        say("%s read \"%s\" pclose %d", label, line, pclose(f));
    }
    intact(label);
}

/* Runs fn in a forked child with stdout/stderr on /dev/null, reports the
 * child's status (for calls that may exec: the ENOEXEC shell fallback of the
 * p-variants, the execl argument cap). */
static int in_child(void (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        dup2(null, 1);
        dup2(null, 2);
        fn(arg);
        _exit(HX_EXEC_FAILED);
    }
    return pid < 0 ? -1 : wait_status(pid);
}

struct pexec {
    int which; /* 0 execvp, 1 execvpe, 2 execlp, 3 posix_spawnp */
    const char *file;
};

static void run_pexec(void *arg)
{
    const struct pexec *p = arg;
    char *argv[] = {(char *)p->file, NULL};
    switch (p->which) {
    case 0:
        execvp(p->file, argv);
        break;
    case 1:
        execvpe(p->file, argv, environ);
        break;
    case 2:
        execlp(p->file, p->file, (char *)NULL);
        break;
    default: {
        pid_t pid;
        int r = posix_spawnp(&pid, p->file, NULL, NULL, argv, environ);
        _exit(r ? 100 + r : wait_status(pid));
    }
    }
    _exit(100 + errno);
}

/* The execl family's argument cap (README: at most 1023 arguments). */
#define R10(x) x, x, x, x, x, x, x, x, x, x
#define R100(x) R10(x), R10(x), R10(x), R10(x), R10(x), R10(x), R10(x), R10(x), R10(x), R10(x)
#define R1000(x)                                                                                   \
    R100(x), R100(x), R100(x), R100(x), R100(x), R100(x), R100(x), R100(x), R100(x), R100(x)

static const char *cap_probe;

static void execl_1023(void *arg)
{
    (void)arg;
    const char *d = "-";
    /* arg0 + 1022 = 1023 arguments */
    execl(cap_probe, "p", R1000(d), R10(d), R10(d), d, d, (char *)NULL);
    _exit(100 + errno);
}

static void execl_1024(void *arg)
{
    (void)arg;
    const char *d = "-";
    execl(cap_probe, "p", R1000(d), R10(d), R10(d), d, d, d, (char *)NULL);
    _exit(100 + errno);
}

static void execlp_1024(void *arg)
{
    (void)arg;
    const char *d = "-";
    execlp(cap_probe, "p", R1000(d), R10(d), R10(d), d, d, d, (char *)NULL);
    _exit(100 + errno);
}

static void execle_1024(void *arg)
{
    (void)arg;
    const char *d = "-";
    execle(cap_probe, "p", R1000(d), R10(d), R10(d), d, d, d, (char *)NULL, environ);
    _exit(100 + errno);
}

/* dup2, dup3, fcntl, fcntl64, ioctl: success and failure. */
static void intent_calls(void)
{
    int p[2];
    if (pipe(p) != 0)
        fail(HX_SETUP, "pipe: %s", strerror(errno));
    int closed = 900; /* not open: checked below */
    if (fcntl(closed, F_GETFD) != -1)
        fail(HX_SETUP, "fd %d is open", closed);

    CALL("dup2 ok", dup2(p[0], 200));
    CALL("dup2 same fd", dup2(p[0], p[0]));
    CALL("dup2 same closed fd", dup2(closed, closed));
    CALL("dup2 EBADF old", dup2(closed, 201));
    CALL("dup2 EBADF new negative", dup2(p[0], -1));
    CALL("dup2 EBADF new too big", dup2(p[0], 1 << 30));
    CALL("dup2 onto open", dup2(p[1], 200));

    CALL("dup3 ok", dup3(p[0], 202, 0));
    CALL("dup3 cloexec", dup3(p[0], 203, O_CLOEXEC));
    CALL("dup3 EINVAL same", dup3(p[0], p[0], 0));
    CALL("dup3 EINVAL flags", dup3(p[0], 204, 0x1234));
    CALL("dup3 EBADF", dup3(closed, 204, 0));

    for (int v = 0; v < 2; v++) {
        int (*fc)(int, int, ...) = v ? fcntl64 : fcntl;
        char l[64];
#define F(label, ...) (snprintf(l, sizeof l, "%s %s", v ? "fcntl64" : "fcntl", label), l)
        CALL(F("F_GETFD"), fc(p[0], F_GETFD));
        CALL(F("F_SETFD 0"), fc(p[0], F_SETFD, 0));
        CALL(F("F_GETFD after"), fc(p[0], F_GETFD));
        CALL(F("F_SETFD cloexec"), fc(p[0], F_SETFD, FD_CLOEXEC));
        CALL(F("F_GETFD after cloexec"), fc(p[0], F_GETFD));
        CALL(F("F_SETFD EBADF"), fc(closed, F_SETFD, 0));
        CALL(F("F_GETFD EBADF"), fc(closed, F_GETFD));
        CALL(F("F_GETFL"), fc(p[1], F_GETFL));
        CALL(F("F_SETFL nonblock"), fc(p[1], F_SETFL, O_NONBLOCK));
        CALL(F("F_GETFL after"), fc(p[1], F_GETFL));
        CALL(F("F_DUPFD"), fc(p[0], F_DUPFD, 300 + v * 10));
        CALL(F("F_DUPFD_CLOEXEC"), fc(p[0], F_DUPFD_CLOEXEC, 320 + v * 10));
        CALL(F("F_DUPFD EINVAL"), fc(p[0], F_DUPFD, 1 << 30));
        CALL(F("F_GETPIPE_SZ"), fc(p[0], F_GETPIPE_SZ));
        CALL(F("F_SETPIPE_SZ"), fc(p[0], F_SETPIPE_SZ, 65536 * 2));
        CALL(F("bad cmd"), fc(p[0], 0x7fff));
        CALL(F("bad cmd EBADF"), fc(closed, 0x7fff));

        /* Pointer arguments: the struct must arrive and come back intact. */
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 7, .l_len = 3};
        CALL(F("F_GETLK"), fc(file_fd, F_GETLK, &fl));
        say("%s type %d start %ld len %ld", l, fl.l_type, (long)fl.l_start, (long)fl.l_len);
        struct flock ofd = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 2};
        CALL(F("F_OFD_GETLK"), fc(file_fd, F_OFD_GETLK, &ofd));
        say("%s type %d start %ld len %ld", l, ofd.l_type, (long)ofd.l_start, (long)ofd.l_len);
        struct flock wr = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        CALL(F("F_SETLK EBADF on read-only"), fc(p[0], F_SETLK, &wr));
        CALL(F("F_GETLK EFAULT"), fc(file_fd, F_GETLK, (struct flock *)8));
        struct f_owner_ex own = {.type = 99, .pid = 99};
        CALL(F("F_GETOWN_EX"), fc(sock_a, F_GETOWN_EX, &own));
        say("%s type %d pid %d", l, own.type, own.pid);
#undef F
    }

    int n = -1;
    if (write(p[1], "hello", 5) != 5)
        fail(HX_SETUP, "write: %s", strerror(errno));
    CALL("ioctl FIONREAD", ioctl(p[0], FIONREAD, &n));
    say("ioctl FIONREAD value %d", n);
    int on = 1;
    CALL("ioctl FIONBIO", ioctl(p[0], FIONBIO, &on));
    CALL("ioctl FIONCLEX", ioctl(p[0], FIONCLEX));
    CALL("ioctl FIONCLEX flags", fcntl(p[0], F_GETFD));
    CALL("ioctl FIOCLEX", ioctl(p[0], FIOCLEX));
    CALL("ioctl FIOCLEX flags", fcntl(p[0], F_GETFD));
    CALL("ioctl FIONCLEX EBADF", ioctl(closed, FIONCLEX));
    CALL("ioctl FIOCLEX EBADF", ioctl(closed, FIOCLEX));
    CALL("ioctl FIONREAD EBADF", ioctl(closed, FIONREAD, &n));
    CALL("ioctl FIONREAD EFAULT", ioctl(p[0], FIONREAD, (int *)8));
    struct termios t;
    CALL("ioctl TCGETS ENOTTY", ioctl(p[0], TCGETS, &t));
    CALL("ioctl bad request NULL arg", ioctl(p[0], 0xdeadbeefUL, NULL));
    /* A request whose low 32 bits are FIONCLEX: the kernel takes it as FIONCLEX. */
    CALL("ioctl FIONCLEX high bits", ioctl(p[0], 0x100000000UL | FIONCLEX));

    int fds[] = {p[0], p[1], 200, 202, 203, 300, 310, 320, 330};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close(fds[i]);
}

int main(int argc, char **argv)
{
    const char *probe = NULL, *dir = NULL;
    int final_exec = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--probe") == 0 && i + 1 < argc)
            probe = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--no-final-exec") == 0)
            final_exec = 0;
        else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc && nskip < 8)
            skip_words[nskip++] = argv[++i];
        else
            fail(HX_USAGE, "usage: hard_errno --probe PATH --dir DIR [--no-final-exec] [--skip WORD]");
    }
    if (!probe || !dir)
        fail(HX_USAGE, "usage: hard_errno --probe PATH --dir DIR [--no-final-exec] [--skip WORD]");
    cap_probe = probe;

    hstack_8mib(); /* ARG_MAX: 2 MiB of arguments and environment, everywhere */

    /* The files: not executable (EACCES), executable garbage (ENOEXEC), and
     * a PATH directory with both for the p-variants. */
    static const unsigned char junk[] = {0x00, 0x01, 0x02, 0xfe, 0xff, 'n', 'o', 't', ' ', 'E',
                                         'L', 'F', 0x00, 0x7f, 0x45, 0x00, 0x10, 0x20, 0x30};
    char *noexec = hpath(dir, "noexec"), *garbage = hpath(dir, "garbage");
    char *pathdir = hpath(dir, "bin"), *missing = hpath(dir, "missing");
    hwrite_file(noexec, "#!/bin/sh\nexit 0\n", 17, 0644);
    hwrite_file(garbage, junk, sizeof junk, 0755);
    if (mkdir(pathdir, 0755) != 0)
        fail(HX_SETUP, "mkdir %s: %s", pathdir, strerror(errno));
    char *p_noexec = hpath(pathdir, "noexec_cmd"), *p_garbage = hpath(pathdir, "garbage_cmd");
    hwrite_file(p_noexec, "#!/bin/sh\nexit 0\n", 17, 0644);
    hwrite_file(p_garbage, junk, sizeof junk, 0755);
    char *datafile = hpath(dir, "data");
    hwrite_file(datafile, "0123456789", 10, 0644);

    /* The caller's fds (leaks, plus one deliberate). */
    int pp[2], sp[2];
    if (pipe(pp) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        fail(HX_SETUP, "pipe/socketpair: %s", strerror(errno));
    pipe_r = pp[0];
    pipe_w = pp[1];
    sock_a = sp[0];
    sock_b = sp[1];
    file_fd = open(datafile, O_RDWR);
    int src = open(datafile, O_RDONLY | O_CLOEXEC);
    if (file_fd < 0 || src < 0)
        fail(HX_SETUP, "open %s: %s", datafile, strerror(errno));
    kept_fd = dup2(src, 150);
    close(src);
    if (kept_fd != 150)
        fail(HX_SETUP, "dup2 onto 150: %s", strerror(errno));

    /* argv bigger than ARG_MAX: 20 strings of 127 KiB (each under
     * MAX_ARG_STRLEN, together 2.5 MiB). */
    size_t big_len = 127 * 1024;
    char *big = malloc(big_len + 1);
    if (!big)
        fail(HX_SETUP, "out of memory");
    memset(big, 'a', big_len);
    big[big_len] = 0;
    char *huge_argv[22];
    huge_argv[0] = (char *)probe;
    for (int i = 1; i <= 20; i++)
        huge_argv[i] = big;
    huge_argv[21] = NULL;
    char *huge_envp[] = {big, big, big, big, big, big, big, big, big, big, big, big, big, big,
                         big, big, big, big, big, big, NULL};
    size_t cmd_len = 3 << 20;
    char *huge_cmd = malloc(cmd_len + 1);
    if (!huge_cmd)
        fail(HX_SETUP, "out of memory");
    memcpy(huge_cmd, ": ", 2);
    memset(huge_cmd + 2, 'a', cmd_len - 2);
    huge_cmd[cmd_len] = 0;

    char *small_argv[] = {(char *)probe, "-", NULL};
    char *argv_missing[] = {missing, NULL};
    char *argv_noexec[] = {noexec, NULL};
    char *argv_garbage[] = {garbage, NULL};
    char *empty_env[] = {NULL};

    say("start");

    /* execve */
    EXEC_FAILS("execve ENOENT", execve(missing, argv_missing, environ));
    EXEC_FAILS("execve EACCES", execve(noexec, argv_noexec, environ));
    EXEC_FAILS("execve EACCES dir", execve(dir, argv_noexec, environ));
    EXEC_FAILS("execve ENOEXEC", execve(garbage, argv_garbage, environ));
    EXEC_FAILS("execve E2BIG argv", execve(probe, huge_argv, environ));
    EXEC_FAILS("execve E2BIG envp", execve(probe, small_argv, huge_envp));
    EXEC_FAILS("execve EFAULT NULL path", execve(null_str, small_argv, environ));
    EXEC_FAILS("execve ENOENT NULL argv envp", execve(missing, null_vec, null_vec));
    EXEC_FAILS("execve ENOENT empty path", execve("", small_argv, empty_env));
    /* execv */
    EXEC_FAILS("execv ENOENT", execv(missing, argv_missing));
    EXEC_FAILS("execv EACCES", execv(noexec, argv_noexec));
    EXEC_FAILS("execv ENOEXEC", execv(garbage, argv_garbage));
    EXEC_FAILS("execv E2BIG", execv(probe, huge_argv));
    /* execvp, execvpe: by path; by name through PATH */
    EXEC_FAILS("execvp ENOENT", execvp(missing, argv_missing));
    EXEC_FAILS("execvp EACCES", execvp(noexec, argv_noexec));
    EXEC_FAILS("execvp E2BIG", execvp(probe, huge_argv));
    EXEC_FAILS("execvp ENOENT empty", execvp("", small_argv));
    EXEC_FAILS("execvpe ENOENT", execvpe(missing, argv_missing, environ));
    EXEC_FAILS("execvpe EACCES", execvpe(noexec, argv_noexec, environ));
    EXEC_FAILS("execvpe E2BIG argv", execvpe(probe, huge_argv, environ));
    EXEC_FAILS("execvpe E2BIG envp", execvpe(probe, small_argv, huge_envp));
    char *old_path = getenv("PATH");
    old_path = old_path ? strdup(old_path) : NULL;
    setenv("PATH", pathdir, 1);
    char *argv_missing_cmd[] = {"missing_cmd", NULL}, *argv_noexec_cmd[] = {"noexec_cmd", NULL};
    EXEC_FAILS("execvp PATH ENOENT", execvp("missing_cmd", argv_missing_cmd));
    EXEC_FAILS("execvp PATH EACCES", execvp("noexec_cmd", argv_noexec_cmd));
    EXEC_FAILS("execvpe PATH ENOENT", execvpe("missing_cmd", argv_missing_cmd, environ));
    EXEC_FAILS("execvpe PATH EACCES", execvpe("noexec_cmd", argv_noexec_cmd, environ));
    EXEC_FAILS("execlp PATH ENOENT", execlp("missing_cmd", "missing_cmd", (char *)NULL));
    EXEC_FAILS("execlp PATH EACCES", execlp("noexec_cmd", "noexec_cmd", (char *)NULL));
    spawn_case("posix_spawnp PATH ENOENT", 1, "missing_cmd", argv_missing_cmd, environ);
    spawn_case("posix_spawnp PATH EACCES", 1, "noexec_cmd", argv_noexec_cmd, environ);
    /* ENOEXEC makes the p-variants run the file with /bin/sh: in a child. */
    const char *pnames[] = {"execvp", "execvpe", "execlp", "posix_spawnp"};
    for (int w = 0; w < 4; w++) {
        struct pexec pe = {w, "garbage_cmd"};
        say("%s PATH ENOEXEC child status %d", pnames[w], in_child(run_pexec, &pe));
        pe.file = garbage;
        say("%s ENOEXEC child status %d", pnames[w], in_child(run_pexec, &pe));
    }
    if (old_path)
        setenv("PATH", old_path, 1);
    else
        unsetenv("PATH");
    /* execl, execle, execlp */
    EXEC_FAILS("execl ENOENT", execl(missing, missing, "x", (char *)NULL));
    EXEC_FAILS("execl EACCES", execl(noexec, noexec, (char *)NULL));
    EXEC_FAILS("execl ENOEXEC", execl(garbage, garbage, (char *)NULL));
#define BIG20 big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, big, \
              big, big, big
    EXEC_FAILS("execl E2BIG", execl(probe, probe, BIG20, (char *)NULL));
    EXEC_FAILS("execle ENOENT", execle(missing, missing, (char *)NULL, environ));
    EXEC_FAILS("execle EACCES", execle(noexec, noexec, (char *)NULL, environ));
    EXEC_FAILS("execle ENOEXEC", execle(garbage, garbage, (char *)NULL, environ));
    EXEC_FAILS("execle E2BIG", execle(probe, probe, BIG20, (char *)NULL, environ));
    EXEC_FAILS("execle E2BIG envp", execle(probe, probe, (char *)NULL, huge_envp));
    EXEC_FAILS("execlp ENOENT", execlp(missing, missing, (char *)NULL));
    EXEC_FAILS("execlp EACCES", execlp(noexec, noexec, (char *)NULL));
    EXEC_FAILS("execlp E2BIG", execlp(probe, probe, BIG20, (char *)NULL));
    /* fexecve */
    int fd_noexec = open(noexec, O_RDONLY | O_CLOEXEC);
    int fd_garbage = open(garbage, O_RDONLY | O_CLOEXEC);
    int fd_probe = open(probe, O_RDONLY | O_CLOEXEC);
    int fd_path = open(noexec, O_PATH | O_CLOEXEC);
    if (fd_noexec < 0 || fd_garbage < 0 || fd_probe < 0 || fd_path < 0)
        fail(HX_SETUP, "open for fexecve: %s", strerror(errno));
    EXEC_FAILS("fexecve EBADF", fexecve(901, small_argv, environ));
    EXEC_FAILS("fexecve EINVAL negative", fexecve(-1, small_argv, environ));
    EXEC_FAILS("fexecve EINVAL NULL argv", fexecve(fd_probe, null_vec, environ));
    EXEC_FAILS("fexecve EACCES", fexecve(fd_noexec, argv_noexec, environ));
    EXEC_FAILS("fexecve EACCES O_PATH", fexecve(fd_path, argv_noexec, environ));
    EXEC_FAILS("fexecve ENOEXEC", fexecve(fd_garbage, argv_garbage, environ));
    EXEC_FAILS("fexecve E2BIG", fexecve(fd_probe, huge_argv, environ));
    /* execveat */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        fail(HX_SETUP, "open %s: %s", dir, strerror(errno));
    EXEC_FAILS("execveat ENOENT", execveat(dfd, "missing", argv_missing, environ, 0));
    EXEC_FAILS("execveat EACCES", execveat(dfd, "noexec", argv_noexec, environ, 0));
    EXEC_FAILS("execveat ENOEXEC", execveat(dfd, "garbage", argv_garbage, environ, 0));
    EXEC_FAILS("execveat E2BIG", execveat(AT_FDCWD, probe, huge_argv, environ, 0));
    EXEC_FAILS("execveat EINVAL flags", execveat(dfd, "noexec", argv_noexec, environ, 0x12345));
    EXEC_FAILS("execveat EBADF", execveat(902, "noexec", argv_noexec, environ, 0));
    EXEC_FAILS("execveat empty path EACCES",
               execveat(fd_noexec, "", argv_noexec, environ, AT_EMPTY_PATH));
    EXEC_FAILS("execveat ENOENT NULL argv envp", execveat(dfd, "missing", null_vec, null_vec, 0));
    /* posix_spawn, posix_spawnp */
    spawn_case("posix_spawn ENOENT", 0, missing, argv_missing, environ);
    spawn_case("posix_spawn EACCES", 0, noexec, argv_noexec, environ);
    spawn_case("posix_spawn ENOEXEC", 0, garbage, argv_garbage, environ);
    spawn_case("posix_spawn E2BIG", 0, probe, huge_argv, environ);
    spawn_case("posix_spawn ok", 0, probe, small_argv, environ);
    spawn_case("posix_spawn ok NULL envp", 0, probe, small_argv, null_vec);
    spawn_case("posix_spawnp ENOENT", 1, missing, argv_missing, environ);
    spawn_case("posix_spawnp EACCES", 1, noexec, argv_noexec, environ);
    spawn_case("posix_spawnp E2BIG", 1, probe, huge_argv, environ);
    spawn_case("posix_spawnp ok", 1, probe, small_argv, environ);
    /* system, popen */
    system_case("system NULL", null_str);
    system_case("system exit 7", "exit 7");
    system_case("system missing", "/nonexistent/hard-errno-cmd 2>/dev/null");
    system_case("system E2BIG", huge_cmd);
    popen_case("popen echo", "echo hi", "r");
    popen_case("popen exit 3", "exit 3", "r");
    popen_case("popen write", "cat >/dev/null", "we");
    popen_case("popen EINVAL mode", "true", "x");
    popen_case("popen EINVAL empty mode", "true", "");
    popen_case("popen E2BIG", huge_cmd, "r");

    /* The execl family's cap: documented, differs from glibc's. */
    say("execl 1023 args child status %d", in_child(execl_1023, NULL));
    say("doc execl 1024 args child status %d", in_child(execl_1024, NULL));
    say("doc execlp 1024 args child status %d", in_child(execlp_1024, NULL));
    say("doc execle 1024 args child status %d", in_child(execle_1024, NULL));

    intent_calls();
    intact("end");
    say("done failed %d", failed);
    if (failed || !final_exec)
        return failed ? HX_FAILED : HX_OK;

    /* A second exec works, and still sweeps. */
    char n_kept[24], n_leaks[5][28];
    char *fin[] = {(char *)probe, "--keep", hitoa(kept_fd, n_kept),
                   "--leak", hfdname(pipe_r, n_leaks[0]), "--leak", hfdname(pipe_w, n_leaks[1]),
                   "--leak", hfdname(file_fd, n_leaks[2]), "--leak", hfdname(sock_a, n_leaks[3]),
                   "--leak", hfdname(sock_b, n_leaks[4]), NULL};
    execve(probe, fin, environ);
    say("final execve failed: %s", err_label(errno));
    return HX_EXEC_FAILED;
}
