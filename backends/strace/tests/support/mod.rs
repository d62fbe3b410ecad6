//! Shared helpers for the strace parser's tests: a sink that keeps everything, and the
//! corpus location.

#![allow(dead_code)]

use std::path::PathBuf;

use tot_api::{Diagnostic, Event, EventSink, Severity};
use tot_backend_strace::{parse_log, ParseSummary};

/// Keeps every event and diagnostic.
#[derive(Debug, Default)]
pub struct Collect {
    pub events: Vec<Event>,
    pub diagnostics: Vec<Diagnostic>,
}

impl EventSink for Collect {
    fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}

impl Collect {
    /// The warnings (unparseable lines).
    pub fn warnings(&self) -> Vec<&Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Warning)
            .collect()
    }
}

/// Parse bytes, keeping everything.
pub fn parse(input: &[u8]) -> (ParseSummary, Collect) {
    let mut sink = Collect::default();
    let summary = parse_log(input, &mut sink);
    (summary, sink)
}

/// The strace corpus: the repository's copy of the shared corpus (so CI needs nothing
/// outside the checkout).
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/strace")
}

/// A corpus file's bytes, with the mail/reStructuredText indentation of the "indented"
/// files removed (SOURCES.md says those files keep their source's indentation).
pub fn corpus_file(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if name.contains("indented") {
        let mut out = Vec::with_capacity(bytes.len());
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            out.extend_from_slice(line.strip_prefix(b"    ").unwrap_or(line));
        }
        out
    } else {
        bytes
    }
}

/// Every corpus file name, sorted.
pub fn corpus_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("the strace corpus is in tests/corpus/strace")
        .map(|e| {
            e.expect("readable dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    names
}
