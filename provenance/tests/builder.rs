//! The builder against hand-written event sequences (the event stream is the contract)
//! over real files in temporary directories.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use tot_api::{
    Access, AccessKind, Bytes, Event, EventKind, EventSink, ExitStatus, FileAccess, OpenFlags,
    Outcome, PathAt, ProcessEntry,
};
use tot_provenance::{BuildOptions, Hashing, ProvenanceBuilder};

// ---- helpers --------------------------------------------------------------------------

fn bytes_of(path: &Path) -> Bytes {
    Bytes(path.as_os_str().as_bytes().to_vec())
}

fn sha256_of(path: &Path) -> String {
    let content = std::fs::read(path).expect("test file exists");
    Sha256::digest(&content)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn sha256_of_bytes(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

struct Trace {
    builder: ProvenanceBuilder,
    clock: u64,
}

struct Record {
    processes: Vec<ProcessEntry>,
    accesses: Vec<FileAccess>,
}

impl Trace {
    fn new(cwd: &Path) -> Self {
        Self::with(BuildOptions::new("r-test", bytes_of(cwd)))
    }

    fn with(options: BuildOptions) -> Self {
        Trace {
            builder: ProvenanceBuilder::new(options),
            clock: 1_000,
        }
    }

    fn push(&mut self, tid: u32, ev: EventKind) -> &mut Self {
        self.clock += 1;
        self.builder.event(Event {
            tid,
            ts: Some(self.clock),
            ev,
        });
        self
    }

    fn exec(&mut self, tid: u32, path: impl Into<Bytes>, argv: &[&str]) -> &mut Self {
        self.push(
            tid,
            EventKind::Exec {
                dirfd: None,
                path: path.into(),
                argv: argv.iter().map(|&arg| arg.into()).collect(),
                env: None,
                cwd: None,
                argv_truncated: false,
            },
        )
    }

    fn fork(&mut self, tid: u32, child: u32) -> &mut Self {
        self.push(
            tid,
            EventKind::Spawn {
                child,
                thread: false,
                shares_files: false,
                shares_fs: false,
            },
        )
    }

    fn thread(&mut self, tid: u32, child: u32) -> &mut Self {
        self.push(
            tid,
            EventKind::Spawn {
                child,
                thread: true,
                shares_files: true,
                shares_fs: true,
            },
        )
    }

    fn open(&mut self, tid: u32, path: impl Into<Bytes>, flags: OpenFlags, fd: i32) -> &mut Self {
        self.open_at(tid, None, path, flags, fd)
    }

    fn open_at(
        &mut self,
        tid: u32,
        dirfd: Option<i32>,
        path: impl Into<Bytes>,
        flags: OpenFlags,
        fd: i32,
    ) -> &mut Self {
        self.push(
            tid,
            EventKind::Open {
                dirfd,
                path: path.into(),
                flags,
                outcome: Outcome::Ok(i64::from(fd)),
            },
        )
    }

    fn write(&mut self, tid: u32, fd: i32) -> &mut Self {
        self.push(tid, EventKind::Write { fd })
    }

    fn close(&mut self, tid: u32, fd: i32) -> &mut Self {
        self.push(tid, EventKind::Close { fd })
    }

    fn dup(&mut self, tid: u32, fd: i32, new_fd: i32) -> &mut Self {
        self.push(
            tid,
            EventKind::Dup {
                fd,
                new_fd,
                cloexec: false,
            },
        )
    }

    fn rename(&mut self, tid: u32, from: impl Into<Bytes>, to: impl Into<Bytes>) -> &mut Self {
        self.push(
            tid,
            EventKind::Rename {
                from: PathAt::cwd(from),
                to: PathAt::cwd(to),
            },
        )
    }

    fn exit(&mut self, tid: u32, code: i32) -> &mut Self {
        self.push(
            tid,
            EventKind::Exit {
                status: ExitStatus::Code(code),
            },
        )
    }

    fn finish(self) -> Record {
        let Trace { mut builder, .. } = self;
        let (mut processes, mut accesses) = builder.drain_finished();
        let (more_processes, more_accesses, _diagnostics) = builder.finish();
        processes.extend(more_processes);
        accesses.extend(more_accesses);
        Record {
            processes,
            accesses,
        }
    }
}

fn read() -> OpenFlags {
    OpenFlags {
        access: Access::Read,
        ..OpenFlags::default()
    }
}

fn read_cloexec() -> OpenFlags {
    OpenFlags {
        cloexec: true,
        ..read()
    }
}

fn create_trunc() -> OpenFlags {
    OpenFlags {
        access: Access::Write,
        create: true,
        trunc: true,
        ..OpenFlags::default()
    }
}

fn create_only() -> OpenFlags {
    OpenFlags {
        access: Access::Write,
        create: true,
        ..OpenFlags::default()
    }
}

fn directory() -> OpenFlags {
    OpenFlags {
        access: Access::Read,
        directory: true,
        cloexec: true,
        ..OpenFlags::default()
    }
}

impl Record {
    fn process(&self, id: &str) -> &ProcessEntry {
        self.processes
            .iter()
            .find(|process| process.id == id)
            .unwrap_or_else(|| panic!("no process {id} in {:#?}", self.processes))
    }

    fn process_running(&self, exe_suffix: &str) -> &ProcessEntry {
        self.processes
            .iter()
            .find(|process| {
                process
                    .exe
                    .as_ref()
                    .is_some_and(|exe| exe.as_slice().ends_with(exe_suffix.as_bytes()))
            })
            .unwrap_or_else(|| panic!("no process running {exe_suffix}: {:#?}", self.processes))
    }

    fn accesses_of(&self, path: &Path, kind: AccessKind) -> Vec<&FileAccess> {
        let path = bytes_of(path);
        self.accesses
            .iter()
            .filter(|access| access.path == path && access.kind == kind)
            .collect()
    }

    fn only(&self, path: &Path, kind: AccessKind) -> &FileAccess {
        let found = self.accesses_of(path, kind);
        assert_eq!(found.len(), 1, "{kind:?} of {path:?}: {:#?}", self.accesses);
        found[0]
    }
}

// ---- process tree -----------------------------------------------------------------------

#[test]
fn fork_exec_exit_tree_and_exec_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, b"hello").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(100, "/bin/sh", &["sh", "-c", "x"])
        .fork(100, 101)
        .exec(101, "/usr/bin/env", &["env", "cat", "input.txt"])
        .exec(101, "/bin/cat", &["cat", "input.txt"])
        .open(101, "input.txt", read(), 3)
        .close(101, 3)
        .exit(101, 0)
        // A forked child that never execs: its own epoch, a copy of the shell.
        .fork(100, 102)
        .open(102, bytes_of(&input), read(), 3)
        .exit(102, 4)
        .exit(100, 0);
    let record = trace.finish();

    let sh = record.process("r-test:100:0");
    assert_eq!(sh.parent, None);
    assert_eq!(sh.exe, Some("/bin/sh".into()));
    assert_eq!(sh.exit, Some(ExitStatus::Code(0)));

    // pid 101 exec'd twice: two entries; the first's parent is the shell, the second's
    // is the first. The fork epoch before the first exec did nothing: no entry.
    let env = record.process("r-test:101:0");
    assert_eq!(env.exe, Some("/usr/bin/env".into()));
    assert_eq!(env.parent.as_deref(), Some("r-test:100:0"));
    assert_eq!(env.exit, None, "an epoch ended by exec has no exit status");
    let cat = record.process("r-test:101:1");
    assert_eq!(cat.exe, Some("/bin/cat".into()));
    assert_eq!(cat.parent.as_deref(), Some("r-test:101:0"));
    assert_eq!(cat.exit, Some(ExitStatus::Code(0)));
    assert_eq!(cat.cwd, bytes_of(dir.path()));

    let subshell = record.process("r-test:102:0");
    assert_eq!(subshell.parent.as_deref(), Some("r-test:100:0"));
    assert_eq!(subshell.exe, Some("/bin/sh".into()));
    assert_eq!(subshell.argv, sh.argv);
    assert_eq!(subshell.exit, Some(ExitStatus::Code(4)));
    assert_eq!(record.processes.len(), 4);

    let reads = record.accesses_of(&input, AccessKind::Read);
    assert_eq!(reads.len(), 2);
    let readers: Vec<&str> = reads.iter().map(|access| access.process.as_str()).collect();
    assert_eq!(readers, ["r-test:101:1", "r-test:102:0"]);
    for access in reads {
        assert_eq!(access.sha256.as_deref(), Some(sha256_of(&input).as_str()));
        assert_eq!(access.size, Some(5));
        assert!(access.mtime.is_some());
        assert!(access.id.starts_with(&access.process));
    }
    let execs: Vec<&FileAccess> = record
        .accesses
        .iter()
        .filter(|access| access.kind == AccessKind::Exec)
        .collect();
    assert_eq!(execs.len(), 3);
    assert!(
        execs.iter().all(|access| access.sha256.is_some()),
        "{execs:#?}"
    );
}

