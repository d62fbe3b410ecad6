//! What the store's queries return.

use std::path::PathBuf;

use serde::Serialize;
use tot_api::{AccessKind, Bytes, ExitStatus};
use tot_record::LineError;

/// A process epoch's row in a store. Valid only within that store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessKey(pub i64);

/// A distinct content's row in a store. Valid only within that store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentKey(pub i64);

/// A distinct path's row in a store. Valid only within that store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathKey(pub i64);

/// What adding one record changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// The record's run id.
    pub run_id: String,
    /// The run was already in the store (this record overlaps an earlier one).
    pub run_was_known: bool,
    /// Process epochs added.
    pub processes_added: u64,
    /// Process epochs already present (duplicates, completed where the new record knew more).
    pub processes_known: u64,
    /// File accesses added.
    pub accesses_added: u64,
    /// File accesses already present.
    pub accesses_known: u64,
    /// Processes that accesses or children refer to but that the record never describes.
    pub undescribed_processes: u64,
    /// Lines that were skipped, as `file:line: why`.
    pub skipped_lines: Vec<LineError>,
}

/// Sizes and counts of a store (`tot db stats`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoreStats {
    /// The store file.
    pub path: PathBuf,
    /// Its schema version.
    pub schema_version: u32,
    /// Bytes on disk: the database file and its write-ahead log.
    pub file_bytes: u64,
    /// Bytes of the database pages in use.
    pub database_bytes: u64,
    /// Distinct machines.
    pub machines: u64,
    /// Runs.
    pub runs: u64,
    /// Process exec epochs.
    pub processes: u64,
    /// File accesses.
    pub accesses: u64,
    /// Distinct paths.
    pub paths: u64,
    /// Distinct contents (sha256).
    pub contents: u64,
    /// Distinct argument vectors.
    pub argvs: u64,
    /// `database_bytes / accesses` (0 when empty).
    pub bytes_per_access: f64,
}

/// Which runs `tot runs` lists.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// At most this many, newest first (`None`: all).
    pub limit: Option<usize>,
    /// Only runs on the machine with this id or hostname.
    pub machine: Option<String>,
}

/// One run, as listed by `tot runs`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunSummary {
    /// The run id.
    pub run: String,
    /// The machine id.
    pub machine: String,
    /// The machine's hostname at the time.
    pub hostname: String,
    /// The OS.
    pub os: String,
    /// The backend that observed it.
    pub backend: String,
    /// The traced command line.
    pub argv: Vec<Bytes>,
    /// Where it started.
    pub cwd: Bytes,
    /// Start time, ns since the epoch.
    pub start: Option<u64>,
    /// End time; absent when the record was cut short.
    pub end: Option<u64>,
    /// The exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// How it ended, in full.
    pub exit: Option<ExitStatus>,
    /// Process exec epochs recorded.
    pub processes: u64,
}

/// One process exec epoch with its run and machine.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    /// Its row.
    pub key: ProcessKey,
    /// The record's id of this epoch.
    pub id: String,
    /// OS process id.
    pub pid: u32,
    /// The epoch that created it (or that exec'd into it).
    pub parent: Option<ProcessKey>,
    /// The executable.
    pub exe: Option<Bytes>,
    /// Its arguments.
    pub argv: Vec<Bytes>,
    /// Its working directory.
    pub cwd: Bytes,
    /// Start, ns since the epoch.
    pub start: Option<u64>,
    /// End, ns since the epoch.
    pub end: Option<u64>,
    /// How it ended.
    pub exit: Option<ExitStatus>,
    /// The run it belongs to.
    pub run_id: String,
    /// The machine id.
    pub machine_id: String,
    /// The machine's hostname.
    pub hostname: String,
    /// False when only referred to: the record never described this process.
    pub described: bool,
}

impl ProcessInfo {
    /// The exit code, when it exited normally.
    pub fn exit_code(&self) -> Option<i32> {
        match self.exit {
            Some(ExitStatus::Code(code)) => Some(code),
            _ => None,
        }
    }
}

/// One file access.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessInfo {
    /// The accessing process epoch.
    pub process: ProcessKey,
    /// What it did.
    pub kind: AccessKind,
    /// The path.
    pub path: Bytes,
    /// The content's row, when hashed.
    pub content: Option<ContentKey>,
    /// The content's sha256 (lowercase hex), when hashed.
    pub sha256: Option<String>,
    /// The content's size.
    pub size: Option<u64>,
    /// When, ns since the epoch (the access's time, else the process's start).
    pub time: Option<u64>,
}

/// Which accesses of a content to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accesses that produced it (write, rename_to, link, symlink).
    Produced,
    /// Accesses that took it as an input (read, exec, rename_from).
    Used,
}

/// A file to ask about: its absolute path, and its current content when it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileQuery {
    /// Absolute path.
    pub path: Bytes,
    /// sha256 of its content now, when the file exists.
    pub sha256: Option<String>,
}
