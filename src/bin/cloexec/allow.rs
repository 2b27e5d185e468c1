//! The allow-list of `cloexec report`: known, accepted leaks that
//! `--fail-on-leak` does not count.
//!
//! A rule is `PROGRAM:TARGET`. PROGRAM matches the program as logged or its
//! basename; TARGET matches the fd's target (`/var/log/app.log`,
//! `socket:[123]`), its grouped form (`socket:[*]`) or its kind (`socket`,
//! `eventfd`). Both are wildcards: `*` is any run of characters (`/`
//! included), `?` one character, nothing else is special, so `socket:[*]`
//! means what it says. The first `:` ends PROGRAM.

use std::fmt;

/// One `PROGRAM:TARGET` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    program: String,
    target: String,
}

impl Rule {
    /// Parses `PROGRAM:TARGET`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Rule, String> {
        match text.split_once(':') {
            Some((program, target)) if !program.is_empty() && !target.is_empty() => Ok(Rule {
                program: program.to_owned(),
                target: target.to_owned(),
            }),
            _ => Err(format!(
                "bad allow rule '{text}' (expected PROGRAM:TARGET, e.g. 'python3:socket:[*]' or '*:/var/log/*')"
            )),
        }
    }

    /// Whether this rule allows a leak of `target` (of `kind`) to `program`.
    pub fn allows(&self, program: &str, kind: &str, target: &str, grouped: &str) -> bool {
        let base = program.rsplit('/').next().unwrap_or(program);
        (wildcard(&self.program, program) || wildcard(&self.program, base))
            && [target, grouped, kind]
                .iter()
                .any(|t| wildcard(&self.target, t))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.program, self.target)
    }
}

/// The rules of an allow file: one per line; blank lines and lines
/// starting with `#` are skipped. The error names the line.
pub fn parse_file(text: &str) -> Result<Vec<Rule>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| Rule::parse(line).map_err(|e| format!("line {n}: {e}")))
        .collect()
}

/// Whether `text` matches `pattern`, where `*` is any run of characters
/// and `?` any one character. Iterative, with one backtrack point: linear
/// in practice, never exponential.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (p, t) in [
            ("*", ""),
            ("*", "/a/b"),
            ("/var/log/*", "/var/log/a/b.log"),
            ("socket:[*]", "socket:[123]"),
            ("?b*", "abc"),
            ("a*b*c", "aXbYbZc"),
            ("exact", "exact"),
        ] {
            assert!(wildcard(p, t), "{p} {t}");
        }
        for (p, t) in [
            ("socket:[*]", "pipe:[1]"),
            ("a?", "a"),
            ("a*b", "acbd"),
            ("", "x"),
            ("[ab]", "a"),
        ] {
            assert!(!wildcard(p, t), "{p} {t}");
        }
    }

    #[test]
    fn rules() {
        let rule = Rule::parse("python3:socket:[*]").unwrap();
        assert!(rule.allows("/usr/bin/python3", "socket", "socket:[5]", "socket:[*]"));
        assert!(!rule.allows("/usr/bin/python3", "pipe", "pipe:[5]", "pipe:[*]"));
        assert!(!rule.allows("/usr/bin/ls", "socket", "socket:[5]", "socket:[*]"));
        let by_kind = Rule::parse("*:eventfd").unwrap();
        assert!(by_kind.allows(
            "/x",
            "eventfd",
            "anon_inode:[eventfd]",
            "anon_inode:[eventfd]"
        ));
        for bad in ["", "prog", ":x", "prog:"] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
        let rules = parse_file("# accepted\n\n*:/etc/hostname\n  ls:pipe  \n").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].to_string(), "ls:pipe");
        assert!(
            parse_file("a:b\nnonsense\n")
                .unwrap_err()
                .starts_with("line 2:")
        );
    }
}
