//! The hooks that are naked trampolines: the C-variadic ones, whose
//! bodies are in `src/variadic.c`, and `dup2`.
//!
//! A naked function leaves the caller's registers and stack (which carry
//! the variadic arguments) untouched wherever it jumps:
//!
//! - `execl`, `execle`, `execlp` jump to their C body;
//! - `open`, `open64`, `openat`, `openat64` jump to their C body in a fork
//!   child (a byte the `pthread_atfork` child handler sets), and straight to
//!   libc everywhere else;
//! - `fcntl`, `fcntl64`, `ioctl` and `dup2` first look at their arguments.
//!   Only `F_DUPFD`/`F_DUPFD_CLOEXEC`, `F_SETFD`, the lock commands (`F_SETLK`, `F_SETLKW`,
//!   `F_OFD_SETLK`, `F_OFD_SETLKW`), `FIONCLEX`/`FIOCLEX` and a `dup2` onto
//!   another fd can record and go to the recording body; every other call
//!   jumps straight to the real libc function (a few compares, a load and
//!   a jump).
//!   Before the real symbol is resolved, every call takes the body, which
//!   resolves it. On x86_64 the scratch register `r11` carries the address,
//!   so `rax` (`al`: the variadic vector-register count) is kept.

macro_rules! trampoline {
    ($($name:ident => $c_body:ident;)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: jumps to `", stringify!($c_body), "` in `src/variadic.c`.")]
            ///
            /// # Safety
            #[doc = concat!("As libc's `", stringify!($name), "`.")]
            #[unsafe(naked)]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name() {
                #[cfg(target_arch = "x86_64")]
                core::arch::naked_asm!("jmp {}", sym $c_body);
                #[cfg(target_arch = "aarch64")]
                core::arch::naked_asm!("b {}", sym $c_body);
            }
        )*
    };
}

/// A hook whose arguments decide: the `$route` instructions jump to
/// `{body}` (which records) for the calls that may record; every other call
/// falls through to the real function. They may use only `r11` and flags.
macro_rules! filtered_trampoline {
    ($($name:ident => $c_body:ident, real $slot:path, route $route:literal;)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: the real function, or `", stringify!($c_body), "` in `src/variadic.c` when the command can record intent.")]
            ///
            /// # Safety
            #[doc = concat!("As libc's `", stringify!($name), "`.")]
            #[unsafe(naked)]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name() {
                #[cfg(target_arch = "x86_64")]
                core::arch::naked_asm!(
                    $route,
                    "mov r11, qword ptr [rip + {real}]",
                    "test r11, r11",
                    "jz {body}",
                    "jmp r11",
                    body = sym $c_body,
                    real = sym $slot,
                );
                #[cfg(target_arch = "aarch64")]
                core::arch::naked_asm!("b {}", sym $c_body);
            }
        )*
    };
}

/// A hook that matters only while `child::WATCH` is set (in a fork child):
/// otherwise one compare of that byte, a load and a jump to the real
/// function; before the real symbol is resolved, the body, which resolves it.
macro_rules! watched_trampoline {
    ($($name:ident => $c_body:ident, real $slot:path;)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: the real function, or `", stringify!($c_body), "` in `src/variadic.c` in a fork child.")]
            ///
            /// # Safety
            #[doc = concat!("As libc's `", stringify!($name), "`.")]
            #[unsafe(naked)]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name() {
                #[cfg(target_arch = "x86_64")]
                core::arch::naked_asm!(
                    "cmp byte ptr [rip + {watch}], 0",
                    "jne {body}",
                    "mov r11, qword ptr [rip + {real}]",
                    "test r11, r11",
                    "jz {body}",
                    "jmp r11",
                    body = sym $c_body,
                    real = sym $slot,
                    watch = sym crate::child::WATCH,
                );
                #[cfg(target_arch = "aarch64")]
                core::arch::naked_asm!("b {}", sym $c_body);
            }
        )*
    };
}

watched_trampoline! {
    open => cloexec_c_open, real crate::real::slot::open;
    open64 => cloexec_c_open64, real crate::real::slot::open64;
    openat => cloexec_c_openat, real crate::real::slot::openat;
    openat64 => cloexec_c_openat64, real crate::real::slot::openat64;
}

use super::intent::dup2_recording;

unsafe extern "C" {
    fn cloexec_c_execl();
    fn cloexec_c_execle();
    fn cloexec_c_execlp();
    fn cloexec_c_fcntl();
    fn cloexec_c_fcntl64();
    fn cloexec_c_ioctl();
    fn cloexec_c_open();
    fn cloexec_c_open64();
    fn cloexec_c_openat();
    fn cloexec_c_openat64();
}

trampoline! {
    execl => cloexec_c_execl;
    execle => cloexec_c_execle;
    execlp => cloexec_c_execlp;
}

// fcntl: F_DUPFD is 0 and F_DUPFD_CLOEXEC 1030 (a fork child's copies,
// K13); F_SETFD is 2; the lock commands are the pairs F_SETLK/F_SETLKW
// (6, 7) and F_OFD_SETLK/F_OFD_SETLKW (37, 38), each tested with one
// unsigned compare of `cmd - first <= 1`.
// ioctl: FIONCLEX is 0x5450 and FIOCLEX 0x5451: clearing the low bit of the
// request's low 32 bits (what the kernel compares) tests both.
filtered_trampoline! {
    fcntl => cloexec_c_fcntl, real crate::real::slot::fcntl, route "test esi, esi\nje {body}\ncmp esi, 1030\nje {body}\ncmp esi, 2\nje {body}\nlea r11d, [rsi - 6]\ncmp r11d, 1\njbe {body}\nlea r11d, [rsi - 37]\ncmp r11d, 1\njbe {body}";
    fcntl64 => cloexec_c_fcntl64, real crate::real::slot::fcntl64, route "test esi, esi\nje {body}\ncmp esi, 1030\nje {body}\ncmp esi, 2\nje {body}\nlea r11d, [rsi - 6]\ncmp r11d, 1\njbe {body}\nlea r11d, [rsi - 37]\ncmp r11d, 1\njbe {body}";
    ioctl => cloexec_c_ioctl, real crate::real::slot::ioctl, route "mov r11d, esi\nand r11d, -2\ncmp r11d, 0x5450\nje {body}";
}

// dup2(oldfd, newfd) records when oldfd != newfd.
filtered_trampoline! {
    dup2 => dup2_recording, real crate::real::slot::dup2, route "cmp edi, esi\njne {body}";
}

const _: () = assert!(libc::F_DUPFD == 0 && libc::F_DUPFD_CLOEXEC == 1030);
const _: () = assert!(libc::F_SETFD == 2 && libc::FIONCLEX == 0x5450 && libc::FIOCLEX == 0x5451);
const _: () = assert!(
    libc::F_SETLK == 6
        && libc::F_SETLKW == 7
        && libc::F_OFD_SETLK == 37
        && libc::F_OFD_SETLKW == 38
);
