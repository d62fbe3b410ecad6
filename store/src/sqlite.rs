//! The SQLite store: opening (with checks that never overwrite a foreign or damaged
//! file), migrations, ingest and the primitive queries.
//!
//! # Identity and deduplication
//!
//! Record ids are deterministic, so identity is kept without storing every id string:
//! - a run is its `run_id` (unique);
//! - a process epoch is `(run, local_id)`, where `local_id` is the process id with the
//!   run id prefix removed;
//! - an access is `(process, ord)`, where `ord` is the position `n` of an id of the form
//!   `<process id>:<n>` (tot's own form), or else a 63-bit hash of the id (negative, so
//!   it never meets a position).
//!
//! Adding a record inserts with `ON CONFLICT DO NOTHING` on those keys, so adding the same
//! record twice, or two records that overlap (a record cut short and the complete one),
//! adds each fact once. A process that a record describes only after its accesses (or
//! never) gets a placeholder row that its own line fills in.
//!
//! # Concurrency
//!
//! The database is in WAL mode with a busy timeout, and each record is added in one
//! `BEGIN IMMEDIATE` transaction: concurrent writers (two `tot run`s ending at once) wait
//! for each other instead of failing, readers never block, and an interrupted ingest
//! (Ctrl-C, a crash) leaves the store as it was before that record.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{
    params, CachedStatement, Connection, OpenFlags, OptionalExtension, TransactionBehavior,
};
use sha2::{Digest, Sha256};
use tot_api::record::{FileAccess, ProcessEntry, RecordLine, RunHeader, RunRecord, RECORD_VERSION};
use tot_api::{Bytes, ExitStatus};
use tot_record::LineError;

use crate::error::{Error, ErrorKind};
use crate::model::{
    AccessInfo, ContentKey, IngestReport, PathKey, ProcessInfo, ProcessKey, Role, RunFilter,
    RunSummary, StoreStats,
};
use crate::query::ProvenanceStore;

use crate::schema::{self, INPUT_KINDS_SQL, MIGRATIONS, PRODUCING_KINDS_SQL, SCHEMA_VERSION};

/// How long a writer waits for another writer before giving up. Long, because a large
/// record can hold the write lock for seconds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// Interned ids are cached between records; the caches are dropped when they grow past this.
const CACHE_LIMIT: usize = 2_000_000;

/// A batch commits at least this often, so other writers wait little and a crash loses
/// little finished work.
const BATCH_COMMIT_INTERVAL: Duration = Duration::from_secs(2);

/// After each of those commits a batch pauses this long before taking the write lock
/// again, so that a writer waiting for it (a `tot run` ending) gets in: SQLite's busy
/// handler retries every 100 ms, and would otherwise keep missing the moment between
/// one batch transaction and the next.
const BATCH_PAUSE_FOR_OTHER_WRITERS: Duration = Duration::from_millis(120);

/// The provenance store in an SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    cache: InternCache,
    /// When the open batch transaction began, if one is open.
    batch_started: Option<Instant>,
}

/// Ids of interned values known to be committed (or inserted by the open transaction;
/// the cache is cleared when a transaction fails).
#[derive(Debug, Default)]
struct InternCache {
    paths: FastMap<Vec<u8>, i64>,
    contents: FastMap<Vec<u8>, i64>,
    argvs: FastMap<String, i64>,
    notes: FastMap<String, i64>,
}

/// A hash map with a fast, non-cryptographic hash: its keys are the store's own data,
/// looked up several times per access during ingest.
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// The multiply-rotate hash of rustc's `FxHasher`, eight bytes at a time.
#[derive(Default)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl InternCache {
    fn len(&self) -> usize {
        self.paths.len() + self.contents.len() + self.argvs.len() + self.notes.len()
    }
}

impl SqliteStore {
    /// Opens the store at `path`, creating it (and missing directories) when absent, and
    /// migrating an older schema.
    ///
    /// A file that is not an SQLite database, an SQLite database of another program, and
    /// a store with a newer schema are refused and left untouched.
    pub fn open(path: &Path) -> Result<SqliteStore, Error> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        Self::open_with(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
    }

    /// Opens an existing store; [`ErrorKind::NoStore`] when there is none at `path`.
    pub fn open_existing(path: &Path) -> Result<SqliteStore, Error> {
        if !path.exists() {
            return Err(Error::new(ErrorKind::NoStore, Some(path)));
        }
        Self::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<SqliteStore, Error> {
        let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let sql_error = |e| Error::sqlite(path, e);
        let conn = Connection::open_with_flags(path, flags).map_err(sql_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
        conn.set_prepared_statement_cache_capacity(64);

        // Look before writing anything: the header pragmas below would write to the file.
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
            .map_err(sql_error)?;
        if !tables.is_empty() && !tables.iter().any(|t| t == "tot_schema") {
            return Err(Error::new(
                ErrorKind::NotAStore {
                    reason: "an SQLite database that tot did not make".into(),
                },
                Some(path),
            ));
        }
        if tables.iter().any(|t| t == "tot_schema") {
            let found = read_schema_version(&conn).map_err(sql_error)?;
            if found > SCHEMA_VERSION {
                return Err(newer_schema(path, found));
            }
        }

        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_error)?;
        // 128 MiB of page cache at most (allocated as used): a bulk `db add` into a large
        // store keeps its indexes in memory.
        conn.pragma_update(None, "cache_size", -131_072)
            .map_err(sql_error)?;
        // Checkpoint the log into the database every 32 MiB rather than every 4 MiB: bulk
        // ingest rewrites the same index pages, so fewer checkpoints write less.
        conn.pragma_update(None, "wal_autocheckpoint", 8192)
            .map_err(sql_error)?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sql_error)?;
        // The REFERENCES clauses document the schema; checking them would cost five
        // lookups per access row (rusqlite's SQLite enforces them by default), and ingest
        // only writes ids it has just looked up or inserted in the same transaction.
        conn.pragma_update(None, "foreign_keys", "OFF")
            .map_err(sql_error)?;

        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
            cache: InternCache::default(),
            batch_started: None,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), Error> {
        let path = self.path.clone();
        let sql_error = |e| Error::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_error)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS tot_schema (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .map_err(sql_error)?;
        let found = read_schema_version(&tx).map_err(sql_error)?;
        if found > SCHEMA_VERSION {
            return Err(newer_schema(&path, found));
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        for migration in &MIGRATIONS[found as usize..] {
            tx.execute_batch(migration).map_err(sql_error)?;
        }
        tx.execute(
            "INSERT INTO tot_schema (name, value) VALUES ('version', ?1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [SCHEMA_VERSION.to_string()],
        )
        .map_err(sql_error)?;
        tx.commit().map_err(sql_error)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql_error(&self, error: rusqlite::Error) -> Error {
        Error::sqlite(&self.path, error)
    }

    /// Writes the write-ahead log back into the database file (as SQLite does on its own
    /// from time to time), so the file's size is the store's.
    pub fn checkpoint(&self) -> Result<(), Error> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.sql_error(e))
    }

