//! Parser throughput on a real `strace -f` log of a real build.
//!
//! The log is not in git (it is 100+ MB): make it with `scripts/make-strace-log OUT`, then
//! `TOT_STRACE_LOG=OUT cargo bench -p tot-backend-strace --bench parse`. Criterion reports
//! MB/s (`thrpt`); compare with `time wc -l OUT` on the same file. `newlines` is the floor
//! any line-based parser pays: finding the line ends with memchr.
//!
//! Two groups: `strace` measures wall-clock time, `strace-cpu` the CPU time of the
//! benchmark thread. On a shared machine the second is the one that says what the parser
//! does on one core; when the machine is idle the two agree.

// criterion's macros define undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
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

/// The log, read once, and checked to be a trace the parser reads cleanly.
fn log() -> &'static [u8] {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os("TOT_STRACE_LOG").unwrap_or_else(|| {
            panic!(
                "set TOT_STRACE_LOG to a real strace -f log (make one with \
                 `scripts/make-strace-log /work/targets/strace-build.log`); \
                 refusing to benchmark nothing"
            )
        });
        let log = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("cannot read TOT_STRACE_LOG={}: {e}", path.to_string_lossy())
        });
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
        log
    })
}

fn parse_benches<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let log = log();
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("newlines", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(log)).count())
    });
    group.bench_function("parse_log", |b| {
        b.iter(|| {
            let mut sink = CountingSink::default();
            parse_log(black_box(log), &mut sink);
            sink.events
        })
    });
    group.bench_function("parse_reader", |b| {
        b.iter(|| {
            let mut sink = CountingSink::default();
            parse_reader(black_box(log), &mut sink).expect("reading memory cannot fail");
            sink.events
        })
    });
    group.finish();
}

fn wall(c: &mut Criterion) {
    parse_benches(c, "strace");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    parse_benches(c, "strace-cpu");
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): what one core spent,
/// whatever else the machine runs.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec, and CLOCK_THREAD_CPUTIME_ID exists on
    // every Linux; the call writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Formats nanoseconds of CPU time, and bytes per CPU second.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical_ns < 1e3 {
            (1.0, "ns cpu")
        } else if typical_ns < 1e6 {
            (1e-3, "µs cpu")
        } else if typical_ns < 1e9 {
            (1e-6, "ms cpu")
        } else {
            (1e-9, "s cpu")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        _typical_ns: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (amount, unit) = match *throughput {
            Throughput::Bytes(n) => (n as f64 / (1024.0 * 1024.0), "MiB/s cpu"),
            Throughput::BytesDecimal(n) => (n as f64 / 1e6, "MB/s cpu"),
            Throughput::Elements(n) => (n as f64, "elem/s cpu"),
        };
        for v in values {
            *v = amount / (*v * 1e-9);
        }
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);
