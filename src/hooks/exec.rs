//! `exec*`: the sweep runs in the calling process, which is about to be
//! replaced. If the real exec returns, it failed: its result and `errno`
//! go back untouched, and every fd is still open.

use core::ffi::{c_char, c_int};

use super::{FAILED, forward};
use crate::ffi::{CStrArray, CStrPtr};
use crate::guard::{self, Args, Call, Launch};
use crate::real;

type Argv = *const *const c_char;

/// # Safety
/// `program` is NULL or a C string, `argv` and `env` NULL or
/// NULL-terminated arrays of C strings, all valid until the hook returns:
/// the contract of every exec function.
unsafe fn launch(call: Call, program: *const c_char, argv: Argv, env: Option<Argv>) -> Launch {
    // SAFETY: the function's contract, passed on.
    let (program, args, env) = unsafe {
        (
            CStrPtr::new(program),
            CStrArray::new(argv),
            env.map(|envp| CStrArray::new(envp)),
        )
    };
    Launch {
        call,
        program,
        program_fd: None,
        args: Args::Vector(args),
        env: env.unwrap_or_else(Launch::current_env),
    }
}

/// # Safety
/// As execve(2): NUL-terminated `path`, NULL-terminated `argv` and `envp`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the caller's arguments, under this function's contract.
    guard::before_exec(&unsafe { launch(Call::Execve, path, argv, Some(envp)) });
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::execve, FAILED, |f| unsafe { f(path, argv, envp) })
}

/// # Safety
/// As execv(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: the caller's arguments, under this function's contract.
    guard::before_exec(&unsafe { launch(Call::Execv, path, argv, None) });
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::execv, FAILED, |f| unsafe { f(path, argv) })
}

/// # Safety
/// As execvp(3). The real `execvp` does the PATH search.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: the caller's arguments, under this function's contract.
    guard::before_exec(&unsafe { launch(Call::Execvp, file, argv, None) });
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::execvp, FAILED, |f| unsafe { f(file, argv) })
}

/// # Safety
/// As execvpe(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the caller's arguments, under this function's contract.
    guard::before_exec(&unsafe { launch(Call::Execvpe, file, argv, Some(envp)) });
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::execvpe, FAILED, |f| unsafe { f(file, argv, envp) })
}

/// # Safety
/// As fexecve(3). `fd` itself is kept: a script run this way is read
/// through `/dev/fd/N`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the caller's arguments, under this function's contract.
    let mut l = unsafe { launch(Call::Fexecve, core::ptr::null(), argv, Some(envp)) };
    l.program_fd = Some(fd);
    guard::before_exec(&l);
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::fexecve, FAILED, |f| unsafe { f(fd, argv, envp) })
}

/// # Safety
/// As execveat(2). `dirfd` is kept: the kernel hands a script
/// `/dev/fd/<dirfd>/…` as its path.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: Argv,
    envp: Argv,
    flags: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, under this function's contract.
    let mut l = unsafe { launch(Call::Execveat, path, argv, Some(envp)) };
    l.program_fd = (dirfd >= 0).then_some(dirfd);
    guard::before_exec(&l);
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::execveat, FAILED, |f| unsafe {
        f(dirfd, path, argv, envp, flags)
    })
}

/// Which variadic `execl*` the C shim collected arguments for.
const EXECL: c_int = 0;
const EXECLE: c_int = 1;
const EXECLP: c_int = 2;

/// The Rust half of `execl`, `execle` and `execlp` (`src/variadic.c`
/// collects their arguments into an array). Not API.
///
/// # Safety
/// `argv` is NULL-terminated; `envp` is NULL-terminated for `execle`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cloexec_internal_execl(
    kind: c_int,
    path: *const c_char,
    argv: Argv,
    envp: Argv,
) -> c_int {
    match kind {
        EXECLE => {
            // SAFETY: the caller's arguments, under this function's contract.
            guard::before_exec(&unsafe { launch(Call::Execle, path, argv, Some(envp)) });
            // SAFETY: `execle` is `execve` with its arguments collected.
            forward(real::execve, FAILED, |f| unsafe { f(path, argv, envp) })
        }
        EXECLP => {
            // SAFETY: the caller's arguments, under this function's contract.
            guard::before_exec(&unsafe { launch(Call::Execlp, path, argv, None) });
            // SAFETY: `execlp` is `execvp` with its arguments collected.
            forward(real::execvp, FAILED, |f| unsafe { f(path, argv) })
        }
        _ => {
            debug_assert_eq!(kind, EXECL);
            // SAFETY: the caller's arguments, under this function's contract.
            guard::before_exec(&unsafe { launch(Call::Execl, path, argv, None) });
            // SAFETY: `execl` is `execv` with its arguments collected.
            forward(real::execv, FAILED, |f| unsafe { f(path, argv) })
        }
    }
}
