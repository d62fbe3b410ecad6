//! Which config files exist, in merge order.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::origin::Layer;
use crate::paths;

/// The name of a project's config file, looked for in the current directory and above.
pub const PROJECT_FILE: &str = ".tot.toml";

/// The system-wide config file.
pub const SYSTEM_FILE: &str = "/etc/tot/config.toml";

/// The environment variable naming one more config file, merged last.
pub const CONFIG_VARIABLE: &str = "TOT_CONFIG";

/// Where config files are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The system file, if one is looked for.
    pub system: Option<PathBuf>,
    /// The user's file, if one is looked for.
    pub user: Option<PathBuf>,
    /// The directory to start the walk up for [`PROJECT_FILE`] from.
    pub project_start: Option<PathBuf>,
    /// The file named by `$TOT_CONFIG`; it must exist.
    pub env: Option<PathBuf>,
}

impl Sources {
    /// The standard places, for a tot started in `cwd`: [`SYSTEM_FILE`], `config.toml` in
    /// the user's config directory ([`paths::user_config_dir`]), the nearest
    /// [`PROJECT_FILE`] from `cwd` up, and `$TOT_CONFIG`.
    pub fn standard(cwd: &Path) -> Self {
        Sources {
            system: Some(PathBuf::from(SYSTEM_FILE)),
            user: paths::user_config_dir().map(|dir| dir.join("config.toml")),
            project_start: Some(cwd.to_path_buf()),
            env: std::env::var_os(CONFIG_VARIABLE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    /// Every place looked at, in merge order, with whether a file is there.
    pub fn candidates(&self) -> Vec<(Layer, PathBuf, bool)> {
        let mut out = Vec::new();
        for (layer, path) in [(Layer::System, &self.system), (Layer::User, &self.user)] {
            if let Some(path) = path {
                out.push((layer, path.clone(), path.is_file()));
            }
        }
        if let Some(start) = &self.project_start {
            match find_project_file(start) {
                Some(path) => out.push((Layer::Project, path, true)),
                None => out.push((Layer::Project, start.join(PROJECT_FILE), false)),
            }
        }
        if let Some(path) = &self.env {
            out.push((Layer::Env, path.clone(), path.is_file()));
        }
        out
    }

    /// The files to merge, in order (lowest precedence first).
    ///
    /// Errors when `$TOT_CONFIG` names a file that does not exist: a name given on purpose
    /// that reads nothing is a mistake worth hearing about.
    pub fn files(&self) -> Result<Vec<(Layer, PathBuf)>, Error> {
        let mut files = Vec::new();
        for (layer, path, exists) in self.candidates() {
            if exists {
                files.push((layer, path));
            } else if layer == Layer::Env {
                let err = std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{CONFIG_VARIABLE} names a file that does not exist"),
                );
                return Err(Error::io(&path, &err));
            }
        }
        Ok(files)
    }
}

/// The nearest [`PROJECT_FILE`] in `start` or one of its ancestors.
pub fn find_project_file(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(PROJECT_FILE))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_project_file_wins() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(root.path().join(PROJECT_FILE), "").unwrap();
        std::fs::write(root.path().join("a").join(PROJECT_FILE), "").unwrap();
        assert_eq!(
            find_project_file(&deep),
            Some(root.path().join("a").join(PROJECT_FILE))
        );
    }

    #[test]
    fn a_missing_tot_config_file_is_an_error() {
        let sources = Sources {
            system: None,
            user: None,
            project_start: None,
            env: Some(PathBuf::from("/nonexistent/tot.toml")),
        };
        let err = sources.files().unwrap_err();
        assert!(err.to_string().contains("TOT_CONFIG"), "{err}");
    }
}
