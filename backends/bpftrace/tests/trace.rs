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
