//! The load-time work, and the state it leaves: the constructor reads the
//! configuration file, resolves the real symbols, reads the settings, decides pass-through, has the
//! registry take the inherited snapshot, and publishes one [`Global`] that
//! the hooks read. The data lives with its owners (`settings`, `registry`,
//! `logger`); this module only orchestrates.

use crate::ffi;
use crate::logger::Bytes;
use crate::once::InitCell;
use crate::settings::{BadParts, Mode, NameList, Origin, Policy, SETTING_COUNT, Setting, Settings};
use crate::{config, logger, policy, real, registry, sys};

/// What the hooks consult.
pub struct Global {
    pub settings: Settings,
    /// The basenames this process's program goes by: of `AT_EXECFN` and of
    /// `argv[0]` (K7, K10). Copied at load: a program may overwrite its
    /// `argv[0]` later (setproctitle).
    pub own_program: NameList,
    /// K7: this program never leaks by accident; nothing is swept.
    pub passthrough: bool,
    /// Whether an exec here consults what the process did with its fds
    /// (K3, K4): the smart policy, sweeping or auditing, in a program that
    /// is not pass-through. Otherwise neither the snapshot nor intent
    /// records are made: bash would pay an `fstat` per redirection for
    /// records nobody reads.
    pub uses_history: bool,
}

impl Global {
    /// Whether K4 intent should be recorded now. Before the constructor has
    /// run the settings are unknown, so record.
    pub fn records_intent() -> bool {
        get().is_none_or(|g| g.uses_history)
    }
}

static GLOBAL: InitCell<Global> = InitCell::new();

/// The state, once the constructor has run.
pub fn get() -> Option<&'static Global> {
    GLOBAL.get()
}

/// Runs the load-time work unless it has run or is running. Idempotent.
pub fn ensure_init() {
    if GLOBAL.get().is_none() {
        init();
    }
}

/// The load-time work: read the configuration file, resolve symbols, read
/// settings, decide pass-through, snapshot inherited fds, install the
/// logger, report bad settings.
fn init() {
    // dlsym may change errno, and the host program must not notice that we
    // loaded.
    let saved_errno = ffi::errno();
    config::with_file(init_with);
    ffi::set_errno(saved_errno);
}

/// One warning's worth of bad parts: where, which setting (none: the file's
/// lines that are not settings), what.
type Bad<'a> = (Origin, Option<Setting>, BadParts<'a>);

/// Each setting can be bad once per source, and the file can have bad lines.
const BAD_SLOTS: usize = 2 * SETTING_COUNT + 1;

fn init_with(found: config::Found<'_>) {
    let file = match found {
        config::Found::Text(text) => Some(text),
        _ => None,
    };
    let mut bad: [Bad<'_>; BAD_SLOTS] = [(Origin::File, None, BadParts::new()); BAD_SLOTS];
    let mut bad_count = 0;
    let made = GLOBAL.init_once(|| {
        real::resolve_all();
        let settings = Settings::from_sources(
            file,
            ffi::environment().iter(),
            sys::secure_execution(),
            &mut |origin, setting, parts| {
                if let Some(slot) = bad.get_mut(bad_count) {
                    *slot = (origin, setting, *parts);
                    bad_count += 1;
                }
            },
        );
        let own_program = own_program_names();
        let passthrough = settings.policy == Policy::Smart
            && own_program
                .iter()
                .any(|name| settings.passthrough.contains(name));
        let uses_history =
            settings.mode != Mode::Off && settings.policy == Policy::Smart && !passthrough;
        if uses_history {
            registry::snapshot_inherited();
            // K11–K13 watch fork children; a process whose execs never
            // consult its history pays nothing per fork.
            real::on_fork_child(crate::child::on_fork_child);
        }
        Global {
            settings,
            own_program,
            passthrough,
            uses_history,
        }
    });
    if let Some(global) = made {
        logger::configure(&global.settings);
        let refused = match found {
            config::Found::Refused(why) => Some(why),
            _ => None,
        };
        if bad_count > 0 || refused.is_some() {
            logger::ensure_installed();
        }
        if let Some(why) = refused {
            warn_refused(why);
        }
        for (origin, setting, parts) in bad.iter().take(bad_count) {
            let list = logger::BadList(parts);
            match (origin, setting) {
                (Origin::Environment, Some(s)) => log::warn!("{}: ignoring {list}", s.name()),
                (Origin::File, Some(s)) => {
                    log::warn!("{}: {}: ignoring {list}", Bytes(CONFIG), s.name())
                }
                (_, None) => log::warn!("{}: ignoring {list}", Bytes(CONFIG)),
            }
        }
    }
}

/// The configuration file's path, for warnings.
const CONFIG: &[u8] = config::PATH.to_bytes();

#[cold]
#[inline(never)]
fn warn_refused(why: config::Refused) {
    let path = Bytes(CONFIG);
    match why {
        config::Refused::NotRegular => log::warn!("{path}: not a regular file; ignored"),
        config::Refused::Untrusted { uid, mode } => log::warn!(
            "{path}: owned by uid {uid} with mode {mode:04o}, not by root and writable by no one else; ignored"
        ),
        config::Refused::TooLarge { size } => log::warn!(
            "{path}: {size} bytes, more than {}; ignored",
            config::CAPACITY
        ),
        config::Refused::Unreadable(errno) => {
            log::warn!("{path}: cannot be read (errno {}); ignored", errno.0)
        }
    }
}

/// The basenames of `AT_EXECFN`, the file the kernel was asked to run,
/// and of `argv[0]`, read once without touching `/proc` (the first access
/// to `/proc/<pid>` costs a process some 30 µs, mostly at exit). For a `#!`
/// script the kernel sets `argv[0]` to the interpreter named in the script
/// (`/bin/bash`), while `AT_EXECFN` names the script; a login shell's
/// `argv[0]` is `-bash`. K7 asks whether either is a pass-through program,
/// K10 whether an exec starts either again.
fn own_program_names() -> NameList {
    let mut names = NameList::new();
    if let Some(exec_fn) = sys::exec_fn() {
        let base = policy::basename(exec_fn.to_bytes());
        if !base.is_empty() {
            names.push(base);
        }
    }
    if let Some(argv0) = ffi::argv0().map(|a| a.strip_prefix(b"-").unwrap_or(a)) {
        let base = policy::basename(argv0);
        if !base.is_empty() && !names.contains(base) {
            names.push(base);
        }
    }
    names
}
