/* Shared by the hardening programs (hard_*.c): the hard_probe exit codes and
 * tallies of them, waiting, temporary files and limits. Report lines, fatal
 * errors and errno names are common.h's say(), fail() and errno_name(). */
#ifndef CLOEXEC_HARD_UTIL_H
#define CLOEXEC_HARD_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* hard_probe's exit codes; the parents count children by them. */
enum hard_probe_exit {
    HP_OK = 0,
    HP_KEEP_MISSING = 40, /* a --keep fd is not open */
    HP_LEAK_OPEN = 41,    /* a --leak fd is open */
    HP_USAGE = 42,        /* bad command line */
};

/* Exit codes of the hardening parents. */
enum hard_exit {
    HX_OK = 0,
    HX_FAILED = 1,       /* a check failed (lines on stdout say which) */
    HX_USAGE = 2,        /* bad command line */
    HX_SETUP = 3,        /* could not prepare files, fds or limits */
    HX_TIMEOUT = 4,      /* the run's own deadline passed (a hang) */
    HX_EXEC_FAILED = 50, /* a child's exec that should have worked returned */
    HX_SKIP = 77,        /* facility unavailable (reason on stdout) */
};

/* Writes a string with one write(2); async-signal-safe. */
void hwrite_str(int fd, const char *s);

/* Formats a non-negative number into buf (at least 24 bytes); async-signal-safe. */
char *hitoa(long v, char *buf);

/* Formats fd as "fd.N" into buf (at least 28 bytes): how hard_probe is told a
 * --leak fd. A plain number in an argument names that fd to the library (the
 * K5 keep rule), which would keep the very leak the test looks for; "fd.N" is
 * one word, not a number. Async-signal-safe. */
char *hfdname(long fd, char *buf);

/* waitpid(pid) with a deadline in seconds; on timeout kills pid with
 * SIGKILL, reaps it, and returns -1. Otherwise returns status_code() (common.h). */
int hwait(pid_t pid, int seconds);

/* Makes dir (created, mode 0700) hold a path: returns a malloc'd "dir/name". */
char *hpath(const char *dir, const char *name);

/* Creates (or truncates) path with content and mode. Exits HX_SETUP on error. */
void hwrite_file(const char *path, const void *data, size_t len, int mode);

/* Opens path read-only *without* O_CLOEXEC: a leak. Exits HX_SETUP on error. */
int hopen_leak(const char *path);

/* Children of hard_probe, counted by how they ended. */
struct htally {
    int runs, ok, missing, leaked, other;
};

/* Counts run i of `kind`, which ended with code (hard_probe's exit code,
 * or -1: hwait's timeout). The first 20 failures of the whole program are
 * listed as "fail KIND I code C" (" (timeout)" after a -1). */
void htally_add(struct htally *t, const char *kind, int i, int code);

/* "TEST KIND runs N ok A missing B leaked C other D". Returns 1 if a run
 * was not ok, else 0. */
int htally_say(const char *test, const char *kind, const struct htally *t);

/* Creates a fresh directory $TMPDIR/NAME-XXXXXX (/tmp if TMPDIR is unset or
 * empty): returns its malloc'd path. Exits HX_SETUP on error. */
char *htempdir(const char *name);

/* Soft RLIMIT_STACK to 8 MiB (or the hard limit, if lower), so that ARG_MAX,
 * a quarter of it at exec, is 2 MiB everywhere. Failures are ignored. */
void hstack_8mib(void);

/* Moves fd to exactly `at` with F_DUPFD (not an act of intent: README, keep rule K4),
 * closing the original. Exits HX_SETUP if `at` was taken. */
int hmove_fd(int fd, int at);

#endif
