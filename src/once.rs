//! [`InitCell`]: a value written once, then read by any thread without
//! locking. Its own module because it is the one piece of the load-time
//! state that needs `unsafe` (an `UnsafeCell` published by an atomic).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

/// A value written once, then read by any thread without locking.
pub struct InitCell<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

const EMPTY: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;

// SAFETY: the value is written once, before READY is published with
// Release; readers see READY with Acquire and only ever read.
unsafe impl<T: Sync> Sync for InitCell<T> {}

impl<T> InitCell<T> {
    pub const fn new() -> Self {
        InitCell {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, once published.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) != READY {
            return None;
        }
        // SAFETY: READY means the value was fully written and never changes.
        Some(unsafe { (*self.value.get()).assume_init_ref() })
    }

    /// Runs `make` and publishes its value, unless another call has
    /// started to (or did). Returns the value only to the call that made it,
    /// so that call can finish the work that needs it published.
    pub fn init_once(&self, make: impl FnOnce() -> T) -> Option<&T> {
        self.state
            .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        let value = make();
        // SAFETY: the compare-exchange above moved EMPTY to BUSY for this
        // call alone: nobody else writes, and nobody reads before READY is
        // published below.
        let stored = unsafe { (*self.value.get()).write(value) };
        self.state.store(READY, Ordering::Release);
        Some(stored)
    }
}

impl<T> Default for InitCell<T> {
    fn default() -> Self {
        Self::new()
    }
}
