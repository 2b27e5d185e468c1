//! `cloexec report [FILE]...`: what the library's log lines say, per
//! calling program (whose fds leaked: the program to fix), then per program
//! it started: how many execs and spawns swept something, which kinds of fd
//! and which targets, most frequent first. Reads log files, syslog files
//! and `journalctl -o json` output alike. `--json` for tools;
//! `--fail-on-leak` (with an allow-list) makes it a CI gate.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

use crate::allow::{self, Rule};
use crate::logline::{self, Body, Line};
use crate::term::{self, paint};

#[derive(Parser, Debug)]
#[command(
    name = "cloexec report",
    about = "Summarise libcloexec's log lines: which programs leaked which fds, most frequent first.",
    after_help = "\
Reads the lines of any number of processes (levels info and debug, and audit's
'would sweep'); other lines are ignored. Typical CI use:

  cloexec --audit --log-file fd-leaks.log -- make test
  cloexec report --fail-on-leak --allow-file .cloexec-allow fd-leaks.log

Exit status: 0; 1 with --fail-on-leak when a leak outside the allow-list was
recorded; 2 for bad usage; 125 if a file cannot be read. See cloexec(1)."
)]
pub struct Args {
    /// Log files to read; none or '-' reads standard input
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    /// Exit with status 1 if any leak outside the allow-list was recorded
    #[arg(long)]
    fail_on_leak: bool,
    /// Accept leaks of TARGET (a path, target, or kind; '*' and '?' are
    /// wildcards) to PROGRAM (path or basename); repeatable
    #[arg(long, value_name = "PROGRAM:TARGET", value_parser = Rule::parse)]
    allow: Vec<Rule>,
    /// Read more allow rules from FILE, one PROGRAM:TARGET per line ('#' comments)
    #[arg(long, value_name = "FILE")]
    allow_file: Vec<PathBuf>,
}

/// Exit status when `--fail-on-leak` finds a leak outside the allow-list.
const EXIT_LEAKED: i32 = 1;

pub fn run(args: Args) -> i32 {
    let mut rules = args.allow.clone();
    for path in &args.allow_file {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => return cannot_read(path, &e),
        };
        match allow::parse_file(&text) {
            Ok(more) => rules.extend(more),
            Err(e) => {
                return crate::fail(
                    crate::EXIT_USAGE,
                    &format!("report: --allow-file {}: {e}", path.display()),
                );
            }
        }
    }
    let mut tally = Tally::default();
    let stdin = [PathBuf::from("-")];
    let files = if args.files.is_empty() {
        &stdin[..]
    } else {
        &args.files
    };
    for path in files {
        let mut bytes = Vec::new();
        let read = if path.as_os_str() == "-" {
            std::io::stdin().read_to_end(&mut bytes)
        } else {
            std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
        };
        if let Err(e) = read {
            return cannot_read(path, &e);
        }
        for line in String::from_utf8_lossy(&bytes).lines() {
            match logline::from_journal_json(line) {
                Some(text) => tally.add(&text),
                None => tally.add(line),
            }
        }
    }
    let summary = tally.summarise(&rules);
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&summary).unwrap_or_default();
        json.push('\n');
        json
    } else {
        render(&summary, args.fail_on_leak)
    };
    if let Err(e) = term::print(&text) {
        return crate::fail(
            crate::EXIT_FAILED,
            &format!("write error: {}", crate::preload::plain_error(&e)),
        );
    }
    if args.fail_on_leak && summary.leaks_not_allowed > 0 {
        EXIT_LEAKED
    } else {
        0
    }
}

fn cannot_read(path: &std::path::Path, e: &std::io::Error) -> i32 {
    let name = if path.as_os_str() == "-" {
        "standard input".into()
    } else {
        path.display().to_string()
    };
    crate::fail(
        crate::EXIT_FAILED,
        &format!("report: {name}: {}", crate::preload::plain_error(e)),
    )
}

