//! The versioned C ABI of tot's dynamic backend plugins, and the helper that exports a
//! [`Backend`](tot_api::Backend) through it.
//!
//! # The ABI, version 1
//!
//! A plugin is a shared library (`.so`, `.dylib`) exporting one symbol,
//! [`ENTRY_SYMBOL`] (`tot_plugin_entry`), an `extern "C" fn() -> *const PluginV1`. The
//! pointed-to struct lives as long as the library and starts with `abi_version: u32`, a
//! field every future version keeps first: the host reads it before anything else and
//! refuses a library whose version is not [`ABI_VERSION`], naming both.
//!
//! Everything else crosses as UTF-8 JSON in byte buffers, so the layout never has to
//! change when the event stream gains a field:
//!
//! - [`PluginV1::trace`] receives a [`WireRequest`] and a [`HostV1`] of callbacks. It
//!   writes the event stream through [`HostV1::write_events`] as JSON Lines (a hello line,
//!   then one event per line, exactly as an out-of-process plugin would print them),
//!   diagnostics through [`HostV1::diagnostic`] as [`WireDiagnostic`]s, and calls
//!   [`HostV1::finish`] once with a [`WireResult`]. It returns when the traced command
//!   and the provider have finished.
//! - [`PluginV1::availability`] calls [`HostV1::finish`] once with a
//!   [`WireAvailability`].
//!
//! Every pointer the host passes is valid only for the duration of the call. The plugin's
//! functions may be called from any thread (a `Backend` is `Send + Sync`); it calls the
//! host's callbacks only during a call into it, never concurrently.
//!
//! # Writing a plugin in Rust
//!
//! Implement [`tot_api::Backend`] and export it with [`export_backend!`]; the helper does
//! the JSON, buffering, and catches a panic at the boundary (a panic must never unwind
//! into the host), reporting it as an error result.

#![deny(missing_docs)]

use std::ffi::{c_char, c_void};

use serde::{Deserialize, Serialize};
use tot_api::{Availability, BackendError, BackendErrorKind, Bytes, ExitStatus, Severity};

mod export;

pub use export::{availability_entry, trace_entry, ExportedPlugin};
#[doc(hidden)]
pub use tot_api;

/// The ABI version this crate speaks. A host and a plugin must agree exactly.
pub const ABI_VERSION: u32 = 1;

/// The entry symbol's name, NUL-terminated for `dlsym`.
pub const ENTRY_SYMBOL: &[u8] = b"tot_plugin_entry\0";

/// The type of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginV1;

/// What the entry symbol points to (ABI version 1).
#[repr(C)]
#[derive(Debug)]
pub struct PluginV1 {
    /// [`ABI_VERSION`] of the library. First, in every version.
    pub abi_version: u32,
    /// The backend's name: UTF-8, NUL-terminated, valid as long as the library is loaded.
    pub name: *const c_char,
    /// The platforms it runs on, comma-separated (`linux,macos`), NUL-terminated.
    pub platforms: *const c_char,
    /// Report whether it can run here: calls `host.finish` once with a
    /// [`WireAvailability`]. Returns [`STATUS_OK`], or another status on failure.
    pub availability: unsafe extern "C" fn(host: *const HostV1) -> i32,
    /// Trace: `request` points to `request_len` bytes of [`WireRequest`] JSON. Streams
    /// events through `host`, calls `host.finish` once with a [`WireResult`], and returns a
    /// `STATUS_*` code.
    pub trace:
        unsafe extern "C" fn(request: *const u8, request_len: usize, host: *const HostV1) -> i32,
}

/// The host's callbacks, passed to every call into the plugin.
#[repr(C)]
#[derive(Debug)]
pub struct HostV1 {
    /// Passed back as the first argument of every callback.
    pub context: *mut c_void,
    /// Takes `len` bytes of the event stream: whole JSON lines, the hello first. Returns 0
    /// to go on, anything else when the host refuses the stream (the plugin may stop
    /// sending; it still runs the command to its end and calls `finish`).
    pub write_events:
        unsafe extern "C" fn(context: *mut c_void, data: *const u8, len: usize) -> i32,
    /// Takes one [`WireDiagnostic`] as JSON.
    pub diagnostic: unsafe extern "C" fn(context: *mut c_void, data: *const u8, len: usize),
    /// Takes the call's result as JSON, once.
    pub finish: unsafe extern "C" fn(context: *mut c_void, data: *const u8, len: usize),
}