    /// Adds one record, driving `feed` to supply its lines: in a transaction of its own,
    /// or inside the open batch's transaction (see [`SqliteStore::ingest_batch`], which
    /// undoes a record that fails part-way).
    fn ingest_with(
        &mut self,
        header: &RunHeader,
        feed: impl FnOnce(&mut IngestSession<'_>) -> Result<(), Error>,
    ) -> Result<IngestReport, Error> {
        if self.cache.len() > CACHE_LIMIT {
            self.cache = InternCache::default();
        }
        let in_batch = self.batch_started.is_some();
        if !in_batch {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| Error::sqlite(&self.path, e))?;
        }
        let result = (|| {
            let mut session =
                IngestSession::begin(&self.conn, &mut self.cache, &self.path, header)?;
            feed(&mut session)?;
            let report = session.finish()?;
            if !in_batch {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(|e| Error::sqlite(&self.path, e))?;
            }
            Ok(report)
        })();
        if result.is_err() {
            // Ids inserted by what is rolled back are not in the store.
            self.cache = InternCache::default();
            if !in_batch && !self.conn.is_autocommit() {
                // The error is already the one to report; a failed rollback leaves
                // SQLite to roll back when the connection closes.
                let _ = self.conn.execute_batch("ROLLBACK");
            }
        }
        result
    }

    /// Adds many records, files or in memory, with one commit per second or so instead
    /// of one per record. Each record is still added whole or not at all: when one fails
    /// part-way (a read error, or the observer cancels), the open transaction is rolled
    /// back and the records before it in that transaction are added again and committed.
    /// A crash loses at most the last second of finished records, never part of one.
    /// (Savepoints would do the same with less code, but journaling every page a record
    /// touches made bulk ingest a fifth slower.)
    ///
    /// When the observer cancels, the record in progress is dropped, the finished ones are
    /// kept, and [`BatchOutcome::Interrupted`] is returned.
    pub fn ingest_batch<'r>(
        &mut self,
        records: impl IntoIterator<Item = RecordSource<'r>>,
        observer: &mut dyn IngestObserver,
    ) -> Result<BatchOutcome, Error> {
        let records: Vec<RecordSource<'r>> = records.into_iter().collect();
        // The records added by the open transaction, to add again if it is rolled back.
        let mut uncommitted: Vec<usize> = Vec::new();
        let mut outcome = BatchOutcome::Completed;
        for (index, record) in records.iter().copied().enumerate() {
            if observer.cancelled() {
                outcome = BatchOutcome::Interrupted;
                break;
            }
            if self.batch_started.is_none() {
                self.conn
                    .execute_batch("BEGIN IMMEDIATE")
                    .map_err(|e| Error::sqlite(&self.path, e))?;
                self.batch_started = Some(Instant::now());
            }
            observer.record_started(index);
            match self.ingest_source(record, observer) {
                Ok(report) => {
                    uncommitted.push(index);
                    observer.record_finished(index, Ok(report));
                }
                // Refused from its header: nothing was written.
                Err(err) if *err.kind() == ErrorKind::Record => {
                    observer.record_finished(index, Err(err));
                }
                // Cut off part-way: undo it, keeping the records before it.
                Err(err) if matches!(err.kind(), ErrorKind::Interrupted | ErrorKind::Io) => {
                    self.redo_batch(&records, &uncommitted)?;
                    uncommitted.clear();
                    if *err.kind() == ErrorKind::Interrupted {
                        outcome = BatchOutcome::Interrupted;
                        break;
                    }
                    observer.record_finished(index, Err(err));
                    continue;
                }
                // The store itself failed: give up on the whole batch.
                Err(err) => {
                    self.abandon_batch();
                    return Err(err);
                }
            }
            if self
                .batch_started
                .is_some_and(|started| started.elapsed() >= BATCH_COMMIT_INTERVAL)
            {
                self.commit_batch()?;
                uncommitted.clear();
                std::thread::sleep(BATCH_PAUSE_FOR_OTHER_WRITERS);
            }
        }
        self.commit_batch()?;
        Ok(outcome)
    }

    fn ingest_source(
        &mut self,
        record: RecordSource<'_>,
        observer: &mut dyn IngestObserver,
    ) -> Result<IngestReport, Error> {
        match record {
            RecordSource::File(path) => self.ingest_file_now(path, observer),
            RecordSource::Memory(record) => self.ingest_record_now(record),
        }
    }

    /// Rolls the open batch transaction back and adds `redo` again in a new one.
    fn redo_batch(&mut self, records: &[RecordSource<'_>], redo: &[usize]) -> Result<(), Error> {
        self.abandon_batch();
        if redo.is_empty() {
            return Ok(());
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| Error::sqlite(&self.path, e))?;
        self.batch_started = Some(Instant::now());
        for &index in redo {
            if let Err(err) = self.ingest_source(records[index], &mut |_| {}) {
                self.abandon_batch();
                return Err(err);
            }
        }
        self.commit_batch()
    }

    fn commit_batch(&mut self) -> Result<(), Error> {
        if self.batch_started.take().is_some() {
            if let Err(err) = self.conn.execute_batch("COMMIT") {
                self.abandon_batch();
                return Err(Error::sqlite(&self.path, err));
            }
        }
        Ok(())
    }

    fn abandon_batch(&mut self) {
        self.batch_started = None;
        self.cache = InternCache::default();
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn ingest_record_now(&mut self, record: &RunRecord) -> Result<IngestReport, Error> {
        self.ingest_with(&record.header, |session| {
            for process in &record.processes {
                session.process(process)?;
            }
            for access in &record.accesses {
                session.access(access)?;
            }
            Ok(())
        })
    }

    fn ingest_file_now(
        &mut self,
        record: &Path,
        observer: &mut dyn IngestObserver,
    ) -> Result<IngestReport, Error> {
        let file = File::open(record).map_err(|e| Error::io(record, e))?;
        let count = Arc::new(AtomicU64::new(0));
        let counting = CountingReader {
            inner: file,
            count: Arc::clone(&count),
        };
        let (header, lines) =
            tot_record::read_header(BufReader::with_capacity(256 * 1024, counting), record)
                .map_err(Error::record)?;
        let store = self.path.clone();
        // Lines are parsed on a second thread while this one writes: JSON parsing costs
        // about as much as the inserts, so the two overlap.
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<ParsedLine>>(8);
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(LINES_PER_MESSAGE);
                for line in lines {
                    batch.push(line);
                    if batch.len() == LINES_PER_MESSAGE {
                        let full =
                            std::mem::replace(&mut batch, Vec::with_capacity(LINES_PER_MESSAGE));
                        if sender.send(full).is_err() {
                            return; // The writer stopped (an error, or cancelled).
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = sender.send(batch);
                }
            });
            let receiver = receiver;
            self.ingest_with(&header, move |session| {
                for batch in receiver {
                    for (line, parsed) in batch {
                        match parsed {
                            Ok(RecordLine::Process(process)) => session.process(&process)?,
                            Ok(RecordLine::Access(access)) => session.access(&access)?,
                            Ok(RecordLine::Header(_)) => session.skip(LineError {
                                path: Some(record.to_path_buf()),
                                line,
                                message: "a second header line (one record per file)".into(),
                                is_io: false,
                            }),
                            Err(error) if error.is_io => {
                                return Err(Error::io(
                                    record,
                                    std::io::Error::other(error.message),
                                ));
                            }
                            Err(error) => session.skip(error),
                        }
                    }
                    observer.progress(count.load(Ordering::Relaxed));
                    if observer.cancelled() {
                        return Err(Error::new(ErrorKind::Interrupted, Some(&store)));
                    }
                }
                Ok(())
            })
        })
    }
}

