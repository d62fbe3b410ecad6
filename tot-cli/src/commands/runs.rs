//! `tot runs`: the runs in the store, newest first.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tot_api::ExitStatus;
use tot_store::lineage::display_argv;
use tot_store::{ProvenanceStore as _, RunFilter, RunSummary};

use super::db::{format_time, open_for_query, store_path};

const EXAMPLES: &str = "\
Examples:
  tot runs                       the 50 newest runs
  tot runs --limit 0 --json      all of them, as JSON
  tot runs --machine build-01    runs on one machine (hostname or machine id)";

/// List the recorded runs: id, machine, time, command and exit status.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RunsArgs {
    /// Print JSON: [{run, machine, hostname, start, end, argv, exit_code, ...}].
    #[arg(long)]
    pub json: bool,

    /// List at most N runs, newest first (0: all).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 50)]
    pub limit: usize,

    /// Only runs on this machine (hostname or machine id).
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,

    /// The store to read (default: store.sqlite in tot's data directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Run `tot runs`.
pub fn run(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store_file = store_path(args.db.as_deref())?;
    let runs = match open_for_query(&store_file)? {
        Some(store) => store.runs(&RunFilter {
            limit: (args.limit > 0).then_some(args.limit),
            machine: args.machine.clone(),
        })?,
        None => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &runs)?;
        writeln!(out)?;
    } else if runs.is_empty() {
        eprintln!("tot: no runs recorded in {}", store_file.display());
    } else {
        write_table(&mut out, &runs)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn status(run: &RunSummary) -> String {
    match (&run.exit, run.end) {
        (Some(ExitStatus::Code(code)), _) => code.to_string(),
        (Some(ExitStatus::Signal { name, .. }), _) => name.clone(),
        (_, None) => "cut short".into(),
        _ => "?".into(),
    }
}

fn write_table(out: &mut impl std::io::Write, runs: &[RunSummary]) -> std::io::Result<()> {
    let run_width = runs.iter().map(|r| r.run.len()).max().unwrap_or(3).max(3);
    let host_width = runs
        .iter()
        .map(|r| r.hostname.len())
        .max()
        .unwrap_or(7)
        .max(7);
    writeln!(
        out,
        "{:run_width$}  {:host_width$}  {:24}  {:>9}  COMMAND",
        "RUN", "MACHINE", "START", "EXIT"
    )?;
    for run in runs {
        let start = run.start.map(format_time).unwrap_or_else(|| "?".into());
        writeln!(
            out,
            "{:run_width$}  {:host_width$}  {:24}  {:>9}  {}",
            run.run,
            run.hostname,
            start,
            status(run),
            display_argv(&run.argv)
        )?;
    }
    Ok(())
}
