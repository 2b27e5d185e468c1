//! The edits `cloexec system` makes to `/etc/ld.so.preload` and
//! `/etc/cloexec.conf`: pure functions from the old bytes to the new ones,
//! so that every rule (add once, keep every other line, remove only ours,
//! restore byte for byte) is tested without root. `system` does the file
//! system part.
//!
//! `/etc/ld.so.preload` as glibc's loader reads it: entries separated by
//! spaces, tabs, newlines or colons; a line whose first character is `#` is
//! a comment (a `#` later in a line is not: it would be read as an entry).

/// The comment `enable` writes above its entry when it creates the file, so
/// that `disable` knows the file was its own and removes it again.
pub const CREATED_MARK: &[u8] =
    b"# created by 'cloexec system enable'; 'cloexec system disable' removes it\n";

/// The library's file name: an entry that ends in it is the library's.
const LIBRARY_NAME: &[u8] = b"libcloexec.so";

/// Whether a preload entry names the library (any copy of it: a stale
/// entry for another prefix is as broken as ours once that file is gone).
pub fn is_library(entry: &[u8]) -> bool {
    entry == LIBRARY_NAME || entry.ends_with(b"/libcloexec.so")
}

fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b':')
}

/// The entries of one line, none for a comment.
fn line_entries(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let comment = line.first() == Some(&b'#');
    line.split(|&b| is_separator(b))
        .filter(move |e| !comment && !e.is_empty())
}

/// Every entry of the file, in order.
pub fn preload_entries(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n')
        .flat_map(line_entries)
        .collect()
}

/// What `enable` does to `/etc/ld.so.preload`.
#[derive(Debug, PartialEq, Eq)]
pub enum Add {
    /// The entry is there already: nothing to write.
    AlreadyThere,
    /// Another copy of the library is listed; two copies would hook every
    /// call twice, so enable refuses until it is removed.
    OtherCopy(Vec<u8>),
    /// The new contents.
    Write(Vec<u8>),
}

/// Adds `library` as a line of its own to the file's text (`None`: no file
/// yet, created with [`CREATED_MARK`] above the entry). The line goes at
/// the end when the text ends a line, else at the start, so that removing
/// it gives back exactly the old text.
pub fn add_preload(text: Option<&[u8]>, library: &[u8]) -> Add {
    let Some(text) = text else {
        return Add::Write([CREATED_MARK, library, b"\n"].concat());
    };
    let entries = preload_entries(text);
    if entries.contains(&library) {
        return Add::AlreadyThere;
    }
    if let Some(other) = entries.iter().find(|e| is_library(e)) {
        return Add::OtherCopy(other.to_vec());
    }
    let line = [library, b"\n"].concat();
    if text.is_empty() || text.ends_with(b"\n") {
        Add::Write([text, &line].concat())
    } else {
        Add::Write([&line, text].concat())
    }
}

/// What `disable` does to `/etc/ld.so.preload`.
#[derive(Debug, PartialEq, Eq)]
pub enum Remove {
    /// No line of ours: nothing to write.
    NothingToDo,
    /// The new contents (which may still hold entries of the library on
    /// lines shared with other entries: `left` lists them).
    Write { text: Vec<u8>, left: Vec<Vec<u8>> },
    /// The file was `enable`'s own and nothing else is left: remove it.
    Delete,
}

/// Removes every line whose entries are all the library's, and the
/// [`CREATED_MARK`] comment. A line that also names other libraries is
/// left as it is (and reported): only the line `enable` wrote is ours.
pub fn remove_preload(text: &[u8]) -> Remove {
    let mut kept = Vec::with_capacity(text.len());
    let mut removed = false;
    let mut created = false;
    let mut left = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let entries: Vec<&[u8]> = line_entries(line).collect();
        if line == CREATED_MARK {
            created = true;
            removed = true;
        } else if !entries.is_empty() && entries.iter().all(|e| is_library(e)) {
            removed = true;
        } else {
            left.extend(entries.iter().filter(|e| is_library(e)).map(|e| e.to_vec()));
            kept.extend_from_slice(line);
        }
    }
    if !removed {
        return Remove::NothingToDo;
    }
    if created && kept.is_empty() {
        return Remove::Delete;
    }
    Remove::Write { text: kept, left }
}

/// The comment `enable` writes at the top of a `/etc/cloexec.conf` it creates.
pub const CONF_HEADER: &[u8] = b"# libcloexec's settings for every process (cloexec.conf(5)); written by\n# 'cloexec system enable'. A CLOEXEC_* variable overrides its line, except\n# in setuid programs, where only this file counts.\n";

/// Sets `KEY=VALUE` in the configuration file's text (`None`: no file yet):
/// the first line for `key` is replaced, every other line (comments, other
/// keys) is kept; a new key goes at the end.
pub fn set_conf(text: Option<&[u8]>, key: &str, value: &str) -> Vec<u8> {
    let line = format!("{key}={value}\n").into_bytes();
    let Some(text) = text else {
        return [CONF_HEADER, &line].concat();
    };
    let mut out = Vec::with_capacity(text.len() + line.len());
    let mut done = false;
    for old in text.split_inclusive(|&b| b == b'\n') {
        if !done && conf_key(old) == Some(key.as_bytes()) {
            out.extend_from_slice(&line);
            done = true;
        } else {
            out.extend_from_slice(old);
        }
    }
    if !done {
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(&line);
    }
    out
}

