//! The provenance store: one schema and one set of queries over SQLite, for run records
//! from many machines.
//!
//! Run records (see [`tot_api::record`]) are added to the store, one transaction per
//! record; the same facts added twice are kept once. The store then answers tot's
//! questions: which processes produced this content ([`ProvenanceStore::show`]), the
//! graph upstream or downstream of a file ([`ProvenanceStore::lineage`]), the runs
//! ([`ProvenanceStore::runs`]), and a W3C PROV-JSON export ([`prov::to_prov_json`]).
//! Records from different machines join wherever two machines saw the same content hash.
//!
//! [`SqliteStore`] is the embedded store; [`ProvenanceStore`] is the interface that a
//! shared PostgreSQL store will implement with the same SQL.
//!
//! ```no_run
//! use tot_store::{ProvenanceStore, SqliteStore};
//! # fn main() -> Result<(), tot_store::Error> {
//! let mut store = SqliteStore::open("store.sqlite".as_ref())?;
//! let report = store.ingest_file("run.jsonl".as_ref(), &mut |_bytes_read| {})?;
//! println!("{} accesses added", report.accesses_added);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod error;
pub mod lineage;
mod model;
pub mod prov;
mod query;
pub mod schema;
pub mod show;
mod sqlite;

use std::io::Read;
use std::path::Path;

pub use error::{Error, ErrorKind};
pub use lineage::{Direction, LineageGraph, LineageOptions};
pub use model::{
    AccessInfo, ContentKey, FileQuery, IngestReport, PathKey, ProcessInfo, ProcessKey, Role,
    RunFilter, RunSummary, StoreStats,
};
pub use query::ProvenanceStore;
pub use show::ShowReport;
pub use sqlite::{BatchOutcome, IngestObserver, RecordSource, SqliteStore};

/// Adds one record file to the store at `store`, creating the store if needed. This is
/// what `tot run` calls when a run ends.
pub fn ingest_file(store: &Path, record: &Path) -> Result<IngestReport, Error> {
    let mut store = SqliteStore::open(store)?;
    store.ingest_file(record, &mut |_| {})
}

/// The lowercase hex sha256 of a file's content, as records carry it.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
