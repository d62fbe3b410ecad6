//! Edge cases of the strace parser: input cut off, garbage between good lines, bytes
//! that are not UTF-8, every timestamp and prefix form, unfinished calls merged, and
//! streaming through a reader that hands out a few bytes at a time.

mod support;

use std::io::Read;

use support::{parse, Collect};
use tot_api::{Access, Bytes, EventKind, ExitStatus, Outcome, PathAt, Severity};
use tot_backend_strace::{parse_reader, LogKind, StraceParser};

fn kinds(input: &str) -> Vec<EventKind> {
    let (summary, sink) = parse(input.as_bytes());
    assert_eq!(summary.errors, 0, "{:?}", sink.warnings());
    sink.events.into_iter().map(|e| e.ev).collect()
}

#[test]
fn a_complete_last_line_without_newline_is_parsed() {
    let (summary, sink) =
        parse(b"7 1700000000.000001 close(3) = 0\n7 1700000000.000002 close(4) = 0");
    assert_eq!(summary.errors, 0);
    assert_eq!(summary.lines, 2);
    assert_eq!(sink.events.len(), 2);
    assert_eq!(sink.events[1].ev, EventKind::Close { fd: 4 });
}

#[test]
fn a_cut_off_last_line_is_reported_with_its_number() {
    let input = b"7 1700000000.000001 close(3) = 0\n7 1700000000.000002 openat(AT_FDCWD, \"/etc/pa";
    let (summary, sink) = parse(input);
    assert_eq!(summary.errors, 1);
    let warnings = sink.warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, Some(2));
    assert!(
        warnings[0].message.contains("cut off"),
        "{}",
        warnings[0].message
    );
    assert_eq!(sink.events.len(), 1, "the good line is kept");
    // The same through a reader.
    let mut sink = Collect::default();
    let summary = parse_reader(&input[..], &mut sink).expect("reads");
    assert_eq!(summary.errors, 1);
    assert_eq!(sink.warnings()[0].line, Some(2));
}

