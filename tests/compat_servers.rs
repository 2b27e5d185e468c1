//! Servers that re-exec themselves and keep their listening sockets.
//!
//! Each server runs for real on 127.0.0.1, once without the library and once
//! with it (default settings), and goes through its reload or upgrade. Both
//! runs must show the same thing:
//!
//! - it serves an HTTP request before the signal and after it;
//! - its next self *inherited* the listener: after the reload there is still
//!   exactly one listening socket on the port, with the same inode, and the
//!   new process holds it (a rebind would be a new inode and a window of
//!   refused connections);
//! - a client connecting in a loop all through the reload is never refused;
//! - the library wrote nothing to the server's stderr or logs.
//!
//! And where the server lets us plant one, a leak: a file its process opened
//! after the library loaded, without `O_CLOEXEC` and with no act that says it
//! is meant to be passed on. Without the library the next self holds it (so
//! the plant really leaks); with the library it does not.
//!
//! | server | how its next self learns about the listener | leak planted by |
//! |---|---|---|
//! | nginx, binary upgrade (`SIGUSR2`, then `SIGQUIT` to the old master) | `NGINX=5;` in the environment (K6) | a `perl_require` module that calls `POSIX::open` |
//! | gunicorn (`SIGUSR2`, then `SIGTERM` to the old master) | `GUNICORN_FD=N` (K6; Python also clears its close-on-exec flag, K4) | the `on_starting` hook, libc `open` through `ctypes` |
//! | uwsgi, graceful reload (`SIGHUP`) | nothing: the master execs itself in place and finds the socket by its address (K10) | none: uwsgi closes every fd but its sockets itself before it re-execs |
//! | haproxy master-worker (`-W`), reload (`SIGUSR2`) | the master re-execs itself (at start, into its wait mode, and at each reload) with its worker socketpairs named in `HAPROXY_PROCESSES=…;fd=N;…` (K6) and `-x sockpair@N` (K5); the new worker fetches the listener from the old one over that socketpair | a `lua-load` file whose `io.open` is `fopen` without `e` |
//! | Server::Starter (`start_server`), restart (`SIGHUP`): a new server, then `SIGTERM` to the old one | `SERVER_STARTER_PORT=127.0.0.1:PORT=N` (K6; start_server also clears the flag, K4) | `PERL5OPT` loads a module into start_server that calls `POSIX::open` |

mod common;

use common::{Preload, TempDir, clean_command, fixture, require};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server may take to start, reload or stop on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------
// The server's processes

/// A server started in its own process group. Dropping it kills the whole
/// group, whatever state the test left it in.
struct Server {
    child: Child,
    pgid: i32,
    log: PathBuf,
    dir: PathBuf,
}

