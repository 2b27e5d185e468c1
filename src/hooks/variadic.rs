//! Exports the C-variadic hooks of `src/variadic.c` under libc's names.
//!
//! Each is a naked function whose whole body is a tail jump to the hidden
//! C function, so the caller's registers and stack (which carry the
//! variadic arguments) arrive untouched.

macro_rules! trampoline {
    ($($name:ident => $c_body:ident;)*) => {
        unsafe extern "C" {
            $(fn $c_body();)*
        }
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

trampoline! {
    execl => cloexec_c_execl;
    execle => cloexec_c_execle;
    execlp => cloexec_c_execlp;
    fcntl => cloexec_c_fcntl;
    fcntl64 => cloexec_c_fcntl64;
    ioctl => cloexec_c_ioctl;
}
