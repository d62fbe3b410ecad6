//! The provenance builder: folds a tot event stream into the process and file-access
//! lines of a run record, while the traced command runs.
//!
//! A backend pushes [`tot_api::Event`]s into a [`ProvenanceBuilder`] (it is an
//! [`tot_api::EventSink`]). The builder keeps what Linux keeps (a process table, fd
//! tables, open file descriptions, working directories) and turns each event into facts:
//! which process epoch ran which executable, read which file versions and produced which
//! ones, identified by the sha256 of their content. The caller streams the finished part
//! out with [`ProvenanceBuilder::drain_finished`] and collects the rest with
//! [`ProvenanceBuilder::finish`]; it writes the record file itself.
//!
//! # Semantics, in short
//!
//! - **Processes.** One [`ProcessEntry`](tot_api::ProcessEntry) per exec epoch, with id
//!   `{run_id}:{pid}:{n}` where `n` counts the entries of that pid in the run. Threads
//!   fold into their process. A forked child that never execs is an entry of its own
//!   (exe and argv copied from the parent). A forked child that execs *without having
//!   done anything worth recording* (no access, no child, no write) gets no entry of its
//!   own: the exec'd program's entry names the forking epoch as its parent. That keeps
//!   `make → sh → cc` free of a copy of `make` between each pair.
//! - **Out-of-order children.** strace may print a child's first calls before the
//!   parent's `clone` returns. Events of a task not yet known are held until a `spawn`
//!   names it (then replayed as its child), or until it exits, its buffer fills or the
//!   run ends (then it becomes a process with no known parent: attached mid-way).
//! - **Reads.** A successful open for reading (`read`, `read_write`, not `O_DIRECTORY`,
//!   not truncating) is a `read` access, hashed when the event arrives; once per epoch
//!   per path and version seen in this run.
//! - **Writes.** An open file description is an output when some process wrote to it
//!   (`write`/`ftruncate` event on any fd sharing it) or its opener truncated it
//!   (`O_TRUNC`) or created it exclusively (`O_CREAT|O_EXCL`). Plain `O_CREAT` without
//!   writes is not a write: the file usually existed (`touch`, append-mode logs), and
//!   the event cannot tell. The writers are the processes that wrote; the opener only
//!   when nobody wrote (so in `sh -c 'cat > out'`, `cat` is the writer of `out`, not the
//!   shell that opened it). Opened for writing but never written: no access. The file
//!   is hashed when its last fd closes (across dups, forks and exits), and every writer
//!   gets a `write` access carrying that final hash.
//! - **Renames.** `rename_from`/`rename_to` accesses for the renaming process, and a
//!   `write` access on the new name for each process that produced the file in this run
//!   (temp-then-rename). A hard link to a produced file does the same.
//! - **Hashing** ([`Hashing::Live`]): sha256 streamed through a 128 KiB buffer, cached
//!   per run by (device, inode, size, mtime, ctime). Pseudo-filesystems and ignored
//!   prefixes are recorded with a note and never read. An output whose file is gone
//!   when its last fd closes waits for a rename (then is hashed at the new name) and
//!   is otherwise noted `vanished`. [`Hashing::Off`] touches no file at all.
//! - **Held outputs.** A file opened for writing is held open read-only by tot (up to 256
//!   at once), through a handle the caller took the moment it read the event
//!   ([`ProvenanceBuilder::event_with_handle`]) or, failing that, one the builder takes
//!   itself. The output is hashed through it at its last close, even if it was renamed or
//!   removed meanwhile. An input that is gone when its open is processed takes the
//!   content produced at that path earlier in the run (a compiler's temporary file).
//! - **Late events.** Events reach the builder a little after the fact (more while it
//!   hashes a big file inline), so a file may already hold a later version when it is
//!   hashed. When event times are absolute (strace `-ttt`) and the file's mtime is more
//!   than 10 ms after the event, the access gets the note `changed before hashing`
//!   instead of the wrong hash.
//! - **Threads and exit.** A leader that exits while other threads run stays a zombie:
//!   the process ends with its last task, with that task's status. A thread that execs
//!   takes the leader's tid; the other threads end. An exit with unknown status of the
//!   last non-leader thread (strace's `superseded by execve`) does not end the process.
//! - **Streaming order.** A process entry is final only when its epoch ends, while its
//!   accesses are final as they happen: drained output can hold an access line before
//!   its process line, and a record cut short can hold accesses of a process that has
//!   no line.
//! - **Not seen.** Writes through `mmap` and growth by `fallocate` are not events, so a
//!   file only written that way counts as written only if its opener truncated or
//!   exclusively created it; its hash is then whatever is on disk at the last close.

