//! The exec path: what every exec and spawn hook runs before the real call.
//!
//! Decide the keep set, sweep the rest, report. Async-signal-safe (see the
//! crate docs): it reads the argv/envp the caller passes, the static state,
//! and the kernel through raw system calls, and writes only fd flags, the
//! sweep's sticky flag and log lines.

use core::ffi::{CStr, c_int};
use core::fmt::{self, Write};

use crate::attempts::{self, Exec};
use crate::event::{Fds, Launched, Sweep, Target};
use crate::ffi::{self, CStrArray, CStrPtr};
use crate::keepset::KeepSet;
use crate::logger::{Bytes, LineBuf};
use crate::policy::{self, ExecRequest, ForkChild, ProcessView, Rule, Unrecorded};
use crate::settings::{Mode, Policy};
use crate::state::{self, Global};
use crate::sweep::Marks;
use crate::{child, registry, sweep, sys};

/// The hooked entry points, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Execve,
    Execv,
    Execvp,
    Execvpe,
    Execl,
    Execle,
    Execlp,
    Fexecve,
    Execveat,
    PosixSpawn,
    PosixSpawnp,
    System,
    Popen,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Execve => "execve",
            Call::Execv => "execv",
            Call::Execvp => "execvp",
            Call::Execvpe => "execvpe",
            Call::Execl => "execl",
            Call::Execle => "execle",
            Call::Execlp => "execlp",
            Call::Fexecve => "fexecve",
            Call::Execveat => "execveat",
            Call::PosixSpawn => "posix_spawn",
            Call::PosixSpawnp => "posix_spawnp",
            Call::System => "system",
            Call::Popen => "popen",
        }
    }
}

/// What an exec or spawn is about to hand to the new program.
pub struct Launch {
    pub call: Call,
    /// The path, file or command, for the log (may be NULL).
    pub program: CStrPtr,
    /// The fd that `fexecve`/`execveat` run.
    pub program_fd: Option<c_int>,
    /// The argument vector; for `system`/`popen`, a one-element view of the command.
    pub args: Args,
    /// The new environment: the one passed, or `environ`.
    pub env: CStrArray,
}

/// Arguments: an argv array, or a single command string.
#[derive(Clone, Copy)]
pub enum Args {
    Vector(CStrArray),
    Command(CStrPtr),
}

impl Args {
    fn is_command(self) -> bool {
        matches!(self, Args::Command(_))
    }

    fn iter(self) -> impl Iterator<Item = &'static [u8]> {
        let (vector, command) = match self {
            Args::Vector(v) => (Some(v.iter()), None),
            Args::Command(c) => (None, c.bytes()),
        };
        vector.into_iter().flatten().chain(command)
    }
}

impl Launch {
    /// The environment for calls that take none: the caller's `environ`.
    pub fn current_env() -> CStrArray {
        ffi::environment()
    }

    fn request<'t>(
        &self,
        target: Option<&'t [u8]>,
    ) -> ExecRequest<'t, impl Iterator<Item = &'static [u8]>, impl Iterator<Item = &'static [u8]>>
    {
        ExecRequest {
            args: self.args.iter(),
            is_command: self.args.is_command(),
            env: self.env.iter(),
            program_fd: self.program_fd,
            target,
        }
    }

    /// The basename of the program being started (K8, K10): of the path or
    /// file; of what the fd links to for `fexecve` (and `execveat` with an
    /// empty path), read into `link`; of a command's first word.
    fn target<'b>(&self, link: &'b mut [u8; TARGET_LINK]) -> Option<&'b [u8]> {
        if let Args::Command(command) = self.args {
            return Some(policy::basename(policy::command_program(command.bytes()?)));
        }
        if !self.program.is_null() {
            if !sys::path_is_readable(self.program.as_ptr()) {
                return None;
            }
            if let Some(path) = self.program.bytes().filter(|p| !p.is_empty()) {
                return Some(policy::basename(path));
            }
        }
        let fd = self.program_fd?;
        let mut path = LineBuf::<32>::new();
        let _ = write!(path, "/proc/self/fd/{fd}\0");
        let path = CStr::from_bytes_until_nul(path.finish()).ok()?;
        let n = sys::readlink(path, link).ok()?;
        // A link that filled the buffer may be cut short: no name is
        // better than a wrong one.
        let name = link.get(..n).filter(|_| n < TARGET_LINK)?;
        Some(policy::basename(name))
    }
}

