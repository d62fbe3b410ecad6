//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A fresh directory to run in, with its own tot data directory.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("tot-e2e-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path().join(".tot-data")
    }

    /// `tot ARGS...` run in the sandbox.
    pub fn tot(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tot"));
        cmd.current_dir(self.path())
            .env("TOT_DATA_DIR", self.data_dir())
            .env_remove("TOT_CONFIG");
        cmd
    }

    /// `tot run --record FILE -- ARGV...`, returning the output and the parsed record.
    pub fn trace(&self, argv: &[&str]) -> (Output, Record) {
        let record_path = self.path().join(".record.jsonl");
        let output = self
            .tot()
            .arg("run")
            .arg("--record")
            .arg(&record_path)
            .arg("--")
            .args(argv)
            .output()
            .expect("run tot");
        let text = std::fs::read_to_string(&record_path).unwrap_or_else(|e| {
            panic!(
                "no record at {} ({e}); tot stderr:\n{}",
                record_path.display(),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output, Record::parse(&text))
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write fixture");
        path
    }
}

/// A run record read as plain JSON.
#[derive(Debug)]
pub struct Record {
    pub header: Value,
    pub processes: Vec<Value>,
    pub accesses: Vec<Value>,
}

impl Record {
    pub fn parse(text: &str) -> Self {
        let mut header = None;
        let mut processes = Vec::new();
        let mut accesses = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("record line {} is not JSON ({e}): {line}", n + 1));
            if let Some(h) = value.get("header") {
                assert_eq!(n, 0, "the header must be the first line");
                header = Some(h.clone());
            } else if let Some(p) = value.get("process") {
                processes.push(p.clone());
            } else if let Some(a) = value.get("access") {
                accesses.push(a.clone());
            } else {
                panic!("unknown record line: {line}");
            }
        }
        Record {
            header: header.expect("a header line"),
            processes,
            accesses,
        }
    }

    /// Processes whose argv[0] ends with `name`.
    pub fn processes_named(&self, name: &str) -> Vec<&Value> {
        self.processes
            .iter()
            .filter(|p| {
                p["argv"][0]
                    .as_str()
                    .is_some_and(|a| a == name || a.ends_with(&format!("/{name}")))
            })
            .collect()
    }

    pub fn process(&self, id: &str) -> &Value {
        self.processes
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("no process {id}"))
    }

    /// Accesses of `kind` to a path ending with `suffix`.
    pub fn accesses_to(&self, suffix: &str, kind: &str) -> Vec<&Value> {
        self.accesses
            .iter()
            .filter(|a| a["kind"] == kind && path_of(a).ends_with(suffix))
            .collect()
    }

    /// Paths `process` accessed with `kind`.
    pub fn paths_of(&self, process: &Value, kind: &str) -> Vec<String> {
        self.accesses
            .iter()
            .filter(|a| a["process"] == process["id"] && a["kind"] == kind)
            .map(path_of)
            .collect()
    }

    /// The process that made `access`.
    pub fn actor(&self, access: &Value) -> &Value {
        self.process(access["process"].as_str().expect("process id"))
    }
}

/// A record path as text; non-UTF-8 paths (`{"b64": ...}`) as `b64:<...>`.
pub fn path_of(access: &Value) -> String {
    match &access["path"] {
        Value::String(s) => s.clone(),
        other => format!("b64:{}", other["b64"].as_str().unwrap_or("?")),
    }
}

/// sha256 of a file, as lowercase hex, computed independently of tot.
pub fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_string()
}

/// Fail loudly when a tool a test needs is missing (tests never skip silently).
pub fn require(tool: &str) {
    assert!(
        which(tool),
        "{tool} is required by this test but is not installed; run scripts/install-deps --tests"
    );
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