impl Server {
    /// Starts `cmd` in `dir` as the leader of a new process group, stdin
    /// from /dev/null, stdout and stderr into `dir/server.log`.
    fn start(mut cmd: Command, dir: &TempDir) -> Server {
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log).expect("create server.log");
        let err = out.try_clone().expect("dup server.log");
        let child = cmd
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let pgid = child.id() as i32;
        Server {
            child,
            pgid,
            log,
            dir: dir.path().to_path_buf(),
        }
    }

    /// The live (not zombie) processes of the group.
    fn members(&self) -> Vec<Proc> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(Proc::read)
            .filter(|p| p.pgrp == self.pgid && p.state != 'Z')
            .collect()
    }

    /// The live children of `parent` in the group.
    fn children_of(&self, parent: i32) -> Vec<i32> {
        self.members()
            .into_iter()
            .filter(|p| p.ppid == parent)
            .map(|p| p.pid)
            .collect()
    }

    /// The one live child of `parent` in the group, a `what`; panics if
    /// there is not exactly one.
    fn only_child_of(&self, parent: i32, what: &str) -> i32 {
        match self.children_of(parent)[..] {
            [one] => one,
            ref other => panic!("one {what} expected, found {other:?}\n{}", self.logs()),
        }
    }

    /// True once the process that was started (not its descendants) has
    /// exited (it stays a zombie until the drop reaps it).
    fn launcher_exited(&self) -> bool {
        !alive(self.pgid)
    }

    /// Everything the server wrote to stdout, stderr and the log files in
    /// its directory, for assertion messages and the quiet-library check.
    fn logs(&self) -> String {
        let mut text = format!(
            "--- {} ---\n{}",
            self.log.display(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        for name in ["error.log"] {
            if let Ok(more) = std::fs::read_to_string(self.dir.join(name)) {
                text.push_str(&format!("--- {name} ---\n{more}"));
            }
        }
        text
    }

    /// Polls `check` until it gives a value; panics with `what` and the
    /// server's logs after [`PATIENCE`], or at once when no process of the
    /// group is left to wait for.
    fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(value) = check() {
                return value;
            }
            let members = self.members();
            if members.is_empty() {
                panic!("waiting for {what}: the server has exited\n{}", self.logs());
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {what}\nprocesses: {members:?}\n{}",
                    self.logs()
                );
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own process group id (process_group(0) made
        // the child its leader); it touches no memory of ours.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// One process, from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    state: char,
}

impl Proc {
    fn read(pid: i32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold anything.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split(' ');
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        let pgrp = fields.next()?.parse().ok()?;
        Some(Proc {
            pid,
            ppid,
            pgrp,
            state,
        })
    }
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    Proc::read(pid).is_some_and(|p| p.state != 'Z')
}

/// Sends `signal` to `pid`.
fn signal(pid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) touches no memory of ours.
    let r = unsafe { libc::kill(pid, signal) };
    assert_eq!(r, 0, "kill({pid}, {signal}) failed");
}

/// The targets of `pid`'s open fds (`/proc/PID/fd/*` links).
fn fd_targets(pid: i32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .collect()
}

/// The `NAME=value` strings `pid` was started with (`/proc/PID/environ`: the
/// environment of its latest exec).
fn environ(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// The pid written in a pid file, once it is there.
fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

// ---------------------------------------------------------------------------
// The network side

/// A port that was free a moment ago (bind port 0, read it, close).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `GET /` over HTTP/1.0; the response (status line, headers, body) if its
/// status is 200.
fn get(port: u16) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
        Ok(response)
    } else {
        Err(format!("not a 200 response: {response:?}"))
    }
}

/// The body of a response.
fn body(response: &str) -> &str {
    response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .trim()
}

/// The inodes of the listening TCP sockets on 127.0.0.1:`port`, from
/// `/proc/net/tcp` (state 0A is LISTEN).
fn listening_inodes(port: u16) -> Vec<u64> {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9)?.parse().ok())?
        })
        .collect()
}

/// The one listening socket on the port; panics if there is not exactly one.
fn the_listener(server: &Server, port: u16) -> u64 {
    match listening_inodes(port)[..] {
        [inode] => inode,
        ref other => panic!(
            "expected one listening socket on port {port}, found {other:?}\n{}",
            server.logs()
        ),
    }
}

/// Starts a server on a free port and waits until it serves. A port taken
/// by someone else between [`free_port`] and the server's bind is retried
/// with another port.
fn start_serving(what: &str, mut launch: impl FnMut(u16) -> Server) -> (Server, u16) {
    for _ in 0..3 {
        let port = free_port();
        let server = launch(port);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if get(port).is_ok() {
                return (server, port);
            }
            let logs = server.logs();
            if logs.contains("in use") {
                break;
            }
            if server.members().is_empty() || Instant::now() >= deadline {
                panic!("{what}: did not start serving on port {port}\n{logs}");
            }
            thread::sleep(POLL);
        }
    }
    panic!("three free ports were taken before the server could bind them");
}

/// A client that connects to the port over and over (and hangs up) until
/// stopped, counting the connections refused.
struct RefusalWatch {
    stop: Arc<AtomicBool>,
    counts: JoinHandle<Connects>,
}

#[derive(Debug, Default)]
struct Connects {
    accepted: usize,
    refused: usize,
    /// Other failures (a timeout while the backlog is full, a reset): not a
    /// closed listener, shown in messages only.
    other: usize,
}

