//! `tot run`: trace a command and record its provenance.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tot_api::{BackendErrorKind, Bytes, ExitStatus, RunHeader, TraceRequest};
use tot_provenance::{host, BuildOptions};

use crate::cli::TraceOptions;
use crate::recorder::Recorder;

const EXAMPLES: &str = "\
Examples:
  tot run -- make -j8
  tot run --record build.jsonl -- ./build.sh --release
  tot make -j8                      (the same, shorter)

tot exits with the command's status: 128+N when a signal N killed it, 127 when the command
was not found. The record goes to the data directory (see `tot print`).";

/// Trace a command and record its provenance.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RunArgs {
    /// How to trace.
    #[command(flatten)]
    pub trace: TraceOptions,

    /// The command to trace and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

/// Run `tot run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (config, selection) = select_backend(args.trace.backend.as_deref())?;
    let backend = selection.backend;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let machine_id = host::machine_id();
    let start = now_ns();
    let run_id = tot_provenance::run_id(&machine_id, start, u64::from(std::process::id()));
    let mut header = RunHeader {
        format: tot_api::record::RECORD_FORMAT.into(),
        version: tot_api::record::RECORD_VERSION,
        run_id: run_id.clone(),
        machine_id,
        hostname: host::hostname(),
        os: host::os().into(),
        backend: backend.name().into(),
        tot_version: env!("CARGO_PKG_VERSION").into(),
        argv: args.command.iter().map(|a| Bytes::from_os_str(a)).collect(),
        cwd: Bytes::from_os_str(cwd.as_os_str()),
        start: Some(start),
        end: None,
        exit: None,
    };
    let record_path = config.records_dir().join(format!("{run_id}.jsonl"));
    let mut options = BuildOptions::new(run_id.as_str(), header.cwd.clone());
    options.ignore.extend(
        config
            .ignore_prefixes()
            .iter()
            .map(|p| Bytes::from_os_str(p.as_os_str())),
    );
    let mut recorder = Recorder::create(&record_path, &header, options, backend.name())?;
    let request = TraceRequest {
        argv: args.command.clone(),
        cwd,
        options: selection.options,
    };
    let outcome = backend.trace(&request, &mut recorder);
    let status = match outcome {
        Ok(outcome) => outcome.status,
        Err(err) => {
            let code = match err.kind {
                BackendErrorKind::CommandNotFound => 127,
                BackendErrorKind::CommandNotExecutable => 126,
                _ => 1,
            };
            eprintln!("tot: {err}");
            if recorder.stats().events == 0 {
                // Nothing ran, so there is nothing to record.
                drop(recorder);
                let _ = std::fs::remove_file(tot_record::partial_path(&record_path));
                return Ok(ExitCode::from(code));
            }
            recorder.root_exit().unwrap_or(ExitStatus::Unknown)
        }
    };
    header.end = Some(now_ns());
    header.exit = Some(status.clone());
    let (path, stats) = recorder.finish(&header)?;
    if let Some(copy) = &args.trace.record {
        std::fs::copy(&path, copy)
            .with_context(|| format!("cannot write the record to {}", copy.display()))?;
    }
    eprintln!(
        "tot: recorded {} processes and {} file accesses in {}",
        stats.processes,
        stats.accesses,
        path.display()
    );
    // Into the store too; a failure there is a warning and leaves the exit status alone.
    super::db::ingest_finished_run(&path);
    Ok(ExitCode::from(tot_launch::exit_code(&status)))
}

/// `--backend`, else the config's `backend`, else the best usable here (tot-registry).
fn select_backend(
    name: Option<&str>,
) -> anyhow::Result<(tot_config::Config, tot_registry::Selection)> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let config = tot_config::Config::load(&cwd)?;
    let registry = tot_registry::Registry::from_config(&config);
    let selection = registry.select(name, &config)?;
    Ok((config, selection))
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
