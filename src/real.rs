//! The real libc functions behind our hooks, resolved once when the
//! library loads and kept in atomics.
//!
//! Resolution means `dlsym(RTLD_NEXT, …)`: the next definition after this
//! library in the search order. At load, [`crate::nextsym`] answers all of
//! them in one walk of the loaded objects (about a tenth of the cost of 18
//! `dlsym` calls); every name it cannot answer for sure goes to `dlsym`.
//! `CLOEXEC_DEBUG_RESOLVE=1` makes the load check each answer against
//! `dlsym` and print one line per symbol to stderr (the tests use it).
//!
//! A hook never calls `dlsym` itself: it may run in a vfork child or in the
//! fork child of a threaded program, where `dlsym` can deadlock on the
//! loader's lock. The one exception is a hook that runs before our
//! constructor (another library's constructor can run first); that is
//! loader time, single-threaded, where resolving is what our constructor
//! would do anyway. A symbol libc lacks stays unresolved, and its hook fails
//! like the real function would (`ENOSYS`).

use core::ffi::{c_char, c_int, c_ulong};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::logger::{Bytes, LineBuf};
use crate::nextsym::{self, Hit, Name};

type Argv = *const *const c_char;

macro_rules! real_symbols {
    ($($name:ident: $ty:ty;)*) => {
        #[allow(non_upper_case_globals)]
        pub(crate) mod slot {
            use core::sync::atomic::AtomicUsize;
            $(pub static $name: AtomicUsize = AtomicUsize::new(0);)*
        }

        /// Every hooked name, in slot order.
        const NAMES: &[Name] = &[$(Name {
            text: match core::ffi::CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                Ok(text) => text,
                Err(_) => panic!("symbol names are NUL-terminated"),
            },
            hash: nextsym::gnu_hash(stringify!($name).as_bytes()),
        }),*];

        /// The slots, in the order of [`NAMES`].
        const SLOTS: &[&AtomicUsize] = &[$(&slot::$name),*];

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
    close: unsafe extern "C" fn(c_int) -> c_int;
    close_range: unsafe extern "C" fn(u32, u32, c_int) -> c_int;
    closefrom: unsafe extern "C" fn(c_int);
    open: unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
    open64: unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
    openat: unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
    openat64: unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
    __open_2: unsafe extern "C" fn(*const c_char, c_int) -> c_int;
    __open64_2: unsafe extern "C" fn(*const c_char, c_int) -> c_int;
    __openat_2: unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
    __openat64_2: unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
    creat: unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int;
    creat64: unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int;
    pipe: unsafe extern "C" fn(*mut c_int) -> c_int;
    pipe2: unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    socket: unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
    socketpair: unsafe extern "C" fn(c_int, c_int, c_int, *mut c_int) -> c_int;
    accept: unsafe extern "C" fn(c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> c_int;
    accept4: unsafe extern "C" fn(c_int, *mut libc::sockaddr, *mut libc::socklen_t, c_int) -> c_int;
    dup: unsafe extern "C" fn(c_int) -> c_int;
    __register_atfork: unsafe extern "C" fn(
        Option<unsafe extern "C" fn()>,
        Option<unsafe extern "C" fn()>,
        Option<unsafe extern "C" fn()>,
        *mut core::ffi::c_void,
    ) -> c_int;
}

unsafe extern "C" {
    /// This object's handle, which glibc's atfork list is keyed by, so that
    /// a `dlclose` of the library drops its handler.
    static __dso_handle: *mut core::ffi::c_void;
}

/// `pthread_atfork(NULL, NULL, handler)`: `handler` runs in the child of
/// every `fork()`. glibc's `pthread_atfork` is a static stub around
/// `__register_atfork` (which keeps room for 48 handlers without
/// allocating); musl exports `pthread_atfork` itself. Both are looked up
/// at run time, so that neither is a link-time import the other libc lacks.
pub fn on_fork_child(handler: extern "C" fn()) {
    let handler: unsafe extern "C" fn() = handler;
    if let Some(register) = __register_atfork() {
        // SAFETY: glibc's registration, with this object's own handle; the
        // handler is a plain function of this library.
        let _ = unsafe { register(None, None, Some(handler), __dso_handle) };
        return;
    }
    type AtFork = unsafe extern "C" fn(
        Option<unsafe extern "C" fn()>,
        Option<unsafe extern "C" fn()>,
        Option<unsafe extern "C" fn()>,
    ) -> c_int;
    // SAFETY: a constructor-time lookup (single-threaded loader time) of a
    // NUL-terminated name; a non-NULL answer is musl's `pthread_atfork`,
    // whose C type is `AtFork`.
    let atfork = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"pthread_atfork".as_ptr()) };
    if !atfork.is_null() {
        // SAFETY: as above; the handler is a plain function of this library.
        let atfork = unsafe { core::mem::transmute::<*mut core::ffi::c_void, AtFork>(atfork) };
        // SAFETY: registering that handler through musl's public function.
        let _ = unsafe { atfork(None, None, Some(handler)) };
    }
}

