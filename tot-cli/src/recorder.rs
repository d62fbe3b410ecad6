//! Glue between a backend and the record file: events go into the provenance builder, and
//! finished processes and accesses stream into the record file as the run goes, so a crash
//! or Ctrl-C still leaves a readable record.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tot_api::{
    Diagnostic, Event, EventKind, EventSink, FileAccess, ProcessEntry, RunHeader, Severity,
};
use tot_provenance::{BuildOptions, ProvenanceBuilder};
use tot_record::RecordWriter;

/// How often finished entries are moved from the builder to the record file.
const DRAIN_EVERY_EVENTS: u64 = 4096;
const DRAIN_EVERY: Duration = Duration::from_millis(500);

/// What a recording counted.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordingStats {
    /// Events received.
    pub events: u64,
    /// Diagnostics at warning level or worse.
    pub problems: u64,
    /// Process entries written.
    pub processes: u64,
    /// File accesses written.
    pub accesses: u64,
}

/// An [`EventSink`] that builds provenance and streams it to a record file.
pub struct Recorder {
    builder: ProvenanceBuilder,
    output: RecordOutput,
    since_drain: u64,
    last_drain: Instant,
}

/// The writing half: the record file, counts, and the user's view of problems.
struct RecordOutput {
    writer: Option<RecordWriter>,
    write_error: Option<anyhow::Error>,
    /// Where diagnostics are attributed, such as the log file being imported.
    source: String,
    stats: RecordingStats,
    quiet: bool,
}

impl Recorder {
    /// Start a record at `path` with `header` (its end and exit still unknown).
    pub fn create(
        path: &Path,
        header: &RunHeader,
        options: BuildOptions,
        source: impl Into<String>,
    ) -> anyhow::Result<Self> {
        let writer = RecordWriter::create(path, header)
            .with_context(|| format!("cannot write the run record {}", path.display()))?;
        Ok(Recorder {
            builder: ProvenanceBuilder::new(options),
            output: RecordOutput {
                writer: Some(writer),
                write_error: None,
                source: source.into(),
                stats: RecordingStats::default(),
                quiet: false,
            },
            since_drain: 0,
            last_drain: Instant::now(),
        })
    }

    /// The exit status of the first process seen, if it ended.
    pub fn root_exit(&self) -> Option<tot_api::ExitStatus> {
        self.builder.root_exit()
    }

    /// Counts so far.
    pub fn stats(&self) -> RecordingStats {
        self.output.stats
    }

    fn drain(&mut self) {
        let (processes, accesses) = self.builder.drain_finished();
        self.output.write(&processes, &accesses);
        self.output.flush();
        for diagnostic in self.builder.take_diagnostics() {
            self.output.report(&diagnostic);
        }
        self.since_drain = 0;
        self.last_drain = Instant::now();
    }

    /// Hash what is pending, write everything, and put the final header in place.
    pub fn finish(self, header: &RunHeader) -> anyhow::Result<(PathBuf, RecordingStats)> {
        let Recorder {
            builder,
            mut output,
            ..
        } = self;
        let (processes, accesses, diagnostics) = builder.finish();
        output.write(&processes, &accesses);
        for diagnostic in &diagnostics {
            output.report(diagnostic);
        }
        if let Some(err) = output.write_error.take() {
            return Err(err);
        }
        let writer = output
            .writer
            .take()
            .context("the run record was not open for writing")?;
        let path = writer
            .finish(header)
            .context("cannot finish the run record")?;
        Ok((path, output.stats))
    }
}

impl RecordOutput {
    fn write(&mut self, processes: &[ProcessEntry], accesses: &[FileAccess]) {
        self.stats.processes += processes.len() as u64;
        self.stats.accesses += accesses.len() as u64;
        if let Some(writer) = self.writer.as_mut() {
            if let Err(err) = writer.append(processes, accesses) {
                // Keep tracing: the command must run to completion whatever happens to tot.
                self.write_error =
                    Some(anyhow::Error::new(err).context("writing the run record failed"));
                self.writer = None;
            }
        }
    }

    /// Push what was written to the partial record file now.
    fn flush(&mut self) {
        if let Some(writer) = self.writer.as_mut() {
            if let Err(err) = writer.flush() {
                self.write_error =
                    Some(anyhow::Error::new(err).context("writing the run record failed"));
                self.writer = None;
            }
        }
    }

    /// Count a diagnostic and tell the user about it.
    fn report(&mut self, diagnostic: &Diagnostic) {
        if diagnostic.severity >= Severity::Warning {
            self.stats.problems += 1;
        }
        if self.quiet {
            return;
        }
        let level = match diagnostic.severity {
            Severity::Info => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match diagnostic.line {
            Some(line) => eprintln!(
                "tot: {level}: {}:{line}: {}",
                self.source, diagnostic.message
            ),
            None => eprintln!("tot: {level}: {}: {}", self.source, diagnostic.message),
        }
    }
}

impl EventSink for Recorder {
    fn event(&mut self, event: Event) {
        // A process that ended is final: write it out at once, so that a crash of tot
        // during a long quiet stretch still leaves every finished process on disk.
        let ended = matches!(event.ev, EventKind::Exit { .. });
        self.output.stats.events += 1;
        self.builder.event(event);
        self.since_drain += 1;
        if ended
            || self.since_drain >= DRAIN_EVERY_EVENTS
            || (self.since_drain.is_multiple_of(64) && self.last_drain.elapsed() >= DRAIN_EVERY)
        {
            self.drain();
        }
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.output.report(&diagnostic);
    }
}