#[test]
fn threads_share_the_fd_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    let mut trace = Trace::new(dir.path());
    trace
        .exec(200, "/usr/bin/python3", &["python3", "t.py"])
        .thread(200, 201)
        .open(201, "out.bin", create_trunc(), 5);
    std::fs::write(&out, b"written by the main thread").unwrap();
    trace.write(200, 5).close(201, 5).exit(201, 0).exit(200, 0);
    let record = trace.finish();

    assert_eq!(record.processes.len(), 1, "a thread is not a process");
    let write = record.only(&out, AccessKind::Write);
    assert_eq!(write.process, "r-test:200:0");
    assert_eq!(write.sha256.as_deref(), Some(sha256_of(&out).as_str()));
}

#[test]
fn vfork_child_seen_before_the_spawn_gets_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = Trace::new(dir.path());
    trace.exec(300, "/bin/sh", &["sh"]);
    // strace prints the vfork child's exec and exit before `vfork() = 301` returns.
    trace
        .exec(301, "/bin/true", &["true"])
        .exit(301, 0)
        .push(
            300,
            EventKind::Spawn {
                child: 301,
                thread: false,
                shares_files: false,
                shares_fs: false,
            },
        )
        .exit(300, 0);
    let record = trace.finish();
    let child = record.process_running("/bin/true");
    assert_eq!(child.parent.as_deref(), Some("r-test:300:0"));
    assert_eq!(child.exit, Some(ExitStatus::Code(0)));
    assert_eq!(record.processes.len(), 2);
}

#[test]
fn unknown_task_becomes_a_process_without_parent() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, b"x").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(400, "/bin/sh", &["sh"])
        .open(999, bytes_of(&input), read(), 3)
        .exit(400, 0);
    let record = trace.finish();
    let read = record.only(&input, AccessKind::Read);
    let attached = record.process(&read.process);
    assert_eq!(attached.pid, 999);
    assert_eq!(attached.parent, None);
}

