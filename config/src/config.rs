//! The merged configuration: every value with where it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use toml::Spanned;

use crate::discover::Sources;
use crate::error::{Error, ErrorKind};
use crate::file::LoadedFile;
use crate::origin::{Layer, Origin, Setting};
use crate::paths;

/// The environment variable that overrides the store location.
pub const DATA_DIR_VARIABLE: &str = "TOT_DATA_DIR";

/// Keys of a `[backends.NAME]` table that declare a backend; every other key is an option.
pub const DECLARATION_KEYS: &[&str] = &["command", "format", "platforms", "plugin", "library"];

/// The placeholders a `command = [...]` may use.
pub const PLACEHOLDERS: &[&str] = &["{command}", "{output}", "{cwd}"];

/// The platforms a backend may name.
pub const KNOWN_PLATFORMS: &[&str] = &["linux", "macos"];

/// tot's configuration, merged from every file found (see [`Sources`]): later files
/// override earlier ones key by key; `ignore` and `plugin_dirs` add up instead.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    files: Vec<ConfigFile>,
    default_backend: Option<Setting<String>>,
    ignore: Vec<Setting<PathBuf>>,
    plugin_dirs: Vec<Setting<PathBuf>>,
    data_dir: Setting<PathBuf>,
    backends: BTreeMap<String, BackendSettings>,
}

/// A config file that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// Which kind of file.
    pub layer: Layer,
    /// Where it is.
    pub path: PathBuf,
}

/// The `[backends.NAME]` table of one backend, merged.
#[derive(Debug, Clone, Serialize)]
pub struct BackendSettings {
    /// The backend's name.
    pub name: String,
    /// How the backend is provided, when the table declares one; `None` when the table
    /// only holds options for a built-in or a plugin found in a plugin directory.
    pub declaration: Option<Setting<Declaration>>,
    /// The platforms it runs on, when declared.
    pub platforms: Option<Setting<Vec<String>>>,
    /// Options passed to the backend as `TraceRequest::options`.
    pub options: BTreeMap<String, Setting<String>>,
}

impl BackendSettings {
    /// The options as the plain `key = value` strings a backend receives.
    pub fn option_strings(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .map(|(key, setting)| (key.clone(), setting.value.clone()))
            .collect()
    }
}

/// How a configured backend is provided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Declaration {
    /// An external command that runs the traced command and writes a trace:
    /// `command = ["mytracer", "-o", "{output}", "--", "{command}"]`.
    Command {
        /// The command line, with placeholders ([`PLACEHOLDERS`]).
        command: Vec<String>,
        /// What it writes.
        format: StreamFormat,
    },
    /// An out-of-process plugin following tot's calling convention:
    /// `PROGRAM --output FIFO [--option KEY=VALUE]... -- COMMAND...`.
    Plugin {
        /// The program.
        program: PathBuf,
    },
    /// A dynamic plugin: a shared library exporting tot's plugin C ABI.
    Library {
        /// The library.
        path: PathBuf,
    },
}

/// What an external command writes into `{output}` (or its stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StreamFormat {
    /// tot's event stream as JSON Lines (the plugin protocol).
    #[serde(rename = "tot-events")]
    TotEvents,
    /// strace's text output (`strace -f -ttt -o FILE`).
    #[serde(rename = "strace")]
    Strace,
}

impl StreamFormat {
    /// Every format, for messages.
    pub const ALL: [StreamFormat; 2] = [StreamFormat::TotEvents, StreamFormat::Strace];

    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamFormat::TotEvents => "tot-events",
            StreamFormat::Strace => "strace",
        }
    }
}

impl FromStr for StreamFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StreamFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = StreamFormat::ALL
                    .iter()
                    .map(|f| format!("{:?}", f.as_str()))
                    .collect();
                format!("unknown format {s:?}, expected one of {}", names.join(", "))
            })
    }
}

