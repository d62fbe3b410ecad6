//! Where each configuration value came from, for `tot config`.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// The kinds of config file, from lowest to highest precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// `/etc/tot/config.toml`.
    System,
    /// The user's config directory: `$XDG_CONFIG_HOME/tot/config.toml` (Linux),
    /// `~/Library/Application Support/tot/config.toml` (macOS).
    User,
    /// The nearest `.tot.toml` in the current directory or above.
    Project,
    /// The file named by `$TOT_CONFIG`.
    Env,
}

impl Layer {
    /// A short name for messages.
    pub fn label(self) -> &'static str {
        match self {
            Layer::System => "system",
            Layer::User => "user",
            Layer::Project => "project",
            Layer::Env => "$TOT_CONFIG",
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// tot's built-in default.
    Default,
    /// An environment variable, such as `TOT_DATA_DIR`.
    Environment {
        /// The variable's name.
        variable: String,
    },
    /// A line of a config file.
    File {
        /// Which kind of file.
        layer: Layer,
        /// The file.
        path: PathBuf,
        /// The 1-based line of the value.
        line: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Environment { variable } => write!(f, "environment variable {variable}"),
            Origin::File { layer, path, line } => {
                write!(f, "{}:{line} ({})", path.display(), layer.label())
            }
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it was set.
    pub origin: Origin,
}

impl<T> Setting<T> {
    /// A value with its origin.
    pub fn new(value: T, origin: Origin) -> Self {
        Setting { value, origin }
    }
}
