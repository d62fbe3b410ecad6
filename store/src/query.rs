//! The store trait: ingest and a few primitive queries that each backend implements, and
//! the questions tot asks (`show`, `lineage`, a run's graph) built on them once.

use std::path::{Path, PathBuf};

use tot_api::RunRecord;

use crate::error::{Error, ErrorKind};
use crate::lineage::{self, LineageGraph, LineageOptions};
use crate::model::{
    AccessInfo, ContentKey, FileQuery, IngestReport, PathKey, ProcessInfo, ProcessKey, Role,
    RunFilter, RunSummary, StoreStats,
};
use crate::show::{self, ShowReport};
use crate::sqlite::{BatchOutcome, IngestObserver};

/// A provenance store. [`crate::SqliteStore`] is the embedded one; a shared PostgreSQL
/// store implements the same primitives with the same SQL.
pub trait ProvenanceStore {
    /// Adds a record held in memory, in one transaction.
    fn ingest_record(&mut self, record: &RunRecord) -> Result<IngestReport, Error>;

    /// Adds a record file, streaming it, in one transaction. The observer (any
    /// `FnMut(bytes_read)` will do) follows progress and may cancel. Malformed lines are
    /// skipped and listed in the report; a file that is not a record, or is of a newer
    /// format, is refused.
    fn ingest_file(
        &mut self,
        record: &Path,
        observer: &mut dyn IngestObserver,
    ) -> Result<IngestReport, Error>;

    /// Adds many record files, each whole or not at all, telling the observer each
    /// record's result. A store may commit several records at once to go faster.
    fn ingest_files(
        &mut self,
        records: &[PathBuf],
        observer: &mut dyn IngestObserver,
    ) -> Result<BatchOutcome, Error> {
        for (index, record) in records.iter().enumerate() {
            if observer.cancelled() {
                return Ok(BatchOutcome::Interrupted);
            }
            observer.record_started(index);
            match self.ingest_file(record, observer) {
                Err(err) if *err.kind() == ErrorKind::Interrupted => {
                    return Ok(BatchOutcome::Interrupted)
                }
                Err(err) if !matches!(err.kind(), ErrorKind::Record | ErrorKind::Io) => {
                    return Err(err)
                }
                result => observer.record_finished(index, result),
            }
        }
        Ok(BatchOutcome::Completed)
    }

    /// Sizes and counts.
    fn stats(&self) -> Result<StoreStats, Error>;

    /// Runs, newest first.
    fn runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, Error>;

    /// The row of a content, by lowercase hex sha256.
    fn find_content(&self, sha256: &str) -> Result<Option<ContentKey>, Error>;

    /// The row of a path.
    fn find_path(&self, path: &[u8]) -> Result<Option<PathKey>, Error>;

    /// Accesses that produced or used a content, newest first.
    fn accesses_of_content(
        &self,
        content: ContentKey,
        role: Role,
    ) -> Result<Vec<AccessInfo>, Error>;

    /// Accesses that produced something at a path (whatever the content), newest first.
    fn producing_accesses_at_path(&self, path: PathKey) -> Result<Vec<AccessInfo>, Error>;

    /// All accesses of a process epoch, in record order.
    fn accesses_of_process(&self, process: ProcessKey) -> Result<Vec<AccessInfo>, Error>;

    /// One process epoch with its run and machine.
    fn process(&self, process: ProcessKey) -> Result<ProcessInfo, Error>;

    /// The process epochs of a run, by start time.
    fn processes_of_run(&self, run_id: &str) -> Result<Vec<ProcessKey>, Error>;

    /// The processes that produced a file (`tot show`), newest first.
    fn show(&self, file: &FileQuery, limit: usize) -> Result<ShowReport, Error> {
        show::show(self, file, limit)
    }

    /// The lineage graph of a file (`tot lineage`), up or down.
    fn lineage(&self, file: &FileQuery, options: &LineageOptions) -> Result<LineageGraph, Error> {
        lineage::walk(self, file, options)
    }

    /// Every process of a run with the files it used and produced (`tot export --run`).
    fn run_graph(&self, run_id: &str) -> Result<LineageGraph, Error> {
        lineage::run_graph(self, run_id)
    }

    /// The parent chain of a process, nearest first, up to the run's command.
    fn ancestry(&self, process: &ProcessInfo) -> Result<Vec<ProcessInfo>, Error> {
        let mut chain: Vec<ProcessInfo> = Vec::new();
        let mut next = process.parent;
        // The chain is short; the guard is against a record whose parents form a loop.
        while let Some(key) = next {
            if key == process.key || chain.iter().any(|p| p.key == key) || chain.len() > 10_000 {
                break;
            }
            let parent = self.process(key)?;
            next = parent.parent;
            chain.push(parent);
        }
        Ok(chain)
    }
}
