//! `posix_spawn*`, `system`, `popen`: the sweep runs in the parent, before
//! the real call. glibc starts the child with `clone(CLONE_VM|CLONE_VFORK)`
//! and an internal exec, so none of our code runs there: the child starts
//! from the parent's own fd table. So the sweep marks the parent's fds one
//! by one and notes them, and once the real call returns (glibc waits for
//! the child's exec), gives them back: the program never sees the
//! library's marks.

use core::ffi::{c_char, c_int};

use super::{FAILED, forward};
use crate::ffi::{CStrArray, CStrPtr};
use crate::guard::{self, Args, Call, Launch};
use crate::real;
use crate::sweep::Marks;

type Argv = *const *const c_char;

/// # Safety
/// `path` is NULL or a C string, `argv` and `envp` NULL or NULL-terminated
/// arrays of C strings, all valid until the hook returns: posix_spawn's
/// contract.
unsafe fn spawn_launch(call: Call, path: *const c_char, argv: Argv, envp: Argv) -> Launch {
    // SAFETY: the function's contract, passed on. A NULL envp is invalid
    // for posix_spawn; it reads as empty.
    let (program, args, env) = unsafe {
        (
            CStrPtr::new(path),
            CStrArray::new(argv),
            CStrArray::new(envp),
        )
    };
    Launch {
        call,
        program,
        program_fd: None,
        args: Args::Vector(args),
        env,
    }
}

/// # Safety
/// `command` is NULL or a C string valid until the hook returns.
unsafe fn command_launch(call: Call, command: *const c_char) -> Launch {
    // SAFETY: the function's contract, passed on.
    let command = unsafe { CStrPtr::new(command) };
    Launch {
        call,
        program: command,
        program_fd: None,
        args: Args::Command(command),
        env: Launch::current_env(),
    }
}

/// # Safety
/// As posix_spawn(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    file_actions: *const libc::posix_spawn_file_actions_t,
    attrp: *const libc::posix_spawnattr_t,
    argv: Argv,
    envp: Argv,
) -> c_int {
    let Some(f) = real::posix_spawn() else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's arguments, under this function's contract.
    let launch = unsafe { spawn_launch(Call::PosixSpawn, path, argv, envp) };
    // SAFETY: forwarding the caller's arguments unchanged.
    around_spawn(&launch, || unsafe {
        f(pid, path, file_actions, attrp, argv, envp)
    })
}

/// # Safety
/// As posix_spawnp(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    file_actions: *const libc::posix_spawn_file_actions_t,
    attrp: *const libc::posix_spawnattr_t,
    argv: Argv,
    envp: Argv,
) -> c_int {
    let Some(f) = real::posix_spawnp() else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's arguments, under this function's contract.
    let launch = unsafe { spawn_launch(Call::PosixSpawnp, file, argv, envp) };
    // SAFETY: forwarding the caller's arguments unchanged.
    around_spawn(&launch, || unsafe {
        f(pid, file, file_actions, attrp, argv, envp)
    })
}

/// # Safety
/// As system(3). A NULL command only asks whether a shell exists: no sweep.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    // SAFETY: forwarding the caller's argument unchanged.
    let call = || forward(real::system, FAILED, |f| unsafe { f(command) });
    if command.is_null() {
        return call();
    }
    // SAFETY: the caller's arguments, under this function's contract.
    around_spawn(&unsafe { command_launch(Call::System, command) }, call)
}

/// # Safety
/// As popen(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: the caller's arguments, under this function's contract.
    let launch = unsafe { command_launch(Call::Popen, command) };
    around_spawn(&launch, || {
        // SAFETY: forwarding the caller's arguments unchanged.
        forward(real::popen, core::ptr::null_mut(), |f| unsafe {
            f(command, mode)
        })
    })
}

/// Sweeps for `launch`, runs the real spawn, and gives the caller's fds
/// back as they were, keeping the real call's result and `errno`.
fn around_spawn<R>(launch: &Launch, spawn: impl FnOnce() -> R) -> R {
    let mut marks = Marks::new();
    guard::before_spawn(launch, &mut marks);
    let result = spawn();
    guard::after_spawn(&marks);
    result
}
