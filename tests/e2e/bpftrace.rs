//! The bpftrace backend against the strace backend: the same scenarios as `strace.rs`, run
//! under both, must give the same processes, the same files read and the same files
//! written. Needs root and bpftrace (`apt-get install bpftrace`); fails loudly without.
//!
//! What bpftrace sees less of, and where these tests say so:
//! - writes through `write(2)` are not traced (a file's access kind comes from its open
//!   flags), so a file opened read-write but only read still counts as written by both;
//! - paths over 199 bytes are cut (bpftrace's string limit; warned about), and a path with
//!   a tab or newline in it makes its record malformed (reported) — none here;
//! - processes still running after the command exits are not followed further;
//! - for `#!` scripts, argv is the interpreter's (`/bin/sh script`), not the caller's.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::process::Output;

use crate::support::{path_of, require, sha256_of, Record, Sandbox};

fn trace_with(sb: &Sandbox, backend: &str, argv: &[&str]) -> (Output, Record) {
    let record_path = sb.path().join(format!(".record-{backend}.jsonl"));
    let output = sb
        .tot()
        .arg("run")
        .arg("--backend")
        .arg(backend)
        .arg("--record")
        .arg(&record_path)
        .arg("--")
        .args(argv)
        .output()
        .expect("run tot");
    let text = std::fs::read_to_string(&record_path).unwrap_or_else(|e| {
        panic!(
            "no {backend} record ({e}); tot stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, Record::parse(&text))
}

/// What two backends must agree on.
#[derive(Debug, PartialEq)]
struct Provenance {
    /// Each process epoch as its program, sorted. Programs rather than argv: for a `#!`
    /// script bpftrace sees the argv the kernel gives the interpreter
    /// (`/usr/bin/env bash script ...`), strace the argv passed to execve.
    processes: Vec<String>,
    read: BTreeSet<String>,
    written: BTreeSet<String>,
}

fn provenance(record: &Record) -> Provenance {
    let mut processes: Vec<String> = record
        .processes
        .iter()
        .map(|p| p["exe"].as_str().unwrap_or("<no exe>").to_string())
        .collect();
    processes.sort();
    let paths = |kind: &str| -> BTreeSet<String> {
        record
            .accesses
            .iter()
            .filter(|a| a["kind"] == kind)
            .map(path_of)
            // /proc and /dev entries are about the process, not data it consumes.
            .filter(|p| !p.starts_with("/proc/") && !p.starts_with("/dev/"))
            .collect()
    };
    Provenance {
        processes,
        read: paths("read"),
        written: paths("write"),
    }
}

/// Run `argv` in two fresh sandboxes prepared by `setup`, once per backend.
fn both(setup: impl Fn(&Sandbox), argv: &[&str]) -> [(Sandbox, Output, Record); 2] {
    require("strace");
    require("bpftrace");
    ["strace", "bpftrace"].map(|backend| {
        let sb = Sandbox::new();
        setup(&sb);
        let (output, record) = trace_with(&sb, backend, argv);
        (sb, output, record)
    })
}

/// Paths made relative to each sandbox, and cc's random temporary names made equal, so
/// the two runs compare.
fn relative(p: Provenance, sb: &Sandbox) -> Provenance {
    let root = sb.path().as_os_str().as_bytes().to_vec();
    let normal = |text: String| -> String {
        let bytes = match text.strip_prefix("b64:") {
            Some(encoded) => decode_base64(encoded),
            None => text.into_bytes(),
        };
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(&root) {
                out.extend_from_slice(b"<sandbox>");
                i += root.len();
            } else if bytes[i..].starts_with(b"/tmp/cc") && bytes.len() >= i + 13 {
                out.extend_from_slice(b"/tmp/cc*");
                i += 13;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    Provenance {
        processes: p.processes.into_iter().map(normal).collect(),
        read: p.read.into_iter().map(normal).collect(),
        written: p.written.into_iter().map(normal).collect(),
    }
}

/// Standard base64, as the record carries non-UTF-8 paths.
fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base64 digit") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn agree(runs: &[(Sandbox, Output, Record); 2]) -> Provenance {
    let stderr = String::from_utf8_lossy(&runs[1].1.stderr);
    assert!(!stderr.contains("lost"), "bpftrace lost events: {stderr}");
    let [strace, bpftrace] = runs
        .each_ref()
        .map(|(sb, _, record)| relative(provenance(record), sb));
    assert_eq!(
        strace.processes, bpftrace.processes,
        "the same processes; bpftrace run said: {stderr}"
    );
    assert_eq!(strace.written, bpftrace.written, "the same files written");
    assert_eq!(strace.read, bpftrace.read, "the same files read");
    assert_eq!(runs[1].2.header["backend"], "bpftrace");
    bpftrace
}

#[test]
fn bpftrace_pipeline_agrees_with_strace() {
    let runs = both(|_| {}, &["bash", "-c", "echo hello | cat > out; cat out"]);
    for (_, output, _) in &runs {
        assert!(output.status.success(), "{output:?}");
        assert_eq!(output.stdout, b"hello\n");
    }
    let seen = agree(&runs);
    assert!(seen.written.contains("<sandbox>/out"), "{seen:?}");
    assert!(seen.read.contains("<sandbox>/out"), "{seen:?}");
    assert_eq!(
        seen.processes
            .iter()
            .filter(|p| p.ends_with("/cat"))
            .count(),
        2,
        "{seen:?}"
    );
}

#[test]
fn bpftrace_make_j2_agrees_with_strace() {
    require("make");
    require("cc");
    let setup = |sb: &Sandbox| {
        sb.write("shared.h", "#define GREETING \"hi\"\nint helper(void);\n");
        sb.write("main.c", "#include <stdio.h>\n#include \"shared.h\"\nint main(void){puts(GREETING);return helper();}\n");
        sb.write(
            "helper.c",
            "#include \"shared.h\"\nint helper(void){return 0;}\n",
        );
        sb.write("Makefile", "app: main.o helper.o\n\tcc -o app main.o helper.o\n%.o: %.c shared.h\n\tcc -c -o $@ $<\n");
    };
    let runs = both(setup, &["make", "-j2"]);
    for (_, output, _) in &runs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let bpftrace = agree(&runs);
    for output in ["<sandbox>/main.o", "<sandbox>/helper.o", "<sandbox>/app"] {
        assert!(
            bpftrace.written.contains(output),
            "{output}: {:?}",
            bpftrace.written
        );
    }
    let (sb, _, record) = &runs[1];
    let hash = sha256_of(&sb.path().join("app"));
    assert!(record
        .accesses_to("/app", "write")
        .iter()
        .any(|w| w["sha256"] == hash.as_str()));
}

#[test]
fn bpftrace_python_threads_agree_with_strace() {
    require("python3");
    let setup = |sb: &Sandbox| {
        sb.write(
            "threads.py",
            "import os, threading\n\
             def work(i):\n    tmp = f\"result{i}.tmp\"\n    with open(tmp, \"w\") as f:\n        f.write(f\"result {i}\\n\" * 100)\n    os.rename(tmp, f\"result{i}.txt\")\n\
             threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n\
             for t in threads: t.start()\n\
             for t in threads: t.join()\n",
        );
    };
    let runs = both(setup, &["python3", "threads.py"]);
    for (_, output, _) in &runs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    agree(&runs);
    let (sb, _, record) = &runs[1];
    for i in 0..4 {
        let name = format!("/result{i}.txt");
        let hash = sha256_of(&sb.path().join(&name[1..]));
        assert!(
            record
                .accesses_to(&name, "write")
                .iter()
                .any(|w| w["sha256"] == hash.as_str()),
            "{name}"
        );
        assert!(!record.accesses_to(&name, "rename_to").is_empty(), "{name}");
        assert!(
            !record
                .accesses_to(&format!("/result{i}.tmp"), "rename_from")
                .is_empty(),
            "{name}"
        );
    }
}

#[test]
fn bpftrace_killed_command_agrees_with_strace() {
    let runs = both(
        |_| {},
        &["bash", "-c", "echo partial > partial.txt; kill -KILL $$"],
    );
    for (_, output, record) in &runs {
        assert_eq!(output.status.code(), Some(128 + 9), "{output:?}");
        assert_eq!(record.header["exit"]["signal"]["name"], "SIGKILL");
        assert_eq!(
            record.processes_named("bash")[0]["exit"]["signal"]["name"],
            "SIGKILL"
        );
    }
    agree(&runs);
}

#[test]
fn bpftrace_non_utf8_name_agrees_with_strace() {
    let runs = both(
        |_| {},
        &[
            "sh",
            "-c",
            "printf data > \"$(printf 'caf\\351-\\377.txt')\"",
        ],
    );
    for (_, output, _) in &runs {
        assert!(output.status.success(), "{output:?}");
    }
    agree(&runs);
    let (sb, _, record) = &runs[1];
    let expected = sb
        .path()
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.txt"));
    let hash = sha256_of(&expected);
    let write = record
        .accesses
        .iter()
        .find(|a| a["kind"] == "write" && a["sha256"] == hash.as_str())
        .expect("the write of the non-UTF-8 file");
    assert!(write["path"]["b64"].is_string(), "{write}");
}

#[test]
fn bpftrace_refuses_a_missing_command_with_127() {
    require("bpftrace");
    let sb = Sandbox::new();
    let output = sb
        .tot()
        .args([
            "run",
            "--backend",
            "bpftrace",
            "--",
            "no-such-command-tot-e2e",
        ])
        .output()
        .expect("run tot");
    assert_eq!(output.status.code(), Some(127), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-command-tot-e2e"));
}

fn dtruss_corpus(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus/dtruss")
        .join(name)
}

#[test]
fn import_dtruss_builds_a_darwin_record() {
    let sb = Sandbox::new();
    let record_path = sb.path().join("dtruss.jsonl");
    let output = sb
        .tot()
        .args(["import", "--format", "dtruss", "--record"])
        .arg(&record_path)
        .arg(dtruss_corpus(
            "f-t-open-follow-forks-dtrace-probe-errors-indented.txt",
        ))
        .output()
        .expect("run tot");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dropped events"), "{stderr}");
    let record = Record::parse(&std::fs::read_to_string(&record_path).expect("record"));
    assert_eq!(record.header["os"], "darwin");
    assert!(
        !record
            .accesses_to("/usr/local/opticks/bin/OKTest.sh", "read")
            .is_empty(),
        "{:#?}",
        record.accesses
    );
}

#[test]
fn import_dtruss_refuses_a_log_sip_emptied() {
    let sb = Sandbox::new();
    let output = sb
        .tot()
        .args(["import", "--format", "dtruss"])
        .arg(dtruss_corpus("a-sip-on-no-syscalls-empty-counts.txt"))
        .output()
        .expect("run tot");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("csrutil enable --without dtrace") && stderr.contains("not a trace"),
        "{stderr}"
    );
}

#[test]
fn bpftrace_without_root_is_a_clear_error() {
    require("setpriv");
    let sb = Sandbox::new();
    // A copy nobody can reach: the build tree may sit under a directory only root can enter.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let tot = sb.path().join("tot");
    std::fs::copy(env!("CARGO_BIN_EXE_tot"), &tot).expect("copy tot");
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&tot)
        .args(["run", "--backend", "bpftrace", "--", "/bin/true"])
        .current_dir("/")
        .env("TOT_DATA_DIR", "/tmp/tot-e2e-nobody-never-written")
        .output()
        .expect("run tot as nobody");
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("must run as root") && stderr.contains("sudo"),
        "{stderr}"
    );
    drop(sb);
}

#[test]
fn bpftrace_missing_says_how_to_install_it() {
    let sb = Sandbox::new();
    let output = sb
        .tot()
        .env("PATH", "/nonexistent")
        .args(["run", "--backend", "bpftrace", "--", "/bin/true"])
        .output()
        .expect("run tot");
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bpftrace") && stderr.contains("apt-get install bpftrace"),
        "{stderr}"
    );
}
