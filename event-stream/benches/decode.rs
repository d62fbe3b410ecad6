//! Decoding speed of the event-stream JSON Lines (the bar: 1,000,000 events/s).
//!
//! The stream mimics a build: mostly opens of long paths, closes and writes, with some
//! process lifecycle events. `decode_reader` is wall-clock time; `decode_reader_cpu` is the
//! CPU time of the decoding thread (reported in criterion's time columns), which stays
//! meaningful on a machine shared with other work.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tot_api::{
    Access, Bytes, Diagnostic, Event, EventKind, EventSink, ExitStatus, OpenFlags, Outcome,
};
use tot_event_stream::{decode_reader, StreamWriter};

const EVENTS: u64 = 100_000;

fn workload() -> Vec<u8> {
    let mut writer = StreamWriter::new(Vec::new(), Some("bench")).expect("writing to a Vec");
    for i in 0..EVENTS {
        let tid = 1000 + (i / 50) as u32;
        let ev = match i % 10 {
            0 => EventKind::Exec {
                dirfd: None,
                path: "/usr/bin/cc".into(),
                argv: vec![
                    "cc".into(),
                    "-c".into(),
                    format!("src/module_{i}.c").into(),
                    "-o".into(),
                    format!("build/module_{i}.o").into(),
                ],
                env: None,
                cwd: Some("/home/user/project".into()),
                argv_truncated: false,
            },
            1..=4 => EventKind::Open {
                dirfd: Some(-100),
                path: Bytes::from(format!(
                    "/usr/include/x86_64-linux-gnu/bits/types/struct_{i}.h"
                )),
                flags: OpenFlags {
                    access: Access::Read,
                    cloexec: true,
                    ..Default::default()
                },
                outcome: Outcome::Ok(3),
            },
            5 => EventKind::Open {
                dirfd: None,
                path: Bytes::from(format!("build/module_{i}.o")),
                flags: OpenFlags {
                    access: Access::Write,
                    create: true,
                    trunc: true,
                    ..Default::default()
                },
                outcome: Outcome::Ok(4),
            },
            6 | 7 => EventKind::Write { fd: 4 },
            8 => EventKind::Close { fd: 3 },
            _ => EventKind::Exit {
                status: ExitStatus::Code(0),
            },
        };
        let event = Event {
            tid,
            ts: Some(1_700_000_000_000_000_000 + i * 1000),
            ev,
        };
        writer.event(&event).expect("writing to a Vec");
    }
    writer.into_inner().expect("writing to a Vec")
}

struct Count(u64);

impl EventSink for Count {
    fn event(&mut self, event: Event) {
        self.0 += u64::from(event.tid > 0);
    }
    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        panic!("the bench stream is well formed: {diagnostic}");
    }
}

fn decode(c: &mut Criterion) {
    let stream = workload();
    let mut group = c.benchmark_group("event-stream");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    group.bench_function("decode_reader", |b| {
        b.iter(|| {
            let mut sink = Count(0);
            let summary = decode_reader(&stream[..], &mut sink).expect("the bench stream is valid");
            assert_eq!(summary.events, EVENTS);
            sink.0
        })
    });
    group.bench_function("decode_reader_cpu", |b| {
        b.iter_custom(|iterations| {
            let start = thread_cpu_now();
            for _ in 0..iterations {
                let mut sink = Count(0);
                decode_reader(&stream[..], &mut sink).expect("the bench stream is valid");
            }
            thread_cpu_now().saturating_sub(start)
        })
    });
    group.finish();
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_now() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and the clock exists on Linux and macOS.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

criterion_group!(benches, decode);
criterion_main!(benches);
