//! Errors of reading and writing records.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a record could not be read or written as a whole.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    source: Option<std::io::Error>,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file is not a tot run record (wrong `format`, no header, not JSON at all).
    NotARecord {
        /// What was found instead.
        reason: String,
    },
    /// The record was written by a newer tot, in a format version this build cannot read.
    NewerVersion {
        /// The record's version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The header line is a tot header but a field is missing or has the wrong type.
    MalformedHeader {
        /// The JSON decoder's message.
        message: String,
    },
    /// Reading or writing the file failed.
    Io,
    /// A line could not be encoded as JSON (should not happen with tot's own types).
    Encode {
        /// The encoder's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, path: &Path) -> Error {
        Error {
            kind,
            path: Some(path.to_path_buf()),
            source: None,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error {
            kind: ErrorKind::Io,
            path: Some(path.to_path_buf()),
            source: Some(source),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file involved.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        match &self.kind {
            ErrorKind::NotARecord { reason } => write!(f, "not a tot run record ({reason})"),
            ErrorKind::NewerVersion { found, supported } => write!(
                f,
                "record format version {found} is newer than this tot reads (version {supported}); \
                 upgrade tot to read it"
            ),
            ErrorKind::MalformedHeader { message } => {
                write!(f, "malformed record header: {message}")
            }
            ErrorKind::Io => match &self.source {
                Some(source) => write!(f, "{source}"),
                None => f.write_str("input/output error"),
            },
            ErrorKind::Encode { message } => write!(f, "cannot encode record line: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// A line of a record that could not be used; the rest of the record still is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The record file, when known.
    pub path: Option<PathBuf>,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
    /// True when reading failed (the reader stops there), false for a malformed line.
    pub is_io: bool,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}:{}: {}", path.display(), self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl std::error::Error for LineError {}
