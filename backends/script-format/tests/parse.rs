//! The parser against streams written the way the bpftrace and D scripts write them.

use tot_api::{
    Access, Diagnostic, Event, EventKind, EventSink, ExitStatus, Outcome, PathAt, Severity,
};
use tot_script_format::{escape, header_line, parse, Os, StringMode};

#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    diagnostics: Vec<Diagnostic>,
}

impl EventSink for Recorder {
    fn event(&mut self, event: Event) {
        self.events.push(event);
    }
    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}

fn record(lines: &[Vec<u8>]) -> (Recorder, tot_script_format::Summary) {
    let mut input = Vec::new();
    for line in lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let mut recorder = Recorder::default();
    let summary = parse(&input, &mut recorder);
    (recorder, summary)
}

fn line(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = fields.join(&b'\t');
    out.extend_from_slice(b"\t.");
    out
}

#[test]
fn a_linux_raw_stream_becomes_events() {
    let (rec, summary) = record(&[
        header_line(Os::Linux, StringMode::Raw, "bpftrace").into_bytes(),
        b"Attaching 40 probes...".to_vec(),
        line(&[b"F", b"1000", b"41", b"41", b"42", b"0x1200011"]),
        line(&[b"F", b"1001", b"42", b"42", b"43", b"0x3d0f00"]),
        line(&[b"E", b"1100", b"42", b"42", b"/bin/cat", b"2", b"0"]),
        line(&[b"A", b"1100", b"42", b"42", b"0", b"cat"]),
        line(&[b"A", b"1100", b"42", b"42", b"1", b"in \xff.txt"]),
        line(&[
            b"S",
            b"1200",
            b"42",
            b"42",
            b"openat",
            b"3",
            b"0",
            b"-100",
            b"in \xff.txt",
            b"0x80000",
        ]),
        line(&[
            b"S", b"1250", b"42", b"42", b"openat", b"-2", b"2", b"5", b"missing", b"0x241",
        ]),
        line(&[
            b"S",
            b"1260",
            b"42",
            b"42",
            b"renameat2",
            b"0",
            b"0",
            b"-100",
            b"a.tmp",
            b"-100",
            b"a",
            b"0",
        ]),
        line(&[
            b"S",
            b"1270",
            b"42",
            b"42",
            b"unlinkat",
            b"0",
            b"0",
            b"-100",
            b"d",
            b"0x200",
        ]),
        line(&[b"S", b"1280", b"42", b"42", b"dup2", b"1", b"0", b"4", b"1"]),
        line(&[b"S", b"1290", b"42", b"42", b"close", b"-9", b"9", b"77"]),
        line(&[b"X", b"1400", b"42", b"42", b"256"]),
        line(&[b"X", b"1500", b"41", b"41", b"9"]),
    ]);
    assert_eq!(summary.malformed, 0, "{:?}", rec.diagnostics);
    assert!(rec.diagnostics.is_empty());
    assert_eq!(
        summary.header.as_ref().map(|h| h.producer.as_str()),
        Some("bpftrace")
    );
    let kinds: Vec<&EventKind> = rec.events.iter().map(|e| &e.ev).collect();
    assert_eq!(
        kinds[0],
        &EventKind::Spawn {
            child: 42,
            thread: false,
            shares_files: false,
            shares_fs: false
        }
    );
    assert_eq!(
        kinds[1],
        &EventKind::Spawn {
            child: 43,
            thread: true,
            shares_files: true,
            shares_fs: true
        }
    );
    match kinds[2] {
        EventKind::Exec {
            path,
            argv,
            argv_truncated,
            ..
        } => {
            assert_eq!(path.as_slice(), b"/bin/cat");
            assert_eq!(argv.len(), 2);
            assert_eq!(argv[1].as_slice(), b"in \xff.txt");
            assert!(!argv_truncated);
        }
        other => panic!("expected exec, got {other:?}"),
    }
    match kinds[3] {
        EventKind::Open {
            dirfd,
            path,
            flags,
            outcome,
        } => {
            assert_eq!(*dirfd, None);
            assert_eq!(path.as_slice(), b"in \xff.txt");
            assert_eq!(flags.access, Access::Read);
            assert!(flags.cloexec);
            assert_eq!(outcome, &Outcome::Ok(3));
        }
        other => panic!("expected open, got {other:?}"),
    }
    match kinds[4] {
        EventKind::Open {
            dirfd,
            flags,
            outcome,
            ..
        } => {
            assert_eq!(*dirfd, Some(5));
            assert_eq!(flags.access, Access::Write);
            assert!(flags.create && flags.trunc);
            assert_eq!(outcome, &Outcome::Err("ENOENT".into()));
        }
        other => panic!("expected open, got {other:?}"),
    }
    assert_eq!(
        kinds[5],
        &EventKind::Rename {
            from: PathAt::cwd("a.tmp"),
            to: PathAt::cwd("a")
        }
    );
    assert_eq!(
        kinds[6],
        &EventKind::Rmdir {
            path: PathAt::cwd("d")
        }
    );
    assert_eq!(
        kinds[7],
        &EventKind::Dup {
            fd: 4,
            new_fd: 1,
            cloexec: false
        }
    );
    assert_eq!(
        kinds[8],
        &EventKind::Other {
            name: "close".into(),
            outcome: Outcome::Err("EBADF".into())
        }
    );
    assert_eq!(
        kinds[9],
        &EventKind::Exit {
            status: ExitStatus::Code(1)
        }
    );
    assert_eq!(
        kinds[10],
        &EventKind::Exit {
            status: ExitStatus::Signal {
                name: "SIGKILL".into(),
                core_dumped: false
            }
        }
    );
    assert_eq!(rec.events[3].ts, Some(1200));
    assert_eq!(rec.events[3].tid, 42);
}

