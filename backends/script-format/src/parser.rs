//! Reading the line format into tot events.

use std::collections::HashMap;
use std::io::BufRead;

use tot_api::{
    Bytes, Diagnostic, Event, EventKind, EventSink, ExitStatus, Outcome, PathAt, Severity,
};

use crate::escape::unescape;
use crate::os::Os;
use crate::{StringMode, FORMAT_VERSION, HEADER_TAG};

/// What a stream's header line declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format version.
    pub version: u32,
    /// The OS whose numbers the stream carries.
    pub os: Os,
    /// How string fields are written.
    pub strings: StringMode,
    /// The producer, such as `bpftrace` or `dtrace`.
    pub producer: String,
}

/// Counts from one parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read.
    pub lines: u64,
    /// Records turned into events (an exec's argument records count with it).
    pub records: u64,
    /// Lines that could not be read; each was reported as a diagnostic with its number.
    pub malformed: u64,
    /// Events the producer said it lost (`Lost N events`); reported as errors.
    pub lost_events: u64,
    /// The header, if the stream had one.
    pub header: Option<Header>,
}

/// An exec waiting for its argument records.
#[derive(Debug)]
struct PendingExec {
    ts: Option<u64>,
    line: u64,
    path: Bytes,
    expected: usize,
    truncated: bool,
    argv: Vec<Bytes>,
}

/// A streaming parser of the line format: feed it lines, it pushes events.
///
/// Before a header line arrives it assumes Linux numbers and escaped strings.
#[derive(Debug, Default)]
pub struct ScriptParser {
    os: Os,
    strings: StringMode,
    clock_offset: i64,
    pending_exec: HashMap<u32, PendingExec>,
    summary: Summary,
}

/// Why a line was not a record.
struct Malformed(String);

type LineResult<T> = Result<T, Malformed>;

fn bad<T>(message: impl Into<String>) -> LineResult<T> {
    Err(Malformed(message.into()))
}

impl ScriptParser {
    /// A parser that has seen nothing yet.
    pub fn new() -> Self {
        ScriptParser::default()
    }

    /// Add `offset` nanoseconds to every timestamp, such as the difference between the
    /// wall clock and the monotonic clock a script tracer stamps events with.
    pub fn with_clock_offset(mut self, offset: i64) -> Self {
        self.clock_offset = offset;
        self
    }

    /// Parse one line (without its newline). `line_no` is 1-based.
    pub fn parse_line(&mut self, line: &[u8], line_no: u64, sink: &mut dyn EventSink) {
        self.summary.lines += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if let Err(Malformed(message)) = self.parse_nonblank(line, line_no, sink) {
            self.summary.malformed += 1;
            let shown: String = String::from_utf8_lossy(line).chars().take(120).collect();
            sink.diagnostic(Diagnostic {
                severity: Severity::Warning,
                line: Some(line_no),
                message: format!("{message}: {shown:?}"),
            });
        }
    }

    /// End of input: emit execs still waiting for arguments and return the counts.
    pub fn finish(&mut self, sink: &mut dyn EventSink) -> Summary {
        let mut pending: Vec<(u32, PendingExec)> = self.pending_exec.drain().collect();
        pending.sort_by_key(|(_, p)| p.line);
        for (tid, exec) in pending {
            Self::emit_exec(tid, exec, true, sink);
        }
        std::mem::take(&mut self.summary)
    }

