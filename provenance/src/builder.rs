//! The builder proper: the process table, fd tables, open file descriptions, and the
//! bookkeeping that turns them into process entries and file accesses.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::mem;

use tot_api::{
    Access, AccessKind, Bytes, Diagnostic, Event, EventKind, EventSink, ExitStatus, FileAccess,
    OpenFlags, Outcome, PathAt, ProcessEntry, Severity,
};

use crate::fast_hash::FastBuild;
use crate::hashing::{hex, ContentHasher, FileIdentity, HashOutcome, Hashed};
use crate::path::{is_under, normalize, rebase, resolve};
use crate::{BuildOptions, Hashing};

type FastMap<K, V> = HashMap<K, V, FastBuild>;
type FastSet<K> = HashSet<K, FastBuild>;

/// Outputs tot holds open at once to hash them later; past this, outputs are hashed by
/// path only (and a temporary file may be gone by then).
const MAX_HELD_FILES: usize = 256;

/// Events held for one unknown task before it is recorded without a parent.
const ORPHAN_EVENT_LIMIT: usize = 4096;
/// Unknown tasks held at once; past this the oldest is recorded without a parent.
const ORPHAN_TASK_LIMIT: usize = 256;
/// Diagnostics kept; the rest are only counted.
const DIAGNOSTIC_LIMIT: usize = 200;
/// `AT_FDCWD`, in case a provider passes it instead of leaving `dirfd` out.
const AT_FDCWD: i32 = -100;
/// Event times at or above this (September 2001) are taken as nanoseconds since the epoch,
/// comparable with file times; smaller ones are relative to an unknown origin.
const ABSOLUTE_TIME_FLOOR: u64 = 1_000_000_000_000_000_000;
/// How much later than its event a file's mtime may be and still be the version the event
/// saw: slack for file systems whose clock runs a little ahead of ours (NFS).
const MTIME_SLACK_NS: i64 = 10_000_000;
/// Bound on following elided epochs to their successors (a chain is one hop in practice).
const FORWARD_HOPS_LIMIT: usize = 64;

/// Index of an epoch in `ProvenanceBuilder::epochs`.
type EpochIdx = u32;

/// Counters describing a build, for reports and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Events received.
    pub events: u64,
    /// Process entries produced.
    pub processes: u64,
    /// File accesses produced.
    pub accesses: u64,
    /// Files read and hashed.
    pub files_hashed: u64,
    /// Bytes read for hashing.
    pub bytes_hashed: u64,
    /// Hashes answered by the per-run cache.
    pub cache_hits: u64,
}

/// A vector of optional slots with a free list: stable indices, no per-item allocation.
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(index) => {
                self.items[index as usize] = Some(item);
                index
            }
            None => {
                self.items.push(Some(item));
                (self.items.len() - 1) as u32
            }
        }
    }

    fn get(&self, index: u32) -> Option<&T> {
        self.items.get(index as usize)?.as_ref()
    }

    fn get_mut(&mut self, index: u32) -> Option<&mut T> {
        self.items.get_mut(index as usize)?.as_mut()
    }

    fn remove(&mut self, index: u32) -> Option<T> {
        let item = self.items.get_mut(index as usize)?.take();
        if item.is_some() {
            self.free.push(index);
        }
        item
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().filter_map(Option::as_mut)
    }
}

/// One fd: which open file description it refers to (none for pipes, sockets and fds
/// tot did not see opened) and its close-on-exec flag.
#[derive(Clone, Copy)]
struct FdSlot {
    file: Option<u32>,
    cloexec: bool,
}

/// An fd table, shared by the processes made with `CLONE_FILES` (and all threads).
struct FdTable {
    fds: FastMap<i32, FdSlot>,
    users: u32,
}

/// A working directory, shared by the processes made with `CLONE_FS`.
struct FsState {
    cwd: Bytes,
    users: u32,
}

/// An open file description on a named file: shared by dups and by fork.
struct OpenFile {
    /// Fd slots referring to it, across all fd tables.
    refs: u32,
    /// Where the file is now (follows renames).
    path: Bytes,
    /// Earlier names of an output renamed while open.
    former_paths: Vec<Bytes>,
    writable: bool,
    /// `O_TMPFILE` not linked into the tree yet: it has no name.
    unnamed: bool,
    /// Its name was unlinked while it was open.
    unlinked: bool,
    /// The epoch that opened it.
    opener: EpochIdx,
    /// The opener truncated it or created it exclusively.
    opener_modified: bool,
    /// Epochs that wrote to it, in order of their first write.
    writers: Vec<EpochIdx>,
    /// Which file it is, seen at open, to tell it from a newcomer at the same path.
    identity: Option<FileIdentity>,
    /// tot's own read-only handle on a file opened for writing, taken when the open was
    /// seen, so the output can be hashed even if it is renamed or removed before tot
    /// catches up (compilers' temporary files live for milliseconds).
    held: Option<std::fs::File>,
}

/// What the run knows of one epoch for its whole length (ids are needed by late accesses).
struct EpochMeta {
    pid: u32,
    /// Assigned when the epoch is first needed in the record.
    id: Option<Box<str>>,
    next_access: u32,
    /// For an elided fork epoch: the epoch its pid exec'd into.
    forward: Option<EpochIdx>,
}

/// The current epoch of a live process.
struct Epoch {
    idx: EpochIdx,
    parent: Option<EpochIdx>,
    exe: Option<Bytes>,
    argv: Vec<Bytes>,
    cwd: Bytes,
    start: Option<u64>,
    /// Keys of (path, version) already recorded as read by this epoch.
    reads_seen: FastSet<u64>,
}

struct LiveProcess {
    pid: u32,
    /// Live tasks; the leader's tid stays in `tasks` while it is a zombie.
    threads: Vec<u32>,
    table: u32,
    fs: u32,
    epoch: Epoch,
    /// Made for a task seen before any spawn named it; a late spawn may still adopt it.
    adoptable: bool,
}

/// The content facts of an access.
#[derive(Clone, Debug)]
enum Content {
    Hashed {
        sha256: String,
        size: u64,
        mtime: i64,
    },
    Note(String),
    Unknown,
}

impl Content {
    fn note(text: &str) -> Self {
        Content::Note(text.to_string())
    }
}

impl From<Hashed> for Content {
    fn from(hashed: Hashed) -> Self {
        Content::Hashed {
            sha256: hex(&hashed.sha256),
            size: hashed.size,
            mtime: hashed.mtime_ns,
        }
    }
}

/// A finished output waiting for (or getting) its hash.
struct Output {
    path: Bytes,
    /// Every name it had while written; each writer gets a `write` on each.
    names: Vec<Bytes>,
    writers: Vec<EpochIdx>,
    identity: Option<FileIdentity>,
    time: Option<u64>,
    /// The file itself, when tot held it open (see [`OpenFile::held`]).
    held: Option<std::fs::File>,
}

