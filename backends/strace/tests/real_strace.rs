//! The parser on logs the real strace of this machine writes, with exactly the arguments
//! tot's launcher gives it: a shell pipeline, a rename, and a Python program whose thread
//! writes a file. These tests need `strace`, `sh` and `python3`; without them they fail
//! (scripts/install-deps --tests installs them).

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use tot_api::{Access, Event, EventKind, ExitStatus, Outcome};
use tot_backend_strace::{LogKind, StraceBackend};

fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is required for this test (scripts/install-deps --tests installs it)"
    );
}

/// Run `argv` in `dir` under strace with the launcher's arguments; returns the log.
fn strace_log(dir: &Path, argv: &[&str]) -> Vec<u8> {
    require("strace");
    let log = dir.join("trace.log");
    // `--seccomp-bpf` needs strace >= 5.3; the launcher decides the same way.
    let seccomp = Command::new("strace")
        .args([
            "--seccomp-bpf",
            "-f",
            "-e",
            "trace=close",
            "-o",
            "/dev/null",
            "true",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let status = Command::new("strace")
        .args(StraceBackend::arguments(seccomp, &log))
        .arg("--")
        .args(argv)
        .current_dir(dir)
        .status()
        .expect("strace runs");
    assert!(status.success(), "the traced command failed: {status}");
    std::fs::read(&log).expect("strace wrote its log")
}

fn path_of(ev: &EventKind) -> Option<&[u8]> {
    match ev {
        EventKind::Open { path, .. } => Some(path.as_slice()),
        _ => None,
    }
}

/// Every task's first event comes after the `Spawn` that created it (except the root).
fn assert_spawn_before_child_events(events: &[Event]) {
    let root = events[0].tid;
    let mut spawned: HashSet<u32> = HashSet::new();
    for event in events {
        if event.tid != root {
            assert!(
                spawned.contains(&event.tid),
                "tid {} acted before the Spawn that created it: {event:?}",
                event.tid
            );
        }
        if let EventKind::Spawn { child, .. } = event.ev {
            spawned.insert(child);
        }
    }
}

fn execs_by_tid(events: &[Event]) -> HashMap<String, u32> {
    events
        .iter()
        .filter_map(|e| match &e.ev {
            EventKind::Exec { argv, .. } => Some((argv.first()?.to_string(), e.tid)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_shell_pipeline_and_a_rename() {
    require("sh");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = strace_log(
        dir.path(),
        &[
            "sh",
            "-c",
            "echo hello > a.txt; cat a.txt | tr a-z A-Z > b.txt; mv b.txt c.txt",
        ],
    );
    let (summary, sink) = support::parse(&log);
    assert_eq!(summary.kind, LogKind::Trace);
    assert_eq!(sink.warnings(), Vec::<&tot_api::Diagnostic>::new());
    assert_eq!(summary.errors, 0);
    let events = &sink.events;
    assert!(events
        .iter()
        .all(|e| e.ts.is_some_and(|ts| ts > 1_000_000_000 * 1_000_000_000)));
    assert_spawn_before_child_events(events);

    let root = events[0].tid;
    assert!(matches!(&events[0].ev, EventKind::Exec { argv, .. } if argv[0].as_slice() == b"sh"));
    let execs = execs_by_tid(events);
    for program in ["cat", "tr", "mv"] {
        assert!(
            execs.contains_key(program),
            "no exec of {program}: {execs:?}"
        );
    }
    // The shell created a.txt, cat read it, the shell's child wrote b.txt through a pipe.
    let opens: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.ev, EventKind::Open { .. }))
        .collect();
    let a_write = opens
        .iter()
        .find(|e| path_of(&e.ev) == Some(b"a.txt"))
        .expect("a.txt opened");
    assert_eq!(a_write.tid, root);
    let EventKind::Open { flags, outcome, .. } = &a_write.ev else {
        unreachable!()
    };
    assert_eq!(flags.access, Access::Write);
    assert!(flags.create && flags.trunc);
    assert!(matches!(outcome, Outcome::Ok(fd) if *fd >= 0));
    let a_read = opens
        .iter()
        .rev()
        .find(|e| path_of(&e.ev) == Some(b"a.txt"))
        .expect("a.txt read");
    assert_eq!(a_read.tid, execs["cat"]);
    assert!(matches!(&a_read.ev, EventKind::Open { flags, .. } if flags.access == Access::Read));
    assert!(events
        .iter()
        .any(|e| e.tid == root && matches!(e.ev, EventKind::Pipe { .. })));
    assert!(events
        .iter()
        .any(|e| e.tid == execs["cat"] && matches!(e.ev, EventKind::Write { fd: 1 })));
    // mv renamed b.txt to c.txt.
    let rename = events
        .iter()
        .find(|e| matches!(e.ev, EventKind::Rename { .. }))
        .expect("a rename");
    assert_eq!(rename.tid, execs["mv"]);
    let EventKind::Rename { from, to } = &rename.ev else {
        unreachable!()
    };
    assert_eq!(from.path.as_slice(), b"b.txt");
    assert_eq!(to.path.as_slice(), b"c.txt");
    // Each spawned process exited with 0, and so did the shell, last.
    let last = events.last().expect("events");
    assert_eq!(last.tid, root);
    assert!(matches!(
        &last.ev,
        EventKind::Exit {
            status: ExitStatus::Code(0)
        }
    ));
    for tid in execs.values() {
        assert!(events.iter().any(|e| e.tid == *tid
            && matches!(
                e.ev,
                EventKind::Exit {
                    status: ExitStatus::Code(0)
                }
            )));
    }
}

#[test]
fn a_python_thread_writes_a_file_that_is_renamed() {
    require("python3");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("threads.py"),
        "import os, threading\n\
         def work():\n    with open('part.txt', 'w') as f:\n        f.write('from a thread')\n\
         t = threading.Thread(target=work)\nt.start()\nt.join()\n\
         os.rename('part.txt', 'done.txt')\n",
    )
    .expect("write the script");
    // The system python, not a version-manager shim that would exec through shells.
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let log = strace_log(dir.path(), &[python, "threads.py"]);
    let (summary, sink) = support::parse(&log);
    assert_eq!(summary.errors, 0, "{:?}", sink.warnings());
    let events = &sink.events;
    assert_spawn_before_child_events(events);
    let root = events[0].tid;
    let thread = events
        .iter()
        .find_map(|e| match e.ev {
            EventKind::Spawn {
                child,
                thread: true,
                shares_files,
                shares_fs,
            } if e.tid == root => {
                assert!(shares_files && shares_fs);
                Some(child)
            }
            _ => None,
        })
        .expect("python started a thread");
    let part = events
        .iter()
        .find(|e| path_of(&e.ev) == Some(b"part.txt"))
        .expect("part.txt opened");
    assert_eq!(part.tid, thread, "the thread opened part.txt");
    let EventKind::Open {
        flags,
        outcome: Outcome::Ok(fd),
        ..
    } = &part.ev
    else {
        panic!("part.txt open failed: {part:?}")
    };
    assert_eq!(flags.access, Access::Write);
    assert!(flags.create && flags.trunc && flags.cloexec);
    assert!(events
        .iter()
        .any(|e| e.tid == thread && e.ev == EventKind::Write { fd: *fd as i32 }));
    assert!(events
        .iter()
        .any(|e| e.tid == thread && e.ev == EventKind::Close { fd: *fd as i32 }));
    let rename = events
        .iter()
        .find(|e| matches!(e.ev, EventKind::Rename { .. }))
        .expect("a rename");
    assert_eq!(rename.tid, root);
    assert!(matches!(&rename.ev, EventKind::Rename { from, to }
        if from.path.as_slice() == b"part.txt" && to.path.as_slice() == b"done.txt"));
    assert!(events
        .iter()
        .any(|e| e.tid == thread && matches!(e.ev, EventKind::Exit { .. })));
    assert!(matches!(
        &events.last().expect("events").ev,
        EventKind::Exit {
            status: ExitStatus::Code(0)
        }
    ));
}

#[test]
fn a_thread_that_execs_moves_its_execve_to_the_leader() {
    require("python3");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("exec_thread.py"),
        "import os, threading, time\n\
         def work():\n    os.execv('/bin/echo', ['echo', 'from the thread'])\n\
         threading.Thread(target=work).start()\ntime.sleep(5)\n",
    )
    .expect("write the script");
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let log = strace_log(dir.path(), &[python, "exec_thread.py"]);
    assert!(
        log.windows(12).any(|w| w == b"superseded b"),
        "strace printed no `superseded by execve` line"
    );
    let (summary, sink) = support::parse(&log);
    assert_eq!(summary.errors, 0, "{:?}", sink.warnings());
    let root = sink.events[0].tid;
    let echo = sink
        .events
        .iter()
        .find(|e| matches!(&e.ev, EventKind::Exec { path, .. } if path.as_slice() == b"/bin/echo"))
        .expect("the exec of echo");
    assert_eq!(echo.tid, root, "the execve completes in the leader");
    let thread = sink
        .events
        .iter()
        .find_map(|e| match e.ev {
            EventKind::Spawn {
                child,
                thread: true,
                ..
            } => Some(child),
            _ => None,
        })
        .expect("a thread");
    assert!(sink.events.iter().any(|e| e.tid == thread
        && e.ev
            == EventKind::Exit {
                status: ExitStatus::Unknown
            }));
}
