//! `posix_spawn*`, `system`, `popen`: the sweep runs in the parent, before
//! the real call. glibc starts the child with `clone(CLONE_VM|CLONE_VFORK)`
//! and an internal exec, so none of our code runs there. The parent's
//! leaked fds keep their new close-on-exec flag afterwards.

use core::ffi::{c_char, c_int};

use super::{FAILED, forward};
use crate::guard::{self, Args, Call, Launch};
use crate::real;
use crate::state::CStrArray;

type Argv = *const *const c_char;

fn spawn_launch(call: Call, path: *const c_char, argv: Argv, envp: Argv) -> Launch {
    Launch {
        call,
        program: path,
        program_fd: None,
        args: Args::Vector(CStrArray(argv)),
        // A NULL envp is invalid for posix_spawn; treat it as empty.
        env: CStrArray(envp),
    }
}

fn command_launch(call: Call, command: *const c_char) -> Launch {
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
    guard::before_exec(&spawn_launch(Call::PosixSpawn, path, argv, envp));
    let Some(f) = real::posix_spawn() else {
        return libc::ENOSYS;
    };
    // SAFETY: forwarding the caller's arguments unchanged.
    unsafe { f(pid, path, file_actions, attrp, argv, envp) }
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
    guard::before_exec(&spawn_launch(Call::PosixSpawnp, file, argv, envp));
    let Some(f) = real::posix_spawnp() else {
        return libc::ENOSYS;
    };
    // SAFETY: forwarding the caller's arguments unchanged.
    unsafe { f(pid, file, file_actions, attrp, argv, envp) }
}

/// # Safety
/// As system(3). A NULL command only asks whether a shell exists: no sweep.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    if !command.is_null() {
        guard::before_exec(&command_launch(Call::System, command));
    }
    // SAFETY: forwarding the caller's argument unchanged.
    forward(real::system(), FAILED, |f| unsafe { f(command) })
}

/// # Safety
/// As popen(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    guard::before_exec(&command_launch(Call::Popen, command));
    // SAFETY: forwarding the caller's arguments unchanged.
    forward(real::popen(), core::ptr::null_mut(), |f| unsafe {
        f(command, mode)
    })
}
