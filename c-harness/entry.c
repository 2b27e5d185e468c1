/* The 13 entry points, each called the way a real program would call it. */
#include "leaky.h"

#include "common.h"
#include "exec_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define ENTRY_NAME(name, NAME) [E_##NAME] = #name,
static const char *const names[E_COUNT] = {EXEC_ENTRIES(ENTRY_NAME) SPAWN_ENTRIES(ENTRY_NAME)};

const char *entry_name(enum entry e)
{
    return e < E_COUNT ? names[e] : "?";
}

int entry_parse(const char *s, enum entry *out)
{
    for (int e = 0; e < E_COUNT; e++) {
        if (strcmp(s, names[e]) == 0) {
            *out = (enum entry)e;
            return 0;
        }
    }
    return -1;
}

int entry_is_exec(enum entry e)
{
    return (int)e < EXEC_ENTRY_COUNT;
}

int entry_takes_envp(enum entry e)
{
    switch (e) {
    case E_EXECVE:
    case E_EXECVPE:
    case E_EXECLE:
    case E_FEXECVE:
    case E_EXECVEAT:
    case E_POSIX_SPAWN:
    case E_POSIX_SPAWNP:
        return 1;
    default:
        return 0;
    }
}

static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (!d)
        fail(EX_SETUP, "out of memory");
    return d;
}

char *shell_command(char **argv)
{
    size_t cap = 8;
    for (char **a = argv; *a; a++)
        cap += 4 * strlen(*a) + 3;
    char *cmd = malloc(cap), *w = cmd;
    if (!cmd)
        fail(EX_SETUP, "out of memory");
    w += sprintf(w, "exec");
    for (char **a = argv; *a; a++) {
        *w++ = ' ';
        *w++ = '\'';
        for (const char *c = *a; *c; c++) {
            if (*c == '\'') {
                memcpy(w, "'\\''", 4);
                w += 4;
            } else {
                *w++ = *c;
            }
        }
        *w++ = '\'';
    }
    *w = '\0';
    return cmd;
}

static char **envp_with_mark(const char *mark)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    if (!envp)
        fail(EX_SETUP, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "HARNESS_MARK=", 13) != 0)
            envp[k++] = environ[i];
    envp[k++] = dup_or_die(mark);
    envp[k] = NULL;
    return envp;
}

void plan_prepare(struct plan *plan, enum entry e, const char *program, char **args, int nargs)
{
    if (nargs > MAX_PROBE_ARGS)
        fail(EX_USAGE, "at most %d probe arguments", MAX_PROBE_ARGS);
    memset(plan, 0, sizeof *plan);
    plan->entry = e;
    plan->path = program;
    plan->argc = nargs + 1;
    plan->argv = calloc((size_t)nargs + 2, sizeof *plan->argv);
    if (!plan->argv)
        fail(EX_SETUP, "out of memory");
    plan->argv[0] = (char *)program;
    for (int i = 0; i < nargs; i++)
        plan->argv[i + 1] = args[i];

    /* PATH-searched entries find the program by its base name in its dir. */
    char *dir = dup_or_die(program);
    char *slash = strrchr(dir, '/');
    if (!slash)
        fail(EX_USAGE, "program must be a path: %s", program);
    *slash = '\0';
    plan->name = slash + 1;
    plan->relname = slash + 1;
    /* A service may start with no PATH at all: then the default search. */
    const char *old_path = getenv("PATH");
    if (!old_path)
        old_path = "/usr/bin:/bin";
    char *path = malloc(strlen(dir) + strlen(old_path) + 3);
    if (!path)
        fail(EX_SETUP, "out of memory");
    sprintf(path, "%s:%s", *dir ? dir : "/", old_path);
    if (setenv("PATH", path, 1) != 0)
        fail(EX_SETUP, "setenv PATH: %s", strerror(errno));

    /* The probe prints HARNESS_MARK: for entries with an envp, only that envp
     * carries it, so seeing it proves the envp argument was passed on. */
    char mark[64];
    snprintf(mark, sizeof mark, "HARNESS_MARK=%s", entry_name(e));
    if (entry_takes_envp(e)) {
        unsetenv("HARNESS_MARK");
        plan->envp = envp_with_mark(mark);
    } else {
        setenv("HARNESS_MARK", entry_name(e), 1);
        plan->envp = environ;
    }

    plan->fd = open(program, O_RDONLY | O_CLOEXEC);
    if (plan->fd < 0)
        fail(EX_SETUP, "open %s: %s", program, strerror(errno));
    plan->dirfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (plan->dirfd < 0)
        fail(EX_SETUP, "open %s: %s", dir, strerror(errno));
    plan->command = shell_command(plan->argv);
}

int plan_exec(const struct plan *p)
{
    const struct exec_target target = {
        .path = p->path,
        .name = p->name,
        .argv = p->argv,
        .argc = p->argc,
        .envp = p->envp,
        .fd = p->fd,
        .dirfd = p->dirfd,
        .relname = p->relname,
    };
    return exec_entry(p->entry, &target);
}

static int forward_popen(const struct plan *p, int *status)
{
    FILE *f = popen(p->command, "r");
    if (!f)
        return errno;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    int st = pclose(f);
    if (st == -1)
        return errno;
    *status = st;
    return 0;
}

static int wait_child(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

int plan_spawn(const struct plan *p, int *status)
{
    pid_t pid;
    int err;
    switch (p->entry) {
    case E_POSIX_SPAWN:
        err = posix_spawn(&pid, p->path, NULL, NULL, p->argv, p->envp);
        return err ? err : wait_child(pid, status);
    case E_POSIX_SPAWNP:
        err = posix_spawnp(&pid, p->name, NULL, NULL, p->argv, p->envp);
        return err ? err : wait_child(pid, status);
    case E_SYSTEM:
        *status = system(p->command);
        return *status == -1 ? errno : 0;
    case E_POPEN:
        return forward_popen(p, status);
    default:
        return EINVAL;
    }
}

