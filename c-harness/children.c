/* children CASE -- PROBE [ARGS...]
 *
 * The fork children and spawning parents of tests/fork_children.rs and
 * tests/marks.rs. Each case sets up fds the way a real program does, prints
 * "told N" for every fd the new program needs (it learns the number from
 * nowhere the library can read: the number is written into it) and
 * "leak N" for every fd nobody needs, then execs PROBE, which lists what
 * arrived. Every fd is opened without close-on-exec unless a case says so.
 *
 * Fork children (the child execs PROBE; the parent waits and prints
 * "child-status S"):
 *   own-pipe      K12: the child closes the read end of a pipe made before
 *                 the fork and keeps the write end where it is; beside it
 *                 a leaked file and a leaked pipe (both ends)
 *   own-pipe-dups K12/K13: the same, and the child dup()s the write end 30
 *                 times and execs `sh -c '("$0" &)'` PROBE: the copies are
 *                 held by a backgrounded grandchild (a supervisor that waits
 *                 for every descendant: the parent reads its read end to EOF
 *                 and prints "eof")
 *   made-open     K13: the child opens a file, which lands on 3; a file
 *                 opened before the fork is a leak
 *   made-pipe     K13: the child makes a pipe (3 and 4); the same leak
 *   made-socket   K13: the child makes a socket; the same leak
 *   made-accept   K13: the child connects to its parent's listener (made
 *                 close-on-exec before the fork) and accepts the connection
 *   curated       K11: the child walks /proc/self/fd and closes every fd
 *                 but 0-2 and a socketpair end made before the fork, which
 *                 stays where it is (close-on-exec ones included); the
 *                 leak is closed too, and a file opened after the walk
 *                 without close-on-exec... is made in the child (K13)
 *   curated-range K11: the child closes everything around the socketpair
 *                 end with close_range
 *   careless      not curating: the child closes its end of a close-on-exec
 *                 pipe and of a close-on-exec socketpair, nothing else; the
 *                 socketpair end it would need is swept, as is the leak
 *                 (the told line is "unseen N": no rule can see it)
 *
 * Spawning parents (marks): a pipe's write end at fd N without
 * close-on-exec, and a leaked file; then one call that sweeps in this
 * process and returns, then "getfd N F" (what fcntl(F_GETFD) says now),
 * then fork and exec `sh -c 'exec "$0"' PROBE --fd=N` (N told to sh):
 *   marks-system  system("true")
 *   marks-popen   popen("true", "r") and pclose
 *   marks-spawn   posix_spawn(/bin/true)
 *   marks-spawnp  posix_spawnp("true")
 *   marks-execvp  execvp("cloexec-no-such-program"), which fails (ENOENT)
 *
 * Exit codes as leaky's (c-harness/README.md). */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **probe_argv;

static int open_file(const char *what, int flags)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/cloexec-children-%d-%s", dir && *dir ? dir : "/tmp",
             (int)getpid(), what);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | flags, 0600);
    if (fd < 0)
        fail(EX_SETUP, "open %s: %s", path, strerror(errno));
    unlink(path);
    return fd;
}

/* A leaked file, moved up out of the way of the low numbers a child's own
 * fds land on (F_DUPFD is not an act of intent). */
static int leak_high(const char *what, int at, int tell)
{
    int fd = open_file(what, 0);
    int high = fcntl(fd, F_DUPFD, at);
    if (high < 0)
        fail(EX_SETUP, "F_DUPFD: %s", strerror(errno));
    close(fd);
    if (tell)
        say("leak %d", high);
    return high;
}

static void make_pipe(int p[2], int flags)
{
    if (pipe2(p, flags) != 0)
        fail(EX_SETUP, "pipe2: %s", strerror(errno));
}

static void exec_probe_backgrounded(void)
{
    char *argv[] = {"/bin/sh", "-c", "(\"$0\" &)", probe_argv[0], NULL};
    execv(argv[0], argv);
    fail(EX_EXEC_RETURNED, "execv /bin/sh: %s", strerror(errno));
}

static void exec_probe(void)
{
    execv(probe_argv[0], probe_argv);
    fail(EX_EXEC_RETURNED, "execv %s: %s", probe_argv[0], strerror(errno));
}

/* Closes every fd from /proc/self/fd but 0-2, the directory's own and keep. */
static void close_all_but(int keep)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        fail(EX_SETUP, "opendir: %s", strerror(errno));
    int dir = dirfd(d);
    int fds[4096], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dir && fd != keep)
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void wait_child(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail(EX_SPAWN, "waitpid: %s", strerror(errno));
    say("child-status %d", status_code(status));
}