    fn parse_nonblank(
        &mut self,
        line: &[u8],
        line_no: u64,
        sink: &mut dyn EventSink,
    ) -> LineResult<()> {
        if line.starts_with(HEADER_TAG.as_bytes()) {
            return self.parse_header(line);
        }
        if line.starts_with(b"#") {
            return Ok(());
        }
        if let Some(count) = lost_events(line) {
            self.summary.lost_events += count;
            sink.diagnostic(Diagnostic {
                severity: Severity::Error,
                line: Some(line_no),
                message: format!(
                    "the tracer lost {count} events: the record is incomplete (give the tracer bigger buffers, or trace less at once)"
                ),
            });
            return Ok(());
        }
        if is_attach_banner(line) {
            return Ok(());
        }
        let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
        if fields.len() < 5 {
            return bad("too few fields for a record");
        }
        if fields.last() != Some(&&b"."[..]) {
            return bad(
                "record does not end with the `.` field (cut by a newline inside a string?)",
            );
        }
        let body = &fields[..fields.len() - 1];
        let tag = body[0];
        let ts = self.timestamp(body[1])?;
        let pid = number::<u32>(body[2], "pid")?;
        let tid = match self.os {
            // macOS thread ids are 64-bit and thread creation is not traced: act as the process.
            Os::Darwin => pid,
            Os::Linux => number::<u32>(body[3], "tid")?,
        };
        let args = &body[4..];
        // A record of the same thread ends an exec still waiting for arguments, unless it
        // is older than the exec: per-CPU buffers can deliver an earlier record late.
        let ends_pending = self
            .pending_exec
            .get(&tid)
            .is_some_and(|exec| match (exec.ts, ts) {
                (Some(exec_ts), Some(ts)) => ts >= exec_ts,
                _ => true,
            });
        if tag != b"A" && ends_pending {
            if let Some(exec) = self.pending_exec.remove(&tid) {
                sink.diagnostic(Diagnostic {
                    severity: Severity::Warning,
                    line: Some(exec.line),
                    message: format!(
                        "exec of {} got {} of its {} argument records",
                        exec.path,
                        exec.argv.len(),
                        exec.expected
                    ),
                });
                Self::emit_exec(tid, exec, true, sink);
            }
        }
        match tag {
            b"F" => {
                expect_fields(args, 2, "F")?;
                let child = number::<u32>(args[0], "child")?;
                let flags = unsigned(args[1], "clone flags")?;
                let thread = flags & CLONE_THREAD != 0;
                self.push(
                    sink,
                    tid,
                    ts,
                    EventKind::Spawn {
                        child,
                        thread,
                        shares_files: thread || flags & CLONE_FILES != 0,
                        shares_fs: thread || flags & CLONE_FS != 0,
                    },
                );
            }
            b"E" => {
                expect_fields(args, 3, "E")?;
                let path = self.string(args[0])?;
                let expected = number::<usize>(args[1], "argument count")?;
                let truncated = flag(args[2], "truncated")?;
                self.summary.records += 1;
                let exec = PendingExec {
                    ts,
                    line: line_no,
                    path,
                    expected,
                    truncated,
                    argv: Vec::with_capacity(expected.min(256)),
                };
                if expected == 0 {
                    Self::emit_exec(tid, exec, false, sink);
                } else {
                    self.pending_exec.insert(tid, exec);
                }
            }
            b"A" => {
                expect_fields(args, 2, "A")?;
                let index = number::<usize>(args[0], "argument index")?;
                let arg = self.string(args[1])?;
                let Some(exec) = self.pending_exec.get_mut(&tid) else {
                    return bad("argument record without an exec record before it");
                };
                if index != exec.argv.len() {
                    return bad(format!(
                        "argument {index} out of order (expected {})",
                        exec.argv.len()
                    ));
                }
                exec.argv.push(arg);
                if exec.argv.len() == exec.expected {
                    if let Some(exec) = self.pending_exec.remove(&tid) {
                        Self::emit_exec(tid, exec, false, sink);
                    }
                }
            }
            b"X" => {
                expect_fields(args, 1, "X")?;
                let status = if args[0] == b"-" {
                    ExitStatus::Unknown
                } else {
                    self.wait_status(unsigned(args[0], "wait status")?)
                };
                self.push(sink, tid, ts, EventKind::Exit { status });
            }
            b"S" => {
                if args.len() < 3 {
                    return bad("syscall record needs a name, a return value and an errno");
                }
                let name = std::str::from_utf8(args[0])
                    .map_err(|_| Malformed("syscall name is not text".into()))?
                    .to_string();
                let ret = number::<i64>(args[1], "return value")?;
                let errno = unsigned(args[2], "errno")?;
                let outcome = if errno != 0 {
                    Outcome::Err(self.os.errno_name(errno))
                } else {
                    Outcome::Ok(ret)
                };
                let kind = self.syscall(&name, &args[3..], outcome)?;
                self.push(sink, tid, ts, kind);
            }
            _ => {
                return bad(format!(
                    "unknown record tag {:?}",
                    String::from_utf8_lossy(tag)
                ))
            }
        }
        Ok(())
    }

