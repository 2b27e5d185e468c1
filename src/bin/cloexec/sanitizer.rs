//! `ASAN_OPTIONS`: the switch a sanitized program needs to start under a
//! preload.
//!
//! A program built with `gcc -fsanitize=address` and the sanitizer's dynamic
//! runtime (gcc's default) checks at start that the runtime comes first in
//! the initial library list, and aborts when anything is preloaded before
//! it: "ASan runtime does not come first in initial library list".
//! `verify_asan_link_order=0` is the sanitizer's own switch for preloads.
//! `cloexec COMMAND` and every `--profile` add it to the user's value:
//! appended after a `:` (the sanitizer splits its flags at `:`, `,` and
//! white space), never replacing what is there, and not at all when the
//! value already sets the flag, to whatever: that is the user's choice.
//!
//! "Already sets" is the flag's name followed by `=` anywhere in the value.
//! No other sanitizer flag has that name inside its own, and the shell
//! lines of the profiles can test the same thing with a plain glob.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The variable the sanitizer reads its flags from.
pub const VARIABLE: &str = "ASAN_OPTIONS";

/// What a value that already sets the flag contains.
pub const FLAG: &str = "verify_asan_link_order=";

/// What is added.
pub const SWITCH: &str = "verify_asan_link_order=0";

/// The value `ASAN_OPTIONS` should have, given its `current` one; `None`
/// when it already sets the flag and is left as it is.
pub fn with_switch(current: Option<&OsStr>) -> Option<OsString> {
    let current = current.unwrap_or_default();
    if sets_flag(current) {
        return None;
    }
    let mut value = current.to_owned();
    if !value.is_empty() {
        value.push(":");
    }
    value.push(SWITCH);
    Some(value)
}

fn sets_flag(value: &OsStr) -> bool {
    value
        .as_bytes()
        .windows(FLAG.len())
        .any(|w| w == FLAG.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(current: Option<&str>) -> Option<String> {
        with_switch(current.map(OsStr::new)).map(|v| v.to_string_lossy().into_owned())
    }

    #[test]
    fn appends_to_what_the_user_has() {
        assert_eq!(add(None).as_deref(), Some(SWITCH));
        assert_eq!(add(Some("")).as_deref(), Some(SWITCH));
        assert_eq!(
            add(Some("detect_leaks=0")).as_deref(),
            Some("detect_leaks=0:verify_asan_link_order=0")
        );
        assert_eq!(
            add(Some("detect_leaks=0,halt_on_error=1")).as_deref(),
            Some("detect_leaks=0,halt_on_error=1:verify_asan_link_order=0")
        );
    }

    #[test]
    fn leaves_the_users_choice() {
        for current in [
            SWITCH,
            "verify_asan_link_order=1",
            "detect_leaks=0:verify_asan_link_order=false",
            "verify_asan_link_order=0,detect_leaks=0",
            "detect_leaks=0 verify_asan_link_order=true",
        ] {
            assert_eq!(add(Some(current)), None, "{current}");
        }
    }

    #[test]
    fn adding_twice_adds_once() {
        let once = with_switch(Some(OsStr::new("detect_leaks=0"))).unwrap();
        assert_eq!(with_switch(Some(&once)), None);
    }
}
