//! `cloexec [OPTION]… [--] COMMAND [ARG]…`: run COMMAND with libcloexec
//! preloaded and the `CLOEXEC_*` settings given as options.
//!
//! The library's path goes in front of `LD_PRELOAD`, the settings go in the
//! environment, the sanitizer's switch for preloads goes in `ASAN_OPTIONS`
//! (`sanitizer.rs`), and COMMAND replaces this process through `execvp`, so it
//! finds COMMAND on `PATH` the way env(1) does. `cloexec --profile` prints
//! the same setup as shell lines instead. See `man/cloexec.1`.
//!
//! Unlike the library this binary uses std: it is never preloaded, and it
//! only runs once, before COMMAND.
//!
//! It defines the C `main` itself (`no_main`) because std's runtime sets
//! `SIGPIPE` to ignored before a Rust `main` runs, and std's `Command` then
//! execs with `SIGPIPE` at its default and an empty signal mask. A wrapper
//! should hand COMMAND the signals it was given, as env(1) does, so this one
//! skips std's runtime and calls `execvp` itself.

#![cfg_attr(not(test), no_main)]
#![deny(clippy::undocumented_unsafe_blocks)]

// The library's pure modules, compiled in here too so that `cloexec fds`
// reads the settings and the K2/K6 rules exactly as the library does (the
// command cannot link the cdylib). Each is a leaf within this set: core,
// `log`, and one another; `crate::numbers` names the same module in both
// crates. The command uses only part of them.
#[allow(dead_code)]
#[path = "../conventions.rs"]
mod conventions;
#[allow(dead_code)]
#[path = "../keepset.rs"]
mod keepset;
#[allow(dead_code)]
#[path = "../numbers.rs"]
mod numbers;
#[allow(dead_code)]
#[path = "../settings.rs"]
mod settings;

// The crate root's modules would live beside it, in src/bin/; keep them in
// this binary's own folder instead.
#[path = "cloexec/allow.rs"]
mod allow;
#[path = "cloexec/cli.rs"]
mod cli;
#[path = "cloexec/etcfiles.rs"]
mod etcfiles;
#[path = "cloexec/fds.rs"]
mod fds;
#[path = "cloexec/logline.rs"]
mod logline;
#[path = "cloexec/outside.rs"]
mod outside;
#[path = "cloexec/preload.rs"]
mod preload;
#[path = "cloexec/profile.rs"]
mod profile;
#[path = "cloexec/report.rs"]
mod report;
#[path = "cloexec/sanitizer.rs"]
mod sanitizer;
#[path = "cloexec/system.rs"]
mod system;
#[path = "cloexec/term.rs"]
mod term;

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cli::{Action, Settings, Vars};

/// Bad usage: an unknown option, a bad value, no COMMAND.
const EXIT_USAGE: i32 = 2;
/// cloexec itself failed (no library, no working directory, a write error),
/// as env(1) and timeout(1) use 125.
const EXIT_FAILED: i32 = 125;
/// COMMAND was found but could not be run.
const EXIT_CANNOT_RUN: i32 = 126;
/// COMMAND was not found.
const EXIT_NOT_FOUND: i32 = 127;

const USAGE: &str = "\
Usage: cloexec [OPTION]... [--] COMMAND [ARG]...
  or:  cloexec [OPTION]... --profile [--shell NAME]
  or:  cloexec report [--json] [--fail-on-leak] [--allow PROGRAM:TARGET]... [FILE]...
  or:  cloexec fds [--json] [PID]...
  or:  cloexec system status|enable|disable [--root DIR]
Run COMMAND with libcloexec preloaded: descriptors it leaks by accident are
marked close-on-exec before it runs another program.

  --keep LIST      never touch these fds (CLOEXEC_KEEP), e.g. 3,5,10-12
  --strict         keep only what --keep names (CLOEXEC_POLICY=strict)
  --audit          only report what would be marked (CLOEXEC_MODE=audit)
  --log LEVEL      off, error, warn, info or debug (CLOEXEC_LOG)
  --log-file PATH  append log lines to PATH, not stderr (CLOEXEC_LOG_FILE)
  --profile        print shell lines that preload the library (and set the
                   options given) for a shell profile, then exit
  --shell NAME     the profile's syntax: sh, bash, dash, zsh, ksh, fish, csh
                   or tcsh (default: from $SHELL, else sh)
  -h, --help       print this help and exit
  --version        print the version and exit

Subcommands (see 'cloexec report --help', 'cloexec fds --help',
'cloexec system --help'):
  report           summarise the library's log lines: which programs leaked
                   which fds; --fail-on-leak makes it a CI gate
  fds              list a process's open fds and what the library would do
                   with each at its next exec
  system           turn the library on or off for every process of the host
                   (/etc/ld.so.preload, /etc/cloexec.conf)
To run a program named 'report', 'fds' or 'system', put '--' before it.

The library is found beside this command or in ../lib relative to it;
CLOEXEC_LIBRARY names another. Exit status: COMMAND's, or 2 for bad usage,
125 if cloexec fails, 126 if COMMAND cannot run, 127 if it is not found.
See cloexec(1).
";

// Under `cargo test` the harness brings its own `main`, and this one is an
// ordinary (unused) function.
#[cfg_attr(not(test), unsafe(no_mangle))]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // std captures argc/argv itself on glibc, so `args_os` works here.
    // `exit` (not a return) flushes std's buffered stdout.
    std::process::exit(run(std::env::args_os().skip(1).collect()))
}

