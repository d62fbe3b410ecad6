//! Parse strace output into tot events: a pure function over bytes.
//!
//! [`StraceParser`] reads the lines of an strace log one at a time and pushes
//! [`Event`]s into an [`EventSink`] as soon as they are known. [`parse_log`] parses a log in
//! memory, [`parse_reader`] streams one from a reader (such as the FIFO strace writes to
//! while the traced command runs).
//!
//! # What it reads
//!
//! Every line form of strace 4.x to 6.x:
//!
//! - a pid column (`-f -o FILE`: `123 `, `-Y`: `123<comm> `), a `[pid 123]` prefix (`-f` to a
//!   terminal), or neither (one process);
//! - timestamps `-t` (`12:34:56`), `-tt` (`12:34:56.123456`), `-ttt` (`1700000000.123456`,
//!   also with nanoseconds), `-r` (`     0.000123`, also combined with `-t`), `-T` durations
//!   `<0.000017>`, `-i` instruction pointers and `-n` syscall numbers;
//! - complete calls `name(args) = result`, `<unfinished ...>` / `<... name resumed>` pairs
//!   (merged per task into one call), `<pid changed to N ...>` with
//!   `+++ superseded by execve in pid N +++`, `<detached ...>`, strace 4.x's
//!   `= ? <unavailable>`;
//! - `+++ exited with N +++`, `+++ killed by SIGX (core dumped) +++`, `--- SIGX {...} ---`
//!   and the old `--- SIGCHLD (Child exited) @ 0 (0) ---`;
//! - argument forms: escaped and `-x`/`-xx` strings, `...` truncation, `-y`/`-yy`
//!   decorations (`3</etc/passwd>`, `4<TCP:[a->b]>`), raw (`-X raw`, `-e raw=`) and
//!   `-X verbose` numbers, structs, arrays, comments, flag sets;
//! - `-k` stack lines and `-e write=` hex dumps (skipped), strace's own messages
//!   (`strace: Process 123 attached`, also in the middle of a line), the traced program's
//!   output interleaved with strace's on a terminal, and `-c` summary tables (reported as
//!   [`LogKind::Summary`]: not a trace).
//!
//! A line it cannot read is reported as a [`Diagnostic`] with [`Severity::Warning`] and its
//! line number, counted in [`ParseSummary::errors`], and parsing goes on.
//!
//! # Events
//!
//! See [`tot_api::EventKind`] for what each event means. Decoded calls: clone, clone3,
//! fork, vfork (`Spawn`), execve, execveat (`Exec`), open, openat, openat2, creat (`Open`,
//! failed ones too), close, close_range, dup, dup2, dup3, fcntl `F_DUPFD*`/`F_SETFD`,
//! ioctl `FIOCLEX`/`FIONCLEX`, pipe, pipe2, the fd makers (socket, socketpair, accept,
//! accept4, eventfd, eventfd2, epoll_create, epoll_create1, memfd_create, signalfd,
//! signalfd4, timerfd_create, inotify_init, inotify_init1, pidfd_open: `OpenOther`),
//! chdir, fchdir, rename, renameat, renameat2, link, linkat, symlink, symlinkat, unlink,
//! unlinkat, mkdir, mkdirat, rmdir, truncate, ftruncate, and the writes (write, pwrite64,
//! writev, pwritev, pwritev2, sendfile, copy_file_range, splice: `Write` when more than
//! zero bytes were written). Any other call, and any failed one, is `Other` with its name
//! and result; its arguments are not even looked at, which is what makes the parser fast.
//! `exit`/`exit_group` are `Other` too: a task's end is its `+++ exited with N +++` line.
//!
//! - **tid**: the pid column or `[pid N]`. An unprefixed line belongs to the only task
//!   alive when exactly one is known to be; otherwise (strace prints no pid while it traces
//!   a single process, so the first process's pid is never printed in that mode) it is
//!   given tid **0**, a stable stand-in for the traced command's first process.
//! - **ts**: `-ttt` gives nanoseconds since the Unix epoch; `-t`/`-tt` give nanoseconds
//!   since midnight (of the day the line was printed); `-r` gives the sum of the relative
//!   stamps, so nanoseconds since the first call; no timestamp gives `None`. A call that
//!   was split across an `<unfinished ...>` and a `<... resumed>` line gets the timestamp
//!   of the line that completed it.
//! - **Order**: events are pushed in the order of the lines that complete them, except that
//!   the events of a task that appears while a `clone`/`vfork` is still in progress are
//!   held back until that call returns, so that a task's `Spawn` always comes before the
//!   task's own events (strace prints a `vfork` child's lines before the parent's
//!   `<... vfork resumed>`).
//! - A call still unfinished when its task exits or the input ends is decoded with an
//!   unknown result (an `Open` with `outcome: unknown`, or `Other`).

