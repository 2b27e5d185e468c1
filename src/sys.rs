//! Raw Linux system calls: the one module that talks to the kernel directly.
//!
//! Why raw `syscall` instructions rather than libc's wrappers:
//! - they never touch `errno`, so a hook hands the caller exactly the errno
//!   the real call left;
//! - they can never land in one of our own interposed symbols (a call to
//!   `fcntl` from inside this library would bind to our `fcntl` hook);
//! - every one of them is async-signal-safe, so they may run in a vfork
//!   child, a fork child of a threaded program, or a signal handler.
//!
//! Every function here is a thin, safe wrapper: it takes plain values or
//! slices and returns `Result<_, Errno>`.

use core::ffi::{CStr, c_int, c_long};
use core::mem::MaybeUninit;

/// A kernel error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub c_int);

impl Errno {
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const EBADF: Errno = Errno(libc::EBADF);
}

pub type SysResult<T> = Result<T, Errno>;

/// What the configuration file's trust check reads: owner, type and
/// permission bits, size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileInfo {
    pub uid: u32,
    pub mode: u32,
    pub size: u64,
}

/// What makes an open file the same one later: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn raw_syscall(nr: c_long, a: [usize; 5]) -> isize {
    let ret: isize;
    // SAFETY: the caller passes a valid system call number and arguments
    // that satisfy that call's contract; rcx and r11 are clobbered by the
    // `syscall` instruction and declared so.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn raw_syscall(nr: c_long, a: [usize; 5]) -> isize {
    let ret: isize;
    // SAFETY: the caller passes a valid system call number and arguments
    // that satisfy that call's contract.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1],
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            options(nostack),
        );
    }
    ret
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("libcloexec supports x86_64 and aarch64 Linux");

fn check(ret: isize) -> SysResult<usize> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as c_int))
    } else {
        Ok(ret as usize)
    }
}

/// `close_range(lo, hi, CLOSE_RANGE_CLOEXEC)`: mark a whole range close-on-exec.
/// See close_range(2).
pub fn close_range_cloexec(lo: u32, hi: u32) -> SysResult<()> {
    // SAFETY: close_range takes plain integers and touches no memory.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_close_range,
            [
                lo as usize,
                hi as usize,
                libc::CLOSE_RANGE_CLOEXEC as usize,
                0,
                0,
            ],
        )
    };
    check(ret).map(drop)
}

/// `fcntl(fd, F_GETFD)`: the descriptor flags of `fd`. See fcntl(2).
pub fn fcntl_getfd(fd: c_int) -> SysResult<c_int> {
    // SAFETY: F_GETFD takes no pointer argument.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_fcntl,
            [fd as usize, libc::F_GETFD as usize, 0, 0, 0],
        )
    };
    check(ret).map(|flags| flags as c_int)
}

/// `fcntl(fd, F_SETFD, flags)`: set the descriptor flags of `fd`.
pub fn fcntl_setfd(fd: c_int, flags: c_int) -> SysResult<()> {
    // SAFETY: F_SETFD takes an integer argument, no pointer.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_fcntl,
            [fd as usize, libc::F_SETFD as usize, flags as usize, 0, 0],
        )
    };
    check(ret).map(drop)
}

/// Marks `fd` close-on-exec: `fcntl(fd, F_SETFD, FD_CLOEXEC)`. One call,
/// no `F_GETFD` first: `FD_CLOEXEC` is the only descriptor flag there is.
pub fn set_cloexec(fd: c_int) -> SysResult<()> {
    fcntl_setfd(fd, libc::FD_CLOEXEC)
}

fn fstat(fd: c_int) -> SysResult<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: the kernel writes at most one `struct stat` to the pointer,
    // which points at enough writable stack memory.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_fstat,
            [fd as usize, st.as_mut_ptr() as usize, 0, 0, 0],
        )
    };
    check(ret)?;
    // SAFETY: fstat succeeded, so the kernel filled the whole struct.
    Ok(unsafe { st.assume_init() })
}

