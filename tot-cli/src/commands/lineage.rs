//! `tot lineage FILE`: where a file came from (or, with `--down`, what was made from it),
//! across runs and machines, joined by content hash.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tot_store::lineage::{render_dot, render_text, GraphJson};
use tot_store::{Direction, LineageOptions, ProvenanceStore as _};

use super::db::{file_query, open_for_query, store_path};

const EXAMPLES: &str = "\
Examples:
  tot lineage dist/app.tar.gz                 its writers, their inputs, their writers, ...
  tot lineage --depth 3 model.pt              only three levels of processes
  tot lineage --down data/raw.csv             everything made from this file
  tot lineage --dot out.bin | dot -Tsvg > lineage.svg
  tot lineage --json out.bin | jq '.processes[].argv'";

/// Show a file's lineage: the transitive graph of writers and their inputs.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct LineageArgs {
    /// The file.
    pub file: PathBuf,

    /// How many levels of processes to follow.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub depth: usize,

    /// Walk downstream: what was made from this file.
    #[arg(long)]
    pub down: bool,

    /// Print the graph as JSON ({files, processes, edges}).
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,

    /// In the text tree, list system files (under /usr, /lib, ...) among the inputs
    /// instead of counting them in one line.
    #[arg(long)]
    pub all_inputs: bool,

    /// Print the graph in Graphviz DOT.
    #[arg(long)]
    pub dot: bool,

    /// Stop after this many nodes (files and processes).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub max_nodes: usize,

    /// The store to read (default: store.sqlite in tot's data directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Run `tot lineage`.
pub fn run(args: LineageArgs) -> anyhow::Result<ExitCode> {
    let query = file_query(&args.file)?;
    let store_file = store_path(args.db.as_deref())?;
    let Some(store) = open_for_query(&store_file)? else {
        eprintln!(
            "tot: nothing known about {}: no store at {} yet",
            query.path,
            store_file.display()
        );
        return Ok(ExitCode::from(1));
    };
    let options = LineageOptions {
        direction: if args.down {
            Direction::Down
        } else {
            Direction::Up
        },
        depth: args.depth,
        max_nodes: args.max_nodes,
        ancestry: false,
    };
    let graph = store.lineage(&query, &options)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &GraphJson::new(&graph))?;
        writeln!(out)?;
    } else if args.dot {
        out.write_all(render_dot(&graph).as_bytes())?;
    } else if !graph.is_empty() {
        out.write_all(render_text(&graph, !args.all_inputs).as_bytes())?;
    }
    out.flush()?;
    if graph.is_empty() {
        let what = if args.down {
            "made from"
        } else {
            "known about"
        };
        let how = match &query.sha256 {
            Some(sha) => format!("its content (sha256:{sha})"),
            None => "that path".into(),
        };
        eprintln!(
            "tot: nothing {what} {}: no recorded process touched {how}",
            query.path
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