    fn parse_header(&mut self, line: &[u8]) -> LineResult<()> {
        let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
        if fields.len() < 5 {
            return bad("header needs version, os, string mode and producer");
        }
        let version = number::<u32>(fields[1], "format version")?;
        if version != FORMAT_VERSION {
            return bad(format!(
                "unsupported format version {version} (this tot reads {FORMAT_VERSION})"
            ));
        }
        let os = Os::from_name(fields[2]).ok_or_else(|| {
            Malformed(format!(
                "unknown os {:?}",
                String::from_utf8_lossy(fields[2])
            ))
        })?;
        let strings = StringMode::from_name(fields[3]).ok_or_else(|| {
            Malformed(format!(
                "unknown string mode {:?}",
                String::from_utf8_lossy(fields[3])
            ))
        })?;
        self.os = os;
        self.strings = strings;
        self.summary.header = Some(Header {
            version,
            os,
            strings,
            producer: String::from_utf8_lossy(fields[4]).into_owned(),
        });
        Ok(())
    }

    fn timestamp(&self, field: &[u8]) -> LineResult<Option<u64>> {
        if field == b"-" {
            return Ok(None);
        }
        let raw = unsigned(field, "timestamp")?;
        Ok(Some(if self.clock_offset >= 0 {
            raw.saturating_add(self.clock_offset.unsigned_abs())
        } else {
            raw.saturating_sub(self.clock_offset.unsigned_abs())
        }))
    }

    fn string(&self, field: &[u8]) -> LineResult<Bytes> {
        match self.strings {
            StringMode::Raw => Ok(Bytes(field.to_vec())),
            StringMode::Escaped => unescape(field)
                .map(Bytes)
                .map_err(|e| Malformed(e.to_string())),
        }
    }

    fn dirfd(&self, field: &[u8]) -> LineResult<Option<i32>> {
        let fd = number::<i64>(field, "directory fd")?;
        if fd == self.os.at_fdcwd() {
            return Ok(None);
        }
        i32::try_from(fd)
            .map(Some)
            .map_err(|_| Malformed(format!("directory fd {fd} out of range")))
    }

    fn path_at(&self, dirfd: &[u8], path: &[u8]) -> LineResult<PathAt> {
        Ok(PathAt {
            dirfd: self.dirfd(dirfd)?,
            path: self.string(path)?,
        })
    }

    fn wait_status(&self, status: u64) -> ExitStatus {
        let signal = status & 0x7f;
        if signal == 0 {
            ExitStatus::Code(i32::from(((status >> 8) & 0xff) as u8))
        } else {
            ExitStatus::Signal {
                name: self.os.signal_name(signal),
                core_dumped: status & 0x80 != 0,
            }
        }
    }

