//! Finding the command to trace before any tracer starts.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use tot_api::{BackendError, BackendErrorKind};

/// Resolve the program of a command line (`argv[0]`); an empty command line is refused as
/// [`BackendErrorKind::CommandNotFound`]. See [`resolve_command`].
pub fn resolve_argv(argv: &[std::ffi::OsString], cwd: &Path) -> Result<PathBuf, BackendError> {
    let program = argv.first().ok_or_else(|| {
        BackendError::new(
            BackendErrorKind::CommandNotFound,
            "no command given to trace",
        )
    })?;
    resolve_command(program, cwd)
}

/// Resolve `program` the way a shell would: a name with a `/` is a path (relative to
/// `cwd`), anything else is looked up in `PATH`.
///
/// Errors are [`BackendErrorKind::CommandNotFound`] (tot exits 127) or
/// [`BackendErrorKind::CommandNotExecutable`] (126), with a message naming the command.
pub fn resolve_command(program: &OsStr, cwd: &Path) -> Result<PathBuf, BackendError> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        return Err(BackendError::new(
            BackendErrorKind::CommandNotFound,
            "no command given to trace",
        ));
    }
    let has_slash = program.as_encoded_bytes().contains(&b'/');
    if !has_slash {
        let path = std::env::var_os("PATH").unwrap_or_default();
        return which::which_in(program, Some(path), cwd).map_err(|_| {
            BackendError::new(
                BackendErrorKind::CommandNotFound,
                format!("{shown}: command not found"),
            )
        });
    }
    let candidate = cwd.join(program);
    let meta = std::fs::metadata(&candidate).map_err(|e| {
        BackendError::new(BackendErrorKind::CommandNotFound, format!("{shown}: {e}"))
    })?;
    if meta.is_dir() || !is_executable(&meta) {
        return Err(BackendError::new(
            BackendErrorKind::CommandNotExecutable,
            format!("{shown}: permission denied (not an executable file)"),
        ));
    }
    Ok(candidate)
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_commands_in_path_and_refuses_missing_ones() {
        let cwd = std::env::current_dir().unwrap();
        assert!(resolve_command(OsStr::new("sh"), &cwd).is_ok());
        let err = resolve_command(OsStr::new("no-such-command-tot"), &cwd).unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::CommandNotFound);
        assert!(err
            .message
            .contains("no-such-command-tot: command not found"));
    }

    #[test]
    fn a_directory_is_not_executable() {
        let err = resolve_command(OsStr::new("/tmp/"), Path::new("/")).unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::CommandNotExecutable);
    }
}