/// A line as the parsing thread hands it over.
type ParsedLine = (usize, Result<RecordLine, LineError>);

/// Lines per message from the parsing thread: few enough to report progress and notice
/// Ctrl-C often, many enough that the channel costs nothing.
const LINES_PER_MESSAGE: usize = 1024;

/// A record to add in a batch.
#[derive(Debug, Clone, Copy)]
pub enum RecordSource<'r> {
    /// A record file, read as it is added.
    File(&'r Path),
    /// A record in memory.
    Memory(&'r RunRecord),
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Every record was tried.
    Completed,
    /// The observer cancelled: the record in progress was rolled back, and the records
    /// after it were not tried.
    Interrupted,
}

/// Follows an ingest: progress, cancellation, and each record's result in a batch.
pub trait IngestObserver {
    /// In a batch: the `index`-th record is about to be added.
    fn record_started(&mut self, _index: usize) {}

    /// How many bytes of the current record file have been read.
    fn progress(&mut self, _bytes_read: u64) {}

    /// Asked now and then; `true` stops the ingest and rolls back the current record.
    fn cancelled(&self) -> bool {
        false
    }

    /// In a batch: the result of the `index`-th record (a store failure ends the batch
    /// with an error instead).
    fn record_finished(&mut self, _index: usize, _result: Result<IngestReport, Error>) {}
}

/// Any `FnMut(bytes_read)` follows progress.
impl<F: FnMut(u64)> IngestObserver for F {
    fn progress(&mut self, bytes_read: u64) {
        self(bytes_read)
    }
}

fn newer_schema(path: &Path, found: u32) -> Error {
    Error::new(
        ErrorKind::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        },
        Some(path),
    )
}

fn read_schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    let value: Option<String> = conn
        .query_row(
            "SELECT value FROM tot_schema WHERE name = 'version'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// A reader that counts the bytes read through it, for progress.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn time_to_sql(time: Option<u64>) -> Option<i64> {
    time.map(|t| i64::try_from(t).unwrap_or(i64::MAX))
}

fn time_from_sql(time: Option<i64>) -> Option<u64> {
    time.and_then(|t| u64::try_from(t).ok())
}

fn exit_to_sql(exit: &Option<ExitStatus>) -> Option<String> {
    exit.as_ref().and_then(|e| serde_json::to_string(e).ok())
}

fn exit_from_sql(exit: Option<String>) -> Option<ExitStatus> {
    exit.and_then(|e| serde_json::from_str(&e).ok())
}

fn argv_to_sql(argv: &[Bytes]) -> String {
    // Bytes serialize as strings or {"b64": ...}: infallible for a Vec of them.
    serde_json::to_string(argv).unwrap_or_else(|_| "[]".into())
}