#[test]
fn exec_from_a_thread_replaces_the_whole_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(500, "/usr/bin/app", &["app"])
        .thread(500, 501)
        .thread(500, 502)
        .exec(501, "/bin/true", &["true"])
        // After the exec the process goes on under the leader's tid.
        .exit(500, 3);
    let record = trace.finish();
    let app = record.process("r-test:500:0");
    let new = record.process("r-test:500:1");
    assert_eq!(new.exe, Some("/bin/true".into()));
    assert_eq!(new.parent.as_deref(), Some(app.id.as_str()));
    assert_eq!(new.exit, Some(ExitStatus::Code(3)));
    assert_eq!(record.processes.len(), 2);
}

#[test]
fn exec_from_a_thread_as_strace_reports_it() {
    // `[pid 501] execve(...) <unfinished>`, `[pid 500] +++ superseded by execve in pid
    // 501 +++`, `[pid 500] <... execve resumed>) = 0`: the parser ends 501 with no
    // status, then the exec resumes under 500. Also when the leader exited before.
    for leader_exited_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut trace = Trace::new(dir.path());
        trace.exec(510, "/usr/bin/app", &["app"]).thread(510, 511);
        if leader_exited_first {
            trace.exit(510, 0);
        }
        trace
            .push(
                511,
                EventKind::Exit {
                    status: ExitStatus::Unknown,
                },
            )
            .exec(510, "/bin/true", &["true"])
            .exit(510, 5);
        let record = trace.finish();
        let new = record.process("r-test:510:1");
        assert_eq!(new.exe, Some("/bin/true".into()));
        assert_eq!(new.parent.as_deref(), Some("r-test:510:0"));
        assert_eq!(new.exit, Some(ExitStatus::Code(5)));
        assert_eq!(record.processes.len(), 2, "{:#?}", record.processes);
    }
}

#[test]
fn leader_exiting_before_its_threads_keeps_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("late");
    let mut trace = Trace::new(dir.path());
    trace
        .exec(600, "/usr/bin/app", &["app"])
        .thread(600, 601)
        .exit(600, 0)
        .open(601, "late", create_trunc(), 3);
    std::fs::write(&out, b"late").unwrap();
    trace.write(601, 3).exit(601, 7);
    let record = trace.finish();
    let app = record.process("r-test:600:0");
    assert_eq!(app.exit, Some(ExitStatus::Code(7)));
    assert_eq!(record.only(&out, AccessKind::Write).process, app.id);
}

#[test]
fn root_exit_is_the_first_process_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(700, "/bin/sh", &["sh"])
        .fork(700, 701)
        .exit(701, 9);
    assert_eq!(trace.builder.root_exit(), None);
    trace.exit(700, 2);
    assert_eq!(trace.builder.root_exit(), Some(ExitStatus::Code(2)));
}

#[test]
fn drain_returns_finished_processes_while_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(800, "/usr/bin/make", &["make"])
        .fork(800, 801)
        .exec(801, "/bin/true", &["true"])
        .exit(801, 0);
    let (processes, accesses) = trace.builder.drain_finished();
    let ids: Vec<&str> = processes.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["r-test:801:0"]);
    assert_eq!(
        accesses.len(),
        2,
        "both exec accesses are final: {accesses:#?}"
    );
    let (processes, accesses) = trace.builder.drain_finished();
    assert!(processes.is_empty() && accesses.is_empty());
    let record = trace.finish();
    assert_eq!(record.processes.len(), 1);
    assert_eq!(record.processes[0].id, "r-test:800:0");
    assert_eq!(record.processes[0].end, None, "still running at finish");
}

// ---- fds -----------------------------------------------------------------------------

#[test]
fn shell_redirection_credits_cat_with_the_final_content() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut trace = Trace::new(dir.path());
    // bash -c 'cat > out': the forked child opens out, moves it to fd 1, execs cat.
    trace
        .exec(900, "/bin/bash", &["bash", "-c", "cat > out"])
        .fork(900, 901)
        .open(901, "out", create_trunc(), 3)
        .dup(901, 3, 1)
        .close(901, 3);
    std::fs::write(&out, b"").unwrap();
    trace.exec(901, "/bin/cat", &["cat"]);
    std::fs::write(&out, b"typed text\n").unwrap();
    trace.write(901, 1).exit(901, 0).exit(900, 0);
    let record = trace.finish();

    let write = record.only(&out, AccessKind::Write);
    let cat = record.process(&write.process);
    assert_eq!(cat.exe, Some("/bin/cat".into()));
    assert_eq!(cat.parent.as_deref(), Some("r-test:900:0"));
    assert_eq!(record.process("r-test:900:0").exe, Some("/bin/bash".into()));
    assert_eq!(write.sha256.as_deref(), Some(sha256_of(&out).as_str()));
    assert_eq!(
        write.sha256.as_deref(),
        Some(sha256_of_bytes(b"typed text\n").as_str())
    );
}

#[test]
fn truncating_open_without_writes_credits_the_opener() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("emptied");
    std::fs::write(&out, b"").unwrap();
    let mut trace = Trace::new(dir.path());
    // `: > emptied` in a shell.
    trace
        .exec(1000, "/bin/sh", &["sh"])
        .open(1000, "emptied", create_trunc(), 3)
        .close(1000, 3)
        .exit(1000, 0);
    let record = trace.finish();
    let write = record.only(&out, AccessKind::Write);
    assert_eq!(write.process, "r-test:1000:0");
    assert_eq!(write.sha256.as_deref(), Some(sha256_of_bytes(b"").as_str()));
    assert_eq!(write.size, Some(0));
}