/// A file produced in this run, remembered so a rename or link can credit its writers.
struct Produced {
    writers: Vec<EpochIdx>,
    content: Content,
}

/// Events of a task no spawn has named yet.
struct Orphan {
    serial: u64,
    events: Vec<Event>,
}

/// Folds an event stream into process entries and file accesses. See the crate docs
/// for the semantics.
pub struct ProvenanceBuilder {
    run_id: String,
    initial_cwd: Bytes,
    ignore: Vec<Bytes>,
    pseudo_fs: Vec<Bytes>,
    hasher: Option<ContentHasher>,
    tasks: FastMap<u32, u32>,
    processes: FastMap<u32, LiveProcess>,
    tables: Slab<FdTable>,
    filesystems: Slab<FsState>,
    files: Slab<OpenFile>,
    /// A handle on the file of the open being applied, taken by the caller as soon as it
    /// read the event (see [`ProvenanceBuilder::event_with_handle`]): raw path, fd, file.
    pre_opened: Option<(Bytes, i32, std::fs::File)>,
    /// How many outputs tot holds open (bounded by [`MAX_HELD_FILES`]).
    held_files: usize,
    epochs: Vec<EpochMeta>,
    entries_per_pid: FastMap<u32, u32>,
    root_pid: Option<u32>,
    root_exit: Option<ExitStatus>,
    orphans: FastMap<u32, Orphan>,
    next_orphan_serial: u64,
    replay: VecDeque<Event>,
    pending_outputs: Vec<Output>,
    produced: FastMap<Bytes, Produced>,
    generations: FastMap<Bytes, u32>,
    done_processes: Vec<ProcessEntry>,
    done_accesses: Vec<FileAccess>,
    diagnostics: Vec<Diagnostic>,
    suppressed_diagnostics: u64,
    stats: BuildStats,
}

impl ProvenanceBuilder {
    /// A builder for one run.
    pub fn new(options: BuildOptions) -> Self {
        let normalize_all =
            |prefixes: Vec<Bytes>| prefixes.iter().map(|p| normalize(p.as_slice())).collect();
        ProvenanceBuilder {
            run_id: options.run_id,
            initial_cwd: normalize(options.initial_cwd.as_slice()),
            ignore: normalize_all(options.ignore),
            pseudo_fs: normalize_all(options.pseudo_fs),
            hasher: match options.hashing {
                Hashing::Live => Some(ContentHasher::new()),
                Hashing::Off => None,
            },
            tasks: FastMap::default(),
            processes: FastMap::default(),
            tables: Slab::new(),
            filesystems: Slab::new(),
            files: Slab::new(),
            pre_opened: None,
            held_files: 0,
            epochs: Vec::new(),
            entries_per_pid: FastMap::default(),
            root_pid: None,
            root_exit: None,
            orphans: FastMap::default(),
            next_orphan_serial: 0,
            replay: VecDeque::new(),
            pending_outputs: Vec::new(),
            produced: FastMap::default(),
            generations: FastMap::default(),
            done_processes: Vec::new(),
            done_accesses: Vec::new(),
            diagnostics: Vec::new(),
            suppressed_diagnostics: 0,
            stats: BuildStats::default(),
        }
    }

    /// Process entries and accesses that are final now, in the order they became final.
    ///
    /// A process entry is final when its epoch ended (exec or exit); an access when it
    /// was hashed. An access of a still running epoch can be returned before that
    /// epoch's entry, which comes when it ends.
    pub fn drain_finished(&mut self) -> (Vec<ProcessEntry>, Vec<FileAccess>) {
        (
            mem::take(&mut self.done_processes),
            mem::take(&mut self.done_accesses),
        )
    }