impl RefusalWatch {
    fn start(port: u16) -> RefusalWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let counts = thread::spawn(move || {
            let mut counts = Connects::default();
            while !flag.load(Ordering::Relaxed) {
                match TcpStream::connect_timeout(&addr(port), Duration::from_secs(2)) {
                    Ok(_) => counts.accepted += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        counts.refused += 1
                    }
                    Err(_) => counts.other += 1,
                }
                // Pacing, not synchronisation: a few dozen connects a second
                // see any window without filling the backlog.
                thread::sleep(Duration::from_millis(15));
            }
            counts
        });
        RefusalWatch { stop, counts }
    }

    fn finish(self) -> Connects {
        self.stop.store(true, Ordering::Relaxed);
        self.counts.join().expect("refusal watch thread")
    }
}

// ---------------------------------------------------------------------------
// Fixtures and the checks every server must pass

/// Copies `tests/fixtures/compat/servers/<name>` to `dir/<as_name>` with
/// `@DIR@` and `@PORT@` filled in, and returns its path.
fn render(name: &str, dir: &Path, port: u16, as_name: &str) -> PathBuf {
    let source = fixture("compat/servers").join(name);
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    let path = dir.join(as_name);
    let text = text
        .replace("@DIR@", &dir.to_string_lossy())
        .replace("@PORT@", &port.to_string());
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// A fresh temp dir for server `name`, its path with symlinks resolved (as
/// `/proc/PID/fd` links show it), and `name.pid` in it for the pid file.
fn server_dir(name: &str) -> (TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new(&format!("compat-{name}"));
    let real = dir.path().canonicalize().expect("canonical temp dir");
    let pid_file = real.join(format!("{name}.pid"));
    (dir, real, pid_file)
}

/// What one run through a reload showed.
#[derive(Debug)]
struct Reload {
    // The two answers, shown in failure messages (both are 200 by then).
    #[allow(dead_code)]
    before: String,
    after: String,
    /// The body the answer after must have, where the server's app names
    /// the process that served (`None`: any 200 answer).
    answer: Option<String>,
    listener_before: u64,
    listeners_after: Vec<u64>,
    /// The process that must hold the inherited listener after the reload.
    new_self: i32,
    new_self_fds: Vec<String>,
    connects: Connects,
    /// Whether the next self holds the planted leak (`None`: no plant).
    leak_reached: Option<bool>,
    logs: String,
}

/// The file a fixture plants from process `pid` (`planted.PID` in `dir`).
fn planted(dir: &Path, pid: i32) -> String {
    dir.join(format!("planted.{pid}"))
        .to_string_lossy()
        .into_owned()
}

/// A reload under way: what the server showed before the signal, and a
/// client connecting all through it.
struct Reloading<'a> {
    server: &'a Server,
    port: u16,
    /// What the server goes through ("reload", "upgrade", ...), for messages.
    event: &'static str,
    before: String,
    listener_before: u64,
    watch: RefusalWatch,
}

impl<'a> Reloading<'a> {
    /// Just before the signal: the server answers and has its one
    /// listener, and the client starts connecting.
    fn start(server: &'a Server, port: u16, event: &'static str) -> Reloading<'a> {
        let before = get(port)
            .unwrap_or_else(|e| panic!("no answer before the {event}: {e}\n{}", server.logs()));
        let listener_before = the_listener(server, port);
        Reloading {
            server,
            port,
            event,
            before,
            listener_before,
            watch: RefusalWatch::start(port),
        }
    }

    /// Once the reload has settled, `new_self` the process that must now
    /// hold the listener: the answer after it, the client's counts, and the
    /// listeners and fds that [`check`] looks at.
    fn finish(self, new_self: i32) -> Reload {
        let after = get(self.port);
        let connects = self.watch.finish();
        let after = after.unwrap_or_else(|e| {
            panic!(
                "no answer after the {}: {e}\n{}",
                self.event,
                self.server.logs()
            )
        });
        Reload {
            before: self.before,
            after,
            answer: None,
            listener_before: self.listener_before,
            listeners_after: listening_inodes(self.port),
            new_self,
            new_self_fds: fd_targets(new_self),
            connects,
            leak_reached: None,
            logs: self.server.logs(),
        }
    }
}

impl Reload {
    /// The answer after the reload must be `body` (the app names who served).
    fn answering(self, body: String) -> Reload {
        Reload {
            answer: Some(body),
            ..self
        }
    }

    /// A leak was planted at `path`: it must reach `holder` (the next self,
    /// or the process that shows it) without the library, and not with it.
    fn planted_leak(self, holder: i32, path: &str) -> Reload {
        let reached = fd_targets(holder).iter().any(|t| t == path);
        Reload {
            leak_reached: Some(reached),
            ..self
        }
    }
}