mod grammar;
mod syscalls;
mod tasks;

use std::io::{ErrorKind, Read};

use memchr::memchr_iter;
use tot_api::{Diagnostic, Event, EventKind, EventSink, ExitStatus, Severity};

use grammar::{
    ident_len, is_ident_byte, resumed_head, seconds_fraction, skip_bracket_column, skip_decoration,
    skip_ws, split_return, strip_unavailable, strip_unfinished, trim_end, well_formed_prefix,
    OpenEnd, RetValue,
};
use syscalls::{classify, decode, other, Sys};
use tasks::{Pending, Tasks};

/// What a log turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogKind {
    /// A syscall trace.
    #[default]
    Trace,
    /// A `strace -c` summary table: not a trace.
    Summary,
    /// Nothing at all.
    Empty,
}

/// Counts from one parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Lines read.
    pub lines: u64,
    /// Lines that could not be parsed (each was reported as a diagnostic).
    pub errors: u64,
    /// What the input was.
    pub kind: LogKind,
}

/// The most lines of foreign text (the traced program's output) that may sit inside one
/// strace line before the line is given up as broken.
const MAX_CONTINUATION_LINES: u32 = 1000;
/// The most bytes an interrupted line may hold while it waits for its continuation.
const MAX_CONTINUATION_BYTES: usize = 1 << 20;
/// The largest pid Linux hands out (`PID_MAX_LIMIT`); a bigger number before the call is
/// a timestamp, not a pid.
const PID_MAX_LIMIT: u64 = 4_194_304;

/// A line that stopped in the middle of its arguments, waiting for the rest.
#[derive(Debug)]
struct Interrupted {
    /// The line up to where foreign text began.
    text: Vec<u8>,
    /// Where it started.
    line_no: u64,
    /// How many continuation lines were tried.
    tries: u32,
}

/// What happened to one line.
enum LineOutcome {
    /// Parsed (or reported).
    Done,
    /// It stopped in the middle: keep its first `usize` bytes and wait for the rest.
    Interrupted(usize),
}

/// The prefix of a line: who and when.
#[derive(Debug, Clone, Copy)]
struct Prefix {
    /// The pid column or `[pid N]`, if printed.
    tid: Option<u32>,
    /// It was a bare pid column (`-f -o FILE`), where every line is strace's.
    pid_column: bool,
    /// The timestamp in nanoseconds, when printed.
    ts: Option<u64>,
    /// Where the body starts.
    body_at: usize,
}

/// A streaming strace parser: feed it lines, it pushes events.
#[derive(Debug, Default)]
pub struct StraceParser {
    lines: u64,
    errors: u64,
    saw_trace: bool,
    saw_summary: bool,
    in_summary: bool,
    /// A bare pid column was seen: the log is an `-o` file where every line is strace's,
    /// so a foreign line is an error rather than the program's output.
    strict: bool,
    /// Sum of `-r` relative timestamps so far.
    relative_ns: u64,
    /// The integer part of the last epoch timestamp, as text and value.
    last_seconds: CachedSeconds,
    tasks: Tasks,
    interrupted: Option<Interrupted>,
    /// Reused buffer for joining the halves of a call.
    scratch: Vec<u8>,
}

impl StraceParser {
    /// A parser with no state.
    pub fn new() -> Self {
        StraceParser::default()
    }

    /// Parse one line (without its newline). `line_no` is 1-based.
    pub fn parse_line(&mut self, line: &[u8], line_no: u64, sink: &mut dyn EventSink) {
        self.lines += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(interrupted) = self.interrupted.take() {
            if is_strace_message(line) {
                // Another message of strace's between the halves: the line still waits.
                self.strace_message(line, line_no, sink);
                self.interrupted = Some(interrupted);
                return;
            }
            if !self.starts_new_record(line) {
                self.continue_interrupted(interrupted, line, sink);
                return;
            }
            self.report_interrupted(&interrupted, sink);
        }
        if let LineOutcome::Interrupted(keep) = self.line(line, line_no, sink) {
            self.interrupted = Some(Interrupted {
                text: line[..keep].to_vec(),
                line_no,
                tries: 0,
            });
        }
    }

    /// Parse the last line of an input that did not end with a newline. It is parsed if
    /// it is complete; if it stops in the middle it is reported as cut off.
    pub fn parse_unterminated_line(&mut self, line: &[u8], line_no: u64, sink: &mut dyn EventSink) {
        self.parse_line(line, line_no, sink);
        if let Some(interrupted) = self.interrupted.take() {
            self.error(
                interrupted.line_no,
                format!(
                    "the input ends in the middle of this line (cut off?): {}",
                    snippet(&interrupted.text)
                ),
                sink,
            );
        }
    }

