//! The keep decision: which fds an exec must leave alone (README, "What is
//! kept").
//!
//! Pure functions. The argv and environment arrive as iterators of byte
//! slices, and the facts that need the kernel (an fd's current identity,
//! the caller's pid, the open listening sockets) arrive as closures, so
//! everything here is tested and property-tested without preloading
//! anything. The environment's conventions (K6) are in [`crate::conventions`],
//! the splitting rule for numbers (K5, K6) in [`crate::numbers`].

use core::ffi::c_int;

use crate::conventions::{self, Convention, Reading, Source};
use crate::ffi;
use crate::keepset::KeepSet;
use crate::numbers::{self, MAX_FD, parse_fd};
use crate::settings::{NameList, Policy};
use crate::sys::FileId;

/// Why an fd was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// fds 0-2, never touched.
    Stdio,
    /// K2: named by `CLOEXEC_KEEP`.
    KeepList,
    /// K3: open at load and still the same file.
    Inherited,
    /// K4: made inheritable on purpose and still the same file.
    Intent,
    /// K5: named by an argument (`/dev/fd/N`, a number), or the fd
    /// `fexecve`/`execveat` runs.
    Argv,
    /// K6: named by an fd-passing convention in the new environment.
    Protocol,
    /// K8: the target is a helper that learns its fds over a private channel.
    Helper,
    /// K9: the process holds a lock through it, still the same file.
    Lock,
    /// K10: a listening socket, on its way to the same program.
    Listener,
    /// K11: a fork child that curated its fd table left it open.
    Curated,
    /// K12: a pipe end whose other end the fork child closed.
    OwnChannel,
    /// K13: the fork child made it after the fork.
    MadeInChild,
}

impl Rule {
    pub fn label(self) -> &'static str {
        match self {
            Rule::Stdio => "stdio",
            Rule::KeepList => "K2 keep-list",
            Rule::Inherited => "K3 inherited",
            Rule::Intent => "K4 intent",
            Rule::Argv => "K5 argv",
            Rule::Protocol => "K6 protocol",
            Rule::Helper => "K8 helper",
            Rule::Lock => "K9 lock",
            Rule::Listener => "K10 listener",
            Rule::Curated => "K11 curated",
            Rule::OwnChannel => "K12 own channel",
            Rule::MadeInChild => "K13 made in child",
        }
    }
}

/// What one exec or spawn hands to the new program.
pub struct ExecRequest<'t, A, E> {
    /// The arguments (for `system`/`popen`, the command string).
    pub args: A,
    /// Whether `args` is one shell command (`system`, `popen`): then all of
    /// it names numbers; in an argument vector `argv[0]` does not.
    pub is_command: bool,
    /// The environment the new program gets.
    pub env: E,
    /// The fd that `fexecve`/`execveat` execute, if any: a script run that
    /// way is read through `/dev/fd/N`, so it must stay open.
    pub program_fd: Option<c_int>,
    /// The basename of the program being started, if known (K8, K10).
    pub target: Option<&'t [u8]>,
}

/// What a fork child did between its fork and this exec (K11–K13); all
/// empty in a process that is not a fork child.
pub struct ForkChild<M, O> {
    /// K11: it closed fds it does not pass on.
    pub curated: bool,
    /// K13: the fds it made.
    pub made: M,
    /// K12: calls its argument with every pipe end whose other end the
    /// child closed; asked only when it closed one.
    pub own_channels: O,
}

/// Ranges kept whole because a table was full (capacities fail open).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unrecorded {
    pub inherited: Option<(u32, u32)>,
    pub intents: Option<(u32, u32)>,
    pub locks: Option<(u32, u32)>,
    pub made_in_child: Option<(u32, u32)>,
}

impl Unrecorded {
    fn each(&self, sink: &mut dyn FnMut(Rule, u32, u32)) {
        let spans = [
            (Rule::Inherited, self.inherited),
            (Rule::Intent, self.intents),
            (Rule::Lock, self.locks),
            (Rule::MadeInChild, self.made_in_child),
        ];
        for (rule, span) in spans {
            if let Some((lo, hi)) = span {
                sink(rule, lo, hi);
            }
        }
    }
}