#[test]
fn garbage_lines_are_reported_and_the_rest_kept() {
    let input = "\
100 1700000000.000001 openat(AT_FDCWD, \"a\", O_RDONLY) = 3
this is not strace output
100 1700000000.000002 close(3) = 0
100 1700000000.000003 openat(AT_FDCWD, \"b\", O_RDONLY
100 1700000000.000004 frobnicate the widgets
\u{1}\u{2}\u{ff}binary junk(((
100 1700000000.000005 openat(AT_FDCWD, \"unterminated, O_RDONLY) = 3
100 1700000000.000006 +++ exited with 0 +++
";
    let (summary, sink) = parse(input.as_bytes());
    let lines: Vec<Option<u64>> = sink.warnings().iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![Some(2), Some(4), Some(5), Some(6), Some(7)]);
    assert_eq!(summary.errors, 5);
    assert!(sink
        .warnings()
        .iter()
        .all(|d| d.severity == Severity::Warning));
    let kinds: Vec<&EventKind> = sink.events.iter().map(|e| &e.ev).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(matches!(kinds[0], EventKind::Open { .. }));
    assert_eq!(kinds[1], &EventKind::Close { fd: 3 });
    assert_eq!(
        kinds[2],
        &EventKind::Exit {
            status: ExitStatus::Code(0)
        }
    );
}

#[test]
fn octal_and_hex_escapes_decode_to_raw_bytes() {
    let events = kinds(concat!(
        r#"9 openat(AT_FDCWD, "/tmp/n\377m\x41\tq\"\\", O_RDONLY) = 3"#,
        "\n",
        r#"9 rename("caf\303\251", "\x2f\x74\x6d\x70") = 0"#,
        "\n",
    ));
    let EventKind::Open { path, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(path.as_slice(), b"/tmp/n\xffmA\tq\"\\");
    // Not UTF-8: the wire form is base64, and it round-trips.
    let json = serde_json::to_string(path).expect("serializes");
    assert!(json.contains("b64"), "{json}");
    assert_eq!(serde_json::from_str::<Bytes>(&json).expect("parses"), *path);
    assert_eq!(
        events[1],
        EventKind::Rename {
            from: PathAt::cwd("café"),
            to: PathAt::cwd("/tmp"),
        }
    );
}

#[test]
fn timestamp_forms() {
    let ts = |line: &str| {
        let (summary, sink) = parse(line.as_bytes());
        assert_eq!(summary.errors, 0, "{line}: {:?}", sink.warnings());
        sink.events[0].ts
    };
    assert_eq!(
        ts("5 1700000000.123456 close(3) = 0"),
        Some(1_700_000_000_123_456_000)
    );
    assert_eq!(
        ts("5 1700000000.123456789 close(3) = 0"),
        Some(1_700_000_000_123_456_789)
    );
    assert_eq!(
        ts("1700000000.5 close(3) = 0"),
        Some(1_700_000_000_500_000_000)
    );
    assert_eq!(ts("01:02:03 close(3) = 0"), Some(3_723_000_000_000));
    assert_eq!(
        ts("[pid  5] 01:02:03.000004 close(3) = 0"),
        Some(3_723_000_004_000)
    );
    assert_eq!(ts("5 01:02:03.250 close(3) = 0"), Some(3_723_250_000_000));
    assert_eq!(
        ts("5 06:26:08 (+     0.000715) close(3) = 0"),
        Some(23_168_000_000_000)
    );
    assert_eq!(ts("close(3) = 0"), None);
    assert_eq!(ts("5 close(3) = 0 <0.000017>"), None);
    // `-r`: relative stamps add up.
    let (_, sink) = parse(
        b"     0.000000 close(3) = 0\n     0.000250 close(4) = 0\n     1.000000 close(5) = 0\n",
    );
    let stamps: Vec<Option<u64>> = sink.events.iter().map(|e| e.ts).collect();
    assert_eq!(stamps, vec![Some(0), Some(250_000), Some(1_000_250_000)]);
}

#[test]
fn prefix_forms() {
    let tids = |input: &str| {
        let (summary, sink) = parse(input.as_bytes());
        assert_eq!(summary.errors, 0, "{:?}", sink.warnings());
        sink.events.iter().map(|e| e.tid).collect::<Vec<u32>>()
    };
    assert_eq!(
        tids("[pid   123] close(3) = 0\n[pid 4567890] close(3) = 0\n"),
        [123, 4567890]
    );
    assert_eq!(
        tids("123   close(3) = 0\n123<make> close(3) = 0\n[pid 9<sh>] close(3) = 0\n"),
        [123, 123, 9]
    );
    // `-i` instruction pointer and `-n` syscall number.
    assert_eq!(
        tids("42 [00007f3c8c9b1f3b] close(3) = 0\n42 [   3] close(3) = 0\n"),
        [42, 42]
    );
    // A 10-digit number before the call is a `--absolute-timestamps=format:unix` stamp.
    let (_, sink) = parse(b"1795760773 close(3) = 0\n");
    assert_eq!(sink.events[0].tid, 0);
    assert_eq!(sink.events[0].ts, Some(1_795_760_773_000_000_000));
}

#[test]
fn unprefixed_lines_belong_to_the_only_task_alive() {
    let input = "\
clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 50
[pid    50] close(3) = 0
[pid    40] wait4(-1,  <unfinished ...>
[pid    50] +++ exited with 0 +++
<... wait4 resumed>NULL, 0, NULL) = 50
+++ exited with 0 +++
";
    let (summary, sink) = parse(input.as_bytes());
    assert_eq!(summary.errors, 0, "{:?}", sink.warnings());
    let tids: Vec<u32> = sink.events.iter().map(|e| e.tid).collect();
    // The first line: nobody known yet, so the stand-in 0. The unprefixed resumed wait4
    // belongs to the only task with a wait4 in progress. The last line: 0 and 40 are both
    // alive, so it is ambiguous and goes to the stand-in 0.
    assert_eq!(tids, vec![0, 50, 50, 40, 0]);
    // Without `-f`, every line is the one process.
    let (_, sink) = parse(b"close(3) = 0\n+++ exited with 1 +++\n");
    assert!(sink.events.iter().all(|e| e.tid == 0));
}

#[test]
fn unfinished_and_resumed_make_one_call() {
    let events = kinds(
        "\
11 1.000000 openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC <unfinished ...>
12 1.000001 close(4) = 0
11 1.000002 <... openat resumed>) = 3
11 1.000003 clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD <unfinished ...>
11 1.000004 <... clone resumed>, child_tidptr=0x7f) = 13
",
    );
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0], EventKind::Close { fd: 4 });
    assert!(
        matches!(&events[1], EventKind::Open { path, flags, outcome: Outcome::Ok(3), .. }
        if path.as_slice() == b"/etc/passwd" && flags.cloexec && flags.access == Access::Read)
    );
    assert_eq!(
        events[2],
        EventKind::Spawn {
            child: 13,
            thread: false,
            shares_files: false,
            shares_fs: false
        }
    );
}

#[test]
fn a_child_that_prints_before_its_spawn_returns_waits_for_it() {
    let input = "\
20 vfork( <unfinished ...>
21 dup2(4, 1) = 1
21 execve(\"/bin/cat\", [\"cat\"], 0x7ffd /* 3 vars */ <unfinished ...>
20 <... vfork resumed>) = 21
21 <... execve resumed>) = 0
21 +++ exited with 0 +++
20 +++ exited with 0 +++
";
    let (summary, sink) = parse(input.as_bytes());
    assert_eq!(summary.errors, 0);
    let got: Vec<(u32, &EventKind)> = sink.events.iter().map(|e| (e.tid, &e.ev)).collect();
    assert!(
        matches!(got[0], (20, EventKind::Spawn { child: 21, .. })),
        "{got:?}"
    );
    assert!(matches!(
        got[1],
        (
            21,
            EventKind::Dup {
                fd: 4,
                new_fd: 1,
                ..
            }
        )
    ));
    assert!(matches!(got[2], (21, EventKind::Exec { .. })));
    assert!(matches!(got[3], (21, EventKind::Exit { .. })));
    assert!(matches!(got[4], (20, EventKind::Exit { .. })));
}