    /// End of input: report what is still pending.
    pub fn finish(&mut self, sink: &mut dyn EventSink) -> ParseSummary {
        if let Some(interrupted) = self.interrupted.take() {
            self.report_interrupted(&interrupted, sink);
        }
        let unfinished = self.tasks.take_all_pending();
        if !unfinished.is_empty() {
            sink.diagnostic(Diagnostic {
                severity: Severity::Info,
                line: None,
                message: format!(
                    "{} call(s) never finished before the trace ended; reported with an unknown result",
                    unfinished.len()
                ),
            });
        }
        for (tid, pending) in unfinished {
            self.abandon(tid, None, pending, sink);
        }
        self.tasks.release_all(sink);
        ParseSummary {
            lines: self.lines,
            errors: self.errors,
            kind: if self.saw_trace {
                LogKind::Trace
            } else if self.saw_summary {
                LogKind::Summary
            } else {
                LogKind::Empty
            },
        }
    }

    /// Report an unparseable line.
    fn error(&mut self, line_no: u64, message: String, sink: &mut dyn EventSink) {
        self.errors += 1;
        sink.diagnostic(Diagnostic {
            severity: Severity::Warning,
            line: Some(line_no),
            message,
        });
    }

    fn report_interrupted(&mut self, interrupted: &Interrupted, sink: &mut dyn EventSink) {
        self.error(
            interrupted.line_no,
            format!(
                "this line stops in the middle: {}",
                snippet(&interrupted.text)
            ),
            sink,
        );
    }

    /// Join an interrupted line with its continuation and parse the whole.
    fn continue_interrupted(
        &mut self,
        mut interrupted: Interrupted,
        line: &[u8],
        sink: &mut dyn EventSink,
    ) {
        interrupted.text.extend_from_slice(line);
        let text = std::mem::take(&mut interrupted.text);
        match self.line(&text, interrupted.line_no, sink) {
            LineOutcome::Done => {}
            LineOutcome::Interrupted(keep) => {
                interrupted.tries += 1;
                if interrupted.tries > MAX_CONTINUATION_LINES || keep > MAX_CONTINUATION_BYTES {
                    interrupted.text = text;
                    self.report_interrupted(&interrupted, sink);
                } else {
                    let mut text = text;
                    text.truncate(keep);
                    interrupted.text = text;
                    self.interrupted = Some(interrupted);
                }
            }
        }
    }

    /// Whether a line begins a new strace record (rather than continuing one that foreign
    /// text interrupted).
    fn starts_new_record(&self, line: &[u8]) -> bool {
        match line.first() {
            None => false,
            Some(b'0'..=b'9') => true,
            Some(b'[') => line.starts_with(b"[pid"),
            Some(b'+') => line.starts_with(b"+++ "),
            Some(b'-') => line.starts_with(b"--- "),
            Some(b'<') => line.starts_with(b"<... "),
            Some(b' ') => line.starts_with(b" > ") || line.starts_with(b" | "),
            Some(&b) if is_ident_byte(b) => {
                let n = ident_len(line);
                line.get(n) == Some(&b'(')
            }
            Some(_) => false,
        }
    }

    /// Parse one line (or an interrupted line joined with its continuation).
    fn line(&mut self, line: &[u8], line_no: u64, sink: &mut dyn EventSink) -> LineOutcome {
        if trim_end(line).is_empty() {
            return LineOutcome::Done;
        }
        if self.in_summary {
            if is_summary_row(line) {
                return LineOutcome::Done;
            }
            self.in_summary = false;
        }
        if is_summary_header(line) {
            self.in_summary = true;
            self.saw_summary = true;
            return LineOutcome::Done;
        }
        // `-k` stack frames and `-e write=`/`-e read=` hex dumps belong to the call above.
        if line.starts_with(b" > ") || line.starts_with(b" | ") {
            return LineOutcome::Done;
        }
        let prefix = self.prefix(line);
        let body = &line[prefix.body_at..];
        if body.is_empty() {
            return self.foreign(line, line_no, &prefix, sink);
        }
        match body[0] {
            b'+' if body.starts_with(b"+++ ") => {
                self.exit_line(line, line_no, &prefix, sink);
                LineOutcome::Done
            }
            b'-' if body.starts_with(b"--- ") => {
                self.signal_line(line, line_no, &prefix, sink);
                LineOutcome::Done
            }
            b'<' if body.starts_with(b"<... ") => self.resumed_line(line, line_no, &prefix, sink),
            b if is_ident_byte(b) => {
                let n = ident_len(body);
                match body.get(n) {
                    Some(b'(') => self.call_line(line, line_no, &prefix, n, sink),
                    Some(b':') if &body[..n] == b"strace" && prefix.tid.is_none() => {
                        self.strace_message(line, line_no, sink);
                        LineOutcome::Done
                    }
                    _ => self.foreign(line, line_no, &prefix, sink),
                }
            }
            b'[' if body.starts_with(b"[ Process PID=") => {
                self.strace_message(line, line_no, sink);
                LineOutcome::Done
            }
            _ => self.foreign(line, line_no, &prefix, sink),
        }
    }

