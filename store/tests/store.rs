//! The store on real SQLite files: ingest rules, queries, and bad input.

use std::path::{Path, PathBuf};

use tot_api::record::{RECORD_FORMAT, RECORD_VERSION};
use tot_api::{AccessKind, Bytes, ExitStatus, FileAccess, ProcessEntry, RunHeader, RunRecord};
use tot_store::{
    BatchOutcome, Direction, ErrorKind, FileQuery, IngestObserver, IngestReport, LineageOptions,
    ProvenanceStore, RecordSource, SqliteStore,
};

fn sha(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds a record the way `tot run` would describe it.
struct Run {
    record: RunRecord,
    accesses_per_process: std::collections::HashMap<String, usize>,
}

impl Run {
    fn new(run_id: &str, machine: &str, hostname: &str, argv: &[&str]) -> Run {
        Run {
            record: RunRecord {
                header: RunHeader {
                    format: RECORD_FORMAT.into(),
                    version: RECORD_VERSION,
                    run_id: run_id.into(),
                    machine_id: machine.into(),
                    hostname: hostname.into(),
                    os: "linux".into(),
                    backend: "strace".into(),
                    tot_version: "0.1.0".into(),
                    argv: argv.iter().map(|a| Bytes::from(*a)).collect(),
                    cwd: "/work".into(),
                    start: Some(1_000),
                    end: Some(9_000),
                    exit: Some(ExitStatus::Code(0)),
                },
                processes: Vec::new(),
                accesses: Vec::new(),
            },
            accesses_per_process: Default::default(),
        }
    }

    /// Adds a process epoch; returns its id.
    fn process(&mut self, pid: u32, parent: Option<&str>, argv: &[&str], start: u64) -> String {
        let id = format!("{}:{pid}:0", self.record.header.run_id);
        self.record.processes.push(ProcessEntry {
            id: id.clone(),
            pid,
            parent: parent.map(str::to_string),
            exe: Some(format!("/usr/bin/{}", argv[0]).into()),
            argv: argv.iter().map(|a| Bytes::from(*a)).collect(),
            cwd: "/work".into(),
            start: Some(start),
            end: Some(start + 100),
            exit: Some(ExitStatus::Code(0)),
        });
        id
    }

    fn access(
        &mut self,
        process: &str,
        kind: AccessKind,
        path: impl Into<Bytes>,
        content: Option<&str>,
        time: u64,
    ) {
        let count = self
            .accesses_per_process
            .entry(process.to_string())
            .or_default();
        let n = *count;
        *count += 1;
        self.record.accesses.push(FileAccess {
            id: format!("{process}:{n}"),
            process: process.into(),
            path: path.into(),
            kind,
            source: None,
            sha256: content.map(sha),
            size: content.map(|c| c.len() as u64),
            mtime: None,
            time: Some(time),
            note: None,
        });
    }

    fn write_to(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        tot_record::write_record(&path, &self.record).expect("write record");
        path
    }
}

/// Machine A compiles `main.c` into `main.o`; machine B links that `main.o` (copied over,
/// same content) into `app`.
fn two_machines() -> (Run, Run) {
    let mut a = Run::new("r-a", "machine-a", "host-a", &["make"]);
    let make = a.process(10, None, &["make"], 1_000);
    let cc = a.process(11, Some(&make), &["cc", "-c", "main.c"], 2_000);
    a.access(
        &cc,
        AccessKind::Exec,
        "/usr/bin/cc",
        Some("cc binary"),
        2_001,
    );
    a.access(
        &cc,
        AccessKind::Read,
        "/work/main.c",
        Some("int main() {}"),
        2_002,
    );
    a.access(
        &cc,
        AccessKind::Write,
        "/work/main.o",
        Some("object code"),
        2_003,
    );

    let mut b = Run::new("r-b", "machine-b", "host-b", &["sh", "-c", "ld"]);
    let sh = b.process(20, None, &["sh", "-c", "ld -o app main.o"], 5_000);
    let ld = b.process(21, Some(&sh), &["ld", "-o", "app", "main.o"], 6_000);
    b.access(
        &ld,
        AccessKind::Read,
        "/build/main.o",
        Some("object code"),
        6_001,
    );
    b.access(&ld, AccessKind::Read, "/lib/libc.a", Some("libc"), 6_002);
    b.access(&ld, AccessKind::Write, "/build/app", Some("the app"), 6_003);
    (a, b)
}

fn counts(store: &SqliteStore) -> (u64, u64, u64) {
    let stats = store.stats().expect("stats");
    (stats.runs, stats.processes, stats.accesses)
}

fn query(path: &str, content: Option<&str>) -> FileQuery {
    FileQuery {
        path: path.into(),
        sha256: content.map(sha),
    }
}

#[test]
fn show_finds_writer_inputs_and_ancestry_by_content_on_any_machine() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, b) = two_machines();
    store.ingest_record(&a.record).unwrap();
    store.ingest_record(&b.record).unwrap();

    // A copy of main.o somewhere else entirely still finds machine A's compiler.
    let report = store
        .show(&query("/elsewhere/copy.o", Some("object code")), 20)
        .unwrap();
    assert_eq!(report.writers.len(), 1);
    let writer = &report.writers[0];
    assert_eq!(writer.machine, "machine-a");
    assert_eq!(writer.hostname, "host-a");
    assert_eq!(writer.run, "r-a");
    assert_eq!(writer.pid, 11);
    assert_eq!(
        writer.argv,
        vec![Bytes::from("cc"), Bytes::from("-c"), Bytes::from("main.c")]
    );
    assert_eq!(writer.exit_code, Some(0));
    let inputs: Vec<(String, Option<String>)> = writer
        .inputs
        .iter()
        .map(|i| (i.path.to_string(), i.sha256.clone()))
        .collect();
    assert_eq!(
        inputs,
        vec![
            ("/usr/bin/cc".to_string(), Some(sha("cc binary"))),
            ("/work/main.c".to_string(), Some(sha("int main() {}"))),
        ]
    );
    assert_eq!(writer.ancestry.len(), 1);
    assert_eq!(writer.ancestry[0].argv, vec![Bytes::from("make")]);

    // The JSON form carries the keys `tot show --json` promises.
    let json = serde_json::to_value(&report).unwrap();
    for key in ["path", "sha256", "writers"] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    for key in [
        "argv",
        "exe",
        "cwd",
        "pid",
        "machine",
        "run",
        "start",
        "end",
        "exit_code",
        "inputs",
        "ancestry",
    ] {
        assert!(
            json["writers"][0].get(key).is_some(),
            "writers[].{key} missing: {json}"
        );
    }
    assert_eq!(json["writers"][0]["inputs"][1]["path"], "/work/main.c");
    assert_eq!(json["writers"][0]["ancestry"][0]["argv"][0], "make");

    // Nothing known: no writers.
    let unknown = store
        .show(&query("/work/main.c", Some("changed since")), 20)
        .unwrap();
    assert!(unknown.writers.is_empty());
}