static void fork_child(const char *name)
{
    /* A curating child closes the leak itself: no "leak" line then. */
    leak_high("leak", 40, strncmp(name, "curated", 7) != 0);
    int p[2], other[2], sv[2];
    if (!strcmp(name, "own-pipe") || !strcmp(name, "own-pipe-dups")) {
        make_pipe(p, 0);
        make_pipe(other, 0);
        say("told %d", p[1]);
        say("leak %d", other[0]);
        say("leak %d", other[1]);
    } else if (!strncmp(name, "curated", 7) || !strcmp(name, "careless")) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            fail(EX_SETUP, "socketpair: %s", strerror(errno));
        /* The parent's end and a file it holds are close-on-exec, as a
         * careful parent's are. */
        fcntl(sv[0], F_SETFD, FD_CLOEXEC);
        open_file("cloexec", O_CLOEXEC);
        say("%s %d", strcmp(name, "careless") ? "told" : "unseen", sv[1]);
        if (!strcmp(name, "careless"))
            make_pipe(p, O_CLOEXEC);
    }
    int listener = -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    if (!strcmp(name, "made-accept")) {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            listen(listener, 1) != 0 || getsockname(listener, (struct sockaddr *)&addr, &addr_len) != 0)
            fail(EX_SETUP, "listener: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0)
        fail(EX_SPAWN, "fork: %s", strerror(errno));
    if (pid > 0) {
        wait_child(pid);
        if (!strcmp(name, "own-pipe-dups")) {
            /* The supervisor: EOF only once every copy is closed, by the
             * backgrounded grandchild's exit. */
            close(p[1]);
            char buf[64];
            while (read(p[0], buf, sizeof buf) > 0)
                ;
            say("eof");
        }
        return;
    }
    if (!strcmp(name, "own-pipe")) {
        close(p[0]);
    } else if (!strcmp(name, "own-pipe-dups")) {
        close(p[0]);
        for (int i = 0; i < 30; i++) {
            int copy = dup(p[1]);
            if (copy < 0)
                fail(EX_SETUP, "dup: %s", strerror(errno));
            say("told %d", copy);
        }
        exec_probe_backgrounded();
    } else if (!strcmp(name, "made-open")) {
        say("told %d", open_file("made", 0));
    } else if (!strcmp(name, "made-pipe")) {
        make_pipe(p, 0);
        say("told %d", p[0]);
        say("told %d", p[1]);
    } else if (!strcmp(name, "made-socket")) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0)
            fail(EX_SETUP, "socket: %s", strerror(errno));
        say("told %d", s);
    } else if (!strcmp(name, "made-accept")) {
        int client = socket(AF_INET, SOCK_STREAM, 0);
        if (client < 0 || connect(client, (struct sockaddr *)&addr, addr_len) != 0)
            fail(EX_SETUP, "connect: %s", strerror(errno));
        int conn = accept(listener, NULL, NULL);
        if (conn < 0)
            fail(EX_SETUP, "accept: %s", strerror(errno));
        say("told %d", client);
        say("told %d", conn);
    } else if (!strcmp(name, "curated")) {
        close_all_but(sv[1]);
        say("told %d", open_file("after-walk", 0));
    } else if (!strcmp(name, "curated-range")) {
        if (sv[1] > 3)
            close_range(3, sv[1] - 1, 0);
        close_range(sv[1] + 1, ~0U, 0);
    } else if (!strcmp(name, "careless")) {
        close(p[0]);
        close(sv[0]);
    } else {
        fail(EX_USAGE, "unknown case %s", name);
    }
    exec_probe();
}

static void spawning_parent(const char *name)
{
    int p[2];
    make_pipe(p, 0);
    int told = fcntl(p[1], F_DUPFD, 50);
    close(p[1]);
    say("told %d", told);
    leak_high("leak", 60, 1);
    if (!strcmp(name, "marks-system")) {
        say("system %d", system("true"));
    } else if (!strcmp(name, "marks-popen")) {
        FILE *f = popen("true", "r");
        if (!f)
            fail(EX_SPAWN, "popen: %s", strerror(errno));
        say("pclose %d", pclose(f));
    } else if (!strcmp(name, "marks-spawn") || !strcmp(name, "marks-spawnp")) {
        pid_t pid;
        char *argv[] = {"true", NULL};
        int rc = !strcmp(name, "marks-spawn")
                     ? posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ)
                     : posix_spawnp(&pid, "true", NULL, NULL, argv, environ);
        if (rc != 0)
            fail(EX_SPAWN, "posix_spawn: %s", strerror(rc));
        wait_child(pid);
    } else if (!strcmp(name, "marks-execvp")) {
        char *argv[] = {"cloexec-no-such-program", NULL};
        execvp(argv[0], argv);
        say("execvp %s", errno_name(errno));
    } else {
        fail(EX_USAGE, "unknown case %s", name);
    }
    say("getfd %d %d", told, fcntl(told, F_GETFD));
    /* Tell the child the number, as a parent does: in an argument of sh
     * (a pass-through shell), which then execs the probe. */
    char arg[32];
    snprintf(arg, sizeof arg, "--fd=%d", told);
    char *argv[] = {"/bin/sh", "-c", "exec \"$0\"", probe_argv[0], arg, NULL};
    probe_argv = argv;
    pid_t pid = fork();
    if (pid < 0)
        fail(EX_SPAWN, "fork: %s", strerror(errno));
    if (pid == 0)
        exec_probe();
    wait_child(pid);
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--"))
        fail(EX_USAGE, "usage: children CASE -- PROBE [ARGS...]");
    probe_argv = argv + 3;
    if (!strncmp(argv[1], "marks-", 6))
        spawning_parent(argv[1]);
    else
        fork_child(argv[1]);
    return EX_OK;
}