/// The process state the keep rules consult.
pub struct ProcessView<'s, I, N, K, C, P, L, M, O> {
    pub policy: Policy,
    pub keep_list: &'s KeepSet,
    /// K8: targets for which nothing is swept.
    pub helpers: &'s NameList,
    /// K10: the basenames the caller's own program goes by.
    pub own_program: &'s NameList,
    /// K3 records: fds open at load, with their identity then.
    pub inherited: I,
    /// K4 records: fds made inheritable on purpose, with their identity then.
    pub intents: N,
    /// K9 records: fds the process locked, with their identity then.
    pub locks: K,
    /// The identity of what an fd refers to now (`fstat`), `None` if closed.
    pub identity_now: C,
    /// The caller's pid (`getpid`), asked only when a rule needs it.
    pub own_pid: P,
    /// Calls its argument with every open listening socket; asked only
    /// when the target is the caller's own program.
    pub listeners: L,
    /// K11–K13.
    pub fork_child: ForkChild<M, O>,
    /// What full tables keep whole.
    pub unrecorded: Unrecorded,
}

/// Calls `sink(rule, lo, hi)` for every range some rule keeps.
pub fn for_each_kept<'a, A, E, I, N, K, C, P, L, M, O>(
    exec: ExecRequest<'_, A, E>,
    view: ProcessView<'_, I, N, K, C, P, L, M, O>,
    sink: &mut dyn FnMut(Rule, u32, u32),
) where
    A: Iterator<Item = &'a [u8]>,
    E: Iterator<Item = &'a [u8]>,
    I: Iterator<Item = (c_int, FileId)>,
    N: Iterator<Item = (c_int, FileId)>,
    K: Iterator<Item = (c_int, FileId)>,
    C: FnMut(c_int) -> Option<FileId>,
    P: FnMut() -> u32,
    L: FnOnce(&mut dyn FnMut(c_int)),
    M: Iterator<Item = u32>,
    O: FnOnce(&mut dyn FnMut(c_int)),
{
    let ProcessView {
        policy,
        keep_list,
        helpers,
        own_program,
        inherited,
        intents,
        locks,
        mut identity_now,
        mut own_pid,
        listeners,
        fork_child,
        unrecorded,
    } = view;
    sink(Rule::Stdio, 0, 2);
    for r in keep_list.ranges() {
        sink(Rule::KeepList, r.lo, r.hi);
    }
    if let Some(fd) = exec.program_fd.and_then(|fd| u32::try_from(fd).ok()) {
        sink(Rule::Argv, fd, fd);
    }
    if policy == Policy::Strict {
        return;
    }
    if exec.target.is_some_and(|t| is_named(t, helpers)) {
        sink(Rule::Helper, 3, MAX_FD);
        return;
    }
    if fork_child.curated {
        sink(Rule::Curated, 3, MAX_FD);
        return;
    }
    unrecorded.each(sink);
    let mut still_same = |(fd, then): (c_int, FileId)| {
        let fd_u32 = u32::try_from(fd).ok()?;
        (identity_now(fd) == Some(then)).then_some(fd_u32)
    };
    for fd in inherited.filter_map(&mut still_same) {
        sink(Rule::Inherited, fd, fd);
    }
    for fd in intents.filter_map(&mut still_same) {
        sink(Rule::Intent, fd, fd);
    }
    for fd in locks.filter_map(&mut still_same) {
        sink(Rule::Lock, fd, fd);
    }
    (fork_child.own_channels)(&mut |fd| {
        if let Ok(fd) = u32::try_from(fd) {
            sink(Rule::OwnChannel, fd, fd);
        }
    });
    for fd in fork_child.made {
        sink(Rule::MadeInChild, fd, fd);
    }
    // K5's options (a count, a bound, xterm's pty) see each argument with
    // the one before it, in the same pass.
    let mut previous = None;
    let mut preserved = 0;
    let target = exec.target.map(basename);
    for (i, arg) in exec.args.enumerate() {
        fds_in_arg(arg, &mut own_pid, &mut |fd| sink(Rule::Argv, fd, fd));
        if i > 0 || exec.is_command {
            numbers::numbers(arg).for_each(|fd| sink(Rule::Argv, fd, fd));
            let mut option = |c: Convention, lo: u32, hi: u32| {
                if c.reading() == Reading::CountAfterStdio {
                    preserved = hi - lo + 1;
                }
                sink(Rule::Argv, lo, hi)
            };
            match exec.is_command {
                true => conventions::fds_in_command(target, arg, &mut option),
                false => conventions::fds_in_option(target, previous, arg, &mut option),
            }
        }
        previous = Some(arg);
    }
    conventions::fds_in_caller_args(
        &mut |caller| own_program.contains(caller),
        || ffi::own_args().iter(),
        &mut |_, fd| sink(Rule::Argv, fd, fd),
    );
    let mut listen_hi = None;
    conventions::fds_in_env(exec.env, &mut own_pid, &mut |source, lo, hi| {
        if source == Source::Convention(Convention::ListenFds) {
            listen_hi = Some(hi);
        }
        sink(Rule::Protocol, lo, hi)
    });
    // A runtime's preserved fds come after the socket-activation ones.
    if let (Some(hi), 1..) = (listen_hi, preserved) {
        sink(
            Rule::Argv,
            hi.saturating_add(1),
            hi.saturating_add(preserved).min(MAX_FD),
        );
    }
    if exec.target.is_some_and(|t| is_named(t, own_program)) {
        listeners(&mut |fd| {
            if let Ok(fd) = u32::try_from(fd) {
                sink(Rule::Listener, fd, fd);
            }
        });
    }
}

