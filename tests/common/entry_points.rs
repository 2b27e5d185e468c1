//! The library's hooks, read when the tests compile from
//! `c-harness/entry_points.h`, the one list the C harness and the tests
//! share: its `X(name, NAME)` lines under `#define EXEC_ENTRIES(X)`,
//! `#define SPAWN_ENTRIES(X)`, `#define RECORDER_HOOKS(X)` and
//! `#define CHILD_HOOKS(X)`.

/// The header, as text.
const LIST: &[u8] = include_bytes!("../../c-harness/entry_points.h");

/// One `X(name, NAME)` line: the hook's name and the family macro it is under.
#[derive(Clone, Copy)]
struct Hook {
    name: &'static str,
    family: &'static str,
}

/// The 13 entry points, as the leaky parent names them: the exec entries,
/// then the spawners.
pub const ENTRIES: [&str; count(&["EXEC_ENTRIES", "SPAWN_ENTRIES"])] =
    names(&["EXEC_ENTRIES", "SPAWN_ENTRIES"]);

/// The nine that replace the caller (usable in a vfork child, a fork child
/// of a threaded program, a signal handler).
pub const EXEC_ENTRIES: [&str; count(&["EXEC_ENTRIES"])] = names(&["EXEC_ENTRIES"]);

/// Every symbol the library must export: the entry points, the recorders
/// of intent and locks, and the calls that make and close fds.
pub const HOOKS: [&str;
    count(&[
        "EXEC_ENTRIES",
        "SPAWN_ENTRIES",
        "RECORDER_HOOKS",
        "CHILD_HOOKS",
    ])] = names(&[
    "EXEC_ENTRIES",
    "SPAWN_ENTRIES",
    "RECORDER_HOOKS",
    "CHILD_HOOKS",
]);

/// How many hooks of these families the list has.
const fn count(families: &[&str]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while let Some((hook, next)) = next_hook(at) {
        if in_families(hook.family, families) {
            n += 1;
        }
        at = next;
    }
    n
}

/// The names of the hooks of these families, in the list's order.
const fn names<const N: usize>(families: &[&str]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut n = 0;
    let mut at = 0;
    while let Some((hook, next)) = next_hook(at) {
        if in_families(hook.family, families) {
            out[n] = hook.name;
            n += 1;
        }
        at = next;
    }
    out
}

/// The first hook at or after byte `at`, and where the next line starts.
/// A hook's family is the macro of the last `#define FAMILY(X)` line above it.
const fn next_hook(mut at: usize) -> Option<(Hook, usize)> {
    let mut family = family_before(at);
    while at < LIST.len() {
        let end = find(b'\n', at);
        let start = skip_spaces(at);
        if starts_with(start, b"#define ") {
            let name = start + b"#define ".len();
            family = text(name, find(b'(', name));
        } else if starts_with(start, b"X(") {
            let name = start + 2;
            let hook = Hook {
                name: text(name, find(b',', name)),
                family,
            };
            return Some((hook, end + 1));
        }
        at = end + 1;
    }
    None
}

/// The family in force at byte `at` (the last `#define` line before it).
const fn family_before(at: usize) -> &'static str {
    let mut family = "";
    let mut line = 0;
    while line < at && line < LIST.len() {
        let start = skip_spaces(line);
        if starts_with(start, b"#define ") {
            let name = start + b"#define ".len();
            family = text(name, find(b'(', name));
        }
        line = find(b'\n', line) + 1;
    }
    family
}

const fn in_families(family: &str, families: &[&str]) -> bool {
    let mut i = 0;
    while i < families.len() {
        if eq(family.as_bytes(), families[i].as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The index of the first `byte` at or after `at`, or the end of the list.
const fn find(byte: u8, mut at: usize) -> usize {
    while at < LIST.len() && LIST[at] != byte {
        at += 1;
    }
    at
}

const fn skip_spaces(mut at: usize) -> usize {
    while at < LIST.len() && LIST[at] == b' ' {
        at += 1;
    }
    at
}

const fn starts_with(at: usize, prefix: &[u8]) -> bool {
    let mut i = 0;
    while i < prefix.len() {
        if at + i >= LIST.len() || LIST[at + i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The list's bytes `start..end` as text (the header is ASCII).
const fn text(start: usize, end: usize) -> &'static str {
    let (head, _) = LIST.split_at(end);
    let (_, bytes) = head.split_at(start);
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("c-harness/entry_points.h is not UTF-8"),
    }
}
