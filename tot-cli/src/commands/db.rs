//! `tot db`: add run records to the provenance store, and report its size. Also the
//! store helpers that `show`, `lineage`, `export` and `runs` share.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tot_api::Bytes;

use tot_store::{
    BatchOutcome, ErrorKind, FileQuery, IngestObserver, IngestReport, ProvenanceStore as _,
    SqliteStore,
};

const EXAMPLES: &str = "\
Examples:
  tot db add ~/.local/share/tot/records/            add every record in a folder
  tot db add build-host-a.jsonl build-host-b.jsonl  merge records from other machines
  tot db stats
  tot db --db team.sqlite stats --json";

/// Inputs smaller than this are added without a progress bar.
const PROGRESS_BAR_BYTES: u64 = 1024 * 1024;

/// The store's file name inside tot's data directory.
pub const STORE_FILE: &str = "store.sqlite";

/// Add run records to the provenance store, or report its size and counts.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DbArgs {
    /// The store to use (default: store.sqlite in tot's data directory).
    #[arg(long, value_name = "PATH", global = true)]
    pub db: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub action: DbAction,
}

/// `tot db` subcommands.
#[derive(Subcommand, Debug)]
pub enum DbAction {
    /// Add run records, from this machine or any other. Adding a record twice changes
    /// nothing; each record is added whole or not at all.
    Add(AddArgs),
    /// Report the store's size on disk and what it holds.
    Stats(StatsArgs),
}