/// Whether [`resolve_all`] has run: a zero slot then means libc lacks it.
static RESOLVED: AtomicBool = AtomicBool::new(false);

/// Resolves every symbol. Called from the constructor.
pub fn resolve_all() {
    let mut hits = [Hit::NONE; NAMES.len()];
    let (loader_may_differ, check) = environment_flags();
    let fast =
        !loader_may_differ && nextsym::resolve(NAMES, &mut hits, own_address(), libc_address());
    for ((name, slot), hit) in NAMES.iter().zip(SLOTS).zip(&hits) {
        let addr = if hit.addr != 0 {
            hit.addr
        } else {
            lookup(name.text.to_bytes_with_nul())
        };
        slot.store(addr, Ordering::Release);
        if check {
            report(name, hit, addr, fast);
        }
    }
    RESOLVED.store(true, Ordering::Release);
}

/// What the environment says about resolving: whether the loader may
/// answer differently from the walk (`LD_AUDIT` modules may rebind what
/// `dlsym` returns through `la_symbind`; `LD_DYNAMIC_WEAK` changes how weak
/// definitions rank), and whether the debug check is asked for. One pass,
/// with no string measured: most variables differ at their first byte.
fn environment_flags() -> (bool, bool) {
    let (mut loader_may_differ, mut check) = (false, false);
    for var in crate::ffi::environment().entries() {
        // SAFETY: `var` is a NUL-terminated entry of `environ`.
        let starts = |prefix: &[u8]| unsafe { starts_with(var, prefix) };
        loader_may_differ |= starts(b"LD_AUDIT=") || starts(b"LD_DYNAMIC_WEAK=");
        check |= starts(b"CLOEXEC_DEBUG_RESOLVE=1\0");
    }
    (loader_may_differ, check && !crate::sys::secure_execution())
}

/// Whether the C string at `text` starts with `prefix` (which may include
/// the NUL to ask for the whole string).
///
/// # Safety
/// `text` points at a NUL-terminated string.
unsafe fn starts_with(text: *const c_char, prefix: &[u8]) -> bool {
    let mut at = text.cast::<u8>();
    for &want in prefix {
        // SAFETY: we stop at the first mismatch, so at the string's NUL
        // at the latest (a NUL in `prefix` ends it too).
        if unsafe { *at } != want {
            return false;
        }
        if want == 0 {
            return true;
        }
        // SAFETY: the byte just read was not the NUL.
        at = unsafe { at.add(1) };
    }
    true
}

/// An address inside this library.
fn own_address() -> usize {
    resolve_all as *const () as usize
}

/// An address inside the libc this library links against: its `dlsym`.
fn libc_address() -> usize {
    libc::dlsym as *const () as usize
}

/// The debug check: one line per symbol, the walk's answer against
/// `dlsym`'s, written straight to stderr.
#[cold]
#[inline(never)]
fn report(name: &Name, hit: &Hit, addr: usize, fast: bool) {
    let reference = lookup(name.text.to_bytes_with_nul());
    let verdict = if addr == reference {
        "same"
    } else {
        "DIFFERENT"
    };
    let how = match (fast, hit.addr != 0) {
        (false, _) => "dlsym (no walk)",
        (true, false) => "dlsym (walk left it)",
        (true, true) => "walk",
    };
    let object = if hit.object.is_null() {
        &b""[..]
    } else {
        // SAFETY: the loader's name of a loaded object, NUL-terminated.
        unsafe { core::ffi::CStr::from_ptr(hit.object) }.to_bytes()
    };
    let mut line = LineBuf::<512>::new();
    let _ = write!(
        line,
        "cloexec resolve {}: {verdict} {addr:#x} dlsym {reference:#x} by {how} from [{}]",
        Bytes(name.text.to_bytes()),
        Bytes(object)
    );
    let _ = crate::sys::write(2, line.finish());
}

fn lookup(name: &[u8]) -> usize {
    // SAFETY: `name` is NUL-terminated (built with concat!); RTLD_NEXT asks
    // for the next definition after this library, i.e. libc's.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast::<c_char>()) as usize }
}

/// Whether the constructor has resolved every symbol.
pub fn resolved() -> bool {
    RESOLVED.load(Ordering::Acquire)
}

fn load(slot: &AtomicUsize, name: &[u8]) -> usize {
    let addr = slot.load(Ordering::Acquire);
    if addr != 0 || RESOLVED.load(Ordering::Acquire) {
        return addr;
    }
    // Only before our constructor has finished (see the module docs; the
    // hooks run it first when they can): resolve this one symbol ourselves
    // rather than fail a legitimate call.
    let addr = lookup(name);
    slot.store(addr, Ordering::Release);
    addr
}
