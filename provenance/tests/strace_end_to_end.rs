//! The builder fed by the real strace backend tracing real programs: the seed scenarios
//! of the issue (shell redirection, temp-then-rename from threads, a parallel make).
//! strace must be installed: these tests fail, not skip, without it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use tot_api::{AccessKind, Backend, Bytes, ExitStatus, FileAccess, ProcessEntry, TraceRequest};
use tot_backend_strace::StraceBackend;
use tot_provenance::{BuildOptions, ProvenanceBuilder};

struct Record {
    processes: Vec<ProcessEntry>,
    accesses: Vec<FileAccess>,
    exit: Option<ExitStatus>,
}

fn trace(cwd: &Path, argv: &[&str]) -> Record {
    let backend = StraceBackend::new();
    assert!(
        backend.availability().is_available(),
        "strace is needed: {:?}",
        backend.availability()
    );
    let options = BuildOptions::new("r-e2e", Bytes(cwd.as_os_str().as_bytes().to_vec()));
    let mut builder = ProvenanceBuilder::new(options);
    let request = TraceRequest {
        argv: argv.iter().map(OsString::from).collect(),
        cwd: cwd.to_path_buf(),
        options: Default::default(),
    };
    let outcome = backend.trace(&request, &mut builder).expect("strace runs");
    let exit = builder.root_exit();
    assert_eq!(exit.as_ref(), Some(&outcome.status));
    let (processes, accesses, diagnostics) = builder.finish();
    for diagnostic in &diagnostics {
        eprintln!("diagnostic: {diagnostic}");
    }
    Record {
        processes,
        accesses,
        exit,
    }
}

fn sha256_of(path: &Path) -> String {
    let content = std::fs::read(path).expect("output exists");
    Sha256::digest(&content)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Record {
    fn accesses_of(&self, path: &Path, kind: AccessKind) -> Vec<&FileAccess> {
        let path = Bytes(path.as_os_str().as_bytes().to_vec());
        self.accesses
            .iter()
            .filter(|access| access.path == path && access.kind == kind)
            .collect()
    }

    fn process(&self, id: &str) -> &ProcessEntry {
        self.processes
            .iter()
            .find(|process| process.id == id)
            .unwrap_or_else(|| panic!("no process {id}"))
    }

    fn runs(&self, process: &ProcessEntry, program: &str) -> bool {
        process
            .exe
            .as_ref()
            .is_some_and(|exe| exe.as_slice().ends_with(format!("/{program}").as_bytes()))
    }
}

#[test]
fn shell_redirection_writer_is_cat() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), b"some input\n").unwrap();
    let record = trace(dir.path(), &["bash", "-c", "cat in > out; true"]);
    assert_eq!(record.exit, Some(ExitStatus::Code(0)));
    let out = dir.path().join("out");
    let writes = record.accesses_of(&out, AccessKind::Write);
    assert_eq!(writes.len(), 1, "{:#?}", record.accesses);
    let cat = record.process(&writes[0].process);
    assert!(record.runs(cat, "cat"), "{cat:?}");
    assert_eq!(writes[0].sha256.as_deref(), Some(sha256_of(&out).as_str()));
    let parent = record.process(cat.parent.as_deref().expect("cat has a parent"));
    assert!(record.runs(parent, "bash"), "{parent:?}");
    let reads = record.accesses_of(&dir.path().join("in"), AccessKind::Read);
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].process, cat.id);
}

#[test]
fn python_threads_write_temp_files_and_rename_them() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import os, threading
def save(name):
    tmp = name + ".tmp"
    with open(tmp, "w") as f:
        f.write("content of " + name * 1000)
    os.rename(tmp, name)
threads = [threading.Thread(target=save, args=(n,)) for n in ("a", "b", "c")]
for t in threads: t.start()
for t in threads: t.join()
"#;
    let record = trace(dir.path(), &["python3", "-c", script]);
    assert_eq!(record.exit, Some(ExitStatus::Code(0)));
    for name in ["a", "b", "c"] {
        let path = dir.path().join(name);
        let writes = record.accesses_of(&path, AccessKind::Write);
        assert_eq!(writes.len(), 1, "{name}: {:#?}", record.accesses);
        let python = record.process(&writes[0].process);
        let exe = python.exe.as_ref().expect("python's exe is known");
        assert!(
            exe.to_str_lossy().contains("python"),
            "{name} written by {python:?}"
        );
        assert_eq!(writes[0].sha256.as_deref(), Some(sha256_of(&path).as_str()));
        let renamed = record.accesses_of(&path, AccessKind::RenameTo);
        assert_eq!(renamed.len(), 1);
        assert_eq!(renamed[0].sha256, writes[0].sha256);
    }
}

#[test]
fn parallel_make_credits_each_object_to_its_compiler() {
    let dir = tempfile::tempdir().unwrap();
    let mut makefile = String::from("all: prog\nprog: a.o b.o c.o\n\tgcc -o prog a.o b.o c.o\n");
    for (name, body) in [
        ("a", "int main(void){return 0;}"),
        ("b", "int b(void){return 2;}"),
        ("c", "int c(void){return 3;}"),
    ] {
        std::fs::write(
            dir.path().join(format!("{name}.c")),
            format!("#include <stdio.h>\n{body}\n"),
        )
        .unwrap();
        makefile.push_str(&format!(
            "{name}.o: {name}.c\n\tgcc -c -o {name}.o {name}.c\n"
        ));
    }
    std::fs::write(dir.path().join("Makefile"), makefile).unwrap();
    let record = trace(dir.path(), &["make", "-j2"]);
    assert_eq!(record.exit, Some(ExitStatus::Code(0)));
    for name in ["a", "b", "c"] {
        let object = dir.path().join(format!("{name}.o"));
        let writes = record.accesses_of(&object, AccessKind::Write);
        assert!(!writes.is_empty(), "{name}.o has no writer");
        for write in &writes {
            assert_eq!(write.sha256.as_deref(), Some(sha256_of(&object).as_str()));
            let writer = record.process(&write.process);
            assert!(record.runs(writer, "as"), "{name}.o written by {writer:?}");
        }
        let source = dir.path().join(format!("{name}.c"));
        assert!(!record.accesses_of(&source, AccessKind::Read).is_empty());
    }
    let program = dir.path().join("prog");
    let writes = record.accesses_of(&program, AccessKind::Write);
    assert!(!writes.is_empty(), "prog has no writer");
    assert!(writes
        .iter()
        .all(|w| w.sha256.as_deref() == Some(sha256_of(&program).as_str())));
    // Every process but the root has a recorded parent.
    for process in &record.processes {
        if let Some(parent) = &process.parent {
            record.process(parent);
        }
    }
    let roots = record
        .processes
        .iter()
        .filter(|p| p.parent.is_none())
        .count();
    assert_eq!(roots, 1, "{:#?}", record.processes);
}
