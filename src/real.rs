//! The real libc functions behind our hooks, resolved once with
//! `dlsym(RTLD_NEXT, …)` when the library loads and kept in atomics.
//!
//! A hook never calls `dlsym` itself: it may run in a vfork child or in the
//! fork child of a threaded program, where `dlsym` can deadlock on the
//! loader's lock. The one exception is a hook that runs before our
//! constructor (another library's constructor can run first); that is
//! loader time, single-threaded, where resolving is what our constructor
//! would do anyway. A symbol libc lacks stays unresolved, and its hook fails
//! like the real function would (`ENOSYS`).

use core::ffi::{c_char, c_int, c_ulong};
use core::sync::atomic::{AtomicUsize, Ordering};

type Argv = *const *const c_char;

macro_rules! real_symbols {
    ($($name:ident: $ty:ty;)*) => {
        #[allow(non_upper_case_globals)]
        pub(crate) mod slot {
            use core::sync::atomic::AtomicUsize;
            $(pub static $name: AtomicUsize = AtomicUsize::new(0);)*
        }

        /// Resolves every symbol. Called from the constructor.
        pub fn resolve_all() {
            $(slot::$name.store(lookup(concat!(stringify!($name), "\0").as_bytes()), Ordering::Release);)*
        }

        $(
            #[doc = concat!("The real `", stringify!($name), "`, if libc has it.")]
            pub fn $name() -> Option<$ty> {
                let addr = load(&slot::$name, concat!(stringify!($name), "\0").as_bytes());
                // SAFETY: a non-zero value in this slot was returned by
                // dlsym for this very symbol name, whose C type is `$ty`.
                (addr != 0).then(|| unsafe { core::mem::transmute::<usize, $ty>(addr) })
            }
        )*
    };
}

real_symbols! {
    execve: unsafe extern "C" fn(*const c_char, Argv, Argv) -> c_int;
    execv: unsafe extern "C" fn(*const c_char, Argv) -> c_int;
    execvp: unsafe extern "C" fn(*const c_char, Argv) -> c_int;
    execvpe: unsafe extern "C" fn(*const c_char, Argv, Argv) -> c_int;
    fexecve: unsafe extern "C" fn(c_int, Argv, Argv) -> c_int;
    execveat: unsafe extern "C" fn(c_int, *const c_char, Argv, Argv, c_int) -> c_int;
    posix_spawn: unsafe extern "C" fn(
        *mut libc::pid_t,
        *const c_char,
        *const libc::posix_spawn_file_actions_t,
        *const libc::posix_spawnattr_t,
        Argv,
        Argv,
    ) -> c_int;
    posix_spawnp: unsafe extern "C" fn(
        *mut libc::pid_t,
        *const c_char,
        *const libc::posix_spawn_file_actions_t,
        *const libc::posix_spawnattr_t,
        Argv,
        Argv,
    ) -> c_int;
    system: unsafe extern "C" fn(*const c_char) -> c_int;
    popen: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
    dup2: unsafe extern "C" fn(c_int, c_int) -> c_int;
    dup3: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
    fcntl: unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    fcntl64: unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    ioctl: unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int;
    flock: unsafe extern "C" fn(c_int, c_int) -> c_int;
    lockf: unsafe extern "C" fn(c_int, c_int, libc::off_t) -> c_int;
    lockf64: unsafe extern "C" fn(c_int, c_int, libc::off64_t) -> c_int;
}

fn lookup(name: &[u8]) -> usize {
    // SAFETY: `name` is NUL-terminated (built with concat!); RTLD_NEXT asks
    // for the next definition after this library, i.e. libc's.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast::<c_char>()) as usize }
}

fn load(slot: &AtomicUsize, name: &[u8]) -> usize {
    let addr = slot.load(Ordering::Acquire);
    if addr != 0 || crate::state::get().is_some() {
        return addr;
    }
    // Only before our constructor has finished (see the module docs): run
    // it now, or, if it is running on another thread, resolve this one
    // symbol ourselves rather than fail a legitimate call.
    crate::state::ensure_init();
    let addr = slot.load(Ordering::Acquire);
    if addr != 0 {
        return addr;
    }
    let addr = lookup(name);
    slot.store(addr, Ordering::Release);
    addr
}

/// Sets `errno` for a hook whose real function is missing.
pub fn fail_with_enosys() {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = libc::ENOSYS };
}
