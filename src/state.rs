//! The process-wide state, set once by the constructor: the settings, the
//! pass-through decision, and (through `registry`) the inherited snapshot.

use core::cell::UnsafeCell;
use core::ffi::c_char;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::settings::{BadParts, Mode, NameList, Policy, SETTING_COUNT, Setting, Settings};
use crate::sys::Errno;
use crate::{logger, policy, real, registry, sys};

/// What the hooks consult.
pub struct Global {
    pub settings: Settings,
    /// The basenames this process's program goes by: of `AT_EXECFN` and of
    /// `argv[0]` (K7, K10). Copied at load: a program may overwrite its
    /// `argv[0]` later (setproctitle).
    pub own_program: NameList,
    /// K7: this program never leaks by accident; nothing is swept.
    pub passthrough: bool,
    /// Whether an exec here consults what the process did with its fds
    /// (K3, K4): the smart policy, sweeping or auditing, in a program that
    /// is not pass-through. Otherwise neither the snapshot nor intent
    /// records are made: bash would pay an `fstat` per redirection for
    /// records nobody reads.
    pub uses_history: bool,
}

impl Global {
    /// Whether K4 intent should be recorded now. Before the constructor has
    /// run the settings are unknown, so record.
    pub fn records_intent() -> bool {
        get().is_none_or(|g| g.uses_history)
    }
}

/// A value written once, then read by any thread without locking.
struct InitCell<T> {
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
    const fn new() -> Self {
        InitCell {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) != READY {
            return None;
        }
        // SAFETY: READY means the value was fully written and never changes.
        Some(unsafe { (*self.value.get()).assume_init_ref() })
    }

    /// Claims the right to initialise; false if someone else has it.
    fn claim(&self) -> bool {
        self.state
            .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Publishes the value. Only the claimant calls this, once.
    fn publish(&self, value: T) -> &T {
        // SAFETY: we hold the claim, so nobody else writes, and nobody reads
        // before READY is published below.
        let stored = unsafe { (*self.value.get()).write(value) };
        self.state.store(READY, Ordering::Release);
        stored
    }
}

static GLOBAL: InitCell<Global> = InitCell::new();

/// The state, once the constructor has run.
pub fn get() -> Option<&'static Global> {
    GLOBAL.get()
}

/// Runs the load-time work unless it has run or is running. Idempotent.
pub fn ensure_init() {
    if GLOBAL.get().is_none() && GLOBAL.claim() {
        init();
    }
}

unsafe extern "C" {
    static environ: *const *const c_char;
}

/// The process environment, as `NAME=VALUE` byte slices.
pub fn environment() -> CStrArray {
    // SAFETY: reading the pointer value of libc's `environ`; it is either
    // NULL or a NULL-terminated array of C strings.
    CStrArray(unsafe { environ })
}

/// A borrowed, NULL-terminated array of C strings (argv, envp); a NULL
/// array is empty.
#[derive(Clone, Copy)]
pub struct CStrArray(pub *const *const c_char);

impl CStrArray {
    pub fn iter(self) -> impl Iterator<Item = &'static [u8]> {
        let mut next = self.0;
        core::iter::from_fn(move || {
            if next.is_null() {
                return None;
            }
            // SAFETY: `next` points into a NULL-terminated array that the
            // caller of the hook passed (or `environ`), which outlives the
            // hook; we never step past the NULL entry.
            let entry = unsafe { *next };
            if entry.is_null() {
                next = core::ptr::null();
                return None;
            }
            // SAFETY: as above; each entry is a NUL-terminated string.
            next = unsafe { next.add(1) };
            // SAFETY: `entry` is a NUL-terminated C string.
            Some(unsafe { core::ffi::CStr::from_ptr(entry) }.to_bytes())
        })
    }
}

