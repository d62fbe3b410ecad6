//! Ignore lists: paths whose accesses tot does not record or hash.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// A compiled ignore list.
///
/// Patterns are globs over absolute paths: `*` and `?` stay within one path component,
/// `**` crosses any number of them, `[abc]` is a class. A pattern also covers everything
/// below what it names, so `/proc` ignores `/proc/self/maps`.
#[derive(Debug, Clone)]
pub struct IgnoreList {
    patterns: Vec<String>,
    set: GlobSet,
}

impl IgnoreList {
    /// Compile `patterns`; errors name the first bad pattern.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let pattern = pattern.as_ref();
            builder.add(compile(pattern)?);
            let below = format!("{}/**", pattern.trim_end_matches('/'));
            builder.add(compile(&below)?);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(IgnoreList {
            patterns: patterns.iter().map(|p| p.as_ref().to_string()).collect(),
            set,
        })
    }

    /// The patterns, as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `path` (bytes; need not be UTF-8) is ignored.
    pub fn is_ignored(&self, path: &[u8]) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            self.set
                .is_match(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
        }
        #[cfg(not(unix))]
        {
            self.set.is_match(String::from_utf8_lossy(path).as_ref())
        }
    }
}

impl Default for IgnoreList {
    fn default() -> Self {
        IgnoreList {
            patterns: Vec::new(),
            set: GlobSet::empty(),
        }
    }
}

/// Check one pattern; the message says what is wrong with it.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    compile(pattern).map(|_| ())
}

fn compile(pattern: &str) -> Result<Glob, String> {
    if pattern.is_empty() {
        return Err("an empty pattern would ignore nothing".into());
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("bad ignore pattern {pattern:?}: {}", e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_prefixes() {
        let list = IgnoreList::new(&["/proc", "/home/*/.cache/**", "**/*.pyc"]).unwrap();
        assert!(list.is_ignored(b"/proc"));
        assert!(list.is_ignored(b"/proc/self/maps"));
        assert!(!list.is_ignored(b"/procfs/x"));
        assert!(list.is_ignored(b"/home/ann/.cache/pip/x"));
        assert!(!list.is_ignored(b"/home/ann/b/.cache/x"));
        assert!(list.is_ignored(b"/src/pkg/__pycache__/m.cpython-311.pyc"));
        assert!(list.is_ignored(b"/proc/\xff\xfe"));
        assert!(!IgnoreList::default().is_ignored(b"/proc"));
        assert!(IgnoreList::new(&["/a/[b"]).is_err());
    }
}
