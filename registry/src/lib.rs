//! tot's backend registry: every backend tot knows, where it comes from, and which one a
//! run uses.
//!
//! Four sources, in increasing precedence when names clash:
//!
//! 1. built-ins compiled into tot ([`builtins`]);
//! 2. plugins found in the plugin directories (`Config::plugin_dirs`): a shared library
//!    (`.so`, `.dylib`) is a dynamic plugin named by itself; an executable file is an
//!    out-of-process plugin named after the file (without extension and without a
//!    `tot-backend-` prefix);
//! 3. `[backends.NAME]` tables declaring `command = [...]` (an external command),
//!    `plugin = "..."` (an out-of-process plugin) or `library = "..."` (a dynamic plugin).
//!
//! The backend for a run is `--backend`, else the config's `backend`, else the first
//! built-in usable here ([`Registry::select`]). An unknown name is refused with the
//! closest known names suggested.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cwd = std::env::current_dir()?;
//! let config = tot_config::Config::load(&cwd)?;
//! let registry = tot_registry::Registry::from_config(&config);
//! let selection = registry.select(None, &config)?;
//! let request = tot_api::TraceRequest {
//!     argv: vec!["make".into()],
//!     cwd,
//!     options: selection.options.clone(),
//! };
//! # let _ = request; Ok(()) }
//! ```

#![deny(missing_docs)]

mod builtin;
mod dynamic;
mod error;
mod external;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tot_api::{Availability, Backend};
use tot_config::{Config, Declaration, Origin};

pub use builtin::{builtins, BuiltIn};
pub use dynamic::{load_plugin_library, DynamicBackend, PluginLibrary};
pub use error::{Error, ErrorKind};
pub use external::ExternalBackend;

/// Where a backend comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Source {
    /// Compiled into tot.
    BuiltIn,
    /// Declared in a config file.
    Config {
        /// The file.
        path: PathBuf,
        /// The line of the declaration.
        line: usize,
    },
    /// Found in a plugin directory.
    PluginDir {
        /// The plugin file.
        path: PathBuf,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in"),
            Source::Config { path, line } => write!(f, "config {}:{line}", path.display()),
            Source::PluginDir { path } => write!(f, "plugin {}", path.display()),
        }
    }
}

/// How an entry makes its backend.
#[derive(Debug, Clone)]
enum Provider {
    BuiltIn(BuiltIn),
    External(ExternalBackend),
    /// A library, loaded on first use.
    Library(PathBuf),
    /// A library that was already loaded (found in a plugin directory).
    Loaded(Arc<PluginLibrary>),
    /// A plugin file that could not be loaded: the error says why.
    Broken(Error),
}

/// One known backend.
#[derive(Debug, Clone)]
pub struct Entry {
    name: String,
    source: Source,
    provider: Provider,
    /// The platforms, when known without loading anything.
    declared_platforms: Option<Vec<String>>,
}

impl Entry {
    /// The name users pass to `--backend`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it comes from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Make the backend; for a dynamic plugin this loads the library.
    pub fn instantiate(&self) -> Result<Box<dyn Backend>, Error> {
        match &self.provider {
            Provider::BuiltIn(builtin) => Ok((builtin.make)()),
            Provider::External(external) => Ok(Box::new(external.clone())),
            Provider::Library(path) => {
                let library = load_plugin_library(path)?;
                Ok(Box::new(DynamicBackend::new(self.name.clone(), library)))
            }
            Provider::Loaded(library) => Ok(Box::new(DynamicBackend::new(
                self.name.clone(),
                Arc::clone(library),
            ))),
            Provider::Broken(error) => Err(error.clone()),
        }
    }

    /// The platforms it runs on, whether it is usable here, and if not why and how to fix
    /// it. Loading or asking a plugin happens here.
    pub fn report(&self) -> BackendReport {
        let (platforms, availability) = match self.instantiate() {
            Ok(backend) => {
                let platforms = self
                    .declared_platforms
                    .clone()
                    .unwrap_or_else(|| backend.platforms());
                let here = std::env::consts::OS;
                let availability = if platforms.iter().any(|p| p == here) {
                    backend.availability()
                } else {
                    Availability::Unavailable {
                        reason: format!(
                            "{} runs on {} only, not {here}",
                            self.name,
                            platforms.join(", ")
                        ),
                        fix: "choose a backend usable here".into(),
                    }
                };
                (platforms, availability)
            }
            Err(error) => (
                self.declared_platforms.clone().unwrap_or_default(),
                Availability::Unavailable {
                    reason: error.to_string(),
                    fix: fix_for(&error, &self.source),
                },
            ),
        };
        BackendReport {
            name: self.name.clone(),
            source: self.source.clone(),
            platforms,
            availability,
        }
    }
}

fn fix_for(error: &Error, source: &Source) -> String {
    let place = match source {
        Source::Config { path, line } => format!("the declaration at {}:{line}", path.display()),
        Source::PluginDir { path } => format!("{} from the plugin directory", path.display()),
        Source::BuiltIn => "the built-in".into(),
    };
    match error.kind() {
        ErrorKind::PluginNotFound => format!("build or install the plugin, or fix {place}"),
        ErrorKind::AbiMismatch => "rebuild the plugin against this tot's tot-plugin-abi".into(),
        _ => format!("remove or replace {place}"),
    }
}