/// The checks every server must pass, without and with the library.
fn check(server: &str, preload: Preload, run: &Reload) {
    let context = || format!("{server} [{preload:?}]\n{run:#?}\n{}", run.logs);
    assert!(
        run.listeners_after == [run.listener_before],
        "{server}: after the reload the listener is not the one from before (a rebind, not inherited)\n{}",
        context()
    );
    let socket = format!("socket:[{}]", run.listener_before);
    assert!(
        run.new_self_fds.contains(&socket),
        "{server}: the new process {} does not hold the listener {socket}\n{}",
        run.new_self,
        context()
    );
    assert!(
        run.connects.refused == 0 && run.connects.accepted > 0,
        "{server}: connections were refused during the reload\n{}",
        context()
    );
    assert!(
        !run.logs.contains("libcloexec["),
        "{server}: the library wrote to the server's output at the default level\n{}",
        context()
    );
    if let Some(answer) = &run.answer {
        assert_eq!(
            body(&run.after),
            answer,
            "{server}: the answer after the reload is not from the new process {}\n{}",
            run.new_self,
            context()
        );
    }
    match (preload, run.leak_reached) {
        (_, None) => {}
        (Preload::Without, Some(reached)) => assert!(
            reached,
            "{server}: without the library the planted fd did not reach the next self, so this test cannot see a sweep\n{}",
            context()
        ),
        (_, Some(reached)) => assert!(
            !reached,
            "{server}: with the library the planted leak still reached the next self\n{}",
            context()
        ),
    }
}

/// Runs `scenario` without and then with the library and checks both runs.
fn without_and_with(server: &str, scenario: fn(Preload) -> Reload) {
    for preload in [Preload::Without, Preload::With] {
        let run = scenario(preload);
        check(server, preload, &run);
    }
}

// ---------------------------------------------------------------------------
// nginx: binary upgrade

/// nginx ignores `SIGUSR2` while its first parent lives (it takes that
/// parent for an old master still running: "the changing binary signal is
/// ignored"), so a shell starts it in the background and exits once nginx
/// has written its pid file.
const NGINX_LAUNCHER: &str = r#"pidfile=$1; shift
"$@" &
while kill -0 $! 2>/dev/null && [ ! -s "$pidfile" ]; do sleep 0.05; done"#;

fn nginx_upgrade(preload: Preload) -> Reload {
    let (dir, real, pid_file) = server_dir("nginx");
    std::fs::create_dir(real.join("tmp")).expect("mkdir tmp");
    let (server, port) = start_serving(&format!("nginx [{preload:?}]"), |port| {
        let conf = render("nginx.conf", &real, port, "nginx.conf");
        render("nginx_plant.pm", &real, port, "plant.pm");
        let _ = std::fs::remove_file(&pid_file);
        let mut cmd = clean_command("sh", preload);
        cmd.arg("-c")
            .arg(NGINX_LAUNCHER)
            .arg("sh")
            .arg(&pid_file)
            .arg("/usr/sbin/nginx")
            .arg("-p")
            .arg(&real)
            .arg("-e")
            .arg(real.join("error.log"))
            .arg("-c")
            .arg(&conf);
        Server::start(cmd, &dir)
    });
    server.wait_for("the launcher shell to exit", || {
        server.launcher_exited().then_some(())
    });
    let old = read_pid(&pid_file).expect("nginx.pid");
    let reloading = Reloading::start(&server, port, "upgrade");
    signal(old, libc::SIGUSR2);
    let new_self = server.wait_for("the new master and its worker", || {
        let new = read_pid(&pid_file).filter(|&p| p != old)?;
        (!server.children_of(new).is_empty()).then_some(new)
    });
    signal(old, libc::SIGQUIT);
    server.wait_for("the old master to exit", || (!alive(old)).then_some(()));
    reloading
        .finish(new_self)
        .planted_leak(new_self, &planted(&real, old))
}

#[test]
fn nginx_binary_upgrade_inherits_its_listener() {
    if !require("/usr/sbin/nginx", "nginx binary upgrade")
        || !require(
            "/usr/lib/nginx/modules/ngx_http_perl_module.so",
            "nginx's perl module plants the leak (libnginx-mod-http-perl)",
        )
    {
        return;
    }
    without_and_with("nginx", nginx_upgrade);
}

