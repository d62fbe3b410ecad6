//! Parsing `dtruss` output (macOS, and the Solaris DTraceToolkit original) into tot events,
//! for `tot import --format dtruss LOG`.
//!
//! dtruss prints one line per system call, `NAME(ARGS)  = RETURN ERRNO`, optionally
//! preceded by `PID/THREAD:` (`-f`) and by RELATIVE, ELAPSD and CPU columns (`-d`, `-e`,
//! `-o`, `-a`), and followed by stack frames (`-s`) and a `CALL COUNT` table (`-c`).
//! Errno is `0`, `N` (macOS 12+) or `Err#N` (older). Strings are DTrace `%S` escaped and
//! end with `\0`. The traced program's own output is interleaved and is skipped, as are
//! shell prompts pasted around the trace.
//!
//! DTrace's own messages are recognised and reported: the System Integrity Protection
//! warning, `failed to execute` (restricted entitlements), `error on enabled probe`
//! (that call's record is missing), drops (events lost) and D script errors.

use tot_api::{
    Bytes, Diagnostic, Event, EventKind, EventSink, ExitStatus, Outcome, PathAt, Severity,
};
use tot_script_format::{unescape, Os};

/// What a dtruss log turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtrussLogKind {
    /// It has system call lines.
    #[default]
    Trace,
    /// Only a `CALL COUNT` table (`dtruss -c` with SIP blocking the details).
    CountsOnly,
    /// DTrace failed: no trace at all (restricted entitlements, D script error).
    Failed,
    /// No system call lines and no failure message.
    Empty,
}

/// Counts from one dtruss parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DtrussSummary {
    /// Lines read.
    pub lines: u64,
    /// System call lines parsed.
    pub syscalls: u64,
    /// Lines that were neither trace nor DTrace messages (program output, prompts).
    pub other_lines: u64,
    /// DTrace said System Integrity Protection is on.
    pub sip_warning: bool,
    /// `error on enabled probe` lines: each is a call whose record is missing.
    pub probe_errors: u64,
    /// Events DTrace reported dropped.
    pub drops: u64,
    /// DTrace's failure messages (`failed to execute ...`, `invalid probe specifier ...`).
    pub failures: Vec<String>,
    /// What the log was.
    pub kind: DtrussLogKind,
}

/// Columns announced by the header line, in order, before `SYSCALL(args)`.
#[derive(Debug, Clone, Default)]
struct Columns {
    relative_index: Option<usize>,
    count: usize,
}

/// Parse a whole dtruss log.
pub fn parse_dtruss(input: &[u8], sink: &mut dyn EventSink) -> DtrussSummary {
    let mut summary = DtrussSummary::default();
    let mut columns = Columns::default();
    let mut in_counts = false;
    let mut counts_rows = 0u64;
    for (index, raw_line) in input.split(|&b| b == b'\n').enumerate() {
        let line_no = index as u64 + 1;
        summary.lines += 1;
        let line = trim(raw_line);
        if line.is_empty() {
            continue;
        }
        if let Some(message) = line.strip_prefix(b"dtrace: ") {
            dtrace_message(message, line_no, &mut summary, sink);
            continue;
        }
        if contains(line, b"SYSCALL(args)") {
            columns = header_columns(line);
            in_counts = false;
            continue;
        }
        if line.starts_with(b"CALL") && contains(line, b"COUNT") {
            in_counts = true;
            continue;
        }
        if in_counts && is_count_row(line) {
            counts_rows += 1;
            continue;
        }
        match parse_syscall_line(line, &columns) {
            Some(call) => {
                in_counts = false;
                summary.syscalls += 1;
                emit(call, sink);
            }
            None => summary.other_lines += 1,
        }
    }
    summary.kind = if summary.syscalls > 0 {
        DtrussLogKind::Trace
    } else if !summary.failures.is_empty() {
        DtrussLogKind::Failed
    } else if counts_rows > 0 || in_counts {
        DtrussLogKind::CountsOnly
    } else {
        DtrussLogKind::Empty
    };
    if summary.kind == DtrussLogKind::CountsOnly || summary.kind == DtrussLogKind::Empty {
        sink.diagnostic(Diagnostic {
            severity: Severity::Warning,
            line: None,
            message: if summary.sip_warning {
                "no system calls in this dtruss log: System Integrity Protection stopped DTrace from tracing (see `csrutil enable --without dtrace`)".into()
            } else {
                "no system calls in this dtruss log: it is not a trace".into()
            },
        });
    }
    summary
}