    /// Turn one `S` record into an event, after checking its argument count.
    fn syscall(&self, name: &str, args: &[&[u8]], outcome: Outcome) -> LineResult<EventKind> {
        let base = name.strip_suffix("_nocancel").unwrap_or(name);
        let arity = syscall_arity(base);
        if let Some(arity) = arity {
            if args.len() != arity {
                return bad(format!(
                    "{name} record has {} arguments, expected {arity} (a tab inside a raw string?)",
                    args.len()
                ));
            }
        }
        let ok = match &outcome {
            Outcome::Ok(value) => Some(*value),
            _ => None,
        };
        let os = self.os;
        let fd = |field: &[u8]| number::<i32>(field, "fd");
        let kind = match (base, ok) {
            ("open", _) => EventKind::Open {
                dirfd: None,
                path: self.string(args[0])?,
                flags: os.open_flags(unsigned(args[1], "open flags")?),
                outcome,
            },
            ("creat", _) => EventKind::Open {
                dirfd: None,
                path: self.string(args[0])?,
                flags: os.open_flags(os.creat_flags()),
                outcome,
            },
            ("openat" | "openat2", _) => EventKind::Open {
                dirfd: self.dirfd(args[0])?,
                path: self.string(args[1])?,
                flags: os.open_flags(unsigned(args[2], "open flags")?),
                outcome,
            },
            ("close", Some(_)) => EventKind::Close { fd: fd(args[0])? },
            ("dup", Some(new_fd)) => EventKind::Dup {
                fd: fd(args[0])?,
                new_fd: small_fd(new_fd)?,
                cloexec: false,
            },
            ("dup2", Some(_)) => EventKind::Dup {
                fd: fd(args[0])?,
                new_fd: fd(args[1])?,
                cloexec: false,
            },
            ("dup3", Some(_)) => EventKind::Dup {
                fd: fd(args[0])?,
                new_fd: fd(args[1])?,
                cloexec: unsigned(args[2], "dup3 flags")? & os.o_cloexec() != 0,
            },
            ("pipe", Some(_)) => EventKind::Pipe {
                read_fd: fd(args[0])?,
                write_fd: fd(args[1])?,
                cloexec: false,
            },
            ("pipe2", Some(_)) => EventKind::Pipe {
                read_fd: fd(args[0])?,
                write_fd: fd(args[1])?,
                cloexec: unsigned(args[2], "pipe2 flags")? & os.o_cloexec() != 0,
            },
            ("chdir", Some(_)) => EventKind::Chdir {
                path: self.string(args[0])?,
            },
            ("fchdir", Some(_)) => EventKind::Fchdir { fd: fd(args[0])? },
            ("rename", Some(_)) => EventKind::Rename {
                from: PathAt::cwd(self.string(args[0])?),
                to: PathAt::cwd(self.string(args[1])?),
            },
            ("renameat" | "renameat2", Some(_)) => EventKind::Rename {
                from: self.path_at(args[0], args[1])?,
                to: self.path_at(args[2], args[3])?,
            },
            ("link", Some(_)) => EventKind::Link {
                from: PathAt::cwd(self.string(args[0])?),
                to: PathAt::cwd(self.string(args[1])?),
            },
            ("linkat", Some(_)) => EventKind::Link {
                from: self.path_at(args[0], args[1])?,
                to: self.path_at(args[2], args[3])?,
            },
            ("symlink", Some(_)) => EventKind::Symlink {
                target: self.string(args[0])?,
                link: PathAt::cwd(self.string(args[1])?),
            },
            ("symlinkat", Some(_)) => EventKind::Symlink {
                target: self.string(args[0])?,
                link: self.path_at(args[1], args[2])?,
            },
            ("unlink", Some(_)) => EventKind::Unlink {
                path: PathAt::cwd(self.string(args[0])?),
            },
            ("unlinkat", Some(_)) => {
                let path = self.path_at(args[0], args[1])?;
                if unsigned(args[2], "unlinkat flags")? & os.at_removedir() != 0 {
                    EventKind::Rmdir { path }
                } else {
                    EventKind::Unlink { path }
                }
            }
            ("mkdir", Some(_)) => EventKind::Mkdir {
                path: PathAt::cwd(self.string(args[0])?),
            },
            ("mkdirat", Some(_)) => EventKind::Mkdir {
                path: self.path_at(args[0], args[1])?,
            },
            ("rmdir", Some(_)) => EventKind::Rmdir {
                path: PathAt::cwd(self.string(args[0])?),
            },
            ("truncate", Some(_)) => EventKind::Truncate {
                path: PathAt::cwd(self.string(args[0])?),
            },
            ("ftruncate", Some(_)) => EventKind::Ftruncate { fd: fd(args[0])? },
            _ => {
                // Failed calls, and calls tot does not model (fork, vfork, posix_spawn: the
                // process itself comes from the `F` record). Their strings are still checked.
                if arity.is_some() {
                    for (index, field) in args.iter().enumerate() {
                        if is_string_argument(base, index) {
                            self.string(field)?;
                        }
                    }
                }
                EventKind::Other {
                    name: name.to_string(),
                    outcome,
                }
            }
        };
        Ok(kind)
    }

    fn push(&mut self, sink: &mut dyn EventSink, tid: u32, ts: Option<u64>, ev: EventKind) {
        self.summary.records += 1;
        sink.event(Event { tid, ts, ev });
    }