#[test]
fn show_by_path_lists_writes_newest_first_when_the_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    for (n, content) in ["v1", "v2", "v3"].iter().enumerate() {
        let mut run = Run::new(&format!("r-{n}"), "m", "h", &["gen"]);
        let p = run.process(
            100 + n as u32,
            None,
            &["gen", content],
            1_000 * (n as u64 + 1),
        );
        run.access(
            &p,
            AccessKind::Write,
            "/out/data.bin",
            Some(content),
            1_000 * (n as u64 + 1) + 5,
        );
        store.ingest_record(&run.record).unwrap();
    }
    let report = store.show(&query("/out/data.bin", None), 2).unwrap();
    let runs: Vec<&str> = report.writers.iter().map(|w| w.run.as_str()).collect();
    assert_eq!(runs, vec!["r-2", "r-1"]);
    assert_eq!(report.more_writers, 1);
    // The file exists now with content nobody wrote: say that the path had other writes.
    let changed = store
        .show(&query("/out/data.bin", Some("edited by hand")), 20)
        .unwrap();
    assert!(changed.writers.is_empty());
    assert_eq!(changed.writes_of_other_content, 3);
}

#[test]
fn adding_a_record_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("store.sqlite");
    let mut store = SqliteStore::open(&store_path).unwrap();
    let (a, _) = two_machines();
    let file = a.write_to(dir.path(), "a.jsonl");
    let first = store.ingest_file(&file, &mut |_| {}).unwrap();
    assert_eq!((first.processes_added, first.accesses_added), (2, 3));
    let before = counts(&store);
    let size_before = store.stats().unwrap().database_bytes;
    let second = store.ingest_file(&file, &mut |_| {}).unwrap();
    assert!(second.run_was_known);
    assert_eq!((second.processes_added, second.accesses_added), (0, 0));
    assert_eq!((second.processes_known, second.accesses_known), (2, 3));
    assert_eq!(counts(&store), before);
    assert_eq!(store.stats().unwrap().database_bytes, size_before);
    assert_eq!(
        store
            .show(&query("/x", Some("object code")), 20)
            .unwrap()
            .writers
            .len(),
        1
    );
}