fn dtrace_message(
    message: &[u8],
    line_no: u64,
    summary: &mut DtrussSummary,
    sink: &mut dyn EventSink,
) {
    let text = String::from_utf8_lossy(message).into_owned();
    let (severity, said) = if text.starts_with("system integrity protection is on") {
        summary.sip_warning = true;
        (
            Severity::Warning,
            format!("System Integrity Protection is on: {text}; system binaries cannot be traced"),
        )
    } else if text.starts_with("error on enabled probe") {
        summary.probe_errors += 1;
        (
            Severity::Warning,
            format!("a probe failed, so one call is missing from the trace: {text}"),
        )
    } else if let Some(count) = drop_count(&text) {
        summary.drops += count;
        (
            Severity::Error,
            format!("DTrace dropped events, the trace is incomplete: {text}"),
        )
    } else if text.starts_with("failed to execute")
        || text.starts_with("invalid probe specifier")
        || text.starts_with("failed to")
    {
        summary.failures.push(text.clone());
        let hint = if text.contains("restricted entitlements") {
            " (SIP protects this binary: copy it elsewhere and remove its signature, or disable SIP's DTrace restriction)"
        } else {
            ""
        };
        (Severity::Error, format!("DTrace failed: {text}{hint}"))
    } else {
        (Severity::Warning, format!("dtrace: {text}"))
    };
    sink.diagnostic(Diagnostic {
        severity,
        line: Some(line_no),
        message: said,
    });
}

/// `N drops on CPU M`, `N dynamic variable drops ...`, `N aggregation drops ...`.
fn drop_count(text: &str) -> Option<u64> {
    let (number, rest) = text.split_once(' ')?;
    let count: u64 = number.parse().ok()?;
    (rest.contains("drops")).then_some(count)
}

fn header_columns(line: &[u8]) -> Columns {
    let text = String::from_utf8_lossy(line);
    let before = text.split("SYSCALL(args)").next().unwrap_or_default();
    let names: Vec<&str> = before
        .split_whitespace()
        .filter(|word| !word.starts_with("PID"))
        .collect();
    Columns {
        relative_index: names.iter().position(|n| *n == "RELATIVE"),
        count: names.len(),
    }
}

fn is_count_row(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or_default();
    let count = words.next().unwrap_or_default();
    words.next().is_none()
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !count.is_empty()
        && count.bytes().all(|b| b.is_ascii_digit())
}

/// One system call line.
#[derive(Debug, PartialEq)]
struct Call<'a> {
    pid: Option<u32>,
    relative_us: Option<u64>,
    name: &'a str,
    args: Vec<&'a [u8]>,
    ret: i64,
    errno: u64,
}

fn parse_syscall_line<'a>(line: &'a [u8], columns: &Columns) -> Option<Call<'a>> {
    let mut rest = line;
    let mut pid = None;
    // `PID/THREAD:` prefix.
    if let Some(colon) = rest.iter().position(|&b| b == b':') {
        let prefix = &rest[..colon];
        if let Some(slash) = prefix.iter().position(|&b| b == b'/') {
            let pid_text = std::str::from_utf8(&prefix[..slash]).ok()?;
            if let Ok(value) = pid_text.trim().parse::<u32>() {
                let thread = &prefix[slash + 1..];
                if !thread.is_empty() && thread.iter().all(|b| b.is_ascii_hexdigit() || *b == b'x')
                {
                    pid = Some(value);
                    rest = trim(&rest[colon + 1..]);
                }
            }
        }
    }
    // Numeric columns (RELATIVE, ELAPSD, CPU), possibly with a trailing colon.
    let mut numbers = Vec::new();
    loop {
        let end = rest
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let word = &rest[..end];
        let digits = word.strip_suffix(b":").unwrap_or(word);
        if end == rest.len() || digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            break;
        }
        numbers.push(std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?);
        rest = trim(&rest[end..]);
    }
    let relative_us = columns
        .relative_index
        .filter(|_| numbers.len() == columns.count)
        .and_then(|i| numbers.get(i).copied());
    // NAME(ARGS) ... = RET ERRNO
    let open = rest.iter().position(|&b| b == b'(')?;
    let name = std::str::from_utf8(&rest[..open]).ok()?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let equals = rfind(rest, b"= ")?;
    let call_part = trim(&rest[..equals]);
    let close = call_part.len().checked_sub(1)?;
    if call_part.get(close) != Some(&b')') || close < open {
        return None;
    }
    let args = split_args(&call_part[open + 1..close]);
    let result = String::from_utf8_lossy(&rest[equals + 2..]).into_owned();
    let mut words = result.split_whitespace();
    let ret = parse_int(words.next()?)?;
    let errno_word = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let errno = errno_word
        .strip_prefix("Err#")
        .unwrap_or(errno_word)
        .parse()
        .ok()?;
    Some(Call {
        pid,
        relative_us,
        name,
        args,
        ret,
        errno,
    })
}