/// `tot db add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// Record files (`.jsonl`), or folders of them.
    #[arg(required = true, value_name = "RECORD")]
    pub records: Vec<PathBuf>,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `tot db stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `tot db`.
pub fn run(args: DbArgs) -> anyhow::Result<ExitCode> {
    let store = store_path(args.db.as_deref())?;
    match args.action {
        DbAction::Add(add) => run_add(&store, add),
        DbAction::Stats(stats) => run_stats(&store, stats),
    }
}

/// The store to use: `--db`, else `store.sqlite` in tot's data directory (`$TOT_DATA_DIR`,
/// else the config's `[store] dir`, else the platform's data directory).
pub fn store_path(db: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(db) = db {
        return Ok(db.to_path_buf());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let config = tot_config::Config::load(&cwd)?;
    Ok(config.data_dir().value.join(STORE_FILE))
}

/// Opens the store for a query. `Ok(None)` when there is no store yet, which the caller
/// reports as "nothing known".
pub fn open_for_query(path: &Path) -> anyhow::Result<Option<SqliteStore>> {
    match SqliteStore::open_existing(path) {
        Ok(store) => Ok(Some(store)),
        Err(err) if *err.kind() == ErrorKind::NoStore => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Adds a finished run's record to the default store. For `tot run`: a failure is a
/// warning on stderr and never changes tot's exit status.
pub fn ingest_finished_run(record: &Path) {
    let result = store_path(None).and_then(|store| {
        tot_store::ingest_file(&store, record)
            .with_context(|| format!("cannot add the record {} to the store", record.display()))
    });
    match result {
        Ok(report) => {
            for problem in &report.skipped_lines {
                eprintln!("tot: warning: skipped {problem}");
            }
        }
        Err(err) => eprintln!("tot: warning: {err:#}"),
    }
}

/// The file to ask about: its absolute path and, when it is a regular file, the hash of
/// its content now.
pub fn file_query(file: &Path) -> anyhow::Result<FileQuery> {
    let absolute = absolute_path(file)?;
    match std::fs::metadata(file) {
        Ok(meta) if meta.is_file() => {
            let sha256 = tot_store::hash_file(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            // Records hold resolved paths; fall back to the lexical one if resolving fails.
            let path = std::fs::canonicalize(file).unwrap_or(absolute);
            Ok(FileQuery {
                path: Bytes::from_os_str(path.as_os_str()),
                sha256: Some(sha256),
            })
        }
        Ok(_) => Ok(FileQuery {
            path: Bytes::from_os_str(absolute.as_os_str()),
            sha256: None,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(FileQuery {
            path: Bytes::from_os_str(absolute.as_os_str()),
            sha256: None,
        }),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// `file` made absolute and normalized without touching the file system (it may not exist).
fn absolute_path(file: &Path) -> anyhow::Result<PathBuf> {
    let joined = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(file)
    };
    let mut normalized = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    Ok(normalized)
}

/// Nanoseconds since the epoch as a readable UTC time.
pub fn format_time(nanos: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Record files named on the command line, with folders expanded to their `.jsonl` files.
fn expand_records(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut records = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("cannot list {}", input.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && p.is_file())
                .collect();
            found.sort();
            records.extend(found);
        } else {
            records.push(input.clone());
        }
    }
    Ok(records)
}

#[derive(Default)]
struct Totals {
    records: u64,
    overlapping: u64,
    accesses_added: u64,
    accesses_known: u64,
    processes_added: u64,
    skipped_lines: u64,
    refused: u64,
}

/// Follows `tot db add`: the progress bar, Ctrl-C, and each record's warnings.
struct AddObserver<'a> {
    records: &'a [PathBuf],
    sizes: &'a [u64],
    bar: &'a indicatif::ProgressBar,
    interrupted: &'a AtomicBool,
    done_before: u64,
    totals: Totals,
}

impl IngestObserver for AddObserver<'_> {
    fn record_started(&mut self, index: usize) {
        let name = self.records[index]
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.bar.set_message(name);
    }

    fn progress(&mut self, bytes_read: u64) {
        self.bar.set_position(self.done_before + bytes_read);
    }

    fn cancelled(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    fn record_finished(&mut self, index: usize, result: Result<IngestReport, tot_store::Error>) {
        let record = &self.records[index];
        self.done_before += self.sizes[index];
        self.bar.set_position(self.done_before);
        let totals = &mut self.totals;
        self.bar.suspend(|| match result {
            Ok(report) => {
                for problem in &report.skipped_lines {
                    eprintln!("tot: warning: skipped {problem}");
                }
                if report.undescribed_processes > 0 {
                    eprintln!(
                        "tot: warning: {}: {} processes are referred to but never described",
                        record.display(),
                        report.undescribed_processes
                    );
                }
                totals.records += 1;
                totals.overlapping += u64::from(report.run_was_known);
                totals.accesses_added += report.accesses_added;
                totals.accesses_known += report.accesses_known;
                totals.processes_added += report.processes_added;
                totals.skipped_lines += report.skipped_lines.len() as u64;
            }
            Err(err) => {
                eprintln!("tot: error: {err}");
                totals.refused += 1;
            }
        });
    }
}

fn run_add(store_path: &Path, args: AddArgs) -> anyhow::Result<ExitCode> {
    let records = expand_records(&args.records)?;
    let mut store = SqliteStore::open(store_path)?;
    let sizes: Vec<u64> = records
        .iter()
        .map(|r| std::fs::metadata(r).map(|m| m.len()).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    // A bar only for inputs that take a moment: on a terminal, and over a megabyte.
    let bar = if !args.quiet && std::io::stderr().is_terminal() && total >= PROGRESS_BAR_BYTES {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .context("progress bar template")?
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    // The first Ctrl-C rolls back the record being added and keeps the ones before it; a
    // second one ends tot at once (the open transaction is then rolled back by SQLite).
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&interrupted))
            .context("cannot handle Ctrl-C")?;
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("cannot handle Ctrl-C")?;
    }
    let mut observer = AddObserver {
        records: &records,
        sizes: &sizes,
        bar: &bar,
        interrupted: &interrupted,
        done_before: 0,
        totals: Totals::default(),
    };
    let outcome = store.ingest_files(&records, &mut observer);
    bar.finish_and_clear();
    let outcome = outcome?;
    let totals = observer.totals;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "added {} record{} to {}: {} new file accesses, {} already known; {} new processes",
        totals.records,
        if totals.records == 1 { "" } else { "s" },
        store_path.display(),
        totals.accesses_added,
        totals.accesses_known,
        totals.processes_added,
    )?;
    if totals.overlapping > 0 {
        writeln!(
            out,
            "{} record(s) overlapped runs already in the store",
            totals.overlapping
        )?;
    }
    if totals.skipped_lines > 0 {
        writeln!(
            out,
            "{} malformed line(s) skipped (see the warnings above)",
            totals.skipped_lines
        )?;
    }
    if outcome == BatchOutcome::Interrupted {
        eprintln!(
            "tot: interrupted: the record being added was rolled back; the {} added before it are kept",
            totals.records
        );
        return Ok(ExitCode::from(130));
    }
    if totals.refused > 0 {
        writeln!(
            out,
            "{} file(s) refused (see the errors above)",
            totals.refused
        )?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_stats(store_path: &Path, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let Some(store) = open_for_query(store_path)? else {
        eprintln!("tot: no store at {} yet", store_path.display());
        return Ok(ExitCode::from(1));
    };
    let stats = store.stats()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &stats)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "store:      {} (schema {})",
        stats.path.display(),
        stats.schema_version
    )?;
    writeln!(
        out,
        "size:       {} on disk, {} in use ({:.0} bytes per file access)",
        human_bytes(stats.file_bytes),
        human_bytes(stats.database_bytes),
        stats.bytes_per_access
    )?;
    writeln!(out, "machines:   {}", stats.machines)?;
    writeln!(out, "runs:       {}", stats.runs)?;
    writeln!(out, "processes:  {}", stats.processes)?;
    writeln!(out, "accesses:   {}", stats.accesses)?;
    writeln!(
        out,
        "distinct:   {} paths, {} contents, {} command lines",
        stats.paths, stats.contents, stats.argvs
    )?;
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
