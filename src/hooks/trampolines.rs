//! The hooks that are naked trampolines: the C-variadic ones, whose
//! bodies are in `src/variadic.c`, and `dup2`.
//!
//! A naked function leaves the caller's registers and stack (which carry
//! the variadic arguments) untouched wherever it jumps:
//!
//! - `execl`, `execle`, `execlp` jump to their C body;
//! - `fcntl`, `fcntl64`, `ioctl` and `dup2` first look at their arguments.
//!   Only `F_SETFD`, `FIONCLEX`/`FIOCLEX` and a `dup2` onto another fd can
//!   record intent and go to the recording body; every other call jumps
//!   straight to the real libc function (a compare, a load and a jump).
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

/// A hook whose arguments decide: when the `$check` instructions set the
/// equal flag, the body (which records); otherwise the real function.
macro_rules! filtered_trampoline {
    ($($name:ident => $c_body:ident, real $slot:path, intent $check:literal;)*) => {
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
                    $check,
                    "je {body}",
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

use super::intent::dup2_recording;

unsafe extern "C" {
    fn cloexec_c_execl();
    fn cloexec_c_execle();
    fn cloexec_c_execlp();
    fn cloexec_c_fcntl();
    fn cloexec_c_fcntl64();
    fn cloexec_c_ioctl();
}

trampoline! {
    execl => cloexec_c_execl;
    execle => cloexec_c_execle;
    execlp => cloexec_c_execlp;
}

// F_SETFD is 2. FIONCLEX is 0x5450 and FIOCLEX 0x5451: clearing the low
// bit of the request's low 32 bits (what the kernel compares) tests both.
filtered_trampoline! {
    fcntl => cloexec_c_fcntl, real crate::real::slot::fcntl, intent "cmp esi, 2";
    fcntl64 => cloexec_c_fcntl64, real crate::real::slot::fcntl64, intent "cmp esi, 2";
    ioctl => cloexec_c_ioctl, real crate::real::slot::ioctl, intent "mov r11d, esi\nand r11d, -2\ncmp r11d, 0x5450";
}

// dup2(oldfd, newfd) records when oldfd != newfd: `setne` turns that into
// the equal flag the macro tests.
filtered_trampoline! {
    dup2 => dup2_recording, real crate::real::slot::dup2, intent "cmp edi, esi\nsetne r11b\ncmp r11b, 1";
}

const _: () = assert!(libc::F_SETFD == 2 && libc::FIONCLEX == 0x5450 && libc::FIOCLEX == 0x5451);