/// Split `a, "b, c", [d, e] (2), f` at top-level commas.
fn split_args(text: &[u8]) -> Vec<&[u8]> {
    let mut args = Vec::new();
    if trim(text).is_empty() {
        return args;
    }
    let (mut depth, mut in_string, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                args.push(trim(&text[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    args.push(trim(&text[start..]));
    args
}

fn parse_int(text: &str) -> Option<i64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|v| v as i64),
        None => text.parse().ok(),
    }
}

fn string_arg(arg: Option<&&[u8]>) -> Option<Bytes> {
    let inner = arg?.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    unescape(inner).ok().map(Bytes)
}

fn int_arg(arg: Option<&&[u8]>) -> Option<i64> {
    parse_int(std::str::from_utf8(arg?).ok()?)
}

fn fd_arg(arg: Option<&&[u8]>) -> Option<i32> {
    int_arg(arg).map(|v| v as i32)
}

fn dirfd_arg(arg: Option<&&[u8]>) -> Option<i32> {
    // dtruss prints AT_FDCWD (-2) as 0xFFFFFFFFFFFFFFFE.
    fd_arg(arg).filter(|fd| i64::from(*fd) != Os::Darwin.at_fdcwd())
}

fn emit(call: Call<'_>, sink: &mut dyn EventSink) {
    let os = Os::Darwin;
    let outcome = if call.errno != 0 {
        Outcome::Err(os.errno_name(call.errno))
    } else {
        Outcome::Ok(call.ret)
    };
    let ok = call.errno == 0;
    let base = call.name.strip_suffix("_nocancel").unwrap_or(call.name);
    let a = &call.args;
    let path_at = |dirfd: Option<&&[u8]>, path: Option<&&[u8]>| -> Option<PathAt> {
        Some(PathAt {
            dirfd: dirfd.and_then(|d| dirfd_arg(Some(d))),
            path: string_arg(path)?,
        })
    };
    let kind = match (base, ok) {
        ("open" | "open_extended" | "open_dprotected_np", _) => {
            string_arg(a.first()).map(|path| EventKind::Open {
                dirfd: None,
                path,
                flags: os.open_flags(int_arg(a.get(1)).unwrap_or(0) as u64),
                outcome: outcome.clone(),
            })
        }
        ("openat", _) => string_arg(a.get(1)).map(|path| EventKind::Open {
            dirfd: dirfd_arg(a.first()),
            path,
            flags: os.open_flags(int_arg(a.get(2)).unwrap_or(0) as u64),
            outcome: outcome.clone(),
        }),
        ("close", true) => fd_arg(a.first()).map(|fd| EventKind::Close { fd }),
        ("dup", true) => fd_arg(a.first()).map(|fd| EventKind::Dup {
            fd,
            new_fd: call.ret as i32,
            cloexec: false,
        }),
        ("dup2", true) => {
            fd_arg(a.first())
                .zip(fd_arg(a.get(1)))
                .map(|(fd, new_fd)| EventKind::Dup {
                    fd,
                    new_fd,
                    cloexec: false,
                })
        }
        ("chdir", true) => string_arg(a.first()).map(|path| EventKind::Chdir { path }),
        ("fchdir", true) => fd_arg(a.first()).map(|fd| EventKind::Fchdir { fd }),
        ("rename", true) => path_at(None, a.first())
            .zip(path_at(None, a.get(1)))
            .map(|(from, to)| EventKind::Rename { from, to }),
        ("renameat", true) => path_at(a.first(), a.get(1))
            .zip(path_at(a.get(2), a.get(3)))
            .map(|(from, to)| EventKind::Rename { from, to }),
        ("link", true) => path_at(None, a.first())
            .zip(path_at(None, a.get(1)))
            .map(|(from, to)| EventKind::Link { from, to }),
        ("symlink", true) => string_arg(a.first())
            .zip(path_at(None, a.get(1)))
            .map(|(target, link)| EventKind::Symlink { target, link }),
        ("unlink", true) => path_at(None, a.first()).map(|path| EventKind::Unlink { path }),
        ("unlinkat", true) => path_at(a.first(), a.get(1)).map(|path| {
            if int_arg(a.get(2)).unwrap_or(0) as u64 & os.at_removedir() != 0 {
                EventKind::Rmdir { path }
            } else {
                EventKind::Unlink { path }
            }
        }),
        ("mkdir", true) => path_at(None, a.first()).map(|path| EventKind::Mkdir { path }),
        ("mkdirat", true) => path_at(a.first(), a.get(1)).map(|path| EventKind::Mkdir { path }),
        ("rmdir", true) => path_at(None, a.first()).map(|path| EventKind::Rmdir { path }),
        ("truncate", true) => path_at(None, a.first()).map(|path| EventKind::Truncate { path }),
        ("ftruncate", true) => fd_arg(a.first()).map(|fd| EventKind::Ftruncate { fd }),
        ("fork" | "vfork", true) if call.ret > 0 => {
            u32::try_from(call.ret).ok().map(|child| EventKind::Spawn {
                child,
                thread: false,
                shares_files: false,
                shares_fs: false,
            })
        }
        ("execve" | "__mac_execve", true) => string_arg(a.first()).map(|path| EventKind::Exec {
            dirfd: None,
            argv: vec![path.clone()],
            path,
            env: None,
            cwd: None,
            // dtruss prints argv as a pointer: only the path is known.
            argv_truncated: true,
        }),
        ("exit", _) => int_arg(a.first()).map(|code| EventKind::Exit {
            status: ExitStatus::Code(code as i32),
        }),
        _ => None,
    };
    let ev = kind.unwrap_or(EventKind::Other {
        name: call.name.to_string(),
        outcome,
    });
    sink.event(Event {
        // dtruss without -f prints no pid: 0 stands for "the traced process".
        tid: call.pid.unwrap_or(0),
        ts: call.relative_us.map(|us| us.saturating_mul(1000)),
        ev,
    });
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_every_dtruss_shape() {
        let columns =
            header_columns(b"PID/THRD  RELATIVE  ELAPSD    CPU SYSCALL(args) \t\t = return");
        let call = parse_syscall_line(
            b"4966/0x54c8:       232:        0:       0 fork()\t\t = 0 0",
            &columns,
        )
        .unwrap();
        assert_eq!(
            (call.pid, call.relative_us, call.name, call.ret),
            (Some(4966), Some(232), "fork", 0)
        );
        let call = parse_syscall_line(
            b"open(\"/dev/dtracehelper\\0\", 0x2, 0x7FFF5F02C8B0)  = 3 0",
            &Columns::default(),
        )
        .unwrap();
        assert_eq!(call.args.len(), 3);
        assert_eq!(
            string_arg(call.args.first()).unwrap().as_slice(),
            b"/dev/dtracehelper"
        );
        let call = parse_syscall_line(
            b"stat64(\"/AppleInternal\\0\", 0x7FF7B04D56C0, 0x0)          = -1 2",
            &Columns::default(),
        )
        .unwrap();
        assert_eq!((call.ret, call.errno), (-1, 2));
        let call = parse_syscall_line(
            b"27547/1:  lwp_sigmask(0x3, 0x20000, 0x0)  = 0xFFBFFEFF 0",
            &Columns::default(),
        )
        .unwrap();
        assert_eq!(call.pid, Some(27547));
        let call = parse_syscall_line(
            b"sysctl([CTL_KERN, 143, 0, 0, 0, 0] (2), 0x16D26E9D8, 0x16D26E9D0, 0x0, 0x0, 0x0)\t\t = 0 0",
            &Columns::default(),
        )
        .unwrap();
        assert_eq!(call.args.len(), 6);
        assert!(parse_syscall_line(b"Hello, world!", &Columns::default()).is_none());
        assert!(parse_syscall_line(b"[72, 101, 108]", &Columns::default()).is_none());
    }
}
