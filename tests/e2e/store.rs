//! The provenance store through the real `tot`: `db add`, `db stats`, `runs`, `show`,
//! `lineage`, `export`, records from two machines, bad input, concurrent writers, Ctrl-C.
//!
//! Records from "other machines" are written with tot's record writer; outputs are read
//! back as plain JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tot_api::record::{RECORD_FORMAT, RECORD_VERSION};
use tot_api::{AccessKind, Bytes, ExitStatus, FileAccess, ProcessEntry, RunHeader};
use tot_record::RecordWriter;

use crate::support::{require, sha256_of, Sandbox};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run tot")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes a record the way `tot run` does (streamed, then finished), as if on `machine`.
struct RecordOnMachine {
    header: RunHeader,
    processes: Vec<ProcessEntry>,
    accesses: Vec<FileAccess>,
}

impl RecordOnMachine {
    fn new(run_id: &str, machine_id: &str, hostname: &str, argv: &[&str], start: u64) -> Self {
        RecordOnMachine {
            header: RunHeader {
                format: RECORD_FORMAT.into(),
                version: RECORD_VERSION,
                run_id: run_id.into(),
                machine_id: machine_id.into(),
                hostname: hostname.into(),
                os: "linux".into(),
                backend: "strace".into(),
                tot_version: "0.1.0".into(),
                argv: argv.iter().map(|a| Bytes::from(*a)).collect(),
                cwd: "/work".into(),
                start: Some(start),
                end: None,
                exit: None,
            },
            processes: Vec::new(),
            accesses: Vec::new(),
        }
    }

    fn process(&mut self, pid: u32, parent: Option<&str>, argv: &[&str]) -> String {
        let id = format!("{}:{pid}:0", self.header.run_id);
        let start = self.header.start.unwrap_or(0) + u64::from(pid);
        self.processes.push(ProcessEntry {
            id: id.clone(),
            pid,
            parent: parent.map(str::to_string),
            exe: Some(format!("/usr/bin/{}", argv[0]).into()),
            argv: argv.iter().map(|a| Bytes::from(*a)).collect(),
            cwd: "/work".into(),
            start: Some(start),
            end: Some(start + 1_000),
            exit: Some(ExitStatus::Code(0)),
        });
        id
    }

    fn access(&mut self, process: &str, kind: AccessKind, path: &str, content: &[u8]) {
        let n = self
            .accesses
            .iter()
            .filter(|a| a.process == process)
            .count();
        self.accesses.push(FileAccess {
            id: format!("{process}:{n}"),
            process: process.into(),
            path: path.into(),
            kind,
            source: None,
            sha256: Some(sha256_bytes(content)),
            size: Some(content.len() as u64),
            mtime: None,
            time: self.header.start.map(|s| s + 500 + n as u64),
            note: None,
        });
    }

    fn write(mut self, path: &Path) -> PathBuf {
        let mut writer = RecordWriter::create(path, &self.header).expect("create record");
        writer
            .append(&self.processes, &self.accesses)
            .expect("append");
        self.header.end = self.header.start.map(|s| s + 10_000);
        self.header.exit = Some(ExitStatus::Code(0));
        writer.finish(&self.header).expect("finish record")
    }
}