/// `fstat(fd)`, reduced to the identity of the open file.
pub fn fstat_id(fd: c_int) -> SysResult<FileId> {
    let st = fstat(fd)?;
    Ok(FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// `fstat(fd)`, reduced to owner, mode and size.
pub fn fstat_info(fd: c_int) -> SysResult<FileInfo> {
    let st = fstat(fd)?;
    Ok(FileInfo {
        uid: st.st_uid,
        mode: st.st_mode,
        size: u64::try_from(st.st_size).unwrap_or(0),
    })
}

fn openat(path: &CStr, flags: c_int, mode: u32) -> SysResult<c_int> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                flags as usize,
                mode as usize,
                0,
            ],
        )
    };
    check(ret).map(|fd| fd as c_int)
}

/// Opens a directory for `getdents64`, close-on-exec.
pub fn open_dir(path: &CStr) -> SysResult<c_int> {
    openat(
        path,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )
}

/// Opens a log file for appending: `O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC`, mode 0666 (umask applies).
pub fn open_append(path: &CStr) -> SysResult<c_int> {
    openat(
        path,
        libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOCTTY,
        0o666,
    )
}

/// Opens a file to read it once: `O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK`.
/// `O_NONBLOCK` so that a FIFO in its place cannot hang the process (the
/// caller then refuses it: it is not a regular file); on a regular file
/// it changes nothing.
pub fn open_read(path: &CStr) -> SysResult<c_int> {
    openat(
        path,
        libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK,
        0,
    )
}