#[test]
fn opened_for_writing_but_never_written_is_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    std::fs::write(&log, b"old").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1100, "/usr/bin/app", &["app"])
        .open(1100, "log", create_only(), 3)
        .open(
            1100,
            "log",
            OpenFlags {
                access: Access::Write,
                append: true,
                ..OpenFlags::default()
            },
            4,
        )
        .close(1100, 3)
        .close(1100, 4)
        .exit(1100, 0);
    let record = trace.finish();
    assert!(record.accesses_of(&log, AccessKind::Write).is_empty());
    assert!(record.accesses_of(&log, AccessKind::Read).is_empty());
}

#[test]
fn exclusive_create_is_a_write_even_without_data() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    let mut trace = Trace::new(dir.path());
    trace.exec(1150, "/usr/bin/app", &["app"]).open(
        1150,
        "lock",
        OpenFlags {
            access: Access::Write,
            create: true,
            excl: true,
            ..OpenFlags::default()
        },
        3,
    );
    std::fs::write(&lock, b"").unwrap();
    trace.close(1150, 3).exit(1150, 0);
    let record = trace.finish();
    let write = record.only(&lock, AccessKind::Write);
    assert_eq!(write.sha256.as_deref(), Some(sha256_of_bytes(b"").as_str()));
}

#[test]
fn cloexec_fds_close_at_exec_and_inherited_fds_survive_fork() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept");
    let dropped = dir.path().join("dropped");
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1200, "/bin/sh", &["sh"])
        .open(1200, "kept", create_only(), 3)
        .open(
            1200,
            "dropped",
            OpenFlags {
                cloexec: true,
                ..create_only()
            },
            4,
        )
        .fork(1200, 1201)
        .close(1200, 3)
        .close(1200, 4)
        .exec(1201, "/usr/bin/tool", &["tool"]);
    std::fs::write(&kept, b"from tool").unwrap();
    std::fs::write(&dropped, b"untouched").unwrap();
    // fd 3 was inherited and survives exec; fd 4 was close-on-exec: a write to fd 4
    // after the exec goes to something tot never saw (no credit to `dropped`).
    trace
        .write(1201, 3)
        .write(1201, 4)
        .exit(1201, 0)
        .exit(1200, 0);
    let record = trace.finish();
    let write = record.only(&kept, AccessKind::Write);
    assert_eq!(
        record.process(&write.process).exe,
        Some("/usr/bin/tool".into())
    );
    assert_eq!(write.sha256.as_deref(), Some(sha256_of(&kept).as_str()));
    assert!(record.accesses_of(&dropped, AccessKind::Write).is_empty());
}

#[test]
fn last_close_across_processes_hashes_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shared");
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1300, "/bin/sh", &["sh"])
        .open(1300, "shared", create_trunc(), 3)
        .fork(1300, 1301)
        .close(1300, 3);
    let (_, drained) = trace.builder.drain_finished();
    assert!(
        drained
            .iter()
            .all(|access| access.kind != AccessKind::Write),
        "still open in the child: not final: {drained:#?}"
    );
    std::fs::write(&out, b"child output").unwrap();
    trace.write(1301, 3).exit(1301, 0).exit(1300, 0);
    let record = trace.finish();
    let write = record.only(&out, AccessKind::Write);
    assert_eq!(write.process, "r-test:1301:0");
    assert_eq!(write.sha256.as_deref(), Some(sha256_of(&out).as_str()));
}

#[test]
fn pipes_and_sockets_are_not_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1400, "/bin/sh", &["sh"])
        .push(
            1400,
            EventKind::Pipe {
                read_fd: 3,
                write_fd: 4,
                cloexec: false,
            },
        )
        .push(
            1400,
            EventKind::OpenOther {
                fd: 5,
                what: "socket".into(),
                cloexec: false,
            },
        )
        .write(1400, 4)
        .write(1400, 5)
        .dup(1400, 4, 1)
        .write(1400, 1)
        .exit(1400, 0);
    let record = trace.finish();
    let kinds: Vec<AccessKind> = record.accesses.iter().map(|access| access.kind).collect();
    assert_eq!(kinds, [AccessKind::Exec]);
}

#[test]
fn fd_reused_after_close_range_is_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    std::fs::write(&first, b"1").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1450, "/usr/bin/app", &["app"])
        .open(1450, "first", create_only(), 3)
        .push(
            1450,
            EventKind::CloseRange {
                first: 3,
                last: u32::MAX,
                cloexec: false,
            },
        )
        .open(1450, "second", create_trunc(), 3);
    std::fs::write(&second, b"2").unwrap();
    trace.write(1450, 3).exit(1450, 0);
    let record = trace.finish();
    assert!(record.accesses_of(&first, AccessKind::Write).is_empty());
    assert_eq!(
        record.only(&second, AccessKind::Write).sha256.as_deref(),
        Some(sha256_of(&second).as_str())
    );
}

// ---- paths ---------------------------------------------------------------------------

#[test]
fn dirfd_relative_opens_resolve_against_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let input = sub.join("deep.txt");
    std::fs::write(&input, b"deep").unwrap();
    let mut trace = Trace::new(Path::new("/"));
    trace
        .exec(1500, "/usr/bin/find", &["find"])
        .open(1500, bytes_of(dir.path()), directory(), 7)
        .open_at(1500, Some(7), "sub/./../sub//deep.txt", read(), 8)
        .exit(1500, 0);
    let record = trace.finish();
    let access = record.only(&input, AccessKind::Read);
    assert_eq!(access.sha256.as_deref(), Some(sha256_of(&input).as_str()));
    assert!(
        record.accesses_of(dir.path(), AccessKind::Read).is_empty(),
        "O_DIRECTORY opens are not reads"
    );
}

