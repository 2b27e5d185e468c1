//! The calls that make and close fds: forwarded with the caller's exact
//! arguments, and, in a fork child only, reported to `child` (K11–K13).
//! Everywhere else each costs one load and one branch beside the real call.
//!
//! - made: `open open64 openat openat64` (naked trampolines in
//!   `trampolines`, C bodies for their variadic mode), `__open_2` and kin
//!   (what `_FORTIFY_SOURCE` calls), `creat creat64 pipe pipe2 socket
//!   socketpair accept accept4 dup`; `dup2`, `dup3` and `fcntl(F_DUPFD)` in
//!   `intent`;
//! - closed: `close`, `close_range`, `closefrom`.
//!
//! No raw call here touches `errno`, so the caller sees the real call's.

use core::ffi::{c_char, c_int, c_uint};

use super::{FAILED, forward};
use crate::{child, real};

/// Hooks whose result is the new fd.
macro_rules! makes_one {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: the new fd is reported in a fork child.")]
            ///
            /// # Safety
            #[doc = concat!("As libc's `", stringify!($name), "`.")]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
                // SAFETY: forwarding the caller's arguments unchanged.
                let fd = forward(real::$name, FAILED, |f| unsafe { f($($arg),*) });
                if fd >= 0 {
                    child::made(fd);
                }
                fd
            }
        )*
    };
}

makes_one! {
    __open_2(path: *const c_char, flags: c_int);
    __open64_2(path: *const c_char, flags: c_int);
    __openat_2(dirfd: c_int, path: *const c_char, flags: c_int);
    __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int);
    creat(path: *const c_char, mode: libc::mode_t);
    creat64(path: *const c_char, mode: libc::mode_t);
    socket(domain: c_int, kind: c_int, protocol: c_int);
    accept(fd: c_int, addr: *mut libc::sockaddr, len: *mut libc::socklen_t);
    accept4(fd: c_int, addr: *mut libc::sockaddr, len: *mut libc::socklen_t, flags: c_int);
    dup(fd: c_int);
}

/// Reports both fds of a successful `pipe`/`socketpair`.
///
/// # Safety
/// `fds` points at the two ints the real call just filled.
unsafe fn made_two(fds: *const c_int) {
    // SAFETY: the function's contract.
    let (a, b) = unsafe { (*fds, *fds.add(1)) };
    child::made(a);
    child::made(b);
}

/// # Safety
/// As pipe(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::pipe, FAILED, |f| unsafe { f(fds) });
    if ret == 0 && child::in_fork_child() {
        // SAFETY: pipe succeeded, so it filled `fds[0..2]`.
        unsafe { made_two(fds) };
    }
    ret
}

/// # Safety
/// As pipe2(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::pipe2, FAILED, |f| unsafe { f(fds, flags) });
    if ret == 0 && child::in_fork_child() {
        // SAFETY: pipe2 succeeded, so it filled `fds[0..2]`.
        unsafe { made_two(fds) };
    }
    ret
}

/// # Safety
/// As socketpair(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    kind: c_int,
    protocol: c_int,
    fds: *mut c_int,
) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::socketpair, FAILED, |f| unsafe {
        f(domain, kind, protocol, fds)
    });
    if ret == 0 && child::in_fork_child() {
        // SAFETY: socketpair succeeded, so it filled `fds[0..2]`.
        unsafe { made_two(fds) };
    }
    ret
}

/// Which of the four `open` symbols the C shim was entered through.
const OPEN: c_int = 0;
const OPEN64: c_int = 1;
const OPENAT: c_int = 2;

/// The Rust half of `open`, `open64`, `openat` and `openat64`
/// (`src/variadic.c` reads the mode when the flags call for one). Not API.
///
/// # Safety
/// As open(2) or openat(2); `dirfd` is ignored for `open`/`open64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cloexec_internal_open(
    which: c_int,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    // The mode goes on as the variadic argument libc reads only when the
    // flags call for it.
    let fd = match which {
        // SAFETY: forwarding the caller's arguments unchanged.
        OPEN => forward(real::open, FAILED, |f| unsafe { f(path, flags, mode) }),
        // SAFETY: forwarding the caller's arguments unchanged.
        OPEN64 => forward(real::open64, FAILED, |f| unsafe { f(path, flags, mode) }),
        // SAFETY: forwarding the caller's arguments unchanged.
        OPENAT => forward(real::openat, FAILED, |f| unsafe {
            f(dirfd, path, flags, mode)
        }),
        // SAFETY: forwarding the caller's arguments unchanged.
        _ => forward(real::openat64, FAILED, |f| unsafe {
            f(dirfd, path, flags, mode)
        }),
    };
    if fd >= 0 {
        child::made(fd);
    }
    fd
}

/// # Safety
/// As close(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    child::closing(fd);
    // SAFETY: forwarding the caller's argument unchanged.
    forward(real::close, FAILED, |f| unsafe { f(fd) })
}

/// # Safety
/// As close_range(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    child::closing_range();
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::close_range, FAILED, |f| unsafe {
        f(first, last, flags)
    })
}

/// # Safety
/// As closefrom(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(lowfd: c_int) {
    child::closing_range();
    // SAFETY: forwarding the caller's argument unchanged.
    forward(real::closefrom, (), |f| unsafe { f(lowfd) })
}