    fn emit_exec(tid: u32, exec: PendingExec, cut_short: bool, sink: &mut dyn EventSink) {
        sink.event(Event {
            tid,
            ts: exec.ts,
            ev: EventKind::Exec {
                dirfd: None,
                path: exec.path,
                argv: exec.argv,
                env: None,
                cwd: None,
                argv_truncated: exec.truncated || cut_short,
            },
        });
    }
}

const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_THREAD: u64 = 0x10000;

/// The argument count of each syscall the format knows, after name, return and errno.
/// `None` for any other name: its arguments are not checked.
pub fn syscall_arity(name: &str) -> Option<usize> {
    Some(match name {
        "close" | "dup" | "fchdir" | "ftruncate" | "chdir" | "unlink" | "mkdir" | "rmdir"
        | "truncate" | "creat" => 1,
        "open" | "dup2" | "pipe" | "rename" | "link" | "symlink" | "mkdirat" => 2,
        "openat" | "openat2" | "dup3" | "pipe2" | "unlinkat" | "symlinkat" => 3,
        "renameat" | "linkat" => 4,
        "renameat2" => 5,
        "fork" | "vfork" | "clone" | "clone3" | "posix_spawn" | "execve" => 0,
        _ => return None,
    })
}

/// Whether argument `index` of `name` is a string field.
pub fn is_string_argument(name: &str, index: usize) -> bool {
    match name {
        "open" | "creat" | "chdir" | "unlink" | "mkdir" | "rmdir" | "truncate" => index == 0,
        "rename" | "link" | "symlink" => index <= 1,
        "openat" | "openat2" | "unlinkat" | "mkdirat" => index == 1,
        "symlinkat" => index == 0 || index == 2,
        "renameat" | "renameat2" | "linkat" => index == 1 || index == 3,
        _ => false,
    }
}

fn expect_fields(args: &[&[u8]], count: usize, tag: &str) -> LineResult<()> {
    if args.len() == count {
        Ok(())
    } else {
        bad(format!(
            "{tag} record has {} fields after the tid, expected {count} (a tab inside a raw string?)",
            args.len()
        ))
    }
}

fn number<T: std::str::FromStr>(field: &[u8], what: &str) -> LineResult<T> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            Malformed(format!(
                "{what} is not a number: {:?}",
                String::from_utf8_lossy(field)
            ))
        })
}

/// A decimal or `0x` hexadecimal unsigned number.
fn unsigned(field: &[u8], what: &str) -> LineResult<u64> {
    let parsed = std::str::from_utf8(field).ok().and_then(|text| {
        match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        }
    });
    parsed.ok_or_else(|| {
        Malformed(format!(
            "{what} is not a number: {:?}",
            String::from_utf8_lossy(field)
        ))
    })
}

fn flag(field: &[u8], what: &str) -> LineResult<bool> {
    match field {
        b"0" => Ok(false),
        b"1" => Ok(true),
        _ => bad(format!("{what} must be 0 or 1")),
    }
}

fn small_fd(value: i64) -> LineResult<i32> {
    i32::try_from(value).map_err(|_| Malformed(format!("fd {value} out of range")))
}

/// bpftrace's `Lost N events` line.
fn lost_events(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let count = text.strip_prefix("Lost ")?.strip_suffix(" events")?;
    count.trim().parse().ok()
}

/// bpftrace's `Attaching N probes...` line.
fn is_attach_banner(line: &[u8]) -> bool {
    line.starts_with(b"Attaching ") && line.ends_with(b"...")
}

/// Parse a whole stream in memory.
pub fn parse(input: &[u8], sink: &mut dyn EventSink) -> Summary {
    let mut parser = ScriptParser::new();
    let mut line_no = 0;
    let mut rest = input;
    while !rest.is_empty() {
        line_no += 1;
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        parser.parse_line(line, line_no, sink);
        rest = next;
    }
    parser.finish(sink)
}

/// Parse a stream as it is read, for example from the FIFO a tracer writes to while the
/// command runs; events reach `sink` line by line.
pub fn parse_reader(
    parser: &mut ScriptParser,
    mut reader: impl BufRead,
    sink: &mut dyn EventSink,
) -> std::io::Result<Summary> {
    let mut line = Vec::new();
    let mut line_no = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_no += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        parser.parse_line(text, line_no, sink);
    }
    Ok(parser.finish(sink))
}
