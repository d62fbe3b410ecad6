//! The `tot` command: trace a command's provenance, then ask where a file came from.
//!
//! This binary is only the command-line interface and glue; every capability lives in a
//! library crate (see the workspace README).

mod cli;
mod commands;
mod recorder;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("tot: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// `tot show x | head` closing the pipe early is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