#[test]
fn chdir_and_fchdir_move_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(a.join("f"), b"in a").unwrap();
    std::fs::write(b.join("f"), b"in b").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1600, "/bin/sh", &["sh"])
        .open(1600, "b", directory(), 9)
        .push(1600, EventKind::Chdir { path: "a".into() })
        .open(1600, "f", read(), 3)
        .push(1600, EventKind::Fchdir { fd: 9 })
        .open(1600, "f", read(), 4)
        .fork(1600, 1601)
        .push(1601, EventKind::Chdir { path: "..".into() })
        .exec(1601, "./a/../b/../a/f", &["f"])
        .exit(1601, 0)
        .open(1600, "./f", read(), 5)
        .exit(1600, 0);
    let record = trace.finish();
    assert_eq!(record.accesses_of(&a.join("f"), AccessKind::Read).len(), 1);
    assert_eq!(
        record.accesses_of(&b.join("f"), AccessKind::Read).len(),
        1,
        "the child's chdir did not move the parent; the second read of b/f is deduplicated"
    );
    let exec = record.only(&a.join("f"), AccessKind::Exec);
    assert_eq!(
        exec.sha256.as_deref(),
        Some(sha256_of(&a.join("f")).as_str())
    );
    assert_eq!(record.process(&exec.process).cwd, bytes_of(dir.path()));
}

#[test]
fn non_utf8_paths_stay_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.txt");
    let input = dir.path().join(name);
    std::fs::write(&input, b"bytes").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1700, "/bin/cat", &["cat"])
        .open(1700, Bytes(b"caf\xe9-\xff.txt".to_vec()), read(), 3)
        .exit(1700, 0);
    let record = trace.finish();
    let access = record.only(&input, AccessKind::Read);
    assert!(access.path.as_slice().ends_with(b"/caf\xe9-\xff.txt"));
    assert_eq!(access.sha256.as_deref(), Some(sha256_of(&input).as_str()));
}

// ---- renames, deletes, versions --------------------------------------------------------

#[test]
fn temp_then_rename_across_threads_credits_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1800, "/usr/bin/python3", &["python3", "save.py"])
        .thread(1800, 1801)
        .thread(1800, 1802);
    for (thread, name, fd) in [(1801u32, "a", 3), (1802, "b", 4)] {
        let tmp = format!("{name}.tmp");
        trace.open(thread, tmp.as_str(), create_trunc(), fd);
        std::fs::write(dir.path().join(&tmp), format!("content {name}")).unwrap();
        trace.write(thread, fd).close(thread, fd);
    }
    for (thread, name) in [(1802u32, "b"), (1801, "a")] {
        let (tmp, fin) = (format!("{name}.tmp"), format!("{name}.final"));
        std::fs::rename(dir.path().join(&tmp), dir.path().join(&fin)).unwrap();
        trace.rename(thread, tmp.as_str(), fin.as_str());
    }
    trace.exit(1801, 0).exit(1802, 0).exit(1800, 0);
    let record = trace.finish();
    for name in ["a", "b"] {
        let tmp = dir.path().join(format!("{name}.tmp"));
        let fin = dir.path().join(format!("{name}.final"));
        let expected = sha256_of(&fin);
        let tmp_write = record.only(&tmp, AccessKind::Write);
        let final_write = record.only(&fin, AccessKind::Write);
        assert_eq!(tmp_write.sha256.as_deref(), Some(expected.as_str()));
        assert_eq!(final_write.sha256.as_deref(), Some(expected.as_str()));
        assert_eq!(final_write.process, "r-test:1800:0");
        let from = record.only(&tmp, AccessKind::RenameFrom);
        let to = record.only(&fin, AccessKind::RenameTo);
        assert_eq!(to.source, Some(bytes_of(&tmp)));
        assert_eq!(to.sha256.as_deref(), Some(expected.as_str()));
        assert_eq!(from.sha256, to.sha256);
    }
}

#[test]
fn output_renamed_before_its_close_is_seen_is_hashed_at_the_new_name() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("x.tmp");
    let fin = dir.path().join("x");
    let mut trace = Trace::new(dir.path());
    trace
        .exec(1900, "/usr/bin/gen", &["gen"])
        .open(1900, "x.tmp", create_trunc(), 3)
        .write(1900, 3);
    // By the time the close event arrives, the program already renamed the file.
    std::fs::write(&fin, b"generated").unwrap();
    trace.close(1900, 3);
    trace.rename(1900, "x.tmp", "x").exit(1900, 0);
    let record = trace.finish();
    let expected = sha256_of(&fin);
    let writes = record.accesses_of(&fin, AccessKind::Write);
    assert_eq!(writes.len(), 1, "{:#?}", record.accesses);
    assert_eq!(writes[0].sha256.as_deref(), Some(expected.as_str()));
    assert_eq!(
        record.only(&tmp, AccessKind::Write).sha256.as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(
        record.only(&fin, AccessKind::RenameTo).sha256.as_deref(),
        Some(expected.as_str())
    );
}

#[test]
fn unlink_records_a_delete_and_a_vanished_output() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    let scratch = dir.path().join("scratch");
    std::fs::write(&victim, b"v").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(2000, "/usr/bin/cc", &["cc"])
        .push(
            2000,
            EventKind::Unlink {
                path: PathAt::cwd("victim"),
            },
        )
        .open(2000, "scratch", create_trunc(), 3)
        .write(2000, 3)
        .push(
            2000,
            EventKind::Unlink {
                path: PathAt::cwd("scratch"),
            },
        )
        .close(2000, 3)
        .push(
            2000,
            EventKind::Mkdir {
                path: PathAt::cwd("newdir"),
            },
        )
        .exit(2000, 0);
    std::fs::remove_file(&victim).unwrap();
    let record = trace.finish();
    record.only(&victim, AccessKind::Delete);
    record.only(&scratch, AccessKind::Delete);
    let write = record.only(&scratch, AccessKind::Write);
    assert_eq!(write.sha256, None);
    assert_eq!(write.note.as_deref(), Some("vanished"));
    record.only(&dir.path().join("newdir"), AccessKind::Mkdir);
}