    /// A line that is not strace's.
    fn foreign(
        &mut self,
        line: &[u8],
        line_no: u64,
        prefix: &Prefix,
        sink: &mut dyn EventSink,
    ) -> LineOutcome {
        if prefix.tid.is_some() || self.strict {
            self.error(
                line_no,
                format!("not an strace line: {}", snippet(line)),
                sink,
            );
        } else {
            // On a terminal, the traced program's output mixes with strace's.
            sink.diagnostic(Diagnostic {
                severity: Severity::Info,
                line: Some(line_no),
                message: format!(
                    "not an strace line (the traced program's output?): {}",
                    snippet(line)
                ),
            });
        }
        LineOutcome::Done
    }

    /// strace's own messages: `strace: Process 123 attached`, and warnings.
    fn strace_message(&mut self, line: &[u8], line_no: u64, sink: &mut dyn EventSink) {
        let text = trim_end(line);
        let routine = text.starts_with(b"strace: Process ")
            && (text.ends_with(b" attached")
                || text.ends_with(b" detached")
                || text.ends_with(b"(waiting for parent)")
                || text.ends_with(b" suspended"));
        if !routine {
            sink.diagnostic(Diagnostic {
                severity: Severity::Info,
                line: Some(line_no),
                message: format!("strace said: {}", String::from_utf8_lossy(text)),
            });
        }
    }

    /// Read the pid and timestamp columns.
    fn prefix(&mut self, line: &[u8]) -> Prefix {
        let mut prefix = Prefix {
            tid: None,
            pid_column: false,
            ts: None,
            body_at: 0,
        };
        let mut rest = line;
        if let Some(after) = line.strip_prefix(b"[pid") {
            if let Some((tid, after)) = bracket_pid(after) {
                prefix.tid = Some(tid);
                rest = after;
            }
        } else if line.first().is_some_and(u8::is_ascii_digit) {
            let n = grammar::digits_len(line);
            if n <= 7 {
                let value = grammar::digits_value(&line[..n]);
                let after = &line[n..];
                let after = match after.first() {
                    Some(b'<') => skip_decoration(after).unwrap_or(after),
                    _ => after,
                };
                if value <= PID_MAX_LIMIT && after.first() == Some(&b' ') {
                    prefix.tid = Some(value as u32);
                    prefix.pid_column = true;
                    rest = skip_ws(after);
                }
            }
        }
        // Timestamp: `-t`, `-tt`, `-ttt`, or `-r` (right-aligned, so maybe after spaces).
        let maybe_ts = if prefix.tid.is_none() {
            skip_ws(rest)
        } else {
            rest
        };
        if maybe_ts.first().is_some_and(u8::is_ascii_digit) {
            if let Some((ts, after)) = self.timestamp(maybe_ts) {
                prefix.ts = Some(ts);
                rest = skip_ws(after);
            }
        }
        // `-i` instruction pointer, `-n` syscall number.
        while rest.first() == Some(&b'[') && !rest.starts_with(b"[ Process") {
            match skip_bracket_column(rest) {
                Some(after) => rest = after,
                None => break,
            }
        }
        prefix.body_at = line.len() - rest.len();
        prefix
    }

