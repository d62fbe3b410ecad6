//! Builder throughput: about a million synthetic events shaped like a `make -j2` C
//! build under strace (fork/exec of compilers, header opens, many writes), folded with
//! hashing off; and live hashing throughput on a large fresh file.
//!
//! `cargo bench -p tot-provenance --bench build`; criterion prints events/s and bytes/s.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tot_api::{Access, Bytes, Event, EventKind, EventSink, ExitStatus, OpenFlags, Outcome, PathAt};
use tot_provenance::{BuildOptions, Hashing, ProvenanceBuilder};

const JOBS: u32 = 2_500;
const HEADERS_PER_JOB: u32 = 60;
const WRITES_PER_JOB: u32 = 200;

fn event(tid: u32, ts: u64, ev: EventKind) -> Event {
    Event {
        tid,
        ts: Some(ts),
        ev,
    }
}

/// A make process that runs JOBS compiler jobs two at a time.
fn synthetic_build() -> Vec<Event> {
    let mut events = Vec::with_capacity(1_050_000);
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut tick = || {
        ts += 1_000;
        ts
    };
    let make = 1000;
    events.push(event(
        make,
        tick(),
        EventKind::Exec {
            dirfd: None,
            path: "/usr/bin/make".into(),
            argv: vec!["make".into(), "-j2".into()],
            env: None,
            cwd: None,
            argv_truncated: false,
        },
    ));
    for pair in 0..JOBS / 2 {
        let jobs = [2000 + pair * 2, 2001 + pair * 2];
        for &job in &jobs {
            events.push(event(
                make,
                tick(),
                EventKind::Spawn {
                    child: job,
                    thread: false,
                    shares_files: false,
                    shares_fs: false,
                },
            ));
            events.push(event(
                job,
                tick(),
                EventKind::Exec {
                    dirfd: None,
                    path: "/usr/lib/gcc/x86_64-linux-gnu/12/cc1".into(),
                    argv: vec!["cc1".into(), format!("src/file{job}.c").into()],
                    env: None,
                    cwd: None,
                    argv_truncated: false,
                },
            ));
        }
        // The two jobs' events interleave, as strace -f prints them.
        for step in 0..HEADERS_PER_JOB {
            for &job in &jobs {
                events.push(event(
                    job,
                    tick(),
                    EventKind::Open {
                        dirfd: None,
                        path: format!("../include/sub{}/header{step}.h", step % 7).into(),
                        flags: OpenFlags {
                            access: Access::Read,
                            cloexec: true,
                            ..OpenFlags::default()
                        },
                        outcome: Outcome::Ok(3),
                    },
                ));
                events.push(event(job, tick(), EventKind::Close { fd: 3 }));
                events.push(event(
                    job,
                    tick(),
                    EventKind::Other {
                        name: "fstat".into(),
                        outcome: Outcome::Ok(0),
                    },
                ));
            }
        }
        for &job in &jobs {
            events.push(event(
                job,
                tick(),
                EventKind::Open {
                    dirfd: None,
                    path: format!("obj/file{job}.s.tmp").into(),
                    flags: OpenFlags {
                        access: Access::Write,
                        create: true,
                        trunc: true,
                        ..OpenFlags::default()
                    },
                    outcome: Outcome::Ok(4),
                },
            ));
        }
        for _ in 0..WRITES_PER_JOB {
            for &job in &jobs {
                events.push(event(job, tick(), EventKind::Write { fd: 4 }));
            }
        }
        for &job in &jobs {
            events.push(event(job, tick(), EventKind::Close { fd: 4 }));
            events.push(event(
                job,
                tick(),
                EventKind::Rename {
                    from: PathAt::cwd(format!("obj/file{job}.s.tmp")),
                    to: PathAt::cwd(format!("obj/file{job}.s")),
                },
            ));
            events.push(event(
                job,
                tick(),
                EventKind::Exit {
                    status: ExitStatus::Code(0),
                },
            ));
        }
    }
    events.push(event(
        make,
        tick(),
        EventKind::Exit {
            status: ExitStatus::Code(0),
        },
    ));
    events
}

fn fold(events: Vec<Event>, hashing: Hashing, cwd: Bytes) -> usize {
    let mut options = BuildOptions::new("r-bench", cwd);
    options.hashing = hashing;
    let mut builder = ProvenanceBuilder::new(options);
    let mut lines = 0;
    for (index, event) in events.into_iter().enumerate() {
        builder.event(event);
        // Stream out as the CLI would.
        if index % 4096 == 0 {
            let (processes, accesses) = builder.drain_finished();
            lines += processes.len() + accesses.len();
        }
    }
    let (processes, accesses, _) = builder.finish();
    lines + processes.len() + accesses.len()
}

fn build_events(c: &mut Criterion) {
    let events = synthetic_build();
    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(format!("{}_events_hashing_off", events.len()), |b| {
        b.iter_batched(
            || events.clone(),
            |events| black_box(fold(events, Hashing::Off, "/src/project".into())),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn live_hashing(c: &mut Criterion) {
    const SIZE: usize = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &data).expect("write the test file");
    let cwd = Bytes::from_os_str(dir.path().as_os_str());
    let read_big = vec![
        event(
            1,
            1,
            EventKind::Exec {
                dirfd: None,
                path: "/bin/cat".into(),
                argv: vec!["cat".into()],
                env: None,
                cwd: None,
                argv_truncated: false,
            },
        ),
        event(
            1,
            2,
            EventKind::Open {
                dirfd: None,
                path: "big.bin".into(),
                flags: OpenFlags::default(),
                outcome: Outcome::Ok(3),
            },
        ),
        event(
            1,
            3,
            EventKind::Exit {
                status: ExitStatus::Code(0),
            },
        ),
    ];
    let mut group = c.benchmark_group("hash");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(SIZE as u64));
    // A new builder per iteration: a new cache, so the file is really read each time.
    group.bench_function("live_64MiB_file", |b| {
        b.iter_batched(
            || read_big.clone(),
            |events| black_box(fold(events, Hashing::Live, cwd.clone())),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, build_events, live_hashing);
criterion_main!(benches);
