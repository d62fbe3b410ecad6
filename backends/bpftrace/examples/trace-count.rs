//! Trace a command with the bpftrace backend alone (no provenance builder, no hashing) and
//! print how many events and diagnostics came out: the backend's own cost, for
//! `scripts/bench-bpftrace`. Usage: trace-count CMD [ARGS...]

use tot_api::{Backend, Diagnostic, Event, EventSink, TraceRequest};

#[derive(Default)]
struct Count {
    events: u64,
    diagnostics: Vec<Diagnostic>,
}

impl EventSink for Count {
    fn event(&mut self, _: Event) {
        self.events += 1;
    }
    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}

fn main() -> std::process::ExitCode {
    let request = TraceRequest {
        argv: std::env::args_os().skip(1).collect(),
        cwd: std::env::current_dir().expect("a current directory"),
        options: Default::default(),
    };
    let mut count = Count::default();
    match tot_backend_bpftrace::BpftraceBackend::new().trace(&request, &mut count) {
        Ok(outcome) => {
            eprintln!("events: {}, status: {:?}", count.events, outcome.status);
            for d in &count.diagnostics {
                eprintln!("diagnostic: {d}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