// ---------------------------------------------------------------------------
// gunicorn: re-exec on SIGUSR2

fn gunicorn_reexec(preload: Preload) -> Reload {
    let (dir, real, pid_file) = server_dir("gunicorn");
    let (server, port) = start_serving(&format!("gunicorn [{preload:?}]"), |port| {
        render("gunicorn_app.py", &real, port, "gunicorn_app.py");
        let conf = render("gunicorn_conf.py", &real, port, "gunicorn_conf.py");
        let mut cmd = clean_command("gunicorn", preload);
        cmd.arg("-c")
            .arg(&conf)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--workers", "1", "--pid"])
            .arg(&pid_file)
            .arg("--chdir")
            .arg(&real)
            .arg("gunicorn_app:app");
        Server::start(cmd, &dir)
    });
    let old = server.wait_for("gunicorn.pid", || read_pid(&pid_file));
    let reloading = Reloading::start(&server, port, "re-exec");
    signal(old, libc::SIGUSR2);
    // The new master is the old one's child that has a worker of its own.
    let new_self = server.wait_for("the new master and its worker", || {
        server
            .children_of(old)
            .into_iter()
            .find(|&child| !server.children_of(child).is_empty())
    });
    signal(old, libc::SIGTERM);
    server.wait_for("the old master to exit", || (!alive(old)).then_some(()));
    // The new master's worker answers, naming its master.
    reloading
        .finish(new_self)
        .answering(format!("served under {new_self}"))
        .planted_leak(new_self, &planted(&real, old))
}

#[test]
fn gunicorn_reexec_inherits_its_listener() {
    if !require("gunicorn", "gunicorn re-exec on SIGUSR2") {
        return;
    }
    without_and_with("gunicorn", gunicorn_reexec);
}

// ---------------------------------------------------------------------------
// uwsgi: graceful reload, an exec in place

/// The reload counter uwsgi puts in its environment before it re-execs.
fn uwsgi_reloads(pid: i32) -> Option<u32> {
    environ(pid)
        .iter()
        .find_map(|v| v.strip_prefix("UWSGI_RELOADS=")?.parse().ok())
}

fn uwsgi_reload(preload: Preload) -> Reload {
    let (dir, _, pid_file) = server_dir("uwsgi");
    let (server, port) = start_serving(&format!("uwsgi [{preload:?}]"), |port| {
        let mut cmd = clean_command("uwsgi", preload);
        cmd.args(["--master", "--workers", "1", "--http-socket"])
            .arg(format!("127.0.0.1:{port}"))
            // Internal routing answers without a language plugin.
            .args(["--route-run", "return:200", "--pidfile"])
            .arg(&pid_file);
        Server::start(cmd, &dir)
    });
    let master = server.wait_for("uwsgi.pid", || read_pid(&pid_file));
    assert_eq!(
        uwsgi_reloads(master),
        None,
        "a fresh uwsgi has not reloaded"
    );
    let reloading = Reloading::start(&server, port, "reload");
    signal(master, libc::SIGHUP);
    // The master execs itself in place (same pid); the new image has the
    // counter in its environment, then starts a worker.
    server.wait_for("the re-exec'd master and its worker", || {
        (uwsgi_reloads(master).is_some() && !server.children_of(master).is_empty()).then_some(())
    });
    reloading.finish(master)
}

#[test]
fn uwsgi_graceful_reload_inherits_its_listener() {
    if !require("uwsgi", "uwsgi graceful reload (uwsgi-core)") {
        return;
    }
    without_and_with("uwsgi", uwsgi_reload);
}

// ---------------------------------------------------------------------------
// haproxy: master-worker reload

/// True once the master has re-exec'd itself into its wait mode.
fn haproxy_waiting(pid: i32) -> bool {
    environ(pid)
        .iter()
        .any(|v| v == "HAPROXY_MWORKER_WAIT_ONLY=1")
}

/// True once `pid` catches `signal` and does not block it. A reload signal
/// that reaches haproxy's master before its loop has registered the handler
/// is lost (seen here under load: no "Reloading HAProxy" ever), so the test
/// waits for this before it signals.
fn catches(pid: i32, signal: libc::c_int) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let mask = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << (signal - 1);
    mask("SigCgt:") & bit != 0 && mask("SigBlk:") & bit == 0
}