#![deny(missing_docs)]

mod builder;
mod fast_hash;
mod hashing;
pub mod host;
mod path;

use sha2::{Digest, Sha256};
use tot_api::Bytes;

pub use builder::{BuildStats, ProvenanceBuilder};

/// Whether and how file contents are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hashing {
    /// Hash files on this machine while the run goes on.
    #[default]
    Live,
    /// Touch no file (events imported from another machine): accesses carry the note
    /// `not hashed`.
    Off,
}

/// The pseudo-filesystems recorded but never hashed, by default.
pub const DEFAULT_PSEUDO_FS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// How to build a record.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The run id, used as the prefix of every process and access id (see [`run_id`]).
    pub run_id: String,
    /// The absolute working directory of the traced command.
    pub initial_cwd: Bytes,
    /// Whether to hash file contents.
    pub hashing: Hashing,
    /// Path prefixes never hashed; their accesses are recorded with the note `ignored`.
    pub ignore: Vec<Bytes>,
    /// Path prefixes of pseudo-filesystems: recorded with the note `pseudo-filesystem`,
    /// never hashed.
    pub pseudo_fs: Vec<Bytes>,
}

impl BuildOptions {
    /// Whether tot may read the file at `path`: hashing is live, and the path is under
    /// neither a pseudo-filesystem nor an ignored prefix.
    pub fn may_read(&self, path: &[u8]) -> bool {
        self.hashing == Hashing::Live
            && !self
                .pseudo_fs
                .iter()
                .chain(&self.ignore)
                .any(|prefix| path::is_under(path, prefix.as_slice()))
    }

    /// Options with live hashing, no ignore list and the default pseudo-filesystems.
    pub fn new(run_id: impl Into<String>, initial_cwd: impl Into<Bytes>) -> Self {
        BuildOptions {
            run_id: run_id.into(),
            initial_cwd: initial_cwd.into(),
            hashing: Hashing::Live,
            ignore: Vec::new(),
            pseudo_fs: DEFAULT_PSEUDO_FS
                .iter()
                .map(|&prefix| prefix.into())
                .collect(),
        }
    }
}

/// A deterministic run id: `r-` followed by 16 hex digits of the sha256 of the machine
/// id, the start time and a seed (the root pid, or anything that tells apart runs
/// started in the same nanosecond).
pub fn run_id(machine_id: &str, start_ns: u64, root_pid_or_seed: u64) -> String {
    let mut digest = Sha256::new();
    digest.update(b"tot-run\0");
    digest.update(machine_id.as_bytes());
    digest.update(b"\0");
    digest.update(start_ns.to_le_bytes());
    digest.update(root_pid_or_seed.to_le_bytes());
    let hex = hashing::hex(&digest.finalize());
    format!("r-{}", &hex[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_deterministic_and_distinct() {
        let id = run_id("m", 1, 2);
        assert_eq!(id, run_id("m", 1, 2));
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("r-"));
        assert_ne!(id, run_id("m", 1, 3));
        assert_ne!(id, run_id("n", 1, 2));
        assert_ne!(id, run_id("m", 2, 2));
    }

    #[test]
    fn may_read_respects_hashing_pseudo_filesystems_and_the_ignore_list() {
        let mut options = BuildOptions::new("r", "/w");
        options.ignore.push("/secret".into());
        assert!(options.may_read(b"/w/out.o"));
        assert!(options.may_read(b"/devices.txt"));
        assert!(!options.may_read(b"/dev/tty"));
        assert!(!options.may_read(b"/proc/self/status"));
        assert!(!options.may_read(b"/secret/key"));
        options.hashing = Hashing::Off;
        assert!(!options.may_read(b"/w/out.o"));
    }
}