    /// Diagnostics so far (then forgotten), for a caller that reports them live.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        mem::take(&mut self.diagnostics)
    }

    /// Ends the run: records tasks never named by a spawn, ends processes still running
    /// (no end, no exit status), closes what they held open, hashes pending outputs, and
    /// returns everything not drained yet, with the diagnostics not taken yet.
    pub fn finish(mut self) -> (Vec<ProcessEntry>, Vec<FileAccess>, Vec<Diagnostic>) {
        let mut orphans: Vec<(u64, u32)> = self
            .orphans
            .iter()
            .map(|(&tid, orphan)| (orphan.serial, tid))
            .collect();
        orphans.sort_unstable();
        for (_, tid) in orphans {
            self.adopt_orphan(tid);
            self.run_replay();
        }
        let mut live: Vec<(EpochIdx, u32)> = self
            .processes
            .iter()
            .map(|(&tgid, process)| (process.epoch.idx, tgid))
            .collect();
        live.sort_unstable();
        for (_, tgid) in live {
            self.end_process(tgid, None, None);
        }
        for output in mem::take(&mut self.pending_outputs) {
            match self.hash_output(&output) {
                Some(content) => self.emit_output(output, content),
                None => self.emit_output(output, Content::note("vanished")),
            }
        }
        if self.suppressed_diagnostics > 0 {
            let message = format!(
                "{} further provenance diagnostics were not kept",
                self.suppressed_diagnostics
            );
            self.diagnostics.push(Diagnostic {
                severity: Severity::Info,
                line: None,
                message,
            });
        }
        (
            mem::take(&mut self.done_processes),
            mem::take(&mut self.done_accesses),
            mem::take(&mut self.diagnostics),
        )
    }

    /// Exit status of the first process seen (the traced command), once it ended.
    pub fn root_exit(&self) -> Option<ExitStatus> {
        self.root_exit.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> BuildStats {
        let mut stats = self.stats;
        if let Some(hasher) = &self.hasher {
            stats.files_hashed = hasher.files_hashed;
            stats.bytes_hashed = hasher.bytes_hashed;
            stats.cache_hits = hasher.cache_hits;
        }
        stats
    }

    // ---- dispatch -------------------------------------------------------------------

    fn run_replay(&mut self) {
        while let Some(next) = self.replay.pop_front() {
            self.apply(next);
        }
    }

    fn apply(&mut self, event: Event) {
        let tgid = match self.tasks.get(&event.tid) {
            Some(&tgid) => tgid,
            None if self.root_pid.is_none() => {
                self.root_pid = Some(event.tid);
                self.new_attached_process(event.tid, event.ts);
                event.tid
            }
            None => {
                self.hold(event);
                return;
            }
        };
        let Event { tid, ts, ev } = event;
        match ev {
            EventKind::Spawn {
                child,
                thread,
                shares_files,
                shares_fs,
            } => self.on_spawn(tgid, child, thread, shares_files, shares_fs, ts),
            EventKind::Exec {
                dirfd,
                path,
                argv,
                cwd,
                ..
            } => self.on_exec(tid, tgid, dirfd, &path, argv, cwd, ts),
            EventKind::Exit { status } => self.on_exit(tid, tgid, status, ts),
            EventKind::Open {
                dirfd,
                path,
                flags,
                outcome: Outcome::Ok(fd),
            } => {
                if let Ok(fd) = i32::try_from(fd) {
                    self.on_open(tgid, dirfd, &path, flags, fd, ts);
                }
            }
            EventKind::Open { .. } => {}
            EventKind::Close { fd } => self.close_fd(tgid, fd, ts),
            EventKind::CloseRange {
                first,
                last,
                cloexec,
            } => self.on_close_range(tgid, first, last, cloexec, ts),
            EventKind::Dup {
                fd,
                new_fd,
                cloexec,
            } => self.on_dup(tgid, fd, new_fd, cloexec, ts),
            EventKind::Pipe {
                read_fd,
                write_fd,
                cloexec,
            } => {
                let slot = FdSlot {
                    file: None,
                    cloexec,
                };
                self.install(tgid, read_fd, slot, ts);
                self.install(tgid, write_fd, slot, ts);
            }
            EventKind::OpenOther { fd, cloexec, .. } => {
                let slot = FdSlot {
                    file: None,
                    cloexec,
                };
                self.install(tgid, fd, slot, ts);
            }
            EventKind::SetCloexec { fd, cloexec } => {
                if let Some(slot) = self
                    .table_mut(tgid)
                    .and_then(|table| table.fds.get_mut(&fd))
                {
                    slot.cloexec = cloexec;
                }
            }
            EventKind::Chdir { path } => {
                if let Some(dir) = self.resolve_at(tgid, None, &path) {
                    self.set_cwd(tgid, dir);
                }
            }
            EventKind::Fchdir { fd } => {
                if let Some(dir) = self.fd_path(tgid, fd) {
                    self.set_cwd(tgid, dir);
                }
            }
            EventKind::Rename { from, to } => self.on_rename(tgid, &from, &to, ts),
            EventKind::Link { from, to } => self.on_link(tgid, &from, &to, ts),
            EventKind::Symlink { target, link } => {
                if let Some(link) = self.resolve_path_at(tgid, &link) {
                    let epoch = self.current_epoch(tgid);
                    let content = Content::Unknown;
                    self.record(epoch, link, AccessKind::Symlink, Some(target), content, ts);
                }
            }
            EventKind::Unlink { path } => self.on_unlink(tgid, &path, ts),
            EventKind::Rmdir { path } => self.record_plain(tgid, &path, AccessKind::Delete, ts),
            EventKind::Mkdir { path } => self.record_plain(tgid, &path, AccessKind::Mkdir, ts),
            EventKind::Truncate { path } => self.on_truncate(tgid, &path, ts),
            EventKind::Write { fd } | EventKind::Ftruncate { fd } => self.on_write(tgid, fd),
            EventKind::Signal { .. } | EventKind::Other { .. } => {}
        }
    }

    // ---- tasks and processes ----------------------------------------------------------

    /// Holds an event of a task no spawn has named yet (strace often prints a child's
    /// first calls before the parent's `clone` returns).
    fn hold(&mut self, event: Event) {
        let tid = event.tid;
        let is_exit = matches!(event.ev, EventKind::Exit { .. });
        match self.orphans.get_mut(&tid) {
            // The end of a task that did nothing we saw, such as a thread ended by
            // another thread's exec: nothing to record.
            None if is_exit => {}
            None => {
                if self.orphans.len() >= ORPHAN_TASK_LIMIT {
                    let oldest = self
                        .orphans
                        .iter()
                        .min_by_key(|(_, orphan)| orphan.serial)
                        .map(|(&tid, _)| tid);
                    if let Some(oldest) = oldest {
                        self.adopt_orphan(oldest);
                    }
                }
                let serial = self.next_orphan_serial;
                self.next_orphan_serial += 1;
                let events = vec![event];
                self.orphans.insert(tid, Orphan { serial, events });
            }
            Some(orphan) => {
                orphan.events.push(event);
                if orphan.events.len() >= ORPHAN_EVENT_LIMIT {
                    self.adopt_orphan(tid);
                }
            }
        }
    }

    /// Gives up waiting for a spawn: the task becomes a process with no known parent,
    /// and its held events are replayed next.
    fn adopt_orphan(&mut self, tid: u32) {
        let Some(orphan) = self.orphans.remove(&tid) else {
            return;
        };
        let ts = orphan.events.first().and_then(|event| event.ts);
        self.new_attached_process(tid, ts);
        self.diagnostic(
            Severity::Info,
            format!("task {tid} was seen before any spawn named it; recorded with no parent"),
        );
        for event in orphan.events.into_iter().rev() {
            self.replay.push_front(event);
        }
    }

    /// A process tot did not see start: empty fd table, the initial cwd.
    fn new_attached_process(&mut self, pid: u32, start: Option<u64>) {
        let table = self.tables.insert(FdTable {
            fds: FastMap::default(),
            users: 1,
        });
        let cwd = self.initial_cwd.clone();
        let fs = self.filesystems.insert(FsState {
            cwd: cwd.clone(),
            users: 1,
        });
        let epoch = self.new_epoch(pid, None, None, Vec::new(), cwd, start);
        self.insert_process(pid, table, fs, epoch, true);
    }

    fn insert_process(&mut self, pid: u32, table: u32, fs: u32, epoch: Epoch, adoptable: bool) {
        if self.processes.contains_key(&pid) {
            // The pid is reused and the old process's end was not seen.
            self.end_process(pid, epoch.start, Some(ExitStatus::Unknown));
        }
        self.tasks.insert(pid, pid);
        self.processes.insert(
            pid,
            LiveProcess {
                pid,
                threads: vec![pid],
                table,
                fs,
                epoch,
                adoptable,
            },
        );
    }

    fn new_epoch(
        &mut self,
        pid: u32,
        parent: Option<EpochIdx>,
        exe: Option<Bytes>,
        argv: Vec<Bytes>,
        cwd: Bytes,
        start: Option<u64>,
    ) -> Epoch {
        let idx = self.epochs.len() as EpochIdx;
        self.epochs.push(EpochMeta {
            pid,
            id: None,
            next_access: 0,
            forward: None,
        });
        Epoch {
            idx,
            parent,
            exe,
            argv,
            cwd,
            start,
            reads_seen: FastSet::default(),
        }
    }

    fn on_spawn(
        &mut self,
        tgid: u32,
        child: u32,
        thread: bool,
        shares_files: bool,
        shares_fs: bool,
        ts: Option<u64>,
    ) {
        if let Some(&known) = self.tasks.get(&child) {
            self.adopt_known(tgid, child, known, thread);
            return;
        }
        if thread {
            self.tasks.insert(child, tgid);
            if let Some(process) = self.processes.get_mut(&tgid) {
                process.threads.push(child);
            }
        } else {
            let Some(parent) = self.processes.get(&tgid) else {
                return;
            };
            let (parent_table, parent_fs, creator) = (parent.table, parent.fs, parent.epoch.idx);
            let exe = parent.epoch.exe.clone();
            let argv = parent.epoch.argv.clone();
            self.materialize(creator);
            let table = if shares_files {
                if let Some(table) = self.tables.get_mut(parent_table) {
                    table.users += 1;
                }
                parent_table
            } else {
                self.copy_table(parent_table)
            };
            let cwd = self
                .filesystems
                .get(parent_fs)
                .map_or_else(|| self.initial_cwd.clone(), |fs| fs.cwd.clone());
            let fs = if shares_fs {
                if let Some(fs) = self.filesystems.get_mut(parent_fs) {
                    fs.users += 1;
                }
                parent_fs
            } else {
                self.filesystems.insert(FsState {
                    cwd: cwd.clone(),
                    users: 1,
                })
            };
            let epoch = self.new_epoch(child, Some(creator), exe, argv, cwd, ts);
            self.insert_process(child, table, fs, epoch, false);
        }
        if let Some(orphan) = self.orphans.remove(&child) {
            for event in orphan.events.into_iter().rev() {
                self.replay.push_front(event);
            }
        }
    }

    /// A spawn names a task that is already known: it was recorded as attached before
    /// the spawn arrived; give it its parent if its entry is still open.
    fn adopt_known(&mut self, tgid: u32, child: u32, known_tgid: u32, thread: bool) {
        let creator = self.processes.get(&tgid).map(|process| process.epoch.idx);
        let adopted = match (creator, self.processes.get_mut(&known_tgid)) {
            (Some(creator), Some(process))
                if !thread
                    && known_tgid == child
                    && process.adoptable
                    && process.epoch.parent.is_none() =>
            {
                process.epoch.parent = Some(creator);
                process.adoptable = false;
                Some(creator)
            }
            _ => None,
        };
        match adopted {
            Some(creator) => self.materialize(creator),
            None => self.diagnostic(
                Severity::Info,
                format!("spawn of task {child}, which is already running; ignored"),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_exec(
        &mut self,
        tid: u32,
        tgid: u32,
        dirfd: Option<i32>,
        path: &Bytes,
        argv: Vec<Bytes>,
        cwd: Option<Bytes>,
        ts: Option<u64>,
    ) {
        // Linux: every other thread ends, and the exec'ing thread takes the leader's tid.
        let Some(process) = self.processes.get_mut(&tgid) else {
            return;
        };
        let threads = mem::replace(&mut process.threads, vec![tgid]);
        for thread in threads.into_iter().chain([tid]) {
            if thread != tgid {
                self.tasks.remove(&thread);
            }
        }
        self.tasks.insert(tgid, tgid);
        if let Some(cwd) = cwd {
            if let Some(dir) = self.resolve_at(tgid, None, &cwd) {
                self.set_cwd(tgid, dir);
            }
        }
        let exe = self.resolve_at(tgid, dirfd, path);
        self.unshare_table(tgid);
        self.close_cloexec(tgid, ts);

        let cwd = self.cwd(tgid);
        let new = self.new_epoch(tgid, None, exe.clone(), argv, cwd, ts);
        let new_idx = new.idx;
        self.materialize(new_idx);
        let Some(process) = self.processes.get_mut(&tgid) else {
            return;
        };
        process.adoptable = false;
        let old = mem::replace(&mut process.epoch, new);
        let old_kept = self
            .epoch_meta(old.idx)
            .is_some_and(|meta| meta.id.is_some());
        let parent = if old_kept {
            let idx = old.idx;
            self.emit_entry(old, ts, None);
            Some(idx)
        } else {
            // A fork epoch that did nothing worth recording: the exec'd program stands
            // in for it (also as the opener of files it truncated).
            if let Some(meta) = self.epochs.get_mut(old.idx as usize) {
                meta.forward = Some(new_idx);
            }
            old.parent
        };
        if let Some(process) = self.processes.get_mut(&tgid) {
            process.epoch.parent = parent;
        }
        if let Some(exe) = exe {
            let content = self.content_of_input(&exe, ts);
            self.record(new_idx, exe, AccessKind::Exec, None, content, ts);
        }
    }

    fn on_exit(&mut self, tid: u32, tgid: u32, status: ExitStatus, ts: Option<u64>) {
        let Some(process) = self.processes.get_mut(&tgid) else {
            return;
        };
        process.threads.retain(|&thread| thread != tid);
        let last = process.threads.is_empty();
        if tid != tgid {
            self.tasks.remove(&tid);
        }
        // A leader that exits before its threads stays a zombie: the process goes on,
        // and its tid keeps naming it, until the last thread ends. The process's status
        // is that of its last task.
        //
        // A thread that execs loses its tid to the leader's: strace reports that as the
        // thread ending with no status (`+++ superseded by execve +++`) just before the
        // exec resumes under the leader's tid. If the leader is a zombie, that thread is
        // the last one: keep the process for the exec to come (else it ends at finish).
        let superseded = tid != tgid && status == ExitStatus::Unknown;
        if last && !superseded {
            self.end_process(tgid, ts, Some(status));
        }
    }

    fn end_process(&mut self, tgid: u32, ts: Option<u64>, exit: Option<ExitStatus>) {
        let Some(process) = self.processes.remove(&tgid) else {
            return;
        };
        self.tasks.remove(&tgid);
        for thread in &process.threads {
            self.tasks.remove(thread);
        }
        self.release_table(process.table, ts);
        self.release_fs(process.fs);
        if Some(process.pid) == self.root_pid && self.root_exit.is_none() {
            self.root_exit = Some(exit.clone().unwrap_or(ExitStatus::Unknown));
        }
        self.emit_entry(process.epoch, ts, exit);
    }

    fn emit_entry(&mut self, epoch: Epoch, end: Option<u64>, exit: Option<ExitStatus>) {
        self.materialize(epoch.idx);
        let id = self.epoch_id(epoch.idx);
        let parent = epoch.parent.map(|parent| {
            self.materialize(parent);
            self.epoch_id(parent)
        });
        let pid = self.epoch_meta(epoch.idx).map_or(0, |meta| meta.pid);
        self.stats.processes += 1;
        self.done_processes.push(ProcessEntry {
            id,
            pid,
            parent,
            exe: epoch.exe,
            argv: epoch.argv,
            cwd: epoch.cwd,
            start: epoch.start,
            end,
            exit,
        });
    }

    fn epoch_meta(&self, idx: EpochIdx) -> Option<&EpochMeta> {
        self.epochs.get(idx as usize)
    }

    /// Gives the epoch its id (`{run_id}:{pid}:{n}`) if it has none yet.
    fn materialize(&mut self, idx: EpochIdx) {
        let Some(meta) = self.epochs.get_mut(idx as usize) else {
            return;
        };
        if meta.id.is_some() {
            return;
        }
        let counter = self.entries_per_pid.entry(meta.pid).or_insert(0);
        meta.id = Some(format!("{}:{}:{}", self.run_id, meta.pid, counter).into_boxed_str());
        *counter += 1;
    }

    fn epoch_id(&self, idx: EpochIdx) -> String {
        self.epoch_meta(idx)
            .and_then(|meta| meta.id.as_deref())
            .unwrap_or_default()
            .to_string()
    }

    /// The epoch standing for `idx`: itself, or what an elided fork epoch exec'd into.
    fn follow_forward(&self, mut idx: EpochIdx) -> EpochIdx {
        for _ in 0..FORWARD_HOPS_LIMIT {
            match self.epoch_meta(idx).and_then(|meta| meta.forward) {
                Some(next) => idx = next,
                None => break,
            }
        }
        idx
    }

    fn current_epoch(&self, tgid: u32) -> EpochIdx {
        self.processes
            .get(&tgid)
            .map_or(0, |process| process.epoch.idx)
    }

    // ---- fd tables --------------------------------------------------------------------

    fn table_mut(&mut self, tgid: u32) -> Option<&mut FdTable> {
        let table = self.processes.get(&tgid)?.table;
        self.tables.get_mut(table)
    }

    fn copy_table(&mut self, source: u32) -> u32 {
        let fds = self
            .tables
            .get(source)
            .map(|table| table.fds.clone())
            .unwrap_or_default();
        for slot in fds.values() {
            if let Some(file) = slot.file.and_then(|file| self.files.get_mut(file)) {
                file.refs += 1;
            }
        }
        self.tables.insert(FdTable { fds, users: 1 })
    }

    /// exec gives a process sharing its fd table (`CLONE_FILES`) a private copy.
    fn unshare_table(&mut self, tgid: u32) {
        let Some(table) = self.processes.get(&tgid).map(|process| process.table) else {
            return;
        };
        let shared = self.tables.get(table).is_some_and(|t| t.users > 1);
        if shared {
            let copy = self.copy_table(table);
            if let Some(old) = self.tables.get_mut(table) {
                old.users -= 1;
            }
            if let Some(process) = self.processes.get_mut(&tgid) {
                process.table = copy;
            }
        }
    }

    fn close_cloexec(&mut self, tgid: u32, ts: Option<u64>) {
        let Some(table) = self.table_mut(tgid) else {
            return;
        };
        let mut doomed: Vec<i32> = table
            .fds
            .iter()
            .filter(|(_, slot)| slot.cloexec)
            .map(|(&fd, _)| fd)
            .collect();
        doomed.sort_unstable();
        for fd in doomed {
            self.close_fd(tgid, fd, ts);
        }
    }

    fn release_table(&mut self, table: u32, ts: Option<u64>) {
        let last = match self.tables.get_mut(table) {
            Some(fd_table) => {
                fd_table.users = fd_table.users.saturating_sub(1);
                fd_table.users == 0
            }
            None => false,
        };
        if !last {
            return;
        }
        let Some(fd_table) = self.tables.remove(table) else {
            return;
        };
        // Sorted, so outputs finish (and their access ids are given) in a fixed order.
        let mut slots: Vec<(i32, FdSlot)> = fd_table.fds.into_iter().collect();
        slots.sort_unstable_by_key(|&(fd, _)| fd);
        for (_, slot) in slots {
            if let Some(file) = slot.file {
                self.release_file(file, ts);
            }
        }
    }

    fn release_fs(&mut self, fs: u32) {
        let last = match self.filesystems.get_mut(fs) {
            Some(state) => {
                state.users = state.users.saturating_sub(1);
                state.users == 0
            }
            None => false,
        };
        if last {
            self.filesystems.remove(fs);
        }
    }

    /// Puts `slot` at `fd`, closing whatever was there.
    fn install(&mut self, tgid: u32, fd: i32, slot: FdSlot, ts: Option<u64>) {
        if fd < 0 {
            if let Some(file) = slot.file {
                self.release_file(file, ts);
            }
            return;
        }
        let Some(table) = self.table_mut(tgid) else {
            if let Some(file) = slot.file {
                self.release_file(file, ts);
            }
            return;
        };
        if let Some(previous) = table.fds.insert(fd, slot) {
            if let Some(file) = previous.file {
                self.release_file(file, ts);
            }
        }
    }

    fn close_fd(&mut self, tgid: u32, fd: i32, ts: Option<u64>) {
        let removed = self.table_mut(tgid).and_then(|table| table.fds.remove(&fd));
        if let Some(file) = removed.and_then(|slot| slot.file) {
            self.release_file(file, ts);
        }
    }

    fn on_close_range(&mut self, tgid: u32, first: u32, last: u32, cloexec: bool, ts: Option<u64>) {
        let Some(table) = self.table_mut(tgid) else {
            return;
        };
        let mut in_range: Vec<i32> = table
            .fds
            .keys()
            .copied()
            .filter(|&fd| fd >= 0 && (first..=last).contains(&(fd as u32)))
            .collect();
        in_range.sort_unstable();
        if cloexec {
            for fd in in_range {
                if let Some(slot) = table.fds.get_mut(&fd) {
                    slot.cloexec = true;
                }
            }
        } else {
            for fd in in_range {
                self.close_fd(tgid, fd, ts);
            }
        }
    }

    fn on_dup(&mut self, tgid: u32, fd: i32, new_fd: i32, cloexec: bool, ts: Option<u64>) {
        if fd == new_fd {
            return;
        }
        // A source tot never saw opened (inherited from outside) makes `new_fd` unknown
        // too: nothing written through it may be credited to what was there before.
        let file = self
            .table_mut(tgid)
            .and_then(|table| table.fds.get(&fd))
            .and_then(|slot| slot.file);
        if let Some(open) = file.and_then(|file| self.files.get_mut(file)) {
            open.refs += 1;
        }
        self.install(tgid, new_fd, FdSlot { file, cloexec }, ts);
    }

    fn release_file(&mut self, file: u32, ts: Option<u64>) {
        let last = match self.files.get_mut(file) {
            Some(open) => {
                open.refs = open.refs.saturating_sub(1);
                open.refs == 0
            }
            None => false,
        };
        if last {
            if let Some(open) = self.files.remove(file) {
                self.finish_file(open, ts);
            }
        }
    }

    /// The last fd of an open file description closed: if it was an output, hash it
    /// and credit its writers.
    fn finish_file(&mut self, mut file: OpenFile, ts: Option<u64>) {
        let held = file.held.take();
        if held.is_some() {
            self.held_files -= 1;
        }
        if file.unnamed {
            return;
        }
        let writers = if !file.writers.is_empty() {
            file.writers
        } else if file.opener_modified {
            let opener = self.follow_forward(file.opener);
            self.materialize(opener);
            vec![opener]
        } else {
            return;
        };
        let mut names = file.former_paths;
        names.push(file.path.clone());
        let output = Output {
            path: file.path,
            names,
            writers,
            identity: file.identity,
            time: ts,
            held,
        };
        if file.unlinked && output.held.is_none() {
            self.bump_generation(&output.path);
            self.emit_output(output, Content::note("vanished"));
        } else {
            self.settle_output(output);
        }
    }

    // ---- paths ------------------------------------------------------------------------

    fn cwd(&self, tgid: u32) -> Bytes {
        self.processes
            .get(&tgid)
            .and_then(|process| self.filesystems.get(process.fs))
            .map_or_else(|| self.initial_cwd.clone(), |fs| fs.cwd.clone())
    }

    fn set_cwd(&mut self, tgid: u32, dir: Bytes) {
        let Some(fs) = self.processes.get(&tgid).map(|process| process.fs) else {
            return;
        };
        if let Some(state) = self.filesystems.get_mut(fs) {
            state.cwd = dir;
        }
    }

    /// The path of the file open on `fd`, if tot knows it.
    fn fd_path(&self, tgid: u32, fd: i32) -> Option<Bytes> {
        let process = self.processes.get(&tgid)?;
        let slot = self.tables.get(process.table)?.fds.get(&fd)?;
        Some(self.files.get(slot.file?)?.path.clone())
    }

    fn resolve_path_at(&mut self, tgid: u32, at: &PathAt) -> Option<Bytes> {
        self.resolve_at(tgid, at.dirfd, &at.path)
    }

    /// The absolute normalized form of `path` as `tgid` passed it, relative to `dirfd`
    /// (or the cwd). None when it is relative to an fd tot does not know.
    fn resolve_at(&mut self, tgid: u32, dirfd: Option<i32>, path: &Bytes) -> Option<Bytes> {
        let raw = path.as_slice();
        if raw.first() == Some(&b'/') {
            return Some(normalize(raw));
        }
        let process = self.processes.get(&tgid)?;
        let base = match dirfd {
            None | Some(AT_FDCWD) => match self.filesystems.get(process.fs) {
                Some(fs) => &fs.cwd,
                None => &self.initial_cwd,
            },
            Some(fd) => {
                let open = self
                    .tables
                    .get(process.table)
                    .and_then(|table| table.fds.get(&fd))
                    .and_then(|slot| slot.file)
                    .and_then(|file| self.files.get(file));
                match open {
                    Some(open) => &open.path,
                    None => {
                        let message = format!(
                            "path {} is relative to fd {fd}, which tot did not see opened; access not recorded",
                            path.to_str_lossy()
                        );
                        self.diagnostic(Severity::Warning, message);
                        return None;
                    }
                }
            }
        };
        Some(resolve(base.as_slice(), raw))
    }

    // ---- file events --------------------------------------------------------------------

    fn on_open(
        &mut self,
        tgid: u32,
        dirfd: Option<i32>,
        raw_path: &Bytes,
        flags: OpenFlags,
        fd: i32,
        ts: Option<u64>,
    ) {
        let Some(path) = self.resolve_at(tgid, dirfd, raw_path) else {
            // Still occupy the fd, so writes to it are not credited to an older file.
            let slot = FdSlot {
                file: None,
                cloexec: flags.cloexec,
            };
            self.install(tgid, fd, slot, ts);
            return;
        };
        let readable = matches!(flags.access, Access::Read | Access::ReadWrite);
        let writable = matches!(flags.access, Access::Write | Access::ReadWrite);
        let opener_modified = flags.access != Access::Path
            && !flags.tmpfile
            && (flags.trunc || (flags.create && flags.excl));
        let pre_opened = match self.pre_opened.take() {
            Some((raw, pre_fd, file)) if pre_fd == fd && raw == *raw_path => Some(file),
            other => {
                self.pre_opened = other;
                None
            }
        };
        let (identity, held) = if writable && !flags.tmpfile && self.unhashed_note(&path).is_none()
        {
            match pre_opened {
                Some(file) => {
                    let identity = file.metadata().ok().map(|meta| FileIdentity {
                        dev: std::os::unix::fs::MetadataExt::dev(&meta),
                        ino: std::os::unix::fs::MetadataExt::ino(&meta),
                    });
                    let held =
                        (identity.is_some() && self.held_files < MAX_HELD_FILES).then(|| {
                            self.held_files += 1;
                            file
                        });
                    (identity, held)
                }
                None => {
                    let identity = ContentHasher::identity(path.as_path());
                    (
                        identity,
                        identity.and_then(|identity| self.hold_output(&path, identity)),
                    )
                }
            }
        } else {
            (None, None)
        };
        if readable && !flags.directory && !flags.tmpfile && !opener_modified {
            self.record_read(tgid, &path, ts);
        }
        let file = self.files.insert(OpenFile {
            refs: 1,
            path,
            former_paths: Vec::new(),
            writable,
            unnamed: flags.tmpfile,
            unlinked: false,
            opener: self.current_epoch(tgid),
            opener_modified,
            writers: Vec::new(),
            identity,
            held,
        });
        let slot = FdSlot {
            file: Some(file),
            cloexec: flags.cloexec,
        };
        self.install(tgid, fd, slot, ts);
    }

    fn record_read(&mut self, tgid: u32, path: &Bytes, ts: Option<u64>) {
        let generation = self.generations.get(path).copied().unwrap_or(0);
        let mut key = DefaultHasher::new();
        path.as_slice().hash(&mut key);
        generation.hash(&mut key);
        let key = key.finish();
        let Some(process) = self.processes.get_mut(&tgid) else {
            return;
        };
        if !process.epoch.reads_seen.insert(key) {
            return;
        }
        let epoch = process.epoch.idx;
        let content = self.content_of_input(path, ts);
        self.record(epoch, path.clone(), AccessKind::Read, None, content, ts);
    }

    fn on_write(&mut self, tgid: u32, fd: i32) {
        let Some(process) = self.processes.get(&tgid) else {
            return;
        };
        let epoch = process.epoch.idx;
        let Some(file) = self
            .tables
            .get(process.table)
            .and_then(|table| table.fds.get(&fd))
            .and_then(|slot| slot.file)
        else {
            return;
        };
        let Some(open) = self.files.get_mut(file) else {
            return;
        };
        if open.writers.last() == Some(&epoch) || open.writers.contains(&epoch) {
            return;
        }
        open.writers.push(epoch);
        self.materialize(epoch);
    }

    fn on_truncate(&mut self, tgid: u32, path: &PathAt, ts: Option<u64>) {
        let Some(path) = self.resolve_path_at(tgid, path) else {
            return;
        };
        let writer = self.current_epoch(tgid);
        self.materialize(writer);
        let output = Output {
            names: vec![path.clone()],
            path,
            writers: vec![writer],
            identity: None,
            time: ts,
            held: None,
        };
        self.settle_output(output);
    }

    fn on_rename(&mut self, tgid: u32, from: &PathAt, to: &PathAt, ts: Option<u64>) {
        let (Some(from), Some(to)) = (
            self.resolve_path_at(tgid, from),
            self.resolve_path_at(tgid, to),
        ) else {
            return;
        };
        if from == to {
            return;
        }
        let epoch = self.current_epoch(tgid);
        let produced = self.produced.remove(&from);
        // Open files follow their name.
        for open in self.files.iter_mut() {
            if let Some(moved) = rebase(open.path.as_slice(), from.as_slice(), to.as_slice()) {
                let old = mem::replace(&mut open.path, moved);
                if open.writable && !open.unnamed {
                    open.former_paths.push(old);
                }
            }
        }
        // Outputs whose file was gone when they closed: this may be where it went.
        let mut settled_here = None;
        for mut output in mem::take(&mut self.pending_outputs) {
            match rebase(output.path.as_slice(), from.as_slice(), to.as_slice()) {
                Some(moved) => {
                    let exact = output.path == from;
                    output.names.push(moved.clone());
                    output.path = moved;
                    self.settle_output(output);
                    if exact {
                        settled_here = self.produced.get(&to).map(|p| p.content.clone());
                    }
                }
                None => self.pending_outputs.push(output),
            }
        }
        let content = match (&produced, settled_here) {
            (Some(produced), _) => produced.content.clone(),
            (None, Some(content)) => content,
            (None, None) => {
                self.produced.remove(&to);
                self.content_of_renamed(&to, ts)
            }
        };
        self.record(
            epoch,
            from.clone(),
            AccessKind::RenameFrom,
            None,
            content.clone(),
            ts,
        );
        self.record(
            epoch,
            to.clone(),
            AccessKind::RenameTo,
            Some(from.clone()),
            content,
            ts,
        );
        if let Some(produced) = produced {
            self.credit_writers(&produced, &to, ts);
            self.produced.insert(to.clone(), produced);
        }
        self.bump_generation(&from);
        self.bump_generation(&to);
    }

    fn on_link(&mut self, tgid: u32, from: &PathAt, to: &PathAt, ts: Option<u64>) {
        let Some(to) = self.resolve_path_at(tgid, to) else {
            return;
        };
        // An O_TMPFILE getting its name: linkat(fd, "", AT_EMPTY_PATH) or
        // linkat(AT_FDCWD, "/proc/self/fd/N", AT_SYMLINK_FOLLOW).
        if let Some(file) = self.unnamed_file(tgid, from) {
            if let Some(open) = self.files.get_mut(file) {
                open.unnamed = false;
                open.path = to;
                open.identity = None;
            }
            return;
        }
        let Some(from) = self.resolve_path_at(tgid, from) else {
            return;
        };
        let epoch = self.current_epoch(tgid);
        let produced = self.produced.get(&from).map(|p| Produced {
            writers: p.writers.clone(),
            content: p.content.clone(),
        });
        let content = match &produced {
            Some(produced) => produced.content.clone(),
            None => self.content_of_renamed(&to, ts),
        };
        self.record(epoch, to.clone(), AccessKind::Link, Some(from), content, ts);
        match produced {
            Some(produced) => {
                self.credit_writers(&produced, &to, ts);
                self.produced.insert(to.clone(), produced);
            }
            None => {
                self.produced.remove(&to);
            }
        }
        self.bump_generation(&to);
    }

    /// The unnamed (`O_TMPFILE`) file a link source designates, if it is one.
    fn unnamed_file(&self, tgid: u32, from: &PathAt) -> Option<u32> {
        let raw = from.path.as_slice();
        let fd = if raw.is_empty() {
            from.dirfd?
        } else {
            let rest = raw.strip_prefix(b"/proc/self/fd/").or_else(|| {
                let prefix = format!("/proc/{tgid}/fd/");
                raw.strip_prefix(prefix.as_bytes())
            })?;
            std::str::from_utf8(rest).ok()?.parse().ok()?
        };
        let process = self.processes.get(&tgid)?;
        let file = self.tables.get(process.table)?.fds.get(&fd)?.file?;
        self.files.get(file)?.unnamed.then_some(file)
    }

    fn on_unlink(&mut self, tgid: u32, path: &PathAt, ts: Option<u64>) {
        let Some(path) = self.resolve_path_at(tgid, path) else {
            return;
        };
        let epoch = self.current_epoch(tgid);
        self.record(
            epoch,
            path.clone(),
            AccessKind::Delete,
            None,
            Content::Unknown,
            ts,
        );
        for open in self.files.iter_mut() {
            if open.path == path && !open.unnamed {
                open.unlinked = true;
            }
        }
        for output in mem::take(&mut self.pending_outputs) {
            if output.path == path {
                self.emit_output(output, Content::note("vanished"));
            } else {
                self.pending_outputs.push(output);
            }
        }
        self.produced.remove(&path);
        self.bump_generation(&path);
    }

    fn record_plain(&mut self, tgid: u32, path: &PathAt, kind: AccessKind, ts: Option<u64>) {
        if let Some(path) = self.resolve_path_at(tgid, path) {
            let epoch = self.current_epoch(tgid);
            self.record(epoch, path, kind, None, Content::Unknown, ts);
        }
    }

    // ---- outputs and hashing ------------------------------------------------------------

    /// Hashes a finished output and records it, or parks it until its file turns up.
    fn settle_output(&mut self, output: Output) {
        self.bump_generation(&output.path);
        if let Some(note) = self.unhashed_note(&output.path) {
            self.emit_output(output, Content::note(note));
            return;
        }
        match self.hash_output(&output) {
            Some(content) => self.emit_output(output, content),
            None => self.pending_outputs.push(output),
        }
    }

    /// The output's content, or None when its file is not (or no longer) at its path.
    fn hash_output(&mut self, output: &Output) -> Option<Content> {
        if let Some(note) = self.unhashed_note(&output.path) {
            return Some(Content::note(note));
        }
        let hasher = self.hasher.as_mut()?;
        if let Some(held) = &output.held {
            return Some(match hasher.hash_open_file(held) {
                HashOutcome::Hashed(hashed) => not_newer_than(Content::from(hashed), output.time),
                other => note_of(other),
            });
        }
        match hasher.hash(output.path.as_path()) {
            HashOutcome::Hashed(hashed) => {
                let same_file = output
                    .identity
                    .is_none_or(|identity| identity == hashed.identity);
                same_file.then(|| not_newer_than(Content::from(hashed), output.time))
            }
            HashOutcome::Vanished => None,
            other => Some(note_of(other)),
        }
    }

    fn emit_output(&mut self, output: Output, content: Content) {
        for &writer in &output.writers {
            for name in &output.names {
                self.record(
                    writer,
                    name.clone(),
                    AccessKind::Write,
                    None,
                    content.clone(),
                    output.time,
                );
            }
        }
        let produced = Produced {
            writers: output.writers,
            content,
        };
        self.produced.insert(output.path, produced);
    }

    /// A produced file got a new name: each of its writers produced that name too.
    fn credit_writers(&mut self, produced: &Produced, name: &Bytes, ts: Option<u64>) {
        for &writer in &produced.writers {
            self.record(
                writer,
                name.clone(),
                AccessKind::Write,
                None,
                produced.content.clone(),
                ts,
            );
        }
    }

    /// Content of `path` as of the event at `time`.
    /// Opens `path` read-only for hashing later, if it is still the file that was opened.
    fn hold_output(&mut self, path: &Bytes, identity: FileIdentity) -> Option<std::fs::File> {
        if self.held_files >= MAX_HELD_FILES {
            return None;
        }
        let file = ContentHasher::open_regular(path.as_path())?;
        let meta = file.metadata().ok()?;
        let same = FileIdentity {
            dev: std::os::unix::fs::MetadataExt::dev(&meta),
            ino: std::os::unix::fs::MetadataExt::ino(&meta),
        } == identity;
        if !same {
            return None;
        }
        self.held_files += 1;
        Some(file)
    }

    fn content_of_input(&mut self, path: &Bytes, time: Option<u64>) -> Content {
        if let Some(note) = self.unhashed_note(path) {
            return Content::note(note);
        }
        let Some(hasher) = self.hasher.as_mut() else {
            return Content::note("not hashed");
        };
        match hasher.hash(path.as_path()) {
            // Made earlier in this run and removed since (a compiler's temporary file):
            // what was read is what was produced there.
            HashOutcome::Vanished => match self.produced.get(path) {
                Some(produced) if matches!(produced.content, Content::Hashed { .. }) => {
                    produced.content.clone()
                }
                _ => Content::note("vanished"),
            },
            other => not_newer_than(note_of(other), time),
        }
    }

    /// Content of a file just renamed or linked to `path`, unless it is still open for
    /// writing (then its final hash comes with its `write` access).
    fn content_of_renamed(&mut self, path: &Bytes, time: Option<u64>) -> Content {
        let being_written = self
            .files
            .items
            .iter()
            .flatten()
            .any(|open| open.writable && !open.unnamed && open.path == *path);
        if being_written {
            return Content::note("open for writing");
        }
        self.content_of_input(path, time)
    }

    fn unhashed_note(&self, path: &Bytes) -> Option<&'static str> {
        if self.hasher.is_none() {
            return Some("not hashed");
        }
        let raw = path.as_slice();
        if self
            .pseudo_fs
            .iter()
            .any(|prefix| is_under(raw, prefix.as_slice()))
        {
            return Some("pseudo-filesystem");
        }
        if self
            .ignore
            .iter()
            .any(|prefix| is_under(raw, prefix.as_slice()))
        {
            return Some("ignored");
        }
        None
    }

    /// A new version of `path` exists: reads of it count again.
    fn bump_generation(&mut self, path: &Bytes) {
        match self.generations.get_mut(path) {
            Some(generation) => *generation = generation.wrapping_add(1),
            None => {
                self.generations.insert(path.clone(), 1);
            }
        }
    }

    fn record(
        &mut self,
        epoch: EpochIdx,
        path: Bytes,
        kind: AccessKind,
        source: Option<Bytes>,
        content: Content,
        time: Option<u64>,
    ) {
        self.materialize(epoch);
        let Some(meta) = self.epochs.get_mut(epoch as usize) else {
            return;
        };
        let process = meta.id.as_deref().unwrap_or_default().to_string();
        let id = format!("{process}:{}", meta.next_access);
        meta.next_access += 1;
        let (sha256, size, mtime, note) = match content {
            Content::Hashed {
                sha256,
                size,
                mtime,
            } => (Some(sha256), Some(size), Some(mtime), None),
            Content::Note(note) => (None, None, None, Some(note)),
            Content::Unknown => (None, None, None, None),
        };
        self.stats.accesses += 1;
        self.done_accesses.push(FileAccess {
            id,
            process,
            path,
            kind,
            source,
            sha256,
            size,
            mtime,
            time,
            note,
        });
    }

    fn diagnostic(&mut self, severity: Severity, message: String) {
        self.push_diagnostic(Diagnostic {
            severity,
            line: None,
            message,
        });
    }

    fn push_diagnostic(&mut self, diagnostic: Diagnostic) {
        if self.diagnostics.len() < DIAGNOSTIC_LIMIT {
            self.diagnostics.push(diagnostic);
        } else {
            self.suppressed_diagnostics += 1;
        }
    }
}

/// Events arrive a little after the fact (more when the builder is busy hashing a large
/// file), so the file hashed may already be a later version than the one the event saw:
/// a compiler's empty temp file already filled by the assembler, an input already
/// rewritten. When the event time is absolute and the file was modified after it (by
/// more than the slack), the hash is dropped rather than credited to the wrong version.
/// A file whose mtime is ahead of this machine's clock comes from a file system whose
/// clock runs ahead; its times prove nothing, so its hash is kept.
fn not_newer_than(content: Content, time: Option<u64>) -> Content {
    let Content::Hashed { mtime, .. } = &content else {
        return content;
    };
    let Some(time) = time.filter(|&time| time >= ABSOLUTE_TIME_FLOOR) else {
        return content;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(i64::MAX, |since| {
            i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
        });
    let event = i64::try_from(time).unwrap_or(i64::MAX);
    if *mtime > event.saturating_add(MTIME_SLACK_NS) && *mtime <= now {
        Content::note("changed before hashing")
    } else {
        content
    }
}

fn note_of(outcome: HashOutcome) -> Content {
    match outcome {
        HashOutcome::Hashed(hashed) => Content::from(hashed),
        HashOutcome::Vanished => Content::note("vanished"),
        HashOutcome::Directory => Content::note("directory"),
        HashOutcome::NotRegular => Content::note("not a regular file"),
        HashOutcome::Unreadable(reason) => Content::Note(format!("unreadable: {reason}")),
    }
}

impl ProvenanceBuilder {
    /// Like [`EventSink::event`], with a read-only handle on the file an `Open` for
    /// writing opened, taken by the caller the moment it read the event. Events reach the
    /// builder later than they happen (hashing takes time), and a short-lived output such
    /// as a compiler's temporary file may be gone by then; through the handle it is hashed
    /// all the same. The handle is used only if it belongs to this very open.
    pub fn event_with_handle(&mut self, event: Event, handle: Option<std::fs::File>) {
        if let (
            Some(file),
            EventKind::Open {
                path,
                outcome: Outcome::Ok(fd),
                ..
            },
        ) = (handle, &event.ev)
        {
            if let Ok(fd) = i32::try_from(*fd) {
                self.pre_opened = Some((path.clone(), fd, file));
            }
        }
        self.event(event);
        self.pre_opened = None;
    }
}

impl EventSink for ProvenanceBuilder {
    fn event(&mut self, event: Event) {
        self.stats.events += 1;
        self.apply(event);
        self.run_replay();
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.push_diagnostic(diagnostic);
    }
}
