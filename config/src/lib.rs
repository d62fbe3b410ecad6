//! tot's configuration: where the files are, how they merge, and where every value came
//! from.
//!
//! # Files, lowest precedence first
//!
//! 1. system: `/etc/tot/config.toml`;
//! 2. user: `$XDG_CONFIG_HOME/tot/config.toml` (Linux, default `~/.config`),
//!    `~/Library/Application Support/tot/config.toml` (macOS);
//! 3. project: the nearest `.tot.toml` in the current directory or above;
//! 4. the file named by `$TOT_CONFIG` (it must exist).
//!
//! Later files override earlier ones key by key; `ignore` and `plugin_dirs` add up.
//! `$TOT_DATA_DIR` overrides `[store] dir`.
//!
//! # Schema
//!
//! ```toml
//! backend = "strace"                  # the default backend (`--backend` overrides it)
//! ignore = ["/proc", "~/.cache"]     # path prefixes recorded without hashing
//! plugin_dirs = ["~/tot-plugins"]     # searched for plugins, besides <user config>/plugins
//!
//! [store]
//! dir = "~/provenance"                # tot's data directory: records/ and the store
//!
//! [backends.strace]                   # options for a backend: any other key
//! path = "/opt/strace/bin/strace"
//! seccomp = false
//!
//! [backends.mytracer]                 # an external command
//! command = ["mytracer", "--out", "{output}", "--", "{command}"]
//! format = "tot-events"               # or "strace"
//! platforms = ["linux"]
//!
//! [backends.pytrace]                  # an out-of-process plugin (calling convention)
//! plugin = "plugins/tot_exec_plugin.py"
//!
//! [backends.wrapped]                  # a dynamic plugin (C ABI)
//! library = "/usr/lib/tot/libmy_backend.so"
//! ```
//!
//! Relative paths are relative to the file they are written in. Unknown keys, values of
//! the wrong type and malformed TOML are [`Error`]s whose message starts with
//! `FILE:LINE:COLUMN:`.
//!
//! The backend registry that turns [`BackendSettings`] into backends is `tot-registry`.

#![deny(missing_docs)]

mod config;
mod discover;
mod error;
mod file;
mod origin;
pub mod paths;

pub use config::{
    BackendSettings, Config, ConfigFile, Declaration, Entry, StreamFormat, DATA_DIR_VARIABLE,
    DECLARATION_KEYS, KNOWN_PLATFORMS, PLACEHOLDERS,
};
pub use discover::{find_project_file, Sources, CONFIG_VARIABLE, PROJECT_FILE, SYSTEM_FILE};
pub use error::{Error, ErrorKind, Position};
pub use origin::{Layer, Origin, Setting};

#[cfg(test)]
mod tests;
