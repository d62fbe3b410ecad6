//! What the builder costs on a real build: `make -j2` of a generated C project traced by
//! the strace backend, with the events either only counted (plain strace + parser) or
//! folded by the builder with live hashing. Runs alternate; medians are compared.
//!
//! `cargo run --release -p tot-provenance --example overhead -- [FILES] [RUNS]`

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tot_api::{Backend, Bytes, Diagnostic, Event, EventSink, TraceRequest};
use tot_backend_strace::StraceBackend;
use tot_provenance::{BuildOptions, ProvenanceBuilder};

/// Counts events and drops them: the baseline.
struct CountingSink(u64);

impl EventSink for CountingSink {
    fn event(&mut self, _event: Event) {
        self.0 += 1;
    }

    fn diagnostic(&mut self, _diagnostic: Diagnostic) {}
}

/// The builder, drained as the CLI would drain it.
struct DrainingBuilder {
    builder: ProvenanceBuilder,
    events: u64,
    lines: u64,
}

impl EventSink for DrainingBuilder {
    fn event(&mut self, event: Event) {
        self.builder.event(event);
        self.events += 1;
        if self.events & 1023 == 0 {
            let (processes, accesses) = self.builder.drain_finished();
            self.lines += (processes.len() + accesses.len()) as u64;
        }
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.builder.diagnostic(diagnostic);
    }
}

fn generate_project(dir: &Path, files: usize) {
    let mut makefile = String::from("OBJS =");
    for index in 0..files {
        makefile.push_str(&format!(" f{index}.o"));
        let source = format!(
            "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n\
             double f{index}(double x) {{ char b[64]; snprintf(b, sizeof b, \"%f\", sqrt(x)); return strtod(b, 0) + {index}; }}\n"
        );
        std::fs::write(dir.join(format!("f{index}.c")), source).expect("write a source file");
    }
    std::fs::write(dir.join("main.c"), "int main(void) { return 0; }\n").expect("write main.c");
    makefile.push_str(
        "\nprog: main.o $(OBJS)\n\tgcc -o prog main.o $(OBJS) -lm\n%.o: %.c\n\tgcc -O1 -c -o $@ $<\nclean:\n\trm -f *.o prog\n",
    );
    std::fs::write(dir.join("Makefile"), makefile).expect("write the Makefile");
}

fn request(dir: &Path, argv: &[&str]) -> TraceRequest {
    TraceRequest {
        argv: argv.iter().map(OsString::from).collect(),
        cwd: dir.to_path_buf(),
        options: Default::default(),
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn peak_rss_kib() -> i64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let files: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("a temporary directory");
    generate_project(dir.path(), files);
    let backend = StraceBackend::new();
    let make = request(dir.path(), &["make", "-s", "-j2", "prog"]);
    let mut plain = Vec::new();
    let mut built = Vec::new();
    let mut events = 0;
    let mut lines = 0;
    let mut stats = None;
    for run in 0..runs * 2 {
        std::process::Command::new("make")
            .args(["-s", "clean"])
            .current_dir(dir.path())
            .status()
            .expect("make clean runs");
        let start = Instant::now();
        if run % 2 == 0 {
            let mut sink = CountingSink(0);
            backend.trace(&make, &mut sink).expect("strace runs");
            plain.push(start.elapsed());
            events = sink.0;
        } else {
            let cwd = Bytes(dir.path().as_os_str().as_bytes().to_vec());
            let mut sink = DrainingBuilder {
                builder: ProvenanceBuilder::new(BuildOptions::new("r-overhead", cwd)),
                events: 0,
                lines: 0,
            };
            backend.trace(&make, &mut sink).expect("strace runs");
            stats = Some(sink.builder.stats());
            let (processes, accesses, _) = sink.builder.finish();
            lines = sink.lines + (processes.len() + accesses.len()) as u64;
            built.push(start.elapsed());
        }
    }
    let plain = median(&mut plain);
    let built = median(&mut built);
    println!("make -s -j2 of {files} C files, {runs} runs each, {events} events per run");
    println!("strace + parser (events counted): median {plain:?}");
    println!("strace + parser + builder (live hashing): median {built:?}, {lines} record lines");
    println!(
        "builder overhead: {:+.1}% of the plain traced build",
        (built.as_secs_f64() / plain.as_secs_f64() - 1.0) * 100.0
    );
    if let Some(stats) = stats {
        println!("last builder run: {stats:?}");
    }
    println!("peak RSS of this process: {} KiB", peak_rss_kib());
}
