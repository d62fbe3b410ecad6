//! The bpftrace backend (Linux): a generated bpftrace program follows the traced command and
//! its descendants and prints tot's script line format (crate `tot-script-format`), which
//! is parsed into tot events while the command runs.
#![deny(missing_docs)]

#[cfg(target_os = "linux")]
mod flush;
#[cfg(target_os = "linux")]
mod gate;
#[cfg(target_os = "linux")]
mod launcher;
pub mod script;
pub mod task_layout;

#[cfg(target_os = "linux")]
pub use launcher::{BpftraceBackend, INSTALL_FIX};