impl fmt::Display for StreamFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One merged value, flattened for display (`tot config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Dotted key, such as `backends.strace.seccomp` or `ignore[0]`.
    pub key: String,
    /// The value, written as TOML.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl Config {
    /// Discover and merge the standard files for a tot started in `cwd`.
    pub fn load(cwd: &Path) -> Result<Config, Error> {
        Config::load_from(&Sources::standard(cwd))
    }

    /// Merge the files found in `sources`.
    pub fn load_from(sources: &Sources) -> Result<Config, Error> {
        let mut loaded = Vec::new();
        for (layer, path) in sources.files()? {
            loaded.push(LoadedFile::read(layer, &path)?);
        }
        Config::merge(loaded)
    }

    /// Merge files given as text, lowest precedence first (for tests and tools).
    pub fn from_texts(files: Vec<(Layer, PathBuf, String)>) -> Result<Config, Error> {
        let mut loaded = Vec::new();
        for (layer, path, text) in files {
            loaded.push(LoadedFile::parse(layer, &path, text)?);
        }
        Config::merge(loaded)
    }

    /// The configuration with no file at all: every value its default.
    pub fn defaults() -> Config {
        Config::merge(Vec::new()).expect("merging no file cannot fail")
    }

    fn merge(files: Vec<LoadedFile>) -> Result<Config, Error> {
        let mut default_backend = None;
        let mut ignore = Vec::new();
        let mut plugin_dirs: Vec<Setting<PathBuf>> = paths::user_config_dir()
            .map(|dir| Setting::new(dir.join("plugins"), Origin::Default))
            .into_iter()
            .collect();
        let mut store_dir = None;
        // backend name -> key -> (index of the file, value)
        let mut tables: BTreeMap<String, BTreeMap<String, (usize, Spanned<toml::Value>)>> =
            BTreeMap::new();

        for (index, file) in files.iter().enumerate() {
            let raw = &file.raw;
            if let Some(name) = &raw.backend {
                if name.get_ref().trim().is_empty() {
                    return Err(file.error(
                        ErrorKind::InvalidValue,
                        name.span().start,
                        "`backend` is empty; name a backend (see `tot backends`) or remove the key",
                    ));
                }
                default_backend = Some(Setting::new(
                    name.get_ref().clone(),
                    file.origin(name.span().start),
                ));
            }
            for prefix in raw.ignore.iter().flatten() {
                let written = prefix.get_ref();
                if !(written.starts_with('/') || written.starts_with("~/")) {
                    return Err(file.error(
                        ErrorKind::InvalidValue,
                        prefix.span().start,
                        format!("ignore entries are absolute path prefixes (\"/proc\", \"~/.cache\"), not {written:?}"),
                    ));
                }
                ignore.push(Setting::new(
                    file.resolve_path(written),
                    file.origin(prefix.span().start),
                ));
            }
            for dir in raw.plugin_dirs.iter().flat_map(|dirs| dirs.get_ref()) {
                plugin_dirs.push(Setting::new(
                    file.resolve_path(dir.get_ref()),
                    file.origin(dir.span().start),
                ));
            }
            if let Some(dir) = raw.store.as_ref().and_then(|s| s.dir.as_ref()) {
                store_dir = Some(Setting::new(
                    file.resolve_path(dir.get_ref()),
                    file.origin(dir.span().start),
                ));
            }
            for (name, table) in raw.backends.iter().flatten() {
                let merged = tables.entry(name.clone()).or_default();
                for (key, value) in table {
                    merged.insert(key.clone(), (index, value.clone()));
                }
            }
        }

        let mut backends = BTreeMap::new();
        for (name, table) in tables {
            let settings = interpret_backend(&name, table, &files)?;
            backends.insert(name, settings);
        }

        let data_dir = match std::env::var_os(DATA_DIR_VARIABLE).filter(|d| !d.is_empty()) {
            Some(dir) => Setting::new(
                PathBuf::from(dir),
                Origin::Environment {
                    variable: DATA_DIR_VARIABLE.into(),
                },
            ),
            None => store_dir.unwrap_or_else(|| Setting::new(paths::data_dir(), Origin::Default)),
        };

        Ok(Config {
            files: files
                .iter()
                .map(|f| ConfigFile {
                    layer: f.layer,
                    path: f.path.clone(),
                })
                .collect(),
            default_backend,
            ignore,
            plugin_dirs,
            data_dir,
            backends,
        })
    }

    /// The files that were merged, lowest precedence first.
    pub fn files(&self) -> &[ConfigFile] {
        &self.files
    }

    /// The configured default backend (`backend = "..."`), if any.
    pub fn default_backend(&self) -> Option<&Setting<String>> {
        self.default_backend.as_ref()
    }

    /// Every `[backends.NAME]` table, by name.
    pub fn backends(&self) -> &BTreeMap<String, BackendSettings> {
        &self.backends
    }

    /// The `[backends.NAME]` table of `name`, if there is one.
    pub fn backend(&self, name: &str) -> Option<&BackendSettings> {
        self.backends.get(name)
    }

    /// The options configured for backend `name` (empty when none).
    pub fn backend_options(&self, name: &str) -> BTreeMap<String, String> {
        self.backend(name)
            .map(BackendSettings::option_strings)
            .unwrap_or_default()
    }

    /// The ignore list, in order, with origins: absolute path prefixes whose accesses are
    /// recorded without hashing (a prefix covers the directory and everything below it).
    pub fn ignore(&self) -> &[Setting<PathBuf>] {
        &self.ignore
    }

    /// The ignore list as plain paths.
    pub fn ignore_prefixes(&self) -> Vec<PathBuf> {
        self.ignore.iter().map(|s| s.value.clone()).collect()
    }

    /// The directories searched for plugins: the default one first, then configured ones.
    pub fn plugin_dirs(&self) -> &[Setting<PathBuf>] {
        &self.plugin_dirs
    }

    /// tot's data directory (the store location): `$TOT_DATA_DIR`, else `[store] dir`,
    /// else the platform default.
    pub fn data_dir(&self) -> &Setting<PathBuf> {
        &self.data_dir
    }

    /// Where run records are written: `records/` in [`Config::data_dir`].
    pub fn records_dir(&self) -> PathBuf {
        self.data_dir.value.join("records")
    }

    /// Every value, flattened, with where it came from.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
        let path = |p: &Path| quoted(&p.to_string_lossy());
        match &self.default_backend {
            Some(setting) => out.push(Entry {
                key: "backend".into(),
                value: quoted(&setting.value),
                origin: setting.origin.clone(),
            }),
            None => out.push(Entry {
                key: "backend".into(),
                value: "(unset: the best backend usable here)".into(),
                origin: Origin::Default,
            }),
        }
        out.push(Entry {
            key: "store.dir".into(),
            value: path(&self.data_dir.value),
            origin: self.data_dir.origin.clone(),
        });
        for (i, dir) in self.plugin_dirs.iter().enumerate() {
            out.push(Entry {
                key: format!("plugin_dirs[{i}]"),
                value: path(&dir.value),
                origin: dir.origin.clone(),
            });
        }
        for (i, prefix) in self.ignore.iter().enumerate() {
            out.push(Entry {
                key: format!("ignore[{i}]"),
                value: path(&prefix.value),
                origin: prefix.origin.clone(),
            });
        }
        for (name, backend) in &self.backends {
            let key = |k: &str| format!("backends.{}.{k}", toml_key(name));
            if let Some(declaration) = &backend.declaration {
                let origin = declaration.origin.clone();
                match &declaration.value {
                    Declaration::Command { command, format } => {
                        let list: Vec<String> = command.iter().map(|c| quoted(c)).collect();
                        out.push(Entry {
                            key: key("command"),
                            value: format!("[{}]", list.join(", ")),
                            origin: origin.clone(),
                        });
                        out.push(Entry {
                            key: key("format"),
                            value: quoted(format.as_str()),
                            origin,
                        });
                    }
                    Declaration::Plugin { program } => out.push(Entry {
                        key: key("plugin"),
                        value: path(program),
                        origin,
                    }),
                    Declaration::Library { path: library } => out.push(Entry {
                        key: key("library"),
                        value: path(library),
                        origin,
                    }),
                }
            }
            if let Some(platforms) = &backend.platforms {
                let list: Vec<String> = platforms.value.iter().map(|p| quoted(p)).collect();
                out.push(Entry {
                    key: key("platforms"),
                    value: format!("[{}]", list.join(", ")),
                    origin: platforms.origin.clone(),
                });
            }
            for (option, setting) in &backend.options {
                out.push(Entry {
                    key: key(&toml_key(option)),
                    value: quoted(&setting.value),
                    origin: setting.origin.clone(),
                });
            }
        }
        out
    }
}

/// A key as TOML would need it written: bare when it can be.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_string()
    } else {
        toml::Value::String(key.to_string()).to_string()
    }
}

type MergedTable = BTreeMap<String, (usize, Spanned<toml::Value>)>;

fn interpret_backend(
    name: &str,
    mut table: MergedTable,
    files: &[LoadedFile],
) -> Result<BackendSettings, Error> {
    let error = |(index, value): &(usize, Spanned<toml::Value>), kind, message: String| {
        files[*index].error(kind, value.span().start, message)
    };
    let origin =
        |(index, value): &(usize, Spanned<toml::Value>)| files[*index].origin(value.span().start);

    if let Some(any) = table.values().next() {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(error(
                any,
                ErrorKind::InvalidValue,
                format!("backend name {name:?} is not usable with --backend: use letters, digits, '-', '_' and '.'"),
            ));
        }
    }

    let command = table.remove("command");
    let format = table.remove("format");
    let platforms = table.remove("platforms");
    let plugin = table.remove("plugin");
    let library = table.remove("library");

    let mut declared: Vec<(&str, &(usize, Spanned<toml::Value>))> = Vec::new();
    for (key, value) in [
        ("command", &command),
        ("plugin", &plugin),
        ("library", &library),
    ] {
        if let Some(value) = value {
            declared.push((key, value));
        }
    }
    // Files merge key by key, so a later file that switches a backend from one kind to
    // another must not leave the old kind's key behind: the latest file wins.
    if declared.len() > 1 {
        let latest_file = declared
            .iter()
            .map(|(_, (index, _))| *index)
            .max()
            .unwrap_or(0);
        let in_latest: Vec<_> = declared
            .iter()
            .filter(|(_, (index, _))| *index == latest_file)
            .cloned()
            .collect();
        if in_latest.len() > 1 {
            let keys: Vec<&str> = in_latest.iter().map(|(key, _)| *key).collect();
            return Err(error(
                in_latest[1].1,
                ErrorKind::InvalidValue,
                format!(
                    "backend {name:?} sets both `{}`; a backend is one of `command`, `plugin` or `library`",
                    keys.join("` and `")
                ),
            ));
        }
        declared = in_latest;
    }

    let declaration = match declared.first() {
        None => None,
        Some(("command", value)) => {
            let command = string_array(value.1.get_ref()).ok_or_else(|| {
                error(
                    value,
                    ErrorKind::InvalidValue,
                    "`command` must be an array of strings".into(),
                )
            })?;
            if command.is_empty() {
                return Err(error(
                    value,
                    ErrorKind::InvalidValue,
                    "`command` is empty".into(),
                ));
            }
            if !command.iter().any(|arg| arg == "{command}") {
                return Err(error(
                    value,
                    ErrorKind::InvalidValue,
                    "`command` must contain the placeholder \"{command}\" as an element of its own: it becomes the traced command and its arguments".into(),
                ));
            }
            let format = match &format {
                None => StreamFormat::TotEvents,
                Some(value) => {
                    let text = value.1.get_ref().as_str().ok_or_else(|| {
                        error(
                            value,
                            ErrorKind::InvalidValue,
                            "`format` must be a string".into(),
                        )
                    })?;
                    text.parse()
                        .map_err(|message| error(value, ErrorKind::InvalidValue, message))?
                }
            };
            if let Some((key, value)) = table.iter().next() {
                return Err(error(
                    value,
                    ErrorKind::UnknownKey,
                    format!(
                        "unknown key `{key}` for command backend {name:?}, expected one of `command`, `format`, `platforms` (options go to built-in and plugin backends only)"
                    ),
                ));
            }
            Some(Setting::new(
                Declaration::Command { command, format },
                origin(value),
            ))
        }
        Some((key, value)) => {
            let written = value.1.get_ref().as_str().ok_or_else(|| {
                error(
                    value,
                    ErrorKind::InvalidValue,
                    format!("`{key}` must be a path (a string)"),
                )
            })?;
            let path = files[value.0].resolve_path(written);
            let declaration = if *key == "plugin" {
                Declaration::Plugin { program: path }
            } else {
                Declaration::Library { path }
            };
            Some(Setting::new(declaration, origin(value)))
        }
    };

    if let Some(format) = &format {
        if !matches!(
            declaration.as_ref().map(|d| &d.value),
            Some(Declaration::Command { .. })
        ) {
            return Err(error(
                format,
                ErrorKind::InvalidValue,
                "`format` applies only to a backend declared with `command`".into(),
            ));
        }
    }

    let platforms = match &platforms {
        None => None,
        Some(value) => {
            let list = string_array(value.1.get_ref()).ok_or_else(|| {
                error(
                    value,
                    ErrorKind::InvalidValue,
                    "`platforms` must be an array of strings".into(),
                )
            })?;
            if let Some(unknown) = list.iter().find(|p| !KNOWN_PLATFORMS.contains(&p.as_str())) {
                return Err(error(
                    value,
                    ErrorKind::InvalidValue,
                    format!("unknown platform {unknown:?}, expected one of \"linux\", \"macos\""),
                ));
            }
            Some(Setting::new(list, origin(value)))
        }
    };

    let mut options = BTreeMap::new();
    for (key, value) in &table {
        let text = match value.1.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Datetime(d) => d.to_string(),
            toml::Value::Array(_) | toml::Value::Table(_) => {
                return Err(error(
                    value,
                    ErrorKind::InvalidValue,
                    format!(
                        "option `{key}` of backend {name:?} must be a string, number or boolean"
                    ),
                ))
            }
        };
        options.insert(key.clone(), Setting::new(text, origin(value)));
    }

    Ok(BackendSettings {
        name: name.to_string(),
        declaration,
        platforms,
        options,
    })
}

fn string_array(value: &toml::Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_string))
        .collect()
}
