//! Process plumbing shared by tot's backends: finding the command, the output FIFO, signal
//! forwarding and exit codes.
//!
//! Every backend that launches a tracer around a command needs the same four things; they
//! live here so that strace, bpftrace, dtrace and external-command backends behave alike.

#![deny(missing_docs)]

mod command;
mod exit;
#[cfg(unix)]
mod fifo;
#[cfg(unix)]
mod signals;
mod watch;

pub use command::{resolve_argv, resolve_command};
pub use exit::{exit_code, signal_name, signal_number};
#[cfg(unix)]
pub use fifo::OutputFifo;
#[cfg(unix)]
pub use signals::SignalForwarder;
pub use watch::{describe_status, exit_status_of, RootWatch};
