//! Every file of the real strace corpus (tests/corpus/strace, a copy of the shared
//! corpus) parses without a single unparseable line, `-c` tables are recognised as
//! summaries, the events that matter are checked file by file, and the whole normalized
//! output of each file is compared with a committed snapshot
//! (`tests/snapshots/<file>.jsonl`). After a deliberate change, rewrite the snapshots
//! with `TOT_BLESS=1 cargo test -p tot-backend-strace --test corpus` and review the diff.

mod support;

use std::path::PathBuf;

use serde_json::json;
use support::{corpus_file, corpus_names, parse, Collect};
use tot_api::{Access, Event, EventKind, ExitStatus, Outcome};
use tot_backend_strace::{LogKind, ParseSummary};

/// The normalized output of one parse: events, diagnostics and the summary as JSON lines.
fn normalized(summary: &ParseSummary, sink: &Collect) -> String {
    let mut out = String::new();
    for event in &sink.events {
        out.push_str(&serde_json::to_string(event).expect("events serialize"));
        out.push('\n');
    }
    for d in &sink.diagnostics {
        let line = json!({"diagnostic": {
            "severity": format!("{:?}", d.severity),
            "line": d.line,
            "message": d.message,
        }});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    let line = json!({"summary": {
        "lines": summary.lines,
        "errors": summary.errors,
        "kind": format!("{:?}", summary.kind),
    }});
    out.push_str(&line.to_string());
    out.push('\n');
    out
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name.replace(".txt", ".jsonl"))
}

fn is_summary_file(name: &str) -> bool {
    name.contains("c-summary")
}

#[test]
fn every_corpus_file_parses_without_errors() {
    let names = corpus_names();
    assert!(names.len() >= 20, "the corpus is missing: {names:?}");
    for name in names {
        let (summary, sink) = parse(&corpus_file(&name));
        assert_eq!(summary.errors, 0, "{name}: {:#?}", sink.warnings());
        assert!(sink.warnings().is_empty(), "{name}: {:#?}", sink.warnings());
        if is_summary_file(&name) {
            assert_eq!(summary.kind, LogKind::Summary, "{name}");
            assert!(sink.events.is_empty(), "{name}: a summary has no events");
        } else {
            assert_eq!(summary.kind, LogKind::Trace, "{name}");
            assert!(!sink.events.is_empty(), "{name}: no events");
        }
        assert!(summary.lines > 0);
    }
}

#[test]
fn every_corpus_file_matches_its_snapshot() {
    let bless = std::env::var_os("TOT_BLESS").is_some();
    let mut stale = Vec::new();
    for name in corpus_names() {
        let (summary, sink) = parse(&corpus_file(&name));
        let actual = normalized(&summary, &sink);
        let path = snapshot_path(&name);
        if bless {
            std::fs::create_dir_all(path.parent().expect("snapshot dir")).expect("mkdir");
            std::fs::write(&path, &actual).expect("write snapshot");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no snapshot {} ({e}); create it with TOT_BLESS=1",
                path.display()
            )
        });
        if expected != actual {
            let (line_no, (want, got)) = expected
                .lines()
                .zip(actual.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .unwrap_or((
                    expected.lines().count().min(actual.lines().count()),
                    ("<end>", "<end>"),
                ));
            stale.push(format!(
                "{name}, line {}:\n  expected {want}\n  actual   {got}",
                line_no + 1
            ));
        }
    }
    assert!(stale.is_empty(), "snapshots differ:\n{}", stale.join("\n"));
}

// ---- the events that matter, file by file ----

fn events_of(name: &str) -> Vec<Event> {
    let (summary, sink) = parse(&corpus_file(name));
    assert_eq!(summary.errors, 0, "{name}");
    sink.events
}

fn execs(events: &[Event], tid: u32) -> Vec<(String, Vec<String>)> {
    events
        .iter()
        .filter(|e| e.tid == tid)
        .filter_map(|e| match &e.ev {
            EventKind::Exec { path, argv, .. } => Some((
                path.to_string(),
                argv.iter().map(|a| a.to_string()).collect(),
            )),
            _ => None,
        })
        .collect()
}