/// The leaks the Lua file planted so far (one per reading of the
/// configuration), as paths.
fn haproxy_plants(dir: &Path) -> Vec<String> {
    let mut plants: Vec<String> = std::fs::read_dir(dir)
        .expect("read temp dir")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?;
            name.starts_with("planted.")
                .then(|| path.to_string_lossy().into_owned())
        })
        .collect();
    plants.sort();
    plants
}

fn haproxy_reload(preload: Preload) -> Reload {
    let (dir, real, pid_file) = server_dir("haproxy");
    let (server, port) = start_serving(&format!("haproxy [{preload:?}]"), |port| {
        let conf = render("haproxy.cfg", &real, port, "haproxy.cfg");
        render("haproxy_plant.lua", &real, port, "plant.lua");
        let mut cmd = clean_command("haproxy", preload);
        cmd.arg("-W").arg("-f").arg(&conf);
        Server::start(cmd, &dir)
    });
    let master = server.wait_for("haproxy.pid", || read_pid(&pid_file));
    server.wait_for("the master's re-exec into its wait mode", || {
        (haproxy_waiting(master) && catches(master, libc::SIGUSR2)).then_some(())
    });
    let first_plant = match &haproxy_plants(&real)[..] {
        [one] => one.clone(),
        other => panic!("one planted file expected, found {other:?}"),
    };
    let old_worker = server.only_child_of(master, "worker");
    let reloading = Reloading::start(&server, port, "reload");
    signal(master, libc::SIGUSR2);
    // The master re-execs, reads its configuration again (a second plant),
    // forks the new worker, which fetches the listener from the old one,
    // and re-execs into its wait mode; the old worker then leaves.
    let new_worker = server.wait_for("the new worker, and the old one gone", || {
        let workers = server.children_of(master);
        let done =
            haproxy_plants(&real).len() == 2 && haproxy_waiting(master) && !alive(old_worker);
        match (&workers[..], done) {
            ([one], true) if *one != old_worker => Some(*one),
            _ => None,
        }
    });
    // The master's next selves (its exec at start and at the reload) must
    // not hold what its first reading of the configuration leaked.
    reloading
        .finish(new_worker)
        .planted_leak(master, &first_plant)
}

#[test]
fn haproxy_master_worker_reload_passes_its_listener() {
    if !require("haproxy", "haproxy master-worker reload") {
        return;
    }
    without_and_with("haproxy", haproxy_reload);
}

// ---------------------------------------------------------------------------
// Server::Starter: start_server hands its listener to each new generation

fn starter_restart(preload: Preload) -> Reload {
    let (dir, real, pid_file) = server_dir("start_server");
    let (server, port) = start_serving(&format!("start_server [{preload:?}]"), |port| {
        let script = render("starter_server.pl", &real, port, "server.pl");
        render("starter_plant.pm", &real, port, "starter_plant.pm");
        let mut cmd = clean_command("start_server", preload);
        cmd.env("PERL5LIB", &real)
            .env("PERL5OPT", "-Mstarter_plant")
            .arg(format!("--port=127.0.0.1:{port}"))
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(format!("--status-file={}", real.join("status").display()))
            .args(["--", "perl"])
            .arg(&script);
        Server::start(cmd, &dir)
    });
    let starter = server.wait_for("start_server.pid", || read_pid(&pid_file));
    let old_worker = server.only_child_of(starter, "server");
    let reloading = Reloading::start(&server, port, "restart");
    signal(starter, libc::SIGHUP);
    let new_worker = server.wait_for("the new server, and the old one gone", || {
        match &server.children_of(starter)[..] {
            [one] if *one != old_worker && !alive(old_worker) => Some(*one),
            _ => None,
        }
    });
    // The new server answers, naming itself.
    reloading
        .finish(new_worker)
        .answering(format!("served by {new_worker}"))
        .planted_leak(new_worker, &planted(&real, starter))
}

#[test]
fn server_starter_restart_passes_its_listener() {
    if !require("start_server", "Server::Starter (libserver-starter-perl)") {
        return;
    }
    without_and_with("start_server", starter_restart);
}
