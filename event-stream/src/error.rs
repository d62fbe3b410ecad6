//! Why a stream was refused.

use std::fmt;

/// A stream that cannot be read at all (as opposed to a malformed line, which is reported
/// as a diagnostic and stepped over).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The first line is not a hello.
    NoHello,
    /// The hello names another protocol.
    WrongProtocol,
    /// The hello's version does not caret-match this reader's.
    IncompatibleVersion,
    /// Reading the stream failed.
    Io,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