/// The last path component of `path`: `/usr/bin/bash` gives `bash`.
pub fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Whether the basename of `path` is one of `names` (K7, K8, K10).
pub fn is_named(path: &[u8], names: &NameList) -> bool {
    let base = basename(path);
    !base.is_empty() && names.contains(base)
}

/// K7: whether the program at `exe` (a path) is one whose inheritable fds
/// are all a user's redirections.
pub fn is_passthrough(exe: &[u8], names: &NameList) -> bool {
    is_named(exe, names)
}

/// The program a shell command starts, as far as it can be told without a
/// shell: its first word (`/usr/bin/java -jar x` gives `/usr/bin/java`).
pub fn command_program(command: &[u8]) -> &[u8] {
    let command = command.trim_ascii_start();
    let end = command
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(command.len());
    command.get(..end).unwrap_or(&[])
}

/// The leading decimal digits of `s` as an fd, if there are any and they fit.
fn leading_fd(s: &[u8]) -> Option<u32> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_fd(s.get(..digits)?)
}

/// K5 paths: every `/dev/fd/N`, `/proc/self/fd/N`, `/proc/thread-self/fd/N`
/// and `/proc/<own pid>/fd/N` in one argument.
pub fn fds_in_arg(arg: &[u8], own_pid: &mut dyn FnMut() -> u32, found: &mut dyn FnMut(u32)) {
    let mut pid = None;
    // Every such path has `/fd/` right before N: look only there (the exec
    // path runs this over every argument).
    let slashes = arg.iter().enumerate().filter(|&(_, &b)| b == b'/');
    let fd_dirs = slashes.filter(|&(i, _)| arg.get(i + 1..i + 4) == Some(b"fd/"));
    for (fd_dir, _) in fd_dirs {
        let Some(n) = arg.get(fd_dir + 4..).and_then(leading_fd) else {
            continue;
        };
        let Some(before) = arg.get(..fd_dir) else {
            continue;
        };
        if [&b"/dev"[..], b"/proc/self", b"/proc/thread-self"]
            .iter()
            .any(|dir| before.ends_with(dir))
        {
            found(n);
            continue;
        }
        let digits = before
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let pid_at = fd_dir - digits;
        let named_pid = before.get(pid_at..).and_then(parse_fd);
        let under_proc = before.get(..pid_at).is_some_and(|p| p.ends_with(b"/proc/"));
        if let (Some(named_pid), true) = (named_pid, under_proc)
            && *pid.get_or_insert_with(&mut *own_pid) == named_pid
        {
            found(n);
        }
    }
}