impl Launch {
    /// What an exec will try to run, for the cheap will-it-fail check;
    /// `None` for spawns and for what cannot be read.
    fn exec(&self) -> Option<Exec> {
        let path = self.program;
        match self.call {
            Call::PosixSpawn | Call::PosixSpawnp | Call::System | Call::Popen => None,
            Call::Fexecve => self.program_fd.map(Exec::Fd),
            // The PATH search uses the caller's PATH, even for execvpe.
            Call::Execvp | Call::Execvpe | Call::Execlp => {
                (!path.is_null() && sys::path_is_readable(path.as_ptr())).then(|| Exec::Search {
                    file: path,
                    path_var: ffi::environment()
                        .iter()
                        .find_map(|var| var.strip_prefix(b"PATH=")),
                })
            }
            Call::Execveat
                if !path.is_null()
                    && sys::path_is_readable(path.as_ptr())
                    && path.bytes().is_some_and(|p| p.is_empty()) =>
            {
                self.program_fd.map(Exec::Fd)
            }
            Call::Execve | Call::Execv | Call::Execl | Call::Execle | Call::Execveat => {
                (!path.is_null()).then(|| Exec::Path {
                    dirfd: self.program_fd.unwrap_or(libc::AT_FDCWD),
                    path: path.as_ptr(),
                })
            }
        }
    }
}

/// The buffer for an `fexecve` target's `/proc/self/fd` link.
const TARGET_LINK: usize = 256;

/// Calls `sink` for every range a keep rule keeps for this launch.
fn for_each_kept(
    launch: &Launch,
    target: Option<&[u8]>,
    global: &Global,
    sink: &mut dyn FnMut(Rule, u32, u32),
) {
    let view = ProcessView {
        policy: global.settings.policy,
        keep_list: &global.settings.keep,
        helpers: &global.settings.helpers,
        own_program: &global.own_program,
        inherited: registry::inherited(),
        intents: registry::intents(),
        locks: registry::locks(),
        identity_now: |fd| sys::fstat_id(fd).ok(),
        own_pid: sys::getpid,
        listeners: each_listener,
        fork_child: ForkChild {
            curated: child::curated(),
            made: child::made_fds(),
            own_channels: |found: &mut dyn FnMut(c_int)| {
                if child::closed_pipe_ends() {
                    each_own_channel(found);
                }
            },
        },
        unrecorded: Unrecorded {
            inherited: registry::unrecorded_inherited(),
            intents: registry::intents_beyond(),
            locks: registry::locks_beyond(),
            made_in_child: child::made_beyond(),
        },
    };
    policy::for_each_kept(launch.request(target), view, sink);
}

/// K12: every pipe end whose other end this fork child closed (and every
/// copy of it). Runs only in a fork child that closed a pipe end: one
/// `/proc/self/fd` walk, an `fstat` per fd and an `F_GETFL` per pipe end.
/// Without `/proc` none is found, and they are judged by the other rules.
#[cold]
#[inline(never)]
fn each_own_channel(found: &mut dyn FnMut(c_int)) {
    let _ = sweep::for_each_open_fd(|fd| {
        if fd > 2
            && let Ok(info) = sys::fstat_open_file(fd)
            && info.is_pipe()
            && let Ok(flags) = sys::fcntl_getfl(fd)
            && child::is_own_channel(&info, flags)
        {
            found(fd);
        }
    });
}

/// K10: every open listening socket above stdio. Runs only when the target
/// is the caller's own program: one `/proc/self/fd` walk and one
/// `getsockopt` per fd (`ENOTSOCK` for the rest). Without `/proc` none is
/// found, and listeners are swept as to any other program.
#[cold]
#[inline(never)]
fn each_listener(found: &mut dyn FnMut(c_int)) {
    let _ = sweep::for_each_open_fd(|fd| {
        if fd > 2 && sys::accepts_connections(fd) == Ok(true) {
            found(fd);
        }
    });
}

/// The swept fds a log line lists; the rest are only counted.
const LISTED_FDS: usize = 64;

struct FdList {
    fds: [c_int; LISTED_FDS],
    count: usize,
}

impl FdList {
    fn new() -> Self {
        FdList {
            fds: [0; LISTED_FDS],
            count: 0,
        }
    }

    fn push(&mut self, fd: c_int) {
        if let Some(slot) = self.fds.get_mut(self.count) {
            *slot = fd;
        }
        self.count += 1;
    }