#[test]
fn an_output_removed_before_tot_catches_up_is_hashed_through_its_held_handle() {
    // A compiler's temporary file: written, closed, read by the next tool and removed, all
    // before tot has processed the events. tot took a handle when it saw the open.
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("cc123.s");
    std::fs::write(&temp, b"").unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(2100, "/usr/bin/cc1", &["cc1"])
        .open(2100, "cc123.s", create_trunc(), 3);
    std::fs::write(&temp, b"\t.text\n").unwrap();
    let expected = sha256_of(&temp);
    std::fs::remove_file(&temp).unwrap();
    trace
        .write(2100, 3)
        .close(2100, 3)
        .exit(2100, 0)
        .exec(2101, "/usr/bin/as", &["as"])
        .open(2101, "cc123.s", read(), 3)
        .close(2101, 3)
        .push(
            2101,
            EventKind::Unlink {
                path: PathAt::cwd("cc123.s"),
            },
        )
        .exit(2101, 0);
    let record = trace.finish();
    let write = record.only(&temp, AccessKind::Write);
    assert_eq!(
        write.sha256.as_deref(),
        Some(expected.as_str()),
        "{write:?}"
    );
    // The reader gets the content produced there, though the file was gone when tot looked.
    let read = record.only(&temp, AccessKind::Read);
    assert_eq!(read.sha256.as_deref(), Some(expected.as_str()), "{read:?}");
}

#[test]
fn killed_process_with_an_open_written_file_is_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("partial");
    let mut trace = Trace::new(dir.path());
    trace
        .exec(2100, "/usr/bin/writer", &["writer"])
        .open(2100, "partial", create_trunc(), 3);
    std::fs::write(&out, b"half").unwrap();
    trace.write(2100, 3).push(
        2100,
        EventKind::Exit {
            status: ExitStatus::Signal {
                name: "SIGKILL".into(),
                core_dumped: false,
            },
        },
    );
    let record = trace.finish();
    let writer = record.process("r-test:2100:0");
    assert_eq!(
        writer.exit,
        Some(ExitStatus::Signal {
            name: "SIGKILL".into(),
            core_dumped: false
        })
    );
    let write = record.only(&out, AccessKind::Write);
    assert_eq!(write.sha256.as_deref(), Some(sha256_of(&out).as_str()));
}

#[test]
fn file_still_open_at_finish_is_hashed_at_finish() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("daemon.log");
    let mut trace = Trace::new(dir.path());
    trace
        .exec(2150, "/usr/bin/daemon", &["daemon"])
        .open(2150, "daemon.log", create_trunc(), 3)
        .write(2150, 3);
    std::fs::write(&out, b"still running").unwrap();
    let record = trace.finish();
    let write = record.only(&out, AccessKind::Write);
    assert_eq!(write.sha256.as_deref(), Some(sha256_of(&out).as_str()));
}

#[test]
fn a_file_read_then_rewritten_has_two_versions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, b"version one").unwrap();
    let first = sha256_of(&data);
    let mut trace = Trace::new(dir.path());
    trace
        .exec(2200, "/bin/sh", &["sh"])
        .open(2200, "data", read(), 3)
        .close(2200, 3)
        .open(2200, "data", create_trunc(), 3);
    std::fs::write(&data, b"version two, longer").unwrap();
    trace
        .write(2200, 3)
        .close(2200, 3)
        .open(2200, "data", read(), 3)
        .exit(2200, 0);
    let second = sha256_of(&data);
    assert_ne!(first, second);
    let record = trace.finish();
    let reads: Vec<Option<&str>> = record
        .accesses_of(&data, AccessKind::Read)
        .iter()
        .map(|access| access.sha256.as_deref())
        .collect();
    assert_eq!(reads, [Some(first.as_str()), Some(second.as_str())]);
    assert_eq!(
        record.only(&data, AccessKind::Write).sha256.as_deref(),
        Some(second.as_str())
    );
}

#[test]
fn link_and_symlink_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("orig");
    std::fs::write(&original, b"o").unwrap();
    std::fs::hard_link(&original, dir.path().join("hard")).unwrap();
    let mut trace = Trace::new(dir.path());
    trace
        .exec(2300, "/bin/ln", &["ln"])
        .push(
            2300,
            EventKind::Link {
                from: PathAt::cwd("orig"),
                to: PathAt::cwd("hard"),
            },
        )
        .push(
            2300,
            EventKind::Symlink {
                target: "../somewhere".into(),
                link: PathAt::cwd("soft"),
            },
        )
        .exit(2300, 0);
    let record = trace.finish();
    let link = record.only(&dir.path().join("hard"), AccessKind::Link);
    assert_eq!(link.source, Some(bytes_of(&original)));
    assert_eq!(link.sha256.as_deref(), Some(sha256_of(&original).as_str()));
    let symlink = record.only(&dir.path().join("soft"), AccessKind::Symlink);
    assert_eq!(symlink.source, Some("../somewhere".into()));
}

// ---- hashing ------------------------------------------------------------------------