    /// A timestamp at the start of `input`, in nanoseconds; see the module docs.
    fn timestamp<'a>(&mut self, input: &'a [u8]) -> Option<(u64, &'a [u8])> {
        // Consecutive `-ttt` stamps mostly share their seconds: reuse the last value.
        let cached = &self.last_seconds.text[..usize::from(self.last_seconds.len)];
        let (secs, nanos, after) = match input.strip_prefix(cached) {
            Some(frac) if !cached.is_empty() && frac.first() == Some(&b'.') => {
                let digits = &frac[1..];
                let m = grammar::digits_len(digits);
                if m == 0 {
                    return None;
                }
                let mut nanos = grammar::digits_value(&digits[..m.min(9)]);
                for _ in m.min(9)..9 {
                    nanos *= 10;
                }
                (self.last_seconds.value, nanos, &digits[m..])
            }
            _ => {
                let (secs, nanos, after) = seconds_fraction(input)?;
                let int_len = grammar::digits_len(input);
                // Only epoch seconds are worth caching (not `-r`, not HH:MM:SS).
                if (9..=self.last_seconds.text.len()).contains(&int_len)
                    && input.get(int_len) == Some(&b'.')
                {
                    self.last_seconds.text[..int_len].copy_from_slice(&input[..int_len]);
                    self.last_seconds.len = int_len as u8;
                    self.last_seconds.value = secs;
                }
                (secs, nanos, after)
            }
        };
        if let Some(mm) = after.strip_prefix(b":") {
            // `-t`/`-tt`: HH:MM:SS[.frac], since midnight.
            let (minutes, _, after) = seconds_fraction(mm)?;
            let ss = after.strip_prefix(b":")?;
            let (seconds, nanos, after) = seconds_fraction(ss)?;
            let since_midnight = secs
                .checked_mul(60)?
                .checked_add(minutes)?
                .checked_mul(60)?
                .checked_add(seconds)?
                .checked_mul(1_000_000_000)?
                .checked_add(nanos)?;
            // `-t -r` prints the relative stamp too: `12:34:56 (+     0.000123)`.
            let after = match after.strip_prefix(b" (+") {
                Some(rel) => match memchr::memchr(b')', rel) {
                    Some(end) => &rel[end + 1..],
                    None => after,
                },
                None => after,
            };
            return after
                .first()
                .is_none_or(|b| *b == b' ')
                .then_some((since_midnight, after));
        }
        if after.first().is_some_and(|b| *b != b' ') {
            return None;
        }
        if secs >= 100_000_000 {
            // `-ttt`: seconds since the epoch (any date after 1973).
            return Some((
                secs.saturating_mul(1_000_000_000).saturating_add(nanos),
                after,
            ));
        }
        // `-r`: time since the previous call; keep a running sum.
        let delta = secs.saturating_mul(1_000_000_000).saturating_add(nanos);
        self.relative_ns = self.relative_ns.saturating_add(delta);
        Some((self.relative_ns, after))
    }

    /// The task a line belongs to.
    #[inline]
    fn tid_of(&mut self, prefix: &Prefix) -> u32 {
        if prefix.pid_column {
            self.strict = true;
        }
        let tid = match prefix.tid {
            Some(tid) => tid,
            None => self.tasks.unprefixed_tid(),
        };
        self.tasks.observe(tid);
        tid
    }

    /// Push an event.
    #[inline]
    fn emit(&mut self, tid: u32, ts: Option<u64>, ev: EventKind, sink: &mut dyn EventSink) {
        self.tasks.emit(Event { tid, ts, ev }, sink);
    }

    /// `name(args...` in any of its endings.
    fn call_line(
        &mut self,
        line: &[u8],
        line_no: u64,
        prefix: &Prefix,
        name_len: usize,
        sink: &mut dyn EventSink,
    ) -> LineOutcome {
        self.saw_trace = true;
        let tid = self.tid_of(prefix);
        let body = &line[prefix.body_at..];
        match self.call(tid, prefix.ts, body, name_len, line_no, false, sink) {
            CallOutcome::Done => LineOutcome::Done,
            CallOutcome::Interrupted(keep) => LineOutcome::Interrupted(prefix.body_at + keep),
        }
    }

    /// A call's text `name(args...)...` (from one line, or both halves joined).
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        tid: u32,
        ts: Option<u64>,
        body: &[u8],
        name_len: usize,
        line_no: u64,
        succeeded: bool,
        sink: &mut dyn EventSink,
    ) -> CallOutcome {
        let name = &body[..name_len];
        let after = &body[name_len + 1..];
        let sys = classify(name);
        if let Some((args, how)) = strip_unfinished(after) {
            match how {
                OpenEnd::Unfinished | OpenEnd::PidChanged => {
                    let text = &body[..name_len + 1 + args.len()];
                    if let Some(old) = self.tasks.set_pending(tid, sys, text, name_len) {
                        self.abandon(tid, ts, old, sink);
                    }
                }
                OpenEnd::Detached => {
                    self.complete(tid, ts, sys, name, args, RetValue::Unknown, line_no, sink);
                }
            }
            return CallOutcome::Done;
        }
        if let Some((args, ret)) = split_return(after) {
            let ret = match ret {
                RetValue::Error(_) if succeeded => RetValue::Value(0),
                ret => ret,
            };
            self.complete(tid, ts, sys, name, args, ret, line_no, sink);
            return CallOutcome::Done;
        }
        if let Some(args) = strip_unavailable(after) {
            // strace 4.x could not read the task: the arguments may be cut anywhere.
            let mut events = Vec::new();
            if decode(sys, name, args, RetValue::Unknown, &mut |ev| {
                events.push(ev)
            })
            .is_err()
            {
                events = vec![other(name, RetValue::Unknown)];
            }
            for ev in events {
                self.emit(tid, ts, ev, sink);
            }
            return CallOutcome::Done;
        }
        CallOutcome::Interrupted(name_len + 1 + well_formed_prefix(after))
    }

    /// A complete call: decode it and push its events.
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        tid: u32,
        ts: Option<u64>,
        sys: Sys,
        name: &[u8],
        args: &[u8],
        ret: RetValue<'_>,
        line_no: u64,
        sink: &mut dyn EventSink,
    ) {
        if sys == Sys::Other {
            self.emit(tid, ts, other(name, ret), sink);
            return;
        }
        // Events go straight to the task table: no copies of the (large) event on the way.
        let tasks = &mut self.tasks;
        let decoded = decode(sys, name, args, ret, &mut |ev| {
            tasks.emit(Event { tid, ts, ev }, sink)
        });
        match decoded {
            Ok(()) => {}
            Err(_) if well_formed_prefix(args) == args.len() => {
                // A form tot does not decode (a pointer where a path was expected,
                // because strace could not read the memory, or `-e raw=`): still a call.
                self.emit(tid, ts, other(name, ret), sink);
            }
            Err(_) => {
                let name = String::from_utf8_lossy(name).into_owned();
                self.error(
                    line_no,
                    format!("cannot read the arguments of {name}: {}", snippet(args)),
                    sink,
                );
            }
        }
        if sys.is_spawn() {
            self.tasks.release_if_no_spawn_pending(sink);
        }
    }

    /// A call that will never finish (its task exited, or the trace ended): decode it with
    /// an unknown result.
    fn abandon(&mut self, tid: u32, ts: Option<u64>, pending: Pending, sink: &mut dyn EventSink) {
        let name = pending.name();
        let args = &pending.text[pending.name_len + 1..];
        let mut events = Vec::new();
        if decode(pending.sys, name, args, RetValue::Unknown, &mut |ev| {
            events.push(ev)
        })
        .is_err()
        {
            events.push(other(name, RetValue::Unknown));
        }
        let spawn = pending.sys.is_spawn();
        self.tasks.recycle(pending);
        for ev in events {
            self.emit(tid, ts, ev, sink);
        }
        if spawn {
            self.tasks.release_if_no_spawn_pending(sink);
        }
    }

    /// `<... name resumed>rest`: join with the unfinished half.
    fn resumed_line(
        &mut self,
        line: &[u8],
        line_no: u64,
        prefix: &Prefix,
        sink: &mut dyn EventSink,
    ) -> LineOutcome {
        self.saw_trace = true;
        let body = &line[prefix.body_at..];
        let Some((name, rest)) = resumed_head(body) else {
            self.error(
                line_no,
                format!("cannot read this resumed call: {}", snippet(line)),
                sink,
            );
            return LineOutcome::Done;
        };
        let tid = match prefix.tid {
            // Without a pid, the call resumes in the one task that has it in progress.
            None => match self.tasks.only_task_with_pending(name) {
                Some(tid) => {
                    self.tasks.observe(tid);
                    tid
                }
                None => self.tid_of(prefix),
            },
            Some(_) => self.tid_of(prefix),
        };
        let rest_at = line.len() - rest.len();
        let pending = match self.tasks.take_pending(tid) {
            Some(p) if p.name() == name => Some(p),
            Some(p) => {
                // Not the call this task has in progress (strace 4.x does this after an
                // `<unavailable>` call): leave that one waiting for its own resumption.
                self.tasks.restore_pending(tid, p);
                None
            }
            None => None,
        };
        let mut joined = std::mem::take(&mut self.scratch);
        joined.clear();
        let first_len = match &pending {
            Some(p) => {
                joined.extend_from_slice(&p.text);
                p.text.len()
            }
            None => {
                // No first half (the trace started in the middle of the call).
                joined.extend_from_slice(name);
                joined.push(b'(');
                name.len() + 1
            }
        };
        joined.extend_from_slice(rest);
        let succeeded = pending.as_ref().is_some_and(|p| p.succeeded);
        let outcome = self.call(
            tid,
            prefix.ts,
            &joined,
            name.len(),
            line_no,
            succeeded,
            sink,
        );
        self.scratch = joined;
        match (outcome, pending) {
            (CallOutcome::Done, Some(p)) => {
                self.tasks.recycle(p);
                LineOutcome::Done
            }
            (CallOutcome::Done, None) => LineOutcome::Done,
            (CallOutcome::Interrupted(keep), pending) => {
                // Foreign text inside the resumed half: wait for the rest of the line with
                // the first half put back.
                if let Some(p) = pending {
                    self.tasks.restore_pending(tid, p);
                }
                if keep < first_len {
                    return LineOutcome::Interrupted(rest_at);
                }
                LineOutcome::Interrupted(rest_at + (keep - first_len))
            }
        }
    }

    /// `+++ exited with N +++`, `+++ killed by SIGX [(core dumped)] +++`,
    /// `+++ superseded by execve in pid N +++`.
    fn exit_line(&mut self, line: &[u8], line_no: u64, prefix: &Prefix, sink: &mut dyn EventSink) {
        self.saw_trace = true;
        let body = &line[prefix.body_at..];
        let Some(event) = parse_exit(body) else {
            self.error(
                line_no,
                format!("cannot read this exit line: {}", snippet(line)),
                sink,
            );
            return;
        };
        let tid = self.tid_of(prefix);
        let ts = prefix.ts;
        // The leader (or the exiting task) never returns from what it was doing.
        if let Some(pending) = self.tasks.take_pending(tid) {
            self.abandon(tid, ts, pending, sink);
        }
        match event {
            ExitLine::Status(status) => self.emit(tid, ts, EventKind::Exit { status }, sink),
            ExitLine::Superseded(thread) => {
                // A thread execve'd: it takes the leader's pid, and its execve resumes
                // there. The thread's own tid is gone.
                if let Some(mut pending) = self.tasks.take_pending(thread) {
                    pending.succeeded = true;
                    self.tasks.restore_pending(tid, pending);
                }
                if thread != tid {
                    self.tasks.observe(thread);
                    self.emit(
                        thread,
                        ts,
                        EventKind::Exit {
                            status: ExitStatus::Unknown,
                        },
                        sink,
                    );
                    self.tasks.forget(thread);
                }
            }
        }
    }

    /// `--- SIGX {...} ---`.
    fn signal_line(
        &mut self,
        line: &[u8],
        line_no: u64,
        prefix: &Prefix,
        sink: &mut dyn EventSink,
    ) {
        self.saw_trace = true;
        let body = trim_end(&line[prefix.body_at..]);
        let inner = body.get(4..).unwrap_or_default();
        let n = inner
            .iter()
            .take_while(|b| is_ident_byte(**b) || **b == b'+' || **b == b'-')
            .count();
        if n == 0 || !body.ends_with(b" ---") || body.len() < 8 {
            self.error(
                line_no,
                format!("cannot read this signal line: {}", snippet(line)),
                sink,
            );
            return;
        }
        let tid = self.tid_of(prefix);
        let name = &inner[..n];
        if name == b"stopped" {
            // `--- stopped by SIGSTOP ---`: a group stop, not a delivery.
            return;
        }
        self.emit(
            tid,
            prefix.ts,
            EventKind::Signal {
                signal: String::from_utf8_lossy(name).into_owned(),
            },
            sink,
        );
    }
}

