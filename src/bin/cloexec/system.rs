//! `cloexec system status|enable|disable [--root DIR]`: the library for
//! every process of a host or an image, through `/etc/ld.so.preload`, and
//! its settings for all of them in `/etc/cloexec.conf`.
//!
//! The edits are pure functions (`etcfiles`); this module is the thin layer
//! that touches the file system: it checks who runs it, proves that the
//! library loads before listing it, and replaces a file atomically (a
//! temporary file in the same directory, `fsync`, `rename`, `fsync` of the
//! directory), so that a crash leaves the old file or the new one, never
//! half of one.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::{Parser, Subcommand};

use crate::etcfiles::{self, Add, Remove};
use crate::settings::{self, LogTarget, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "cloexec system",
    about = "Turn libcloexec on or off for every process of this host (or of an image), through /etc/ld.so.preload.",
    after_help = "\
enable first runs a program with the library preloaded and refuses unless it
runs cleanly; then it adds the library's path to /etc/ld.so.preload once,
keeping every other line. --mode and --log-to set the settings every process
reads from /etc/cloexec.conf (services never see a user's environment).
disable removes only the library's line (and the file, if enable created it
and nothing else is left). Audit first:

  cloexec system enable --mode audit --log-to journal
  cloexec report <(journalctl -t libcloexec -o json)   # a week later
  cloexec system enable --mode sweep

Exit status: 0; 1 if refused (not root, the library does not load, another
copy is listed) or a file cannot be written; 2 for bad usage. See cloexec(1)."
)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Say whether the library is on, whether its path exists, and which
    /// settings every process gets
    Status(Root),
    /// List the library in /etc/ld.so.preload (after checking that it loads)
    Enable {
        #[command(flatten)]
        root: Root,
        /// The library's path as the image's processes see it (default: the
        /// library this command uses, found beside it or in ../lib)
        #[arg(long, value_name = "PATH")]
        library: Option<PathBuf>,
        /// The mode every process gets (CLOEXEC_MODE in /etc/cloexec.conf)
        #[arg(long, value_name = "MODE", value_parser = ["audit", "sweep"])]
        mode: Option<String>,
        /// Where every process logs (CLOEXEC_LOG_TO in /etc/cloexec.conf):
        /// stderr, file:PATH, syslog[:SOCKET], journal[:SOCKET]
        #[arg(long, value_name = "TARGET", value_parser = check_log_to)]
        log_to: Option<String>,
    },
    /// Remove the library's lines from /etc/ld.so.preload
    Disable(Root),
}

#[derive(clap::Args, Debug)]
struct Root {
    /// Work on the system image under DIR instead of /
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

impl Root {
    fn dir(&self) -> PathBuf {
        self.root.clone().unwrap_or_else(|| PathBuf::from("/"))
    }
}

/// Refused, or failed: exit status 1.
const EXIT_REFUSED: i32 = 1;

const PRELOAD: &str = "etc/ld.so.preload";
const CONF: &str = "etc/cloexec.conf";

pub fn run(args: Args) -> i32 {
    let result = match args.action {
        Action::Status(root) => status(&root),
        Action::Enable {
            root,
            library,
            mode,
            log_to,
        } => enable(
            &root,
            library.as_deref(),
            mode.as_deref(),
            log_to.as_deref(),
        ),
        Action::Disable(root) => disable(&root),
    };
    match result {
        Ok(text) => crate::print(&text),
        Err(message) => crate::fail(EXIT_REFUSED, &format!("system: {message}")),
    }
}

/// A `CLOEXEC_LOG_TO` value the library accepts, checked with its own parser.
fn check_log_to(value: &str) -> Result<String, String> {
    let entry = format!("CLOEXEC_LOG_TO={value}");
    let mut bad = false;
    Settings::from_env([entry.as_bytes()].into_iter(), false, &mut |_, _| {
        bad = true
    });
    if bad || value.contains('\n') {
        Err("expected stderr, file:PATH, syslog, syslog:SOCKET, journal or journal:SOCKET".into())
    } else {
        Ok(value.to_owned())
    }
}

/// The image's root (`/` by default) and the library's path inside it.
struct Place {
    root: PathBuf,
    library: PathBuf,
}

impl Place {
    fn new(root: &Root, library: Option<&Path>) -> Result<Place, String> {
        let root = root.dir();
        if !root.is_dir() {
            return Err(format!("--root {}: not a directory", root.display()));
        }
        let library = match library {
            Some(path) if path.is_absolute() => path.to_owned(),
            Some(path) => {
                return Err(format!(
                    "--library {}: not an absolute path",
                    path.display()
                ));
            }
            None => {
                let override_path = std::env::var_os("CLOEXEC_LIBRARY").filter(|p| !p.is_empty());
                crate::preload::locate(override_path.as_deref().map(Path::new))?
            }
        };
        if library
            .as_os_str()
            .as_bytes()
            .iter()
            .any(|b| b.is_ascii_whitespace() || *b == b':' || *b == b'#')
        {
            return Err(format!(
                "{} cannot go in /etc/ld.so.preload: its path holds a space, a colon or a '#'",
                library.display()
            ));
        }
        Ok(Place { root, library })
    }