/// The load-time work: resolve symbols, read settings, decide pass-through,
/// snapshot inherited fds, install the logger, report bad settings.
fn init() {
    // SAFETY: reading this thread's errno slot; dlsym may change errno and
    // the host program must not notice that we loaded.
    let saved_errno = unsafe { *libc::__errno_location() };
    real::resolve_all();

    let mut bad: [(Option<Setting>, BadParts<'static>); SETTING_COUNT] =
        [(None, BadParts::new()); SETTING_COUNT];
    let mut bad_count = 0;
    let settings = Settings::from_env(
        environment().iter(),
        sys::secure_execution(),
        &mut |var, parts| {
            if let Some(slot) = bad.get_mut(bad_count) {
                *slot = (Some(var), *parts);
                bad_count += 1;
            }
        },
    );

    let own_program = own_program_names();
    let passthrough = settings.policy == Policy::Smart
        && own_program
            .iter()
            .any(|name| settings.passthrough.contains(name));
    let uses_history =
        settings.mode != Mode::Off && settings.policy == Policy::Smart && !passthrough;
    if uses_history {
        snapshot_inherited();
    }
    let global = GLOBAL.publish(Global {
        settings,
        own_program,
        passthrough,
        uses_history,
    });
    logger::install_if_chatty(global.settings.log_level);
    if bad_count > 0 {
        logger::ensure_installed();
    }

    for (var, parts) in bad.iter().take(bad_count) {
        if let Some(var) = var {
            log::warn!("{}: ignoring {}", var.name(), logger::BadList(parts));
        }
    }
    // SAFETY: restoring this thread's errno.
    unsafe { *libc::__errno_location() = saved_errno };
}

unsafe extern "C" {
    /// glibc's copy of `argv[0]`, set before any library constructor runs.
    static program_invocation_name: *const c_char;
}

/// The basenames of `AT_EXECFN`, the file the kernel was asked to run,
/// and of `argv[0]`, read once without touching `/proc` (the first access
/// to `/proc/<pid>` costs a process some 30 µs, mostly at exit). For a `#!`
/// script the kernel sets `argv[0]` to the interpreter named in the script
/// (`/bin/bash`), while `AT_EXECFN` names the script; a login shell's
/// `argv[0]` is `-bash`. K7 asks whether either is a pass-through program,
/// K10 whether an exec starts either again.
fn own_program_names() -> NameList {
    let mut names = NameList::new();
    if let Some(exec_fn) = sys::exec_fn() {
        let base = policy::basename(exec_fn.to_bytes());
        if !base.is_empty() {
            names.push(base);
        }
    }
    // SAFETY: reading glibc's pointer to argv[0]: NULL or a C string that
    // lives as long as the process.
    let argv0 = unsafe { program_invocation_name };
    // SAFETY: as above; checked for NULL first.
    let argv0 = (!argv0.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(argv0) }.to_bytes());
    if let Some(argv0) = argv0.map(|a| a.strip_prefix(b"-").unwrap_or(a)) {
        let base = policy::basename(argv0);
        if !base.is_empty() && !names.contains(base) {
            names.push(base);
        }
    }
    names
}

/// The snapshot covers fds below this number: one `ppoll` over them (no
/// `/proc`), about 12 ns a number, paid by every process at start. Chosen by
/// measurement (`make bench`): 1024 cost 17 µs a process start, 256 about
/// 4 µs. An fd inherited at or above it is not recorded, so it is swept
/// unless another rule (K2, K4–K6) keeps it. Shells hand out 3–255 (bash
/// `exec {fd}>` starts at 10, `<(…)` counts down from 63).
pub const SNAPSHOT_WINDOW: usize = 256;

/// K3: records every fd below [`SNAPSHOT_WINDOW`] (and the soft
/// `RLIMIT_NOFILE`) open now, with its identity: one `ppoll` to find them,
/// one `fstat` each.
fn snapshot_inherited() {
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; SNAPSHOT_WINDOW];
    for (slot, fd) in fds.iter_mut().zip(0..) {
        slot.fd = fd;
    }
    let mut window = fds.get_mut(3..).unwrap_or(&mut []);
    // ppoll refuses more entries than the soft RLIMIT_NOFILE (EINVAL); only
    // then is the limit worth a system call of its own.
    if sys::poll_now(window) == Err(Errno::EINVAL) {
        let limit = sys::nofile_soft_limit().map_or(0, |n| n.min(SNAPSHOT_WINDOW as u64) as usize);
        window = window.get_mut(..limit.saturating_sub(3)).unwrap_or(&mut []);
        if sys::poll_now(window).is_err() {
            return;
        }
    }
    for slot in window.iter().filter(|s| s.revents & libc::POLLNVAL == 0) {
        if let Ok(id) = sys::fstat_id(slot.fd) {
            registry::add_inherited(slot.fd, id);
        }
    }
}