fn argv_from_sql(argv: Option<String>) -> Vec<Bytes> {
    argv.and_then(|a| serde_json::from_str(&a).ok())
        .unwrap_or_default()
}

/// A sha256 as stored: 32 raw bytes when it is 64 hex digits, else its text as given (kept
/// rather than dropped, so nothing a record says is lost).
fn sha_to_sql(sha256: &str) -> Vec<u8> {
    let mut raw = [0u8; 32];
    if decode_sha256(sha256, &mut raw) {
        raw.to_vec()
    } else {
        sha256.as_bytes().to_vec()
    }
}

/// Decodes 64 hex digits into `raw`; false (and `raw` unspecified) for anything else.
fn decode_sha256(sha256: &str, raw: &mut [u8; 32]) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let text = sha256.as_bytes();
    if text.len() != 64 {
        return false;
    }
    for (byte, pair) in raw.iter_mut().zip(text.chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(high), Some(low)) => *byte = high << 4 | low,
            _ => return false,
        }
    }
    true
}

fn sha_from_sql(stored: Vec<u8>) -> String {
    if stored.len() == 32 {
        stored.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        String::from_utf8_lossy(&stored).into_owned()
    }
}

/// The stored identity of a process within its run.
fn local_process_id(run_id: &str, process_id: &str) -> String {
    match process_id
        .strip_prefix(run_id)
        .and_then(|rest| rest.strip_prefix(':'))
    {
        Some(rest) => rest.to_string(),
        None => format!("={process_id}"),
    }
}

/// The record's process id from the stored identity.
fn full_process_id(run_id: &str, local_id: &str) -> String {
    match local_id.strip_prefix('=') {
        Some(full) => full.to_string(),
        None => format!("{run_id}:{local_id}"),
    }
}

/// The stored identity of an access within its process; see the module docs.
fn access_ord(access_id: &str, process_id: &str) -> i64 {
    let position = access_id
        .strip_prefix(process_id)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|n| n.parse::<u32>().ok());
    match position {
        Some(n) => i64::from(n),
        None => {
            let digest = Sha256::digest(access_id.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            -(i64::from_be_bytes(first) & i64::MAX) - 1
        }
    }
}

/// Accesses inserted by one statement during ingest.
const ACCESSES_PER_INSERT: usize = 64;

/// An access row, ready to insert.
struct AccessRow {
    process: i64,
    ord: i64,
    kind: i64,
    path: i64,
    content: Option<i64>,
    source: Option<i64>,
    mtime: Option<i64>,
    time: Option<i64>,
    note: Option<i64>,
}

/// `INSERT INTO accesses ... VALUES (...), (...)` for `rows` rows, skipping rows whose key
/// is already there.
fn insert_accesses_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO accesses (process, ord, kind, path, content, source, mtime, access_time, note) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

/// Binds `rows` to a statement from [`insert_accesses_sql`] and runs it; returns the
/// number of rows inserted.
fn bind_and_run(
    statement: &mut CachedStatement<'_>,
    rows: &[AccessRow],
) -> rusqlite::Result<usize> {
    let mut index = 0;
    let mut bind = |statement: &mut CachedStatement<'_>, value: &dyn rusqlite::ToSql| {
        index += 1;
        statement.raw_bind_parameter(index, value)
    };
    for row in rows {
        bind(statement, &row.process)?;
        bind(statement, &row.ord)?;
        bind(statement, &row.kind)?;
        bind(statement, &row.path)?;
        bind(statement, &row.content)?;
        bind(statement, &row.source)?;
        bind(statement, &row.mtime)?;
        bind(statement, &row.time)?;
        bind(statement, &row.note)?;
    }
    statement.raw_execute()
}

/// One record being added, inside its transaction.
struct IngestSession<'t> {
    tx: &'t Connection,
    cache: &'t mut InternCache,
    store: &'t Path,
    run_row: i64,
    run_id: String,
    /// Record process id -> (row, described by its own line yet).
    processes: FastMap<String, (i64, bool)>,
    /// The last process looked up: accesses of one process tend to come together.
    last_process: Option<(String, i64)>,
    insert_access: CachedStatement<'t>,
    insert_accesses: CachedStatement<'t>,
    /// Accesses waiting to be inserted, [`ACCESSES_PER_INSERT`] at a time.
    pending: Vec<AccessRow>,
    report: IngestReport,
}

