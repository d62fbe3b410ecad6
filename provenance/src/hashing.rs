//! Content hashing with a per-run cache, so an unchanged file is read once per run.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fast_hash::FastBuild;

/// Read buffer size: large enough for few syscalls, small enough for the memory budget.
const READ_BUFFER_BYTES: usize = 128 * 1024;

/// The cache is cleared when it reaches this many entries (about 8 MiB), to keep memory
/// bounded on runs that touch millions of files.
const CACHE_LIMIT: usize = 100_000;

/// What identifies one version of one file without reading it. The ctime changes on any
/// write, even one that restores the mtime.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct VersionKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl VersionKey {
    fn of(meta: &Metadata) -> Self {
        VersionKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: mtime_ns(meta),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
        }
    }
}

fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// Which file (not which version): device and inode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
}

/// A hashed file version.
#[derive(Clone, Debug)]
pub(crate) struct Hashed {
    pub sha256: [u8; 32],
    pub size: u64,
    pub mtime_ns: i64,
    pub identity: FileIdentity,
}

/// The result of trying to hash a path.
#[derive(Debug)]
pub(crate) enum HashOutcome {
    Hashed(Hashed),
    /// Nothing is at the path any more.
    Vanished,
    Directory,
    /// A FIFO, socket or device: never read, it could block or have side effects.
    NotRegular,
    Unreadable(String),
}

/// Hashes files, remembering each version's hash for the rest of the run.
pub(crate) struct ContentHasher {
    cache: HashMap<VersionKey, [u8; 32], FastBuild>,
    buffer: Vec<u8>,
    /// Files actually read and hashed.
    pub files_hashed: u64,
    /// Bytes read for hashing.
    pub bytes_hashed: u64,
    /// Lookups answered by the cache.
    pub cache_hits: u64,
}

impl ContentHasher {
    pub fn new() -> Self {
        ContentHasher {
            cache: HashMap::default(),
            buffer: vec![0; READ_BUFFER_BYTES],
            files_hashed: 0,
            bytes_hashed: 0,
            cache_hits: 0,
        }
    }

    /// Which file is at `path` now, if any.
    pub fn identity(path: &Path) -> Option<FileIdentity> {
        std::fs::metadata(path).ok().map(|meta| FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Hashes the file at `path` (following symlinks), from the cache when this version
    /// was hashed before.
    pub fn hash(&mut self, path: &Path) -> HashOutcome {
        // stat first: a cache hit costs one syscall, and devices and FIFOs are never opened.
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(error) => return outcome_of_error(&error),
        };
        if meta.is_dir() {
            return HashOutcome::Directory;
        }
        if !meta.is_file() {
            return HashOutcome::NotRegular;
        }
        let key = VersionKey::of(&meta);
        if let Some(sha256) = self.cache.get(&key) {
            self.cache_hits += 1;
            return HashOutcome::Hashed(hashed(*sha256, &key));
        }
        // O_NONBLOCK: if the path was swapped for a FIFO since the stat, don't hang on it.
        match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(file) => self.hash_open_file(&file),
            Err(error) => outcome_of_error(&error),
        }
    }

    /// Opens a regular file read-only without blocking on FIFOs or taking a terminal;
    /// None for anything else.
    pub fn open_regular(path: &Path) -> Option<File> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
            .ok()?;
        file.metadata().ok()?.is_file().then_some(file)
    }

    /// Hashes the file open on `file` from its start, whatever its name is now: an output
    /// tot opened while it was being written can be hashed after it was renamed or
    /// removed.
    pub fn hash_open_file(&mut self, file: &File) -> HashOutcome {
        let meta = match file.metadata() {
            Ok(meta) if meta.is_file() => meta,
            Ok(meta) if meta.is_dir() => return HashOutcome::Directory,
            Ok(_) => return HashOutcome::NotRegular,
            Err(error) => return outcome_of_error(&error),
        };
        let key = VersionKey::of(&meta);
        if let Some(sha256) = self.cache.get(&key) {
            self.cache_hits += 1;
            return HashOutcome::Hashed(hashed(*sha256, &key));
        }
        // The held fd is tot's own: nothing else moves its offset.
        let rewound = file.try_clone().and_then(|mut dup| {
            dup.seek(SeekFrom::Start(0))?;
            Ok(dup)
        });
        let rewound = match rewound {
            Ok(rewound) => rewound,
            Err(error) => return outcome_of_error(&error),
        };
        let sha256 = match self.stream(rewound) {
            Ok(sha256) => sha256,
            Err(error) => return outcome_of_error(&error),
        };
        self.files_hashed += 1;
        // Cache only what was hashed from one stable version; a file still being written
        // gets hashed again next time.
        let stable = file
            .metadata()
            .map(|after| VersionKey::of(&after) == key)
            .unwrap_or(false);
        if stable {
            if self.cache.len() >= CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache.insert(key, sha256);
        }
        HashOutcome::Hashed(hashed(sha256, &key))
    }

    fn stream(&mut self, mut file: File) -> std::io::Result<[u8; 32]> {
        let mut digest = Sha256::new();
        loop {
            match file.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(count) => {
                    digest.update(&self.buffer[..count]);
                    self.bytes_hashed += count as u64;
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(digest.finalize().into())
    }
}

fn hashed(sha256: [u8; 32], key: &VersionKey) -> Hashed {
    Hashed {
        sha256,
        size: key.size,
        mtime_ns: key.mtime_ns,
        identity: FileIdentity {
            dev: key.dev,
            ino: key.ino,
        },
    }
}

fn outcome_of_error(error: &std::io::Error) -> HashOutcome {
    match error.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => HashOutcome::Vanished,
        Some(libc::EISDIR) => HashOutcome::Directory,
        Some(libc::ENXIO) | Some(libc::EWOULDBLOCK) => HashOutcome::NotRegular,
        _ => HashOutcome::Unreadable(error.to_string()),
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let mut hasher = ContentHasher::new();
        let HashOutcome::Hashed(first) = hasher.hash(&path) else {
            panic!("not hashed")
        };
        assert_eq!(
            hex(&first.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(first.size, 3);
        let HashOutcome::Hashed(_) = hasher.hash(&path) else {
            panic!("not hashed")
        };
        assert_eq!(hasher.files_hashed, 1);
        assert_eq!(hasher.cache_hits, 1);
        assert!(matches!(hasher.hash(dir.path()), HashOutcome::Directory));
        assert!(matches!(
            hasher.hash(&dir.path().join("none")),
            HashOutcome::Vanished
        ));
    }
}