#[test]
fn a_record_cut_short_and_the_complete_one_overlap_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, _) = two_machines();
    // What a crash leaves: the partial file with the header as known at the start and
    // the lines streamed so far.
    let final_path = dir.path().join("a.jsonl");
    let mut started = a.record.header.clone();
    started.end = None;
    started.exit = None;
    let mut writer = tot_record::RecordWriter::create(&final_path, &started).unwrap();
    writer
        .append(&a.record.processes, &a.record.accesses[..2])
        .unwrap();
    writer.flush().unwrap();
    let partial = writer.partial_file().to_path_buf();
    let cut = store.ingest_file(&partial, &mut |_| {}).unwrap();
    assert_eq!(cut.accesses_added, 2);
    assert_eq!(store.runs(&Default::default()).unwrap()[0].end, None);

    writer.append(&[], &a.record.accesses[2..]).unwrap();
    let done = writer.finish(&a.record.header).unwrap();
    let full = store.ingest_file(&done, &mut |_| {}).unwrap();
    assert!(full.run_was_known);
    assert_eq!((full.accesses_added, full.accesses_known), (1, 2));
    assert_eq!(counts(&store), (1, 2, 3));
    let run = &store.runs(&Default::default()).unwrap()[0];
    assert_eq!(run.end, Some(9_000));
    assert_eq!(run.exit_code, Some(0));
}

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, _) = two_machines();
    let file = a.write_to(dir.path(), "a.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.insert(3, "{\"access\": this is not json".into());
    lines.insert(5, "{\"process\":{\"id\":42}}".into());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let report = store.ingest_file(&file, &mut |_| {}).unwrap();
    assert_eq!(report.accesses_added, 3);
    assert_eq!(report.processes_added, 2);
    let skipped: Vec<String> = report.skipped_lines.iter().map(|e| e.to_string()).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped[0].starts_with(&format!("{}:4: ", file.display())),
        "{skipped:?}"
    );
    assert!(
        skipped[1].starts_with(&format!("{}:6: ", file.display())),
        "{skipped:?}"
    );
}

