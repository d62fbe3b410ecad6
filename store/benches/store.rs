//! The store's bars: ingest rate, query latency and size, on a synthetic store of
//! 1,150,000 file accesses across 10,000 runs (see `synthetic/mod.rs`).
//!
//! ```text
//! cargo bench -p tot-store --bench store
//! TOT_BIN=target/release/tot cargo bench -p tot-store --bench store   # also time the real CLI
//! ```
//!
//! Prints: in-memory ingest rate (each record in its own transaction), record-file ingest
//! rate (JSON parsing included), bytes per access row, and the median warm latency of
//! `show` and `lineage --depth 10` (through the library, and through `tot` when `TOT_BIN`
//! is set). Criterion then measures the two queries again.

mod synthetic;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tot_api::Bytes;
use tot_store::{
    FileQuery, IngestObserver, IngestReport, LineageOptions, ProvenanceStore, RecordSource,
    SqliteStore,
};

use synthetic::{build_record, project_dir, projects, release_bytes, sha256_hex, BUILDS};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_median(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

/// CPU time of this thread so far (Linux), to tell the store's cost from a busy machine's
/// waits; `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory for the benchmark store");
    let store_path = dir.path().join("bench.sqlite");

    // Ingest of in-memory records (so JSON parsing is not counted), in batches: each
    // record atomic in a savepoint, one commit per second (as `tot db add` does). Only the
    // ingest calls are timed, not the generation of the records.
    let mut store = SqliteStore::open(&store_path).expect("create the benchmark store");
    let mut ingest_time = Duration::ZERO;
    let mut ingest_cpu = Duration::ZERO;
    let mut rows = 0u64;
    let mut runs = 0u64;
    struct Count(u64, u64);
    impl IngestObserver for Count {
        fn record_finished(
            &mut self,
            _index: usize,
            result: Result<IngestReport, tot_store::Error>,
        ) {
            self.0 += result.expect("ingest a synthetic record").accesses_added;
            self.1 += 1;
        }
    }
    let records: Vec<_> = (0..projects())
        .flat_map(|project| (0..BUILDS).map(move |build| build_record(project, build)))
        .collect();
    let mut count = Count(0, 0);
    let start = Instant::now();
    let cpu_start = thread_cpu_time().unwrap_or_default();
    store
        .ingest_batch(records.iter().map(RecordSource::Memory), &mut count)
        .expect("ingest a batch");
    ingest_time += start.elapsed();
    ingest_cpu += thread_cpu_time()
        .unwrap_or_default()
        .saturating_sub(cpu_start);
    rows += count.0;
    runs += count.1;
    drop(records);
    store.checkpoint().expect("checkpoint");
    let stats = store.stats().expect("stats");
    println!(
        "ingest (in memory, batched): {rows} accesses in {runs} runs in {:.2} s = {:.0} rows/s (bar: >= 200000); \
         CPU time {:.2} s = {:.0} rows per CPU second",
        ingest_time.as_secs_f64(),
        rows as f64 / ingest_time.as_secs_f64(),
        ingest_cpu.as_secs_f64(),
        rows as f64 / ingest_cpu.as_secs_f64()
    );
    println!(
        "size: {} bytes for {} accesses = {:.1} bytes per access row (bar: <= 150); file {} bytes",
        stats.database_bytes, stats.accesses, stats.bytes_per_access, stats.file_bytes
    );

    if std::env::var_os("TOT_BENCH_ONLY_INGEST").is_some() {
        return;
    }

    // Record files, JSON parsing included, into a second store: one transaction per
    // record (`ingest_file`, as `tot run` does), then batched (`ingest_files`, as
    // `tot db add` does) into a third.
    let files_dir = dir.path().join("records");
    std::fs::create_dir_all(&files_dir).expect("records folder");
    let mut files = Vec::new();
    for project in 0..projects().min(10) {
        for build in 0..BUILDS {
            let path = files_dir.join(format!("{project}-{build}.jsonl"));
            tot_record::write_record(&path, &build_record(project, build))
                .expect("write a record file");
            files.push(path);
        }
    }
    let mut file_store = SqliteStore::open(&dir.path().join("files.sqlite")).expect("second store");
    let start = Instant::now();
    let cpu_start = thread_cpu_time().unwrap_or_default();
    let mut file_rows = 0;
    for path in &files {
        file_rows += file_store
            .ingest_file(path, &mut |_| {})
            .expect("ingest a record file")
            .accesses_added;
    }
    let (elapsed, cpu) = (
        start.elapsed(),
        thread_cpu_time()
            .unwrap_or_default()
            .saturating_sub(cpu_start),
    );
    println!(
        "ingest (record files, one commit each): {file_rows} accesses in {} files in {:.2} s = {:.0} rows/s; \
         {:.0} rows per CPU second",
        files.len(),
        elapsed.as_secs_f64(),
        file_rows as f64 / elapsed.as_secs_f64(),
        file_rows as f64 / cpu.as_secs_f64()
    );
    drop(file_store);
    let mut batch_store = SqliteStore::open(&dir.path().join("batch.sqlite")).expect("third store");
    let mut count = Count(0, 0);
    let start = Instant::now();
    let cpu_start = thread_cpu_time().unwrap_or_default();
    batch_store
        .ingest_files(&files, &mut count)
        .expect("ingest record files");
    let (elapsed, cpu) = (
        start.elapsed(),
        thread_cpu_time()
            .unwrap_or_default()
            .saturating_sub(cpu_start),
    );
    println!(
        "ingest (record files, batched): {} accesses in {} files in {:.2} s = {:.0} rows/s; \
         {:.0} rows per CPU second",
        count.0,
        count.1,
        elapsed.as_secs_f64(),
        count.0 as f64 / elapsed.as_secs_f64(),
        count.0 as f64 / cpu.as_secs_f64()
    );
    drop(batch_store);

    // Queries: the newest release of a project, built alternately on two machines.
    let project = 37 % projects();
    let release = release_bytes(project, BUILDS - 1);
    let query = FileQuery {
        path: Bytes::from(format!("{}/release.tar", project_dir(project))),
        sha256: Some(sha256_hex(&release)),
    };
    let options = LineageOptions {
        depth: 10,
        ..LineageOptions::default()
    };
    let shown = store.show(&query, 20).expect("show");
    let graph = store.lineage(&query, &options).expect("lineage");
    let machines: std::collections::BTreeSet<_> =
        graph.processes.iter().map(|p| &p.info.hostname).collect();
    println!(
        "show: {} writer(s), {} inputs; lineage --depth 10: {} processes, {} files, {} edges, machines {:?}",
        shown.writers.len(),
        shown.writers.first().map(|w| w.inputs.len()).unwrap_or(0),
        graph.processes.len(),
        graph.files.len(),
        graph.edges.len(),
        machines
    );
    let show_median = time_median(201, || {
        store.show(&query, 20).expect("show");
    });
    let lineage_median = time_median(201, || {
        store.lineage(&query, &options).expect("lineage");
    });
    println!(
        "library, median warm: show {}, lineage --depth 10 {} (bar: <= 50 ms)",
        ms(show_median),
        ms(lineage_median)
    );

    if let Some(tot) = std::env::var_os("TOT_BIN") {
        let file = dir.path().join("release.tar");
        std::fs::write(&file, &release).expect("write the release file");
        let cli = |args: &[&str]| {
            let tot = Path::new(&tot);
            time_median(31, || {
                let output = Command::new(tot)
                    .args(args)
                    .arg("--db")
                    .arg(&store_path)
                    .arg(&file)
                    .output()
                    .expect("run tot");
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            })
        };
        let show_cli = cli(&["show"]);
        let lineage_cli = cli(&["lineage", "--depth", "10"]);
        println!(
            "tot CLI (process start, store open, file hash, query, output), median warm: \
             show {}, lineage --depth 10 {} (bar: <= 50 ms)",
            ms(show_cli),
            ms(lineage_cli)
        );
    }

    let mut criterion = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion.bench_function("show (1.15M accesses)", |b| {
        b.iter(|| store.show(&query, 20).expect("show"))
    });
    criterion.bench_function("lineage --depth 10 (1.15M accesses)", |b| {
        b.iter(|| store.lineage(&query, &options).expect("lineage"))
    });
    criterion.final_summary();
}