/// The call finished and `finish` was called with its result.
pub const STATUS_OK: i32 = 0;
/// The call failed; `finish` was called with a [`WireResult::Error`].
pub const STATUS_ERROR: i32 = 1;
/// The plugin panicked; the helper caught it and called `finish` with an error.
pub const STATUS_PANICKED: i32 = 2;

/// What to trace, as JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// The command and its arguments.
    pub argv: Vec<Bytes>,
    /// The directory to run it in.
    pub cwd: Bytes,
    /// Options from the configuration.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// A trace's result, as JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WireResult {
    /// The command ran: `{"outcome":{"status":{"code":0},"root_pid":42}}`.
    Outcome {
        /// The traced command's exit status.
        status: ExitStatus,
        /// The traced command's pid, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root_pid: Option<u32>,
    },
    /// No trace could be made: `{"error":{"kind":"provider","message":"..."}}`.
    Error {
        /// One of `unavailable`, `command_not_found`, `command_not_executable`,
        /// `provider`, `io`, `panicked`.
        kind: String,
        /// For the user.
        message: String,
    },
}

/// Whether a backend can run here, as JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WireAvailability {
    /// `{"available":{"detail":"..."}}`.
    Available {
        /// What was found.
        detail: String,
    },
    /// `{"unavailable":{"reason":"...","fix":"..."}}`.
    Unavailable {
        /// Why not.
        reason: String,
        /// What to do.
        fix: String,
    },
}

/// A diagnostic, as JSON: `{"severity":"warning","line":7,"message":"..."}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WireDiagnostic {
    /// `info`, `warning` or `error`.
    pub severity: String,
    /// The provider's output line it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What went wrong.
    pub message: String,
}

impl From<&Availability> for WireAvailability {
    fn from(availability: &Availability) -> Self {
        match availability {
            Availability::Available { detail } => WireAvailability::Available {
                detail: detail.clone(),
            },
            Availability::Unavailable { reason, fix } => WireAvailability::Unavailable {
                reason: reason.clone(),
                fix: fix.clone(),
            },
        }
    }
}

impl From<WireAvailability> for Availability {
    fn from(wire: WireAvailability) -> Self {
        match wire {
            WireAvailability::Available { detail } => Availability::Available { detail },
            WireAvailability::Unavailable { reason, fix } => {
                Availability::Unavailable { reason, fix }
            }
        }
    }
}

/// The wire name of an error kind.
pub fn error_kind_name(kind: BackendErrorKind) -> &'static str {
    match kind {
        BackendErrorKind::Unavailable => "unavailable",
        BackendErrorKind::CommandNotFound => "command_not_found",
        BackendErrorKind::CommandNotExecutable => "command_not_executable",
        BackendErrorKind::Io => "io",
        _ => "provider",
    }
}

/// The error kind of a wire name; unknown names (and `panicked`) are provider failures.
pub fn error_kind_from_name(name: &str) -> BackendErrorKind {
    match name {
        "unavailable" => BackendErrorKind::Unavailable,
        "command_not_found" => BackendErrorKind::CommandNotFound,
        "command_not_executable" => BackendErrorKind::CommandNotExecutable,
        "io" => BackendErrorKind::Io,
        _ => BackendErrorKind::Provider,
    }
}

impl From<&BackendError> for WireResult {
    fn from(err: &BackendError) -> Self {
        WireResult::Error {
            kind: error_kind_name(err.kind).to_string(),
            message: err.message.clone(),
        }
    }
}

/// The wire name of a severity.
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// The severity of a wire name; unknown names are warnings.
pub fn severity_from_name(name: &str) -> Severity {
    match name {
        "info" => Severity::Info,
        "error" => Severity::Error,
        _ => Severity::Warning,
    }
}