fn sha256_bytes(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const SOURCE: &[u8] = b"int main(void) { return 0; }\n";
const OBJECT: &[u8] = b"\x7fELF object built on machine A\n";
const APP: &[u8] = b"\x7fELF app linked on machine B\n";

/// Machine A compiles `main.c` into `main.o`; machine B links a copy of that `main.o`
/// into `app`. Only the content hash joins them.
fn two_machine_records(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let mut a = RecordOnMachine::new(
        "r-machine-a-0001",
        "aaaa0000aaaa0000",
        "builder-a",
        &["make"],
        1_700_000_000_000_000_000,
    );
    let make = a.process(100, None, &["make"]);
    let cc = a.process(101, Some(&make), &["cc", "-c", "main.c", "-o", "main.o"]);
    a.access(&cc, AccessKind::Exec, "/usr/bin/cc", b"cc");
    a.access(&cc, AccessKind::Read, "/work/main.c", SOURCE);
    a.access(&cc, AccessKind::Write, "/work/main.o", OBJECT);

    let mut b = RecordOnMachine::new(
        "r-machine-b-0001",
        "bbbb1111bbbb1111",
        "builder-b",
        &["sh", "-c", "ld -o app main.o"],
        1_700_000_100_000_000_000,
    );
    let sh = b.process(200, None, &["sh", "-c", "ld -o app main.o"]);
    let ld = b.process(201, Some(&sh), &["ld", "-o", "app", "main.o"]);
    b.access(&ld, AccessKind::Exec, "/usr/bin/ld", b"ld");
    b.access(&ld, AccessKind::Read, "/srv/build/main.o", OBJECT);
    b.access(&ld, AccessKind::Write, "/srv/build/app", APP);

    (
        a.write(&sandbox.path().join("from-a/run.jsonl")),
        b.write(&sandbox.path().join("from-b/run.jsonl")),
    )
}

#[test]
fn records_from_two_machines_join_by_content_in_lineage_show_and_runs() {
    let sandbox = Sandbox::new();
    let (a, b) = two_machine_records(&sandbox);
    let added = run(sandbox.tot().args(["db", "add"]).arg(&a).arg(&b));
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(
        text(&added.stdout).contains("added 2 records"),
        "{}",
        text(&added.stdout)
    );

    // The app as it sits on this machine: tot hashes it and finds machine B's linker.
    let app = sandbox.path().join("app");
    std::fs::write(&app, APP).unwrap();

    let lineage = run(sandbox.tot().args(["lineage", "--json"]).arg(&app));
    assert!(lineage.status.success(), "{}", text(&lineage.stderr));
    let graph = stdout_json(&lineage);
    let hosts: Vec<&str> = graph["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, vec!["builder-b", "builder-a"], "{graph:#}");
    let files: Vec<&str> = graph["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["sha256"].as_str())
        .collect();
    assert!(files.contains(&sha256_bytes(SOURCE).as_str()), "{graph:#}");

    let tree = run(sandbox.tot().arg("lineage").arg(&app));
    let tree_text = text(&tree.stdout);
    assert!(
        tree_text.contains("ld -o app main.o") && tree_text.contains("builder-b"),
        "{tree_text}"
    );
    assert!(
        tree_text.contains("cc -c main.c -o main.o") && tree_text.contains("builder-a"),
        "{tree_text}"
    );
    assert!(tree_text.contains("/work/main.c"), "{tree_text}");

    let dot = run(sandbox.tot().args(["lineage", "--dot"]).arg(&app));
    assert!(
        text(&dot.stdout).starts_with("digraph lineage {"),
        "{}",
        text(&dot.stdout)
    );

    let down = run(sandbox
        .tot()
        .args(["lineage", "--down", "--json", "--db"])
        .arg(sandbox.data_dir().join("store.sqlite"))
        .arg(sandbox.write("main.c", std::str::from_utf8(SOURCE).unwrap())));
    let down = stdout_json(&down);
    assert!(
        down["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["sha256"] == sha256_bytes(APP)),
        "{down:#}"
    );

    let show = run(sandbox.tot().args(["show", "--json"]).arg(&app));
    assert!(show.status.success(), "{}", text(&show.stderr));
    let show = stdout_json(&show);
    assert_eq!(show["sha256"], sha256_bytes(APP));
    let writer = &show["writers"][0];
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
            writer.get(key).is_some(),
            "writers[0].{key} missing: {show:#}"
        );
    }
    assert_eq!(writer["machine"], "bbbb1111bbbb1111");
    assert_eq!(writer["run"], "r-machine-b-0001");
    assert_eq!(writer["pid"], 201);
    assert_eq!(writer["exit_code"], 0);
    assert_eq!(writer["ancestry"][0]["argv"][0], "sh");
    let inputs: Vec<(&str, &str)> = writer["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["path"].as_str().unwrap(), i["sha256"].as_str().unwrap()))
        .collect();
    assert!(
        inputs.contains(&("/srv/build/main.o", sha256_bytes(OBJECT).as_str())),
        "{inputs:?}"
    );

    let runs = run(sandbox.tot().args(["runs", "--json"]));
    let runs = stdout_json(&runs);
    let listed: Vec<(&str, &str)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["run"].as_str().unwrap(), r["hostname"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("r-machine-b-0001", "builder-b"),
            ("r-machine-a-0001", "builder-a")
        ]
    );
    assert_eq!(runs[0]["exit_code"], 0);
}

/// A PROV-JSON relation: its section, required fields, and which node kind each id field names.
type Relation = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// Checks a document against what the W3C PROV-JSON schema requires, with our own reading
/// of it (not tot's types): the sections and their shapes, literals, required relation
/// fields, date-times, declared prefixes, and that relations name existing nodes.
fn check_prov_json(doc: &Value) {
    const SECTIONS: &[&str] = &[
        "prefix",
        "entity",
        "activity",
        "agent",
        "used",
        "wasGeneratedBy",
        "wasStartedBy",
        "wasEndedBy",
        "wasInformedBy",
        "wasInvalidatedBy",
        "wasDerivedFrom",
        "wasAttributedTo",
        "wasAssociatedWith",
        "actedOnBehalfOf",
        "wasInfluencedBy",
        "specializationOf",
        "alternateOf",
        "hadMember",
        "bundle",
    ];
    let doc = doc.as_object().expect("a PROV-JSON document is an object");
    for key in doc.keys() {
        assert!(
            SECTIONS.contains(&key.as_str()),
            "unknown top-level key {key}"
        );
    }
    let prefixes = doc["prefix"].as_object().expect("prefix is an object");
    for (name, uri) in prefixes {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "prefix {name}"
        );
        assert!(
            uri.as_str().is_some_and(|u| u.contains(':')),
            "prefix {name} is not a URI: {uri}"
        );
    }
    let declared = |id: &str| {
        let (prefix, _) = id
            .split_once(':')
            .unwrap_or_else(|| panic!("{id} is not a qualified name"));
        prefix == "prov" || prefix == "xsd" || prefix == "_" || prefixes.contains_key(prefix)
    };
    let is_date_time = |text: &str| {
        let b = text.as_bytes();
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && (text.ends_with('Z') || text[19..].contains('+') || text[19..].contains('-'))
            && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
                .into_iter()
                .all(|r| b[r].iter().all(u8::is_ascii_digit))
    };
    fn is_literal(value: &Value) -> bool {
        let single = |v: &Value| match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
            Value::Object(o) => {
                o.len() >= 2
                    && o.keys().all(|k| k == "$" || k == "type" || k == "lang")
                    && o.get("type").is_some_and(Value::is_string)
                    && o.get("$")
                        .is_some_and(|v| v.is_string() || v.is_number() || v.is_boolean())
            }
            _ => false,
        };
        match value {
            Value::Array(items) => items.iter().all(single),
            other => single(other),
        }
    }
    let mut nodes = std::collections::HashMap::new();
    for section in ["entity", "activity", "agent"] {
        let Some(map) = doc.get(section) else {
            continue;
        };
        for (id, attributes) in map
            .as_object()
            .unwrap_or_else(|| panic!("{section} is an object"))
        {
            assert!(declared(id), "{section} {id}: undeclared prefix");
            for (name, value) in attributes
                .as_object()
                .unwrap_or_else(|| panic!("{section} {id} is an object"))
            {
                assert!(
                    declared(name),
                    "{section} {id}: attribute {name} has an undeclared prefix"
                );
                assert!(
                    is_literal(value),
                    "{section} {id}: {name} is not a PROV-JSON literal: {value}"
                );
                if section == "activity" && (name == "prov:startTime" || name == "prov:endTime") {
                    assert!(
                        value.as_str().is_some_and(is_date_time),
                        "{id}: {name} {value}"
                    );
                }
            }
            nodes.insert(id.clone(), section);
        }
    }
    // (section, required fields, field -> the node kind it names)
    let relations: &[Relation] = &[
        (
            "used",
            &["prov:activity"],
            &[("prov:activity", "activity"), ("prov:entity", "entity")],
        ),
        (
            "wasGeneratedBy",
            &["prov:entity"],
            &[("prov:entity", "entity"), ("prov:activity", "activity")],
        ),
        (
            "wasInvalidatedBy",
            &["prov:entity"],
            &[("prov:entity", "entity"), ("prov:activity", "activity")],
        ),
        (
            "wasInformedBy",
            &["prov:informed", "prov:informant"],
            &[
                ("prov:informed", "activity"),
                ("prov:informant", "activity"),
            ],
        ),
        (
            "wasAssociatedWith",
            &["prov:activity"],
            &[("prov:activity", "activity"), ("prov:agent", "agent")],
        ),
    ];
    for (section, required, references) in relations {
        let Some(map) = doc.get(*section) else {
            continue;
        };
        for (id, relation) in map
            .as_object()
            .unwrap_or_else(|| panic!("{section} is an object"))
        {
            let relation = relation
                .as_object()
                .unwrap_or_else(|| panic!("{section} {id} is an object"));
            for field in *required {
                assert!(
                    relation.contains_key(*field),
                    "{section} {id} lacks {field}"
                );
            }
            for (field, kind) in *references {
                if let Some(target) = relation.get(*field) {
                    let target = target
                        .as_str()
                        .unwrap_or_else(|| panic!("{section} {id}: {field} is not an id"));
                    assert_eq!(
                        nodes.get(target),
                        Some(kind),
                        "{section} {id}: {field} {target} is not a known {kind}"
                    );
                }
            }
            if let Some(time) = relation.get("prov:time") {
                assert!(
                    time.as_str().is_some_and(is_date_time),
                    "{section} {id}: prov:time {time}"
                );
            }
            for (name, value) in relation {
                assert!(declared(name), "{section} {id}: {name}");
                if !name.starts_with("prov:") {
                    assert!(
                        is_literal(value),
                        "{section} {id}: {name} is not a literal: {value}"
                    );
                }
            }
        }
    }
}

#[test]
fn export_writes_prov_json_for_a_file_and_for_a_run() {
    let sandbox = Sandbox::new();
    let (a, b) = two_machine_records(&sandbox);
    assert!(run(sandbox.tot().args(["db", "add"]).arg(&a).arg(&b))
        .status
        .success());
    let app = sandbox.path().join("app");
    std::fs::write(&app, APP).unwrap();

    let export = run(sandbox
        .tot()
        .args(["export", "--format", "prov-json"])
        .arg(&app));
    assert!(export.status.success(), "{}", text(&export.stderr));
    let doc = stdout_json(&export);
    check_prov_json(&doc);
    for section in [
        "prefix",
        "entity",
        "activity",
        "agent",
        "used",
        "wasGeneratedBy",
        "wasInformedBy",
        "wasAssociatedWith",
    ] {
        assert!(
            doc[section].as_object().is_some_and(|m| !m.is_empty()),
            "{section} is missing or empty: {doc:#}"
        );
    }
    // File versions are entities named by content hash; both machines are agents.
    for content in [SOURCE, OBJECT, APP] {
        assert!(
            doc["entity"]
                .get(format!("sha256:{}", sha256_bytes(content)))
                .is_some(),
            "{doc:#}"
        );
    }
    let agents: Vec<&str> = doc["agent"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["prov:label"].as_str().unwrap())
        .collect();
    assert!(
        agents.contains(&"builder-a") && agents.contains(&"builder-b"),
        "{agents:?}"
    );

    let out = sandbox.path().join("run.prov.json");
    let export = run(sandbox
        .tot()
        .args(["export", "--run", "r-machine-b-0001", "-o"])
        .arg(&out));
    assert!(export.status.success(), "{}", text(&export.stderr));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    check_prov_json(&doc);
    assert_eq!(doc["activity"].as_object().unwrap().len(), 2);
    assert_eq!(doc["wasInformedBy"].as_object().unwrap().len(), 1);

    let unknown = run(sandbox.tot().args(["export", "--run", "r-no-such-run"]));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("r-no-such-run"),
        "{}",
        text(&unknown.stderr)
    );
}