    /// The image's files alone, for status and disable.
    fn files(root: &Root) -> Place {
        Place {
            root: root.dir(),
            library: PathBuf::new(),
        }
    }

    /// `path` (relative, like `etc/ld.so.preload`) under the root.
    fn file(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// The library's file as this process sees it.
    fn library_file(&self) -> PathBuf {
        self.root
            .join(self.library.strip_prefix("/").unwrap_or(&self.library))
    }

    /// How a file of the image is named in messages: as its processes see it,
    /// plus the root when there is one.
    fn name(&self, path: &str) -> String {
        if self.root == Path::new("/") {
            format!("/{path}")
        } else {
            format!("{} (in {})", format_args!("/{path}"), self.root.display())
        }
    }
}

fn must_be_root(what: &str) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Ok(())
    } else {
        Err(format!(
            "{what} must be run as root (it writes /etc/ld.so.preload, read by every process); nothing was changed"
        ))
    }
}

/// The file's bytes, or None if there is no such file.
fn read_if_there(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "{}: {}",
            path.display(),
            crate::preload::plain_error(&e)
        )),
    }
}

fn enable(
    root: &Root,
    library: Option<&Path>,
    mode: Option<&str>,
    log_to: Option<&str>,
) -> Result<String, String> {
    must_be_root("enable")?;
    let place = Place::new(root, library)?;
    verify_loads(&place.library_file())?;
    let preload_path = place.file(PRELOAD);
    let old = read_if_there(&preload_path)?;
    let library = place.library.as_os_str().as_bytes();
    let edit = etcfiles::add_preload(old.as_deref(), library);
    if let Add::OtherCopy(other) = &edit {
        return Err(format!(
            "{} already lists {}; run 'cloexec system disable' first",
            place.name(PRELOAD),
            String::from_utf8_lossy(other)
        ));
    }
    let mut said = String::new();
    if mode.is_some() || log_to.is_some() {
        let conf_path = place.file(CONF);
        let mut text = read_if_there(&conf_path)?;
        for (key, value) in [("CLOEXEC_MODE", mode), ("CLOEXEC_LOG_TO", log_to)] {
            if let Some(value) = value {
                text = Some(etcfiles::set_conf(text.as_deref(), key, value));
                said.push_str(&format!("{}: {key}={value}\n", place.name(CONF)));
            }
        }
        let text = text.unwrap_or_default();
        if text.len() > settings::FILE_CAPACITY {
            return Err(format!(
                "{} would be {} bytes, more than the {} the library reads; nothing was changed",
                place.name(CONF),
                text.len(),
                settings::FILE_CAPACITY
            ));
        }
        replace(&conf_path, &text)?;
    }
    match edit {
        Add::Write(text) => {
            replace(&preload_path, &text)?;
            said.push_str(&format!(
                "{}: added {}; every process started from now on loads it\n",
                place.name(PRELOAD),
                place.library.display()
            ));
        }
        _ => said.push_str(&format!(
            "{}: already lists {}\n",
            place.name(PRELOAD),
            place.library.display()
        )),
    }
    Ok(said)
}

