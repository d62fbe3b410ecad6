//! Starting the command held at a gate, so that it runs only once the probes are attached.
//!
//! The command is forked by hand rather than with `std::process::Command`, because
//! `Command::spawn` returns only after the child has exec'd, and the child must not exec
//! until bpftrace is ready, which needs the child's pid first.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A command forked and waiting at its gate.
#[derive(Debug)]
pub struct GatedChild {
    /// Its pid.
    pub pid: libc::pid_t,
    /// Read end of a close-on-exec pipe: end-of-file once the command exec'd, or the
    /// errno of a failed exec.
    exec_error: File,
    /// Keeps the gate FIFO open for writing, so the child never blocks opening it and a
    /// release written after the child died blocks nobody.
    _gate_keeper: File,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in an argument"))
}

impl GatedChild {
    /// Fork `program` with `argv` in `cwd`, held until one byte is written to the FIFO at
    /// `gate`. The environment, stdin, stdout and stderr are tot's own.
    pub fn spawn(program: &Path, argv: &[OsString], cwd: &Path, gate: &Path) -> io::Result<Self> {
        let program = cstring(program.as_os_str().as_bytes())?;
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| cstring(a.as_bytes()))
            .collect::<io::Result<_>>()?;
        let env: Vec<CString> = std::env::vars_os()
            .map(|(k, v)| {
                let mut entry = k.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(v.as_bytes());
                cstring(&entry)
            })
            .collect::<io::Result<_>>()?;
        let cwd = cstring(cwd.as_os_str().as_bytes())?;
        let gate_path = cstring(gate.as_os_str().as_bytes())?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());

        // SAFETY: gate_path is NUL-terminated; O_RDWR on a FIFO never blocks on Linux.
        let keeper = unsafe { libc::open(gate_path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if keeper < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: keeper was just opened and is owned by nobody else.
        let gate_keeper = unsafe { File::from_raw_fd(keeper) };

        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds has room for the two fds pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds were just made by pipe2 and are owned here only.
        let (error_read, error_write) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

        // SAFETY: after fork the child calls only async-signal-safe functions (signal,
        // sigprocmask, chdir, open, read, close, execve, write, _exit) on memory prepared
        // before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: see above; this branch never returns.
            unsafe {
                child_after_fork(
                    &program,
                    &argv_ptrs,
                    &env_ptrs,
                    &cwd,
                    &gate_path,
                    error_write.as_raw_fd(),
                )
            }
        }
        drop(error_write);
        Ok(GatedChild {
            pid,
            exec_error: File::from(error_read),
            _gate_keeper: gate_keeper,
        })
    }

    /// After the child has exec'd or died: the errno of its failed exec, if it failed.
    pub fn exec_error(&mut self) -> Option<io::Error> {
        let mut errno = [0u8; 4];
        match self.exec_error.read(&mut errno) {
            Ok(4) => Some(io::Error::from_raw_os_error(i32::from_ne_bytes(errno))),
            _ => None,
        }
    }
}

/// The child's side: reset what tot changed, wait at the gate, exec.
///
/// # Safety
/// Must be called only in the child right after `fork`, with pointers that stay valid
/// (they point into the parent's memory image, which the child has a copy of).
unsafe fn child_after_fork(
    program: &CString,
    argv: &[*const libc::c_char],
    env: &[*const libc::c_char],
    cwd: &CString,
    gate: &CString,
    error_fd: libc::c_int,
) -> ! {
    let fail = |errno: libc::c_int| -> ! {
        let bytes = errno.to_ne_bytes();
        // SAFETY: write and _exit are async-signal-safe; bytes outlives the call.
        unsafe {
            libc::write(error_fd, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127)
        }
    };
    // SAFETY: all calls below are async-signal-safe and get valid arguments.
    unsafe {
        // Rust ignores SIGPIPE and ignored signals survive exec: give the command the default.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if libc::chdir(cwd.as_ptr()) != 0 {
            fail(*libc::__errno_location());
        }
        let gate_fd = libc::open(gate.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if gate_fd < 0 {
            fail(*libc::__errno_location());
        }
        let mut byte = 0u8;
        loop {
            let n = libc::read(gate_fd, (&mut byte as *mut u8).cast(), 1);
            if n == 1 {
                break;
            }
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            // tot never closes the gate without releasing it; if it did, do not run.
            libc::_exit(126);
        }
        // The gate fd is close-on-exec: closing it here would be a traced, pointless event.
        libc::execve(program.as_ptr(), argv.as_ptr(), env.as_ptr());
        fail(*libc::__errno_location())
    }
}

/// Make a FIFO at `path` (mode 0600).
pub fn make_fifo(path: &Path) -> io::Result<()> {
    let c_path = cstring(path.as_os_str().as_bytes())?;
    // SAFETY: c_path is NUL-terminated.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Wait for `pid` and return its raw wait status.
pub fn wait_for(pid: libc::pid_t) -> io::Result<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let got = unsafe { libc::waitpid(pid, &mut status, 0) };
        if got == pid {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Is `s` free of the bytes bpftrace's `-c` would split on or mangle?
pub fn is_plain_word(s: &OsStr) -> bool {
    s.as_bytes()
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(b))
}