impl<'t> IngestSession<'t> {
    fn begin(
        tx: &'t Connection,
        cache: &'t mut InternCache,
        store: &'t Path,
        header: &RunHeader,
    ) -> Result<IngestSession<'t>, Error> {
        let sql_error = |e| Error::sqlite(store, e);
        let insert_access = tx
            .prepare_cached(&insert_accesses_sql(1))
            .map_err(sql_error)?;
        let insert_accesses = tx
            .prepare_cached(&insert_accesses_sql(ACCESSES_PER_INSERT))
            .map_err(sql_error)?;
        let mut session = IngestSession {
            tx,
            cache,
            store,
            run_row: 0,
            run_id: header.run_id.clone(),
            processes: FastMap::default(),
            last_process: None,
            insert_access,
            insert_accesses,
            pending: Vec::with_capacity(ACCESSES_PER_INSERT),
            report: IngestReport {
                run_id: header.run_id.clone(),
                ..IngestReport::default()
            },
        };
        session.begin_run(header)?;
        Ok(session)
    }

    fn sql_error(&self, error: rusqlite::Error) -> Error {
        Error::sqlite(self.store, error)
    }

    fn begin_run(&mut self, header: &RunHeader) -> Result<(), Error> {
        let machine = self.machine_row(header)?;
        let existing: Option<i64> = self
            .tx
            .prepare_cached("SELECT id FROM runs WHERE run_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([&header.run_id], |row| row.get(0))
                    .optional()
            })
            .map_err(|e| self.sql_error(e))?;
        let exit = exit_to_sql(&header.exit);
        if let Some(run_row) = existing {
            // An overlapping record: keep what is known, fill in what the earlier one lacked
            // (a record cut short has no end and no exit status).
            self.tx
                .prepare_cached(
                    "UPDATE runs SET start_time = COALESCE(start_time, ?1), \
                     end_time = COALESCE(end_time, ?2), exit = COALESCE(exit, ?3) WHERE id = ?4",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        time_to_sql(header.start),
                        time_to_sql(header.end),
                        exit,
                        run_row
                    ])
                })
                .map_err(|e| self.sql_error(e))?;
            self.run_row = run_row;
            self.report.run_was_known = true;
            let run_id = self.run_id.clone();
            let known: Vec<(i64, String, bool)> = self
                .tx
                .prepare_cached(
                    "SELECT id, local_id, argv IS NOT NULL FROM processes WHERE run = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([run_row], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                        .collect()
                })
                .map_err(|e| self.sql_error(e))?;
            for (row, local_id, described) in known {
                self.processes
                    .insert(full_process_id(&run_id, &local_id), (row, described));
            }
            return Ok(());
        }
        let argv = self.intern_argv(&header.argv)?;
        let cwd = self.intern_path(header.cwd.as_slice())?;
        let version = header.version.min(RECORD_VERSION);
        self.run_row = self
            .tx
            .prepare_cached(
                "INSERT INTO runs (run_id, machine, hostname, os, backend, tot_version, record_version, \
                 argv, cwd, start_time, end_time, exit) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .and_then(|mut stmt| {
                stmt.insert(
                    params![
                        header.run_id,
                        machine,
                        header.hostname,
                        header.os,
                        header.backend,
                        header.tot_version,
                        version,
                        argv,
                        cwd,
                        time_to_sql(header.start),
                        time_to_sql(header.end),
                        exit
                    ],
                )
            })
            .map_err(|e| self.sql_error(e))?;
        Ok(())
    }

    fn machine_row(&mut self, header: &RunHeader) -> Result<i64, Error> {
        let existing: Option<(i64, String, String)> = self
            .tx
            .prepare_cached("SELECT id, hostname, os FROM machines WHERE machine_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([&header.machine_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
            })
            .map_err(|e| self.sql_error(e))?;
        match existing {
            Some((row, hostname, os)) => {
                if hostname != header.hostname || os != header.os {
                    self.tx
                        .prepare_cached("UPDATE machines SET hostname = ?1, os = ?2 WHERE id = ?3")
                        .and_then(|mut stmt| stmt.execute(params![header.hostname, header.os, row]))
                        .map_err(|e| self.sql_error(e))?;
                }
                Ok(row)
            }
            None => self
                .tx
                .prepare_cached(
                    "INSERT INTO machines (machine_id, hostname, os) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut stmt| {
                    stmt.insert(params![header.machine_id, header.hostname, header.os])
                })
                .map_err(|e| self.sql_error(e)),
        }
    }

    fn intern_path(&mut self, path: &[u8]) -> Result<i64, Error> {
        if let Some(&id) = self.cache.paths.get(path) {
            return Ok(id);
        }
        let id = intern(
            self.tx,
            "SELECT id FROM paths WHERE path = ?1",
            "INSERT INTO paths (path) VALUES (?1) ON CONFLICT DO NOTHING",
            path,
        )
        .map_err(|e| self.sql_error(e))?;
        self.cache.paths.insert(path.to_vec(), id);
        Ok(id)
    }

    fn intern_content(&mut self, sha256: &str, size: Option<u64>) -> Result<i64, Error> {
        let mut raw = [0u8; 32];
        let stored: &[u8] = match decode_sha256(sha256, &mut raw) {
            true => &raw,
            false => sha256.as_bytes(),
        };
        if let Some(&id) = self.cache.contents.get(stored) {
            return Ok(id);
        }
        let size = size.and_then(|s| i64::try_from(s).ok());
        let inserted: Option<i64> = self
            .tx
            .prepare_cached(
                "INSERT INTO contents (sha256, size) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut stmt| inserted_id(self.tx, stmt.execute(params![stored, size])))
            .map_err(|e| self.sql_error(e))?;
        let id = match inserted {
            Some(id) => id,
            None => self
                .tx
                .prepare_cached("SELECT id FROM contents WHERE sha256 = ?1")
                .and_then(|mut stmt| stmt.query_row([stored], |row| row.get(0)))
                .map_err(|e| self.sql_error(e))?,
        };
        self.cache.contents.insert(stored.to_vec(), id);
        Ok(id)
    }

    fn intern_argv(&mut self, argv: &[Bytes]) -> Result<i64, Error> {
        let text = argv_to_sql(argv);
        if let Some(&id) = self.cache.argvs.get(&text) {
            return Ok(id);
        }
        let id = intern(
            self.tx,
            "SELECT id FROM argvs WHERE argv = ?1",
            "INSERT INTO argvs (argv) VALUES (?1) ON CONFLICT DO NOTHING",
            &text,
        )
        .map_err(|e| self.sql_error(e))?;
        self.cache.argvs.insert(text, id);
        Ok(id)
    }

    fn intern_note(&mut self, note: &str) -> Result<i64, Error> {
        if let Some(&id) = self.cache.notes.get(note) {
            return Ok(id);
        }
        let id = intern(
            self.tx,
            "SELECT id FROM notes WHERE note = ?1",
            "INSERT INTO notes (note) VALUES (?1) ON CONFLICT DO NOTHING",
            note,
        )
        .map_err(|e| self.sql_error(e))?;
        self.cache.notes.insert(note.to_string(), id);
        Ok(id)
    }

    /// The row of a process of this run, made as a placeholder when the record has not
    /// described it (yet).
    fn process_row(&mut self, process_id: &str) -> Result<i64, Error> {
        if let Some((last, row)) = &self.last_process {
            if last == process_id {
                return Ok(*row);
            }
        }
        if let Some(&(row, _)) = self.processes.get(process_id) {
            self.last_process = Some((process_id.to_string(), row));
            return Ok(row);
        }
        let local_id = local_process_id(&self.run_id, process_id);
        let row = self
            .tx
            .prepare_cached("INSERT INTO processes (run, local_id, pid) VALUES (?1, ?2, 0)")
            .and_then(|mut stmt| stmt.insert(params![self.run_row, local_id]))
            .map_err(|e| self.sql_error(e))?;
        self.processes.insert(process_id.to_string(), (row, false));
        Ok(row)
    }

    fn process(&mut self, process: &ProcessEntry) -> Result<(), Error> {
        let parent = match &process.parent {
            Some(parent) => Some(self.process_row(parent)?),
            None => None,
        };
        let exit = exit_to_sql(&process.exit);
        let start = time_to_sql(process.start);
        let end = time_to_sql(process.end);
        match self.processes.get(&process.id).copied() {
            Some((row, true)) => {
                self.tx
                    .prepare_cached(
                        "UPDATE processes SET end_time = COALESCE(end_time, ?1), exit = COALESCE(exit, ?2) \
                         WHERE id = ?3",
                    )
                    .and_then(|mut stmt| stmt.execute(params![end, exit, row]))
                    .map_err(|e| self.sql_error(e))?;
                self.report.processes_known += 1;
            }
            described_before => {
                let exe = match &process.exe {
                    Some(exe) => Some(self.intern_path(exe.as_slice())?),
                    None => None,
                };
                let argv = self.intern_argv(&process.argv)?;
                let cwd = self.intern_path(process.cwd.as_slice())?;
                let row = match described_before {
                    Some((row, _)) => {
                        self.tx
                            .prepare_cached(
                                "UPDATE processes SET pid = ?1, parent = ?2, exe = ?3, argv = ?4, cwd = ?5, \
                                 start_time = ?6, end_time = ?7, exit = ?8 WHERE id = ?9",
                            )
                            .and_then(|mut stmt| {
                                stmt.execute(params![process.pid, parent, exe, argv, cwd, start, end, exit, row])
                            })
                            .map_err(|e| self.sql_error(e))?;
                        row
                    }
                    None => {
                        let local_id = local_process_id(&self.run_id, &process.id);
                        self.tx
                            .prepare_cached(
                                "INSERT INTO processes (run, local_id, pid, parent, exe, argv, cwd, \
                                 start_time, end_time, exit) \
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                            )
                            .and_then(|mut stmt| {
                                stmt.insert(params![
                                    self.run_row,
                                    local_id,
                                    process.pid,
                                    parent,
                                    exe,
                                    argv,
                                    cwd,
                                    start,
                                    end,
                                    exit
                                ])
                            })
                            .map_err(|e| self.sql_error(e))?
                    }
                };
                self.processes.insert(process.id.clone(), (row, true));
                self.report.processes_added += 1;
            }
        }
        Ok(())
    }

    fn access(&mut self, access: &FileAccess) -> Result<(), Error> {
        let process = self.process_row(&access.process)?;
        let ord = access_ord(&access.id, &access.process);
        let path = self.intern_path(access.path.as_slice())?;
        let content = match &access.sha256 {
            Some(sha256) => Some(self.intern_content(sha256, access.size)?),
            None => None,
        };
        let source = match &access.source {
            Some(source) => Some(self.intern_path(source.as_slice())?),
            None => None,
        };
        let note = match &access.note {
            Some(note) => Some(self.intern_note(note)?),
            None => None,
        };
        self.pending.push(AccessRow {
            process,
            ord,
            kind: schema::kind_code(access.kind),
            path,
            content,
            source,
            mtime: access.mtime,
            time: time_to_sql(access.time),
            note,
        });
        if self.pending.len() == ACCESSES_PER_INSERT {
            self.flush_accesses()?;
        }
        Ok(())
    }

    /// Inserts the pending accesses: many rows per statement when there are enough (one
    /// statement per row spent most of ingest in SQLite's per-statement setup).
    /// Accesses already in the store are skipped by their key and counted as known.
    fn flush_accesses(&mut self) -> Result<(), Error> {
        let rows = std::mem::take(&mut self.pending);
        let inserted = if rows.len() == ACCESSES_PER_INSERT {
            bind_and_run(&mut self.insert_accesses, &rows)
        } else {
            rows.chunks(1)
                .map(|row| bind_and_run(&mut self.insert_access, row))
                .sum::<rusqlite::Result<usize>>()
        }
        .map_err(|e| Error::sqlite(self.store, e))?;
        self.report.accesses_added += inserted as u64;
        self.report.accesses_known += (rows.len() - inserted) as u64;
        self.pending = rows;
        self.pending.clear();
        Ok(())
    }

    fn skip(&mut self, error: LineError) {
        self.report.skipped_lines.push(error);
    }

    fn finish(mut self) -> Result<IngestReport, Error> {
        self.flush_accesses()?;
        let mut report = self.report;
        report.undescribed_processes = self
            .processes
            .values()
            .filter(|(_, described)| !described)
            .count() as u64;
        Ok(report)
    }
}

/// The id of the row an `INSERT ... ON CONFLICT DO NOTHING` added, if it added one.
/// (`RETURNING` would say the same, but SQLite buffers returned rows in a temporary
/// table, which made interning several times slower.)
fn inserted_id(
    conn: &Connection,
    changes: rusqlite::Result<usize>,
) -> rusqlite::Result<Option<i64>> {
    Ok((changes? > 0).then(|| conn.last_insert_rowid()))
}

/// Interns a value: inserts it, or when it is already there, looks its id up. (Insert
/// first: a value missing from the cache is usually new.)
fn intern<V: rusqlite::ToSql + ?Sized>(
    tx: &Connection,
    select: &str,
    insert: &str,
    value: &V,
) -> rusqlite::Result<i64> {
    let inserted = inserted_id(tx, tx.prepare_cached(insert)?.execute([value]))?;
    match inserted {
        Some(id) => Ok(id),
        None => tx
            .prepare_cached(select)?
            .query_row([value], |row| row.get(0)),
    }
}

const ACCESS_COLUMNS: &str = "SELECT a.process, a.kind, p.path, a.content, c.sha256, c.size, \
     COALESCE(a.access_time, pr.start_time) \
     FROM accesses a \
     JOIN paths p ON p.id = a.path \
     JOIN processes pr ON pr.id = a.process \
     LEFT JOIN contents c ON c.id = a.content";

fn access_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccessInfo> {
    let kind_code: i64 = row.get(1)?;
    Ok(AccessInfo {
        process: ProcessKey(row.get(0)?),
        kind: schema::kind_from_code(kind_code).unwrap_or(tot_api::AccessKind::Read),
        path: Bytes(row.get(2)?),
        content: row.get::<_, Option<i64>>(3)?.map(ContentKey),
        sha256: row.get::<_, Option<Vec<u8>>>(4)?.map(sha_from_sql),
        size: row
            .get::<_, Option<i64>>(5)?
            .and_then(|s| u64::try_from(s).ok()),
        time: time_from_sql(row.get(6)?),
    })
}

impl SqliteStore {
    fn accesses(&self, sql: &str, key: i64) -> Result<Vec<AccessInfo>, Error> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_map([key], access_from_row)?.collect())
            .map_err(|e| self.sql_error(e))
    }

    fn count(&self, table: &str) -> Result<u64, Error> {
        self.conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| self.sql_error(e))
    }
}