/// The key of a `KEY=VALUE` line, as the library reads it (trimmed; none
/// for a comment or a line without `=`).
fn conf_key(line: &[u8]) -> Option<&[u8]> {
    let line = line.trim_ascii();
    if line.starts_with(b"#") {
        return None;
    }
    let eq = line.iter().position(|&b| b == b'=')?;
    Some(line[..eq].trim_ascii_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIB: &[u8] = b"/usr/lib/x86_64-linux-gnu/libcloexec.so";

    fn written(add: Add) -> Vec<u8> {
        match add {
            Add::Write(text) => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn entries_as_the_loader_reads_them() {
        let text = b"# /not/this.so\n/a.so:/b.so\t/c.so\n\n  /d.so # /e.so\n";
        assert_eq!(
            preload_entries(text),
            [&b"/a.so"[..], b"/b.so", b"/c.so", b"/d.so", b"#", b"/e.so"]
        );
    }

    #[test]
    fn a_new_file_is_marked_as_ours_and_removed_again() {
        let text = written(add_preload(None, LIB));
        assert_eq!(text, [CREATED_MARK, LIB, b"\n"].concat());
        assert_eq!(preload_entries(&text), [LIB]);
        assert_eq!(remove_preload(&text), Remove::Delete);
    }

    #[test]
    fn added_once_and_removed_byte_for_byte() {
        for old in [
            &b""[..],
            b"/opt/other.so\n",
            b"# comment\n/opt/other.so",
            b"/a.so /b.so\n# trailing comment",
            b"\n\n",
        ] {
            let text = written(add_preload(Some(old), LIB));
            assert!(preload_entries(&text).contains(&LIB));
            for entry in preload_entries(old) {
                assert!(preload_entries(&text).contains(&entry));
            }
            assert_eq!(add_preload(Some(&text), LIB), Add::AlreadyThere);
            match remove_preload(&text) {
                Remove::Write { text: back, left } => {
                    assert_eq!(back, old, "{:?}", String::from_utf8_lossy(&text));
                    assert!(left.is_empty());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_file_that_existed_stays() {
        let text = written(add_preload(Some(b""), LIB));
        assert_eq!(text, [LIB, b"\n"].concat());
        assert_eq!(
            remove_preload(&text),
            Remove::Write {
                text: Vec::new(),
                left: Vec::new()
            }
        );
    }

    #[test]
    fn another_copy_is_refused() {
        assert_eq!(
            add_preload(Some(b"/usr/local/lib/libcloexec.so\n"), LIB),
            Add::OtherCopy(b"/usr/local/lib/libcloexec.so".to_vec())
        );
        // A name that merely contains ours is another library.
        let other = b"/opt/libcloexec.so.1\n";
        assert!(matches!(add_preload(Some(other), LIB), Add::Write(_)));
        assert_eq!(remove_preload(other), Remove::NothingToDo);
    }

    #[test]
    fn only_our_lines_are_removed() {
        assert_eq!(remove_preload(b"/a.so\n# x\n"), Remove::NothingToDo);
        let text = format!(
            "/a.so\n{}\n/b.so {} \n",
            "/usr/local/lib/libcloexec.so",
            String::from_utf8_lossy(LIB)
        );
        assert_eq!(
            remove_preload(text.as_bytes()),
            Remove::Write {
                text: format!("/a.so\n/b.so {} \n", String::from_utf8_lossy(LIB)).into_bytes(),
                left: vec![LIB.to_vec()],
            }
        );
        // Our mark stays out once other lines were added to our file.
        let mut ours = written(add_preload(None, LIB));
        ours.extend_from_slice(b"/x.so\n");
        assert_eq!(
            remove_preload(&ours),
            Remove::Write {
                text: b"/x.so\n".to_vec(),
                left: Vec::new()
            }
        );
    }

    #[test]
    fn conf_lines_are_set_once_and_the_rest_kept() {
        let new = set_conf(None, "CLOEXEC_MODE", "audit");
        assert_eq!(new, [CONF_HEADER, b"CLOEXEC_MODE=audit\n"].concat());
        let old =
            b"# mine\nCLOEXEC_KEEP=9\n  CLOEXEC_MODE = sweep\nCLOEXEC_MODE=off\n#CLOEXEC_LOG_TO=x";
        let text = set_conf(Some(old), "CLOEXEC_MODE", "audit");
        assert_eq!(
            text,
            b"# mine\nCLOEXEC_KEEP=9\nCLOEXEC_MODE=audit\nCLOEXEC_MODE=off\n#CLOEXEC_LOG_TO=x"
        );
        let text = set_conf(Some(&text), "CLOEXEC_LOG_TO", "journal");
        assert!(text.ends_with(b"#CLOEXEC_LOG_TO=x\nCLOEXEC_LOG_TO=journal\n"));
    }

    proptest! {
        #[test]
        fn any_file_comes_back_byte_for_byte(lines in proptest::collection::vec("[ a-z/.#:\t]{0,12}", 0..6), end in any::<bool>()) {
            let mut old = lines.join("\n");
            if end && !old.is_empty() {
                old.push('\n');
            }
            let old = old.into_bytes();
            prop_assume!(!preload_entries(&old).iter().any(|e| is_library(e)));
            prop_assume!(!old.split_inclusive(|&b| b == b'\n').any(|l| l == CREATED_MARK));
            let text = written(add_preload(Some(&old), LIB));
            match remove_preload(&text) {
                Remove::Write { text: back, .. } => prop_assert_eq!(back, old),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