/// The seconds of the last `-ttt` timestamp.
#[derive(Debug, Default)]
struct CachedSeconds {
    text: [u8; 20],
    len: u8,
    value: u64,
}

/// What a call line turned out to be.
enum CallOutcome {
    Done,
    /// Foreign text began at this offset of the call's text.
    Interrupted(usize),
}

/// The meaning of a `+++ ... +++` line.
enum ExitLine {
    Status(ExitStatus),
    Superseded(u32),
}

fn parse_exit(body: &[u8]) -> Option<ExitLine> {
    use nom::branch::alt;
    use nom::bytes::complete::{tag, take_while1};
    use nom::combinator::{map, map_opt, opt};
    use nom::sequence::{delimited, pair, preceded};

    let body = trim_end(body);
    let code = map_opt(
        pair(opt(tag(b"-")), take_while1(|b: u8| b.is_ascii_digit())),
        |(minus, digits): (Option<&[u8]>, &[u8])| {
            let v = std::str::from_utf8(digits).ok()?.parse::<i64>().ok()?;
            let v = if minus.is_some() { -v } else { v };
            i32::try_from(v).ok()
        },
    );
    let exited = map(preceded(tag(b"exited with "), code), |c| {
        ExitLine::Status(ExitStatus::Code(c))
    });
    let killed = map(
        preceded(
            tag(b"killed by "),
            pair(
                take_while1(|b: u8| is_ident_byte(b) || b == b'+' || b == b'-'),
                opt(tag(b" (core dumped)")),
            ),
        ),
        |(name, core): (&[u8], Option<&[u8]>)| {
            ExitLine::Status(ExitStatus::Signal {
                name: String::from_utf8_lossy(name).into_owned(),
                core_dumped: core.is_some(),
            })
        },
    );
    let superseded = map_opt(
        preceded(
            tag(b"superseded by execve in pid "),
            take_while1(|b: u8| b.is_ascii_digit()),
        ),
        |digits: &[u8]| {
            std::str::from_utf8(digits)
                .ok()?
                .parse()
                .ok()
                .map(ExitLine::Superseded)
        },
    );
    let result: nom::IResult<&[u8], ExitLine> = delimited(
        tag(b"+++ "),
        alt((exited, killed, superseded)),
        tag(b" +++"),
    )(body);
    match result {
        Ok((b"", line)) => Some(line),
        _ => None,
    }
}

