//! The FIFO a tracer writes its output into while tot reads it.
//!
//! A FIFO rather than a temp file read afterwards, so tot builds provenance while the
//! command runs and never holds a whole trace on disk. A FIFO rather than an inherited
//! pipe fd, because the traced command would inherit the pipe too, and tot never changes
//! what the command sees; tracers open their output file close-on-exec.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A named pipe in a private temporary directory, removed on drop.
#[derive(Debug)]
pub struct OutputFifo {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl OutputFifo {
    /// Make the FIFO (mode 0600, in a fresh 0700 temporary directory).
    pub fn create() -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("tot-").tempdir()?;
        let path = dir.path().join("trace.fifo");
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in temp path"))?;
        // SAFETY: c_path is a valid NUL-terminated string for the duration of the call.
        if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OutputFifo { _dir: dir, path })
    }

    /// The path to give the tracer (`strace -o PATH`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wait until the tracer opens the FIFO, then return the read end, in blocking mode,
    /// so reads return end-of-file once the tracer closes it.
    ///
    /// `tracer_running` is polled while waiting; when it turns false before the tracer
    /// ever opened the FIFO, this returns `Ok(None)` instead of blocking forever.
    pub fn open_reader(
        &self,
        mut tracer_running: impl FnMut() -> bool,
    ) -> io::Result<Option<File>> {
        let c_path = std::ffi::CString::new(self.path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in temp path"))?;
        // Non-blocking, so the open itself never waits for a writer.
        // SAFETY: c_path is a valid NUL-terminated string.
        let fd = unsafe {
            libc::open(
                c_path.as_ptr(),
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        loop {
            // Linux reports neither POLLIN nor POLLHUP on a FIFO that no writer has opened
            // yet, so this wakes exactly when the tracer has connected.
            let mut pollfd = libc::pollfd {
                fd: file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let timeout = Duration::from_millis(50).as_millis() as libc::c_int;
            // SAFETY: pollfd points to one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pollfd, 1, timeout) };
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if ready > 0 && pollfd.revents != 0 {
                break;
            }
            if !tracer_running() {
                return Ok(None);
            }
        }
        // SAFETY: fcntl on an fd we own, with valid flag arguments.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            if flags < 0
                || libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Some(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn reads_what_a_writer_process_writes() {
        let fifo = OutputFifo::create().unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "sleep 0.2; echo hello > '{}'",
                fifo.path().display()
            ))
            .spawn()
            .unwrap();
        let mut reader = fifo
            .open_reader(|| true)
            .unwrap()
            .expect("the writer opens the fifo");
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello\n");
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn a_tracer_that_never_opens_does_not_block() {
        let fifo = OutputFifo::create().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let reader = fifo
            .open_reader(|| child.try_wait().map(|s| s.is_none()).unwrap_or(false))
            .unwrap();
        assert!(reader.is_none());
    }
}
