//! Parser throughput on a real `strace -f` log of a real build.
//!
//! The log is not in git (it is 100+ MB): make it with `scripts/make-strace-log OUT`, then
//! `TOT_STRACE_LOG=OUT cargo bench -p tot-backend-strace`. Criterion reports MB/s
//! (`thrpt`); compare with `time wc -l OUT` on the same file. The `newlines` benchmark is
//! the floor any line-based parser pays: finding the line ends with memchr.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tot_api::{Diagnostic, Event, EventKind, EventSink, Severity};
use tot_backend_strace::{parse_log, parse_reader, LogKind};

/// Counts what it is given and drops it, so the benchmark measures the parser alone.
#[derive(Default)]
struct CountingSink {
    events: u64,
    opens: u64,
    warnings: u64,
}

impl EventSink for CountingSink {
    fn event(&mut self, event: Event) {
        self.events += 1;
        if matches!(event.ev, EventKind::Open { .. }) {
            self.opens += 1;
        }
        black_box(&event);
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        if diagnostic.severity >= Severity::Warning {
            self.warnings += 1;
        }
    }
}

fn load_log() -> Vec<u8> {
    let path = std::env::var_os("TOT_STRACE_LOG").unwrap_or_else(|| {
        panic!(
            "set TOT_STRACE_LOG to a real strace -f log (make one with \
             `scripts/make-strace-log /work/targets/strace-build.log`); \
             refusing to benchmark nothing"
        )
    });
    let log = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read TOT_STRACE_LOG={}: {e}", path.to_string_lossy()));
    assert!(
        !log.is_empty(),
        "TOT_STRACE_LOG={} is empty",
        path.to_string_lossy()
    );
    log
}

fn benches(c: &mut Criterion) {
    let log = load_log();
    // Check once that it is a trace the parser reads cleanly, and say what it holds.
    let mut sink = CountingSink::default();
    let summary = parse_log(&log, &mut sink);
    assert_eq!(
        summary.kind,
        LogKind::Trace,
        "TOT_STRACE_LOG is not an strace trace"
    );
    eprintln!(
        "log: {} bytes, {} lines, {} events ({} opens), {} unparseable lines",
        log.len(),
        summary.lines,
        sink.events,
        sink.opens,
        summary.errors
    );

    let mut group = c.benchmark_group("strace");
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("newlines", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&log)).count())
    });
    group.bench_function("parse_log", |b| {
        b.iter(|| {
            let mut sink = CountingSink::default();
            parse_log(black_box(&log), &mut sink);
            sink.events
        })
    });
    group.bench_function("parse_reader", |b| {
        b.iter(|| {
            let mut sink = CountingSink::default();
            parse_reader(black_box(&log[..]), &mut sink).expect("reading memory cannot fail");
            sink.events
        })
    });
    group.finish();
}

criterion_group!(parse, benches);
criterion_main!(parse);
