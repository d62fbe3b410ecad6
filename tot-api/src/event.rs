//! The event stream: what a backend observed, one event per action.
//!
//! Events are low-level and normalized: the parsers of strace, dtrace, bpftrace and the
//! rest all produce these, and the provenance builder consumes nothing else. Events are
//! pushed in the order the provider reported them.
//!
//! # Wire format (JSON Lines)
//!
//! The stream's JSON Lines form is the plugin protocol: a program that prints it is a
//! backend. The first line is a [`Hello`]; every other line is one [`Event`]:
//!
//! ```text
//! {"hello":{"protocol":"tot-events","v":"1.0"}}
//! {"tid":100,"ts":1700000000123456000,"ev":{"exec":{"path":"/bin/cat","argv":["cat","in"]}}}
//! {"tid":100,"ev":{"open":{"path":"in","flags":{"access":"read"},"outcome":{"ok":3}}}}
//! {"tid":100,"ev":{"open":{"dirfd":3,"path":"x","flags":{"access":"write","create":true},"outcome":{"err":"EACCES"}}}}
//! {"tid":100,"ev":{"spawn":{"child":101,"thread":false}}}
//! {"tid":100,"ev":{"exit":{"status":{"code":0}}}}
//! ```
//!
//! - `tid` is the thread that acted (on Linux the kernel tid; equal to the pid for a
//!   single-threaded process).
//! - `ts`, optional, is the provider's timestamp in nanoseconds. It is since the Unix
//!   epoch when the provider gives absolute time, otherwise since an origin that is fixed
//!   for the whole stream.
//! - `ev` is an externally tagged [`EventKind`]; variant names are `snake_case`.
//! - Paths and arguments are [`Bytes`]: a JSON string, or `{"b64": ...}`
//!   for bytes that are not UTF-8.
//! - Relative paths are given as the process passed them. `dirfd`, when present, is the
//!   directory fd they are relative to; absent means the current directory (`AT_FDCWD`).
//! - Optional fields may be omitted; `false` booleans may be omitted.
//!
//! Unless a variant says otherwise, a backend emits an event only for a call that
//! succeeded. A failed call, or one whose result is unknown, may be reported as
//! [`EventKind::Other`].

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// Name of the event-stream protocol, carried in the [`Hello`] line.
pub const EVENT_STREAM_PROTOCOL: &str = "tot-events";

/// Version of the event stream, `MAJOR.MINOR`. Readers accept a stream whose major
/// version equals theirs (and, for major 0, whose minor version does too).
pub const EVENT_STREAM_VERSION: &str = "1.0";

/// The first line of an event stream: which protocol and version follows.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Always [`EVENT_STREAM_PROTOCOL`].
    pub protocol: String,
    /// The writer's [`EVENT_STREAM_VERSION`].
    pub v: String,
    /// Free-form name of the producer, for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
}

/// One observed action.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Event {
    /// The thread that acted.
    pub tid: u32,
    /// The provider's timestamp in nanoseconds, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
    /// What happened.
    pub ev: EventKind,
}

