//! Why a backend could not be found, loaded or chosen.

use std::fmt;

/// A registry problem.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No backend has that name.
    UnknownBackend,
    /// The backend exists but cannot run here.
    Unavailable,
    /// No backend is usable here at all.
    NoneUsable,
    /// A plugin file does not exist.
    PluginNotFound,
    /// A plugin file is not a loadable library.
    NotALibrary,
    /// A library lacks the plugin entry symbol.
    MissingSymbol,
    /// A plugin speaks another ABI version.
    AbiMismatch,
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
