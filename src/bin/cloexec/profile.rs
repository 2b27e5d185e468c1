//! `cloexec --profile`: the lines a shell profile needs, in the syntax of
//! the user's shell. Each puts the library (by its absolute path) in front
//! of `LD_PRELOAD` unless an entry there already names it, so sourcing the
//! profile again, or in a nested shell that inherited the variable, adds
//! nothing; an existing `LD_PRELOAD` is kept behind it. Then the
//! sanitizer's switch is added to `ASAN_OPTIONS` unless it already says
//! something about it (`preload::ASAN_SWITCH`), and one line per setting.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::preload::ASAN_SWITCH;

/// The syntax families.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Syntax {
    /// sh, bash, dash, zsh, ksh, mksh, ash, busybox, yash.
    Posix,
    Fish,
    /// csh and tcsh.
    Csh,
}

const POSIX_SHELLS: [&str; 10] = [
    "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "busybox", "yash",
];

impl Syntax {
    /// The syntax of a shell named by path or name, if it is known.
    pub fn of(shell: &str) -> Option<Syntax> {
        let name = shell.rsplit('/').next().unwrap_or(shell);
        // A login shell's argv[0] may start with '-'.
        let name = name.strip_prefix('-').unwrap_or(name);
        match name {
            "fish" => Some(Syntax::Fish),
            "csh" | "tcsh" | "bsd-csh" => Some(Syntax::Csh),
            _ if POSIX_SHELLS.contains(&name) => Some(Syntax::Posix),
            _ => None,
        }
    }

    /// The syntax to print: `--shell NAME` if given (an unknown name is a
    /// usage error), else `$SHELL`'s, else (unset or unknown) POSIX.
    pub fn choose(option: Option<&str>, env_shell: Option<&OsStr>) -> Result<Syntax, String> {
        match option {
            Some(name) => Syntax::of(name).ok_or_else(|| {
                format!(
                    "unknown --shell '{name}' (expected one of: {}, fish, csh, tcsh)",
                    POSIX_SHELLS.join(", ")
                )
            }),
            None => Ok(env_shell
                .and_then(|s| Syntax::of(&s.to_string_lossy()))
                .unwrap_or(Syntax::Posix)),
        }
    }
}

/// The profile lines for `syntax`. The error (a path or value that the
/// fish or csh line cannot hold safely) is a one-line message.
pub fn lines(syntax: Syntax, library: &Path, vars: &[(&str, OsString)]) -> Result<String, String> {
    match syntax {
        Syntax::Posix => Ok(posix(library, vars)),
        Syntax::Fish => fish(library, vars),
        Syntax::Csh => csh(library, vars),
    }
}

/// POSIX sh (bash, dash, zsh, ksh): a `case` that matches the library
/// between separators, then `export NAME=VALUE` per setting.
fn posix(library: &Path, vars: &[(&str, OsString)]) -> String {
    let lib = library.as_os_str();
    let (pattern, value) = if needs_single_quotes(lib) {
        let q = sh_single_quote(lib);
        (q.clone(), format!("{q}\"${{LD_PRELOAD:+ $LD_PRELOAD}}\""))
    } else {
        let plain = lib.to_string_lossy();
        (
            format!("\"{plain}\""),
            format!("\"{plain}${{LD_PRELOAD:+ $LD_PRELOAD}}\""),
        )
    };
    let mut text = format!(
        "case \" ${{LD_PRELOAD-}} \" in *[\\ :]{pattern}[\\ :]*) ;; \
         *) export LD_PRELOAD={value} ;; esac\n\
         case \"${{ASAN_OPTIONS-}}\" in *verify_asan_link_order=*) ;; \
         *) export ASAN_OPTIONS=\"${{ASAN_OPTIONS:+$ASAN_OPTIONS:}}{ASAN_SWITCH}\" ;; esac\n"
    );
    for (name, v) in vars {
        text.push_str(&format!("export {name}={}\n", sh_word(v)));
    }
    text
}

/// fish: `string match` on the value with colons made spaces, and
/// `string trim` so that an empty `LD_PRELOAD` leaves no trailing space.
/// `"$LD_PRELOAD"` is quoted so that `string` never waits for stdin.
fn fish(library: &Path, vars: &[(&str, OsString)]) -> Result<String, String> {
    let lib = plain("fish", "the library's path", library.as_os_str())?;
    let mut text = format!(
        "if not string match -q -- '* {lib} *' (string replace -a ':' ' ' -- \" $LD_PRELOAD \"); \
         set -gx LD_PRELOAD (string trim -- \"{lib} $LD_PRELOAD\"); end\n\
         if not string match -q -- '*verify_asan_link_order=*' \"$ASAN_OPTIONS\"; \
         set -gx ASAN_OPTIONS (string trim -c ':' -- \"$ASAN_OPTIONS:{ASAN_SWITCH}\"); end\n"
    );
    for (name, v) in vars {
        text.push_str(&format!("set -gx {name} '{}'\n", plain("fish", name, v)?));
    }
    Ok(text)
}

