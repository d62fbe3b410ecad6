//! One config file, parsed and checked against the schema, with the position of every value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, ErrorKind};
use crate::origin::{Layer, Origin};

/// The schema of one file. Every key is optional: files are merged.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub backend: Option<Spanned<String>>,
    pub ignore: Option<Vec<Spanned<String>>>,
    pub plugin_dirs: Option<Spanned<Vec<Spanned<String>>>>,
    pub store: Option<RawStore>,
    /// `[backends.NAME]` tables: declaration keys and options, checked after merging.
    pub backends: Option<BTreeMap<String, BTreeMap<String, Spanned<toml::Value>>>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub dir: Option<Spanned<String>>,
}

/// A file that was read and parsed.
#[derive(Debug)]
pub(crate) struct LoadedFile {
    pub layer: Layer,
    pub path: PathBuf,
    pub text: String,
    pub raw: RawFile,
}

impl LoadedFile {
    pub fn read(layer: Layer, path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, &e))?;
        Self::parse(layer, path, text)
    }

    pub fn parse(layer: Layer, path: &Path, text: String) -> Result<Self, Error> {
        // Parse as plain TOML first so syntax errors are told apart from schema errors.
        if let Err(err) = text.parse::<toml::Table>() {
            let offset = err.span().map(|s| s.start).unwrap_or(0);
            return Err(Error::at(
                ErrorKind::Syntax,
                path,
                &text,
                offset,
                format!("invalid TOML: {}", err.message().trim_end()),
            ));
        }
        let raw: RawFile = toml::from_str(&text).map_err(|err| {
            let offset = err.span().map(|s| s.start).unwrap_or(0);
            let message = err.message().trim_end();
            let (kind, message) = match message.strip_prefix("unknown field") {
                Some(rest) => (ErrorKind::UnknownKey, format!("unknown key{rest}")),
                None => (ErrorKind::InvalidValue, message.to_string()),
            };
            Error::at(kind, path, &text, offset, message)
        })?;
        Ok(LoadedFile {
            layer,
            path: path.to_path_buf(),
            text,
            raw,
        })
    }

    /// Where byte `offset` of this file is, as an origin.
    pub fn origin(&self, offset: usize) -> Origin {
        Origin::File {
            layer: self.layer,
            path: self.path.clone(),
            line: crate::error::Position::of_offset(&self.text, offset).line,
        }
    }

    /// An error at byte `offset` of this file.
    pub fn error(&self, kind: ErrorKind, offset: usize, message: impl Into<String>) -> Error {
        Error::at(kind, &self.path, &self.text, offset, message)
    }

    /// A path written in this file: `~/` is the home directory, a relative path is relative
    /// to the file's directory.
    pub fn resolve_path(&self, written: &str) -> PathBuf {
        if let Some(rest) = written.strip_prefix("~/") {
            if let Some(home) = dirs::home_dir() {
                return home.join(rest);
            }
        }
        let path = Path::new(written);
        if path.is_absolute() {
            return path.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        }
    }
}