fn exit_of(events: &[Event], tid: u32) -> Option<&ExitStatus> {
    events.iter().find_map(|e| match &e.ev {
        EventKind::Exit { status } if e.tid == tid => Some(status),
        _ => None,
    })
}

fn spawns(events: &[Event]) -> Vec<(u32, u32, bool)> {
    events
        .iter()
        .filter_map(|e| match e.ev {
            EventKind::Spawn { child, thread, .. } => Some((e.tid, child, thread)),
            _ => None,
        })
        .collect()
}

fn others<'a>(events: &'a [Event], name: &str) -> Vec<&'a Outcome> {
    events
        .iter()
        .filter_map(|e| match &e.ev {
            EventKind::Other { name: n, outcome } if n == name => Some(outcome),
            _ => None,
        })
        .collect()
}

fn position(events: &[Event], pred: impl Fn(&Event) -> bool) -> usize {
    events
        .iter()
        .position(pred)
        .expect("the expected event is there")
}

#[test]
fn one_pid_execs_twice() {
    let events = events_of("f-e-trace-process-double-execve-strace4.txt");
    assert_eq!(
        execs(&events, 30217),
        vec![
            ("./exec1".to_string(), vec!["./exec1".to_string()]),
            ("./exec2".to_string(), vec!["./exec2".to_string()]),
        ]
    );
    // `[/* 25 vars */]`: the environment was not printed.
    assert!(events
        .iter()
        .all(|e| !matches!(&e.ev, EventKind::Exec { env: Some(_), .. })));
    assert_eq!(exit_of(&events, 30217), Some(&ExitStatus::Code(0)));
    // exit_group is a call, not the exit.
    assert_eq!(others(&events, "exit_group"), vec![&Outcome::Unknown]);
}

#[test]
fn killed_by_sigkill_with_unprefixed_leader() {
    let events =
        events_of("fvq-pid-prefix-killed-by-SIGKILL-CLD_KILLED-program-output-indented.txt");
    // The leader's pid is never printed: its lines are tid 0.
    assert_eq!(
        spawns(&events),
        vec![(0, 239820, false), (0, 239821, false)]
    );
    assert_eq!(
        exit_of(&events, 239821),
        Some(&ExitStatus::Signal {
            name: "SIGKILL".into(),
            core_dumped: false
        })
    );
    assert_eq!(exit_of(&events, 239820), Some(&ExitStatus::Code(0)));
    assert_eq!(exit_of(&events, 0), Some(&ExitStatus::Code(0)));
    assert_eq!(
        others(&events, "setsid"),
        vec![&Outcome::Ok(239820), &Outcome::Unknown]
    );
    let signals = events
        .iter()
        .filter(|e| {
            e.tid == 0 && matches!(&e.ev, EventKind::Signal { signal } if signal == "SIGCHLD")
        })
        .count();
    assert_eq!(signals, 2);
}

#[test]
fn clone3_thread_and_a_segfault() {
    let events = events_of("v6.1-clone3-thread-killed-by-sigsegv-core.txt");
    assert_eq!(spawns(&events), vec![(17099, 17100, true)]);
    assert!(events.iter().any(|e| e.ev
        == EventKind::Spawn {
            child: 17100,
            thread: true,
            shares_files: true,
            shares_fs: true
        }));
    let open = position(&events, |e| {
        e.tid == 17100
            && matches!(&e.ev, EventKind::Open { path, .. } if path.as_slice() == b"thr.txt")
    });
    let EventKind::Open {
        flags,
        outcome,
        dirfd,
        ..
    } = &events[open].ev
    else {
        unreachable!()
    };
    assert_eq!(*dirfd, None);
    assert_eq!(flags.access, Access::Write);
    assert!(flags.create && flags.trunc);
    assert_eq!(outcome, &Outcome::Ok(3));
    assert_eq!(events[open + 1].ev, EventKind::Write { fd: 3 });
    assert_eq!(events[open + 2].ev, EventKind::Close { fd: 3 });
    assert_eq!(exit_of(&events, 17100), Some(&ExitStatus::Code(0)));
    // This capture printed `+++ killed by SIGSEGV +++` (no core was written).
    assert_eq!(
        exit_of(&events, 17099),
        Some(&ExitStatus::Signal {
            name: "SIGSEGV".into(),
            core_dumped: false
        })
    );
    assert!(events.iter().any(|e| e.tid == 17099
        && e.ev
            == EventKind::Signal {
                signal: "SIGSEGV".into()
            }));
    // `-ttt`: nanoseconds since the epoch.
    assert_eq!(events[0].ts, Some(1_795_755_377_189_810_000));
    // The `rseq(... <unfinished ...>` / `<... rseq resumed>) = 0` pair is one call.
    assert_eq!(
        events
            .iter()
            .filter(|e| e.tid == 17100
                && matches!(&e.ev, EventKind::Other { name, .. } if name == "rseq"))
            .count(),
        1
    );
}