#[test]
fn calls_never_finished_are_reported_with_an_unknown_result() {
    let (summary, sink) = parse(
        b"30 openat(AT_FDCWD, \"x\", O_WRONLY|O_CREAT, 0644 <unfinished ...>\n30 +++ killed by SIGKILL +++\n31 read(0,  <unfinished ...>\n",
    );
    assert_eq!(summary.errors, 0);
    let kinds: Vec<&EventKind> = sink.events.iter().map(|e| &e.ev).collect();
    assert!(
        matches!(kinds[0], EventKind::Open { outcome: Outcome::Unknown, flags, .. } if flags.create)
    );
    assert!(
        matches!(kinds[1], EventKind::Exit { status: ExitStatus::Signal { name, .. } } if name == "SIGKILL")
    );
    assert!(
        matches!(kinds[2], EventKind::Other { name, outcome: Outcome::Unknown } if name == "read")
    );
    assert!(sink
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Info && d.message.contains("never finished")));
}

#[test]
fn core_dumps_superseded_execs_and_signals() {
    let events = kinds(
        "\
1 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0} => {parent_tid=[2]}, 88) = 2
2 execve(\"/bin/echo\", [\"echo\"], 0x7ffe /* 35 vars */ <pid changed to 1 ...>
1 +++ superseded by execve in pid 2 +++
1 <... execve resumed>) = 0
1 --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---
1 --- stopped by SIGSTOP ---
1 +++ killed by SIGSEGV (core dumped) +++
",
    );
    assert!(matches!(
        events[0],
        EventKind::Spawn {
            child: 2,
            thread: true,
            ..
        }
    ));
    assert_eq!(
        events[1],
        EventKind::Exit {
            status: ExitStatus::Unknown
        }
    );
    assert!(matches!(&events[2], EventKind::Exec { path, .. } if path.as_slice() == b"/bin/echo"));
    assert_eq!(
        events[3],
        EventKind::Signal {
            signal: "SIGSEGV".into()
        }
    );
    assert_eq!(
        events[4],
        EventKind::Exit {
            status: ExitStatus::Signal {
                name: "SIGSEGV".into(),
                core_dumped: true
            }
        }
    );
    assert_eq!(events.len(), 5);
}

