/* compat_parent: the classic C parent of the compatibility matrix
 * (tests/compat_c.rs, tests/compat_tools.rs).
 *
 *   compat_parent LAUNCH KIND LEAK [options] -- PROGRAM [ARGS...]
 *
 * It plants a leak (LEAK opened without O_CLOEXEC, its number told to
 * nobody), makes a channel with pipe() or socketpair() (KIND; inheritable,
 * as the oldest idiom does it; `none` for no channel), starts PROGRAM with LAUNCH (fork, vfork:
 * execve in the child; spawn: posix_spawn) and tells it the channel's numbers
 * in its arguments or environment, by substitution:
 *
 *   {W}   the child's end of the channel (pipe: write end; socketpair: one side)
 *   {R}   the parent's end (pipe: read end; socketpair: the other side)
 *   {IN}  with --to-child: the read end of a second pipe, which gets TEXT
 *
 * Options:
 *   --env NAME=VALUE   adds NAME=VALUE (substituted) to the child's environment
 *   --to-child TEXT    a second pipe (gpg --passphrase-fd): after the launch (and
 *                      the inspection) TEXT and a newline go in, then EOF
 *   --inspect PATH     once the child has exec'd (its /proc/PID/exe is no longer
 *                      ours), writes its open fds to PATH as `fd N TARGET` lines,
 *                      before anything is read from the channel
 *
 * Then it closes its copy of the child's end, reads the channel to EOF and
 * prints `channel: LINE` for each line, waits for the child and prints
 * `child-status S`; it exits with S. Also built with musl-gcc
 * (compat_parent_musl), so it uses only POSIX and Linux calls both have.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

enum { MAX_ARGS = 64, MAX_ENV = 512, SUBST_LEN = 4096 };

struct channel {
    int parent_end;
    int child_end;
    int to_child;   /* read end of the --to-child pipe, or -1 */
    int to_child_w; /* its write end, close-on-exec, or -1 */
};

static void make_channel(const char *kind, struct channel *ch)
{
    int fds[2];

    if (strcmp(kind, "pipe") == 0) {
        if (pipe(fds) != 0)
            fail(EX_SETUP, "pipe: %s", strerror(errno));
        ch->parent_end = fds[0];
        ch->child_end = fds[1];
    } else if (strcmp(kind, "socketpair") == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
            fail(EX_SETUP, "socketpair: %s", strerror(errno));
        ch->parent_end = fds[0];
        ch->child_end = fds[1];
    } else if (strcmp(kind, "none") != 0) {
        fail(EX_USAGE, "unknown channel kind %s (pipe, socketpair, none)", kind);
    }
}

/* The --to-child pipe: the read end inheritable, as pipe() makes it; the
 * write end moved with F_DUPFD_CLOEXEC (no act of intent), so only the
 * parent holds it. */
static void make_to_child(struct channel *ch)
{
    int fds[2];

    if (pipe(fds) != 0)
        fail(EX_SETUP, "pipe: %s", strerror(errno));
    ch->to_child = fds[0];
    ch->to_child_w = fcntl(fds[1], F_DUPFD_CLOEXEC, 0);
    if (ch->to_child_w < 0)
        fail(EX_SETUP, "F_DUPFD_CLOEXEC: %s", strerror(errno));
    close(fds[1]);
}

static void send_to_child(struct channel *ch, const char *text)
{
    size_t len = strlen(text);

    if (write(ch->to_child_w, text, len) != (ssize_t)len || write(ch->to_child_w, "\n", 1) != 1)
        fail(EX_SETUP, "write to the --to-child pipe: %s", strerror(errno));
    close(ch->to_child_w);
}

/* Copies template into a new string with {W}, {R} and {IN} replaced by the
 * channel's numbers. */
static char *substitute(const char *template, const struct channel *ch)
{
    static const char *const names[] = {"{W}", "{R}", "{IN}"};
    int values[] = {ch->child_end, ch->parent_end, ch->to_child};
    char out[SUBST_LEN];
    size_t n = 0;

    for (const char *p = template; *p;) {
        size_t i;
        for (i = 0; i < 3; i++) {
            size_t len = strlen(names[i]);
            if (strncmp(p, names[i], len) == 0)
                break;
        }
        if (i < 3) {
            if (values[i] < 0)
                fail(EX_USAGE, "%s used without its channel", names[i]);
            n += (size_t)snprintf(out + n, sizeof out - n, "%d", values[i]);
            p += strlen(names[i]);
        } else if (n + 1 < sizeof out) {
            out[n++] = *p++;
        } else {
            n = sizeof out;
        }
        if (n >= sizeof out - 1)
            fail(EX_USAGE, "argument too long: %.40s...", template);
    }
    out[n] = '\0';
    char *copy = strdup(out);
    if (!copy)
        fail(EX_SETUP, "strdup: out of memory");
    return copy;
}

