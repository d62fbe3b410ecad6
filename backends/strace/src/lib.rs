//! The strace backend: launches strace around a command and parses its output into tot
//! events.
//!
//! - [`parser`] is a pure function over bytes: it reads every line form strace 4.x to 6.x
//!   prints and knows nothing of the OS it runs on, so logs from any machine can be
//!   imported.
//! - [`StraceBackend`] (Linux) runs strace with the right flags and streams its output
//!   through a FIFO into the parser while the command runs.

#![deny(missing_docs)]

#[cfg(unix)]
mod launcher;
pub mod parser;

#[cfg(unix)]
pub use launcher::{StraceBackend, StraceBinary, RAW_SYSCALLS, TRACED_SYSCALLS};
pub use parser::{parse_log, parse_reader, LogKind, ParseSummary, StraceParser};