#[test]
fn escaped_strings_carry_any_bytes() {
    let nasty: Vec<u8> = b"dir\twith\nnewline\\x41 and \xff\xfe".to_vec();
    let escaped = escape(&nasty);
    let (rec, summary) = record(&[
        header_line(Os::Linux, StringMode::Escaped, "test").into_bytes(),
        line(&[
            b"S",
            b"5",
            b"7",
            b"7",
            b"open",
            b"3",
            b"0",
            escaped.as_bytes(),
            b"0",
        ]),
        line(&[
            b"S",
            b"6",
            b"7",
            b"7",
            b"rename",
            b"0",
            b"0",
            escaped.as_bytes(),
            b"plain",
        ]),
    ]);
    assert_eq!(summary.malformed, 0, "{:?}", rec.diagnostics);
    match &rec.events[0].ev {
        EventKind::Open { path, .. } => assert_eq!(path.as_slice(), nasty.as_slice()),
        other => panic!("expected open, got {other:?}"),
    }
    match &rec.events[1].ev {
        EventKind::Rename { from, to } => {
            assert_eq!(from.path.as_slice(), nasty.as_slice());
            assert_eq!(to.path.as_slice(), b"plain");
        }
        other => panic!("expected rename, got {other:?}"),
    }
}

#[test]
fn darwin_numbers_and_dtrace_escapes() {
    let (rec, summary) = record(&[
        header_line(Os::Darwin, StringMode::Escaped, "dtrace").into_bytes(),
        // A macOS thread id is 64-bit; the event goes to the process.
        line(&[
            b"S",
            b"10",
            b"500",
            b"1234567890123",
            b"open_nocancel",
            b"4",
            b"0",
            br"/tmp/caf\303\251\0",
            b"0x601",
        ]),
        line(&[
            b"S",
            b"11",
            b"500",
            b"1234567890123",
            b"openat",
            b"-1",
            b"2",
            b"-2",
            br"nope\0",
            b"0",
        ]),
        line(&[b"X", b"12", b"500", b"1234567890123", b"10"]),
    ]);
    assert_eq!(summary.malformed, 0, "{:?}", rec.diagnostics);
    assert_eq!(rec.events[0].tid, 500);
    match &rec.events[0].ev {
        EventKind::Open { path, flags, .. } => {
            assert_eq!(path.as_slice(), "/tmp/café".as_bytes());
            assert_eq!(flags.access, Access::Write);
            assert!(flags.create && flags.trunc);
        }
        other => panic!("expected open, got {other:?}"),
    }
    match &rec.events[1].ev {
        EventKind::Open { dirfd, outcome, .. } => {
            assert_eq!(*dirfd, None);
            assert_eq!(outcome, &Outcome::Err("ENOENT".into()));
        }
        other => panic!("expected open, got {other:?}"),
    }
    assert_eq!(
        rec.events[2].ev,
        EventKind::Exit {
            status: ExitStatus::Signal {
                name: "SIGBUS".into(),
                core_dumped: false
            }
        }
    );
}

