//! Where the library is, and how it gets into `LD_PRELOAD`.
//!
//! glibc's loader splits `LD_PRELOAD` on spaces and colons and ignores a
//! relative entry in a secure-execution process, so the library is always
//! named by an absolute path, and a path that holds a space or a colon
//! cannot be preloaded at all. New entries are joined with a space.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The library's file name, beside the command, in `../lib`, or in the
/// multiarch directory `../lib/MULTIARCH` (where the Debian package puts it).
pub const LIBRARY: &str = "libcloexec.so";

/// Debian's multiarch triplet for this build's target.
#[cfg(target_arch = "x86_64")]
pub const MULTIARCH: &str = "x86_64-linux-gnu";
#[cfg(target_arch = "aarch64")]
pub const MULTIARCH: &str = "aarch64-linux-gnu";

/// Finds the library: `override_path` (`$CLOEXEC_LIBRARY`, made absolute)
/// if given, else beside the running binary (`target/release/`), else in
/// `../lib` relative to it (`$PREFIX/bin/cloexec` finds
/// `$PREFIX/lib/libcloexec.so`), else in `../lib/MULTIARCH` (the package's
/// `/usr/bin/cloexec` finds `/usr/lib/x86_64-linux-gnu/libcloexec.so`). The result is canonical, so it is
/// absolute. The error is a one-line message.
pub fn locate(override_path: Option<&Path>) -> Result<PathBuf, String> {
    let found = match override_path {
        Some(path) => fs::canonicalize(path)
            .map_err(|e| format!("CLOEXEC_LIBRARY={}: {}", path.display(), plain_error(&e)))?,
        None => {
            let exe = fs::canonicalize("/proc/self/exe")
                .map_err(|e| format!("cannot find my own binary: {}", plain_error(&e)))?;
            let dir = exe.parent().unwrap_or(Path::new("/"));
            let beside = dir.join(LIBRARY);
            let installed = dir.join("../lib").join(LIBRARY);
            let packaged = dir.join("../lib").join(MULTIARCH).join(LIBRARY);
            [&beside, &installed, &packaged]
                .into_iter()
                .find_map(|p| fs::canonicalize(p).ok())
                .ok_or_else(|| {
                    format!(
                        "cannot find {LIBRARY} (looked for {}, {} and {}; set CLOEXEC_LIBRARY)",
                        beside.display(),
                        installed.display(),
                        packaged.display()
                    )
                })?
        }
    };
    if !found.is_file() {
        return Err(format!("{} is not a file", found.display()));
    }
    if found
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|b| matches!(b, b' ' | b':'))
    {
        return Err(format!(
            "{} cannot go in LD_PRELOAD: its path holds a space or a colon",
            found.display()
        ));
    }
    Ok(found)
}

/// `LD_PRELOAD` with `library` in front of `current`, joined by a space.
/// `current` is returned unchanged if one of its entries already names
/// `library` (the same string, or a path that resolves to it).
pub fn prepend(library: &Path, current: Option<&OsStr>) -> OsString {
    let current = current.unwrap_or_default();
    let named = current
        .as_bytes()
        .split(|b| matches!(b, b' ' | b':'))
        .filter(|entry| !entry.is_empty())
        .map(|entry| Path::new(OsStr::from_bytes(entry)))
        .any(|entry| entry == library || fs::canonicalize(entry).is_ok_and(|p| p == library));
    if named {
        return current.to_owned();
    }
    let mut value = library.as_os_str().to_owned();
    if !current.is_empty() {
        value.push(" ");
        value.push(current);
    }
    value
}

/// An `io::Error` without Rust's " (os error N)" suffix.
pub fn plain_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "/opt/x/lib/libcloexec.so";

    fn prep(current: Option<&str>) -> OsString {
        prepend(Path::new(LIB), current.map(OsStr::new))
    }

    #[test]
    fn prepend_sets_or_prepends() {
        assert_eq!(prep(None), LIB);
        assert_eq!(prep(Some("")), LIB);
        assert_eq!(prep(Some("/a.so")), format!("{LIB} /a.so").as_str());
        assert_eq!(
            prep(Some("/a.so:/b.so")),
            format!("{LIB} /a.so:/b.so").as_str()
        );
    }

    #[test]
    fn prepend_adds_nothing_twice() {
        for current in [LIB, &format!("/a.so {LIB}"), &format!("/a.so:{LIB}:/b.so")] {
            assert_eq!(prep(Some(current)), current);
        }
        // A longer name that merely contains ours is another library.
        let other = format!("{LIB}.1");
        assert_eq!(prep(Some(&other)), format!("{LIB} {other}").as_str());
    }
}
