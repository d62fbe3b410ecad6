//! The bpftrace backend on real programs under real bpftrace (needs root and bpftrace:
//! these tests fail, never skip, without them).

#![cfg(target_os = "linux")]

use std::ffi::OsString;
use std::path::Path;

use tot_api::{
    Backend, Diagnostic, Event, EventKind, EventSink, ExitStatus, Outcome, Severity, TraceRequest,
};
use tot_backend_bpftrace::BpftraceBackend;

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

impl Recorder {
    fn opened(&self, name: &[u8]) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| matches!(&e.ev, EventKind::Open { path, outcome: Outcome::Ok(_), .. } if path.as_slice().ends_with(name)))
            .collect()
    }

    fn execs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.ev {
                EventKind::Exec { path, .. } => Some(path.to_string()),
                _ => None,
            })
            .collect()
    }

    fn errors(&self) -> Vec<&Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Warning)
            .collect()
    }
}

fn trace(
    argv: &[&str],
    cwd: &Path,
) -> (
    Result<tot_api::TraceOutcome, tot_api::BackendError>,
    Recorder,
) {
    let request = TraceRequest {
        argv: argv.iter().map(OsString::from).collect(),
        cwd: cwd.to_path_buf(),
        options: Default::default(),
    };
    let mut recorder = Recorder::default();
    let outcome = BpftraceBackend::new().trace(&request, &mut recorder);
    (outcome, recorder)
}

#[test]
fn bpftrace_is_installed_and_usable() {
    let availability = BpftraceBackend::new().availability();
    assert!(availability.is_available(), "{availability:?}");
}

#[test]
fn a_shell_pipeline_is_followed_into_every_process() {
    let dir = tempfile::tempdir().unwrap();
    let (outcome, rec) = trace(
        &["bash", "-c", "echo hello | cat > out; cat out"],
        dir.path(),
    );
    let outcome = outcome.unwrap();
    assert_eq!(outcome.status, ExitStatus::Code(0));
    assert!(rec.errors().is_empty(), "{:?}", rec.errors());
    let execs = rec.execs();
    assert_eq!(
        execs.iter().filter(|p| p.ends_with("/cat")).count(),
        2,
        "{execs:?}"
    );
    assert!(execs[0].ends_with("bash"), "{execs:?}");
    // The command's first event is its exec: nothing was missed at start-up.
    let first_of_root = rec
        .events
        .iter()
        .find(|e| Some(e.tid) == outcome.root_pid)
        .unwrap();
    assert!(
        matches!(first_of_root.ev, EventKind::Exec { .. }),
        "{first_of_root:?}"
    );
    let writes: Vec<_> = rec
        .opened(b"out")
        .into_iter()
        .filter(|e| matches!(&e.ev, EventKind::Open { flags, .. } if flags.create))
        .collect();
    assert_eq!(writes.len(), 1);
    assert_eq!(rec.opened(b"out").len(), 2);
    let spawns = rec
        .events
        .iter()
        .filter(|e| matches!(e.ev, EventKind::Spawn { .. }))
        .count();
    assert!(spawns >= 2, "{spawns}");
    assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), b"hello\n");
}

#[test]
fn exit_status_and_signals_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let (outcome, _) = trace(&["sh", "-c", "exit 7"], dir.path());
    assert_eq!(outcome.unwrap().status, ExitStatus::Code(7));
    let (outcome, rec) = trace(&["sh", "-c", "kill -9 $$"], dir.path());
    assert_eq!(
        outcome.unwrap().status,
        ExitStatus::Signal {
            name: "SIGKILL".into(),
            core_dumped: false
        }
    );
    let exits: Vec<_> = rec
        .events
        .iter()
        .filter(|e| matches!(e.ev, EventKind::Exit { .. }))
        .collect();
    assert!(
        matches!(&exits.last().unwrap().ev, EventKind::Exit { status: ExitStatus::Signal { name, .. } } if name == "SIGKILL")
    );
}

#[test]
fn non_utf8_and_tab_names_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (outcome, rec) = trace(
        &["sh", "-c", "printf x > \"$(printf 'caf\\351')\""],
        dir.path(),
    );
    assert_eq!(outcome.unwrap().status, ExitStatus::Code(0));
    assert_eq!(rec.opened(b"caf\xe9").len(), 1, "{:?}", rec.events);
}

#[test]
fn a_missing_command_is_refused_before_tracing() {
    let dir = tempfile::tempdir().unwrap();
    let (outcome, _) = trace(&["no-such-command-tot-bpftrace"], dir.path());
    let error = outcome.unwrap_err();
    assert_eq!(error.kind, tot_api::BackendErrorKind::CommandNotFound);
}

#[test]
fn lost_events_are_reported_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let request = TraceRequest {
        argv: [
            "sh",
            "-c",
            "i=0; while [ $i -lt 20000 ]; do : > f; i=$((i+1)); done",
        ]
        .iter()
        .map(OsString::from)
        .collect(),
        cwd: dir.path().to_path_buf(),
        // One page per CPU: a burst of opens overflows it.
        options: [("perf_rb_pages".to_string(), "1".to_string())]
            .into_iter()
            .collect(),
    };
    let mut rec = Recorder::default();
    let outcome = BpftraceBackend::new().trace(&request, &mut rec).unwrap();
    assert_eq!(outcome.status, ExitStatus::Code(0));
    let lost: Vec<_> = rec
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && d.message.contains("lost"))
        .collect();
    assert!(!lost.is_empty(), "{:?}", rec.diagnostics);
}