/// `read(fd, …)` until `buf` is full or the file ends (retrying `EINTR`),
/// into memory nobody needs to zero first. Returns the bytes read, which
/// are the only ones of `buf` that are initialised.
pub fn read_to_fill(fd: c_int, buf: &mut [MaybeUninit<u8>]) -> SysResult<&[u8]> {
    let mut got = 0;
    while got < buf.len() {
        let rest = buf.get_mut(got..).unwrap_or(&mut []);
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`.
        let ret = unsafe {
            raw_syscall(
                libc::SYS_read,
                [fd as usize, rest.as_mut_ptr() as usize, rest.len(), 0, 0],
            )
        };
        match check(ret) {
            Ok(0) => break,
            Ok(n) => got += n.min(rest.len()),
            Err(Errno(libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: the kernel initialised the first `got` bytes (each read wrote
    // its count of bytes right after the previous ones); `got` never
    // exceeds `buf.len()`.
    Ok(unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), got) })
}

/// A datagram socket for one log line:
/// `socket(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0)`. See unix(7).
pub fn unix_datagram_socket() -> SysResult<c_int> {
    // SAFETY: socket takes plain integers and touches no memory.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_socket,
            [
                libc::AF_UNIX as usize,
                (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as usize,
                0,
                0,
                0,
            ],
        )
    };
    check(ret).map(|fd| fd as c_int)
}

/// The most pieces one datagram is gathered from.
pub const MAX_PIECES: usize = 8;

/// `sendmsg(fd, {path, pieces}, MSG_DONTWAIT|MSG_NOSIGNAL)`: one datagram,
/// the concatenation of `pieces` (at most [`MAX_PIECES`]; more are
/// dropped), to the Unix socket at `path` (at most 107 bytes, no NUL).
/// Never blocks: a full receiver answers `EAGAIN`. See sendmsg(2).
pub fn send_to_unix(fd: c_int, path: &[u8], pieces: &[&[u8]]) -> SysResult<usize> {
    // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= addr.sun_path.len() {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    for (dst, &src) in addr.sun_path.iter_mut().zip(path) {
        *dst = src as core::ffi::c_char;
    }
    let mut iov = [libc::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    }; MAX_PIECES];
    let mut count = 0;
    for (slot, piece) in iov.iter_mut().zip(pieces) {
        slot.iov_base = piece.as_ptr() as *mut core::ffi::c_void;
        slot.iov_len = piece.len();
        count += 1;
    }
    // SAFETY: msghdr is plain old data; all zeroes is a valid value.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_name = &mut addr as *mut libc::sockaddr_un as *mut core::ffi::c_void;
    msg.msg_namelen = (core::mem::size_of::<libc::sa_family_t>() + path.len()) as libc::socklen_t;
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = count;
    // SAFETY: the kernel reads the address and `count` iovecs, each of
    // which points at a live slice of `pieces`; it writes nothing.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_sendmsg,
            [
                fd as usize,
                &msg as *const libc::msghdr as usize,
                (libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as usize,
                0,
                0,
            ],
        )
    };
    check(ret)
}

/// `getdents64(fd, buf)`: fills `buf` with directory records, returns the bytes used.
pub fn getdents64(fd: c_int, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_getdents64,
            [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0],
        )
    };
    check(ret)
}

/// `close(fd)`.
pub fn close(fd: c_int) -> SysResult<()> {
    // SAFETY: close takes a plain integer.
    let ret = unsafe { raw_syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0]) };
    check(ret).map(drop)
}

/// `readlink(path, buf)`: returns the bytes written (not NUL-terminated).
pub fn readlink(path: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `path` is NUL-terminated; the kernel writes at most `buf.len()` bytes.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_readlinkat,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
                0,
            ],
        )
    };
    check(ret)
}

/// One `write(fd, buf)`; a short write is not retried (log lines are small).
pub fn write(fd: c_int, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_write,
            [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0],
        )
    };
    check(ret)
}

/// `getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN)`: whether `fd` is a socket
/// in the listening state. `ENOTSOCK` for anything that is not a socket.
/// See socket(7).
pub fn accepts_connections(fd: c_int) -> SysResult<bool> {
    let mut value: c_int = 0;
    let mut len = core::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes (one int) to `value`
    // and the resulting length to `len`; both live on this stack frame.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_getsockopt,
            [
                fd as usize,
                libc::SOL_SOCKET as usize,
                libc::SO_ACCEPTCONN as usize,
                &mut value as *mut c_int as usize,
                &mut len as *mut libc::socklen_t as usize,
            ],
        )
    };
    check(ret).map(|_| value != 0)
}

/// Whether the kernel can read `path` as a string: `faccessat(AT_FDCWD,
/// path, F_OK)` fails with `EFAULT` only when it cannot. A hook reads a
/// caller's path only after this, so that a bad pointer is still the
/// kernel's to report (`EFAULT` from the real exec), never our crash.
pub fn path_is_readable(path: *const core::ffi::c_char) -> bool {
    // SAFETY: faccessat only reads the string at `path`, through the
    // kernel's checked copy, and touches no memory of ours.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_faccessat,
            [
                libc::AT_FDCWD as usize,
                path as usize,
                libc::F_OK as usize,
                0,
                0,
            ],
        )
    };
    check(ret) != Err(Errno(libc::EFAULT))
}

/// `getpid()`: the pid of the calling process (a vfork child gets its own).
pub fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { raw_syscall(libc::SYS_getpid, [0; 5]) as u32 }
}

/// The soft `RLIMIT_NOFILE`, via `prlimit64(0, RLIMIT_NOFILE, NULL, &old)`.
pub fn nofile_soft_limit() -> SysResult<u64> {
    let mut old = MaybeUninit::<libc::rlimit64>::uninit();
    // SAFETY: a NULL new limit only reads; the kernel writes one rlimit64.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_prlimit64,
            [
                0,
                libc::RLIMIT_NOFILE as usize,
                0,
                old.as_mut_ptr() as usize,
                0,
            ],
        )
    };
    check(ret)?;
    // SAFETY: the call succeeded, so `old` is filled.
    Ok(unsafe { old.assume_init() }.rlim_cur)
}

