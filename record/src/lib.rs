//! Reading and writing tot run record files.
//!
//! A run record is the JSON Lines file described in [`tot_api::record`]: a header line,
//! then process and access lines. This crate does the file I/O around those types:
//!
//! - [`RecordWriter`] streams a record while a run is being traced. It writes
//!   `<record>.partial` at once and flushes it often, so a crash leaves a readable (if
//!   incomplete) record; [`RecordWriter::finish`] then writes the complete record
//!   atomically and removes the partial file.
//! - [`write_record`] writes a whole in-memory record at once (imports, tests).
//! - [`open_record`] checks a file's header and hands back a streaming [`RecordReader`];
//!   [`read_record`] reads a whole record into memory. Files that are not tot records, or
//!   that come from a newer format version, are refused; malformed lines are reported as
//!   `file:line` and skipped, and the rest of the record is kept.
//!
//! Paths are bytes ([`tot_api::Bytes`]): non-UTF-8 paths survive a round trip.

#![deny(missing_docs)]

mod error;
mod read;
mod write;

pub use error::{Error, ErrorKind, LineError};
pub use read::{open_record, read_header, read_record, RecordReader};
pub use write::{partial_path, write_record, RecordWriter};