/// The old scan, kept as the model the fast one is tested against.
#[cfg(test)]
fn fds_in_arg_model(arg: &[u8], own_pid: &mut dyn FnMut() -> u32, found: &mut dyn FnMut(u32)) {
    let mut pid = None;
    for (i, _) in arg.iter().enumerate().filter(|&(_, &b)| b == b'/') {
        let Some(at) = arg.get(i..) else { break };
        for prefix in [
            &b"/dev/fd/"[..],
            b"/proc/self/fd/",
            b"/proc/thread-self/fd/",
        ] {
            if let Some(fd) = at.strip_prefix(prefix).and_then(leading_fd) {
                found(fd);
            }
        }
        let Some(rest) = at.strip_prefix(b"/proc/") else {
            continue;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (Some(named_pid), Some(tail)) =
            (rest.get(..digits).and_then(parse_fd), rest.get(digits..))
        else {
            continue;
        };
        if let Some(fd) = tail.strip_prefix(b"/fd/").and_then(leading_fd)
            && *pid.get_or_insert_with(&mut *own_pid) == named_pid
        {
            found(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{BadParts, parse_names};
    use proptest::prelude::*;

    fn arg_fds(arg: &str, pid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        fds_in_arg(arg.as_bytes(), &mut || pid, &mut |fd| out.push(fd));
        out
    }

    #[test]
    fn argv_paths() {
        assert_eq!(arg_fds("/dev/fd/63", 1), [63]);
        assert_eq!(arg_fds("--file=/dev/fd/7", 1), [7]);
        assert_eq!(arg_fds("/proc/self/fd/12", 1), [12]);
        assert_eq!(arg_fds("/proc/thread-self/fd/12", 1), [12]);
        assert_eq!(arg_fds("/proc/4242/fd/9", 4242), [9]);
        assert!(
            arg_fds("/proc/4243/fd/9", 4242).is_empty(),
            "another process's fd"
        );
        assert_eq!(arg_fds("diff /dev/fd/62 /dev/fd/63", 1), [62, 63]);
        assert!(arg_fds("/dev/fd/", 1).is_empty());
        assert!(arg_fds("/dev/fd/x1", 1).is_empty());
        assert!(arg_fds("/dev/fd/99999999999999", 1).is_empty());
        assert!(arg_fds("/dev/fdx/3", 1).is_empty());
        assert_eq!(arg_fds("/dev/fd/5/", 1), [5]);
    }

    #[test]
    fn pid_is_asked_only_when_needed() {
        let mut asked = 0;
        let mut out = Vec::new();
        fds_in_arg(
            b"/dev/fd/3 /proc/self/fd/4",
            &mut || {
                asked += 1;
                1
            },
            &mut |fd| out.push(fd),
        );
        assert_eq!((asked, out), (0, vec![3, 4]));
    }

    fn names(list: &str) -> NameList {
        let mut names = NameList::new();
        parse_names(list.as_bytes(), &mut names, &mut BadParts::new());
        names
    }

    #[test]
    fn names_by_basename() {
        let names = names("bash,sh");
        assert!(is_passthrough(b"/usr/bin/bash", &names));
        assert!(is_passthrough(b"sh", &names));
        assert!(!is_passthrough(b"/usr/bin/bashful", &names));
        assert!(!is_passthrough(b"/bin/", &names));
        assert_eq!(basename(b"/a/b/c"), b"c");
        assert_eq!(basename(b"c"), b"c");
    }

    #[test]
    fn command_programs() {
        assert_eq!(command_program(b"  /usr/bin/java -jar x"), b"/usr/bin/java");
        assert_eq!(command_program(b"jspawnhelper"), b"jspawnhelper");
        assert_eq!(command_program(b""), b"");
    }

    fn id(n: u64) -> FileId {
        FileId { dev: 1, ino: n }
    }

    /// The process these tests decide for: fds 10, 11 inherited, 20, 21
    /// intent, 25, 26 locked, 60 and 61 listening; `prog` is its program.
    struct Case<'a> {
        policy: Policy,
        args: &'a [&'a str],
        is_command: bool,
        env: &'a [&'a str],
        target: Option<&'a str>,
        now: &'a [(c_int, u64)],
        curated: bool,
        made: &'a [u32],
        channels: &'a [c_int],
        unrecorded: Unrecorded,
    }

    impl Default for Case<'_> {
        fn default() -> Self {
            Case {
                policy: Policy::Smart,
                args: &[],
                is_command: false,
                env: &[],
                target: Some("other"),
                now: &[],
                curated: false,
                made: &[],
                channels: &[],
                unrecorded: Unrecorded::default(),
            }
        }
    }

    fn rules(case: Case<'_>) -> Vec<(Rule, u32, u32)> {
        let mut keep_list = KeepSet::new();
        keep_list.insert(40);
        let helpers = names("jspawnhelper");
        let own = names("prog,prog.py");
        let mut out = Vec::new();
        let now = case.now;
        for_each_kept(
            ExecRequest {
                args: case.args.iter().map(|a| a.as_bytes()),
                is_command: case.is_command,
                env: case.env.iter().map(|e| e.as_bytes()),
                program_fd: Some(30),
                target: case.target.map(str::as_bytes),
            },
            ProcessView {
                policy: case.policy,
                keep_list: &keep_list,
                helpers: &helpers,
                own_program: &own,
                inherited: [(10, id(100)), (11, id(101))].into_iter(),
                intents: [(20, id(200)), (21, id(201))].into_iter(),
                locks: [(25, id(250)), (26, id(251))].into_iter(),
                identity_now: |fd| now.iter().find(|(f, _)| *f == fd).map(|&(_, i)| id(i)),
                own_pid: || 1,
                listeners: |found: &mut dyn FnMut(c_int)| {
                    found(60);
                    found(61);
                },
                fork_child: ForkChild {
                    curated: case.curated,
                    made: case.made.iter().copied(),
                    own_channels: |found: &mut dyn FnMut(c_int)| {
                        case.channels.iter().for_each(|&fd| found(fd))
                    },
                },
                unrecorded: case.unrecorded,
            },
            &mut |rule, lo, hi| out.push((rule, lo, hi)),
        );
        out
    }

    fn argv_numbers(args: &[&str], is_command: bool) -> Vec<u32> {
        rules(Case {
            args,
            is_command,
            ..Case::default()
        })
        .into_iter()
        .filter(|&(r, lo, _)| r == Rule::Argv && lo != 30)
        .map(|(_, lo, _)| lo)
        .collect()
    }

    #[test]
    fn identity_decides_k3_k4_and_k9() {
        // fds 11, 21 and 26 were closed and their numbers reused.
        let now = [
            (10, 100),
            (11, 999),
            (20, 200),
            (21, 998),
            (25, 250),
            (26, 997),
        ];
        let kept = rules(Case {
            args: &["prog", "/dev/fd/50"],
            env: &["LISTEN_FDS=1"],
            now: &now,
            ..Case::default()
        });
        assert_eq!(
            kept,
            [
                (Rule::Stdio, 0, 2),
                (Rule::KeepList, 40, 40),
                (Rule::Argv, 30, 30),
                (Rule::Inherited, 10, 10),
                (Rule::Intent, 20, 20),
                (Rule::Lock, 25, 25),
                (Rule::Argv, 50, 50),
                (Rule::Protocol, 3, 3),
            ]
        );
    }

    #[test]
    fn numbers_in_arguments() {
        assert_eq!(
            argv_numbers(&["jspawnhelper", "11:12:14"], false),
            [11, 12, 14]
        );
        assert_eq!(argv_numbers(&["gpg", "--status-fd", "5"], false), [5]);
        assert_eq!(
            argv_numbers(&["x", "--fd=5", "fd:6", "tap,fd=7"], false),
            [5, 6, 7]
        );
        assert_eq!(argv_numbers(&["sh", "-c", "echo ok >&7"], false), [7]);
        assert_eq!(argv_numbers(&["x", "main(5)"], false), [5]);
        assert!(
            argv_numbers(&["7", "python3", "x86_64", "-5", "3.5", "UTF-8"], false).is_empty(),
            "argv[0] and words with digits name nothing"
        );
        assert_eq!(
            argv_numbers(&["7 python3 prog.py --fd=8"], true),
            [7, 8],
            "a command string is scanned whole"
        );
    }

    #[test]
    fn told_forms_in_arguments() {
        assert_eq!(argv_numbers(&["gunicorn", "--bind", "fd://7"], false), [7]);
        assert_eq!(argv_numbers(&["xterm", "-S/dev/pts/3/8"], false), [8]);
        assert_eq!(argv_numbers(&["s6-log", "-d9", "t", "/log"], false), [9]);
        assert!(
            argv_numbers(&["python3.11", "/usr/lib/python3.11/x.py", "x86_64"], false).is_empty(),
            "the seed's re-exec names nothing"
        );
        assert_eq!(
            argv_numbers(&["sh -c 'mpv --input-ipc-client=fd://7 x'"], true),
            [7],
            "a command string is read the same way"
        );
    }

    fn kept_for(case: Case<'_>) -> Vec<(u32, u32)> {
        rules(case)
            .into_iter()
            .filter(|&(r, lo, _)| r == Rule::Argv && lo != 30)
            .map(|(_, lo, hi)| (lo, hi))
            .collect()
    }

    #[test]
    fn options_that_tell_a_count_or_a_bound() {
        let args = ["runc", "run", "--preserve-fds", "2", "box"];
        assert_eq!(
            kept_for(Case {
                args: &args,
                target: Some("/usr/sbin/runc"),
                ..Case::default()
            }),
            [(2, 2), (3, 4)],
            "K5 still reads the 2 itself"
        );
        let kept = rules(Case {
            args: &args,
            env: &["LISTEN_FDS=3"],
            ..Case::default()
        });
        assert!(
            kept.contains(&(Rule::Protocol, 3, 5)) && kept.contains(&(Rule::Argv, 6, 7)),
            "after the socket-activation fds: {kept:?}"
        );
        let sudo = kept_for(Case {
            args: &["sudo", "-C", "8", "prog"],
            target: Some("/usr/bin/sudo"),
            ..Case::default()
        });
        assert_eq!(sudo, [(8, 8), (3, 7)]);
        let not_sudo = kept_for(Case {
            args: &["doas", "-C", "8", "prog"],
            target: Some("/usr/bin/doas"),
            ..Case::default()
        });
        assert_eq!(not_sudo, [(8, 8)]);
        let command = kept_for(Case {
            args: &["sudo -C 6 prog"],
            is_command: true,
            target: Some("sudo"),
            ..Case::default()
        });
        assert_eq!(command, [(6, 6), (3, 5)]);
    }

    #[test]
    fn helper_targets_keep_everything() {
        let kept = rules(Case {
            args: &["jspawnhelper", "11:12:14"],
            target: Some("/usr/lib/jvm/lib/jspawnhelper"),
            ..Case::default()
        });
        assert_eq!(
            kept,
            [
                (Rule::Stdio, 0, 2),
                (Rule::KeepList, 40, 40),
                (Rule::Argv, 30, 30),
                (Rule::Helper, 3, MAX_FD),
            ]
        );
        let other = rules(Case {
            target: Some("/usr/bin/jspawnhelper2"),
            ..Case::default()
        });
        assert!(!other.iter().any(|r| r.0 == Rule::Helper));
    }

    #[test]
    fn listeners_only_to_the_same_program() {
        let listeners = |target: Option<&str>| -> Vec<u32> {
            rules(Case {
                target,
                ..Case::default()
            })
            .into_iter()
            .filter(|r| r.0 == Rule::Listener)
            .map(|r| r.1)
            .collect()
        };
        assert_eq!(listeners(Some("/usr/sbin/prog")), [60, 61]);
        assert_eq!(listeners(Some("prog.py")), [60, 61]);
        assert!(listeners(Some("/usr/sbin/prog2")).is_empty());
        assert!(listeners(Some("other")).is_empty());
        assert!(listeners(None).is_empty());
    }

    #[test]
    fn strict_keeps_stdio_keep_list_and_program_only() {
        let now = [(10, 100), (20, 200), (25, 250)];
        let kept = rules(Case {
            policy: Policy::Strict,
            args: &["x", "/dev/fd/50", "51"],
            env: &["LISTEN_FDS=1", "APP_FD=52"],
            target: Some("prog"),
            now: &now,
            ..Case::default()
        });
        assert_eq!(
            kept,
            [
                (Rule::Stdio, 0, 2),
                (Rule::KeepList, 40, 40),
                (Rule::Argv, 30, 30)
            ]
        );
        let helper = rules(Case {
            policy: Policy::Strict,
            target: Some("jspawnhelper"),
            ..Case::default()
        });
        assert!(
            !helper.iter().any(|r| r.0 == Rule::Helper),
            "strict means K2 only"
        );
    }

    #[test]
    fn fork_child_rules() {
        let child = |curated, made: &'static [u32], channels: &'static [c_int]| {
            rules(Case {
                curated,
                made,
                channels,
                ..Case::default()
            })
        };
        let kept = child(false, &[3, 9], &[7]);
        assert!(kept.contains(&(Rule::OwnChannel, 7, 7)));
        assert!(kept.contains(&(Rule::MadeInChild, 3, 3)));
        assert!(kept.contains(&(Rule::MadeInChild, 9, 9)));
        assert!(!kept.iter().any(|r| r.0 == Rule::Curated));
        let kept = child(true, &[], &[]);
        assert!(kept.contains(&(Rule::Curated, 3, MAX_FD)), "{kept:?}");
        let strict = rules(Case {
            policy: Policy::Strict,
            curated: true,
            made: &[3],
            channels: &[7],
            ..Case::default()
        });
        assert!(
            strict
                .iter()
                .all(|r| matches!(r.0, Rule::Stdio | Rule::KeepList | Rule::Argv)),
            "strict means K2 only: {strict:?}"
        );
    }

    #[test]
    fn full_tables_keep_their_spans() {
        let unrecorded = Unrecorded {
            inherited: Some((300, 5000)),
            intents: Some((65536, MAX_FD)),
            locks: None,
            made_in_child: Some((65536, MAX_FD)),
        };
        let kept = rules(Case {
            unrecorded,
            ..Case::default()
        });
        for span in [
            (Rule::Inherited, 300, 5000),
            (Rule::Intent, 65536, MAX_FD),
            (Rule::MadeInChild, 65536, MAX_FD),
        ] {
            assert!(kept.contains(&span), "{span:?} in {kept:?}");
        }
        assert!(!kept.iter().any(|r| r.0 == Rule::Lock && r.1 >= 65536));
    }

    proptest! {
        #[test]
        fn arbitrary_argv_and_env_never_panic(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
            tails in proptest::collection::vec("[-0-9,;:=/a-z ]{0,40}", 0..8),
            pid in any::<u32>(),
            is_command in any::<bool>(),
        ) {
            let prefixes = ["/dev/fd/", "/proc/self/fd/", "LISTEN_FDS=", "MAKEFLAGS=--jobserver-auth=", "NGINX=", "GUNICORN_FD=", "SERVER_STARTER_PORT=", "/proc/", "APP_FD=", "X=fd:"];
            let crafted: Vec<Vec<u8>> = tails.iter().enumerate().map(|(i, t)| [prefixes[i % prefixes.len()].as_bytes(), t.as_bytes()].concat()).collect();
            let all: Vec<&[u8]> = args.iter().chain(crafted.iter()).map(|v| v.as_slice()).collect();
            let keep_list = KeepSet::new();
            let none = NameList::new();
            let mut set = KeepSet::new();
            for_each_kept(
                ExecRequest { args: all.iter().copied(), is_command, env: all.iter().copied(), program_fd: None, target: all.first().copied() },
                ProcessView {
                    policy: Policy::Smart,
                    keep_list: &keep_list,
                    helpers: &none,
                    own_program: &none,
                    inherited: core::iter::empty(),
                    intents: core::iter::empty(),
                    locks: core::iter::empty(),
                    identity_now: |_| None,
                    own_pid: || pid,
                    listeners: |_: &mut dyn FnMut(c_int)| {},
                    fork_child: ForkChild {
                        curated: false,
                        made: core::iter::empty(),
                        own_channels: |_: &mut dyn FnMut(c_int)| {},
                    },
                    unrecorded: Unrecorded::default(),
                },
                &mut |_, lo, hi| {
                    set.insert_range(lo, hi);
                },
            );
            prop_assert!(set.contains(0) && set.contains(1) && set.contains(2));
            for r in set.ranges() {
                prop_assert!(r.lo <= r.hi && r.hi <= MAX_FD);
            }
            for pair in set.ranges().windows(2) {
                prop_assert!(pair[0].hi.saturating_add(1) < pair[1].lo);
            }
        }

        /// The fast path scan finds exactly what the plain one does.
        #[test]
        fn path_scan_matches_the_model(
            pieces in proptest::collection::vec(prop_oneof![
                Just("/dev/fd/".to_string()), Just("/proc/self/fd/".to_string()),
                Just("/proc/thread-self/fd/".to_string()), Just("/proc/".to_string()),
                Just("/fd/".to_string()), "[0-9]{1,4}", "[a-z/:=]{1,4}",
            ], 0..10),
            pid in 1u32..3000,
        ) {
            let arg = pieces.concat();
            let (mut fast, mut model) = (Vec::new(), Vec::new());
            fds_in_arg(arg.as_bytes(), &mut || pid, &mut |fd| fast.push(fd));
            fds_in_arg_model(arg.as_bytes(), &mut || pid, &mut |fd| model.push(fd));
            fast.sort();
            model.sort();
            prop_assert_eq!(fast, model, "{}", arg);
        }

        /// Every number-only argument after argv[0] is kept, whatever else
        /// the argv holds.
        #[test]
        fn every_number_argument_is_kept(
            fds in proptest::collection::vec(0u32..(1 << 31), 1..6),
            words in proptest::collection::vec("[a-z][a-z0-9._-]{0,8}", 0..6),
        ) {
            let mut args: Vec<String> = vec!["prog".into()];
            args.extend(words.iter().cloned());
            args.extend(fds.iter().map(|f| f.to_string()));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let kept = argv_numbers(&refs, false);
            for fd in fds {
                prop_assert!(kept.contains(&fd));
            }
        }
    }

    /// K3 keeps an inherited fd only while it is the same open file: the
    /// recorded number alone keeps nothing, and each record's identity
    /// belongs to its own number.
    #[test]
    fn k3_keeps_an_inherited_number_only_for_its_own_file() {
        let k3 = |now: &[(c_int, u64)]| -> Vec<u32> {
            rules(Case {
                now,
                ..Case::default()
            })
            .into_iter()
            .filter(|r| r.0 == Rule::Inherited)
            .map(|r| r.1)
            .collect()
        };
        assert_eq!(k3(&[(10, 100), (11, 101)]), [10, 11]);
        // 11 closed and its number reused by another file; then 10 closed.
        assert_eq!(k3(&[(10, 100), (11, 999)]), [10]);
        assert_eq!(k3(&[(11, 101)]), [11]);
        // The two files swapped numbers (dup2 both ways): neither is kept.
        assert!(k3(&[(10, 101), (11, 100)]).is_empty());
        // No other rule keeps a reused inherited number either.
        let all = rules(Case {
            now: &[(10, 999)],
            ..Case::default()
        });
        assert!(
            !all.iter().any(|&(_, lo, hi)| lo <= 10 && 10 <= hi),
            "{all:?}"
        );
    }
}