#[test]
fn foreign_and_newer_records_are_refused_and_leave_the_store_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, _) = two_machines();
    store.ingest_record(&a.record).unwrap();
    let before = counts(&store);

    let foreign = dir.path().join("package.json");
    std::fs::write(
        &foreign,
        "{\"name\": \"left-pad\", \"version\": \"1.3.0\"}\n",
    )
    .unwrap();
    let error = store.ingest_file(&foreign, &mut |_| {}).unwrap_err();
    assert_eq!(*error.kind(), ErrorKind::Record);
    assert!(
        error.to_string().contains("not a tot run record"),
        "{error}"
    );
    assert!(error.to_string().contains("package.json"), "{error}");

    let newer = dir.path().join("newer.jsonl");
    std::fs::write(
        &newer,
        format!(
            "{{\"header\":{{\"format\":\"tot-run\",\"version\":{}}}}}\n",
            RECORD_VERSION + 1
        ),
    )
    .unwrap();
    let error = store.ingest_file(&newer, &mut |_| {}).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&format!("version {}", RECORD_VERSION + 1)),
        "{message}"
    );
    assert!(
        message.contains(&format!("version {RECORD_VERSION}")),
        "{message}"
    );
    assert_eq!(counts(&store), before);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_by_name_and_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::NotAStore { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("left untouched"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
    assert!(!Path::new(&format!("{}-wal", path.display())).exists());
}

#[test]
fn another_programs_database_is_refused_and_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::NotAStore { .. }),
        "{error:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_damaged_store_is_reported_by_name_and_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let mut store = SqliteStore::open(&path).unwrap();
        let (a, b) = two_machines();
        store.ingest_record(&a.record).unwrap();
        store.ingest_record(&b.record).unwrap();
        store.checkpoint().unwrap();
    }
    // Scribble over every page after the first (the schema survives, the data does not).
    let mut bytes = std::fs::read(&path).unwrap();
    for (i, byte) in bytes.iter_mut().enumerate().skip(4096) {
        *byte = (i % 253) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let result = SqliteStore::open(&path).and_then(|store| {
        store.stats()?;
        store.show(&query("/x", Some("object code")), 20)
    });
    let error = result.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Corrupt | ErrorKind::NotAStore { .. }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_store_with_a_newer_schema_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE tot_schema SET value = '99' WHERE name = 'version'",
            [],
        )
        .unwrap();
    }
    let error = SqliteStore::open(&path).unwrap_err();
    assert_eq!(
        *error.kind(),
        ErrorKind::NewerSchema {
            found: 99,
            supported: tot_store::schema::SCHEMA_VERSION
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("99")
            && message.contains(&format!("version {}", tot_store::schema::SCHEMA_VERSION))
    );
}

#[test]
fn lineage_crosses_machines_by_content_and_goes_down_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, b) = two_machines();
    store.ingest_record(&a.record).unwrap();
    store.ingest_record(&b.record).unwrap();

    let up = store
        .lineage(
            &query("/build/app", Some("the app")),
            &LineageOptions::default(),
        )
        .unwrap();
    let hosts: Vec<&str> = up
        .processes
        .iter()
        .map(|p| p.info.hostname.as_str())
        .collect();
    assert_eq!(hosts, vec!["host-b", "host-a"]);
    let text = tot_store::lineage::render_text(&up, false);
    assert!(text.contains("ld -o app main.o"), "{text}");
    assert!(text.contains("cc -c main.c"), "{text}");
    assert!(text.contains("/work/main.c"), "{text}");
    // Depth 1 stops at the linker.
    let shallow = store
        .lineage(
            &query("/build/app", Some("the app")),
            &LineageOptions {
                depth: 1,
                ..LineageOptions::default()
            },
        )
        .unwrap();
    assert_eq!(shallow.processes.len(), 1);

    let down = store
        .lineage(
            &query("/work/main.c", Some("int main() {}")),
            &LineageOptions {
                direction: Direction::Down,
                ..LineageOptions::default()
            },
        )
        .unwrap();
    let made: Vec<String> = down.files.iter().filter_map(|f| f.sha256.clone()).collect();
    assert!(made.contains(&sha("the app")), "{made:?}");
}

#[test]
fn lineage_is_safe_on_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    // x -> y and y -> x, over and over: the same two contents written back and forth.
    let mut run = Run::new("r-cycle", "m", "h", &["loop"]);
    for n in 0..6u32 {
        let (from, to) = if n % 2 == 0 { ("x", "y") } else { ("y", "x") };
        let p = run.process(
            100 + n,
            None,
            &["conv", from, to],
            1_000 + u64::from(n) * 10,
        );
        run.access(
            &p,
            AccessKind::Read,
            format!("/d/{from}"),
            Some(from),
            1_001 + u64::from(n) * 10,
        );
        run.access(
            &p,
            AccessKind::Write,
            format!("/d/{to}"),
            Some(to),
            1_002 + u64::from(n) * 10,
        );
    }
    store.ingest_record(&run.record).unwrap();
    let graph = store
        .lineage(
            &query("/d/x", Some("x")),
            &LineageOptions {
                depth: 1_000,
                ..LineageOptions::default()
            },
        )
        .unwrap();
    assert_eq!(graph.processes.len(), 6);
    assert_eq!(graph.files.len(), 2);
    let text = tot_store::lineage::render_text(&graph, false);
    assert!(text.contains("(see above)"), "{text}");
}

