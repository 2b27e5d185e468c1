//! The splitting rule shared by K5 (arguments) and K6 (environment values):
//! where a piece of text names an fd as a plain number.
//!
//! Text is split at every byte that is not an ASCII letter or digit and not
//! one of `. _ - / + ~`. A part made only of decimal digits (no sign, value
//! below 2^31) names that fd. So `11:12:14`, `--fd=5`, `>&5`, `main(5)`
//! name fds, while `python3`, `x86_64`, `-5`, `3.5` and `UTF-8` are single
//! parts that are not numbers: the bytes that glue a word, a version, a
//! path or a signed value together are exactly the ones that do not split.
//!
//! Pure and allocation-free: the exec path runs it over every argument.
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

/// Iterator over the numbers a text names. One pass: a part that holds
/// anything but digits is skipped as soon as that byte is seen.
pub struct Numbers<'a> {
    text: &'a [u8],
}

impl Iterator for Numbers<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let start = self.text.iter().position(|&b| in_part(b))?;
            let part = self.text.get(start..)?;
            let digits = part.iter().take_while(|b| b.is_ascii_digit()).count();
            let end = if part.get(digits).is_some_and(|&b| in_part(b)) {
                // Not all digits: skip the rest of this part.
                part.iter().position(|&b| !in_part(b)).unwrap_or(part.len())
            } else {
                digits
            };
            self.text = part.get(end..).unwrap_or(&[]);
            if end == digits
                && let Some(n) = part.get(..digits).and_then(number)
            {
                return Some(n);
            }
        }
    }
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
    fn do_not_name_fds() {
        for text in [
            "python3",
            "x86_64",
            "-5",
            "+5",
            "3.5",
            "UTF-8",
            "~5",
            "/dev/fd/5",
            "a5",
            "5a",
            "",
            ":::",
            "2147483648",
            "99999999999999999999",
            "v1.2.3",
            "--status-fd",
        ] {
            assert!(found(text).is_empty(), "{text:?}");
        }
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

    /// The model: split with std, keep the all-digit parts below 2^31.
    fn model(text: &[u8]) -> Vec<u32> {
        text.split(|&b| !is_part_byte(b))
            .filter(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
            .filter_map(|p| {
                let v = std::str::from_utf8(p).unwrap().parse::<u128>().ok();
                match v {
                    Some(v) if v < 1 << 31 => Some(v as u32),
                    Some(_) => None,
                    // Too long for u128: all digits, so not zero unless all zeros.
                    None if p.iter().all(|&b| b == b'0') => Some(0),
                    None => None,
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn matches_the_model_on_any_bytes(text in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(numbers(&text).collect::<Vec<_>>(), model(&text));
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
            words in proptest::collection::vec("[a-zA-Z][a-zA-Z0-9._/+~-]{0,6}", 10),
        ) {
            let mut text = String::new();
            for (i, fd) in fds.iter().enumerate() {
                text.push_str(&words[i]);
                text.push_str(&seps[i]);
                text.push_str(&fd.to_string());
                text.push_str(&seps[(i + 1) % seps.len()]);
            }
            prop_assert_eq!(found(&text), fds.clone());
            for glue in ["-", ".", "_", "+", "~", "/", "x"] {
                let glued = format!("{glue}{}", fds[0]);
                prop_assert!(found(&glued).is_empty());
                let glued = format!("{}{glue}", fds[0]);
                prop_assert!(found(&glued).is_empty());
            }
        }
    }
}
