//! The run record: the provenance facts of one traced run, portable between machines.
//!
//! # Wire format (JSON Lines)
//!
//! A record is a JSON Lines file. Each line is one externally tagged [`RecordLine`]:
//! the first line is the `header`, then any number of `process` and `access` lines.
//!
//! ```text
//! {"header":{"format":"tot-run","version":1,"run_id":"r-5f2c…","machine_id":"…","hostname":"box","os":"linux","backend":"strace","tot_version":"0.1.0","argv":["make"],"cwd":"/src","start":1700000000000000000,"end":1700000003000000000,"exit":{"code":0}}}
//! {"process":{"id":"r-5f2c…:4242:0","pid":4242,"exe":"/usr/bin/make","argv":["make"],"cwd":"/src","start":1700000000000000000,"exit":{"code":0}}}
//! {"access":{"id":"r-5f2c…:4242:0:0","process":"r-5f2c…:4242:0","path":"/src/Makefile","kind":"read","sha256":"9f86…","size":120}}
//! ```
//!
//! - Times are nanoseconds since the Unix epoch.
//! - `sha256` is lowercase hex of the content. A file *version* is identified by it
//!   (`sha256:<hex>`); path and machine are attributes of each access.
//! - IDs are deterministic functions of the run id and positions within the run, so
//!   ingesting the same record twice, or two records that overlap, adds nothing new.
//! - A record whose header has no `end` was cut short (tot was interrupted or crashed);
//!   every line in it is still valid.
//! - Readers refuse a record whose `format` is not [`RECORD_FORMAT`] or whose `version`
//!   is newer than [`RECORD_VERSION`].

use serde::{Deserialize, Serialize};

use crate::{Bytes, ExitStatus};

/// The `format` field of every record header.
pub const RECORD_FORMAT: &str = "tot-run";

/// The record format version this build writes and the newest it reads.
pub const RECORD_VERSION: u32 = 1;

/// One line of a record file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum RecordLine {
    /// The first line: what run this is.
    Header(RunHeader),
    /// One process exec epoch.
    Process(ProcessEntry),
    /// One file access.
    Access(FileAccess),
}

/// What run a record describes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RunHeader {
    /// Always [`RECORD_FORMAT`].
    pub format: String,
    /// The record format version, [`RECORD_VERSION`] when written by this build.
    pub version: u32,
    /// Deterministic id of the run.
    pub run_id: String,
    /// Stable id of the machine (`/etc/machine-id` on Linux, the platform UUID on macOS).
    pub machine_id: String,
    /// The machine's hostname.
    pub hostname: String,
    /// `linux`, `macos`, ...
    pub os: String,
    /// The backend that observed the run (`strace`, `bpftrace`, an import format, ...).
    pub backend: String,
    /// The tot version that wrote the record.
    pub tot_version: String,
    /// The traced command line.
    pub argv: Vec<Bytes>,
    /// The directory the command started in.
    pub cwd: Bytes,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    /// End time; absent when the record was cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
    /// Exit status of the traced command; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// One exec epoch of one process: from fork or exec to the next exec or the exit.
/// A pid that execs twice has two entries.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ProcessEntry {
    /// Deterministic id, unique across runs.
    pub id: String,
    /// The OS process id.
    pub pid: u32,
    /// The entry of the process (epoch) that created this one, or of the previous epoch
    /// of the same pid when this epoch began with an exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Absolute path of the executable, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<Bytes>,
    /// The argument vector.
    pub argv: Vec<Bytes>,
    /// Working directory when the epoch began.
    pub cwd: Bytes,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    /// End time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
    /// How the process ended; absent when the epoch ended in an exec or is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// What a process did to a file.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// Opened for reading: an input.
    Read,
    /// Created, truncated or written to: an output.
    Write,
    /// Executed (the image of an exec epoch): an input.
    Exec,
    /// Removed (unlink, rmdir).
    Delete,
    /// The old name of a rename.
    RenameFrom,
    /// The new name of a rename; its content is the renamed file's.
    RenameTo,
    /// A new hard link; `source` is the existing name.
    Link,
    /// A new symbolic link; `source` is its target.
    Symlink,
    /// A directory was made.
    Mkdir,
}

/// One access of one file by one process epoch.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FileAccess {
    /// Deterministic id, unique across runs.
    pub id: String,
    /// The [`ProcessEntry::id`] of the accessing process epoch.
    pub process: String,
    /// Absolute, normalized path.
    pub path: Bytes,
    /// What was done.
    pub kind: AccessKind,
    /// For `rename_to`, `link` and `symlink`: the other name involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Bytes>,
    /// Lowercase hex sha256 of the content involved, when it was hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Size in bytes of that content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Modification time of that content, nanoseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
    /// When the access happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// Why there is no hash, when there is none (`pseudo-filesystem`, `ignored`,
    /// `vanished`, `not hashed on import`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A whole run record in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The header.
    pub header: RunHeader,
    /// Process epochs, in order of their start.
    pub processes: Vec<ProcessEntry>,
    /// File accesses, in the order observed.
    pub accesses: Vec<FileAccess>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines_round_trip() {
        let header = RecordLine::Header(RunHeader {
            format: RECORD_FORMAT.into(),
            version: RECORD_VERSION,
            run_id: "r-1".into(),
            machine_id: "m".into(),
            hostname: "h".into(),
            os: "linux".into(),
            backend: "strace".into(),
            tot_version: "0.1.0".into(),
            argv: vec!["make".into()],
            cwd: "/src".into(),
            start: Some(1),
            end: None,
            exit: None,
        });
        let access = RecordLine::Access(FileAccess {
            id: "r-1:1:0:0".into(),
            process: "r-1:1:0".into(),
            path: Bytes(vec![b'/', 0xff]),
            kind: AccessKind::RenameTo,
            source: Some("/tmp/x".into()),
            sha256: Some("00".into()),
            size: Some(1),
            mtime: Some(-1),
            time: None,
            note: None,
        });
        for line in [header, access] {
            let json = serde_json::to_string(&line).unwrap();
            assert_eq!(serde_json::from_str::<RecordLine>(&json).unwrap(), line);
        }
    }
}
