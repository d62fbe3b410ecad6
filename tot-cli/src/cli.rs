//! The command-line interface: clap types stay in this file and in each command's `Args`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;

const EXAMPLES: &str = "\
Examples:
  tot make -j8                      trace a build (shorthand for `tot run -- make -j8`)
  tot --backend=strace ./build.sh   choose the backend
  tot run --record out.jsonl -- python train.py
  tot print ~/.local/share/tot/records/<run>.jsonl
  tot import --format strace trace.log";

/// tot records where files come from: which commands made them, from which inputs.
#[derive(Parser, Debug)]
#[command(name = "tot", version, about, after_help = EXAMPLES)]
#[command(
    args_conflicts_with_subcommands = false,
    subcommand_precedence_over_arg = true
)]
pub struct Cli {
    /// Options for tracing, used by the `tot CMD...` shorthand.
    #[command(flatten)]
    pub trace: TraceOptions,

    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Trace a command and record its provenance.
    Run(commands::run::RunArgs),
    /// Build a record from an existing tracer log (for example from another machine).
    Import(commands::import::ImportArgs),
    /// Print a run record readably.
    Print(commands::print::PrintArgs),
    /// List the backends: where each comes from, and whether it is usable here.
    Backends(commands::backends::BackendsArgs),
    /// Show the configuration and where each value came from.
    Config(commands::config::ConfigArgs),
    /// Show the processes that produced a file: command, machine, inputs, ancestry.
    Show(commands::show::ShowArgs),
    /// Show a file's lineage across runs and machines (or, with --down, what it made).
    Lineage(commands::lineage::LineageArgs),
    /// Export a file's lineage or a run as W3C PROV-JSON.
    Export(commands::export::ExportArgs),
    /// List the recorded runs.
    Runs(commands::runs::RunsArgs),
    /// The provenance store: add records from any machine, show its size.
    Db(commands::db::DbArgs),
    /// Any other word is a command to trace: `tot make` is `tot run -- make`.
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

/// How to trace: shared by `tot run` and the `tot CMD` shorthand.
#[derive(Args, Debug, Clone, Default)]
pub struct TraceOptions {
    /// Backend to trace with (default: the config's choice, else the best one usable here).
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,

    /// Also write the run record to FILE.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}
