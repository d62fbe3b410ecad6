//! `tot export`: a file's lineage or a whole run in W3C PROV-JSON (or tot's own JSON, or DOT).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{ArgGroup, Args, ValueEnum};
use tot_store::lineage::{render_dot, GraphJson};
use tot_store::{Direction, LineageOptions, ProvenanceStore as _};

use super::db::{file_query, open_for_query, store_path};

const EXAMPLES: &str = "\
Examples:
  tot export --format prov-json out.bin > out.prov.json     the lineage of a file
  tot export --format prov-json --run r-5f2c0a1b2c3d4e5f    a whole run
  tot export --format dot --depth 3 model.pt -o model.dot

In PROV-JSON, process exec epochs are activities, file versions are entities named by
their content hash (sha256:<hex>), machines are agents, and the edges are used,
wasGeneratedBy, wasInformedBy (a process started by another) and wasAssociatedWith.";

/// Export formats.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// W3C PROV-JSON.
    ProvJson,
    /// tot's graph JSON (as `tot lineage --json`).
    Json,
    /// Graphviz DOT.
    Dot,
}

/// Export a file's lineage, or a whole run, as W3C PROV-JSON.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
#[command(group(ArgGroup::new("subject").required(true).args(["file", "run"])))]
pub struct ExportArgs {
    /// The file whose lineage to export.
    pub file: Option<PathBuf>,

    /// Export this run (its id, as `tot runs` lists it) instead of a file's lineage.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,

    /// The format.
    #[arg(long, value_enum, default_value = "prov-json")]
    pub format: ExportFormat,

    /// For a file: how many levels of processes to follow.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub depth: usize,

    /// For a file: export what was made from it instead of where it came from.
    #[arg(long)]
    pub down: bool,

    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The store to read (default: store.sqlite in tot's data directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Run `tot export`.
pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store_file = store_path(args.db.as_deref())?;
    let Some(store) = open_for_query(&store_file)? else {
        eprintln!(
            "tot: nothing to export: no store at {} yet",
            store_file.display()
        );
        return Ok(ExitCode::from(1));
    };
    let graph = match (&args.run, &args.file) {
        (Some(run_id), _) => store.run_graph(run_id)?,
        (None, Some(file)) => {
            let query = file_query(file)?;
            let options = LineageOptions {
                direction: if args.down {
                    Direction::Down
                } else {
                    Direction::Up
                },
                depth: args.depth,
                ancestry: true,
                ..LineageOptions::default()
            };
            let graph = store.lineage(&query, &options)?;
            if graph.is_empty() {
                eprintln!("tot: nothing known about {}", query.path);
                return Ok(ExitCode::from(1));
            }
            graph
        }
        (None, None) => anyhow::bail!("name a FILE or a --run to export"),
    };
    let text = match args.format {
        ExportFormat::ProvJson => {
            serde_json::to_string_pretty(&tot_store::prov::to_prov_json(&graph))? + "\n"
        }
        ExportFormat::Json => serde_json::to_string_pretty(&GraphJson::new(&graph))? + "\n",
        ExportFormat::Dot => render_dot(&graph),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
