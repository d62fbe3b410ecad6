//! The [`Backend`] trait: how tot drives a provider.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::{Event, ExitStatus};

/// A provider of events: strace, bpftrace, dtrace, a plugin, ...
///
/// It is object safe, so a registry can hold built-in and plugin backends alike as
/// `Box<dyn Backend>`. Only [`name`](Backend::name), [`availability`](Backend::availability)
/// and [`trace`](Backend::trace) are required.
pub trait Backend: Send + Sync {
    /// The name users pass to `--backend`.
    fn name(&self) -> &str;

    /// The operating systems it can run on (`linux`, `macos`).
    fn platforms(&self) -> Vec<String> {
        vec!["linux".into(), "macos".into()]
    }

    /// Whether it can run here; if not, why and how to fix it.
    fn availability(&self) -> Availability;

    /// Run `request.argv` under the provider and push every event into `sink` while the
    /// command runs. Returns when the command and the provider have finished.
    ///
    /// The command's stdin, stdout, stderr and environment pass through untouched.
    fn trace(
        &self,
        request: &TraceRequest,
        sink: &mut dyn EventSink,
    ) -> Result<TraceOutcome, BackendError>;
}

/// Whether a backend can run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// It can run; `detail` says with what (`strace 6.1 at /usr/bin/strace`).
    Available {
        /// What was found.
        detail: String,
    },
    /// It cannot run.
    Unavailable {
        /// Exactly why, such as `strace not found in PATH`.
        reason: String,
        /// What to do about it, such as `apt-get install strace`.
        fix: String,
    },
}

impl Availability {
    /// True for [`Availability::Available`].
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available { .. })
    }
}

/// What to trace.
#[derive(Debug, Clone, Default)]
pub struct TraceRequest {
    /// The command and its arguments; `argv[0]` is looked up in `PATH`.
    pub argv: Vec<OsString>,
    /// The directory to run it in.
    pub cwd: PathBuf,
    /// Backend-specific options from the configuration, as `key = value` strings.
    pub options: BTreeMap<String, String>,
}

/// Where a backend pushes what it observes.
///
/// Push-style, so a backend never buffers a whole trace: the core builds provenance while
/// the command runs.
pub trait EventSink {
    /// One event, in the order the provider reported it.
    fn event(&mut self, event: Event);

    /// Something the user should hear about: a line that did not parse, lost events, a
    /// provider warning. Tracing goes on.
    fn diagnostic(&mut self, diagnostic: Diagnostic);
}

/// A problem found while tracing or parsing, reported and then stepped over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// The 1-based line of the provider's output it concerns, if any.
    pub line: Option<u64>,
    /// What went wrong, in words.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; nothing was lost.
    Info,
    /// Something was lost or is uncertain, such as a line that did not parse.
    Warning,
    /// The trace is known to be incomplete.
    Error,
}

/// How a traced command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOutcome {
    /// The traced command's exit status.
    pub status: ExitStatus,
    /// The traced command's pid, when known.
    pub root_pid: Option<u32>,
}

/// Why a trace could not be made.
#[derive(Debug)]
pub struct BackendError {
    /// What kind of failure.
    pub kind: BackendErrorKind,
    /// A message for the user, saying what to do where possible.
    pub message: String,
}

impl BackendError {
    /// A new error.
    pub fn new(kind: BackendErrorKind, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            message: message.into(),
        }
    }
}

/// The kinds of [`BackendError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The provider is not usable here (missing, no permission, ...).
    Unavailable,
    /// The command to trace does not exist (tot exits 127).
    CommandNotFound,
    /// The command exists but cannot be executed (tot exits 126).
    CommandNotExecutable,
    /// The provider could not be started or failed.
    Provider,
    /// I/O between tot and the provider failed.
    Io,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {}