fn run(argv: Vec<OsString>) -> i32 {
    match argv.first().and_then(|a| a.to_str()) {
        Some("report") => return subcommand::<report::Args>("report", &argv, report::run),
        Some("fds") => return subcommand::<fds::Args>("fds", &argv, fds::run),
        Some("system") => return subcommand::<system::Args>("system", &argv, system::run),
        _ => {}
    }
    match cli::parse(&argv) {
        Err(message) => fail(EXIT_USAGE, &message),
        Ok(Action::Help) => print(USAGE),
        Ok(Action::Version) => print(&format!("cloexec {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(Action::Profile { settings, shell }) => {
            let env_shell = std::env::var_os("SHELL");
            let syntax = match profile::Syntax::choose(shell.as_deref(), env_shell.as_deref()) {
                Ok(syntax) => syntax,
                Err(message) => return fail(EXIT_USAGE, &message),
            };
            match prepare(&settings)
                .and_then(|(library, vars)| profile::lines(syntax, &library, &vars))
            {
                Ok(text) => print(&text),
                Err(message) => fail(EXIT_FAILED, &message),
            }
        }
        Ok(Action::Run {
            settings,
            program,
            args,
        }) => match prepare(&settings) {
            Ok((library, vars)) => exec(&library, &vars, &program, &args),
            Err(message) => fail(EXIT_FAILED, &message),
        },
    }
}

/// Parses a subcommand's arguments (after its name) with clap and runs it.
/// Help and version go to stdout with status 0; a usage error is one
/// `cloexec: NAME: ...` line on stderr and status 2, like the wrapper's own.
fn subcommand<A: clap::Parser>(name: &str, argv: &[OsString], run: fn(A) -> i32) -> i32 {
    let program = format!("cloexec {name}");
    let args = std::iter::once(OsString::from(&program)).chain(argv[1..].iter().cloned());
    match A::try_parse_from(args) {
        Ok(parsed) => run(parsed),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                let _ = e.print();
                0
            }
            _ => {
                let rendered = e.render().to_string();
                let first = rendered.lines().next().unwrap_or_default();
                let message = first.strip_prefix("error: ").unwrap_or(first);
                fail(
                    EXIT_USAGE,
                    &format!("{name}: {message} (try '{program} --help')"),
                )
            }
        },
    }
}

/// Finds the library and turns the settings into variables (with
/// `--log-file` made absolute, since COMMAND and its children may change
/// directory before they log).
fn prepare(settings: &Settings) -> Result<(PathBuf, Vars), String> {
    let override_path = match std::env::var_os("CLOEXEC_LIBRARY").filter(|p| !p.is_empty()) {
        Some(path) => Some(absolute("CLOEXEC_LIBRARY", Path::new(&path))?),
        None => None,
    };
    let library = preload::locate(override_path.as_deref())?;
    let log_file = match &settings.log_file {
        Some(path) => Some(absolute("--log-file", path)?),
        None => None,
    };
    Ok((library, settings.vars(log_file.as_deref())))
}

/// `path` made absolute from the current directory (which need not exist
/// when `path` is absolute already).
fn absolute(what: &str, path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path)
        .map_err(|e| format!("{what} {}: {}", path.display(), preload::plain_error(&e)))
}

/// Sets up the environment and replaces this process with `program`.
/// Returns only if that fails.
fn exec(library: &Path, vars: &[(&str, OsString)], program: &OsString, args: &[OsString]) -> i32 {
    let preload = preload::prepend(library, std::env::var_os("LD_PRELOAD").as_deref());
    let asan = sanitizer::with_switch(std::env::var_os(sanitizer::VARIABLE).as_deref());
    // SAFETY: this process has one thread (nothing here starts another), so
    // nothing can read the environment while it changes.
    unsafe {
        std::env::set_var("LD_PRELOAD", preload);
        if let Some(value) = asan {
            std::env::set_var(sanitizer::VARIABLE, value);
        }
        for (name, value) in vars {
            std::env::set_var(name, value);
        }
    }
    // Arguments come from the kernel's NUL-terminated argv, so they hold no
    // NUL byte and `CString::new` cannot fail.
    let c_args: Vec<CString> = std::iter::once(program)
        .chain(args)
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut c_argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    c_argv.push(std::ptr::null());
    // SAFETY: `c_argv` is a NULL-terminated array of pointers to C strings
    // that live (in `c_args`) across the call.
    unsafe { libc::execvp(c_argv[0], c_argv.as_ptr()) };
    let error = io::Error::last_os_error();
    let code = if error.kind() == io::ErrorKind::NotFound {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_RUN
    };
    fail(
        code,
        &format!(
            "'{}': {}",
            program.to_string_lossy(),
            preload::plain_error(&error)
        ),
    )
}

/// Writes `text` to stdout; returns the exit status.
fn print(text: &str) -> i32 {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => fail(
            EXIT_FAILED,
            &format!("write error: {}", preload::plain_error(&e)),
        ),
    }
}

/// Prints `cloexec: message` on stderr; returns `code`.
fn fail(code: i32, message: &str) -> i32 {
    let _ = writeln!(io::stderr(), "cloexec: {message}");
    code
}