#[test]
fn non_utf8_paths_and_arguments_survive_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let weird = Bytes(vec![b'/', b'd', b'/', 0xff, 0xfe, b'.', b'o']);
    let mut run = Run::new("r-bytes", "m", "h", &["x"]);
    let p = run.process(7, None, &["cp"], 1_000);
    run.record.processes[0].argv.push(weird.clone());
    run.access(
        &p,
        AccessKind::Read,
        Bytes(vec![b'/', 0x80]),
        Some("in"),
        1_001,
    );
    run.access(&p, AccessKind::Write, weird.clone(), Some("out"), 1_002);
    let file = run.write_to(dir.path(), "bytes.jsonl");
    store.ingest_file(&file, &mut |_| {}).unwrap();
    let report = store
        .show(
            &FileQuery {
                path: weird.clone(),
                sha256: None,
            },
            20,
        )
        .unwrap();
    assert_eq!(report.writers.len(), 1);
    assert_eq!(report.writers[0].output.path, weird);
    assert_eq!(report.writers[0].argv[1], weird);
    assert_eq!(report.writers[0].inputs[0].path, Bytes(vec![b'/', 0x80]));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["writers"][0]["output"]["path"]["b64"], "L2Qv//4ubw==");
}

#[test]
fn processes_described_after_their_accesses_are_joined_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let mut run = Run::new("r-late", "m", "h", &["sh"]);
    let parent = run.process(1, None, &["sh"], 1_000);
    let child = run.process(2, Some(&parent), &["gen"], 1_100);
    run.access(&child, AccessKind::Write, "/o", Some("o"), 1_101);
    // Lines in the worst order: accesses, then the child, then its parent.
    run.record.processes.reverse();
    let lines = RunRecord {
        header: run.record.header.clone(),
        processes: Vec::new(),
        accesses: run.record.accesses.clone(),
    };
    let path = dir.path().join("late.jsonl");
    tot_record::write_record(&path, &lines).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    for process in &run.record.processes {
        text.push_str(
            &serde_json::to_string(&tot_api::RecordLine::Process(process.clone())).unwrap(),
        );
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let report = store.ingest_file(&path, &mut |_| {}).unwrap();
    assert_eq!(report.undescribed_processes, 0);
    assert_eq!(report.processes_added, 2);
    let shown = store.show(&query("/o", Some("o")), 20).unwrap();
    assert_eq!(shown.writers[0].argv, vec![Bytes::from("gen")]);
    assert_eq!(shown.writers[0].ancestry[0].argv, vec![Bytes::from("sh")]);
}

#[test]
fn two_writers_at_once_both_get_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    let big = |tag: &str| {
        let mut run = Run::new(&format!("r-{tag}"), &format!("m-{tag}"), tag, &["build"]);
        let p = run.process(1, None, &["build"], 1_000);
        for n in 0..20_000u64 {
            run.access(
                &p,
                AccessKind::Read,
                format!("/src/{tag}/{n}.c"),
                Some(&format!("{tag}{n}")),
                1_000 + n,
            );
        }
        run.write_to(dir.path(), &format!("{tag}.jsonl"))
    };
    let files = [big("one"), big("two")];
    let threads: Vec<_> = files
        .iter()
        .cloned()
        .map(|file| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = SqliteStore::open(&path).expect("open from a second writer");
                store
                    .ingest_file(&file, &mut |_| {})
                    .expect("ingest while another writes")
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap().accesses_added, 20_000);
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(counts(&store), (2, 2, 40_000));
}

struct Recorder {
    results: Vec<Result<IngestReport, tot_store::Error>>,
    cancel_after: usize,
}

impl IngestObserver for Recorder {
    fn cancelled(&self) -> bool {
        self.results.len() >= self.cancel_after
    }

    fn record_finished(&mut self, _index: usize, result: Result<IngestReport, tot_store::Error>) {
        self.results.push(result);
    }
}