#[test]
fn unchanged_file_is_hashed_once_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let header = dir.path().join("common.h");
    std::fs::write(&header, vec![b'x'; 300_000]).unwrap();
    let mut trace = Trace::new(dir.path());
    trace.exec(2400, "/usr/bin/make", &["make"]);
    for child in 2401..2405 {
        trace
            .fork(2400, child)
            .exec(child, bytes_of(&header), &["cc1"])
            .open(child, "common.h", read_cloexec(), 3)
            .exit(child, 0);
    }
    trace.exit(2400, 0);
    let stats = trace.builder.stats();
    assert_eq!(
        stats.files_hashed, 2,
        "make's binary and the header: {stats:?}"
    );
    assert!(stats.cache_hits >= 7, "{stats:?}");
    let record = trace.finish();
    let expected = sha256_of(&header);
    let reads = record.accesses_of(&header, AccessKind::Read);
    assert_eq!(reads.len(), 4);
    assert!(reads
        .iter()
        .all(|access| access.sha256.as_deref() == Some(expected.as_str())));
}

#[test]
fn pseudo_filesystems_and_ignored_prefixes_are_not_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::write(cache.join("blob"), b"b").unwrap();
    let mut options = BuildOptions::new("r-test", bytes_of(dir.path()));
    options.ignore = vec![bytes_of(&cache)];
    let mut trace = Trace::with(options);
    trace
        .exec(2500, "/bin/sh", &["sh"])
        .open(2500, "/proc/self/status", read(), 3)
        .open(2500, "/dev/null", create_trunc(), 4)
        .write(2500, 4)
        .open(2500, "cache/blob", read(), 5)
        .exit(2500, 0);
    let record = trace.finish();
    let proc_read = record.only(Path::new("/proc/self/status"), AccessKind::Read);
    assert_eq!(proc_read.note.as_deref(), Some("pseudo-filesystem"));
    assert_eq!(proc_read.sha256, None);
    let null_write = record.only(Path::new("/dev/null"), AccessKind::Write);
    assert_eq!(null_write.note.as_deref(), Some("pseudo-filesystem"));
    let ignored = record.only(&cache.join("blob"), AccessKind::Read);
    assert_eq!(ignored.note.as_deref(), Some("ignored"));
    assert_eq!(ignored.sha256, None);
}

#[test]
fn hashing_off_touches_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("exists");
    std::fs::write(&input, b"present").unwrap();
    let mut options = BuildOptions::new("r-test", bytes_of(dir.path()));
    options.hashing = Hashing::Off;
    let mut trace = Trace::with(options);
    trace
        .exec(2600, "/bin/cat", &["cat"])
        .open(2600, "exists", read(), 3)
        .open(2600, "made", create_trunc(), 4)
        .write(2600, 4)
        .close(2600, 4)
        .rename(2600, "made", "renamed")
        .exit(2600, 0);
    let record = trace.finish();
    assert!(!dir.path().join("made").exists());
    for access in &record.accesses {
        if matches!(access.kind, AccessKind::Delete | AccessKind::Mkdir) {
            continue;
        }
        assert_eq!(access.sha256, None, "{access:?}");
        assert_eq!(access.note.as_deref(), Some("not hashed"), "{access:?}");
    }
    let renamed = dir.path().join("renamed");
    assert_eq!(
        record.only(&renamed, AccessKind::Write).process,
        "r-test:2600:0"
    );
    assert_eq!(stats_files(&record), 0);
}

#[test]
fn a_file_modified_after_its_event_is_not_credited_with_the_later_content() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let temp = dir.path().join("temp");
    std::fs::write(&input, b"rewritten after the read").unwrap();
    std::fs::write(&temp, b"filled by a later process").unwrap();
    std::fs::write(dir.path().join("current"), b"not changed since").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let event = |ts: u64, ev: EventKind| Event {
        tid: 2700,
        ts: Some(ts),
        ev,
    };
    let mut builder = ProvenanceBuilder::new(BuildOptions::new("r-test", bytes_of(dir.path())));
    // Events from a second ago, handled now: both files changed since.
    let past = now - 1_000_000_000;
    builder.event(event(
        past,
        EventKind::Open {
            dirfd: None,
            path: "input".into(),
            flags: read(),
            outcome: Outcome::Ok(3),
        },
    ));
    builder.event(event(
        past,
        EventKind::Open {
            dirfd: None,
            path: "temp".into(),
            flags: OpenFlags {
                excl: true,
                ..create_only()
            },
            outcome: Outcome::Ok(4),
        },
    ));
    builder.event(event(past, EventKind::Close { fd: 4 }));
    // An event from after the last change: its content is current.
    builder.event(event(
        now + 1_000_000_000,
        EventKind::Open {
            dirfd: None,
            path: "current".into(),
            flags: read(),
            outcome: Outcome::Ok(5),
        },
    ));
    let (_, accesses, _) = builder.finish();
    let notes: Vec<(&str, Option<&str>, bool)> = accesses
        .iter()
        .map(|access| {
            let name = access
                .path
                .as_slice()
                .rsplit(|&b| b == b'/')
                .next()
                .unwrap();
            let name = std::str::from_utf8(name).unwrap();
            (name, access.note.as_deref(), access.sha256.is_some())
        })
        .collect();
    assert_eq!(
        notes,
        [
            ("input", Some("changed before hashing"), false),
            ("temp", Some("changed before hashing"), false),
            ("current", None, true),
        ]
    );
}

fn stats_files(record: &Record) -> usize {
    record
        .accesses
        .iter()
        .filter(|access| access.sha256.is_some())
        .count()
}

