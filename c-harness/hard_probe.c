/* hard_probe [--keep N]... [--leak fd.N]... [anything else, ignored]
 *
 * The hardening programs' child: checks that every --keep fd is open and
 * that no --leak fd is, then exits (codes in hard_util.h):
 *   0  all as expected
 *   40 a --keep fd is missing          (first one named on stderr)
 *   41 a --leak fd is open             (first one named on stderr)
 *   42 bad command line
 * Arguments it does not know are ignored, so a parent can pad argv (huge or
 * non-UTF-8 arguments, more than 1024 of them).
 *
 * With no arguments at all (argc <= 1: execve with argv == NULL gives the
 * program one empty argv[0]), the fixed plan is: --keep 100 --leak fd.120.
 *
 * Linked statically: LD_PRELOAD never loads into it, so it only observes,
 * and it starts in microseconds (the load test runs it thousands of times).
 * It allocates nothing and uses no stdio. */
#include "hard_util.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* N or fd.N (see hfdname in hard_util.h). */
static int parse_fd(const char *s, int *out)
{
    long v = 0;
    if (strncmp(s, "fd.", 3) == 0)
        s += 3;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = (int)v;
    return 0;
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void complain(const char *what, int fd)
{
    char num[24], msg[96];
    msg[0] = 0;
    strcat(msg, "hard_probe: ");
    strcat(msg, what);
    strcat(msg, " fd ");
    strcat(msg, hitoa(fd, num));
    strcat(msg, "\n");
    hwrite_str(2, msg);
}

int main(int argc, char **argv)
{
    if (argc <= 1) {
        if (!is_open(100)) {
            complain("missing kept", 100);
            return HP_KEEP_MISSING;
        }
        if (is_open(120)) {
            complain("leaked", 120);
            return HP_LEAK_OPEN;
        }
        return HP_OK;
    }
    int leak_seen = -1;
    for (int i = 1; i < argc; i++) {
        int keep = strcmp(argv[i], "--keep") == 0;
        int leak = strcmp(argv[i], "--leak") == 0;
        if (!keep && !leak)
            continue;
        int fd;
        if (i + 1 >= argc || parse_fd(argv[++i], &fd) != 0)
            return HP_USAGE;
        if (keep && !is_open(fd)) {
            complain("missing kept", fd);
            return HP_KEEP_MISSING;
        }
        if (leak && leak_seen < 0 && is_open(fd))
            leak_seen = fd;
    }
    if (leak_seen >= 0) {
        complain("leaked", leak_seen);
        return HP_LEAK_OPEN;
    }
    return HP_OK;
}