/// `[pid 123]`, `[pid   123]`, `[pid 123<comm>]` (after `[pid`): the tid and the rest.
fn bracket_pid(after: &[u8]) -> Option<(u32, &[u8])> {
    let digits = skip_ws(after);
    let n = grammar::digits_len(digits);
    if n == 0 || n > 10 {
        return None;
    }
    let tid = u32::try_from(grammar::digits_value(&digits[..n])).ok()?;
    let mut rest = &digits[n..];
    if rest.first() == Some(&b'<') {
        rest = skip_decoration(rest)?;
    }
    let rest = rest.strip_prefix(b"]")?;
    Some((tid, skip_ws(rest)))
}

fn is_strace_message(line: &[u8]) -> bool {
    line.starts_with(b"strace: ")
}

/// The header of a `-c` summary table (`% time     seconds  usecs/call ...`), or the
/// title strace prints above it for each personality.
fn is_summary_header(line: &[u8]) -> bool {
    let line = skip_ws(line);
    line.starts_with(b"% time") || line.starts_with(b"System call usage summary for")
}

/// A row of a `-c` table: dashes, or numbers ending with a syscall name (or `total`).
fn is_summary_row(line: &[u8]) -> bool {
    let trimmed = trim_end(skip_ws(line));
    if trimmed.iter().all(|b| *b == b'-' || *b == b' ') {
        return true;
    }
    trimmed.first().is_some_and(u8::is_ascii_digit)
        && !trimmed.contains(&b'(')
        && trimmed
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'_' | b'%' | b'?'))
}