#[test]
fn malformed_lines_are_reported_by_number_and_the_rest_kept() {
    let (rec, summary) = record(&[
        header_line(Os::Linux, StringMode::Raw, "bpftrace").into_bytes(),
        line(&[
            b"S", b"1", b"7", b"7", b"openat", b"3", b"0", b"-100", b"ok", b"0",
        ]),
        // A raw path with a newline: both halves are reported, neither misread.
        b"S\t2\t7\t7\topenat\t4\t0\t-100\tbad".to_vec(),
        b"name\t0\t.".to_vec(),
        // A raw path with a tab: one field too many.
        line(&[
            b"S", b"3", b"7", b"7", b"openat", b"5", b"0", b"-100", b"tab", b"bed", b"0",
        ]),
        line(&[b"S", b"x", b"7", b"7", b"close", b"0", b"0", b"3"]),
        line(&[b"Q", b"1", b"7", b"7"]),
        b"Lost 17 events".to_vec(),
        line(&[b"S", b"9", b"7", b"7", b"close", b"0", b"0", b"3"]),
    ]);
    assert_eq!(summary.malformed, 5);
    assert_eq!(summary.lost_events, 17);
    let warned: Vec<u64> = rec
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .filter_map(|d| d.line)
        .collect();
    assert_eq!(warned, vec![3, 4, 5, 6, 7]);
    let lost: Vec<&Diagnostic> = rec
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].line, Some(8));
    assert!(lost[0].message.contains("lost 17 events"));
    assert_eq!(rec.events.len(), 2);
    assert_eq!(rec.events[1].ev, EventKind::Close { fd: 3 });
}

#[test]
fn an_exec_cut_short_is_kept_and_flagged() {
    let (rec, summary) = record(&[
        line(&[b"E", b"1", b"7", b"7", b"/bin/echo", b"3", b"1"]),
        line(&[b"A", b"1", b"7", b"7", b"0", b"echo"]),
        line(&[b"X", b"2", b"7", b"7", b"0"]),
    ]);
    assert_eq!(summary.malformed, 0);
    match &rec.events[0].ev {
        EventKind::Exec {
            argv,
            argv_truncated,
            ..
        } => {
            assert_eq!(argv.len(), 1);
            assert!(argv_truncated);
        }
        other => panic!("expected exec, got {other:?}"),
    }
    assert_eq!(rec.diagnostics.len(), 1);
    assert_eq!(rec.diagnostics[0].line, Some(1));
    assert!(matches!(rec.events[1].ev, EventKind::Exit { .. }));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: every prefix and single-byte corruption of a stream.
    let stream = [
        header_line(Os::Linux, StringMode::Escaped, "x"),
        "E\t1\t7\t7\t/bin/x\t1\t0\t.".into(),
        "A\t1\t7\t7\t0\tx\\\t.".into(),
        "S\t2\t7\t7\trenameat\t0\t0\t-100\ta\\x4\t-100\tb\t.".into(),
        "X\t3\t7\t7\t99999999999999999999\t.".into(),
    ]
    .join("\n")
    .into_bytes();
    for end in 0..stream.len() {
        let mut rec = Recorder::default();
        parse(&stream[..end], &mut rec);
        for byte in [0u8, b'\t', b'\n', b'\\', 0xff] {
            let mut corrupted = stream.clone();
            corrupted[end] = byte;
            parse(&corrupted, &mut rec);
        }
    }
}

#[test]
fn an_older_record_between_exec_arguments_does_not_cut_the_exec() {
    // bpftrace drains per-CPU buffers in turn: a record the thread made before its exec,
    // on another CPU, can land between the exec's argument lines.
    let (rec, summary) = record(&[
        line(&[b"E", b"100", b"7", b"7", b"/bin/cc1", b"2", b"0"]),
        line(&[b"A", b"100", b"7", b"7", b"0", b"cc1"]),
        line(&[b"S", b"90", b"7", b"7", b"close", b"0", b"0", b"3"]),
        line(&[b"A", b"100", b"7", b"7", b"1", b"x.c"]),
    ]);
    assert_eq!(summary.malformed, 0, "{:?}", rec.diagnostics);
    assert!(rec.diagnostics.is_empty(), "{:?}", rec.diagnostics);
    assert_eq!(rec.events[0].ev, EventKind::Close { fd: 3 });
    match &rec.events[1].ev {
        EventKind::Exec {
            argv,
            argv_truncated,
            ..
        } => {
            assert_eq!(argv.len(), 2);
            assert!(!argv_truncated);
        }
        other => panic!("expected exec, got {other:?}"),
    }
}