/// Counts gathered line by line.
#[derive(Default)]
struct Tally {
    lines: Lines,
    callers: BTreeMap<String, CallerTally>,
    kept: BTreeMap<String, u64>,
    warnings: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

#[derive(Default)]
struct CallerTally {
    pids: BTreeSet<u32>,
    programs: BTreeMap<String, ProgramTally>,
}

#[derive(Default)]
struct ProgramTally {
    execs: u64,
    pids: BTreeSet<u32>,
    calls: BTreeMap<String, u64>,
    leaks: BTreeMap<(&'static str, String), LeakTally>,
}

#[derive(Default)]
struct LeakTally {
    /// None for the unknown rest of cut lines.
    fds: Option<u64>,
    execs: u64,
    numbers: BTreeSet<u32>,
}

/// Pseudo-kinds for what a line counts but does not name.
const UNLISTED: &str = "unlisted";
const CUT: &str = "cut";

/// The caller of lines that do not name one (older versions).
pub const UNKNOWN_CALLER: &str = "?";

impl Tally {
    fn add(&mut self, text: &str) {
        self.lines.read += 1;
        let Some(Line { pid, cut, body }) = logline::parse(text) else {
            return;
        };
        self.lines.library += 1;
        self.lines.cut += u64::from(cut);
        match body {
            Body::Sweep {
                launch,
                audit,
                fds,
                unlisted,
            } => {
                self.lines.sweep += 1;
                self.lines.audit += u64::from(audit);
                let caller = self
                    .callers
                    .entry(launch.caller.unwrap_or(UNKNOWN_CALLER).to_owned())
                    .or_default();
                caller.pids.insert(pid);
                let program = caller
                    .programs
                    .entry(launch.program.to_owned())
                    .or_default();
                program.execs += 1;
                program.pids.insert(pid);
                *program.calls.entry(launch.call.to_owned()).or_default() += 1;
                let mut seen = BTreeSet::new();
                for fd in &fds {
                    let key = (
                        logline::kind(fd.target),
                        logline::group_target(fd.target).into_owned(),
                    );
                    let leak = program.leaks.entry(key.clone()).or_default();
                    *leak.fds.get_or_insert(0) += 1;
                    leak.numbers.insert(fd.fd);
                    if seen.insert(key) {
                        leak.execs += 1;
                    }
                }
                if unlisted > 0 {
                    let leak = program
                        .leaks
                        .entry((UNLISTED, "(not named: over 64 in one line)".into()))
                        .or_default();
                    *leak.fds.get_or_insert(0) += unlisted;
                    leak.execs += 1;
                }
                if cut {
                    let leak = program
                        .leaks
                        .entry((CUT, "(the rest of a cut line)".into()))
                        .or_default();
                    leak.execs += 1;
                }
            }
            Body::Kept { fds, .. } => {
                self.lines.kept += 1;
                for fd in fds {
                    *self.kept.entry(fd.rule.to_owned()).or_default() += 1;
                }
            }
            Body::Warning(text) => *self.warnings.entry(text.to_owned()).or_default() += 1,
            Body::Error(text) => *self.errors.entry(text.to_owned()).or_default() += 1,
            Body::PassThrough(_) | Body::Other(_) => self.lines.other += 1,
        }
    }

