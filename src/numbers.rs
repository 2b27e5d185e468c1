//! The splitting rule shared by K5 (arguments) and K6 (environment values):
//! where a piece of text names an fd as a number.
//!
//! Text is split at every byte that is not an ASCII letter or digit and not
//! one of `. _ - / + ~`. A part names an fd (value below 2^31, no sign) when
//! it is told in one of three forms:
//!
//! - **the whole part is decimal digits**: `11:12:14`, `--fd=5`, `>&5`,
//!   `main(5)`;
//! - **digits end a path-like part** (after its last `/`): `fd://7` (a
//!   URL's `//7`), `-S/dev/pts/3/7` (xterm's pty name, then the fd), except
//!   right after an `fd` component (`/dev/fd/N`, `/proc/PID/fd/N`: the path
//!   rule of K5 reads those, and knows whose fd a `/proc/PID` path names);
//! - **digits glued to a one-letter option**: `-d7`, `-C5` (getopt's
//!   `-oVALUE`).
//!
//! `python3`, `python3.11`, `x86_64`, `-5`, `3.5`, `UTF-8`, `v1.2.3` and
//! `/usr/lib/python3.11` name nothing: the bytes that glue a word, a version
//! or a signed value together do not split, and a digit inside a word or
//! after a `.` is not a told number. The price is that some incidental
//! numbers read as told: `-O3`, `-j8`, `/dev/pts/3`, a date `2024/05/17`.
//! Where the rules cannot tell, they keep.
//!
//! Pure and allocation-free: the exec path runs it over every argument, in
//! one pass over each part.
//! A leaf module (core only): the `cloexec` command compiles it in too.

/// Whether `b` belongs inside a part (does not split).
pub const fn is_part_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b'+' | b'~')
}

/// [`is_part_byte`] as a table: the exec path runs this over every byte of
/// every argument, and one load beats eight compares.
// Indexing runs at compile time only: out of range fails the build.
#[allow(clippy::indexing_slicing)]
static PART_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_part_byte(b as u8);
        b += 1;
    }
    table
};

/// Whether `b` belongs inside a part, by table.
#[inline(always)]
pub fn in_part(b: u8) -> bool {
    PART_BYTE.get(usize::from(b)).copied().unwrap_or(false)
}

/// One part of a text, and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub start: usize,
    pub bytes: &'a [u8],
}

impl Part<'_> {
    /// The fd this part names, if it is all digits and below 2^31.
    pub fn number(&self) -> Option<u32> {
        number(self.bytes)
    }

    /// The fd this part names in any of the told forms ([`part_fd`]).
    pub fn fd(&self) -> Option<u32> {
        part_fd(self.bytes)
    }
}

/// The parts of `text`, in order; never empty.
pub fn parts(text: &[u8]) -> Parts<'_> {
    Parts { text, at: 0 }
}

/// Iterator over the parts of a text.
#[derive(Clone)]
pub struct Parts<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Parts<'a> {
    type Item = Part<'a>;

    fn next(&mut self) -> Option<Part<'a>> {
        let rest = self.text.get(self.at..)?;
        let start = self.at + rest.iter().position(|&b| in_part(b))?;
        let tail = self.text.get(start..)?;
        let len = tail.iter().position(|&b| !in_part(b)).unwrap_or(tail.len());
        self.at = start + len;
        Some(Part {
            start,
            bytes: tail.get(..len)?,
        })
    }
}

/// Every fd that `text` names as a number, in order.
pub fn numbers(text: &[u8]) -> Numbers<'_> {
    Numbers { text }
}

/// Iterator over the numbers a text names. One pass: each part is read
/// once, remembering only where its last non-digit byte was.
pub struct Numbers<'a> {
    text: &'a [u8],
}

impl Iterator for Numbers<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let start = self.text.iter().position(|&b| in_part(b))?;
            let from = self.text.get(start..)?;
            let mut len = from.len();
            let mut last_non_digit = None;
            for (i, &b) in from.iter().enumerate() {
                if !in_part(b) {
                    len = i;
                    break;
                }
                if !b.is_ascii_digit() {
                    last_non_digit = Some(i);
                }
            }
            let part = from.get(..len)?;
            self.text = from.get(len..).unwrap_or(&[]);
            if let Some(fd) = told(part, last_non_digit) {
                return Some(fd);
            }
        }
    }
}

/// The fd a whole part names in one of the told forms: all digits, digits
/// after its last `/` (not right after an `fd` component), or digits glued
/// to a one-letter option. `part` holds only part bytes.
pub fn part_fd(part: &[u8]) -> Option<u32> {
    told(part, part.iter().rposition(|b| !b.is_ascii_digit()))
}

/// [`part_fd`], given where the part's last non-digit byte is.
fn told(part: &[u8], last_non_digit: Option<usize>) -> Option<u32> {
    let Some(at) = last_non_digit else {
        return number(part);
    };
    let digits = part.get(at + 1..).filter(|d| !d.is_empty())?;
    let before = part.get(..at).unwrap_or(&[]);
    let told = match part.get(at) {
        Some(b'/') => !(before == b"fd" || before.ends_with(b"/fd")),
        Some(letter) => at == 1 && before == b"-" && letter.is_ascii_alphabetic(),
        None => false,
    };
    if told { number(digits) } else { None }
}

