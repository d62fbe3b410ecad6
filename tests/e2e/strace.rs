//! `tot run` through the strace backend: the provenance of real commands.

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use crate::support::{path_of, require, sha256_of, Sandbox};

#[test]
fn pipeline_writer_is_the_cat_child_of_bash() {
    require("strace");
    let sb = Sandbox::new();
    let (output, record) = sb.trace(&["bash", "-c", "echo hello | cat > out; cat out"]);
    assert!(output.status.success(), "{output:?}");
    // The command's stdout passes through untouched.
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    assert_eq!(record.header["exit"]["code"], 0);

    let writes = record.accesses_to("/out", "write");
    assert!(
        !writes.is_empty(),
        "no write of out in {:#?}",
        record.accesses
    );
    let expected = sha256_of(&sb.path().join("out"));
    let final_write = writes
        .iter()
        .find(|w| w["sha256"] == expected.as_str())
        .expect("a write carrying out's final content hash");
    let writer = record.actor(final_write);
    assert_eq!(writer["argv"][0], "cat", "writer: {writer:#}");
    let parent = record.process(writer["parent"].as_str().expect("cat has a parent"));
    assert_eq!(parent["argv"][0], "bash", "parent: {parent:#}");
    // The second cat reads what the first one wrote.
    let reads = record.accesses_to("/out", "read");
    assert!(reads.iter().any(|r| r["sha256"] == expected.as_str()));
    // Pipes are not files.
    assert!(record
        .accesses
        .iter()
        .all(|a| !path_of(a).contains("pipe:")));

    // `tot show` names cat, and counts the system libraries instead of listing them.
    let show = sb.tot().args(["show", "out"]).output().expect("tot show");
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{show:?}");
    assert!(text.contains("1. cat\n"), "{text}");
    assert!(text.contains("system files"), "{text}");
    assert!(!text.contains("libc.so"), "{text}");
    let all = sb
        .tot()
        .args(["show", "--all-inputs", "out"])
        .output()
        .expect("tot show");
    assert!(String::from_utf8_lossy(&all.stdout).contains("libc.so"));
}

#[test]
fn make_j2_objects_have_their_sources_and_header_as_inputs() {
    require("strace");
    require("make");
    require("cc");
    let sb = Sandbox::new();
    sb.write("shared.h", "#define GREETING \"hi\"\nint helper(void);\n");
    sb.write("main.c", "#include <stdio.h>\n#include \"shared.h\"\nint main(void){puts(GREETING);return helper();}\n");
    sb.write(
        "helper.c",
        "#include \"shared.h\"\nint helper(void){return 0;}\n",
    );
    sb.write(
        "Makefile",
        "app: main.o helper.o\n\tcc -o app main.o helper.o\n%.o: %.c shared.h\n\tcc -c -o $@ $<\n",
    );
    let (output, record) = sb.trace(&["make", "-j2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for (object, source) in [("main.o", "main.c"), ("helper.o", "helper.c")] {
        let hash = sha256_of(&sb.path().join(object));
        let write = record
            .accesses_to(&format!("/{object}"), "write")
            .into_iter()
            .find(|w| w["sha256"] == hash.as_str())
            .unwrap_or_else(|| panic!("no write of {object} with its final hash"));
        // The assembler writes the object; the compiler proper reads the sources. Both are
        // descendants of one `cc` driver, so collect the inputs of that whole subtree.
        let driver = ancestor_named(&record, record.actor(write), "cc");
        let inputs = subtree_reads(&record, driver);
        assert!(
            inputs.iter().any(|p| p.ends_with(&format!("/{source}"))),
            "{object}: inputs {inputs:?}"
        );
        assert!(
            inputs.iter().any(|p| p.ends_with("/shared.h")),
            "{object}: inputs {inputs:?}"
        );
    }
    let app_hash = sha256_of(&sb.path().join("app"));
    let link = record
        .accesses_to("/app", "write")
        .into_iter()
        .find(|w| w["sha256"] == app_hash.as_str())
        .expect("a write of app with its final hash");
    let linker_inputs = subtree_reads(&record, ancestor_named(&record, record.actor(link), "cc"));
    for object in ["main.o", "helper.o"] {
        let hash = sha256_of(&sb.path().join(object));
        assert!(
            record.accesses.iter().any(|a| a["kind"] == "read"
                && path_of(a).ends_with(&format!("/{object}"))
                && a["sha256"] == hash.as_str()
                && linker_inputs.contains(&path_of(a))),
            "app must have {object} as an input: {linker_inputs:?}"
        );
    }

    // The lineage tree reaches from the program back to the sources, and counts the
    // compiler's system files instead of listing them.
    let lineage = sb
        .tot()
        .args(["lineage", "app", "--depth", "6"])
        .output()
        .expect("tot lineage");
    let tree = String::from_utf8_lossy(&lineage.stdout);
    assert!(lineage.status.success(), "{lineage:?}");
    for source in ["/main.c", "/helper.c", "/shared.h", "/main.o", "/helper.o"] {
        assert!(tree.contains(source), "{source} missing from:\n{tree}");
    }
    assert!(
        tree.contains("system files (--all-inputs lists them)"),
        "{tree}"
    );
    assert!(!tree.contains("libc.so"), "{tree}");
}

/// The nearest process up the parent chain (itself included) whose argv[0] is `name`.
fn ancestor_named<'r>(
    record: &'r crate::support::Record,
    mut process: &'r serde_json::Value,
    name: &str,
) -> &'r serde_json::Value {
    loop {
        if process["argv"][0] == name {
            return process;
        }
        let parent = process["parent"]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} above {process:#}"));
        process = record.process(parent);
    }
}

