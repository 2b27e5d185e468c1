/* Shared by the harness programs: output lines, fd descriptions, exit codes.
 *
 * Every program writes its report lines with one write(2) each (say()), so no
 * stdio buffer is ever lost across an exec and lines from a parent and its
 * child never interleave mid-line. */
#ifndef CLOEXEC_HARNESS_COMMON_H
#define CLOEXEC_HARNESS_COMMON_H

#include <stdarg.h>
#include <stddef.h>

/* Exit codes. Each failed check has its own code, so the Rust test knows which
 * check failed even when the failing process could not print anything. The
 * same table is in c-harness/README.md. */
enum harness_exit {
    EX_OK = 0,
    EX_USAGE = 2,            /* bad command line */
    EX_SETUP = 3,            /* could not open the leak set or prepare the plan */
    EX_EXEC_RETURNED = 4,    /* an exec that should have worked returned */
    EX_CHILD = 5,            /* a spawned/forked child exited non-zero or by a signal */
    EX_SPAWN = 6,            /* posix_spawn/system/popen/fork/vfork itself failed */
    EX_ERRNO_ENOENT = 10,    /* --fail-first: missing program gave the wrong result/errno */
    EX_ERRNO_EACCES = 11,    /* --fail-first: non-executable file gave the wrong result/errno */
    EX_ERRNO_EBADF = 12,     /* --fail-first: fexecve on a closed fd gave the wrong result/errno */
    EX_FD_LOST = 13,         /* --fail-first: a leaked fd is no longer open after the failed exec */
    EX_FD_UNUSABLE = 14,     /* --fail-first: a leaked fd is open but I/O through it fails */
    EX_SECCOMP = 20,         /* --seccomp-close-range: installing the filter failed */
    EX_SECCOMP_VERIFY = 21,  /* --seccomp-close-range: close_range was not blocked as asked */
    EX_FILL = 22,            /* --fill-fds: setrlimit or filling the table failed */
    EX_FILL_VERIFY = 23,     /* --fill-fds: an open() still succeeded (no EMFILE) */
    EX_PROBE_OUT = 30,       /* probe: cannot write its report */
    EX_SKIP = 77,            /* noproc: facility unavailable (reason on stderr) */
};

/* Writes prefix, the formatted message and a '\n' to fd with one write(2)
 * (retried only if interrupted or short); at most 8190 bytes before the '\n'.
 * Under say() and fail(). */
void vsay_fd(int fd, const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Writes one formatted line (a '\n' is appended) to fd 1 with one write(2). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "FAIL <code>: <message>" on stderr and exits with code. */
void fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Describes fd into buf: its /proc/self/fd/N link if /proc is there,
 * else "<type>:[<dev>:<ino>]" from fstat (type: reg dir chr blk fifo sock lnk anon).
 * Needs no new fd, so it works when the fd table is full. Returns buf. */
const char *describe_fd(int fd, char *buf, size_t len);

/* The highest fd count any scan here walks to (a container may set
 * nofile = 1073741816; the leaky parent lowers such a limit to 65536). */
#define SCAN_CAP (1 << 20)

/* Soft RLIMIT_NOFILE, at most SCAN_CAP; 1024 if it cannot be read. */
int soft_nofile(void);

/* A wait status as one number: the exit code, or 128 + signal (255 if
 * neither). */
int status_code(int status);

/* Name of an errno value for report lines ("ENOENT", "E2BIG", ...; "0" for 0;
 * "E<n>" otherwise, in a static buffer: not thread-safe for those). */
const char *errno_name(int err);

#endif
