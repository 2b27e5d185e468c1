//! The exported symbols, and the constructor. Each hook reads as four steps: record or decide,
//! sweep, call the real function, keep its errno. The real work lives in
//! `guard` (exec path), `intent` (K4 records) and `locks` (K9 records).

mod exec;
mod fds;
mod intent;
mod locks;
mod spawn;
mod trampolines;

use core::ffi::c_int;

use crate::{ffi, real, state};

/// The constructor: the load-time work (see `state`). The loader calls it
/// as it would an exported symbol, so it lives with them.
#[ctor::ctor(unsafe)]
fn load() {
    state::ensure_init();
}

/// Calls the real function if libc has it; otherwise fails like it would,
/// with `errno = ENOSYS` and `failure` as the result. A hook that runs
/// before our constructor (another library's constructor ran first) runs
/// the load-time work now, as the constructor would.
fn forward<F, R>(real: fn() -> Option<F>, failure: R, call: impl FnOnce(F) -> R) -> R {
    if !real::resolved() {
        state::ensure_init();
    }
    match real() {
        Some(f) => call(f),
        None => {
            ffi::set_errno(libc::ENOSYS);
            failure
        }
    }
}

/// The `-1` of a failed call that reports through `errno`.
const FAILED: c_int = -1;
