/* close_range(2) for the harness, the hardening programs and the bench: the
 * bare system call, and a seccomp filter that makes it fail. Only libc and
 * kernel UAPI headers, so bench/ links close_range.c too. */
#ifndef CLOEXEC_HARNESS_CLOSE_RANGE_H
#define CLOEXEC_HARNESS_CLOSE_RANGE_H

/* close_range(lo, hi, CLOSE_RANGE_CLOEXEC) through syscall(2), never glibc's
 * wrapper or closefrom() (the library does not wrap syscall()): returns 0
 * or -errno. */
long raw_close_range_cloexec(unsigned lo, unsigned hi);

/* Sets PR_SET_NO_NEW_PRIVS, then installs a seccomp filter under which
 * close_range fails with `err` (native architecture; every other call, and
 * every call of another architecture, is allowed). The filter is inherited
 * across fork and exec. Returns 0, or an errno with *what naming the step
 * that failed ("PR_SET_NO_NEW_PRIVS" or "SECCOMP_SET_MODE_FILTER"). Checks
 * nothing: the caller decides what blocked enough means. */
int install_close_range_filter(int err, const char **what);

#endif
