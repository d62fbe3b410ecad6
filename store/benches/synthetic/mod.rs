//! A synthetic history of builds, for the store benchmark.
//!
//! 100 projects are each built 100 times, alternately on two machines: 10,000 runs of 10
//! process epochs and 115 file accesses each (1,150,000 accesses). A build runs `make`,
//! seven compilers (each reads its source, six shared headers and the C library, writes
//! and reads back a unique temporary file and writes an object), a linker (objects and
//! libraries in, `app` out) and `tar`, which appends `app` to the previous build's
//! `release.tar`. Each source changes every seventh build, so an object's content is
//! written by several builds, and the `release.tar` chain links every build of a project
//! to the one before, across the two machines.
//!
//! Contents are the sha256 of real bytes ([`release_bytes`]), so a benchmark can write a
//! release to disk and ask the real `tot show` about it.

use sha2::{Digest, Sha256};
use tot_api::record::{RECORD_FORMAT, RECORD_VERSION};
use tot_api::{AccessKind, Bytes, ExitStatus, FileAccess, ProcessEntry, RunHeader, RunRecord};

/// Projects in the full benchmark; `TOT_BENCH_PROJECTS` makes a smaller store for quick looks.
pub fn projects() -> usize {
    std::env::var("TOT_BENCH_PROJECTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}
pub const BUILDS: usize = 100;
pub const COMPILERS: usize = 7;

const MACHINES: [(&str, &str); 2] = [
    ("4f1c0e9a7b2d4c6e8f0a1b2c3d4e5f60", "build-a"),
    ("9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b", "build-b"),
];

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes of `release.tar` after build `build` of `project`.
pub fn release_bytes(project: usize, build: usize) -> Vec<u8> {
    format!("release of project {project} after build {build}\n").into_bytes()
}

pub fn project_dir(project: usize) -> String {
    format!("/home/dev/project{project:03}")
}

/// The version of a compiler's source in a build: it changes every seventh build.
fn source_version(build: usize, compiler: usize) -> usize {
    (build + COMPILERS - compiler) / COMPILERS
}

struct RecordBuilder {
    run_id: String,
    clock: u64,
    processes: Vec<ProcessEntry>,
    accesses: Vec<FileAccess>,
    counts: Vec<u32>,
}

impl RecordBuilder {
    fn tick(&mut self) -> u64 {
        self.clock += 50_000;
        self.clock
    }

    fn process(
        &mut self,
        pid: u32,
        parent: Option<usize>,
        exe: &str,
        argv: &[&str],
        cwd: &str,
    ) -> usize {
        let start = self.tick();
        let parent = parent.map(|p| self.processes[p].id.clone());
        self.processes.push(ProcessEntry {
            id: format!("{}:{pid}:0", self.run_id),
            pid,
            parent,
            exe: Some(exe.into()),
            argv: argv.iter().map(|a| Bytes::from(*a)).collect(),
            cwd: cwd.into(),
            start: Some(start),
            end: None,
            exit: None,
        });
        self.counts.push(0);
        self.processes.len() - 1
    }

    fn access(&mut self, process: usize, kind: AccessKind, path: &str, content: &[u8]) {
        let time = self.tick();
        let n = self.counts[process];
        self.counts[process] += 1;
        let process_id = self.processes[process].id.clone();
        self.accesses.push(FileAccess {
            id: format!("{process_id}:{n}"),
            process: process_id,
            path: path.into(),
            kind,
            source: None,
            sha256: Some(sha256_hex(content)),
            size: Some(content.len() as u64),
            mtime: Some(1_600_000_000_000_000_000),
            time: Some(time),
            note: None,
        });
    }

    fn end(&mut self, process: usize) {
        let end = self.tick();
        self.processes[process].end = Some(end);
        self.processes[process].exit = Some(ExitStatus::Code(0));
    }

    /// Every process starts with the same three inputs: its image, the loader cache and libc.
    fn startup(&mut self, process: usize, exe: &str) {
        self.access(process, AccessKind::Exec, exe, exe.as_bytes());
        self.access(
            process,
            AccessKind::Read,
            "/etc/ld.so.cache",
            b"ld.so.cache",
        );
        self.access(
            process,
            AccessKind::Read,
            "/lib/x86_64-linux-gnu/libc.so.6",
            b"libc 2.36",
        );
    }
}

/// The record of build `build` of `project`.
pub fn build_record(project: usize, build: usize) -> RunRecord {
    let (machine_id, hostname) = MACHINES[(project + build) % 2];
    let run_id = format!("r-{project:04x}{build:012x}");
    let start = 1_700_000_000_000_000_000 + ((project * BUILDS + build) as u64) * 1_000_000_000;
    let dir = project_dir(project);
    let mut b = RecordBuilder {
        run_id: run_id.clone(),
        clock: start,
        processes: Vec::new(),
        accesses: Vec::new(),
        counts: Vec::new(),
    };

    let make = b.process(1000, None, "/usr/bin/make", &["make", "-j8"], &dir);
    b.access(make, AccessKind::Exec, "/usr/bin/make", b"/usr/bin/make");
    b.access(make, AccessKind::Read, "/etc/ld.so.cache", b"ld.so.cache");
    b.access(
        make,
        AccessKind::Read,
        "/lib/x86_64-linux-gnu/libc.so.6",
        b"libc 2.36",
    );
    let makefile = format!("{dir}/Makefile");
    b.access(
        make,
        AccessKind::Read,
        &makefile,
        format!("makefile {project}").as_bytes(),
    );

    let mut objects = Vec::new();
    for k in 1..=COMPILERS {
        let source = format!("src/file{k}.c");
        let object = format!("obj/file{k}.o");
        let cc = b.process(
            1000 + k as u32,
            Some(make),
            "/usr/bin/cc",
            &["cc", "-O2", "-c", &source, "-o", &object],
            &dir,
        );
        b.startup(cc, "/usr/bin/cc");
        let version = source_version(build, k);
        b.access(
            cc,
            AccessKind::Read,
            &format!("{dir}/{source}"),
            format!("source {project} {k} v{version}").as_bytes(),
        );
        for j in 0..6 {
            let header = format!("/usr/include/h{:03}.h", (k * 7 + j * 13 + project) % 150);
            b.access(cc, AccessKind::Read, &header, header.as_bytes());
        }
        let temp = format!("/tmp/cc{project:03}{build:03}{k}.s");
        let assembly = format!("assembly {project} {build} {k}");
        b.access(cc, AccessKind::Write, &temp, assembly.as_bytes());
        b.access(cc, AccessKind::Read, &temp, assembly.as_bytes());
        let object_content = format!("object {project} {k} v{version}");
        b.access(
            cc,
            AccessKind::Write,
            &format!("{dir}/{object}"),
            object_content.as_bytes(),
        );
        b.end(cc);
        objects.push((format!("{dir}/{object}"), object_content));
    }

    let ld = b.process(
        1010,
        Some(make),
        "/usr/bin/cc",
        &["cc", "-o", "app", "obj/*.o", "-lm"],
        &dir,
    );
    b.startup(ld, "/usr/bin/cc");
    for (path, content) in &objects {
        b.access(ld, AccessKind::Read, path, content.as_bytes());
    }
    for lib in [
        "/usr/lib/x86_64-linux-gnu/libm.so",
        "/usr/lib/gcc/crt1.o",
        "/usr/lib/gcc/crti.o",
    ] {
        b.access(ld, AccessKind::Read, lib, lib.as_bytes());
    }
    let app = format!("app {project} {build}");
    b.access(ld, AccessKind::Write, &format!("{dir}/app"), app.as_bytes());
    b.end(ld);

    let tar = b.process(
        1011,
        Some(make),
        "/usr/bin/tar",
        &["tar", "-rf", "release.tar", "app"],
        &dir,
    );
    b.startup(tar, "/usr/bin/tar");
    b.access(tar, AccessKind::Read, &format!("{dir}/app"), app.as_bytes());
    let release = format!("{dir}/release.tar");
    let previous = if build == 0 {
        b"empty".to_vec()
    } else {
        release_bytes(project, build - 1)
    };
    b.access(tar, AccessKind::Read, &release, &previous);
    b.access(
        tar,
        AccessKind::Write,
        &release,
        &release_bytes(project, build),
    );
    b.end(tar);
    b.end(make);

    let end = b.tick();
    RunRecord {
        header: RunHeader {
            format: RECORD_FORMAT.into(),
            version: RECORD_VERSION,
            run_id,
            machine_id: machine_id.into(),
            hostname: hostname.into(),
            os: "linux".into(),
            backend: "strace".into(),
            tot_version: "0.1.0".into(),
            argv: vec!["make".into(), "-j8".into()],
            cwd: dir.into(),
            start: Some(start),
            end: Some(end),
            exit: Some(ExitStatus::Code(0)),
        },
        processes: b.processes,
        accesses: b.accesses,
    }
}