    fn listed(&self) -> &[c_int] {
        self.fds.get(..self.count.min(LISTED_FDS)).unwrap_or(&[])
    }

    /// For the log: the listed fds, and how many more there are.
    fn described(&self) -> Fds<'_> {
        let listed = self.listed();
        Fds {
            listed,
            unlisted: self.count - listed.len(),
        }
    }
}

/// Runs before the real exec: sweeps every fd the keep rules do not keep.
/// Never fails; never changes `errno`.
///
/// An exec that will fail for sure (its program is missing or not
/// executable, as each attempt of a PATH search done by hand but the last)
/// sweeps nothing: it returns to the caller, whose fds must be as it left
/// them. The attempt that runs sweeps for itself.
///
/// The common path (sweep, nothing to log) needs the keep set and a few
/// words of stack; logging lives in cold functions, so that an exec from a
/// handler on a small alternate signal stack still fits.
pub fn before_exec(launch: &Launch) {
    let mut link = [0u8; TARGET_LINK];
    let Some((global, keep, target)) = decide(launch, &mut link) else {
        return;
    };
    if let Some(errno) = launch.exec().and_then(attempts::will_fail) {
        if log::log_enabled!(log::Level::Debug) {
            log_failed_attempt(launch, errno, &keep);
        }
        return;
    }
    let mode = global.settings.mode;
    if mode == Mode::Sweep && !log::log_enabled!(log::Level::Info) {
        sweep::sweep(&keep);
        return;
    }
    sweep_and_report(launch, target, global, &keep, None);
}

/// Runs before the real spawn (`posix_spawn`, `system`, `popen`), which
/// starts its child from the caller's own fd table: marks every fd the keep
/// rules do not keep, and notes in `marks` each one it marked, so that
/// [`after_spawn`] gives the caller back its table as it was.
pub fn before_spawn(launch: &Launch, marks: &mut Marks) {
    let mut link = [0u8; TARGET_LINK];
    let Some((global, keep, target)) = decide(launch, &mut link) else {
        return;
    };
    if global.settings.mode == Mode::Sweep && !log::log_enabled!(log::Level::Info) {
        sweep::sweep_noting(&keep, marks);
        return;
    }
    sweep_and_report(launch, target, global, &keep, Some(marks));
}

/// Once the spawn has returned (its child has exec'd or failed): clears
/// close-on-exec again on every fd [`before_spawn`] marked that still has
/// it. Never changes `errno`.
pub fn after_spawn(marks: &Marks) {
    sweep::unmark(marks);
}

/// What both paths share: the settings, pass-through (K7), the target's
/// name (K8, K10), and the keep set. `None` when nothing is to be swept.
fn decide<'b>(
    launch: &Launch,
    link: &'b mut [u8; TARGET_LINK],
) -> Option<(&'static Global, KeepSet, Option<&'b [u8]>)> {
    state::ensure_init();
    let global = state::get()?;
    if global.settings.mode == Mode::Off {
        return None;
    }
    if global.passthrough {
        log_passthrough(launch);
        return None;
    }
    // Only the smart policy asks what the target is (K8, K10).
    let target = match global.settings.policy {
        Policy::Smart => launch.target(link),
        Policy::Strict => None,
    };
    let mut keep = KeepSet::new();
    for_each_kept(launch, target, global, &mut |_, lo, hi| {
        keep.insert_range(lo, hi);
    });
    if keep.overflowed() {
        log_overflow(launch);
    }
    Some((global, keep, target))
}

/// The program a launch runs, for the log: its path or command, or `fd N`
/// for `fexecve`. Read only when a line is written: a bad pointer is the
/// kernel's to report (`EFAULT`).
fn program(launch: &Launch) -> Program<'_> {
    Program(launch)
}

struct Program<'a>(&'a Launch);

/// A launch for the log: `CALL PROGRAM (by CALLER)`.
fn launched<'a>(launch: &Launch, program: &'a Program<'a>) -> Launched<'a> {
    Launched {
        call: launch.call.name(),
        program,
        caller: caller(),
    }
}

/// The calling program, whose fds leaked: the basename it goes by (the
/// first of [`Global::own_program`]), or `?`.
fn caller() -> &'static [u8] {
    state::get()
        .and_then(|g| g.own_program.iter().next())
        .unwrap_or(b"?")
}