/// Paths read by `root` and all its descendants.
fn subtree_reads(record: &crate::support::Record, root: &serde_json::Value) -> Vec<String> {
    let mut ids = vec![root["id"].as_str().expect("id").to_string()];
    let mut i = 0;
    while i < ids.len() {
        for p in &record.processes {
            if p["parent"].as_str() == Some(ids[i].as_str()) {
                ids.push(p["id"].as_str().expect("id").to_string());
            }
        }
        i += 1;
    }
    record
        .accesses
        .iter()
        .filter(|a| a["kind"] == "read" && ids.iter().any(|id| a["process"] == id.as_str()))
        .map(path_of)
        .collect()
}

#[test]
fn python_threads_write_temp_files_and_rename_them_into_place() {
    require("strace");
    require("python3");
    let sb = Sandbox::new();
    sb.write(
        "threads.py",
        r#"
import os, threading
def work(i):
    tmp = f"result{i}.tmp"
    with open(tmp, "w") as f:
        f.write(f"result {i}\n" * 100)
    os.rename(tmp, f"result{i}.txt")
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"#,
    );
    let (output, record) = sb.trace(&["python3", "threads.py"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut writers = Vec::new();
    for i in 0..4 {
        let final_name = format!("/result{i}.txt");
        let hash = sha256_of(&sb.path().join(&final_name[1..]));
        let writes = record.accesses_to(&final_name, "write");
        let write = writes
            .iter()
            .find(|w| w["sha256"] == hash.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "{final_name} must be attributed to its writer: {:#?}",
                    record.accesses
                )
            });
        writers.push(write["process"].clone());
        assert!(!record.accesses_to(&final_name, "rename_to").is_empty());
        assert!(!record
            .accesses_to(&format!("/result{i}.tmp"), "rename_from")
            .is_empty());
    }
    // The threads fold into one process: the one that ran the script.
    assert!(writers.iter().all(|w| *w == writers[0]), "{writers:?}");
    let writer = record.process(writers[0].as_str().expect("id"));
    assert_eq!(writer["argv"][1], "threads.py", "{writer:#}");
}