#[test]
fn db_add_is_idempotent_reports_malformed_lines_and_refuses_foreign_files() {
    let sandbox = Sandbox::new();
    let (a, _) = two_machine_records(&sandbox);
    // A malformed line in the middle: reported as file:line, the rest kept.
    let mut lines: Vec<String> = std::fs::read_to_string(&a)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.insert(2, "{\"access\": {\"id\": \"cut".into());
    std::fs::write(&a, lines.join("\n") + "\n").unwrap();

    let first = run(sandbox.tot().args(["db", "add"]).arg(&a));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stderr).contains(&format!("{}:3:", a.display())),
        "{}",
        text(&first.stderr)
    );
    let stats =
        |sandbox: &Sandbox| stdout_json(&run(sandbox.tot().args(["db", "stats", "--json"])));
    let before = stats(&sandbox);
    assert_eq!(before["accesses"], 3);
    assert_eq!(before["processes"], 2);

    let again = run(sandbox.tot().args(["db", "add"]).arg(&a));
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("0 new file accesses, 3 already known"),
        "{}",
        text(&again.stdout)
    );
    let after = stats(&sandbox);
    for key in [
        "runs",
        "processes",
        "accesses",
        "paths",
        "contents",
        "database_bytes",
    ] {
        assert_eq!(before[key], after[key], "{key} changed");
    }

    let foreign = sandbox.write("notes.txt", "shopping list\n");
    let newer = sandbox.write(
        "newer.jsonl",
        &format!(
            "{{\"header\":{{\"format\":\"tot-run\",\"version\":{}}}}}\n",
            RECORD_VERSION + 7
        ),
    );
    let refused = run(sandbox.tot().args(["db", "add"]).arg(&foreign).arg(&newer));
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("notes.txt") && stderr.contains("not a tot run record"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("version {}", RECORD_VERSION + 7)),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("version {RECORD_VERSION}")),
        "{stderr}"
    );
    assert_eq!(stats(&sandbox)["accesses"], 3);
}