/// What an [`Event`] observed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `tid` created `child`: a new process (fork, vfork, clone, posix_spawn) or a thread.
    Spawn {
        /// The new task's id.
        child: u32,
        /// The child is a thread of the same process (`CLONE_THREAD`).
        #[serde(default, skip_serializing_if = "is_false")]
        thread: bool,
        /// The child shares the fd table (`CLONE_FILES`); implied by `thread`.
        #[serde(default, skip_serializing_if = "is_false")]
        shares_files: bool,
        /// The child shares the cwd (`CLONE_FS`); implied by `thread`.
        #[serde(default, skip_serializing_if = "is_false")]
        shares_fs: bool,
    },
    /// The process of `tid` replaced its image (execve, execveat, posix_spawn's exec).
    /// Emitted on success only.
    Exec {
        /// Directory fd that a relative `path` is relative to (execveat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dirfd: Option<i32>,
        /// The program path as passed to the call.
        path: Bytes,
        /// The argument vector.
        argv: Vec<Bytes>,
        /// The environment, when the provider captured it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<Vec<Bytes>>,
        /// The working directory at exec, when the provider knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<Bytes>,
        /// The provider saw the argument list truncated.
        #[serde(default, skip_serializing_if = "is_false")]
        argv_truncated: bool,
    },
    /// The task `tid` ended. For the last task of a process, the process ended.
    Exit {
        /// How it ended.
        status: ExitStatus,
    },
    /// A file was opened (open, openat, openat2, creat). Emitted for failures too,
    /// with the error in `outcome`.
    Open {
        /// Directory fd that a relative `path` is relative to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dirfd: Option<i32>,
        /// The path as passed to the call.
        path: Bytes,
        /// How it was opened.
        flags: OpenFlags,
        /// The new fd, or the error.
        outcome: Outcome,
    },
    /// `fd` was closed.
    Close {
        /// The fd.
        fd: i32,
    },
    /// `close_range(first, last, flags)`.
    CloseRange {
        /// First fd of the range.
        first: u32,
        /// Last fd of the range, inclusive.
        last: u32,
        /// `CLOSE_RANGE_CLOEXEC`: mark close-on-exec instead of closing.
        #[serde(default, skip_serializing_if = "is_false")]
        cloexec: bool,
    },
    /// `new_fd` now refers to what `fd` refers to (dup, dup2, dup3, fcntl F_DUPFD*).
    Dup {
        /// The source fd.
        fd: i32,
        /// The duplicate.
        new_fd: i32,
        /// The duplicate is close-on-exec.
        #[serde(default, skip_serializing_if = "is_false")]
        cloexec: bool,
    },
    /// A pipe was made (pipe, pipe2).
    Pipe {
        /// The read end.
        read_fd: i32,
        /// The write end.
        write_fd: i32,
        /// Both ends are close-on-exec.
        #[serde(default, skip_serializing_if = "is_false")]
        cloexec: bool,
    },
    /// An fd that names no file path was made: a socket, eventfd, epoll, memfd, ...
    OpenOther {
        /// The new fd.
        fd: i32,
        /// What it is (`socket`, `eventfd`, ...).
        what: String,
        /// It is close-on-exec.
        #[serde(default, skip_serializing_if = "is_false")]
        cloexec: bool,
    },
    /// The close-on-exec flag of `fd` was set or cleared (fcntl F_SETFD, ioctl FIOCLEX).
    SetCloexec {
        /// The fd.
        fd: i32,
        /// The new value.
        cloexec: bool,
    },
    /// The working directory changed to `path` (chdir).
    Chdir {
        /// The path as passed to the call.
        path: Bytes,
    },
    /// The working directory changed to the directory open on `fd` (fchdir).
    Fchdir {
        /// The fd.
        fd: i32,
    },
    /// `from` was renamed to `to` (rename, renameat, renameat2).
    Rename {
        /// The old name.
        from: PathAt,
        /// The new name.
        to: PathAt,
    },
    /// A hard link `to` was made to `from` (link, linkat).
    Link {
        /// The existing name.
        from: PathAt,
        /// The new name.
        to: PathAt,
    },
    /// A symbolic link `link` was made, pointing at `target` (symlink, symlinkat).
    Symlink {
        /// The link's content, not resolved.
        target: Bytes,
        /// The new link.
        link: PathAt,
    },
    /// A name was removed (unlink, unlinkat without `AT_REMOVEDIR`).
    Unlink {
        /// The removed name.
        path: PathAt,
    },
    /// A directory was made (mkdir, mkdirat).
    Mkdir {
        /// The new directory.
        path: PathAt,
    },
    /// A directory was removed (rmdir, unlinkat with `AT_REMOVEDIR`).
    Rmdir {
        /// The removed directory.
        path: PathAt,
    },
    /// A file was truncated by name (truncate).
    Truncate {
        /// The file.
        path: PathAt,
    },
    /// The file open on `fd` was truncated (ftruncate).
    Ftruncate {
        /// The fd.
        fd: i32,
    },
    /// Data was written to `fd` (write, pwrite, writev, sendfile, copy_file_range, ...).
    Write {
        /// The fd written to.
        fd: i32,
    },
    /// A signal was delivered to `tid`.
    Signal {
        /// Its name, such as `SIGCHLD`.
        signal: String,
    },
    /// Anything else: a call tot does not model, or one that failed.
    Other {
        /// The call's name as the provider printed it.
        name: String,
        /// Its result.
        outcome: Outcome,
    },
}

