//! What the parser remembers about each task: its call in progress, and the events it
//! printed before the call that created it returned.
//!
//! strace prints a child's first lines before its parent's `clone`/`vfork` returns (a
//! `vfork` child always runs first). The provenance builder needs a task's `Spawn` before
//! the task's own events (the child inherits its parent's fds and cwd at the spawn), so
//! the events of a task that appears while some spawn call is still in progress are held
//! back until that call returns and its `Spawn` has been emitted.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tot_api::{Event, EventKind, EventSink};

use super::syscalls::Sys;

/// A fast hasher for tids (a multiplicative hash; tids are not attacker-chosen keys that
/// could hurt more than speed).
#[derive(Default)]
pub(crate) struct TidHasher(u64);

impl Hasher for TidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The most events held back for one task before they are let go anyway.
const MAX_HELD_EVENTS: usize = 10_000;

type TidMap<V> = HashMap<u32, V, BuildHasherDefault<TidHasher>>;

/// A call printed with `<unfinished ...>`, waiting for its `<... NAME resumed>` half.
#[derive(Debug)]
pub(crate) struct Pending {
    /// Which call.
    pub(crate) sys: Sys,
    /// `NAME(` and the arguments printed so far.
    pub(crate) text: Vec<u8>,
    /// The length of `NAME`.
    pub(crate) name_len: usize,
    /// It is known to have succeeded whatever its result line says: an execve whose
    /// thread took over the leader (`+++ superseded by execve +++` only follows a
    /// successful exec; strace 6.1 with `--seccomp-bpf` then prints a bogus
    /// `= -1 (errno 18446744073709551359)`).
    pub(crate) succeeded: bool,
}

impl Pending {
    /// The syscall's name.
    pub(crate) fn name(&self) -> &[u8] {
        &self.text[..self.name_len]
    }
}

#[derive(Debug, Default)]
struct Task {
    pending: Option<Pending>,
    /// Events held back until this task's `Spawn` is emitted.
    held: Option<Vec<Event>>,
    /// It exited while its events were held back.
    exited: bool,
}

/// Every task seen and not yet exited.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    map: TidMap<Task>,
    seen_any: bool,
    /// Calls in progress that create tasks.
    pending_spawns: usize,
    /// Tasks whose events are held back, in the order they appeared.
    held_order: Vec<u32>,
    /// Spare buffers for pending calls, so a busy trace does not allocate per call.
    spare: Vec<Vec<u8>>,
    /// The last tid [`Tasks::observe`] found in `map` (consecutive lines are often the
    /// same task's); cleared whenever a task is removed.
    last_observed: Option<u32>,
}

impl Tasks {
    /// Note that `tid` printed a line. A task never seen before is the root when it is the
    /// first; otherwise, if some spawn call is in progress, it is probably that call's
    /// child, and its events are held back until the call returns.
    #[inline]
    pub(crate) fn observe(&mut self, tid: u32) {
        if self.last_observed == Some(tid) {
            return;
        }
        if self.map.contains_key(&tid) {
            self.last_observed = Some(tid);
            return;
        }
        let held = if self.seen_any && self.pending_spawns > 0 {
            self.held_order.push(tid);
            Some(Vec::new())
        } else {
            None
        };
        self.seen_any = true;
        self.map.insert(
            tid,
            Task {
                held,
                ..Task::default()
            },
        );
    }

    /// The task an unprefixed line belongs to: the only task alive, when exactly one is;
    /// otherwise 0, the stand-in for the traced command's first process, whose pid strace
    /// does not print until a second process exists.
    pub(crate) fn unprefixed_tid(&self) -> u32 {
        if self.map.len() == 1 {
            if let Some(tid) = self.map.keys().next() {
                return *tid;
            }
        }
        0
    }

    /// The task that has a call named `name` in progress, when exactly one has.
    pub(crate) fn only_task_with_pending(&self, name: &[u8]) -> Option<u32> {
        let mut found = None;
        for (tid, task) in &self.map {
            if task.pending.as_ref().is_some_and(|p| p.name() == name) {
                if found.is_some() {
                    return None;
                }
                found = Some(*tid);
            }
        }
        found
    }