/* True once /proc/PID/exe differs from ours: the child has exec'd. */
static int has_execd(pid_t pid, const char *own_exe)
{
    char path[64], exe[PATH_MAX];
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    n = readlink(path, exe, sizeof exe - 1);
    if (n < 0)
        return 0;
    exe[n] = '\0';
    return strcmp(exe, own_exe) != 0;
}

/* Waits (up to a minute) until the child has exec'd, then writes its fds. */
static void inspect_child(pid_t pid, const char *report)
{
    char own[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", own, sizeof own - 1);
    struct timespec pause = {0, 1000000};

    if (n < 0)
        fail(EX_SETUP, "readlink /proc/self/exe: %s", strerror(errno));
    own[n] = '\0';
    for (int waited = 0; !has_execd(pid, own); waited++) {
        if (waited > 60000)
            fail(EX_CHILD, "--inspect: the child did not exec within a minute");
        nanosleep(&pause, NULL);
    }
    FILE *out = fopen(report, "we");
    if (!out)
        fail(EX_SETUP, "--inspect: cannot create %s: %s", report, strerror(errno));
    for (int fd = 0; fd < soft_nofile(); fd++) {
        snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
        n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        fprintf(out, "fd %d %s\n", fd, target);
    }
    if (fclose(out) != 0)
        fail(EX_SETUP, "--inspect: cannot write %s", report);
}

static pid_t launch(const char *how, char **argv, char **envp)
{
    pid_t pid;

    if (strcmp(how, "fork") == 0 || strcmp(how, "vfork") == 0) {
        pid = how[0] == 'v' ? vfork() : fork();
        if (pid < 0)
            fail(EX_SPAWN, "%s: %s", how, strerror(errno));
        if (pid == 0) {
            execve(argv[0], argv, envp);
            _exit(127);
        }
        return pid;
    }
    if (strcmp(how, "spawn") == 0) {
        int err = posix_spawn(&pid, argv[0], NULL, NULL, argv, envp);
        if (err != 0)
            fail(EX_SPAWN, "posix_spawn %s: %s", argv[0], strerror(err));
        return pid;
    }
    fail(EX_USAGE, "unknown launch %s (fork, vfork, spawn)", how);
}

/* Reads the channel to EOF and prints it line by line. */
static void relay_channel(int fd)
{
    char data[16384];
    size_t n = 0;
    ssize_t got;

    while (n < sizeof data - 1 && (got = read(fd, data + n, sizeof data - 1 - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            fail(EX_SETUP, "read from the channel: %s", strerror(errno));
        n += (size_t)got;
    }
    data[n] = '\0';
    for (char *line = data, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        int last = *end == '\0';
        *end = '\0';
        say("channel: %s", line);
        if (last)
            break;
    }
}

int main(int argc, char **argv)
{
    static char *child_argv[MAX_ARGS + 1], *child_env[MAX_ENV + 1];
    const char *extra_env[MAX_ARGS], *to_child = NULL, *report = NULL;
    struct channel ch = {-1, -1, -1, -1};
    int n_extra = 0, i = 4, n_env = 0, status;

    if (argc < 6)
        fail(EX_USAGE, "usage: compat_parent fork|vfork|spawn pipe|socketpair|none LEAK "
                       "[--env N=V] [--to-child TEXT] [--inspect PATH] -- PROGRAM [ARGS...]");
    for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (i + 1 >= argc)
            fail(EX_USAGE, "%s needs a value", argv[i]);
        if (strcmp(argv[i], "--env") == 0 && n_extra < MAX_ARGS)
            extra_env[n_extra++] = argv[i + 1];
        else if (strcmp(argv[i], "--to-child") == 0)
            to_child = argv[i + 1];
        else if (strcmp(argv[i], "--inspect") == 0)
            report = argv[i + 1];
        else
            fail(EX_USAGE, "unknown option %s", argv[i]);
    }
    if (i + 1 >= argc || argc - i - 1 > MAX_ARGS)
        fail(EX_USAGE, "no program after --, or too many arguments");

    /* The leak: open, never told to anyone. */
    if (open(argv[3], O_RDWR | O_CREAT, 0600) < 0)
        fail(EX_SETUP, "open %s: %s", argv[3], strerror(errno));
    make_channel(argv[2], &ch);
    if (to_child)
        make_to_child(&ch);

    for (int a = i + 1; a < argc; a++)
        child_argv[a - i - 1] = substitute(argv[a], &ch);
    for (char **e = environ; *e && n_env < MAX_ENV - MAX_ARGS; e++)
        child_env[n_env++] = *e;
    for (int e = 0; e < n_extra; e++)
        child_env[n_env++] = substitute(extra_env[e], &ch);

    pid_t pid = launch(argv[1], child_argv, child_env);
    if (ch.child_end >= 0)
        close(ch.child_end);
    if (ch.to_child >= 0)
        close(ch.to_child);
    if (report)
        inspect_child(pid, report);
    if (to_child)
        send_to_child(&ch, to_child);
    if (ch.parent_end >= 0)
        relay_channel(ch.parent_end);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail(EX_SPAWN, "waitpid: %s", strerror(errno));
    say("child-status %d", status_code(status));
    return status_code(status);
}