#[test]
fn a_killed_command_is_recorded_and_tot_exits_128_plus_n() {
    require("strace");
    let sb = Sandbox::new();
    let (output, record) = sb.trace(&["bash", "-c", "echo partial > partial.txt; kill -KILL $$"]);
    assert_eq!(output.status.code(), Some(128 + 9), "{output:?}");
    assert_eq!(record.header["exit"]["signal"]["name"], "SIGKILL");
    let bash = record.processes_named("bash");
    assert_eq!(bash[0]["exit"]["signal"]["name"], "SIGKILL");
    let hash = sha256_of(&sb.path().join("partial.txt"));
    assert!(record
        .accesses_to("/partial.txt", "write")
        .iter()
        .any(|w| w["sha256"] == hash.as_str()));
}

#[test]
fn a_killed_child_and_a_failing_command_keep_their_statuses() {
    require("strace");
    let sb = Sandbox::new();
    let (output, record) = sb.trace(&[
        "bash",
        "-c",
        // Wait until the child is sleep (not still bash) before killing it.
        "sleep 30 & pid=$!; while [ \"$(readlink /proc/$pid/exe)\" = \"$(readlink /proc/$$/exe)\" ]; do :; done; kill -TERM $pid; wait; exit 3",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let sleep = record.processes_named("sleep");
    assert_eq!(sleep.len(), 1, "{:#?}", record.processes);
    assert_eq!(sleep[0]["exit"]["signal"]["name"], "SIGTERM");
}

#[test]
fn non_utf8_file_names_are_kept_byte_for_byte() {
    require("strace");
    let sb = Sandbox::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.txt");
    let (output, record) = sb.trace(&[
        "sh",
        "-c",
        "printf data > \"$(printf 'caf\\351-\\377.txt')\"",
    ]);
    assert!(output.status.success(), "{output:?}");
    let expected_path = sb.path().join(name);
    let hash = sha256_of(&expected_path);
    let write = record
        .accesses
        .iter()
        .find(|a| a["kind"] == "write" && a["sha256"] == hash.as_str())
        .expect("the write of the non-UTF-8 file");
    let b64 = write["path"]["b64"]
        .as_str()
        .expect("a non-UTF-8 path is carried as b64");
    let decoded = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b64.as_bytes())?;
            child.wait_with_output()
        })
        .expect("base64 -d");
    assert_eq!(decoded.stdout, expected_path.as_os_str().as_bytes());
}

#[test]
fn exec_from_a_thread_starts_a_new_epoch_of_the_process() {
    require("strace");
    require("python3");
    let sb = Sandbox::new();
    sb.write("input.txt", "from a thread\n");
    sb.write(
        "exec_thread.py",
        "import os, threading\nt = threading.Thread(target=lambda: os.execv('/bin/cat', ['cat', 'input.txt']))\nt.start()\nt.join()\n",
    );
    let (output, record) = sb.trace(&["python3", "exec_thread.py"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "from a thread\n");
    let cat = record.processes_named("cat");
    assert_eq!(cat.len(), 1, "{:#?}", record.processes);
    let python = record.processes_named("python3");
    assert_eq!(
        cat[0]["pid"], python[0]["pid"],
        "the exec replaces the whole process"
    );
    assert!(record
        .paths_of(cat[0], "read")
        .iter()
        .any(|p| p.ends_with("/input.txt")));
}

#[test]
fn missing_command_exits_127_with_a_clear_message() {
    let sb = Sandbox::new();
    let output = sb
        .tot()
        .args(["no-such-command-for-tot", "x"])
        .output()
        .expect("run tot");
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no-such-command-for-tot: command not found"),
        "{stderr}"
    );
}