    fn summarise(self, rules: &[Rule]) -> Summary {
        let mut callers: Vec<CallerSummary> = self
            .callers
            .into_iter()
            .map(|(caller, c)| {
                let mut programs: Vec<ProgramSummary> = c
                    .programs
                    .into_iter()
                    .map(|(name, p)| program_summary(&caller, name, p, rules))
                    .collect();
                programs.sort_by(|a, b| {
                    (b.fds, b.execs)
                        .cmp(&(a.fds, a.execs))
                        .then_with(|| a.program.cmp(&b.program))
                });
                CallerSummary {
                    execs: programs.iter().map(|p| p.execs).sum(),
                    fds: programs.iter().map(|p| p.fds).sum(),
                    processes: c.pids.len(),
                    caller,
                    programs,
                }
            })
            .collect();
        callers.sort_by(|a, b| {
            (b.fds, b.execs)
                .cmp(&(a.fds, a.execs))
                .then_with(|| a.caller.cmp(&b.caller))
        });
        let leaks_not_allowed = callers
            .iter()
            .flat_map(|c| &c.programs)
            .flat_map(|p| &p.leaks)
            .filter(|l| !l.allowed)
            .map(|l| l.fds.unwrap_or(0).max(l.execs))
            .sum();
        let counted = |map: BTreeMap<String, u64>| {
            let mut list: Vec<Counted> = map
                .into_iter()
                .map(|(text, count)| Counted { text, count })
                .collect();
            list.sort_by_key(|c| std::cmp::Reverse(c.count));
            list
        };
        let programs: BTreeSet<&str> = callers
            .iter()
            .flat_map(|c| &c.programs)
            .map(|p| p.program.as_str())
            .collect();
        Summary {
            execs: callers.iter().map(|c| c.execs).sum(),
            fds: callers.iter().map(|c| c.fds).sum(),
            programs: programs.len(),
            leaks_not_allowed,
            lines: self.lines,
            callers,
            kept: self.kept,
            warnings: counted(self.warnings),
            errors: counted(self.errors),
        }
    }
}

/// One started program's leaks, most frequent first; a leak is allowed when
/// a rule names the program or the caller.
fn program_summary(caller: &str, name: String, p: ProgramTally, rules: &[Rule]) -> ProgramSummary {
    let mut leaks: Vec<Leak> = p
        .leaks
        .into_iter()
        .map(|((kind, target), l)| Leak {
            allowed: rules.iter().any(|r| {
                r.allows(&name, kind, &target, &target)
                    || (caller != UNKNOWN_CALLER && r.allows(caller, kind, &target, &target))
            }),
            kind,
            target,
            fds: l.fds,
            execs: l.execs,
            fd_numbers: l.numbers.into_iter().collect(),
        })
        .collect();
    leaks.sort_by(|a, b| {
        (b.fds.unwrap_or(0), b.execs)
            .cmp(&(a.fds.unwrap_or(0), a.execs))
            .then_with(|| (a.kind, &a.target).cmp(&(b.kind, &b.target)))
    });
    ProgramSummary {
        fds: leaks.iter().filter_map(|l| l.fds).sum(),
        program: name,
        execs: p.execs,
        processes: p.pids.len(),
        calls: p.calls,
        leaks,
    }
}

/// The whole report; also the `--json` form.
#[derive(Serialize)]
struct Summary {
    /// Execs and spawns that swept something (one line each).
    execs: u64,
    /// Fds swept in them (the unnamed rest of cut lines not included).
    fds: u64,
    /// Distinct programs started.
    programs: usize,
    /// Leaks (fds, or cut lines) that no allow rule accepts.
    leaks_not_allowed: u64,
    lines: Lines,
    /// Per calling program, most fds first; `?` for lines that name none.
    callers: Vec<CallerSummary>,
    /// Kept fds per rule label, from debug lines.
    kept: BTreeMap<String, u64>,
    warnings: Vec<Counted>,
    errors: Vec<Counted>,
}

#[derive(Serialize, Default)]
struct Lines {
    read: u64,
    library: u64,
    sweep: u64,
    /// Sweep lines of audit mode ("would sweep").
    audit: u64,
    kept: u64,
    cut: u64,
    other: u64,
}

#[derive(Serialize)]
struct CallerSummary {
    caller: String,
    execs: u64,
    fds: u64,
    processes: usize,
    programs: Vec<ProgramSummary>,
}

#[derive(Serialize)]
struct ProgramSummary {
    program: String,
    execs: u64,
    fds: u64,
    processes: usize,
    calls: BTreeMap<String, u64>,
    leaks: Vec<Leak>,
}

#[derive(Serialize)]
struct Leak {
    kind: &'static str,
    target: String,
    fds: Option<u64>,
    execs: u64,
    fd_numbers: Vec<u32>,
    allowed: bool,
}

#[derive(Serialize)]
struct Counted {
    text: String,
    count: u64,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn render(s: &Summary, gate: bool) -> String {
    let mut text = String::new();
    let verb = if s.lines.sweep > 0 && s.lines.audit == s.lines.sweep {
        "would sweep"
    } else {
        "swept"
    };
    if s.callers.is_empty() {
        text.push_str(&format!(
            "cloexec report: no leaks recorded ({} of {} read)\n",
            plural(s.lines.library, "library line", "library lines"),
            plural(s.lines.read, "line", "lines"),
        ));
    } else {
        text.push_str(&format!(
            "cloexec report: {} by {} {verb} {} (in {})\n",
            plural(s.execs, "exec", "execs"),
            plural(s.callers.len() as u64, "caller", "callers"),
            plural(s.fds, "fd", "fds"),
            plural(s.programs as u64, "program", "programs"),
        ));
    }
    for c in &s.callers {
        let name = if c.caller == UNKNOWN_CALLER {
            "? (lines that name no caller)"
        } else {
            &c.caller
        };
        text.push_str(&format!(
            "\n{}  {}, {} ({}; {})\n",
            paint(term::CALLER, name),
            plural(c.execs, "exec", "execs"),
            plural(c.fds, "fd", "fds"),
            plural(c.programs.len() as u64, "program", "programs"),
            plural(c.processes as u64, "process", "processes"),
        ));
        for p in &c.programs {
            render_program(&mut text, p);
        }
    }
    let mut notes = Vec::new();
    if s.lines.cut > 0 {
        notes.push(format!(
            "{} cut (ended ' ...[cut]'): only their complete entries are counted",
            plural(s.lines.cut, "line was", "lines were")
        ));
    }
    if !s.kept.is_empty() {
        let kept: Vec<String> = s.kept.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
        notes.push(format!("kept (debug lines): {}", kept.join(", ")));
    }
    for (list, what) in [(&s.warnings, "warning"), (&s.errors, "error")] {
        for w in list.iter().take(10) {
            notes.push(format!("{what} ×{}: {}", w.count, w.text));
        }
        if list.len() > 10 {
            notes.push(format!("... and {} more {what}s", list.len() - 10));
        }
    }
    if !notes.is_empty() {
        text.push('\n');
        for note in notes {
            text.push_str(&paint(term::NOTE, note));
            text.push('\n');
        }
    }
    if gate {
        text.push('\n');
        if s.leaks_not_allowed > 0 {
            text.push_str(&paint(
                term::LEAK,
                format!(
                    "FAIL: {} not in the allow-list",
                    plural(s.leaks_not_allowed, "leak", "leaks")
                ),
            ));
        } else {
            text.push_str(&paint(term::KEPT, "ok: no leak outside the allow-list"));
        }
        text.push('\n');
    }
    text
}

/// One started program under its caller: its counts, then its leaks.
fn render_program(text: &mut String, p: &ProgramSummary) {
    let calls: Vec<String> = p.calls.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
    text.push_str(&format!(
        "  {}  {}, {} ({}; {})\n",
        paint(term::PROGRAM, &p.program),
        plural(p.execs, "exec", "execs"),
        plural(p.fds, "fd", "fds"),
        calls.join(", "),
        plural(p.processes as u64, "process", "processes"),
    ));
    let mut rows = vec![
        ["FDS", "EXECS", "KIND", "TARGET"]
            .map(|h| paint(term::HEADER, h))
            .to_vec(),
    ];
    for l in &p.leaks {
        let target = if l.allowed {
            format!("{} {}", l.target, paint(term::NOTE, "(allowed)"))
        } else {
            l.target.clone()
        };
        let style = if l.allowed { term::NOTE } else { term::LEAK };
        rows.push(vec![
            paint(style, l.fds.map_or("?".into(), |n| n.to_string())),
            l.execs.to_string(),
            l.kind.to_owned(),
            target,
        ]);
    }
    for line in term::table(&rows, &[0, 1]).lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(lines: &[&str], rules: &[&str]) -> Summary {
        let mut tally = Tally::default();
        for line in lines {
            tally.add(line);
        }
        let rules: Vec<Rule> = rules.iter().map(|r| Rule::parse(r).unwrap()).collect();
        tally.summarise(&rules)
    }

    const LOG: [&str; 6] = [
        "libcloexec[10]: execv /usr/bin/true: swept 3 (/etc/hostname), 4 (socket:[11])",
        "libcloexec[11]: execv /usr/bin/true: swept 3 (/etc/hostname), 4 (socket:[12]), 5 (socket:[13])",
        "unrelated output",
        "libcloexec[12]: posix_spawn /bin/ls: would sweep 7 (anon_inode:[eventfd]) and 3 more",
        "libcloexec[12]: posix_spawn /bin/ls: kept 9 (/dev/null) [K3 inherited] (sweep by audit)",
        "libcloexec[13]: execve /bin/x: swept 3 (/a), 4 (/b ...[cut]",
    ];

    #[test]
    fn counts_per_program_most_frequent_first() {
        let s = summary(&LOG, &[]);
        assert_eq!((s.execs, s.fds), (4, 10));
        assert_eq!(s.lines.read, 6);
        assert_eq!(s.lines.library, 5);
        assert_eq!(s.lines.cut, 1);
        assert_eq!(s.kept.get("K3 inherited"), Some(&1));
        assert_eq!(s.callers.len(), 1, "older lines name no caller");
        assert_eq!(s.callers[0].caller, UNKNOWN_CALLER);
        let programs = &s.callers[0].programs;
        let names: Vec<&str> = programs.iter().map(|p| p.program.as_str()).collect();
        assert_eq!(names, ["/usr/bin/true", "/bin/ls", "/bin/x"]);
        let true_ = &programs[0];
        assert_eq!((true_.execs, true_.fds, true_.processes), (2, 5, 2));
        let leaks: Vec<(&str, &str, Option<u64>, u64)> = true_
            .leaks
            .iter()
            .map(|l| (l.kind, l.target.as_str(), l.fds, l.execs))
            .collect();
        assert_eq!(
            leaks,
            [
                ("socket", "socket:[*]", Some(3), 2),
                ("file", "/etc/hostname", Some(2), 2)
            ]
        );
        let ls = &programs[1];
        assert_eq!(ls.leaks[0].kind, UNLISTED);
        assert_eq!(ls.leaks[0].fds, Some(3));
        assert_eq!(ls.leaks[1].kind, "eventfd");
        let x = &programs[2];
        assert_eq!(x.fds, 1);
        assert!(x.leaks.iter().any(|l| l.kind == CUT && l.fds.is_none()));
        assert_eq!(s.leaks_not_allowed, 5 + 4 + 2);
    }

    #[test]
    fn allow_rules_clear_the_gate() {
        let s = summary(
            &LOG,
            &[
                "true:socket:[*]",
                "true:/etc/*",
                "ls:*",
                "/bin/x:file",
                "x:cut",
            ],
        );
        assert_eq!(s.leaks_not_allowed, 0);
        let s = summary(&LOG, &["true:socket"]);
        let true_ = &s.callers[0].programs[0];
        assert!(true_.leaks[0].allowed);
        assert!(!true_.leaks[1].allowed);
    }

    /// A C program that leaks seven fds into a probe through execv and
    /// system, a shell that leaks one into it, and an older line.
    const BY_CALLER: [&str; 4] = [
        "libcloexec[20]: execv /tmp/probe (by leaky): swept 3 (/a), 4 (/b), 5 (/c), 6 (/d), 7 (/e), 8 (/f), 9 (/g)",
        "libcloexec[20]: system /tmp/probe (by leaky): swept 3 (/a), 4 (/b), 5 (/c), 6 (/d), 7 (/e), 8 (/f), 9 (/g)",
        "libcloexec[21]: execve /tmp/probe (by make): swept 3 (pipe:[4])",
        "libcloexec[22]: execve /tmp/probe: swept 5 (/x)",
    ];

    #[test]
    fn grouped_by_caller_first_then_by_program() {
        let s = summary(&BY_CALLER, &[]);
        let callers: Vec<(&str, u64, u64, usize)> = s
            .callers
            .iter()
            .map(|c| (c.caller.as_str(), c.execs, c.fds, c.programs.len()))
            .collect();
        assert_eq!(
            callers,
            [("leaky", 2, 14, 1), ("?", 1, 1, 1), ("make", 1, 1, 1)]
        );
        assert_eq!((s.execs, s.fds, s.programs), (4, 16, 1));
        let probe = &s.callers[0].programs[0];
        assert_eq!(probe.program, "/tmp/probe");
        assert_eq!(probe.calls.get("execv"), Some(&1));
        assert_eq!(probe.calls.get("system"), Some(&1));
        let text = anstream::adapter::strip_str(&render(&s, false)).to_string();
        assert!(
            text.starts_with("cloexec report: 4 execs by 3 callers swept 16 fds (in 1 program)\n"),
            "{text}"
        );
        let leaky = text.find("\nleaky  2 execs, 14 fds (1 program; 1 process)\n");
        let probe = text.find("\n  /tmp/probe  2 execs, 14 fds (execv ×1, system ×1; 1 process)\n");
        assert!(leaky.is_some() && probe > leaky, "{text}");
        assert!(
            text.contains("\n? (lines that name no caller)  1 exec"),
            "{text}"
        );
    }

    #[test]
    fn an_allow_rule_may_name_the_caller() {
        let s = summary(&BY_CALLER, &["leaky:file"]);
        assert_eq!(s.leaks_not_allowed, 2);
        let s = summary(&BY_CALLER, &["?:*"]);
        assert_eq!(s.leaks_not_allowed, 16, "'?' is no caller's name");
    }

    #[test]
    fn text_lists_every_leak() {
        let text = render(&summary(&LOG, &["true:socket"]), true);
        let text = anstream::adapter::strip_str(&text).to_string();
        assert!(
            text.starts_with("cloexec report: 4 execs by 1 caller swept 10 fds (in 3 programs)\n"),
            "{text}"
        );
        assert!(text.contains("socket:[*] (allowed)"), "{text}");
        assert!(text.contains("/etc/hostname"), "{text}");
        assert!(text.contains("1 line was cut"), "{text}");
        assert!(
            text.contains("FAIL: 8 leaks not in the allow-list"),
            "{text}"
        );
    }
}
