//! Command-line parsing: pure functions from `argv` to an [`Action`].
//!
//! Nothing here touches the environment or the file system, so the unit tests
//! below drive every rule directly. Values are checked with the same grammar
//! the library uses (README, "Settings"), so that a mistake is a usage error here instead
//! of a warning from every process the command starts.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::numbers::parse_fd;

/// The levels `CLOEXEC_LOG` accepts, quietest first.
pub const LOG_LEVELS: [&str; 5] = ["off", "error", "warn", "info", "debug"];

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Action {
    Help,
    Version,
    /// Print the shell lines that preload the library (and the settings),
    /// in the syntax of `shell` (`--shell`; None: from `$SHELL`).
    Profile {
        settings: Settings,
        shell: Option<String>,
    },
    /// Run `program` with `args` (which exclude `argv[0]`) under the library.
    Run {
        settings: Settings,
        program: OsString,
        args: Vec<OsString>,
    },
}

/// Variables to set, name and value, in order.
pub type Vars = Vec<(&'static str, OsString)>;

/// The `CLOEXEC_*` settings given as options; `None`/`false` leaves the
/// variable as the environment has it.
#[derive(Debug, Default, PartialEq)]
pub struct Settings {
    /// `--keep`, validated; several `--keep` options are joined with commas.
    pub keep: Option<String>,
    pub strict: bool,
    pub audit: bool,
    pub log: Option<String>,
    /// `--log-file`, as given (the caller makes it absolute).
    pub log_file: Option<PathBuf>,
}

impl Settings {
    /// The variables to set, in a fixed order.
    pub fn vars(&self, log_file: Option<&std::path::Path>) -> Vars {
        let mut vars = Vec::new();
        if let Some(keep) = &self.keep {
            vars.push(("CLOEXEC_KEEP", keep.into()));
        }
        if self.strict {
            vars.push(("CLOEXEC_POLICY", "strict".into()));
        }
        if self.audit {
            vars.push(("CLOEXEC_MODE", "audit".into()));
        }
        if let Some(level) = &self.log {
            vars.push(("CLOEXEC_LOG", level.into()));
        }
        if let Some(path) = log_file {
            vars.push(("CLOEXEC_LOG_FILE", path.into()));
        }
        vars
    }
}

/// Parses the arguments after `argv[0]`. The error is the one-line message
/// to print after `cloexec: `.
///
/// Options end at `--` or at the first argument that does not start with
/// `-`, like env(1): everything from COMMAND on belongs to the command.
pub fn parse(argv: &[OsString]) -> Result<Action, String> {
    let mut settings = Settings::default();
    let mut profile = false;
    let mut shell: Option<String> = None;
    let mut rest = argv.iter();
    let mut command: Option<&OsString> = None;

    while let Some(arg) = rest.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            command = rest.next();
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            command = Some(arg);
            break;
        }
        // `--name=value` or `--name value`.
        let (name, inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(eq) if bytes.starts_with(b"--") => (
                &bytes[..eq],
                Some(OsStr::from_bytes(&bytes[eq + 1..]).to_owned()),
            ),
            _ => (bytes, None),
        };
        let name_text = String::from_utf8_lossy(name).into_owned();
        let takes_value = matches!(name, b"--keep" | b"--log" | b"--log-file" | b"--shell");
        let value = if takes_value {
            match inline.or_else(|| rest.next().cloned()) {
                Some(v) => Some(v),
                None => return Err(format!("option '{name_text}' needs a value")),
            }
        } else if inline.is_some() {
            return Err(format!("option '{name_text}' takes no value"));
        } else {
            None
        };
        match (name, value) {
            (b"--help" | b"-h", _) => return Ok(Action::Help),
            (b"--version", _) => return Ok(Action::Version),
            (b"--profile", _) => profile = true,
            (b"--strict", _) => settings.strict = true,
            (b"--audit", _) => settings.audit = true,
            (b"--keep", Some(v)) => {
                let list = check_keep(&v)?;
                settings.keep = Some(match settings.keep.take() {
                    Some(earlier) => format!("{earlier},{list}"),
                    None => list,
                });
            }
            (b"--log", Some(v)) => settings.log = Some(check_log(&v)?),
            (b"--shell", Some(v)) => shell = Some(v.to_string_lossy().into_owned()),
            (b"--log-file", Some(v)) => {
                if v.is_empty() {
                    return Err("option '--log-file' needs a non-empty path".into());
                }
                settings.log_file = Some(v.into());
            }
            _ => {
                return Err(format!(
                    "unknown option '{name_text}' (try 'cloexec --help')"
                ));
            }
        }
    }

    if shell.is_some() && !profile {
        return Err("--shell goes with --profile".into());
    }
    match (profile, command) {
        (true, None) => Ok(Action::Profile { settings, shell }),
        (true, Some(cmd)) => Err(format!(
            "--profile takes no COMMAND (got '{}')",
            cmd.to_string_lossy()
        )),
        (false, None) => Err("missing COMMAND (try 'cloexec --help')".into()),
        (false, Some(program)) => Ok(Action::Run {
            settings,
            program: program.clone(),
            args: rest.cloned().collect(),
        }),
    }
}