#[test]
fn a_command_killed_before_the_probes_attach_is_an_error_not_an_empty_record() {
    let dir = tempfile::tempdir().unwrap();
    let request = TraceRequest {
        argv: vec!["sleep".into(), "5".into()],
        cwd: dir.path().to_path_buf(),
        options: Default::default(),
    };
    // Kill the held command while bpftrace is still attaching (it takes seconds): the gate
    // holds it, so it has not exec'd yet: it is a child of this test running this test's
    // executable, already in the request's directory.
    let me = std::process::id();
    let held_in = dir.path().to_path_buf();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut children = String::new();
        for task in std::fs::read_dir(format!("/proc/{me}/task")).unwrap() {
            let task = task.unwrap().path();
            children += &std::fs::read_to_string(task.join("children")).unwrap_or_default();
            children.push(' ');
        }
        for child in children.split_whitespace() {
            // Other tests' held commands run in other directories.
            let exe = std::fs::read_link(format!("/proc/{child}/exe")).unwrap_or_default();
            let cwd = std::fs::read_link(format!("/proc/{child}/cwd")).unwrap_or_default();
            if exe == std::env::current_exe().unwrap() && cwd == held_in {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", child])
                    .status();
            }
        }
    });
    let mut rec = Recorder::default();
    let error = BpftraceBackend::new()
        .trace(&request, &mut rec)
        .unwrap_err();
    killer.join().unwrap();
    assert_eq!(error.kind, tot_api::BackendErrorKind::Provider);
    assert!(
        error
            .message
            .contains("before bpftrace attached its probes"),
        "{}",
        error.message
    );
    assert!(error.message.contains("SIGKILL"), "{}", error.message);
    assert!(rec.events.is_empty(), "{:?}", rec.events);
}

#[test]
fn per_syscall_tracepoints_see_the_same_as_raw_ones() {
    // `probes = "syscalls"`: one syscalls:sys_enter_NAME/sys_exit_NAME pair per call, the
    // form the design names; slower to attach (see `Probes`), so not the default.
    let dir = tempfile::tempdir().unwrap();
    let run = |probes: &str| {
        let request = TraceRequest {
            argv: ["bash", "-c", "echo hi > a; mv a b; cat b; rm b"]
                .iter()
                .map(OsString::from)
                .collect(),
            cwd: dir.path().to_path_buf(),
            options: [("probes".to_string(), probes.to_string())]
                .into_iter()
                .collect(),
        };
        let mut rec = Recorder::default();
        let outcome = BpftraceBackend::new().trace(&request, &mut rec).unwrap();
        assert_eq!(outcome.status, ExitStatus::Code(0));
        assert!(rec.errors().is_empty(), "{probes}: {:?}", rec.errors());
        let mut kinds: Vec<String> = rec
            .events
            .iter()
            .filter_map(|e| match &e.ev {
                EventKind::Open {
                    path,
                    outcome: Outcome::Ok(_),
                    ..
                } if !path.as_slice().starts_with(b"/") => Some(format!("open {path}")),
                EventKind::Rename { from, to } => Some(format!("rename {} {}", from.path, to.path)),
                EventKind::Unlink { path } => Some(format!("unlink {}", path.path)),
                EventKind::Exec { path, .. } => Some(format!("exec {path}")),
                _ => None,
            })
            .collect();
        kinds.sort();
        kinds
    };
    let raw = run("raw");
    assert!(
        raw.contains(&"rename a b".to_string()) && raw.contains(&"unlink b".to_string()),
        "{raw:?}"
    );
    assert_eq!(run("syscalls"), raw);
}

#[test]
fn task_fields_read_by_btf_offset_or_by_name_agree() {
    // By default the script reads argv and exit codes at offsets from the kernel's BTF;
    // with an unreadable `btf` option it falls back to kernel types by name, and says so.
    let dir = tempfile::tempdir().unwrap();
    let run = |btf: Option<&str>| {
        let request = TraceRequest {
            argv: ["sh", "-c", "sh -c 'exit 3' one 'two words'; exit 5"]
                .iter()
                .map(OsString::from)
                .collect(),
            cwd: dir.path().to_path_buf(),
            options: btf
                .map(|path| ("btf".to_string(), path.to_string()))
                .into_iter()
                .collect(),
        };
        let mut rec = Recorder::default();
        let outcome = BpftraceBackend::new().trace(&request, &mut rec).unwrap();
        assert_eq!(outcome.status, ExitStatus::Code(5));
        let seen: Vec<String> = rec
            .events
            .iter()
            .filter_map(|e| match &e.ev {
                EventKind::Exec { argv, .. } => Some(format!(
                    "exec {}",
                    argv.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join("|")
                )),
                EventKind::Exit { status } => Some(format!("exit {status:?}")),
                _ => None,
            })
            .collect();
        (seen, rec.errors().into_iter().cloned().collect::<Vec<_>>())
    };
    let (by_offset, warnings) = run(None);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        by_offset,
        [
            "exec sh|-c|sh -c 'exit 3' one 'two words'; exit 5",
            "exec sh|-c|exit 3|one|two words",
            "exit Code(3)",
            "exit Code(5)",
        ]
    );
    let (by_name, warnings) = run(Some("/nonexistent/vmlinux"));
    assert_eq!(by_name, by_offset);
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("/nonexistent/vmlinux")),
        "{warnings:?}"
    );
}
