//! Errors of the store.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a store operation failed.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    store: Option<PathBuf>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// There is no store at that path yet (queries do not create one).
    NoStore,
    /// The file is not an SQLite database, or is one that tot did not make. It is left
    /// untouched.
    NotAStore {
        /// What was found.
        reason: String,
    },
    /// The database is damaged. It is left untouched.
    Corrupt,
    /// The store was made by a newer tot, with a schema this build does not know.
    NewerSchema {
        /// The store's schema version.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// A run record was refused (not a record, a newer format, unreadable).
    Record,
    /// No run with that id is in the store.
    UnknownRun {
        /// The id asked for.
        run_id: String,
    },
    /// The ingest was cancelled (Ctrl-C); the record in progress was rolled back.
    Interrupted,
    /// Another database failure.
    Database,
    /// Reading or writing a file failed.
    Io,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, store: Option<&Path>) -> Error {
        Error {
            kind,
            store: store.map(Path::to_path_buf),
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// Classifies an SQLite error: a file that is not a database and a damaged database
    /// get kinds of their own, so the message can say so plainly.
    pub(crate) fn sqlite(store: &Path, error: rusqlite::Error) -> Error {
        let kind = match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => ErrorKind::NotAStore {
                reason: "the file is not an SQLite database".into(),
            },
            Some(rusqlite::ErrorCode::DatabaseCorrupt) => ErrorKind::Corrupt,
            _ => ErrorKind::Database,
        };
        Error::new(kind, Some(store)).with_source(error)
    }

    pub(crate) fn record(error: tot_record::Error) -> Error {
        Error::new(ErrorKind::Record, None).with_source(error)
    }

    pub(crate) fn io(path: &Path, error: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, Some(path)).with_source(error)
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The store file (or, for [`ErrorKind::Io`], the file) involved.
    pub fn store_path(&self) -> Option<&Path> {
        self.store.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self
            .store
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "store".into());
        let source = self
            .source
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        match &self.kind {
            ErrorKind::NoStore => write!(
                f,
                "no store at {store} yet: nothing has been recorded (trace a command with `tot CMD` \
                 or add records with `tot db add`)"
            ),
            ErrorKind::NotAStore { reason } => write!(
                f,
                "{store} is not a tot store ({reason}); it was left untouched: \
                 move it away or choose another store with --db"
            ),
            ErrorKind::Corrupt => write!(
                f,
                "the store {store} is damaged ({source}); it was left untouched: \
                 move it away and add the records again with `tot db add`"
            ),
            ErrorKind::NewerSchema { found, supported } => write!(
                f,
                "the store {store} has schema version {found}, newer than this tot knows \
                 (version {supported}); upgrade tot to use it"
            ),
            ErrorKind::Record => f.write_str(&source),
            ErrorKind::UnknownRun { run_id } => write!(f, "no run {run_id:?} in the store {store}"),
            ErrorKind::Interrupted => write!(
                f,
                "interrupted: the record being added to {store} was rolled back"
            ),
            ErrorKind::Database => write!(f, "store {store}: {source}"),
            ErrorKind::Io => write!(f, "{store}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The message already includes the source's text; chaining it again would repeat it.
        None
    }
}