/// Checks a `CLOEXEC_KEEP` list: fds and inclusive ranges, comma-separated
/// (`3,5,10-12`), each number a valid fd (0 ..= `i32::MAX`), each range
/// ascending. Returns it unchanged.
pub fn check_keep(value: &OsStr) -> Result<String, String> {
    let text = value.to_string_lossy();
    let bad = |part: &str, why: &str| {
        Err(format!(
            "bad --keep list '{text}': '{part}' {why} (expected fds and ranges like 3,5,10-12)"
        ))
    };
    if text.is_empty() {
        return bad("", "is empty");
    }
    for part in text.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        match (parse_fd(lo.as_bytes()), parse_fd(hi.as_bytes())) {
            (Some(lo), Some(hi)) if lo <= hi => {}
            (Some(_), Some(_)) => return bad(part, "is a reversed range"),
            _ => return bad(part, "is not an fd or a range of fds"),
        }
    }
    Ok(text.into_owned())
}

/// Checks a `CLOEXEC_LOG` level: one of [`LOG_LEVELS`], exactly.
pub fn check_log(value: &OsStr) -> Result<String, String> {
    let text = value.to_string_lossy();
    if LOG_LEVELS.contains(&&*text) {
        Ok(text.into_owned())
    } else {
        Err(format!(
            "bad --log level '{text}' (expected one of: {})",
            LOG_LEVELS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn run_of(list: &[&str]) -> (Settings, OsString, Vec<OsString>) {
        match parse(&args(list)) {
            Ok(Action::Run {
                settings,
                program,
                args,
            }) => (settings, program, args),
            other => panic!("{list:?} gave {other:?}"),
        }
    }

    #[test]
    fn options_stop_at_the_command() {
        let (s, program, rest) = run_of(&["--strict", "ls", "--audit", "-l"]);
        assert!(s.strict && !s.audit);
        assert_eq!(program, "ls");
        assert_eq!(rest, args(&["--audit", "-l"]));
    }

    #[test]
    fn double_dash_ends_options() {
        let (s, program, rest) = run_of(&["--audit", "--", "--strict", "x"]);
        assert!(s.audit && !s.strict);
        assert_eq!(program, "--strict");
        assert_eq!(rest, args(&["x"]));
    }

    #[test]
    fn values_inline_or_separate() {
        let (s, _, _) = run_of(&[
            "--keep=3",
            "--keep",
            "10-12",
            "--log",
            "debug",
            "--log-file=/tmp/x",
            "true",
        ]);
        assert_eq!(s.keep.as_deref(), Some("3,10-12"));
        assert_eq!(s.log.as_deref(), Some("debug"));
        assert_eq!(s.log_file, Some(PathBuf::from("/tmp/x")));
        assert_eq!(
            s.vars(s.log_file.as_deref()),
            vec![
                ("CLOEXEC_KEEP", "3,10-12".into()),
                ("CLOEXEC_LOG", "debug".into()),
                ("CLOEXEC_LOG_FILE", "/tmp/x".into())
            ]
        );
    }

    #[test]
    fn help_version_profile() {
        assert_eq!(parse(&args(&["--help"])), Ok(Action::Help));
        assert_eq!(parse(&args(&["-h", "x"])), Ok(Action::Help));
        assert_eq!(parse(&args(&["--version"])), Ok(Action::Version));
        let strict = Settings {
            strict: true,
            ..Settings::default()
        };
        assert_eq!(
            parse(&args(&["--strict", "--profile"])),
            Ok(Action::Profile {
                settings: strict,
                shell: None
            })
        );
        assert_eq!(
            parse(&args(&["--profile", "--shell=fish"])),
            Ok(Action::Profile {
                settings: Settings::default(),
                shell: Some("fish".into())
            })
        );
        assert!(parse(&args(&["--profile", "ls"])).is_err());
        assert!(parse(&args(&["--shell", "fish", "ls"])).is_err());
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["--strict"],
            &["--"],
            &["--bogus", "ls"],
            &["-x", "ls"],
            &["--keep"],
            &["--log", "loud", "ls"],
            &["--log=", "ls"],
            &["--strict=yes", "ls"],
            &["--log-file=", "ls"],
            &["--keep", "3-", "ls"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn keep_lists() {
        for good in ["3", "3,5,10-12", "0-2", "7-7", "2147483647", "003"] {
            assert_eq!(check_keep(OsStr::new(good)).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "3-",
            "-1",
            "abc",
            "12-10",
            "3,,5",
            "3,",
            " 3",
            "+3",
            "1-2-3",
            "2147483648",
            "99999999999999999999",
        ] {
            assert!(check_keep(OsStr::new(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn log_levels() {
        for level in LOG_LEVELS {
            assert_eq!(check_log(OsStr::new(level)).as_deref(), Ok(level));
        }
        for bad in ["", "INFO", "trace", "warning"] {
            assert!(check_log(OsStr::new(bad)).is_err());
        }
    }
}