#[test]
fn a_corrupted_store_is_named_and_left_untouched() {
    let sandbox = Sandbox::new();
    let store = sandbox.path().join("broken.sqlite");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(&store, &garbage).unwrap();
    let (a, _) = two_machine_records(&sandbox);
    let file = sandbox.write("f", "x");
    for args in [
        vec![
            "db".into(),
            "stats".into(),
            "--db".into(),
            store.clone().into_os_string(),
        ],
        vec![
            "db".into(),
            "add".into(),
            "--db".into(),
            store.clone().into_os_string(),
            a.clone().into_os_string(),
        ],
        vec![
            "show".into(),
            "--db".into(),
            store.clone().into_os_string(),
            file.clone().into_os_string(),
        ],
        vec!["runs".into(), "--db".into(), store.clone().into_os_string()],
    ] {
        let output = run(sandbox.tot().args(&args));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&store.display().to_string()) && stderr.contains("not a tot store"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read(&store).unwrap(),
            garbage,
            "{args:?} changed the file"
        );
    }
}

#[test]
fn show_and_lineage_say_clearly_when_nothing_is_known() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("lonely.txt", "nobody made me\n");
    for command in ["show", "lineage"] {
        let output = run(sandbox.tot().arg(command).arg(&file));
        assert_eq!(output.status.code(), Some(1), "{command}");
        assert!(
            text(&output.stderr).contains("nothing known about"),
            "{}",
            text(&output.stderr)
        );
    }
    let (a, _) = two_machine_records(&sandbox);
    assert!(run(sandbox.tot().args(["db", "add"]).arg(&a))
        .status
        .success());
    let output = run(sandbox.tot().args(["show", "--json"]).arg(&file));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_json(&output)["writers"], serde_json::json!([]));
    let gone = run(sandbox
        .tot()
        .arg("show")
        .arg(sandbox.path().join("never-existed")));
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        text(&gone.stderr).contains("does not exist"),
        "{}",
        text(&gone.stderr)
    );
}

