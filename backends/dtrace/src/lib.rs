//! The DTrace family on macOS: the `dtrace` backend (a D script printing tot's script line
//! format, run with `dtrace -q -c CMD -s tot.d`), System Integrity Protection detection,
//! and a parser of `dtruss` output for `tot import --format dtruss LOG`.
//!
//! macOS cannot run here, so what can be checked on Linux is: the D script's `printf`
//! formats produce lines the shared parser reads (see the `d_script` tests), its probes all
//! come from [`KNOWN_PROBES`], and the dtruss parser reads every captured log in the
//! corpus. The launcher is compiled on every Unix and refuses to run off macOS.

#![deny(missing_docs)]

mod dtruss;
#[cfg(unix)]
mod launcher;
pub mod sip;

pub use dtruss::{parse_dtruss, DtrussLogKind, DtrussSummary};
#[cfg(unix)]
pub use launcher::{command_string, DtraceBackend, INSTALL_FIX};

/// The D script, printed in tot's script line format (`darwin`, `escaped`).
pub const D_SCRIPT: &str = include_str!("tot.d");

/// Every probe the D script may name: the ones macOS DTrace provides for what tot needs.
pub const KNOWN_PROBES: &[&str] = &[
    "dtrace:::BEGIN",
    "dtrace:::END",
    "proc:::create",
    "proc:::exec-success",
    "proc:::exit",
    "syscall::open:entry",
    "syscall::open:return",
    "syscall::open_nocancel:entry",
    "syscall::open_nocancel:return",
    "syscall::openat:entry",
    "syscall::openat:return",
    "syscall::openat_nocancel:entry",
    "syscall::openat_nocancel:return",
    "syscall::close:entry",
    "syscall::close:return",
    "syscall::close_nocancel:entry",
    "syscall::close_nocancel:return",
    "syscall::rename:entry",
    "syscall::rename:return",
    "syscall::renameat:entry",
    "syscall::renameat:return",
    "syscall::unlink:entry",
    "syscall::unlink:return",
    "syscall::unlinkat:entry",
    "syscall::unlinkat:return",
    "syscall::link:entry",
    "syscall::link:return",
    "syscall::symlink:entry",
    "syscall::symlink:return",
    "syscall::mkdir:entry",
    "syscall::mkdir:return",
    "syscall::chdir:entry",
    "syscall::chdir:return",
    "syscall::fchdir:entry",
    "syscall::fchdir:return",
    "syscall::dup:entry",
    "syscall::dup:return",
    "syscall::dup2:entry",
    "syscall::dup2:return",
    "syscall::fork:entry",
    "syscall::fork:return",
    "syscall::vfork:entry",
    "syscall::vfork:return",
    "syscall::posix_spawn:entry",
    "syscall::posix_spawn:return",
    "syscall::execve:entry",
    "syscall::execve:return",
    "syscall::__mac_execve:entry",
    "syscall::__mac_execve:return",
    "syscall::exit:entry",
];

/// The probes the D script must use: process creation, exec and exit, and entry and
/// return of each file-family call.
pub const REQUIRED_PROBES: &[&str] = &[
    "proc:::exec-success",
    "proc:::create",
    "proc:::exit",
    "syscall::open:entry",
    "syscall::open:return",
    "syscall::openat:entry",
    "syscall::openat:return",
    "syscall::close:entry",
    "syscall::close:return",
    "syscall::rename:entry",
    "syscall::rename:return",
    "syscall::renameat:entry",
    "syscall::renameat:return",
    "syscall::unlink:entry",
    "syscall::unlink:return",
    "syscall::unlinkat:entry",
    "syscall::unlinkat:return",
    "syscall::link:entry",
    "syscall::link:return",
    "syscall::symlink:entry",
    "syscall::symlink:return",
    "syscall::mkdir:entry",
    "syscall::mkdir:return",
    "syscall::chdir:entry",
    "syscall::chdir:return",
    "syscall::fchdir:entry",
    "syscall::fchdir:return",
    "syscall::dup:entry",
    "syscall::dup:return",
    "syscall::dup2:entry",
    "syscall::dup2:return",
    "syscall::fork:entry",
    "syscall::fork:return",
    "syscall::vfork:entry",
    "syscall::vfork:return",
    "syscall::posix_spawn:entry",
    "syscall::posix_spawn:return",
];