impl fmt::Display for Program<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.program.bytes(), self.0.program_fd) {
            (Some(path), _) => write!(f, "{}", Bytes(path)),
            (None, Some(fd)) => write!(f, "fd {fd}"),
            (None, None) => f.write_str("?"),
        }
    }
}

#[cold]
#[inline(never)]
fn log_passthrough(launch: &Launch) {
    let program = program(launch);
    log::debug!(
        "{}: pass-through program, nothing swept",
        launched(launch, &program)
    );
}

#[cold]
#[inline(never)]
fn log_overflow(launch: &Launch) {
    let program = program(launch);
    log::debug!(
        "{}: more than {} kept ranges; the nearest were joined, and the fds between them kept",
        launched(launch, &program),
        crate::keepset::KEEP_CAPACITY
    );
}

/// The inheritable fds outside `keep`: what a sweep would mark now.
fn targets(keep: &KeepSet) -> FdList {
    let mut targets = FdList::new();
    let _ = sweep::for_each_open_fd(|fd| {
        if !keep.contains(fd as u32)
            && sys::fcntl_getfd(fd).is_ok_and(|f| f & libc::FD_CLOEXEC == 0)
        {
            targets.push(fd);
        }
    });
    targets
}

/// Lists what the sweep will mark (before it does, since afterwards every
/// fd has close-on-exec), sweeps unless auditing (noting the marks for a
/// spawn), and logs the exec or spawn at info and what it kept at debug.
#[cold]
#[inline(never)]
fn sweep_and_report(
    launch: &Launch,
    target: Option<&[u8]>,
    global: &Global,
    keep: &KeepSet,
    marks: Option<&mut Marks>,
) {
    let mode = global.settings.mode;
    let targets = targets(keep);
    let method = (mode == Mode::Sweep).then(|| match marks {
        Some(marks) => sweep::sweep_noting(keep, marks),
        None => sweep::sweep(keep),
    });
    if targets.count > 0 {
        let program = program(launch);
        crate::logger::sweep(&Sweep {
            launched: launched(launch, &program),
            audit: method.is_none(),
            fds: targets.described(),
        });
    }
    if log::log_enabled!(log::Level::Debug) {
        log_kept(launch, target, global, keep, method);
    }
}

/// One debug line for an exec attempt that will fail: it returns to the
/// caller, so it sweeps nothing; the line lists what the attempt that runs
/// will have to sweep. The verb follows a comma, so that the line never
/// reads as a sweep line.
#[cold]
#[inline(never)]
fn log_failed_attempt(launch: &Launch, errno: sys::Errno, keep: &KeepSet) {
    let targets = targets(keep);
    let program = program(launch);
    let (launched, errno) = (launched(launch, &program), attempts::errno_name(errno));
    if targets.count > 0 {
        log::debug!(
            "{launched}: will fail ({errno}), not swept {}",
            targets.described()
        );
    } else {
        log::debug!("{launched}: will fail ({errno}), nothing to sweep");
    }
}

/// One debug line: every kept fd that lacks close-on-exec, and its rule.
fn log_kept(
    launch: &Launch,
    target: Option<&[u8]>,
    global: &Global,
    keep: &KeepSet,
    method: Option<sweep::Method>,
) {
    let mut line = LineBuf::<{ crate::logger::LINE_CAPACITY }>::new();
    let mut any = false;
    let _ = sweep::for_each_open_fd(|fd| {
        if fd < 3
            || !keep.contains(fd as u32)
            || sys::fcntl_getfd(fd).is_ok_and(|f| f & libc::FD_CLOEXEC != 0)
        {
            return;
        }
        let mut rule = None;
        for_each_kept(launch, target, global, &mut |r: Rule, lo, hi| {
            if rule.is_none() && (lo..=hi).contains(&(fd as u32)) {
                rule = Some(r);
            }
        });
        let sep = if any { ", " } else { "" };
        any = true;
        let label = rule.map_or("?", Rule::label);
        let _ = write!(line, "{sep}{} [{label}]", Target(fd));
    });
    let how = method.map_or("audit", sweep::Method::label);
    let program = program(launch);
    let launched = launched(launch, &program);
    if any {
        log::debug!(
            "{launched}: kept {} (sweep by {how})",
            Bytes(line.finish_no_newline())
        );
    } else {
        log::debug!("{launched}: kept nothing beyond stdio (sweep by {how})");
    }
}