/// A record with many accesses, so that ingesting it takes a while.
fn big_record(sandbox: &Sandbox, tag: &str, accesses: u32) -> PathBuf {
    let mut record = RecordOnMachine::new(
        &format!("r-big-{tag}"),
        &format!("machine-{tag}"),
        tag,
        &["build"],
        1_800_000_000_000_000_000,
    );
    let process = record.process(1, None, &["build"]);
    let id = |n: u32| format!("{process}:{n}");
    record.accesses = (0..accesses)
        .map(|n| FileAccess {
            id: id(n),
            process: process.clone(),
            path: format!("/src/{tag}/file{n}.c").into(),
            kind: AccessKind::Read,
            source: None,
            sha256: Some(sha256_bytes(format!("{tag} {n}").as_bytes())),
            size: Some(10),
            mtime: None,
            time: Some(1_800_000_000_000_000_000 + u64::from(n)),
            note: None,
        })
        .collect();
    record.write(&sandbox.path().join(format!("{tag}.jsonl")))
}

#[test]
fn two_db_adds_at_once_both_get_in() {
    let sandbox = Sandbox::new();
    let one = big_record(&sandbox, "one", 30_000);
    let two = big_record(&sandbox, "two", 30_000);
    // Create the store first, as the first `tot run` would.
    let (a, _) = two_machine_records(&sandbox);
    assert!(run(sandbox.tot().args(["db", "add"]).arg(&a))
        .status
        .success());
    let children: Vec<_> = [one, two]
        .iter()
        .map(|record| {
            sandbox
                .tot()
                .args(["db", "add"])
                .arg(record)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn tot db add")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(
            !text(&output.stderr).contains("locked"),
            "{}",
            text(&output.stderr)
        );
    }
    let stats = stdout_json(&run(sandbox.tot().args(["db", "stats", "--json"])));
    assert_eq!(stats["runs"], 3);
    assert_eq!(stats["accesses"], 60_003);
}