#[test]
fn shorthand_passes_stdin_and_exit_status_through() {
    require("strace");
    let sb = Sandbox::new();
    let mut child = sb
        .tot()
        .args([
            "sh",
            "-c",
            "read line; echo \"got $line\"; echo err >&2; exit 7",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tot");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"abc\n")
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got abc\n");
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("err\n"));
}

#[test]
fn sigterm_to_tot_is_forwarded_and_the_record_is_complete() {
    signal_to_tot_is_forwarded("TERM", 15);
}

#[test]
fn sigint_to_tot_is_forwarded_and_the_record_is_complete() {
    signal_to_tot_is_forwarded("INT", 2);
}

/// `kill -SIG <tot>` reaches the traced command; tot waits for it, writes the whole record
/// and exits 128+N.
fn signal_to_tot_is_forwarded(signal: &str, number: i32) {
    require("strace");
    require("python3");
    let sb = Sandbox::new();
    let record_path = sb.path().join("r.jsonl");
    // The command restores default dispositions: a shell may start tests with SIGINT ignored.
    let script = "import signal, time\n\
        signal.signal(signal.SIGINT, signal.SIG_DFL)\n\
        signal.signal(signal.SIGTERM, signal.SIG_DFL)\n\
        open('started.txt', 'w').close()\n\
        time.sleep(30)\n";
    sb.write("wait.py", script);
    let mut child = sb
        .tot()
        .arg("run")
        .arg("--record")
        .arg(&record_path)
        .args(["--", "python3", "wait.py"])
        .spawn()
        .expect("run tot");
    let started = sb.path().join("started.txt");
    for _ in 0..400 {
        if started.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(128 + number));
    let record =
        crate::support::Record::parse(&std::fs::read_to_string(&record_path).expect("record"));
    assert_eq!(
        record.header["exit"]["signal"]["name"],
        format!("SIG{signal}")
    );
    assert!(record.header["end"].is_u64());
    assert!(record
        .accesses_to("/wait.py", "read")
        .iter()
        .any(|a| a["sha256"].is_string()));
}

#[test]
fn import_keeps_every_complete_line_of_a_cut_off_log_and_reports_the_cut() {
    require("strace");
    let sb = Sandbox::new();
    let log = sb.path().join("trace.log");
    let status = Command::new("strace")
        .args(["-f", "-ttt", "-o"])
        .arg(&log)
        .args(["sh", "-c", "cat /etc/hostname > copy.txt"])
        .current_dir(sb.path())
        .status()
        .expect("strace");
    assert!(status.success());
    let mut text = std::fs::read(&log).expect("log");
    let total_lines = text.iter().filter(|b| **b == b'\n').count();
    // Cut the log in the middle of its last line, and add a garbage line before it.
    text.truncate(text.len() - 5);
    let insert_at = text.iter().position(|b| *b == b'\n').expect("a line") + 1;
    text.splice(
        insert_at..insert_at,
        b"this is not strace output\n".iter().copied(),
    );
    std::fs::write(&log, &text).expect("write log");

    let record_path = sb.path().join("imported.jsonl");
    let output = sb
        .tot()
        .args(["import", "--format", "strace", "--cwd"])
        .arg(sb.path())
        .arg("--record")
        .arg(&record_path)
        .arg(&log)
        .output()
        .expect("tot import");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("trace.log:2:"),
        "the garbage line is reported with its number: {stderr}"
    );
    assert!(
        stderr.contains(&format!("trace.log:{}:", total_lines + 1)),
        "the cut is reported: {stderr}"
    );
    let record =
        crate::support::Record::parse(&std::fs::read_to_string(&record_path).expect("record"));
    assert!(
        !record.accesses_to("/copy.txt", "write").is_empty(),
        "{:#?}",
        record.accesses
    );
    assert!(
        record.accesses_to("/copy.txt", "write")[0]["sha256"].is_null(),
        "imports are not hashed"
    );

    let strict = sb
        .tot()
        .args(["import", "--format", "strace", "--strict"])
        .arg(&log)
        .output()
        .expect("tot import --strict");
    assert_eq!(strict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("trace.log:2:"));
}

#[test]
fn import_refuses_a_summary_table() {
    let sb = Sandbox::new();
    let output = sb
        .tot()
        .args([
            "import",
            "--format",
            "strace",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/corpus/strace/v6.1-c-summary.txt"
            ),
        ])
        .output()
        .expect("tot import");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a trace"));
}