#[test]
fn stack_traces_are_skipped() {
    let events = events_of("v6.1-k-stack-traces-pthread.txt");
    let threads: Vec<_> = spawns(&events).into_iter().filter(|s| s.2).collect();
    assert_eq!(threads.len(), 1);
    let thread = threads[0].1;
    assert!(events.iter().any(|e| e.tid == thread
        && matches!(&e.ev, EventKind::Open { path, .. } if path.as_slice() == b"thr.txt")));
}

#[test]
fn vfork_child_execs_after_its_spawn() {
    let events = events_of("v6.1-posix-spawn-vfork-python.txt");
    let spawned: Vec<u32> = spawns(&events).iter().map(|s| s.1).collect();
    assert_eq!(spawned, vec![17391, 17392]);
    for (child, program) in [(17391, "/bin/true"), (17392, "/usr/bin/sh")] {
        let spawn = position(
            &events,
            |e| matches!(e.ev, EventKind::Spawn { child: c, .. } if c == child),
        );
        let exec = position(&events, |e| {
            e.tid == child && matches!(e.ev, EventKind::Exec { .. })
        });
        let first = position(&events, |e| e.tid == child);
        assert!(
            spawn < first && first <= exec,
            "{child}: spawn {spawn}, exec {exec}"
        );
        assert_eq!(execs(&events, child)[0].0, program);
    }
    assert_eq!(exit_of(&events, 17392), Some(&ExitStatus::Code(7)));
    assert_eq!(exit_of(&events, 17391), Some(&ExitStatus::Code(0)));
}

#[test]
fn full_environment_with_v() {
    let events = events_of("v6.1-v-full-env-execve.txt");
    let envs: Vec<Vec<String>> = events
        .iter()
        .filter_map(|e| match &e.ev {
            EventKind::Exec { env: Some(env), .. } => {
                Some(env.iter().map(|v| v.to_string()).collect())
            }
            _ => None,
        })
        .collect();
    assert_eq!(envs.len(), 4);
    assert_eq!(envs[1], vec!["A=1", "B=two"]);
    assert_eq!(execs(&events, 17384).len(), 3);
    // `vfork( <unfinished ...>` + `<... vfork resumed>) = 17385`: one spawn, nothing else.
    assert_eq!(spawns(&events), vec![(17384, 17385, false)]);
    assert!(others(&events, "vfork").is_empty());
}

#[test]
fn raw_numbers_decode_like_symbols() {
    let events = events_of("v6.1-X-raw-ttt.txt");
    // openat(-100, "xr.txt", 0x241, 0666) = 3
    let open = events
        .iter()
        .find(|e| matches!(&e.ev, EventKind::Open { path, .. } if path.as_slice() == b"xr.txt"))
        .expect("xr.txt opened");
    let EventKind::Open { dirfd, flags, .. } = &open.ev else {
        unreachable!()
    };
    assert_eq!(*dirfd, None);
    assert_eq!(flags.access, Access::Write);
    assert!(flags.create && flags.trunc && !flags.cloexec);
    // fcntl(1, 0, 10) = 11, fcntl(11, 0x2, 0x1) = 0
    assert!(events.iter().any(|e| e.ev
        == EventKind::Dup {
            fd: 1,
            new_fd: 11,
            cloexec: false
        }));
    assert!(events.iter().any(|e| e.ev
        == EventKind::SetCloexec {
            fd: 11,
            cloexec: true
        }));
    // O_CLOEXEC as 0x80000.
    assert!(events.iter().any(|e| matches!(&e.ev,
        EventKind::Open { path, flags, .. }
            if path.as_slice() == b"/etc/ld.so.cache" && flags.cloexec)));
}

