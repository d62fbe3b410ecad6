//! Configuration errors, located by file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem. Its `Display` starts with `FILE:LINE:COLUMN:` when the
/// problem is inside a file, and quotes the offending line.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    file: Option<PathBuf>,
    position: Option<Position>,
    message: String,
    excerpt: Option<String>,
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be read (or `$TOT_CONFIG` names a missing file).
    Io,
    /// The file is not valid TOML.
    Syntax,
    /// A key tot does not know.
    UnknownKey,
    /// A value of the wrong type or with a wrong value.
    InvalidValue,
}

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, counted in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        Position { line, column }
    }
}

impl Error {
    pub(crate) fn io(file: &Path, err: &std::io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            file: Some(file.to_path_buf()),
            position: None,
            message: format!("cannot read the config file: {err}"),
            excerpt: None,
        }
    }

    /// A problem at byte `offset` of `text`, the content of `file`.
    pub(crate) fn at(
        kind: ErrorKind,
        file: &Path,
        text: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let position = Position::of_offset(text, offset);
        let excerpt = text.lines().nth(position.line - 1).map(|line| {
            let gutter = position.line.to_string();
            format!(
                "{gutter} | {line}\n{pad} | {caret:>column$}",
                pad = " ".repeat(gutter.len()),
                caret = "^",
                column = position.column
            )
        });
        Error {
            kind,
            file: Some(file.to_path_buf()),
            position: Some(position),
            message: message.into(),
            excerpt,
        }
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file it is in.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Where in the file, when known.
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// The message alone, without location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
            if let Some(Position { line, column }) = self.position {
                write!(f, "{line}:{column}:")?;
            }
            f.write_str(" ")?;
        }
        f.write_str(&self.message)?;
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        let offset = text.find('=').unwrap();
        assert_eq!(
            Position::of_offset(text, offset),
            Position { line: 1, column: 3 }
        );
        let offset = text.rfind('=').unwrap();
        assert_eq!(
            Position::of_offset(text, offset),
            Position { line: 2, column: 4 }
        );
    }
}
