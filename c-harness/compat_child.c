/* compat_child: a child of the compatibility matrix (tests/compat_c.rs) that
 * learns its channel's fd number one way and writes to it, then execs the
 * rest of its command line (normally the static probe, which reports every
 * fd that arrived).
 *
 *   compat_child --fd=N -- PROGRAM [ARGS...]      the number in an option
 *   compat_child R:W -- PROGRAM [ARGS...]         two numbers, writes to W
 *                                                 (jspawnhelper's shape)
 *   compat_child --env=NAME -- PROGRAM [ARGS...]  the number in $NAME
 *
 * Writes `ok SHAPE` and a newline to the fd; if that fails, exits 3 with a
 * FAIL line. Statically linked, like the probe: it only observes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* The decimal number at s up to stop (or the end); exits on anything else. */
static int parse_number(const char *s, char stop)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || (*end && *end != stop) || v < 0 || v > 1 << 30)
        fail(EX_USAGE, "bad fd number in %s", s);
    return (int)v;
}

/* The fd the shape names, and the shape's name in shape_out. */
static int told_fd(const char *arg, const char **shape)
{
    const char *colon = strchr(arg, ':');

    if (strncmp(arg, "--fd=", 5) == 0) {
        *shape = "option";
        return parse_number(arg + 5, '\0');
    }
    if (strncmp(arg, "--env=", 6) == 0) {
        const char *value = getenv(arg + 6);
        if (!value)
            fail(EX_USAGE, "%s is not set", arg + 6);
        *shape = "env";
        return parse_number(value, '\0');
    }
    if (colon) {
        parse_number(arg, ':');
        *shape = "pair";
        return parse_number(colon + 1, '\0');
    }
    fail(EX_USAGE, "usage: compat_child --fd=N|R:W|--env=NAME -- PROGRAM [ARGS...]");
}

int main(int argc, char **argv)
{
    const char *shape = "";

    if (argc < 4 || strcmp(argv[2], "--") != 0)
        fail(EX_USAGE, "usage: compat_child --fd=N|R:W|--env=NAME -- PROGRAM [ARGS...]");
    int fd = told_fd(argv[1], &shape);
    char line[64];
    size_t len = strlen(strcpy(line, "ok ")) + strlen(shape);
    strcat(line, shape);
    strcat(line, "\n");
    if (write(fd, line, len + 1) != (ssize_t)(len + 1))
        fail(EX_SETUP, "write to fd %d: %s", fd, strerror(errno));
    execv(argv[3], argv + 3);
    fail(EX_EXEC_RETURNED, "exec %s: %s", argv[3], strerror(errno));
}