/// A part as a number: decimal digits only (leading zeros allowed), below 2^31.
pub fn number(part: &[u8]) -> Option<u32> {
    if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant = part
        .iter()
        .position(|&b| b != b'0')
        .map_or(&[][..], |i| part.get(i..).unwrap_or(&[]));
    if significant.is_empty() {
        return Some(0);
    }
    parse_fd(significant)
}

/// The largest descriptor number accepted: fds are C `int`s.
pub const MAX_FD: u32 = i32::MAX as u32;

/// A decimal fd number: digits only, at most [`MAX_FD`].
pub fn parse_fd(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    u32::try_from(n).ok().filter(|&n| n <= MAX_FD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found(text: &str) -> Vec<u32> {
        numbers(text.as_bytes()).collect()
    }

    #[test]
    fn name_fds() {
        assert_eq!(found("11:12:14"), [11, 12, 14]);
        assert_eq!(found("--fd=5"), [5]);
        assert_eq!(found("5"), [5]);
        assert_eq!(found("fd:5"), [5]);
        assert_eq!(found("tap,fd=5"), [5]);
        assert_eq!(found(">&5"), [5]);
        assert_eq!(found("main(5)"), [5]);
        assert_eq!(found("echo ok >&7"), [7]);
        assert_eq!(found("007"), [7]);
        assert_eq!(found("0"), [0]);
        assert_eq!(found("2147483647"), [2147483647]);
        assert_eq!(found("00000000000000000000003"), [3]);
    }

    #[test]
    fn urls_and_paths_that_end_in_a_number_name_it() {
        assert_eq!(found("fd://7"), [7]);
        assert_eq!(found("--bind=fd://7"), [7]);
        assert_eq!(found("--input-ipc-client=fd://12"), [12]);
        assert_eq!(found("fdclose://9"), [9]);
        assert_eq!(
            found("-S/dev/pts/3/7"),
            [7],
            "the pty's number is not the fd"
        );
        assert_eq!(found("-S123/45"), [45]);
        assert_eq!(found("/run/x/5"), [5]);
        assert_eq!(found("a/b/007"), [7]);
        assert_eq!(found("/5"), [5]);
        assert_eq!(found("x:/5,y"), [5]);
    }

    #[test]
    fn numbers_glued_to_one_letter_options_name_it() {
        assert_eq!(found("-d7"), [7]);
        assert_eq!(found("-C5"), [5]);
        assert_eq!(found("-S7"), [7]);
        assert_eq!(found("-d007"), [7]);
        assert_eq!(found("-Wl,-d7"), [7]);
        assert_eq!(found("x=-d7"), [7]);
        assert_eq!(found("-d2147483647"), [2147483647]);
    }

    #[test]
    fn do_not_name_fds() {
        for text in [
            "python3",
            "python3.11",
            "/usr/bin/python3.11",
            "/usr/lib/python3.11",
            "x86_64",
            "x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "-5",
            "+5",
            "3.5",
            "1.2.3",
            "v1.2.3",
            "UTF-8",
            "en_US.UTF-8",
            "2024-05-17",
            "~5",
            "/dev/fd/5",
            "/proc/self/fd/5",
            "/proc/4243/fd/9",
            "fd/5",
            "a5",
            "5a",
            "",
            ":::",
            "2147483648",
            "-d2147483648",
            "99999999999999999999",
            "--status-fd",
            "--5",
            "--d7",
            "-dd7",
            "d7",
            "-7d",
            "-x86_64",
            "-d",
            "-_7",
            "a-d7",
            "5/",
            "/dev/pts/3/",
            "fd://",
            "fd://x7",
            "lib/python3",
        ] {
            assert!(found(text).is_empty(), "{text:?}: {:?}", found(text));
        }
    }

    #[test]
    fn part_fd_reads_one_whole_part() {
        assert_eq!(part_fd(b"7"), Some(7));
        assert_eq!(part_fd(b"//7"), Some(7));
        assert_eq!(part_fd(b"-d7"), Some(7));
        assert_eq!(part_fd(b"python3"), None);
        assert_eq!(part_fd(b""), None);
        let p = parts(b"x=fd://8").last().unwrap();
        assert_eq!((p.number(), p.fd()), (None, Some(8)));
    }

    #[test]
    fn non_ascii_bytes_split() {
        assert_eq!(numbers("é5é".as_bytes()).collect::<Vec<_>>(), [5]);
        assert_eq!(numbers(b"\xff7\x00").collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn parts_know_where_they_start() {
        let p: Vec<_> = parts(b"a=1;fd:22").map(|p| (p.start, p.bytes)).collect();
        assert_eq!(p, [(0, &b"a"[..]), (2, b"1"), (4, b"fd"), (7, b"22")]);
    }

    /// A decimal value below 2^31, the long way round.
    fn model_value(digits: &[u8]) -> Option<u32> {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        match std::str::from_utf8(digits).unwrap().parse::<u128>() {
            Ok(v) if v < 1 << 31 => Some(v as u32),
            Ok(_) => None,
            // Too long for u128: all digits, so not zero unless all zeros.
            Err(_) if digits.iter().all(|&b| b == b'0') => Some(0),
            Err(_) => None,
        }
    }

    /// The model: split with std, then read each part in the three forms
    /// as the rule states them.
    fn model(text: &[u8]) -> Vec<u32> {
        text.split(|&b| !is_part_byte(b))
            .filter_map(|p| {
                if let Some(v) = model_value(p) {
                    return Some(v);
                }
                if p.len() > 2
                    && p[0] == b'-'
                    && p[1].is_ascii_alphabetic()
                    && let Some(v) = model_value(&p[2..])
                {
                    return Some(v);
                }
                let slash = p.iter().rposition(|&b| b == b'/')?;
                let previous = p[..slash].rsplit(|&b| b == b'/').next().unwrap();
                if previous == b"fd" {
                    return None;
                }
                model_value(&p[slash + 1..])
            })
            .collect()
    }

    proptest! {
        #[test]
        fn matches_the_model_on_any_bytes(text in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(numbers(&text).collect::<Vec<_>>(), model(&text));
        }

        /// Text made of the bytes the three forms turn on, so that paths,
        /// options and `fd` components meet often.
        #[test]
        fn matches_the_model_on_told_shapes(
            pieces in proptest::collection::vec(prop_oneof![
                Just("/".to_string()), Just("-".to_string()), Just("fd".to_string()),
                Just("//".to_string()), Just(":".to_string()), Just(" ".to_string()),
                "[0-9]{1,3}", "[a-zA-Z]{1,2}", "[._+~=,]",
            ], 0..16),
        ) {
            let text = pieces.concat();
            prop_assert_eq!(numbers(text.as_bytes()).collect::<Vec<_>>(), model(text.as_bytes()), "{}", text);
        }

        /// `part_fd` on any single part agrees with the scan over it.
        #[test]
        fn part_fd_agrees_with_the_scan(part in "[-a-zA-Z0-9._/+~]{1,24}") {
            let scanned: Vec<u32> = numbers(part.as_bytes()).collect();
            prop_assert_eq!(part_fd(part.as_bytes()).into_iter().collect::<Vec<_>>(), scanned);
        }

        #[test]
        fn parts_are_maximal_and_cover_every_part_byte(text in "[-a-z0-9._/+~:=,;() ]{0,80}") {
            let bytes = text.as_bytes();
            let mut covered = vec![false; bytes.len()];
            for p in parts(bytes) {
                prop_assert!(!p.bytes.is_empty());
                prop_assert_eq!(&bytes[p.start..p.start + p.bytes.len()], p.bytes);
                prop_assert!(p.start == 0 || !is_part_byte(bytes[p.start - 1]));
                let end = p.start + p.bytes.len();
                prop_assert!(end == bytes.len() || !is_part_byte(bytes[end]));
                covered[p.start..end].iter_mut().for_each(|c| *c = true);
            }
            for (b, c) in bytes.iter().zip(covered) {
                prop_assert_eq!(is_part_byte(*b), c);
            }
        }

        /// Numbers joined by any splitting bytes are found, in order; joined
        /// by a part byte, they are not.
        #[test]
        fn constructed_lists(
            fds in proptest::collection::vec(0u32..(1 << 31), 1..10),
            seps in proptest::collection::vec("[:,;=()<>&| \t\"'@!#$%^*\\[\\]{}]{1,3}", 10),
            // A word ends in a letter: no told form hides in it.
            words in proptest::collection::vec("[a-zA-Z]([a-zA-Z0-9._/+~-]{0,6}[a-zA-Z])?", 10),
        ) {
            let mut text = String::new();
            for (i, fd) in fds.iter().enumerate() {
                text.push_str(&words[i]);
                text.push_str(&seps[i]);
                text.push_str(&fd.to_string());
                text.push_str(&seps[(i + 1) % seps.len()]);
            }
            prop_assert_eq!(found(&text), fds.clone());
            for glue in ["-", ".", "_", "+", "~", "x", "x-", "--d", "fd/", "/fd/"] {
                let glued = format!("{glue}{}", fds[0]);
                prop_assert!(found(&glued).is_empty(), "{}", glued);
            }
            for glue in ["-", ".", "_", "+", "~", "/", "x"] {
                let glued = format!("{}{glue}", fds[0]);
                prop_assert!(found(&glued).is_empty(), "{}", glued);
            }
            for told in ["/", "fd://", "a/b/", "-d", "-S", "-S/dev/pts/3/"] {
                let glued = format!("{told}{}", fds[0]);
                prop_assert_eq!(found(&glued), vec![fds[0]], "{}", glued);
            }
        }
    }
}
