//! Every captured dtruss and DTrace log in the shared corpus parses, and DTrace's own
//! messages (SIP, failures, probe errors, drops) are recognised.

use std::path::{Path, PathBuf};

use tot_api::{Diagnostic, Event, EventKind, EventSink, Outcome, Severity};
use tot_backend_dtrace::{parse_dtruss, DtrussLogKind, DtrussSummary};

#[derive(Default)]
struct Recorder(Vec<Event>, Vec<Diagnostic>);

impl EventSink for Recorder {
    fn event(&mut self, event: Event) {
        self.0.push(event);
    }
    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.1.push(diagnostic);
    }
}

/// The repository's copy of the shared tracer-output corpus.
fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/corpus")
        .join(kind)
}

fn parse_file(path: &Path) -> (DtrussSummary, Recorder) {
    let bytes = std::fs::read(path).unwrap();
    let mut recorder = Recorder::default();
    let summary = parse_dtruss(&bytes, &mut recorder);
    (summary, recorder)
}

fn file(kind: &str, name: &str) -> (DtrussSummary, Recorder) {
    parse_file(&corpus(kind).join(name))
}

#[test]
fn every_corpus_file_parses() {
    let mut files = 0;
    for kind in ["dtruss", "dtrace"] {
        for entry in std::fs::read_dir(corpus(kind)).unwrap() {
            let path = entry.unwrap().path();
            let (summary, recorder) = parse_file(&path);
            files += 1;
            // Nothing is a parse error: unknown lines are the program's output.
            assert!(
                recorder.1.iter().all(|d| !d.message.contains("malformed")),
                "{}: {:?}",
                path.display(),
                recorder.1
            );
            assert_eq!(
                summary.syscalls as usize,
                recorder.0.len(),
                "{}",
                path.display()
            );
        }
    }
    assert_eq!(files, 15);
}

#[test]
fn a_full_macos_trace_becomes_events() {
    let (summary, rec) = file(
        "dtruss",
        "a-all-details-apple-silicon-rust-binary-with-counts.txt",
    );
    assert_eq!(summary.kind, DtrussLogKind::Trace);
    assert!(summary.syscalls > 100, "{summary:?}");
    assert!(rec.0.iter().all(|e| e.tid == 4966));
    // RELATIVE is in microseconds.
    assert_eq!(rec.0[0].ts, Some(232_000));
    assert!(rec.0.iter().any(|e| matches!(&e.ev, EventKind::Other { name, outcome: Outcome::Err(errno) } if name == "crossarch_trap" && errno == "ENOTSUP")));
    assert!(
        rec.0
            .iter()
            .any(|e| matches!(&e.ev, EventKind::Open { .. })),
        "opens"
    );
}

#[test]
fn sip_warning_probe_errors_and_counts() {
    let (summary, rec) = file("dtruss", "c-counts-sip-warning-probe-errors-hello.txt");
    assert!(summary.sip_warning);
    assert!(summary.probe_errors > 0);
    assert_eq!(summary.kind, DtrussLogKind::Trace);
    let opened = rec.0.iter().find_map(|e| match &e.ev {
        EventKind::Open { path, outcome, .. } => Some((path.to_string(), outcome.clone())),
        _ => None,
    });
    assert_eq!(
        opened,
        Some(("/dev/dtracehelper".to_string(), Outcome::Ok(3)))
    );
    assert!(rec
        .1
        .iter()
        .any(|d| d.message.contains("System Integrity Protection") && d.line == Some(1)));

    let (summary, rec) = file("dtruss", "a-sip-on-no-syscalls-empty-counts.txt");
    assert_eq!(summary.kind, DtrussLogKind::CountsOnly);
    assert!(rec
        .1
        .iter()
        .any(|d| d.message.contains("csrutil enable --without dtrace")));
}

#[test]
fn failures_and_drops_are_errors() {
    let (summary, rec) = file(
        "dtruss",
        "t-open-sip-restricted-entitlements-failure-indented.txt",
    );
    assert_eq!(summary.kind, DtrussLogKind::Failed);
    assert!(rec
        .1
        .iter()
        .any(|d| d.severity == Severity::Error && d.message.contains("restricted entitlements")));

    let (summary, rec) = file(
        "dtruss",
        "f-t-open-follow-forks-dtrace-probe-errors-indented.txt",
    );
    assert_eq!(summary.drops, 27063);
    assert!(rec
        .1
        .iter()
        .any(|d| d.severity == Severity::Error && d.message.contains("dropped")));
    assert!(rec
        .0
        .iter()
        .any(|e| e.tid == 85455 && matches!(e.ev, EventKind::Open { .. })));

    let (summary, _) = file(
        "dtrace",
        "invalid-probe-specifier-darwin-d-syntax-error.txt",
    );
    assert_eq!(summary.kind, DtrussLogKind::Failed);
}

#[test]
fn monterey_errnos_without_err_prefix() {
    let (_, rec) = file(
        "dtruss",
        "monterey-du-errno-without-Err-prefix-probe-errors.txt",
    );
    assert!(rec.0.iter().any(|e| matches!(&e.ev, EventKind::Other { name, outcome: Outcome::Err(errno) } if name == "access" && errno == "ENOENT")));
}
