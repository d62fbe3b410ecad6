//! `tot import`: build a run record from an existing tracer log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use sha2::Digest as _;
use tot_api::{Bytes, EventKind, RunHeader};
use tot_backend_strace::{parse_log, LogKind};
use tot_provenance::{BuildOptions, Hashing};

use crate::recorder::Recorder;

const EXAMPLES: &str = "\
Examples:
  tot import --format strace build.strace.log
  tot import --format strace --machine-id ci-runner-7 --hostname ci7 remote.log
  tot import --format strace --strict --record out.jsonl trace.log

The log may come from another machine, so files are not hashed unless --hash is given
(only meaningful when the files are still as they were). Each line that cannot be parsed
is reported as LOG:LINE and the rest is kept; --strict stops at the first one.";

/// Build a run record from an existing tracer log.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ImportArgs {
    /// The log's format.
    #[arg(long, value_enum)]
    pub format: ImportFormat,

    /// Stop at the first line that cannot be parsed (exit 1, no record written).
    #[arg(long)]
    pub strict: bool,

    /// Hash the files named in the log as they are on this machine now.
    #[arg(long)]
    pub hash: bool,

    /// The machine the log was made on (default: derived from the log's content).
    #[arg(long, value_name = "ID")]
    pub machine_id: Option<String>,

    /// The hostname of the machine the log was made on.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// The directory the traced command started in, for resolving relative paths.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub cwd: PathBuf,

    /// Also write the record to FILE.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// The log file.
    pub log: PathBuf,
}

impl ImportFormat {
    /// The format's name on the command line.
    fn name(self) -> &'static str {
        match self {
            ImportFormat::Strace => "strace",
            ImportFormat::Dtruss => "dtruss",
        }
    }
}

/// Log formats `tot import` reads.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// strace output, any version 4.x to 6.x, with or without -f, -tt, -y, ...
    Strace,
    /// dtruss output (macOS, or the Solaris DTraceToolkit), with or without -f, -a, -s, -c.
    Dtruss,
}

/// Run `tot import`.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let log =
        std::fs::read(&args.log).with_context(|| format!("cannot read {}", args.log.display()))?;
    let source = args.log.display().to_string();
    // The same log always gives the same run id, so importing it twice adds nothing.
    let digest = hex(&sha2::Sha256::digest(&log));
    let run_id = format!("i-{}", &digest[..16]);
    let machine_id = args
        .machine_id
        .clone()
        .unwrap_or_else(|| format!("imported-{}", &digest[..16]));
    let cwd = Bytes::from_os_str(args.cwd.as_os_str());
    let mut header = RunHeader {
        format: tot_api::record::RECORD_FORMAT.into(),
        version: tot_api::record::RECORD_VERSION,
        run_id: run_id.clone(),
        machine_id,
        hostname: args.hostname.clone().unwrap_or_else(|| "unknown".into()),
        os: if args.format == ImportFormat::Dtruss {
            "darwin"
        } else {
            "linux"
        }
        .into(),
        backend: if args.format == ImportFormat::Dtruss {
            "dtruss-import"
        } else {
            "strace-import"
        }
        .into(),
        tot_version: env!("CARGO_PKG_VERSION").into(),
        argv: Vec::new(),
        cwd: cwd.clone(),
        start: None,
        end: None,
        exit: None,
    };
    let hashing = if args.hash {
        Hashing::Live
    } else {
        Hashing::Off
    };
    let config = tot_config::Config::load(&std::env::current_dir()?)?;
    let record_path = config.records_dir().join(format!("{run_id}.jsonl"));
    let options = BuildOptions {
        hashing,
        ..BuildOptions::new(run_id.as_str(), cwd)
    };
    let mut recorder = Recorder::create(&record_path, &header, options, source.clone())?;
    let mut first_exec = FirstExec {
        inner: &mut recorder,
        argv: None,
        first_ts: None,
        last_ts: None,
        strict_stop: args.strict,
        stopped: false,
    };
    let summary = match args.format {
        ImportFormat::Strace => parse_log(&log, &mut first_exec),
        ImportFormat::Dtruss => {
            let dtruss = tot_backend_dtrace::parse_dtruss(&log, &mut first_exec);
            if dtruss.kind != tot_backend_dtrace::DtrussLogKind::Trace {
                drop(first_exec);
                drop(recorder);
                discard(&record_path);
                anyhow::bail!("{source}: not a trace: dtruss recorded no system calls ({:?}; the reasons are above)", dtruss.kind);
            }
            tot_backend_strace::ParseSummary {
                lines: dtruss.lines,
                errors: dtruss.probe_errors,
                kind: LogKind::Trace,
            }
        }
    };
    let (argv, first_ts, last_ts, stopped) = (
        first_exec.argv.take(),
        first_exec.first_ts,
        first_exec.last_ts,
        first_exec.stopped,
    );
    if summary.kind == LogKind::Summary {
        drop(recorder);
        discard(&record_path);
        anyhow::bail!(
            "{source}: not a trace: this is a `strace -c` summary table, which names no files"
        );
    }
    if recorder.stats().events == 0 {
        drop(recorder);
        discard(&record_path);
        anyhow::bail!(
            "{source}: not a trace: no {} events in {} lines",
            args.format.name(),
            summary.lines
        );
    }
    if stopped {
        drop(recorder);
        discard(&record_path);
        eprintln!("tot: stopped at the first bad line (--strict); no record written");
        return Ok(ExitCode::from(1));
    }
    header.argv = argv.unwrap_or_default();
    header.start = first_ts;
    header.end = last_ts;
    header.exit = recorder.root_exit();
    let (path, stats) = recorder.finish(&header)?;
    if let Some(copy) = &args.record {
        std::fs::copy(&path, copy)
            .with_context(|| format!("cannot write the record to {}", copy.display()))?;
    }
    eprintln!(
        "tot: imported {} lines: {} processes, {} file accesses, {} bad lines; record {}",
        summary.lines,
        stats.processes,
        stats.accesses,
        summary.errors,
        path.display()
    );
    super::db::ingest_finished_run(&path);
    Ok(ExitCode::SUCCESS)
}

/// Timestamps before 2001-09-09 are relative, not since the epoch.
const ABSOLUTE_AFTER: u64 = 1_000_000_000_000_000_000;

fn discard(record_path: &std::path::Path) {
    let _ = std::fs::remove_file(tot_record::partial_path(record_path));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Learns the command line and time span of an imported log, and stops at the first bad
/// line under `--strict`.
struct FirstExec<'a> {
    inner: &'a mut Recorder,
    argv: Option<Vec<Bytes>>,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
    strict_stop: bool,
    stopped: bool,
}

impl tot_api::EventSink for FirstExec<'_> {
    fn event(&mut self, event: tot_api::Event) {
        if self.stopped {
            return;
        }
        // Only absolute times (`-ttt`) say when the run was; `-tt` gives time of day.
        if let Some(ts) = event.ts.filter(|ts| *ts >= ABSOLUTE_AFTER) {
            self.first_ts.get_or_insert(ts);
            self.last_ts = Some(ts);
        }
        if self.argv.is_none() {
            if let EventKind::Exec { argv, .. } = &event.ev {
                self.argv = Some(argv.clone());
            }
        }
        self.inner.event(event);
    }

    fn diagnostic(&mut self, diagnostic: tot_api::Diagnostic) {
        if self.stopped {
            return;
        }
        let bad = diagnostic.severity >= tot_api::Severity::Warning;
        self.inner.diagnostic(diagnostic);
        if bad && self.strict_stop {
            self.stopped = true;
        }
    }
}