#[test]
fn a_batch_keeps_each_record_whole_and_stops_cleanly_when_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, b) = two_machines();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "not a record\n").unwrap();
    let files = [
        a.write_to(dir.path(), "a.jsonl"),
        bad,
        b.write_to(dir.path(), "b.jsonl"),
    ];
    let mut recorder = Recorder {
        results: Vec::new(),
        cancel_after: usize::MAX,
    };
    let outcome = store.ingest_files(&files, &mut recorder).unwrap();
    assert_eq!(outcome, BatchOutcome::Completed);
    assert!(recorder.results[0].is_ok());
    assert_eq!(
        *recorder.results[1].as_ref().unwrap_err().kind(),
        ErrorKind::Record
    );
    assert!(recorder.results[2].is_ok());
    assert_eq!(counts(&store), (2, 4, 6));

    // Cancelled after the first record: it stays, the rest is not added.
    let mut fresh = SqliteStore::open(&dir.path().join("fresh.sqlite")).unwrap();
    let mut recorder = Recorder {
        results: Vec::new(),
        cancel_after: 1,
    };
    let in_memory = [
        RecordSource::Memory(&a.record),
        RecordSource::Memory(&b.record),
    ];
    let outcome = fresh.ingest_batch(in_memory, &mut recorder).unwrap();
    assert_eq!(outcome, BatchOutcome::Interrupted);
    assert_eq!(counts(&fresh), (1, 2, 3));
}

/// Cancels in the middle of the record at `index` (from its progress reports).
struct CancelInside {
    index: usize,
    current: usize,
    progress_seen: bool,
    finished: Vec<usize>,
}

impl IngestObserver for CancelInside {
    fn record_started(&mut self, index: usize) {
        self.current = index;
    }

    fn progress(&mut self, _bytes_read: u64) {
        if self.current == self.index {
            self.progress_seen = true;
        }
    }

    fn cancelled(&self) -> bool {
        self.progress_seen
    }

    fn record_finished(&mut self, index: usize, result: Result<IngestReport, tot_store::Error>) {
        result.expect("records before the cancelled one are added");
        self.finished.push(index);
    }
}

#[test]
fn cancelling_inside_a_record_drops_it_and_keeps_the_ones_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, b) = two_machines();
    let mut big = Run::new("r-big", "m", "h", &["big"]);
    let p = big.process(1, None, &["big"], 1_000);
    for n in 0..5_000u64 {
        big.access(
            &p,
            AccessKind::Read,
            format!("/big/{n}"),
            Some(&n.to_string()),
            1_000 + n,
        );
    }
    let files = [
        a.write_to(dir.path(), "a.jsonl"),
        big.write_to(dir.path(), "big.jsonl"),
        b.write_to(dir.path(), "b.jsonl"),
    ];
    let mut observer = CancelInside {
        index: 1,
        current: 0,
        progress_seen: false,
        finished: Vec::new(),
    };
    let outcome = store.ingest_files(&files, &mut observer).unwrap();
    assert_eq!(outcome, BatchOutcome::Interrupted);
    assert_eq!(observer.finished, vec![0]);
    assert_eq!(counts(&store), (1, 2, 3));
    let runs: Vec<String> = store
        .runs(&Default::default())
        .unwrap()
        .into_iter()
        .map(|r| r.run)
        .collect();
    assert_eq!(runs, vec!["r-a".to_string()]);
    // The store goes on working: the rest can be added now.
    let mut all = Recorder {
        results: Vec::new(),
        cancel_after: usize::MAX,
    };
    store.ingest_files(&files, &mut all).unwrap();
    assert_eq!(counts(&store), (3, 5, 5_006));
}

#[test]
fn export_is_prov_json_with_entities_named_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("store.sqlite")).unwrap();
    let (a, b) = two_machines();
    store.ingest_record(&a.record).unwrap();
    store.ingest_record(&b.record).unwrap();
    let graph = store.run_graph("r-b").unwrap();
    let doc = tot_store::prov::to_prov_json(&graph);
    let entity = format!("sha256:{}", sha("the app"));
    assert!(doc["entity"].get(&entity).is_some(), "{doc:#}");
    assert_eq!(doc["activity"].as_object().unwrap().len(), 2);
    assert_eq!(doc["wasInformedBy"].as_object().unwrap().len(), 1);
    assert_eq!(doc["agent"].as_object().unwrap().len(), 1);
    let unknown = store.run_graph("r-nope").unwrap_err();
    assert!(matches!(unknown.kind(), ErrorKind::UnknownRun { .. }));
}
