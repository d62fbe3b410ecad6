//! The line format that tot's script-based tracers print (bpftrace on Linux, DTrace on
//! macOS), and its parser into tot [events](tot_api::Event).
//!
//! A tracer whose language only has `printf` cannot build JSON, so tot's bpftrace and D
//! scripts print this compact tab-separated format instead, and one parser reads both.
//! The parser is a pure function over bytes: output captured on a Mac parses on Linux.
//!
//! # The format (version 1)
//!
//! One record per line, fields separated by one TAB, the line ended by LF. Every record
//! ends with a lone `.` field, so a line cut short (by a newline inside a raw string) is
//! caught instead of read as a shorter record.
//!
//! ```text
//! #tot-script⇥1⇥linux⇥raw⇥bpftrace
//! F⇥1000⇥41⇥41⇥42⇥0x1200011⇥.
//! E⇥1100⇥42⇥42⇥/bin/cat⇥2⇥0⇥.
//! A⇥1100⇥42⇥42⇥0⇥cat⇥.
//! A⇥1100⇥42⇥42⇥1⇥in.txt⇥.
//! S⇥1200⇥42⇥42⇥openat⇥3⇥0⇥-100⇥in.txt⇥0x80000⇥.
//! S⇥1300⇥42⇥42⇥openat⇥-2⇥2⇥-100⇥missing⇥0x0⇥.
//! X⇥1400⇥42⇥42⇥0⇥.
//! ```
//!
//! **Header.** `#tot-script VERSION OS STRINGS PRODUCER`: `OS` is `linux` or `darwin` and
//! says how to read errno values, signal numbers, `open` flags and `AT_FDCWD`; `STRINGS`
//! is `escaped` or `raw` (below). Until a header arrives, `linux` and `escaped` are
//! assumed. Other lines starting with `#` are comments.
//!
//! **Common fields.** Every record starts `TAG TS PID TID`: the timestamp in nanoseconds
//! (`-` if unknown; a parser can add a fixed offset, see
//! [`ScriptParser::with_clock_offset`]), the process id and the thread id. On `darwin`
//! the thread id is ignored and the event is attributed to the process, because DTrace
//! does not report thread creation.
//!
//! | tag | fields after `TID` | event |
//! |---|---|---|
//! | `F` | `CHILD FLAGS` | [`Spawn`](tot_api::EventKind::Spawn): `FLAGS` are Linux clone flags (hex or decimal; `0` for a plain fork); `CLONE_THREAD`, `CLONE_FILES`, `CLONE_FS` are read from them |
//! | `E` | `PATH NARGS TRUNCATED` | [`Exec`](tot_api::EventKind::Exec) of `PATH`, followed by `NARGS` `A` records of the same thread; `TRUNCATED` is `1` when the program had more arguments than were printed |
//! | `A` | `INDEX ARG` | argument `INDEX` (from 0) of the exec before it |
//! | `X` | `WSTATUS` | [`Exit`](tot_api::EventKind::Exit): a Unix wait status in decimal (`code << 8`, or the signal number, `+ 0x80` for a core dump), or `-` if unknown |
//! | `S` | `NAME RET ERRNO ARGS...` | one system call, at its return: `ERRNO` is `0` on success, otherwise the errno number and the call failed |
//!
//! An exec is several lines because script languages cannot print a variable number of
//! strings in one statement.
//!
//! **System calls** (`S`). Fds and flags are integers (decimal, or hex with `0x`); `DIRFD`
//! equal to the OS's `AT_FDCWD` means the current directory. `_nocancel` suffixes (macOS)
//! are dropped.
//!
//! | name | `ARGS` |
//! |---|---|
//! | `open` | `PATH FLAGS` |
//! | `creat` | `PATH` |
//! | `openat`, `openat2` | `DIRFD PATH FLAGS` |
//! | `close`, `dup`, `fchdir`, `ftruncate` | `FD` (`dup`'s new fd is `RET`) |
//! | `dup2` / `dup3` | `FD NEWFD` / `FD NEWFD FLAGS` |
//! | `pipe` / `pipe2` | `READFD WRITEFD` / `READFD WRITEFD FLAGS` |
//! | `chdir`, `unlink`, `mkdir`, `rmdir`, `truncate` | `PATH` |
//! | `rename`, `link` | `FROM TO` |
//! | `renameat`, `linkat` / `renameat2` | `OLDDIRFD FROM NEWDIRFD TO` / `... FLAGS` |
//! | `symlink` / `symlinkat` | `TARGET LINK` / `TARGET NEWDIRFD LINK` |
//! | `unlinkat` | `DIRFD PATH FLAGS` (`AT_REMOVEDIR` makes it an rmdir) |
//! | `mkdirat` | `DIRFD PATH` |
//! | `fork`, `vfork`, `clone`, `clone3`, `posix_spawn`, `execve` | none; reported as [`Other`](tot_api::EventKind::Other) (processes come from `F`, `E`) |
//!
//! A failed call becomes [`Other`](tot_api::EventKind::Other) with the errno name, except
//! opens, which are reported with their error. Any other name is accepted with any
//! arguments and becomes `Other`.
//!
//! **Strings.** In `escaped` streams, string fields use C escapes: `\\`, `\t`, `\n`, `\r`,
//! `\xHH`, octal `\NNN` and the rest that DTrace's `%S` prints (see [`unescape`]); a NUL
//! ends the string. Any byte string round-trips through [`escape`] and [`unescape`], so
//! paths that are not UTF-8 or contain tabs and newlines are carried losslessly. In `raw`
//! streams the bytes are taken as they are; that is for producers that cannot escape
//! (bpftrace's `printf`), and a raw string containing a TAB or LF makes its line
//! malformed, which is reported, never misread.
//!
//! **Lost events.** bpftrace's own `Lost N events` lines are recognised and reported as
//! [`Severity::Error`](tot_api::Severity::Error) diagnostics, and counted in
//! [`Summary::lost_events`]. Its `Attaching N probes...` banner is skipped.
//!
//! **Malformed lines** are reported as diagnostics with their line number, and parsing
//! goes on: everything else is kept.

#![deny(missing_docs)]

mod escape;
mod os;
mod parser;
mod reorder;

pub use escape::{escape, unescape, BadEscape};
pub use os::Os;
pub use parser::{
    is_string_argument, parse, parse_reader, syscall_arity, Header, ScriptParser, Summary,
};
pub use reorder::ReorderSink;

/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// How a header line starts.
pub const HEADER_TAG: &str = "#tot-script\t";

/// How the string fields of a stream are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StringMode {
    /// C escapes; lossless for any bytes.
    #[default]
    Escaped,
    /// Bytes as they are; a TAB or LF inside makes the line malformed.
    Raw,
}

impl StringMode {
    /// The name used in the header line.
    pub fn name(self) -> &'static str {
        match self {
            StringMode::Escaped => "escaped",
            StringMode::Raw => "raw",
        }
    }

    /// The mode named `name` in a header line.
    pub fn from_name(name: &[u8]) -> Option<StringMode> {
        match name {
            b"escaped" => Some(StringMode::Escaped),
            b"raw" => Some(StringMode::Raw),
            _ => None,
        }
    }
}

/// The header line for a stream, without its newline.
pub fn header_line(os: Os, strings: StringMode, producer: &str) -> String {
    format!(
        "{HEADER_TAG}{FORMAT_VERSION}\t{}\t{}\t{producer}",
        os.name(),
        strings.name()
    )
}