    /// Remember an unfinished call of `tid`; returns a call it replaces (which never
    /// finished).
    pub(crate) fn set_pending(
        &mut self,
        tid: u32,
        sys: Sys,
        text: &[u8],
        name_len: usize,
    ) -> Option<Pending> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(text);
        if sys.is_spawn() {
            self.pending_spawns += 1;
        }
        let task = self.map.entry(tid).or_default();
        let old = task.pending.replace(Pending {
            sys,
            text: buf,
            name_len,
            succeeded: false,
        });
        if let Some(old) = &old {
            if old.sys.is_spawn() {
                self.pending_spawns -= 1;
            }
        }
        old
    }

    /// Take the unfinished call of `tid`.
    pub(crate) fn take_pending(&mut self, tid: u32) -> Option<Pending> {
        let pending = self.map.get_mut(&tid)?.pending.take()?;
        if pending.sys.is_spawn() {
            self.pending_spawns -= 1;
        }
        Some(pending)
    }

    /// Put back a call taken with [`Tasks::take_pending`].
    pub(crate) fn restore_pending(&mut self, tid: u32, pending: Pending) {
        if pending.sys.is_spawn() {
            self.pending_spawns += 1;
        }
        self.map.entry(tid).or_default().pending = Some(pending);
    }

    /// Give a pending call's buffer back for reuse.
    pub(crate) fn recycle(&mut self, pending: Pending) {
        if self.spare.len() < 64 {
            self.spare.push(pending.text);
        }
    }

    /// All unfinished calls, in tid order (for the end of the input).
    pub(crate) fn take_all_pending(&mut self) -> Vec<(u32, Pending)> {
        let mut tids: Vec<u32> = self
            .map
            .iter()
            .filter(|(_, t)| t.pending.is_some())
            .map(|(tid, _)| *tid)
            .collect();
        tids.sort_unstable();
        tids.into_iter()
            .filter_map(|tid| self.take_pending(tid).map(|p| (tid, p)))
            .collect()
    }

    /// Whether any task's events are held back.
    #[inline]
    pub(crate) fn holding(&self) -> bool {
        !self.held_order.is_empty()
    }

    /// Send an event on its way: to the sink, or to the held-back events of its task.
    pub(crate) fn emit(&mut self, event: Event, sink: &mut dyn EventSink) {
        if self.holding() {
            let tid = event.tid;
            if let Some(held) = self.map.get_mut(&tid).and_then(|t| t.held.as_mut()) {
                let child = match &event.ev {
                    EventKind::Spawn { child, .. } => Some(*child),
                    _ => None,
                };
                let exit = matches!(event.ev, EventKind::Exit { .. });
                held.push(event);
                let too_many = held.len() > MAX_HELD_EVENTS;
                if exit {
                    if let Some(task) = self.map.get_mut(&tid) {
                        task.exited = true;
                    }
                }
                if let Some(child) = child {
                    // The child of a held-back task must wait for it too.
                    self.hold(child);
                }
                if too_many {
                    // Its creator's call is taking too long to return (or is not
                    // traced): stop holding this task back rather than grow forever.
                    self.released(tid, sink);
                }
                return;
            }
        }
        let spawned = match &event.ev {
            EventKind::Spawn { child, .. } => Some(*child),
            _ => None,
        };
        let exited = matches!(event.ev, EventKind::Exit { .. }).then_some(event.tid);
        sink.event(event);
        if let Some(child) = spawned {
            self.released(child, sink);
        }
        if let Some(tid) = exited {
            self.remove(tid);
        }
    }

    /// Make sure `tid` exists and its events are held back.
    fn hold(&mut self, tid: u32) {
        let task = self.map.entry(tid).or_default();
        if task.held.is_none() {
            task.held = Some(Vec::new());
            self.held_order.push(tid);
        }
    }

    /// A task's `Spawn` was emitted: emit what it held back, then (depth first) what its
    /// own children held back.
    fn released(&mut self, child: u32, sink: &mut dyn EventSink) {
        let Some(first) = self.take_held(child) else {
            self.map.entry(child).or_default();
            return;
        };
        let mut stack = vec![(child, first.into_iter())];
        while let Some((tid, events)) = stack.last_mut() {
            let tid = *tid;
            match events.next() {
                Some(event) => {
                    let spawned = match &event.ev {
                        EventKind::Spawn { child, .. } => Some(*child),
                        _ => None,
                    };
                    sink.event(event);
                    if let Some(grandchild) = spawned {
                        match self.take_held(grandchild) {
                            Some(held) => stack.push((grandchild, held.into_iter())),
                            None => {
                                self.map.entry(grandchild).or_default();
                            }
                        }
                    }
                }
                None => {
                    stack.pop();
                    if self.map.get(&tid).is_some_and(|t| t.exited) {
                        self.remove(tid);
                    }
                }
            }
        }
    }

    fn remove(&mut self, tid: u32) {
        self.map.remove(&tid);
        self.last_observed = None;
    }

    fn take_held(&mut self, tid: u32) -> Option<Vec<Event>> {
        let held = self.map.get_mut(&tid)?.held.take()?;
        self.held_order.retain(|t| *t != tid);
        Some(held)
    }

    /// When no spawn call is in progress any more, nothing will release the tasks still
    /// held back (their creator was not traced, or died in the call): emit their events.
    pub(crate) fn release_if_no_spawn_pending(&mut self, sink: &mut dyn EventSink) {
        if self.pending_spawns == 0 {
            self.release_all(sink);
        }
    }

    /// Emit everything held back, in the order the tasks appeared.
    pub(crate) fn release_all(&mut self, sink: &mut dyn EventSink) {
        while let Some(&tid) = self.held_order.first() {
            self.released(tid, sink);
            // `released` took it off the list; make sure, so this loop always ends.
            self.held_order.retain(|t| *t != tid);
        }
    }

    /// Forget a task that vanished (a thread whose execve made it the leader).
    pub(crate) fn forget(&mut self, tid: u32) {
        if let Some(task) = self.map.get(&tid) {
            if task.held.is_none() && task.pending.is_none() {
                self.remove(tid);
            }
        }
    }
}
