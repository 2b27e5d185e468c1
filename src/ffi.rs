//! C's data, read from Rust: C strings, NULL-terminated string arrays,
//! libc's globals (`environ`, `program_invocation_name`), `errno`, and
//! `abort`.
//!
//! The one home for reading memory that C hands us. A hook turns each raw
//! pointer it receives into a [`CStrPtr`] or [`CStrArray`] (an `unsafe`
//! constructor whose contract is the hook's own); from there on the exec
//! path reads them through safe methods. Every read here is a plain memory
//! load: async-signal-safe.

use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicPtr, Ordering};

/// A borrowed C string, or NULL: what a hook's caller passed as a path, a
/// file or a command.
#[derive(Clone, Copy)]
pub struct CStrPtr(*const c_char);

impl CStrPtr {
    /// No string.
    pub const NULL: CStrPtr = CStrPtr(core::ptr::null());

    /// # Safety
    /// `p` is NULL or points to a NUL-terminated string that stays valid
    /// and unchanged while the value (or any slice read from it) is used:
    /// for a hook, until it returns.
    pub const unsafe fn new(p: *const c_char) -> Self {
        CStrPtr(p)
    }

    pub fn is_null(self) -> bool {
        self.0.is_null()
    }

    /// The raw pointer, to hand back to C or the kernel.
    pub fn as_ptr(self) -> *const c_char {
        self.0
    }

    /// The string's bytes, without the NUL; `None` for NULL.
    pub fn bytes(self) -> Option<&'static [u8]> {
        // SAFETY: the constructor's contract: NULL (checked) or a
        // NUL-terminated string valid while this value is used.
        (!self.0.is_null()).then(|| unsafe { CStr::from_ptr(self.0) }.to_bytes())
    }
}

impl From<&'static CStr> for CStrPtr {
    fn from(s: &'static CStr) -> Self {
        CStrPtr(s.as_ptr())
    }
}

/// A borrowed, NULL-terminated array of C strings (argv, envp); a NULL
/// array is empty.
#[derive(Clone, Copy)]
pub struct CStrArray(*const *const c_char);

impl CStrArray {
    /// # Safety
    /// `array` is NULL or a NULL-terminated array of NUL-terminated strings,
    /// all valid and unchanged while the value (or anything read from it) is
    /// used: for a hook, until it returns.
    pub const unsafe fn new(array: *const *const c_char) -> Self {
        CStrArray(array)
    }

    /// The entries as raw C strings, for a reader that walks them without
    /// measuring each one.
    pub fn entries(self) -> impl Iterator<Item = *const c_char> {
        let mut next = self.0;
        core::iter::from_fn(move || {
            if next.is_null() {
                return None;
            }
            // SAFETY: `next` points into a NULL-terminated array (the
            // constructor's contract); we never step past the NULL entry.
            let entry = unsafe { *next };
            if entry.is_null() {
                next = core::ptr::null();
                return None;
            }
            // SAFETY: as above: the entry was not the terminating NULL.
            next = unsafe { next.add(1) };
            Some(entry)
        })
    }

    pub fn iter(self) -> impl Iterator<Item = &'static [u8]> {
        // SAFETY: each entry is a NUL-terminated string (the constructor's
        // contract).
        self.entries()
            .map(|entry| unsafe { CStr::from_ptr(entry) }.to_bytes())
    }
}

unsafe extern "C" {
    static environ: *const *const c_char;
    /// glibc's copy of `argv[0]`, set before any library constructor runs.
    static program_invocation_name: *const c_char;
}

/// The process environment, as `NAME=VALUE` byte slices.
pub fn environment() -> CStrArray {
    // SAFETY: reading the pointer value of libc's `environ`: NULL or a
    // NULL-terminated array of C strings, which the exec path reads before
    // it execs (a program that edits `environ` concurrently with its own
    // exec is racing libc's exec as well).
    CStrArray(unsafe { environ })
}

/// The process's own `argv`, as the loader handed it to the constructors:
/// glibc calls every `.init_array` function of every object it loads at
/// start with `(argc, argv, envp)`. Only the pointer is kept (no copy, no
/// allocation), at load, before `main` runs.
static OWN_ARGV: AtomicPtr<*const c_char> = AtomicPtr::new(core::ptr::null_mut());

extern "C" fn keep_own_argv(_: c_int, argv: *const *const c_char, _: *const *const c_char) {
    OWN_ARGV.store(argv.cast_mut(), Ordering::Relaxed);
}

// The loader runs it at load like the constructor; all it does is one store.
#[used]
#[unsafe(link_section = ".init_array")]
static KEEP_OWN_ARGV: extern "C" fn(c_int, *const *const c_char, *const *const c_char) =
    keep_own_argv;

/// The calling program's own arguments, `argv[0]` first; empty if the
/// loader gave none.
///
/// The array and its strings are the kernel's copy on the initial stack,
/// which lives as long as the process; but a program may write over them
/// (a `setproctitle` that reuses the area for its title) or point an entry
/// elsewhere. Read them only for a caller known not to: the conventions
/// that read a caller's arguments are each tied to one program's name.
pub fn own_args() -> CStrArray {
    CStrArray(OWN_ARGV.load(Ordering::Relaxed))
}

/// `argv[0]` as glibc keeps it (`program_invocation_name`), if set.
pub fn argv0() -> Option<&'static [u8]> {
    // SAFETY: reading glibc's pointer to argv[0]: NULL or a C string that
    // lives as long as the process.
    let p = unsafe { program_invocation_name };
    // SAFETY: as above.
    unsafe { CStrPtr::new(p) }.bytes()
}

/// This thread's `errno`.
pub fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets this thread's `errno`.
pub fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = value };
}

/// `abort(3)`: async-signal-safe, never returns.
pub fn abort() -> ! {
    // SAFETY: abort takes no arguments and may be called from anywhere.
    unsafe { libc::abort() }
}
