//! Prints the strace arguments tot uses, one per line, with `-o` pointing at `/dev/null`.
//!
//! The trace-overhead benchmark (`scripts/bench-trace`) runs plain strace with exactly
//! these arguments as its baseline.

fn main() {
    let seccomp = std::env::args().nth(1).as_deref() != Some("--no-seccomp");
    for arg in
        tot_backend_strace::StraceBackend::arguments(seccomp, std::path::Path::new("/dev/null"))
    {
        println!("{}", arg.to_string_lossy());
    }
}