/// csh and tcsh: `if` lines one command each, with `:gs` to make colons
/// spaces; an unset or empty `LD_PRELOAD` is set to the library alone.
/// The pattern is quoted only around the path (`*' LIB '*`): BSD csh takes
/// a wholly quoted pattern literally.
fn csh(library: &Path, vars: &[(&str, OsString)]) -> Result<String, String> {
    let lib = plain("csh", "the library's path", library.as_os_str())?;
    let mut text = format!(
        "if ( ! $?LD_PRELOAD ) setenv LD_PRELOAD ''\n\
         if ( \"$LD_PRELOAD\" == '' ) setenv LD_PRELOAD '{lib}'\n\
         if ( \" $LD_PRELOAD:gs/:/ / \" !~ *' {lib} '* ) setenv LD_PRELOAD '{lib}'\" $LD_PRELOAD\"\n\
         if ( ! $?ASAN_OPTIONS ) setenv ASAN_OPTIONS ''\n\
         if ( \"$ASAN_OPTIONS\" == '' ) setenv ASAN_OPTIONS '{ASAN_SWITCH}'\n\
         if ( \"$ASAN_OPTIONS\" !~ *verify_asan_link_order=* ) setenv ASAN_OPTIONS \"${{ASAN_OPTIONS}}:{ASAN_SWITCH}\"\n"
    );
    for (name, v) in vars {
        text.push_str(&format!("setenv {name} '{}'\n", plain("csh", name, v)?));
    }
    Ok(text)
}

/// `value` if every byte is one that needs no quoting inside the fish and
/// csh lines (in quotes or in a glob); else an error naming `what`.
fn plain(shell: &str, what: &str, value: &OsStr) -> Result<String, String> {
    let safe = value
        .as_bytes()
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"/._-+,@%=:#~^".contains(&b));
    if safe {
        Ok(value.to_string_lossy().into_owned())
    } else {
        Err(format!(
            "{what} '{}' holds characters that the {shell} line cannot quote safely \
             (use --shell sh, or a path of letters, digits and /._-+,@%=:#~^)",
            value.to_string_lossy()
        ))
    }
}

/// Characters that are special inside double quotes (and `!`, which an
/// interactive bash expands there).
fn needs_single_quotes(s: &OsStr) -> bool {
    s.as_bytes()
        .iter()
        .any(|b| matches!(b, b'$' | b'`' | b'\\' | b'"' | b'!' | b'\''))
}

/// `s` as one shell word: bare if it is made of safe characters only,
/// else single-quoted.
fn sh_word(s: &OsStr) -> String {
    let safe = !s.is_empty()
        && s.as_bytes()
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"/._-+,@%=:".contains(&b));
    if safe {
        s.to_string_lossy().into_owned()
    } else {
        sh_single_quote(s)
    }
}

fn sh_single_quote(s: &OsStr) -> String {
    let mut quoted = Vec::with_capacity(s.len() + 2);
    quoted.push(b'\'');
    for &b in s.as_bytes() {
        if b == b'\'' {
            quoted.extend_from_slice(b"'\\''");
        } else {
            quoted.push(b);
        }
    }
    quoted.push(b'\'');
    OsString::from_vec(quoted).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "/opt/x/lib/libcloexec.so";

    #[test]
    fn syntax_from_the_shell() {
        for (shell, syntax) in [
            ("/bin/bash", Syntax::Posix),
            ("zsh", Syntax::Posix),
            ("-ksh", Syntax::Posix),
            ("/usr/bin/fish", Syntax::Fish),
            ("/bin/tcsh", Syntax::Csh),
            ("csh", Syntax::Csh),
        ] {
            assert_eq!(Syntax::of(shell), Some(syntax), "{shell}");
        }
        assert_eq!(Syntax::of("/usr/bin/nu"), None);
        let fish = Some(OsStr::new("/usr/bin/fish"));
        assert_eq!(Syntax::choose(None, fish), Ok(Syntax::Fish));
        assert_eq!(Syntax::choose(Some("tcsh"), fish), Ok(Syntax::Csh));
        assert_eq!(
            Syntax::choose(None, Some(OsStr::new("nu"))),
            Ok(Syntax::Posix)
        );
        assert_eq!(Syntax::choose(None, None), Ok(Syntax::Posix));
        assert!(Syntax::choose(Some("nu"), None).is_err());
    }

    #[test]
    fn posix_quotes_odd_paths() {
        let plain = posix(Path::new(LIB), &[]);
        assert!(plain.contains(&format!("export LD_PRELOAD=\"{LIB}${{LD_PRELOAD:+")));
        let odd = posix(Path::new("/o'dd/$x/libcloexec.so"), &[]);
        assert!(odd.contains("'/o'\\''dd/$x/libcloexec.so'\"${LD_PRELOAD:+"));
        let vars = [
            ("CLOEXEC_KEEP", OsString::from("3,5")),
            ("CLOEXEC_LOG_FILE", OsString::from("/tmp/a b")),
        ];
        let text = posix(Path::new(LIB), &vars);
        assert!(text.ends_with("export CLOEXEC_KEEP=3,5\nexport CLOEXEC_LOG_FILE='/tmp/a b'\n"));
    }

    #[test]
    fn fish_and_csh_refuse_what_they_cannot_quote() {
        let vars = [("CLOEXEC_KEEP", OsString::from("3,5"))];
        for syntax in [Syntax::Fish, Syntax::Csh] {
            let text = lines(syntax, Path::new(LIB), &vars).unwrap();
            assert!(text.contains(LIB) && text.contains("CLOEXEC_KEEP '3,5'"));
            assert!(lines(syntax, Path::new("/o'dd/libcloexec.so"), &[]).is_err());
            let star = [("CLOEXEC_LOG_FILE", OsString::from("/tmp/*.log"))];
            assert!(lines(syntax, Path::new(LIB), &star).is_err());
        }
    }
}