/// A path and the directory it is relative to.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PathAt {
    /// Directory fd that a relative `path` is relative to; absent means the cwd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirfd: Option<i32>,
    /// The path as passed to the call.
    pub path: Bytes,
}

impl PathAt {
    /// A path relative to the current directory (or absolute).
    pub fn cwd(path: impl Into<Bytes>) -> Self {
        PathAt {
            dirfd: None,
            path: path.into(),
        }
    }
}

/// The access mode of an open.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// `O_RDONLY`.
    #[default]
    Read,
    /// `O_WRONLY`.
    Write,
    /// `O_RDWR`.
    ReadWrite,
    /// `O_PATH`: no data access at all.
    Path,
}

/// The flags of an open that matter for provenance.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenFlags {
    /// The access mode.
    pub access: Access,
    /// `O_CREAT`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub create: bool,
    /// `O_EXCL`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub excl: bool,
    /// `O_TRUNC`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub trunc: bool,
    /// `O_APPEND`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub append: bool,
    /// `O_CLOEXEC`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cloexec: bool,
    /// `O_DIRECTORY`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub directory: bool,
    /// `O_TMPFILE`: an unnamed file in the directory `path`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tmpfile: bool,
}

/// The result of a call.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Success, with the returned value (an fd for opens). `{"ok": 3}`.
    Ok(i64),
    /// Failure, with the symbolic errno, such as `ENOENT`. `{"err": "ENOENT"}`.
    Err(String),
    /// The provider did not see the result (`"unknown"`): the task died in the call.
    Unknown,
}

impl Outcome {
    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// How a process or task ended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code. `{"code": 0}`.
    Code(i32),
    /// A signal killed it. `{"signal": {"name": "SIGKILL"}}`.
    Signal {
        /// Signal name, such as `SIGKILL` (names, not numbers: they differ between OSes).
        name: String,
        /// A core dump was written.
        #[serde(default, skip_serializing_if = "is_false")]
        core_dumped: bool,
    },
    /// The end was observed but not how (`"unknown"`).
    Unknown,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_lines_decode() {
        let lines = [
            r#"{"tid":100,"ts":1700000000123456000,"ev":{"exec":{"path":"/bin/cat","argv":["cat","in"]}}}"#,
            r#"{"tid":100,"ev":{"open":{"path":"in","flags":{"access":"read"},"outcome":{"ok":3}}}}"#,
            r#"{"tid":100,"ev":{"open":{"dirfd":3,"path":"x","flags":{"access":"write","create":true},"outcome":{"err":"EACCES"}}}}"#,
            r#"{"tid":100,"ev":{"spawn":{"child":101,"thread":false}}}"#,
            r#"{"tid":100,"ev":{"exit":{"status":{"code":0}}}}"#,
        ];
        for line in lines {
            let event: Event = serde_json::from_str(line).unwrap();
            let again = serde_json::to_string(&event).unwrap();
            let back: Event = serde_json::from_str(&again).unwrap();
            assert_eq!(event, back, "{line}");
        }
        let hello: Hello = serde_json::from_str(r#"{"protocol":"tot-events","v":"1.0"}"#).unwrap();
        assert_eq!(hello.v, EVENT_STREAM_VERSION);
    }

    #[test]
    fn signal_exit_and_unknown_outcome_round_trip() {
        let event = Event {
            tid: 7,
            ts: None,
            ev: EventKind::Exit {
                status: ExitStatus::Signal {
                    name: "SIGSEGV".into(),
                    core_dumped: true,
                },
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"tid":7,"ev":{"exit":{"status":{"signal":{"name":"SIGSEGV","core_dumped":true}}}}}"#
        );
        let other = EventKind::Other {
            name: "ioctl".into(),
            outcome: Outcome::Unknown,
        };
        let json = serde_json::to_string(&other).unwrap();
        assert_eq!(json, r#"{"other":{"name":"ioctl","outcome":"unknown"}}"#);
    }
}