/// `ppoll(fds, nfds, {0, 0}, NULL)`: fills each entry's `revents` without
/// waiting. With `events = 0`, a closed fd answers `POLLNVAL` and an open
/// one 0: the cheapest way to learn which of many numbers are open.
pub fn poll_now(fds: &mut [libc::pollfd]) -> SysResult<usize> {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel reads and writes `fds.len()` entries of `fds`
    // and reads one timespec; no signal mask is passed.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_ppoll,
            [
                fds.as_mut_ptr() as usize,
                fds.len(),
                &zero as *const libc::timespec as usize,
                0,
                8,
            ],
        )
    };
    check(ret)
}

/// Whether this is a secure-execution process (`getauxval(AT_SECURE)`):
/// setuid, setgid or file capabilities.
pub fn secure_execution() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector and is async-signal-safe.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The path the kernel was asked to execute (`getauxval(AT_EXECFN)`).
pub fn exec_fn() -> Option<&'static CStr> {
    // SAFETY: getauxval only reads the auxiliary vector.
    let p = unsafe { libc::getauxval(libc::AT_EXECFN) } as *const core::ffi::c_char;
    if p.is_null() {
        return None;
    }
    // SAFETY: AT_EXECFN points at a NUL-terminated string on the initial
    // stack, which lives as long as the process.
    Some(unsafe { CStr::from_ptr(p) })
}

/// Whether an exec of `path` (relative to `dirfd`) would pass the
/// permission checks: `faccessat2(dirfd, path, X_OK, AT_EACCESS)`, with the
/// effective ids as exec uses them; plain `faccessat` (the real ids) where
/// the kernel lacks `faccessat2` or a filter forbids it. See access(2).
pub fn access_exec(dirfd: c_int, path: *const core::ffi::c_char) -> SysResult<()> {
    let call = |nr: c_long, flags: c_int| {
        // SAFETY: faccessat only reads the string at `path`, through the
        // kernel's checked copy (EFAULT if it cannot), and writes nothing.
        let ret = unsafe {
            raw_syscall(
                nr,
                [
                    dirfd as usize,
                    path as usize,
                    libc::X_OK as usize,
                    flags as usize,
                    0,
                ],
            )
        };
        check(ret).map(drop)
    };
    match call(libc::SYS_faccessat2, libc::AT_EACCESS) {
        Err(Errno::ENOSYS | Errno::EPERM) => call(libc::SYS_faccessat, 0),
        other => other,
    }
}

/// What `fstat` says about an open file: its identity and its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFile {
    pub id: FileId,
    /// `st_mode & S_IFMT`.
    pub kind: u32,
}

impl OpenFile {
    pub fn is_pipe(&self) -> bool {
        self.kind == libc::S_IFIFO
    }

    pub fn is_socket(&self) -> bool {
        self.kind == libc::S_IFSOCK
    }
}

/// `fstat(fd)`, reduced to the identity and the type of the open file.
pub fn fstat_open_file(fd: c_int) -> SysResult<OpenFile> {
    let st = fstat(fd)?;
    Ok(OpenFile {
        id: FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        },
        kind: st.st_mode & libc::S_IFMT,
    })
}

/// `stat(path).st_size`. For `/proc/self/fd` on Linux 6.2 and later it is
/// the number of open fds of the calling process. See proc(5).
pub fn stat_size(path: &CStr) -> SysResult<u64> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `path` is NUL-terminated; the kernel writes at most one
    // `struct stat` to the pointer, which points at writable stack memory.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_newfstatat,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                st.as_mut_ptr() as usize,
                0,
                0,
            ],
        )
    };
    check(ret)?;
    // SAFETY: the call succeeded, so the kernel filled the whole struct.
    Ok(unsafe { st.assume_init() }.st_size as u64)
}

/// `fcntl(fd, F_GETFL)`: the file status flags and access mode of `fd`.
pub fn fcntl_getfl(fd: c_int) -> SysResult<c_int> {
    // SAFETY: F_GETFL takes no pointer argument.
    let ret = unsafe {
        raw_syscall(
            libc::SYS_fcntl,
            [fd as usize, libc::F_GETFL as usize, 0, 0, 0],
        )
    };
    check(ret).map(|flags| flags as c_int)
}
