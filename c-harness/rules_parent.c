/* rules_parent [--spawn|--fork] [--env NAME=VALUE]... [--at N] [--note TEXT]
 *              SETUP -- PROGRAM [ARGS...]
 *
 * The leaky parent of the keep-rule tests (tests/rules.rs). It opens two fds
 * of one kind without close-on-exec, prints "told N" and "leak N" for them,
 * then runs PROGRAM (normally a copy of the probe). In ARGS and in each
 * --env value, "{told}" and "{leak}" become the two numbers, so a test can
 * tell the new program one fd's number and not the other's; "{upto}" becomes
 * told - 2 (a count of fds from 3 that ends at told) and "{above}" told + 1.
 *
 * --at N makes "told" land at N with no act on it: every free fd below N is
 * taken by a close-on-exec filler first, and the fillers are closed once both
 * fds are open (N must be free). --note TEXT is ignored: it puts TEXT in the
 * parent's own arguments, where a rule about the calling program reads it.
 *
 * SETUP (what makes "told" deliberate, if anything):
 *   pipes       two pipes' read ends (a rule must be told the number)
 *   flock       two files; both flock(LOCK_EX), then "leak" LOCK_UN
 *   lockf       the same with lockf(F_LOCK) and lockf(F_ULOCK)
 *   fcntl-lock  the same with fcntl(F_SETLK) F_WRLCK and F_UNLCK
 *   ofd-lock    the same with fcntl(F_OFD_SETLK) F_RDLCK and F_UNLCK
 *   listener    "told" a listening TCP socket on 127.0.0.1, "leak" a
 *               connected one (a client's socket, as a message queue has)
 *   listener-file  "told" the same listening socket, "leak" a regular
 *               file (K10 keeps listeners only: not whatever is no socket)
 *
 * How: execv (default), posix_spawn and wait (--spawn), or fork and execv in
 * the child, then wait (--fork). A waited-for child's status is printed as
 * "child-status S"; leaky's exit codes apply (c-harness/README.md). */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum how { HOW_EXEC, HOW_SPAWN, HOW_FORK };

#define MAX_ENV 8
#define MAX_ARGS 16
#define MAX_FILLERS 1024

static int open_file(const char *what)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/cloexec-rules-%d-%s", dir && *dir ? dir : "/tmp", (int)getpid(), what);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fail(EX_SETUP, "open %s: %s", path, strerror(errno));
    unlink(path);
    return fd;
}

static void pipes(int *told, int *leak)
{
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0)
        fail(EX_SETUP, "pipe: %s", strerror(errno));
    *told = a[0];
    *leak = b[0];
}

static void fcntl_lock(int fd, int cmd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, cmd, &fl) != 0)
        fail(EX_SETUP, "fcntl lock %d type %d: %s", cmd, type, strerror(errno));
}

/* Locks both files, then unlocks "leak": only "told" holds a lock at exec. */
static void locks(const char *setup, int *told, int *leak)
{
    *told = open_file("told");
    *leak = open_file("leak");
    int fds[2] = {*told, *leak};
    for (int i = 0; i < 2; i++) {
        int fd = fds[i];
        int ok;
        if (strcmp(setup, "flock") == 0)
            ok = flock(fd, LOCK_EX) == 0 && (i == 0 || flock(fd, LOCK_UN) == 0);
        else if (strcmp(setup, "lockf") == 0)
            ok = lockf(fd, F_LOCK, 0) == 0 && (i == 0 || lockf(fd, F_ULOCK, 0) == 0);
        else if (strcmp(setup, "fcntl-lock") == 0) {
            fcntl_lock(fd, F_SETLK, F_WRLCK);
            if (i == 1)
                fcntl_lock(fd, F_SETLK, F_UNLCK);
            ok = 1;
        } else {
            fcntl_lock(fd, F_OFD_SETLK, F_RDLCK);
            if (i == 1)
                fcntl_lock(fd, F_OFD_SETLK, F_UNLCK);
            ok = 1;
        }
        if (!ok)
            fail(EX_SETUP, "%s on %d: %s", setup, fd, strerror(errno));
    }
}

/* A listening TCP socket on 127.0.0.1, at a free port; its address in *addr. */
static int listening_socket(struct sockaddr_in *addr)
{
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = 0};
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)addr, sizeof *addr) != 0 || listen(l, 4) != 0 ||
        getsockname(l, (struct sockaddr *)addr, &len) != 0)
        fail(EX_SETUP, "listening socket: %s", strerror(errno));
    return l;
}

static void listener(int *told, int *leak)
{
    struct sockaddr_in addr;
    int l = listening_socket(&addr);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) != 0)
        fail(EX_SETUP, "connected socket: %s", strerror(errno));
    *told = l;
    *leak = c;
}

static void listener_file(int *told, int *leak)
{
    struct sockaddr_in addr;
    *told = listening_socket(&addr);
    *leak = open_file("leak");
}