#[test]
fn a_log_with_no_strace_events_is_refused() {
    let sb = Sandbox::new();
    let log = sb.write("notes.txt", "just some text\nand more\n");
    let output = sb
        .tot()
        .args(["import", "--format", "strace"])
        .arg(&log)
        .output()
        .expect("tot import");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a trace: no strace events"), "{stderr}");
    assert!(
        !sb.data_dir().join("records").exists()
            || std::fs::read_dir(sb.data_dir().join("records"))
                .expect("records")
                .next()
                .is_none()
    );
}

#[test]
fn missing_strace_is_explained_with_the_fix() {
    let sb = Sandbox::new();
    let output = sb
        .tot()
        .env("PATH", "/nonexistent")
        .args(["--backend", "strace", "/bin/true"])
        .output()
        .expect("run tot");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("strace not found in PATH"), "{stderr}");
    assert!(stderr.contains("apt-get install strace"), "{stderr}");
}

#[test]
fn a_crash_of_tot_leaves_a_readable_record_of_what_finished() {
    require("strace");
    let sb = Sandbox::new();
    let mut child = sb
        .tot()
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "cat /etc/hostname > copied; touch done; exec sleep 29.5",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run tot");
    let done = sb.path().join("done");
    for _ in 0..200 {
        if done.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().expect("SIGKILL tot");
    child.wait().expect("wait");
    let records = sb.data_dir().join("records");
    let partial = std::fs::read_dir(&records)
        .expect("records dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(".partial"))
        .expect("a partial record");
    let record = crate::support::Record::parse(&std::fs::read_to_string(&partial).expect("read"));
    assert!(record.header["end"].is_null(), "cut short: no end");
    let cat = record.processes_named("cat");
    assert_eq!(
        cat.len(),
        1,
        "the finished cat is on disk: {:#?}",
        record.processes
    );
    assert!(record
        .paths_of(cat[0], "write")
        .iter()
        .any(|p| p.ends_with("/copied")));
    let printed = sb
        .tot()
        .arg("print")
        .arg(&partial)
        .output()
        .expect("tot print");
    assert!(printed.status.success());
    assert!(String::from_utf8_lossy(&printed.stdout).contains("cut short"));
    let _ = Command::new("pkill").args(["-f", "sleep 29.5"]).status();
}

#[test]
fn vfork_spawned_children_and_dirfd_relative_opens_are_attributed() {
    require("strace");
    require("python3");
    let sb = Sandbox::new();
    sb.write("sub/input.txt", "through a directory fd\n");
    sb.write(
        "spawn.py",
        r#"
import os, subprocess
# subprocess uses vfork (CLONE_VM|CLONE_VFORK) on Linux.
with open("spawned.txt", "w") as out:
    subprocess.run(["cat", "sub/input.txt"], stdout=out, check=True)
# openat() relative to a directory fd, after a chdir elsewhere.
d = os.open("sub", os.O_RDONLY | os.O_DIRECTORY)
os.chdir("/")
fd = os.open("made-via-dirfd.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=d)
os.write(fd, b"written through dirfd\n")
os.close(fd)
"#,
    );
    let (output, record) = sb.trace(&["python3", "spawn.py"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let hash = sha256_of(&sb.path().join("spawned.txt"));
    let write = record
        .accesses_to("/spawned.txt", "write")
        .into_iter()
        .find(|w| w["sha256"] == hash.as_str())
        .expect("a write of spawned.txt with its final hash");
    let writer = record.actor(write);
    assert_eq!(writer["argv"][0], "cat", "{writer:#}");
    let parent = record.process(writer["parent"].as_str().expect("a parent"));
    assert_eq!(parent["argv"][1], "spawn.py", "{parent:#}");
    assert!(record
        .paths_of(writer, "read")
        .iter()
        .any(|p| p.ends_with("/sub/input.txt")));

    let made = sb.path().join("sub/made-via-dirfd.txt");
    let hash = sha256_of(&made);
    let expected = made.to_string_lossy().to_string();
    assert!(
        record.accesses.iter().any(|a| a["kind"] == "write"
            && path_of(a) == expected
            && a["sha256"] == hash.as_str()),
        "the dirfd-relative write resolves against the directory, not the cwd: {:#?}",
        record.accesses_to("made-via-dirfd.txt", "write")
    );
}