impl ProvenanceStore for SqliteStore {
    fn ingest_record(&mut self, record: &RunRecord) -> Result<IngestReport, Error> {
        self.ingest_record_now(record)
    }

    fn ingest_file(
        &mut self,
        record: &Path,
        observer: &mut dyn IngestObserver,
    ) -> Result<IngestReport, Error> {
        self.ingest_file_now(record, observer)
    }

    fn ingest_files(
        &mut self,
        records: &[PathBuf],
        observer: &mut dyn IngestObserver,
    ) -> Result<BatchOutcome, Error> {
        self.ingest_batch(records.iter().map(|r| RecordSource::File(r)), observer)
    }

    fn stats(&self) -> Result<StoreStats, Error> {
        let page_size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(|e| self.sql_error(e))?;
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .map_err(|e| self.sql_error(e))?;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |row| row.get(0))
            .map_err(|e| self.sql_error(e))?;
        let database_bytes = u64::try_from((pages - free) * page_size).unwrap_or(0);
        let file_size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let file_bytes = file_size(&self.path) + file_size(Path::new(&wal));
        let accesses = self.count("accesses")?;
        Ok(StoreStats {
            path: self.path.clone(),
            schema_version: read_schema_version(&self.conn).map_err(|e| self.sql_error(e))?,
            file_bytes,
            database_bytes,
            machines: self.count("machines")?,
            runs: self.count("runs")?,
            processes: self.count("processes")?,
            accesses,
            paths: self.count("paths")?,
            contents: self.count("contents")?,
            argvs: self.count("argvs")?,
            bytes_per_access: if accesses == 0 {
                0.0
            } else {
                database_bytes as f64 / accesses as f64
            },
        })
    }

    fn runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, Error> {
        let limit = filter
            .limit
            .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
            .unwrap_or(-1);
        let machine = filter.machine.clone();
        let sql = "SELECT r.run_id, m.machine_id, r.hostname, r.os, r.backend, av.argv, cw.path, \
                   r.start_time, r.end_time, r.exit, \
                   (SELECT COUNT(*) FROM processes pr WHERE pr.run = r.id AND pr.argv IS NOT NULL) \
                   FROM runs r \
                   JOIN machines m ON m.id = r.machine \
                   JOIN argvs av ON av.id = r.argv \
                   JOIN paths cw ON cw.id = r.cwd \
                   WHERE (?1 IS NULL OR m.machine_id = ?1 OR r.hostname = ?1) \
                   ORDER BY COALESCE(r.start_time, 0) DESC, r.id DESC \
                   LIMIT ?2";
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_map(params![machine, limit], |row| {
                    let exit = exit_from_sql(row.get(9)?);
                    Ok(RunSummary {
                        run: row.get(0)?,
                        machine: row.get(1)?,
                        hostname: row.get(2)?,
                        os: row.get(3)?,
                        backend: row.get(4)?,
                        argv: argv_from_sql(row.get(5)?),
                        cwd: Bytes(row.get(6)?),
                        start: time_from_sql(row.get(7)?),
                        end: time_from_sql(row.get(8)?),
                        exit_code: match exit {
                            Some(ExitStatus::Code(code)) => Some(code),
                            _ => None,
                        },
                        exit,
                        processes: u64::try_from(row.get::<_, i64>(10)?).unwrap_or(0),
                    })
                })?
                .collect()
            })
            .map_err(|e| self.sql_error(e))
    }

    fn find_content(&self, sha256: &str) -> Result<Option<ContentKey>, Error> {
        self.conn
            .prepare_cached("SELECT id FROM contents WHERE sha256 = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([sha_to_sql(sha256)], |row| row.get(0))
                    .optional()
            })
            .map(|id| id.map(ContentKey))
            .map_err(|e| self.sql_error(e))
    }

    fn find_path(&self, path: &[u8]) -> Result<Option<PathKey>, Error> {
        self.conn
            .prepare_cached("SELECT id FROM paths WHERE path = ?1")
            .and_then(|mut stmt| stmt.query_row([path], |row| row.get(0)).optional())
            .map(|id| id.map(PathKey))
            .map_err(|e| self.sql_error(e))
    }

    fn accesses_of_content(
        &self,
        content: ContentKey,
        role: Role,
    ) -> Result<Vec<AccessInfo>, Error> {
        // Two fixed statements (not one with a parameter list) so each stays cached.
        let kinds = match role {
            Role::Produced => PRODUCING_KINDS_SQL,
            Role::Used => INPUT_KINDS_SQL,
        };
        let sql = format!(
            "{ACCESS_COLUMNS} WHERE a.content = ?1 AND a.kind {kinds} \
             ORDER BY COALESCE(a.access_time, pr.start_time, 0) DESC, a.process DESC, a.ord DESC"
        );
        self.accesses(&sql, content.0)
    }

    fn producing_accesses_at_path(&self, path: PathKey) -> Result<Vec<AccessInfo>, Error> {
        let sql = format!(
            "{ACCESS_COLUMNS} WHERE a.path = ?1 AND a.kind {PRODUCING_KINDS_SQL} \
             ORDER BY COALESCE(a.access_time, pr.start_time, 0) DESC, a.process DESC, a.ord DESC"
        );
        self.accesses(&sql, path.0)
    }

    fn accesses_of_process(&self, process: ProcessKey) -> Result<Vec<AccessInfo>, Error> {
        let sql = format!("{ACCESS_COLUMNS} WHERE a.process = ?1 ORDER BY a.ord");
        self.accesses(&sql, process.0)
    }

    fn process(&self, process: ProcessKey) -> Result<ProcessInfo, Error> {
        let sql =
            "SELECT pr.local_id, pr.pid, pr.parent, e.path, av.argv, cw.path, pr.start_time, \
                   pr.end_time, pr.exit, r.run_id, m.machine_id, r.hostname \
                   FROM processes pr \
                   JOIN runs r ON r.id = pr.run \
                   JOIN machines m ON m.id = r.machine \
                   LEFT JOIN paths e ON e.id = pr.exe \
                   LEFT JOIN argvs av ON av.id = pr.argv \
                   LEFT JOIN paths cw ON cw.id = pr.cwd \
                   WHERE pr.id = ?1";
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_row([process.0], |row| {
                    let local_id: String = row.get(0)?;
                    let run_id: String = row.get(9)?;
                    let argv: Option<String> = row.get(4)?;
                    Ok(ProcessInfo {
                        key: process,
                        id: full_process_id(&run_id, &local_id),
                        pid: u32::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                        parent: row.get::<_, Option<i64>>(2)?.map(ProcessKey),
                        exe: row.get::<_, Option<Vec<u8>>>(3)?.map(Bytes),
                        described: argv.is_some(),
                        argv: argv_from_sql(argv),
                        cwd: Bytes(row.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default()),
                        start: time_from_sql(row.get(6)?),
                        end: time_from_sql(row.get(7)?),
                        exit: exit_from_sql(row.get(8)?),
                        run_id,
                        machine_id: row.get(10)?,
                        hostname: row.get(11)?,
                    })
                })
            })
            .map_err(|e| self.sql_error(e))
    }

    fn processes_of_run(&self, run_id: &str) -> Result<Vec<ProcessKey>, Error> {
        let run_row: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM runs WHERE run_id = ?1")
            .and_then(|mut stmt| stmt.query_row([run_id], |row| row.get(0)).optional())
            .map_err(|e| self.sql_error(e))?;
        let Some(run_row) = run_row else {
            return Err(Error::new(
                ErrorKind::UnknownRun {
                    run_id: run_id.to_string(),
                },
                Some(&self.path),
            ));
        };
        self.conn
            .prepare_cached(
                "SELECT id FROM processes WHERE run = ?1 ORDER BY COALESCE(start_time, 0), id",
            )
            .and_then(|mut stmt| {
                stmt.query_map([run_row], |row| row.get(0).map(ProcessKey))?
                    .collect()
            })
            .map_err(|e| self.sql_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_use_indexes_not_scans() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
        let queries = [
            format!(
                "{ACCESS_COLUMNS} WHERE a.content = 1 AND a.kind {PRODUCING_KINDS_SQL} \
                 ORDER BY COALESCE(a.access_time, pr.start_time, 0) DESC"
            ),
            format!("{ACCESS_COLUMNS} WHERE a.content = 1 AND a.kind {INPUT_KINDS_SQL}"),
            format!("{ACCESS_COLUMNS} WHERE a.path = 1 AND a.kind {PRODUCING_KINDS_SQL}"),
            format!("{ACCESS_COLUMNS} WHERE a.process = 1 ORDER BY a.ord"),
        ];
        for sql in queries {
            let plan: Vec<String> = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([], |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN")),
                "{sql}\n{plan:#?}"
            );
        }
    }

    #[test]
    fn access_ord_uses_positions_and_hashes_foreign_ids() {
        assert_eq!(access_ord("r-1:42:0:17", "r-1:42:0"), 17);
        let foreign = access_ord("something-else", "r-1:42:0");
        assert!(foreign < 0);
        assert_eq!(foreign, access_ord("something-else", "r-1:42:0"));
        assert_ne!(foreign, access_ord("something-else-2", "r-1:42:0"));
    }

    #[test]
    fn process_ids_round_trip_through_local_ids() {
        for (run, id) in [("r-1", "r-1:42:0"), ("r-1", "other:1"), ("r-1", "=x")] {
            assert_eq!(full_process_id(run, &local_process_id(run, id)), id);
        }
    }

    #[test]
    fn sha256_is_stored_in_32_bytes_and_odd_values_are_kept() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(sha_to_sql(hex).len(), 32);
        assert_eq!(sha_from_sql(sha_to_sql(hex)), hex);
        assert_eq!(sha_from_sql(sha_to_sql(&hex.to_uppercase())), hex);
        assert_eq!(sha_from_sql(sha_to_sql("not-a-hash")), "not-a-hash");
    }
}