/* Takes every free fd below at with a close-on-exec filler, so that the
 * next fd made lands at at; returns how many fillers it made. */
static int fill_below(int at, int *fillers, int cap)
{
    if (fcntl(at, F_GETFD) != -1 || errno != EBADF)
        fail(EX_SETUP, "--at %d: that fd is not free", at);
    int n = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            fail(EX_SETUP, "open /dev/null: %s", strerror(errno));
        if (fd == at) {
            close(fd);
            return n;
        }
        if (n == cap)
            fail(EX_SETUP, "--at %d: more than %d fillers", at, cap);
        fillers[n++] = fd;
    }
}

/* text with "{told}", "{leak}", "{upto}" and "{above}" replaced; malloc'd. */
static char *fill(const char *text, int told, int leak)
{
    static const char *const names[] = {"{told}", "{leak}", "{upto}", "{above}"};
    int values[] = {told, leak, told - 2, told + 1};
    size_t cap = strlen(text) * 4 + 64;
    char *out = malloc(cap);
    if (!out)
        fail(EX_SETUP, "malloc");
    size_t n = 0;
    while (*text) {
        size_t k = 0;
        while (k < 4 && strncmp(text, names[k], strlen(names[k])) != 0)
            k++;
        if (k < 4) {
            n += (size_t)snprintf(out + n, cap - n, "%d", values[k]);
            text += strlen(names[k]);
        } else {
            out[n++] = *text++;
        }
    }
    out[n] = '\0';
    return out;
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail(EX_SPAWN, "waitpid: %s", strerror(errno));
    say("child-status %d", status_code(status));
    return status_code(status) == 0 ? EX_OK : EX_CHILD;
}

int main(int argc, char **argv)
{
    enum how how = HOW_EXEC;
    const char *env[MAX_ENV];
    int nenv = 0;
    int at = -1;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]; i++) {
        if (strcmp(argv[i], "--spawn") == 0)
            how = HOW_SPAWN;
        else if (strcmp(argv[i], "--fork") == 0)
            how = HOW_FORK;
        else if (strcmp(argv[i], "--env") == 0 && i + 1 < argc && nenv < MAX_ENV)
            env[nenv++] = argv[++i];
        else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc)
            at = atoi(argv[++i]);
        else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
            i++;
        else
            fail(EX_USAGE, "unknown option %s", argv[i]);
    }
    if (i + 2 >= argc || strcmp(argv[i + 1], "--") != 0 || argc - (i + 2) > MAX_ARGS)
        fail(EX_USAGE, "usage: rules_parent [--spawn|--fork] [--env N=V]... [--at N] [--note T] SETUP -- "
                       "PROGRAM [ARGS...]");
    const char *setup = argv[i];
    int told, leak;
    int fillers[MAX_FILLERS];
    int nfillers = at > 2 ? fill_below(at, fillers, MAX_FILLERS) : 0;
    if (strcmp(setup, "pipes") == 0)
        pipes(&told, &leak);
    else if (strcmp(setup, "listener") == 0)
        listener(&told, &leak);
    else if (strcmp(setup, "listener-file") == 0)
        listener_file(&told, &leak);
    else if (!strcmp(setup, "flock") || !strcmp(setup, "lockf") || !strcmp(setup, "fcntl-lock") ||
             !strcmp(setup, "ofd-lock"))
        locks(setup, &told, &leak);
    else
        fail(EX_USAGE, "unknown setup %s", setup);
    while (nfillers > 0)
        close(fillers[--nfillers]);
    if (at > 2 && told != at)
        fail(EX_SETUP, "--at %d: told landed at %d", at, told);
    say("told %d", told);
    say("leak %d", leak);

    for (int e = 0; e < nenv; e++)
        if (putenv(fill(env[e], told, leak)) != 0)
            fail(EX_SETUP, "putenv: %s", strerror(errno));
    char *args[MAX_ARGS + 1];
    int nargs = 0;
    for (int a = i + 2; a < argc; a++)
        args[nargs++] = fill(argv[a], told, leak);
    args[nargs] = NULL;

    switch (how) {
    case HOW_SPAWN: {
        pid_t pid;
        int err = posix_spawn(&pid, args[0], NULL, NULL, args, environ);
        if (err != 0)
            fail(EX_SPAWN, "posix_spawn: %s", strerror(err));
        return wait_child(pid);
    }
    case HOW_FORK: {
        pid_t pid = fork();
        if (pid < 0)
            fail(EX_SPAWN, "fork: %s", strerror(errno));
        if (pid == 0) {
            execv(args[0], args);
            _exit(EX_EXEC_RETURNED);
        }
        return wait_child(pid);
    }
    case HOW_EXEC:
    default:
        execv(args[0], args);
        fail(EX_EXEC_RETURNED, "execv %s: %s", args[0], strerror(errno));
    }
}
