//! `flock lockf lockf64`, and the lock commands of `fcntl`: forwarded with
//! the caller's exact arguments, and watched for K9. A lock taken through
//! an fd records that fd with the identity of its file (one `fstat`); an
//! unlock drops the record. Nothing here touches `errno`.

use core::ffi::{c_int, c_void};

use super::{FAILED, forward};
use crate::state::Global;
use crate::{real, registry, sys};

/// The process took a lock through `fd`: remember which file it is, if an
/// exec in this process will ever ask.
fn locked(fd: c_int) {
    if !Global::records_intent() {
        return;
    }
    if let Ok(id) = sys::fstat_id(fd)
        && registry::record_lock(fd, id) == registry::Recorded::Beyond
    {
        log::debug!(
            "fd {fd}: lock not recorded (the table is full beyond {}); every fd from {} up is kept",
            registry::LOCK_CAPACITY,
            registry::LOCK_CAPACITY
        );
    }
}

/// # Safety
/// As flock(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn flock(fd: c_int, operation: c_int) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::flock, FAILED, |f| unsafe { f(fd, operation) });
    if ret == 0 {
        if operation & libc::LOCK_UN != 0 {
            registry::clear_lock(fd);
        } else if operation & (libc::LOCK_SH | libc::LOCK_EX) != 0 {
            locked(fd);
        }
    }
    ret
}

/// `lockf`/`lockf64` after a successful call.
fn after_lockf(fd: c_int, cmd: c_int) {
    match cmd {
        libc::F_LOCK | libc::F_TLOCK => locked(fd),
        libc::F_ULOCK => registry::clear_lock(fd),
        _ => {}
    }
}

/// # Safety
/// As lockf(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lockf(fd: c_int, cmd: c_int, len: libc::off_t) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::lockf, FAILED, |f| unsafe { f(fd, cmd, len) });
    if ret == 0 {
        after_lockf(fd, cmd);
    }
    ret
}

/// # Safety
/// As lockf64(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lockf64(fd: c_int, cmd: c_int, len: libc::off64_t) -> c_int {
    // SAFETY: forwarding the caller's arguments unchanged.
    let ret = forward(real::lockf64, FAILED, |f| unsafe { f(fd, cmd, len) });
    if ret == 0 {
        after_lockf(fd, cmd);
    }
    ret
}

/// Whether an `fcntl` command sets or clears a record or OFD lock.
pub(super) fn is_lock_command(cmd: c_int) -> bool {
    matches!(
        cmd,
        libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_SETLK | libc::F_OFD_SETLKW
    )
}

/// After a successful `fcntl` lock command: a read or write lock records,
/// an unlock drops.
///
/// # Safety
/// `arg` is the `struct flock *` the caller passed, and the real call
/// succeeded with it, so it points at a readable `struct flock`.
pub(super) unsafe fn after_fcntl_lock(fd: c_int, arg: *mut c_void) {
    if arg.is_null() {
        return;
    }
    // SAFETY: see the function's contract; `l_type` is read, nothing written.
    let kind = c_int::from(unsafe { (*arg.cast::<libc::flock>()).l_type });
    match kind {
        libc::F_RDLCK | libc::F_WRLCK => locked(fd),
        libc::F_UNLCK => registry::clear_lock(fd),
        _ => {}
    }
}