fn disable(root: &Root) -> Result<String, String> {
    must_be_root("disable")?;
    let place = Place::files(root);
    let path = place.file(PRELOAD);
    let Some(old) = read_if_there(&path)? else {
        return Ok(format!(
            "{}: no such file; nothing to do\n",
            place.name(PRELOAD)
        ));
    };
    match etcfiles::remove_preload(&old) {
        Remove::NothingToDo => Ok(format!(
            "{}: does not list the library; nothing to do\n",
            place.name(PRELOAD)
        )),
        Remove::Delete => {
            fs::remove_file(&path)
                .map_err(|e| format!("{}: {}", path.display(), crate::preload::plain_error(&e)))?;
            sync_dir(&path)?;
            Ok(format!(
                "{}: removed (enable had created it, and nothing else was in it)\n",
                place.name(PRELOAD)
            ))
        }
        Remove::Write { text, left } => {
            replace(&path, &text)?;
            let mut said = format!("{}: removed the library's line\n", place.name(PRELOAD));
            if !left.is_empty() {
                let left: Vec<_> = left.iter().map(|e| String::from_utf8_lossy(e)).collect();
                said.push_str(&format!(
                    "{}: still names {} on a line with other libraries; edit that line by hand\n",
                    place.name(PRELOAD),
                    left.join(", ")
                ));
            }
            Ok(said)
        }
    }
}

/// Proves the library loads and runs: `cat /proc/self/maps` with it
/// preloaded and a clean environment must exit 0, print nothing on stderr,
/// and map the library. A path that does not load would print the loader's
/// error in every process of the host.
fn verify_loads(file: &Path) -> Result<(), String> {
    let meta = fs::metadata(file)
        .map_err(|e| format!("{}: {}", file.display(), crate::preload::plain_error(&e)))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", file.display()));
    }
    let real = fs::canonicalize(file)
        .map_err(|e| format!("{}: {}", file.display(), crate::preload::plain_error(&e)))?;
    let out = Command::new("/bin/cat")
        .arg("/proc/self/maps")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LD_PRELOAD", &real)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "cannot run /bin/cat to check the library: {}",
                crate::preload::plain_error(&e)
            )
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let maps = String::from_utf8_lossy(&out.stdout);
    let mapped = maps.lines().any(|l| l.ends_with(&*real.to_string_lossy()));
    if !out.status.success() || !stderr.is_empty() || !mapped {
        return Err(format!(
            "{} does not load cleanly ({}{}); nothing was changed{}",
            real.display(),
            if mapped { "" } else { "not mapped, " },
            out.status,
            if stderr.is_empty() {
                String::new()
            } else {
                format!(":\n{}", stderr.trim_end())
            }
        ));
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same
/// directory (same owner; the old file's mode, or 0644), written, `fsync`ed,
/// renamed over `path`, and the directory `fsync`ed.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let err = |what: &Path, e: io::Error| {
        format!("{}: {}", what.display(), crate::preload::plain_error(&e))
    };
    let mode = fs::metadata(path).map_or(0o644, |m| m.mode() & 0o7777);
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".cloexec-{}", std::process::id()));
    let temp = dir.join(name);
    let written = (|| -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(err(path, e));
    }
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("{}: {}", dir.display(), crate::preload::plain_error(&e)))
}