#[test]
fn fd_bookkeeping_calls() {
    let events = kinds(
        "\
1 dup(3) = 4
1 dup3(4</tmp/x>, 9, O_CLOEXEC) = 9
1 fcntl(3, F_DUPFD_CLOEXEC, 10) = 10
1 fcntl(3, F_SETFD, 0) = 0
1 ioctl(5, FIOCLEX) = 0
1 close_range(3, 4294967295, CLOSE_RANGE_CLOEXEC) = 0
1 close_range(5, ~0U, 0) = 0
1 pipe([6, 7]) = 0
1 socketpair(AF_UNIX, SOCK_STREAM, 0, [8, 9]) = 0
1 eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 10
1 memfd_create(\"buf\", MFD_CLOEXEC) = 11
1 epoll_create1(0) = 12
1 inotify_init() = 13
1 timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC) = 14
1 signalfd4(-1, [HUP], 8, SFD_CLOEXEC) = 15
1 signalfd4(15, [HUP INT], 8, SFD_CLOEXEC) = 15
1 accept4(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"1.2.3.4\")}, [16], SOCK_CLOEXEC) = 16
1 fchdir(3</tmp>) = 0
1 ftruncate(4, 0) = 0
1 truncate(\"t\", 10) = 0
",
    );
    let expected = vec![
        EventKind::Dup {
            fd: 3,
            new_fd: 4,
            cloexec: false,
        },
        EventKind::Dup {
            fd: 4,
            new_fd: 9,
            cloexec: true,
        },
        EventKind::Dup {
            fd: 3,
            new_fd: 10,
            cloexec: true,
        },
        EventKind::SetCloexec {
            fd: 3,
            cloexec: false,
        },
        EventKind::SetCloexec {
            fd: 5,
            cloexec: true,
        },
        EventKind::CloseRange {
            first: 3,
            last: u32::MAX,
            cloexec: true,
        },
        EventKind::CloseRange {
            first: 5,
            last: u32::MAX,
            cloexec: false,
        },
        EventKind::Pipe {
            read_fd: 6,
            write_fd: 7,
            cloexec: false,
        },
        EventKind::OpenOther {
            fd: 8,
            what: "socket".into(),
            cloexec: false,
        },
        EventKind::OpenOther {
            fd: 9,
            what: "socket".into(),
            cloexec: false,
        },
        EventKind::OpenOther {
            fd: 10,
            what: "eventfd".into(),
            cloexec: true,
        },
        EventKind::OpenOther {
            fd: 11,
            what: "memfd".into(),
            cloexec: true,
        },
        EventKind::OpenOther {
            fd: 12,
            what: "epoll".into(),
            cloexec: false,
        },
        EventKind::OpenOther {
            fd: 13,
            what: "inotify".into(),
            cloexec: false,
        },
        EventKind::OpenOther {
            fd: 14,
            what: "timerfd".into(),
            cloexec: true,
        },
        EventKind::OpenOther {
            fd: 15,
            what: "signalfd".into(),
            cloexec: true,
        },
        EventKind::Other {
            name: "signalfd4".into(),
            outcome: Outcome::Ok(15),
        },
        EventKind::OpenOther {
            fd: 16,
            what: "socket".into(),
            cloexec: true,
        },
        EventKind::Fchdir { fd: 3 },
        EventKind::Ftruncate { fd: 4 },
        EventKind::Truncate {
            path: PathAt::cwd("t"),
        },
    ];
    assert_eq!(events, expected);
}

#[test]
fn names_and_writes() {
    let events = kinds(
        "\
1 openat2(AT_FDCWD, \"o2\", {flags=O_RDWR|O_CREAT|O_EXCL, mode=0600, resolve=RESOLVE_BENEATH}, 24) = 3
1 creat(\"c\", 0644) = 4
1 openat(5</dir>, \"t\", O_RDWR|O_TMPFILE, 0600) = 6
1 openat(AT_FDCWD, \"p\", O_PATH) = 7
1 open(\"ap\", O_WRONLY|O_APPEND|O_CREAT, 0666) = 8
1 renameat2(AT_FDCWD, \"a\", 5</dir>, \"b\", RENAME_NOREPLACE) = 0
1 renameat2(AT_FDCWD, \"a\", AT_FDCWD, \"b\", RENAME_EXCHANGE) = 0
1 linkat(AT_FDCWD, \"a\", AT_FDCWD, \"l\", 0) = 0
1 symlinkat(\"target\", 5, \"s\") = 0
1 unlinkat(5, \"d\", AT_REMOVEDIR) = 0
1 unlinkat(AT_FDCWD, \"f\", 0) = 0
1 mkdirat(AT_FDCWD, \"m\", 0755) = 0
1 rmdir(\"m\") = 0
1 write(0x1, 0x55d0c, 0x6) = 0x6
1 write(1, \"\", 0) = 0
1 writev(3</x>, [{iov_base=\"a\", iov_len=1}], 1) = 1
1 pwrite64(4, \"x\", 1, 10) = 1
1 sendfile(5, 6, NULL, 100) = 100
1 copy_file_range(6, NULL, 7, NULL, 10, 0) = 10
1 splice(8, NULL, 9, NULL, 4096, 0) = 4096
1 write(1, \"x\", 1) = -1 EPIPE (Broken pipe)
",
    );
    let EventKind::Open { path, flags, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(path.as_slice(), b"o2");
    assert_eq!(flags.access, Access::ReadWrite);
    assert!(flags.create && flags.excl);
    let EventKind::Open { flags, .. } = &events[1] else {
        panic!()
    };
    assert!(flags.access == Access::Write && flags.create && flags.trunc);
    let EventKind::Open { dirfd, flags, .. } = &events[2] else {
        panic!()
    };
    assert_eq!(*dirfd, Some(5));
    assert!(flags.tmpfile && flags.directory);
    assert!(matches!(&events[3], EventKind::Open { flags, .. } if flags.access == Access::Path));
    assert!(matches!(&events[4], EventKind::Open { flags, .. } if flags.append && flags.create));
    assert_eq!(
        events[5],
        EventKind::Rename {
            from: PathAt::cwd("a"),
            to: PathAt {
                dirfd: Some(5),
                path: "b".into()
            }
        }
    );
    assert!(matches!(&events[6], EventKind::Other { name, .. } if name == "renameat2"));
    assert_eq!(
        events[7],
        EventKind::Link {
            from: PathAt::cwd("a"),
            to: PathAt::cwd("l")
        }
    );
    assert_eq!(
        events[8],
        EventKind::Symlink {
            target: "target".into(),
            link: PathAt {
                dirfd: Some(5),
                path: "s".into()
            }
        }
    );
    assert_eq!(
        events[9],
        EventKind::Rmdir {
            path: PathAt {
                dirfd: Some(5),
                path: "d".into()
            }
        }
    );
    assert_eq!(
        events[10],
        EventKind::Unlink {
            path: PathAt::cwd("f")
        }
    );
    assert_eq!(
        events[11],
        EventKind::Mkdir {
            path: PathAt::cwd("m")
        }
    );
    assert_eq!(
        events[12],
        EventKind::Rmdir {
            path: PathAt::cwd("m")
        }
    );
    assert_eq!(events[13], EventKind::Write { fd: 1 });
    assert!(
        matches!(&events[14], EventKind::Other { name, outcome: Outcome::Ok(0) } if name == "write")
    );
    assert_eq!(events[15], EventKind::Write { fd: 3 });
    assert_eq!(events[16], EventKind::Write { fd: 4 });
    assert_eq!(events[17], EventKind::Write { fd: 5 });
    assert_eq!(events[18], EventKind::Write { fd: 7 });
    assert_eq!(events[19], EventKind::Write { fd: 9 });
    assert!(
        matches!(&events[20], EventKind::Other { outcome: Outcome::Err(e), .. } if e == "EPIPE")
    );
}

#[test]
fn exec_forms() {
    let events = kinds(
        "\
1 execve(\"/bin/sh\", [\"sh\", \"-c\", \"a very long comm\"...], [\"A=1\", \"B=2\"]) = 0
1 execveat(3</usr/bin>, \"env\", [\"env\", ...], NULL, AT_SYMLINK_NOFOLLOW) = 0
1 execve(\"/nope\", [\"nope\"], 0x7ffd /* 2 vars */) = -1 ENOENT (No such file or directory)
1 execve(0x55d0c, 0x55d0d, 0x55d0e) = 0
",
    );
    assert_eq!(
        events[0],
        EventKind::Exec {
            dirfd: None,
            path: "/bin/sh".into(),
            argv: vec!["sh".into(), "-c".into(), "a very long comm".into()],
            env: Some(vec!["A=1".into(), "B=2".into()]),
            cwd: None,
            argv_truncated: true,
        }
    );
    assert_eq!(
        events[1],
        EventKind::Exec {
            dirfd: Some(3),
            path: "env".into(),
            argv: vec!["env".into()],
            env: Some(vec![]),
            cwd: None,
            argv_truncated: true,
        }
    );
    assert!(
        matches!(&events[2], EventKind::Other { outcome: Outcome::Err(e), .. } if e == "ENOENT")
    );
    // `-e raw=execve`: no path to report, but still a call and no error.
    assert!(
        matches!(&events[3], EventKind::Other { name, outcome: Outcome::Ok(0) } if name == "execve")
    );
}

#[test]
fn strace_messages_and_program_output_on_a_terminal() {
    let input = "\
[pid  10] vfork(strace: Process 11 attached
 <unfinished ...>
strace: Process 12 attached
[pid  11] execve(\"/bin/true\", [\"true\"], 0x7ffd /* 1 var */) = 0
[pid  10] <... vfork resumed>) = 11
[pid  11] write(1, \"two\\nlines\\n\", 10two
lines
) = 10
strace: something unusual happened
";
    let (summary, sink) = parse(input.as_bytes());
    assert_eq!(summary.errors, 0, "{:?}", sink.warnings());
    let got: Vec<(u32, &EventKind)> = sink.events.iter().map(|e| (e.tid, &e.ev)).collect();
    assert!(
        matches!(got[0], (10, EventKind::Spawn { child: 11, .. })),
        "{got:?}"
    );
    assert!(matches!(got[1], (11, EventKind::Exec { .. })));
    assert_eq!(got[2], (11, &EventKind::Write { fd: 1 }));
    assert_eq!(got.len(), 3);
    assert!(sink
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Info && d.message.contains("something unusual")));
}

#[test]
fn summary_tables_are_not_traces() {
    let (summary, sink) = parse(
        b"% time     seconds  usecs/call     calls    errors syscall\n------ ----------- ----------- --------- --------- ----------------\n100.00    0.000071           2        26         1 total\n",
    );
    assert_eq!(summary.kind, LogKind::Summary);
    assert_eq!(summary.errors, 0);
    assert!(sink.events.is_empty());
    let (summary, _) = parse(b"");
    assert_eq!(summary.kind, LogKind::Empty);
    assert_eq!(summary.lines, 0);
    let (summary, _) = parse(b"\n\n");
    assert_eq!(summary.kind, LogKind::Empty);
}

/// Hands out at most a few bytes per read, to cut lines everywhere.
struct Dribble<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_reader_gives_the_same_events_as_a_slice() {
    for name in support::corpus_names() {
        let data = support::corpus_file(&name);
        let (summary, whole) = parse(&data);
        let mut streamed = Collect::default();
        let streamed_summary = parse_reader(
            Dribble {
                data: &data,
                step: 0,
            },
            &mut streamed,
        )
        .expect("reading memory cannot fail");
        assert_eq!(streamed_summary, summary, "{name}");
        assert_eq!(streamed.events, whole.events, "{name}");
    }
}

#[test]
fn lines_can_be_fed_one_at_a_time() {
    let mut parser = StraceParser::new();
    let mut sink = Collect::default();
    parser.parse_line(b"3 close(1) = 0", 1, &mut sink);
    assert_eq!(sink.events.len(), 1, "an event as soon as its line is read");
    parser.parse_line(b"3 +++ exited with 2 +++", 2, &mut sink);
    let summary = parser.finish(&mut sink);
    assert_eq!(summary.lines, 2);
    assert_eq!(
        sink.events[1].ev,
        EventKind::Exit {
            status: ExitStatus::Code(2)
        }
    );
}

#[test]
fn a_task_is_not_held_back_forever() {
    // The parent's vfork never returns in this log, and its child does a lot.
    let mut input = String::from("20 vfork( <unfinished ...>\n");
    for _ in 0..12_000 {
        input.push_str("21 close(5) = 0\n");
    }
    input.push_str("21 +++ exited with 0 +++\n");
    let mut parser = StraceParser::new();
    let mut sink = Collect::default();
    for (i, line) in input.lines().enumerate() {
        parser.parse_line(line.as_bytes(), i as u64 + 1, &mut sink);
        if i == 11_000 {
            assert!(
                sink.events.len() > 10_000,
                "the child's events were let go before the end"
            );
        }
    }
    parser.finish(&mut sink);
    assert_eq!(
        sink.events.len(),
        12_000 + 2,
        "every close, the exit and the vfork"
    );
}

#[test]
fn verbose_hex_and_decorated_forms() {
    let events = kinds(
        "\
1 openat(-100 /* AT_FDCWD */, \"n\\377m\", 0x80000 /* O_RDONLY|O_CLOEXEC */) = 3
1 openat(AT_FDCWD, \"\\x2f\\x65\\x74\\x63\", O_RDONLY) = 4</etc>
 > /usr/lib/x86_64-linux-gnu/libc.so.6(__open64+0x5b) [0x1142bb]
 > ./prog(main+0x1e) [0x1169]
1 close(32<TCP:[172.17.0.2:33462->10.7.7.48:5432]>) = 0
1 close(5<TCPv6:[[::1]:80->[::1]:5432]>) = 0
1 close(6</dev/null<char 1:3>>) = 0
1 close(7</tmp/a\\\"b\\74c\\76d(e>) = 0
1 restart_syscall(<... resuming interrupted read ...>) = 0
1 futex(0x7f, FUTEX_WAKE_OP_PRIVATE, 1, 1, 0x7f, FUTEX_OP_SET<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1) = 1
",
    );
    assert!(
        matches!(&events[0], EventKind::Open { dirfd: None, path, flags, .. }
        if path.as_slice() == b"n\xffm" && flags.cloexec && flags.access == Access::Read)
    );
    assert!(
        matches!(&events[1], EventKind::Open { path, outcome: Outcome::Ok(4), .. }
        if path.as_slice() == b"/etc")
    );
    let closes: Vec<&EventKind> = events[2..6].iter().collect();
    assert_eq!(
        closes,
        [32, 5, 6, 7]
            .map(|fd| EventKind::Close { fd })
            .iter()
            .collect::<Vec<_>>()
    );
    assert!(matches!(&events[6], EventKind::Other { name, .. } if name == "restart_syscall"));
    assert!(
        matches!(&events[7], EventKind::Other { name, outcome: Outcome::Ok(1) } if name == "futex")
    );
}
