//! Where tot keeps its files: the platform's usual places.
//!
//! | what | Linux | macOS |
//! |---|---|---|
//! | data (records, store) | `$XDG_DATA_HOME/tot` or `~/.local/share/tot` | `~/Library/Application Support/tot` |
//! | user config | `$XDG_CONFIG_HOME/tot` or `~/.config/tot` | `~/Library/Application Support/tot` |
//!
//! `TOT_DATA_DIR` overrides the data directory (tests and CI use it to stay isolated).

use std::path::PathBuf;

/// tot's data directory; records go in its `records/` folder.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOT_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from(".tot"))
        .join("tot")
}

/// Where run records are written.
pub fn records_dir() -> PathBuf {
    data_dir().join("records")
}

/// The user's config directory for tot.
pub fn user_config_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("tot"))
}
