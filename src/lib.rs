//! # libcloexec
//!
//! An `LD_PRELOAD` library that stops file-descriptor leaks across `exec`.
//! Just before a process execs or spawns, every descriptor it leaked by
//! accident is marked close-on-exec; descriptors it meant to pass on are
//! left alone. The user's view is in `README.md` and `cloexec(1)`.
//!
//! ## Layout
//!
//! | module | job |
//! |---|---|
//! | [`hooks`] | the exported symbols, a few lines each, and the constructor; naked trampolines for the variadic ones and the intent fast path |
//! | [`guard`] | the exec path: decide, sweep, report |
//! | [`attempts`] | exec attempts that will fail, and the fds swept for them carried to the one that runs |
//! | [`policy`] | pure keep decisions (K2–K10) |
//! | [`numbers`] | fd numbers, and the splitting rule: where text names an fd as a number (K5, K6) |
//! | [`conventions`] | the environment's fd-passing conventions (K6), one table entry each |
//! | [`keepset`] | the fixed-capacity set of kept fd ranges |
//! | [`sweep`] | the `close_range` → `/proc/self/fd` → probing ladder |
//! | [`child`] | what a fork child did between its fork and its exec (K11–K13) |
//! | [`registry`] | inherited snapshot (K3: taken at load), intent records (K4), lock records (K9) |
//! | [`settings`] | pure parsing of `CLOEXEC_*`, from the environment and the configuration file |
//! | [`config`] | `/etc/cloexec.conf`: read once at load, trusted only when root's |
//! | [`state`] | the load-time work, and the [`state::Global`] it publishes |
//! | [`once`] | the write-once cell that publishes it |
//! | [`real`] | the real libc symbols, resolved at load |
//! | [`nextsym`] | `dlsym(RTLD_NEXT)` for many names in one walk of the loaded objects |
//! | [`logger`] | the no-alloc logger: formats a line, hands it to its sink |
//! | [`event`] | what a sweep line says, as a structure: the text line and the journal's fields come from it |
//! | [`sink`] | where a line goes: stderr, a file, syslog, the journal; one module each |
//! | [`ffi`] | C's data: C strings and string arrays, `environ`, `errno` |
//! | [`sys`] | raw system calls: the only place that talks to the kernel |
//!
//! `numbers`, `conventions`, `keepset` and `settings` depend on nothing
//! outside that set (and `core`, `log`): the `cloexec` command compiles
//! them in too, so it reads settings and K2/K6 as the library does.
//!
//! `unsafe` is denied crate-wide and allowed only in the modules that talk
//! to C or the kernel: [`sys`], [`real`], [`nextsym`], [`hooks`], [`ffi`],
//! and [`once`] (an `UnsafeCell` behind an atomic). Every `unsafe` block
//! says why it is sound in a `// SAFETY:` line.
//!
//! ## Async-signal-safety
//!
//! A hook may run in a vfork child (dash, CPython's `subprocess`), in the
//! fork child of a multithreaded program, or in a signal handler. So the
//! exec path:
//!
//! - makes system calls only through [`sys`], raw `syscall` instructions that
//!   are async-signal-safe and never touch `errno`;
//! - reads `getauxval` (a plain memory read), and calls nothing else in libc
//!   but the real function it forwards to;
//! - keeps all state in statics written once at load, plus lock-free atomics
//!   (intent records, the sweep's sticky flag);
//! - puts every buffer on the stack, with fixed sizes: no allocation (the
//!   library imports no `malloc`), no locks, no stdio, no `std::env`;
//! - never calls `dlsym`: the real symbols are resolved in the constructor;
//! - cannot panic: `panic = "abort"`, and the library is written without
//!   indexing, `unwrap` or arithmetic that could overflow on input.
//!
//! Logging goes through the `log` facade into [`logger`], which formats into
//! a stack buffer and writes with one `write(2)`.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(test, allow(dead_code))]
#![deny(unsafe_code, clippy::undocumented_unsafe_blocks)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo
    )
)]

pub mod attempts;
pub mod child;
pub mod config;
pub mod conventions;
pub mod event;
#[allow(unsafe_code)]
pub mod ffi;
pub mod guard;
#[cfg(not(test))]
#[allow(unsafe_code)]
pub mod hooks;
pub mod keepset;
pub mod logger;
#[allow(unsafe_code)]
pub mod nextsym;
pub mod numbers;
#[allow(unsafe_code)]
pub mod once;
pub mod policy;
#[allow(unsafe_code)]
pub mod real;
pub mod registry;
pub mod settings;
pub mod sink;
pub mod state;
pub mod sweep;
#[allow(unsafe_code)]
pub mod sys;

#[cfg(not(test))]
#[panic_handler]
fn on_panic(_: &core::panic::PanicInfo<'_>) -> ! {
    ffi::abort()
}