#[test]
fn decorated_fds_and_comm_pids() {
    let events = events_of("v6.1-Y-comm-yy-unix-socket.txt");
    // `17374<python3> openat(AT_FDCWD</tmp/sc>, ...) = 3</...>`
    assert!(events.iter().all(|e| e.tid == 17374 || e.tid == 17379));
    assert!(events.iter().any(|e| matches!(
        &e.ev,
        EventKind::Open {
            dirfd: None,
            outcome: Outcome::Ok(3),
            ..
        }
    )));
    let sockets: Vec<&EventKind> = events
        .iter()
        .map(|e| &e.ev)
        .filter(|ev| matches!(ev, EventKind::OpenOther { what, .. } if what == "socket"))
        .collect();
    assert_eq!(sockets.len(), 3, "a socketpair and a socket: {sockets:?}");
    // `clone(...) = 17379<sh>`
    assert_eq!(spawns(&events), vec![(17374, 17379, false)]);
    assert_eq!(execs(&events, 17379)[0].0, "/bin/sh");
}

#[test]
fn failed_calls_only() {
    let events = events_of("v6.1-Z-failed-only.txt");
    assert!(spawns(&events).is_empty());
    for event in &events {
        match &event.ev {
            EventKind::Open { outcome, .. } => {
                assert_eq!(outcome, &Outcome::Err("ENOENT".into()))
            }
            EventKind::Other { outcome, .. } => assert!(matches!(outcome, Outcome::Err(_))),
            EventKind::Exit { .. } | EventKind::Signal { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(exit_of(&events, 17105), Some(&ExitStatus::Code(1)));
    assert_eq!(exit_of(&events, 17104), Some(&ExitStatus::Code(2)));
}

#[test]
fn program_output_in_the_middle_of_a_write() {
    for name in [
        "centos7-hello-stdout-interleaved-mid-line.txt",
        "e-trace-filter-write-open-read-close-centos7.txt",
    ] {
        let events = events_of(name);
        assert!(
            events.iter().any(|e| e.ev == EventKind::Write { fd: 1 }),
            "{name}"
        );
        assert_eq!(exit_of(&events, 0), Some(&ExitStatus::Code(14)), "{name}");
        assert!(events.iter().all(|e| e.tid == 0 && e.ts.is_none()));
    }
}

#[test]
fn strace4_unavailable_and_old_signal_lines() {
    let events = events_of("old-4x-f-unavailable-SIGCHLD-child-exited-parser-test-vector.txt");
    assert_eq!(
        spawns(&events),
        vec![(16819, 16820, false), (16819, 16821, false)]
    );
    assert!(events.iter().any(|e| e.tid == 16820
        && e.ev
            == EventKind::Signal {
                signal: "SIGCHLD".into()
            }));
    assert!(others(&events, "????")
        .iter()
        .all(|o| **o == Outcome::Unknown));
    // `"^\\(\\s...scons"...` was cut by strace.
    assert!(events.iter().any(|e| matches!(&e.ev,
        EventKind::Exec { argv, argv_truncated: true, .. }
            if argv[1].as_slice() == br"^\(\s\+new:\s\|\s\+old:\s\|scons")));
    // `open("/usr/lib\"/libtcl8.5.so.0", ...)`: an escaped quote.
    assert!(events.iter().any(|e| matches!(&e.ev,
        EventKind::Open { path, .. } if path.as_slice() == b"/usr/lib\"/libtcl8.5.so.0")));
}

#[test]
fn process_attached_in_the_middle_of_a_clone() {
    let events = events_of("pid-bracket-prefix-clone-process-attached-mid-line-go-runtime.txt");
    assert_eq!(spawns(&events), vec![(15229, 15236, true)]);
    let spawn = position(&events, |e| matches!(e.ev, EventKind::Spawn { .. }));
    let child = position(&events, |e| e.tid == 15236);
    assert!(spawn < child);
}

#[test]
fn vfork_interrupted_by_process_attached() {
    let events = events_of("pid-bracket-vfork-process-attached-tgkill-SIGRT_1-ESRCH.txt");
    assert_eq!(
        events[0].ev,
        EventKind::Pipe {
            read_fd: 181,
            write_fd: 182,
            cloexec: true
        }
    );
    assert!(events.iter().any(|e| e.tid == 3898066
        && e.ev
            == EventKind::Dup {
                fd: 182,
                new_fd: 1,
                cloexec: false
            }));
    assert!(events
        .iter()
        .any(|e| e.tid == 3898066 && e.ev == EventKind::Chdir { path: "/".into() }));
    assert_eq!(others(&events, "tgkill").len(), 7);
}

#[test]
fn threads_with_erestartsys_and_signals() {
    let events = events_of("f-threads-cargo-run-unfinished-resumed-erestartsys.txt");
    assert!(spawns(&events).iter().any(|s| s.2), "threads");
    assert!(events.iter().any(|e| matches!(&e.ev,
        EventKind::Other { outcome: Outcome::Err(e), .. } if e == "ERESTARTSYS")));
    assert!(events.iter().any(|e| e.ev
        == EventKind::Signal {
            signal: "SIGUSR1".into()
        }));
    assert!(events
        .iter()
        .any(|e| matches!(e.ev, EventKind::Exec { .. })));
}

#[test]
fn gitlab_tt_t_yy_sockets() {
    let events = events_of("fttTyyy-gitlab-unicorn-restart-syscall-yy-sockets.txt");
    // `-tt`: nanoseconds since midnight (00:09:47.847500 and so on).
    let ts = events[0].ts.expect("timestamps");
    assert!(
        ts > 9 * 60 * 1_000_000_000 && ts < 10 * 60 * 1_000_000_000,
        "{ts}"
    );
    // `close(221</proc/495/fd>) = 0 <0.000019>`
    assert!(events
        .iter()
        .any(|e| e.tid == 567 && e.ev == EventKind::Close { fd: 221 }));
    // `socket(PF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_SOCK_DIAG) = 221<NETLINK:[3604353]>`
    assert!(events.iter().any(|e| e.ev
        == EventKind::OpenOther {
            fd: 221,
            what: "socket".into(),
            cloexec: true
        }));
    assert!(!others(&events, "restart_syscall").is_empty());
}

#[test]
fn strace_testsuite_expectations() {
    let events = events_of("strace-testsuite-qual_fault-exit_group.expected.txt");
    assert_eq!(
        others(&events, "exit_group"),
        vec![&Outcome::Err("ENOSYS".into())]
    );
    assert_eq!(exit_of(&events, 0), Some(&ExitStatus::Code(42)));

    let events = events_of("strace-testsuite-qual_inject-error-signal.expected.txt");
    assert_eq!(
        others(&events, "chdir"),
        vec![&Outcome::Err("ENOENT".into())]
    );
    assert!(events.iter().any(|e| e.ev
        == EventKind::Signal {
            signal: "SIGUSR1".into()
        }));

    let events = events_of("strace-testsuite-status-detached.expected.txt");
    assert_eq!(others(&events, "execve"), vec![&Outcome::Unknown]);

    let events = events_of("strace-testsuite-umovestr.expected.txt");
    assert!(events.iter().any(|e| matches!(&e.ev,
        EventKind::Chdir { path } if path.as_slice().len() > 200
            && path.as_slice().iter().all(|b| *b == b'/'))));

    let events = events_of("strace-testsuite-unix-pair-send-recv.expected.txt");
    assert_eq!(others(&events, "send").len(), 2);
    assert_eq!(others(&events, "recv").len(), 3);
    assert_eq!(exit_of(&events, 0), Some(&ExitStatus::Code(0)));
}