/// What `tot backends` shows for one backend.
#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// Its name.
    pub name: String,
    /// Where it comes from.
    pub source: Source,
    /// The platforms it runs on.
    pub platforms: Vec<String>,
    /// Whether it is usable here.
    #[serde(serialize_with = "serialize_availability")]
    pub availability: Availability,
}

fn serialize_availability<S: serde::Serializer>(
    availability: &Availability,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(None)?;
    match availability {
        Availability::Available { detail } => {
            map.serialize_entry("usable", &true)?;
            map.serialize_entry("detail", detail)?;
        }
        Availability::Unavailable { reason, fix } => {
            map.serialize_entry("usable", &false)?;
            map.serialize_entry("reason", reason)?;
            map.serialize_entry("fix", fix)?;
        }
    }
    map.end()
}

/// Why a backend was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `--backend NAME`.
    CommandLine,
    /// The config's `backend = "NAME"`, set there.
    Config(Origin),
    /// Nothing named one; it is the best usable here.
    BestUsable,
}

/// The backend a run uses, with its options from the configuration.
pub struct Selection {
    /// The backend.
    pub backend: Box<dyn Backend>,
    /// Its name.
    pub name: String,
    /// Options for `TraceRequest::options`, from `[backends.NAME]`.
    pub options: BTreeMap<String, String>,
    /// Why it was chosen.
    pub reason: Reason,
}

impl fmt::Debug for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selection")
            .field("name", &self.name)
            .field("options", &self.options)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Every backend tot knows.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<Entry>,
    warnings: Vec<String>,
}

impl Registry {
    /// The built-in backends only.
    pub fn with_builtins() -> Registry {
        let mut registry = Registry::default();
        for builtin in builtins() {
            registry.add(Entry {
                name: builtin.name.to_string(),
                source: Source::BuiltIn,
                provider: Provider::BuiltIn(builtin),
                declared_platforms: None,
            });
        }
        registry
    }

    /// Built-ins, plugins found in the plugin directories, and backends declared in the
    /// config. A plugin that cannot be loaded becomes an entry that says why; nothing here
    /// fails.
    pub fn from_config(config: &Config) -> Registry {
        let mut registry = Registry::with_builtins();
        for dir in config.plugin_dirs() {
            registry.scan_plugin_dir(&dir.value);
        }
        for (name, settings) in config.backends() {
            let platforms = settings.platforms.as_ref().map(|p| p.value.clone());
            let Some(declaration) = &settings.declaration else {
                if registry.get(name).is_none() {
                    registry.warnings.push(format!(
                        "the config has options for backend {name:?}, which does not exist{}",
                        suggestion_text(&registry.suggest(name))
                    ));
                }
                continue;
            };
            let (path, line) = match &declaration.origin {
                Origin::File { path, line, .. } => (path.clone(), *line),
                _ => (PathBuf::new(), 0),
            };
            let declared_in = format!("[backends.{name}] in {}:{line}", path.display());
            let provider = match &declaration.value {
                Declaration::Command { command, format } => {
                    Provider::External(ExternalBackend::command(
                        name.clone(),
                        command.clone(),
                        *format,
                        platforms.clone(),
                        declared_in,
                    ))
                }
                Declaration::Plugin { program } => Provider::External(ExternalBackend::plugin(
                    name.clone(),
                    program.clone(),
                    platforms.clone(),
                    declared_in,
                )),
                Declaration::Library { path } => Provider::Library(path.clone()),
            };
            registry.add(Entry {
                name: name.clone(),
                source: Source::Config { path, line },
                provider,
                declared_platforms: platforms,
            });
        }
        registry
    }

    /// Add `entry`, replacing an entry of the same name (later sources take precedence).
    fn add(&mut self, entry: Entry) {
        if let Some(existing) = self.entries.iter_mut().find(|e| e.name == entry.name) {
            self.warnings.push(format!(
                "backend {:?} from {} replaces the one from {}",
                entry.name, entry.source, existing.source
            ));
            *existing = entry;
        } else {
            self.entries.push(entry);
        }
    }

