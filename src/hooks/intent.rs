//! `dup2 dup3 fcntl fcntl64 ioctl`: forwarded with the caller's exact
//! arguments, and watched for K4 intent (and, for `fcntl`'s lock commands,
//! K9 in `locks`; a fork child's copies, K13, in `child`). The path that records nothing costs
//! one compare and a jump; the recording path adds one `fstat`. No raw call
//! here touches `errno`, so the caller sees the real call's.

use core::ffi::{c_int, c_ulong, c_void};

use super::{FAILED, forward, locks};
use crate::state::Global;
use crate::{child, real, registry, sys};

/// The latest act made `fd` inheritable on purpose: remember which file it
/// is, if an exec in this process will ever ask.
fn record(fd: c_int) {
    if !Global::records_intent() {
        return;
    }
    if let Ok(id) = sys::fstat_id(fd)
        && registry::record_intent(fd, id) == registry::Recorded::Beyond
    {
        log::debug!(
            "fd {fd}: intent not recorded (the table is full beyond {}); every fd from {} up is kept",
            registry::INTENT_CAPACITY,
            registry::INTENT_CAPACITY
        );
    }
}

/// `dup2` when `oldfd != newfd`, reached through the `dup2` trampoline
/// (`dup2(fd, fd)` changes nothing, not even `FD_CLOEXEC`, so the
/// trampoline sends it straight to libc).
///
/// # Safety
/// As dup2(2).
pub(super) unsafe extern "C" fn dup2_recording(oldfd: c_int, newfd: c_int) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::dup2, FAILED, |f| unsafe { f(oldfd, newfd) });
    if ret >= 0 && oldfd != newfd {
        record(newfd);
        child::made(newfd);
    }
    ret
}

/// # Safety
/// As dup3(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::dup3, FAILED, |f| unsafe { f(oldfd, newfd, flags) });
    if ret >= 0 {
        if flags & libc::O_CLOEXEC != 0 {
            registry::clear_intent(newfd);
        } else {
            record(newfd);
        }
        child::made(newfd);
    }
    ret
}

/// `fcntl`/`fcntl64` after the real call: `F_SETFD` is the only act of
/// intent; the lock commands go to `locks`.
fn after_fcntl(fd: c_int, cmd: c_int, arg: *mut c_void, ret: c_int) {
    if ret == -1 {
        return;
    }
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        child::made(ret);
    } else if cmd == libc::F_SETFD {
        if (arg as usize as c_int) & libc::FD_CLOEXEC == 0 {
            record(fd);
        } else {
            registry::clear_intent(fd);
        }
    } else if locks::is_lock_command(cmd) {
        // SAFETY: for a lock command the caller passed a `struct flock *`,
        // and the real call just succeeded with it.
        unsafe { locks::after_fcntl_lock(fd, arg) };
    }
}

/// Which of the two `fcntl` symbols the C shim was entered through.
const FCNTL64: c_int = 1;

/// The Rust half of `fcntl` and `fcntl64` (`src/variadic.c` reads the
/// variadic argument). Not API.
///
/// # Safety
/// As fcntl(2): `arg` is what the caller passed for `cmd`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cloexec_internal_fcntl(
    which: c_int,
    fd: c_int,
    cmd: c_int,
    arg: *mut c_void,
) -> c_int {
    let real = if which == FCNTL64 {
        real::fcntl64
    } else {
        real::fcntl
    };
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real, FAILED, |f| unsafe { f(fd, cmd, arg) });
    after_fcntl(fd, cmd, arg, ret);
    ret
}

/// The Rust half of `ioctl`. Not API.
///
/// # Safety
/// As ioctl(2): `arg` is what the caller passed for `request`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cloexec_internal_ioctl(
    fd: c_int,
    request: c_ulong,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::ioctl, FAILED, |f| unsafe { f(fd, request, arg) });
    // The kernel compares the low 32 bits of the request.
    match request as u32 {
        r if r == libc::FIONCLEX as u32 && ret == 0 => record(fd),
        r if r == libc::FIOCLEX as u32 && ret == 0 => registry::clear_intent(fd),
        _ => {}
    }
    ret
}