#[test]
fn ctrl_c_during_db_add_keeps_the_store_as_before_the_interrupted_record() {
    let sandbox = Sandbox::new();
    let (small, _) = two_machine_records(&sandbox);
    let big = big_record(&sandbox, "huge", 400_000);
    let store = sandbox.data_dir().join("store.sqlite");
    let child = sandbox
        .tot()
        .args(["db", "add"])
        .arg(&small)
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tot db add");
    // Wait until the store exists and tot is well into the big record, then interrupt.
    let started = Instant::now();
    while !store.exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid we spawned and still own (not yet waited for).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "tot finished the big record before the interrupt; make it bigger. stderr: {}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains("interrupted"),
        "{}",
        text(&output.stderr)
    );

    // Nothing of the big record; the small one whole (or, had it not been reached, nothing).
    let stats = stdout_json(&run(sandbox.tot().args(["db", "stats", "--json"])));
    let runs = stdout_json(&run(sandbox.tot().args(["runs", "--json"])));
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"r-big-huge"), "{ids:?}");
    match ids.as_slice() {
        ["r-machine-a-0001"] => assert_eq!(
            (stats["processes"].clone(), stats["accesses"].clone()),
            (2.into(), 3.into())
        ),
        [] => assert_eq!(stats["accesses"], 0),
        other => panic!("unexpected runs {other:?}"),
    }
    // The store still works, and the big record can be added afterwards.
    let again = run(sandbox.tot().args(["db", "add", "--quiet"]).arg(&big));
    assert!(again.status.success(), "{}", text(&again.stderr));
    let stats = stdout_json(&run(sandbox.tot().args(["db", "stats", "--json"])));
    let small_accesses = if ids.is_empty() { 0 } else { 3 };
    assert_eq!(stats["accesses"], 400_000 + small_accesses);
}

#[test]
fn tot_run_adds_its_record_and_show_and_lineage_find_the_real_commands() {
    require("strace");
    let sandbox = Sandbox::new();
    sandbox.write("input.txt", "hello from a real file\n");
    let first = run(sandbox
        .tot()
        .args(["run", "--", "cp", "input.txt", "middle.txt"]));
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = run(sandbox
        .tot()
        .args(["run", "--", "cp", "middle.txt", "output.txt"]));
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        !text(&second.stderr).contains("warning"),
        "{}",
        text(&second.stderr)
    );

    let output = sandbox.path().join("output.txt");
    let show = run(sandbox.tot().args(["show", "--json"]).arg(&output));
    assert!(show.status.success(), "{}", text(&show.stderr));
    let show = stdout_json(&show);
    assert_eq!(show["sha256"], sha256_of(&output));
    let writer = &show["writers"][0];
    assert_eq!(
        writer["argv"],
        serde_json::json!(["cp", "middle.txt", "output.txt"])
    );
    assert_eq!(writer["exit_code"], 0);
    let middle = sandbox.path().join("middle.txt").canonicalize().unwrap();
    assert!(
        writer["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["path"] == middle.to_str().unwrap() && i["sha256"] == sha256_of(&middle)),
        "{show:#}"
    );

    let runs = stdout_json(&run(sandbox.tot().args(["runs", "--json"])));
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(writer["run"], runs[0]["run"]);
    assert_eq!(
        runs[0]["argv"],
        serde_json::json!(["cp", "middle.txt", "output.txt"])
    );

    // Through the content of middle.txt back to the first cp and input.txt.
    let lineage = stdout_json(&run(sandbox.tot().args(["lineage", "--json"]).arg(&output)));
    let commands: Vec<&Value> = lineage["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["argv"])
        .collect();
    assert!(
        commands.contains(&&serde_json::json!(["cp", "input.txt", "middle.txt"])),
        "{lineage:#}"
    );
    let input = sandbox.path().join("input.txt").canonicalize().unwrap();
    assert!(
        lineage["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["sha256"] == sha256_of(&input)),
        "{lineage:#}"
    );
}
