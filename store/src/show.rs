//! `tot show FILE`: the processes that produced a file, newest first.

use std::collections::HashSet;

use serde::Serialize;
use tot_api::{Bytes, ExitStatus};

use crate::error::Error;
use crate::model::{AccessInfo, FileQuery, ProcessInfo, Role};
use crate::query::ProvenanceStore;
use crate::schema;

/// What `tot show` found. Its JSON form is `tot show --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShowReport {
    /// The file asked about (absolute).
    pub path: Bytes,
    /// Its content now, when it exists.
    pub sha256: Option<String>,
    /// `content` when writers were found by the file's current hash, `path` when by the
    /// writes recorded at its path (the file does not exist).
    pub matched_by: MatchedBy,
    /// The writers, newest first.
    pub writers: Vec<Writer>,
    /// Writers beyond the limit asked for.
    pub more_writers: usize,
    /// When nothing produced the current content: how many recorded writes at this path
    /// produced other contents (the file changed since).
    pub writes_of_other_content: usize,
}

/// How writers were found.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// By the file's content hash, on any machine.
    Content,
    /// By the writes recorded at the path.
    Path,
}

/// One process that produced the file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Writer {
    /// Its arguments.
    pub argv: Vec<Bytes>,
    /// Its executable.
    pub exe: Option<Bytes>,
    /// Its working directory.
    pub cwd: Bytes,
    /// OS process id.
    pub pid: u32,
    /// Machine id.
    pub machine: String,
    /// The machine's hostname.
    pub hostname: String,
    /// Run id.
    pub run: String,
    /// Start, ns since the epoch.
    pub start: Option<u64>,
    /// End, ns since the epoch.
    pub end: Option<u64>,
    /// Exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// What it produced: the path it wrote and that content's hash.
    pub output: FileRef,
    /// When it produced it, ns since the epoch.
    pub written_at: Option<u64>,
    /// Its inputs (read, executed, renamed from), each once.
    pub inputs: Vec<FileRef>,
    /// Its parent chain, nearest first, up to the run's command.
    pub ancestry: Vec<Ancestor>,
}

/// A file version: a path and the content's hash (absent when not hashed).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct FileRef {
    /// The path.
    pub path: Bytes,
    /// Lowercase hex sha256.
    pub sha256: Option<String>,
}

/// A process in a writer's parent chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ancestor {
    /// Its arguments.
    pub argv: Vec<Bytes>,
    /// Its executable.
    pub exe: Option<Bytes>,
    /// OS process id.
    pub pid: u32,
}

pub(crate) fn show<S: ProvenanceStore + ?Sized>(
    store: &S,
    file: &FileQuery,
    limit: usize,
) -> Result<ShowReport, Error> {
    let path_key = store.find_path(file.path.as_slice())?;
    let at_path = || -> Result<Vec<AccessInfo>, Error> {
        match path_key {
            Some(key) => store.producing_accesses_at_path(key),
            None => Ok(Vec::new()),
        }
    };
    let mut report = ShowReport {
        path: file.path.clone(),
        sha256: file.sha256.clone(),
        matched_by: MatchedBy::Path,
        writers: Vec::new(),
        more_writers: 0,
        writes_of_other_content: 0,
    };
    let producing = match &file.sha256 {
        Some(sha256) => {
            report.matched_by = MatchedBy::Content;
            let found = match store.find_content(sha256)? {
                Some(content) => store.accesses_of_content(content, Role::Produced)?,
                None => Vec::new(),
            };
            if found.is_empty() {
                report.writes_of_other_content = at_path()?.len();
            }
            found
        }
        None => at_path()?,
    };
    // Newest first already; keep each process once, at its latest write.
    let mut seen = HashSet::new();
    let latest: Vec<&AccessInfo> = producing
        .iter()
        .filter(|a| seen.insert(a.process))
        .collect();
    report.more_writers = latest.len().saturating_sub(limit);
    for access in latest.into_iter().take(limit) {
        let process = store.process(access.process)?;
        report.writers.push(writer(store, process, access)?);
    }
    Ok(report)
}

fn writer<S: ProvenanceStore + ?Sized>(
    store: &S,
    process: ProcessInfo,
    output: &AccessInfo,
) -> Result<Writer, Error> {
    let mut seen = HashSet::new();
    let inputs = store
        .accesses_of_process(process.key)?
        .into_iter()
        .filter(|a| schema::is_input(a.kind))
        .map(|a| FileRef {
            path: a.path,
            sha256: a.sha256,
        })
        .filter(|f| seen.insert(f.clone()))
        .collect();
    let ancestry = store
        .ancestry(&process)?
        .into_iter()
        .map(|p| Ancestor {
            argv: p.argv,
            exe: p.exe,
            pid: p.pid,
        })
        .collect();
    let signal = match &process.exit {
        Some(ExitStatus::Signal { name, .. }) => Some(name.clone()),
        _ => None,
    };
    Ok(Writer {
        exit_code: process.exit_code(),
        signal,
        argv: process.argv,
        exe: process.exe,
        cwd: process.cwd,
        pid: process.pid,
        machine: process.machine_id,
        hostname: process.hostname,
        run: process.run_id,
        start: process.start,
        end: process.end,
        output: FileRef {
            path: output.path.clone(),
            sha256: output.sha256.clone(),
        },
        written_at: output.time,
        inputs,
        ancestry,
    })
}
