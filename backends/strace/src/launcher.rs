//! Running strace around a command and streaming its output into the parser.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use tot_api::{
    Availability, Backend, BackendError, BackendErrorKind, Event, EventKind, EventSink,
    TraceOutcome, TraceRequest,
};
use tot_launch::{describe_status, exit_status_of, OutputFifo, RootWatch, SignalForwarder};

use crate::parser::parse_reader;

/// The syscalls provenance needs: process lifecycle, fd bookkeeping, names, writes.
pub const TRACED_SYSCALLS: &[&str] = &[
    // processes
    "execve",
    "execveat",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "exit",
    "exit_group",
    // opening and fd bookkeeping
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "pipe",
    "pipe2",
    "socket",
    "socketpair",
    "accept",
    "accept4",
    "eventfd2",
    "epoll_create1",
    "memfd_create",
    // names
    "chdir",
    "fchdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "truncate",
    "ftruncate",
    // data written
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "sendfile",
    "copy_file_range",
    "splice",
];

/// Writes are printed raw (hex arguments) so strace does not format their buffers.
pub const RAW_SYSCALLS: &[&str] = &["write", "pwrite64", "writev", "pwritev", "pwritev2"];

/// The first strace release with `--seccomp-bpf`.
const SECCOMP_SINCE: (u32, u32) = (5, 3);

/// The strace backend (Linux).
///
/// Options (from the configuration): `path` (the strace binary) and `seccomp`
/// (`auto`, `true`, `false`).
#[derive(Debug, Default, Clone)]
pub struct StraceBackend;

/// The strace binary that would be used, and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StraceBinary {
    /// Where it is.
    pub path: PathBuf,
    /// `(major, minor)`.
    pub version: (u32, u32),
}

impl StraceBackend {
    /// The backend.
    pub fn new() -> Self {
        StraceBackend
    }

    /// Find strace (the `path` option, else `PATH`) and ask it its version.
    pub fn locate(
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<StraceBinary, (String, String)> {
        let path = match options.get("path") {
            Some(path) => PathBuf::from(path),
            None => which::which("strace").map_err(|_| {
                (
                    "strace not found in PATH".to_string(),
                    "apt-get install strace (Debian/Ubuntu), dnf install strace (Fedora)"
                        .to_string(),
                )
            })?,
        };
        let output = Command::new(&path).arg("-V").output().map_err(|e| {
            (
                format!("cannot run {}: {e}", path.display()),
                "install strace, or set [backends.strace] path in the config".to_string(),
            )
        })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version = parse_version(&text).ok_or_else(|| {
            (
                format!(
                    "{} -V printed no version: {:?}",
                    path.display(),
                    text.trim()
                ),
                "install a strace from your distribution".to_string(),
            )
        })?;
        Ok(StraceBinary { path, version })
    }

    /// The arguments tot gives strace, before `-- CMD...`.
    pub fn arguments(seccomp: bool, output: &Path) -> Vec<OsString> {
        // Signals stay decoded: strace applies the signal filter to `+++ killed by +++`
        // lines too, and those carry exit statuses.
        let mut args: Vec<OsString> = ["-f", "-ttt", "-q", "-s", "65535"]
            .into_iter()
            .map(OsString::from)
            .collect();
        if seccomp {
            args.push("--seccomp-bpf".into());
        }
        args.push("-e".into());
        args.push(format!("trace={}", TRACED_SYSCALLS.join(",")).into());
        args.push("-e".into());
        args.push(format!("raw={}", RAW_SYSCALLS.join(",")).into());
        args.push("-o".into());
        args.push(output.as_os_str().to_owned());
        args
    }
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("version").nth(1)?.trim();
    let mut parts = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

impl Backend for StraceBackend {
    fn name(&self) -> &str {
        "strace"
    }

    fn platforms(&self) -> Vec<String> {
        vec!["linux".into()]
    }

    fn availability(&self) -> Availability {
        if !cfg!(target_os = "linux") {
            return Availability::Unavailable {
                reason: "strace runs on Linux only".into(),
                fix: "use the dtrace backend on macOS".into(),
            };
        }
        match Self::locate(&Default::default()) {
            Ok(binary) => Availability::Available {
                detail: format!(
                    "strace {}.{} at {}",
                    binary.version.0,
                    binary.version.1,
                    binary.path.display()
                ),
            },
            Err((reason, fix)) => Availability::Unavailable { reason, fix },
        }
    }

    fn trace(
        &self,
        request: &TraceRequest,
        sink: &mut dyn EventSink,
    ) -> Result<TraceOutcome, BackendError> {
        let binary = Self::locate(&request.options).map_err(|(reason, fix)| {
            BackendError::new(
                BackendErrorKind::Unavailable,
                format!("{reason}; to fix: {fix}"),
            )
        })?;
        tot_launch::resolve_argv(&request.argv, &request.cwd)?;
        let seccomp = match request.options.get("seccomp").map(String::as_str) {
            Some("false") | Some("no") | Some("off") => false,
            Some("true") | Some("yes") | Some("on") => true,
            _ => binary.version >= SECCOMP_SINCE,
        };
        let io_error = |what: &str, e: std::io::Error| {
            BackendError::new(BackendErrorKind::Io, format!("{what}: {e}"))
        };
        let fifo = OutputFifo::create().map_err(|e| io_error("cannot make the trace FIFO", e))?;
        let forwarder = SignalForwarder::install()
            .map_err(|e| io_error("cannot install signal handlers", e))?;
        let mut child = Command::new(&binary.path)
            .args(Self::arguments(seccomp, fifo.path()))
            .arg("--")
            .args(&request.argv)
            .current_dir(&request.cwd)
            .spawn()
            .map_err(|e| {
                BackendError::new(
                    BackendErrorKind::Provider,
                    format!("cannot start {}: {e}", binary.path.display()),
                )
            })?;
        let reader = fifo
            .open_reader(|| matches!(child.try_wait(), Ok(None)))
            .map_err(|e| io_error("cannot read strace's output", e))?;
        let mut watch = RootWatch::new(sink).forwarding(&forwarder);
        let read_result = match reader {
            Some(reader) => parse_reader(reader, &mut watch).map(Some),
            None => Ok(None),
        };
        let strace_status = child
            .wait()
            .map_err(|e| io_error("cannot wait for strace", e))?;
        let (root, exit) = (watch.root, watch.exit.take());
        drop(watch);
        drop(forwarder);
        // strace kills itself with the signal that killed the command, and loses its
        // buffered last lines, `+++ killed by ... +++` among them. Its own status says
        // what they would have.
        if let (Some(root), None) = (root, &exit) {
            sink.event(Event {
                tid: root,
                ts: None,
                ev: EventKind::Exit {
                    status: exit_status_of(strace_status),
                },
            });
        }
        if let Err(e) = read_result {
            return Err(io_error("reading strace's output failed", e));
        }
        let status = match (root, exit) {
            (Some(_), Some(status)) => status,
            (Some(_), None) => exit_status_of(strace_status),
            (None, _) => {
                return Err(BackendError::new(
                    BackendErrorKind::Provider,
                    format!(
                        "strace traced nothing and {}; its message, if any, is above",
                        describe_status(&exit_status_of(strace_status))
                    ),
                ))
            }
        };
        Ok(TraceOutcome {
            status,
            root_pid: root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_real_strace_banners() {
        assert_eq!(
            parse_version("strace -- version 6.1\nCopyright"),
            Some((6, 1))
        );
        assert_eq!(parse_version("strace -- version 4.8"), Some((4, 8)));
        assert_eq!(parse_version("no"), None);
    }
}