    fn scan_plugin_dir(&mut self, dir: &Path) {
        let Ok(listing) = std::fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = listing.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if file_name.starts_with('.') || !path.is_file() {
                continue;
            }
            let is_library = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("so" | "dylib")
            );
            if is_library {
                let entry = match load_plugin_library(&path) {
                    Ok(library) => Entry {
                        name: library.name().to_string(),
                        source: Source::PluginDir { path: path.clone() },
                        declared_platforms: Some(library.platforms().to_vec()),
                        provider: Provider::Loaded(library),
                    },
                    Err(error) => Entry {
                        name: plugin_name_from_file(&file_name, true),
                        source: Source::PluginDir { path: path.clone() },
                        provider: Provider::Broken(error),
                        declared_platforms: None,
                    },
                };
                self.add(entry);
            } else if is_executable(&path) {
                let name = plugin_name_from_file(&file_name, false);
                let declared_in = format!("the plugin directory {}", dir.display());
                self.add(Entry {
                    name: name.clone(),
                    source: Source::PluginDir { path: path.clone() },
                    provider: Provider::External(ExternalBackend::plugin(
                        name,
                        path,
                        None,
                        declared_in,
                    )),
                    declared_platforms: None,
                });
            }
        }
    }

    /// Every entry, built-ins first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Every name.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// Things worth telling the user: shadowed backends, options for unknown backends.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The entry named `name`, or an error suggesting the closest names.
    pub fn lookup(&self, name: &str) -> Result<&Entry, Error> {
        self.get(name).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownBackend,
                format!(
                    "unknown backend {name:?}{}; known backends: {} (see `tot backends`)",
                    suggestion_text(&self.suggest(name)),
                    self.names().join(", ")
                ),
            )
        })
    }

    /// Known names close to `name`, closest first.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let wanted = name.to_lowercase();
        let mut scored: Vec<(f64, &str)> = self
            .entries
            .iter()
            .map(|e| {
                let known = e.name.to_lowercase();
                let mut score = strsim::jaro_winkler(&wanted, &known);
                if !wanted.is_empty() && (known.contains(&wanted) || wanted.contains(&known)) {
                    score = score.max(0.9);
                }
                (score, e.name.as_str())
            })
            .filter(|(score, _)| *score >= 0.8)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        // Only names about as close as the closest: "strase" is "strace", not "dtrace".
        let best = scored.first().map(|(score, _)| *score).unwrap_or(0.0);
        scored
            .into_iter()
            .filter(|(score, _)| *score >= best - 0.05)
            .take(3)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    /// What `tot backends` shows: every backend with its source, platforms and
    /// availability. Loads plugins and asks each backend.
    pub fn report(&self) -> Vec<BackendReport> {
        self.entries.iter().map(Entry::report).collect()
    }

    /// The backend for a run: `requested` (from `--backend`), else the config's default,
    /// else the first built-in usable here. Its options come from `[backends.NAME]`.
    ///
    /// Errors: an unknown name (closest names suggested), a plugin that cannot be loaded,
    /// a backend that is not usable here (with the reason and the fix), or no usable
    /// backend at all.
    pub fn select(&self, requested: Option<&str>, config: &Config) -> Result<Selection, Error> {
        let (name, reason) = match (requested, config.default_backend()) {
            (Some(name), _) => (name.to_string(), Reason::CommandLine),
            (None, Some(setting)) => (
                setting.value.clone(),
                Reason::Config(setting.origin.clone()),
            ),
            (None, None) => return self.best_usable(config),
        };
        let entry = self.lookup(&name).map_err(|err| match &reason {
            Reason::Config(origin) => Error::new(
                err.kind(),
                format!("{err} (the default backend is set at {origin})"),
            ),
            _ => err,
        })?;
        let backend = entry.instantiate()?;
        if let Availability::Unavailable { reason: why, fix } = backend.availability() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("backend {name:?} is not usable here: {why}; to fix: {fix}"),
            ));
        }
        Ok(Selection {
            backend,
            options: config.backend_options(&name),
            name,
            reason,
        })
    }

    fn best_usable(&self, config: &Config) -> Result<Selection, Error> {
        let here = std::env::consts::OS;
        let mut problems = Vec::new();
        for entry in self.entries.iter().filter(|e| e.source == Source::BuiltIn) {
            let Ok(backend) = entry.instantiate() else {
                continue;
            };
            if !backend.platforms().iter().any(|p| p == here) {
                continue;
            }
            match backend.availability() {
                Availability::Available { .. } => {
                    return Ok(Selection {
                        backend,
                        options: config.backend_options(&entry.name),
                        name: entry.name.clone(),
                        reason: Reason::BestUsable,
                    })
                }
                Availability::Unavailable { reason, fix } => {
                    problems.push(format!("{}: {reason} (fix: {fix})", entry.name));
                }
            }
        }
        Err(Error::new(
            ErrorKind::NoneUsable,
            if problems.is_empty() {
                format!("no built-in backend runs on {here}; declare one in the config (see `tot backends`)")
            } else {
                format!("no backend is usable here: {}", problems.join("; "))
            },
        ))
    }
}

fn suggestion_text(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean {one:?}?)"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("{s:?}")).collect();
            format!(" (did you mean one of {}?)", quoted.join(", "))
        }
    }
}

/// `libtot_foo.so` → `tot_foo`; `tot-backend-pyexec.py` → `pyexec`.
fn plugin_name_from_file(file_name: &str, library: bool) -> String {
    let stem = match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file_name,
    };
    let stem = if library {
        stem.strip_prefix("lib").unwrap_or(stem)
    } else {
        stem
    };
    stem.strip_prefix("tot-backend-")
        .unwrap_or(stem)
        .to_string()
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests;