/// A short, printable excerpt of a line for messages.
fn snippet(line: &[u8]) -> String {
    const MAX: usize = 160;
    let cut = line.len() > MAX;
    let mut text = String::from_utf8_lossy(&line[..line.len().min(MAX)]).into_owned();
    if cut {
        text.push_str("...");
    }
    format!("{text:?}")
}

/// Parse a whole log in memory.
pub fn parse_log(input: &[u8], sink: &mut dyn EventSink) -> ParseSummary {
    let mut parser = StraceParser::new();
    let mut start = 0;
    let mut line_no = 0;
    for newline in memchr_iter(b'\n', input) {
        line_no += 1;
        parser.parse_line(&input[start..newline], line_no, sink);
        start = newline + 1;
    }
    if start < input.len() {
        parser.parse_unterminated_line(&input[start..], line_no + 1, sink);
    }
    parser.finish(sink)
}

/// How much [`parse_reader`] reads at a time.
const READ_CHUNK: usize = 1 << 20;

/// Parse a log as it is read, for example from the FIFO strace writes to while the
/// command runs: events are pushed as soon as their lines arrive. A last line without a
/// newline is parsed if complete, and reported as cut off otherwise.
pub fn parse_reader(
    mut reader: impl Read,
    sink: &mut dyn EventSink,
) -> std::io::Result<ParseSummary> {
    let mut parser = StraceParser::new();
    let mut buf = vec![0u8; READ_CHUNK];
    // Bytes of an incomplete line at the start of `buf`.
    let mut kept = 0;
    let mut line_no = 0;
    loop {
        if kept == buf.len() {
            // A line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match reader.read(&mut buf[kept..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let filled = kept + n;
        let mut start = 0;
        // Only the new bytes can hold a newline.
        for newline in memchr_iter(b'\n', &buf[kept..filled]) {
            let end = kept + newline;
            line_no += 1;
            parser.parse_line(&buf[start..end], line_no, sink);
            start = end + 1;
        }
        buf.copy_within(start..filled, 0);
        kept = filled - start;
    }
    if kept > 0 {
        parser.parse_unterminated_line(&buf[..kept], line_no + 1, sink);
    }
    Ok(parser.finish(sink))
}