/// What `/etc/cloexec.conf` holds, and whether the library would use it,
/// with the library's own rule: a regular file owned by root, writable by
/// no one else, at most `FILE_CAPACITY` bytes (the library's `config::check`).
fn conf_state(path: &Path) -> (String, Option<Vec<u8>>) {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return ("absent: every process uses the defaults".into(), None);
        }
        Err(e) => {
            return (
                format!(
                    "cannot be read ({}): ignored",
                    crate::preload::plain_error(&e)
                ),
                None,
            );
        }
    };
    let mode = meta.mode() & 0o7777;
    if !meta.is_file() {
        return (
            "not a regular file: ignored, with a warning in every process".into(),
            None,
        );
    }
    if meta.uid() != 0 || mode & 0o022 != 0 {
        return (
            format!(
                "owned by uid {} with mode {mode:04o}, not by root and writable by no one else: ignored, with a warning in every process",
                meta.uid()
            ),
            None,
        );
    }
    if meta.len() > settings::FILE_CAPACITY as u64 {
        return (
            format!(
                "{} bytes, more than {}: ignored, with a warning in every process",
                meta.len(),
                settings::FILE_CAPACITY
            ),
            None,
        );
    }
    match fs::read(path) {
        Ok(text) => (format!("trusted (root's, mode {mode:04o})"), Some(text)),
        Err(e) => (
            format!(
                "cannot be read ({}): ignored",
                crate::preload::plain_error(&e)
            ),
            None,
        ),
    }
}

fn status(root: &Root) -> Result<String, String> {
    let place = Place::files(root);
    let mut out = String::new();
    let preload = read_if_there(&place.file(PRELOAD))?;
    let listed: Vec<String> = preload
        .as_deref()
        .map(etcfiles::preload_entries)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| etcfiles::is_library(e))
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    match (&preload, listed.is_empty()) {
        (None, _) => out.push_str(&format!("off: {} does not exist\n", place.name(PRELOAD))),
        (Some(_), true) => out.push_str(&format!(
            "off: {} does not list the library\n",
            place.name(PRELOAD)
        )),
        (Some(_), false) => {
            out.push_str(&format!("on: {} lists the library\n", place.name(PRELOAD)));
        }
    }
    for entry in &listed {
        let file = place.root.join(entry.trim_start_matches('/'));
        let exists = if file.is_file() {
            "exists"
        } else {
            "MISSING: every process prints a loader error; run 'cloexec system disable'"
        };
        out.push_str(&format!("library: {entry} ({exists})\n"));
    }
    if listed.is_empty() {
        match crate::preload::locate(None) {
            Ok(lib) => out.push_str(&format!("library: {} (not listed)\n", lib.display())),
            Err(e) => out.push_str(&format!("library: {e}\n")),
        }
    }
    let (state, text) = conf_state(&place.file(CONF));
    out.push_str(&format!("{}: {state}\n", place.name(CONF)));
    let settings = Settings::from_sources(
        text.as_deref(),
        std::iter::empty::<&[u8]>(),
        true,
        &mut |_, _, _| {},
    );
    out.push_str(&format!(
        "in force for every process without CLOEXEC_* variables (and for setuid ones): {}\n",
        describe(&settings)
    ));
    Ok(out)
}

/// The settings, in `CLOEXEC_*` words.
fn describe(s: &Settings) -> String {
    let word = |w: &dyn std::fmt::Debug| format!("{w:?}").to_ascii_lowercase();
    let target = match &s.log_to {
        LogTarget::Stderr => "stderr".to_owned(),
        LogTarget::File(p) => format!("file:{}", String::from_utf8_lossy(p.as_bytes())),
        LogTarget::Syslog(p) => format!("syslog:{}", String::from_utf8_lossy(p.as_bytes())),
        LogTarget::Journal(p) => format!("journal:{}", String::from_utf8_lossy(p.as_bytes())),
    };
    format!(
        "mode {}, policy {}, log {} to {target}",
        word(&s.mode),
        word(&s.policy),
        word(&s.log_level)
    )
}