// ---- robustness -------------------------------------------------------------------------

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_event(rng: &mut XorShift) -> Event {
    let tid = 1 + rng.below(6) as u32;
    let fd = rng.below(8) as i32 - 1;
    fn path(rng: &mut XorShift) -> Bytes {
        let names: [&[u8]; 8] = [
            b"a",
            b"b",
            b"../a",
            b"/",
            b"d/x",
            b"",
            b"\xff",
            b"/proc/self/fd/3",
        ];
        Bytes(names[rng.below(8) as usize].to_vec())
    }
    let dirfd = match rng.below(3) {
        0 => None,
        1 => Some(-100),
        _ => Some(rng.below(6) as i32),
    };
    let ev = match rng.below(24) {
        0 => EventKind::Spawn {
            child: 1 + rng.below(6) as u32,
            thread: rng.below(2) == 0,
            shares_files: rng.below(2) == 0,
            shares_fs: rng.below(2) == 0,
        },
        1 => EventKind::Exec {
            dirfd,
            path: path(rng),
            argv: vec![path(rng)],
            env: None,
            cwd: if rng.below(4) == 0 {
                Some(path(rng))
            } else {
                None
            },
            argv_truncated: false,
        },
        2 => EventKind::Exit {
            status: ExitStatus::Code(0),
        },
        3..=6 => EventKind::Open {
            dirfd,
            path: path(rng),
            flags: OpenFlags {
                access: [Access::Read, Access::Write, Access::ReadWrite, Access::Path]
                    [rng.below(4) as usize],
                create: rng.below(2) == 0,
                excl: rng.below(4) == 0,
                trunc: rng.below(2) == 0,
                append: false,
                cloexec: rng.below(2) == 0,
                directory: rng.below(4) == 0,
                tmpfile: rng.below(8) == 0,
            },
            outcome: match rng.below(5) {
                0 => Outcome::Err("ENOENT".into()),
                1 => Outcome::Unknown,
                _ => Outcome::Ok(rng.below(8) as i64 - 1),
            },
        },
        7 | 8 => EventKind::Close { fd },
        9 => EventKind::CloseRange {
            first: rng.below(5) as u32,
            last: rng.below(9) as u32,
            cloexec: rng.below(2) == 0,
        },
        10 => EventKind::Dup {
            fd,
            new_fd: rng.below(8) as i32 - 1,
            cloexec: rng.below(2) == 0,
        },
        11 => EventKind::Pipe {
            read_fd: fd,
            write_fd: fd + 1,
            cloexec: false,
        },
        12 => EventKind::SetCloexec {
            fd,
            cloexec: rng.below(2) == 0,
        },
        13 => EventKind::Chdir { path: path(rng) },
        14 => EventKind::Fchdir { fd },
        15 => EventKind::Rename {
            from: PathAt {
                dirfd,
                path: path(rng),
            },
            to: PathAt::cwd(path(rng)),
        },
        16 => EventKind::Link {
            from: PathAt {
                dirfd,
                path: path(rng),
            },
            to: PathAt::cwd(path(rng)),
        },
        17 => EventKind::Unlink {
            path: PathAt::cwd(path(rng)),
        },
        18 => EventKind::Truncate {
            path: PathAt {
                dirfd,
                path: path(rng),
            },
        },
        19 => EventKind::Ftruncate { fd },
        20 => EventKind::Symlink {
            target: path(rng),
            link: PathAt::cwd(path(rng)),
        },
        21 => EventKind::Mkdir {
            path: PathAt::cwd(path(rng)),
        },
        _ => EventKind::Write { fd },
    };
    let ts = if rng.below(5) == 0 {
        None
    } else {
        Some(rng.next())
    };
    Event { tid, ts, ev }
}

#[test]
fn random_event_sequences_never_panic_and_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), b"a").unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    for seed in 1..300u64 {
        let hashing = if seed % 2 == 0 {
            Hashing::Live
        } else {
            Hashing::Off
        };
        let run = || {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut options = BuildOptions::new("r-fuzz", bytes_of(dir.path()));
            options.hashing = hashing;
            let mut builder = ProvenanceBuilder::new(options);
            let (mut processes, mut accesses) = (Vec::new(), Vec::new());
            for _ in 0..400 {
                builder.event(random_event(&mut rng));
                if rng.below(50) == 0 {
                    let (more_processes, more_accesses) = builder.drain_finished();
                    processes.extend(more_processes);
                    accesses.extend(more_accesses);
                }
            }
            let (more_processes, more_accesses, _) = builder.finish();
            processes.extend(more_processes);
            accesses.extend(more_accesses);
            (processes, accesses)
        };
        let first = run();
        let second = run();
        assert_eq!(first, second, "seed {seed} is not deterministic");
        let mut ids: Vec<&str> = first.1.iter().map(|access| access.id.as_str()).collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "seed {seed}: duplicate access ids");
        let mut process_ids: Vec<&str> = first.0.iter().map(|p| p.id.as_str()).collect();
        let count = process_ids.len();
        process_ids.sort_unstable();
        process_ids.dedup();
        assert_eq!(
            process_ids.len(),
            count,
            "seed {seed}: duplicate process ids"
        );
        for process in &first.0 {
            if let Some(parent) = &process.parent {
                assert!(
                    process_ids.binary_search(&parent.as_str()).is_ok(),
                    "seed {seed}: process {} has an unrecorded parent {parent}",
                    process.id
                );
            }
        }
        for access in &first.1 {
            assert!(
                process_ids.binary_search(&access.process.as_str()).is_ok(),
                "seed {seed}: access {} of an unrecorded process",
                access.id
            );
            assert_eq!(access.path.as_slice().first(), Some(&b'/'));
        }
    }
}
