//! `tot show FILE`: which processes produced this file, newest first.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tot_store::lineage::display_argv;
use tot_store::show::{MatchedBy, ShowReport};
use tot_store::ProvenanceStore as _;

use super::db::{file_query, format_time, open_for_query, store_path};

const EXAMPLES: &str = "\
Examples:
  tot show build/app                 who made this exact content, on any machine
  tot show --json out.bin | jq '.writers[0].inputs'
  tot show --limit 0 data.csv        every writer, not only the 20 newest
  tot show --db team.sqlite model.pt

If FILE exists, its content is hashed and matched; otherwise the writes recorded at its
path are shown. Exits 1 when nothing is known about FILE.";

/// Show the processes that produced a file: command, machine, run, inputs and ancestry.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ShowArgs {
    /// The file.
    pub file: PathBuf,

    /// Print JSON: {path, sha256, writers: [{argv, exe, cwd, pid, machine, run, start, end,
    /// exit_code, inputs: [{path, sha256}], ancestry: [{argv}], ...}]}.
    #[arg(long)]
    pub json: bool,

    /// List every input in the text output, including the system files (under /usr, /lib,
    /// /bin, /sbin, /etc/ld.so.cache, ...) that are otherwise counted in one line.
    #[arg(long)]
    pub all_inputs: bool,

    /// Show at most N writers, newest first (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// The store to read (default: store.sqlite in tot's data directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Run `tot show`.
pub fn run(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let query = file_query(&args.file)?;
    let store_file = store_path(args.db.as_deref())?;
    let limit = if args.limit == 0 {
        usize::MAX
    } else {
        args.limit
    };
    let report = match open_for_query(&store_file)? {
        Some(store) => store.show(&query, limit)?,
        None => ShowReport {
            path: query.path.clone(),
            sha256: query.sha256.clone(),
            matched_by: if query.sha256.is_some() {
                MatchedBy::Content
            } else {
                MatchedBy::Path
            },
            writers: Vec::new(),
            more_writers: 0,
            writes_of_other_content: 0,
        },
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else if !report.writers.is_empty() {
        write_text(&mut out, &report, args.all_inputs)?;
    }
    out.flush()?;
    if report.writers.is_empty() {
        eprintln!("tot: {}", nothing_known(&report));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn nothing_known(report: &ShowReport) -> String {
    match (&report.sha256, report.matched_by) {
        (Some(sha256), _) if report.writes_of_other_content > 0 => format!(
            "nothing known about {}: no recorded process produced its content (sha256:{sha256}); \
             {} recorded write(s) at this path produced other content, so the file has changed since",
            report.path, report.writes_of_other_content
        ),
        (Some(sha256), _) => format!(
            "nothing known about {}: no recorded process produced its content (sha256:{sha256})",
            report.path
        ),
        (None, _) => format!(
            "nothing known about {}: it does not exist here and no recorded process wrote that path",
            report.path
        ),
    }
}

fn write_text(
    out: &mut impl std::io::Write,
    report: &ShowReport,
    all_inputs: bool,
) -> std::io::Result<()> {
    writeln!(out, "{}", report.path)?;
    match &report.sha256 {
        Some(sha256) => writeln!(out, "sha256:{sha256}")?,
        None => writeln!(
            out,
            "(no such file now; showing the writes recorded at this path)"
        )?,
    }
    for (n, writer) in report.writers.iter().enumerate() {
        writeln!(out)?;
        writeln!(out, "{}. {}", n + 1, display_argv(&writer.argv))?;
        if let Some(exe) = &writer.exe {
            writeln!(out, "   exe:      {exe}")?;
        }
        writeln!(out, "   cwd:      {}", writer.cwd)?;
        writeln!(out, "   machine:  {} ({})", writer.hostname, writer.machine)?;
        writeln!(out, "   run:      {}  pid {}", writer.run, writer.pid)?;
        let start = writer.start.map(format_time).unwrap_or_else(|| "?".into());
        let end = writer.end.map(format_time).unwrap_or_else(|| "?".into());
        let status = match (&writer.exit_code, &writer.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("killed by {signal}"),
            (None, None) => "exit status unknown".into(),
        };
        writeln!(out, "   time:     {start} .. {end}, {status}")?;
        let output_sha = match &writer.output.sha256 {
            Some(sha) => format!("  sha256:{sha}"),
            None => String::new(),
        };
        writeln!(out, "   wrote:    {}{output_sha}", writer.output.path)?;
        if writer.inputs.is_empty() {
            writeln!(out, "   inputs:   (none recorded)")?;
        } else {
            writeln!(out, "   inputs:")?;
            let mut system = 0;
            for input in &writer.inputs {
                if !all_inputs && tot_store::lineage::is_system_path(input.path.as_slice()) {
                    system += 1;
                    continue;
                }
                match &input.sha256 {
                    Some(sha) => writeln!(out, "     {}  sha256:{sha}", input.path)?,
                    None => writeln!(out, "     {}  (not hashed)", input.path)?,
                }
            }
            if system > 0 {
                writeln!(
                    out,
                    "     + {system} system files (libraries, locales, ...; --all-inputs lists them)"
                )?;
            }
        }
        if !writer.ancestry.is_empty() {
            writeln!(out, "   started by:")?;
            for ancestor in &writer.ancestry {
                writeln!(
                    out,
                    "     {}  (pid {})",
                    display_argv(&ancestor.argv),
                    ancestor.pid
                )?;
            }
        }
    }
    if report.more_writers > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "... and {} older writer(s); --limit 0 shows all",
            report.more_writers
        )?;
    }
    Ok(())
}
