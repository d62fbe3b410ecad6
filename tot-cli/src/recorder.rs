//! Glue between a backend and the record file: events go into the provenance builder, and
//! finished processes and accesses stream into the record file as the run goes, so a crash
//! or Ctrl-C still leaves a readable record.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tot_api::{
    Access, Diagnostic, Event, EventKind, EventSink, FileAccess, Outcome, ProcessEntry, RunHeader,
    Severity,
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
///
/// The building runs on a thread of its own, so that reading the tracer's output never
/// waits for hashing: when an event says a file was opened for writing, this side opens
/// it at once and hands the builder that handle, and an output that lives for only a few
/// milliseconds (a compiler's temporary file) is still hashed.
pub struct Recorder {
    stage: Stage,
    batch: Vec<Message>,
    events: u64,
    /// Which files may be opened: none for an imported log (it names another machine's
    /// files), never pseudo-filesystems or ignored ones.
    options: BuildOptions,
}

enum Stage {
    Open {
        sender: SyncSender<Vec<Message>>,
        worker: JoinHandle<Recording>,
    },
    Closed(Box<Recording>),
    /// Only while moving between the two.
    Gone,
}

enum Message {
    Event(Event, Option<std::fs::File>),
    Diagnostic(Diagnostic),
}

/// Events sent to the builder at a time; a process exit is sent at once.
const BATCH: usize = 256;
/// Batches in flight; past this the reader waits, which keeps memory bounded.
const BATCHES_IN_FLIGHT: usize = 64;

/// The building side: the provenance builder and the record being written.
struct Recording {
    builder: ProvenanceBuilder,
    output: RecordOutput,
    since_drain: u64,
    last_drain: Instant,
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
        let mut recording = Recording {
            builder: ProvenanceBuilder::new(options.clone()),
            output: RecordOutput {
                writer: Some(writer),
                write_error: None,
                source: source.into(),
                stats: RecordingStats::default(),
            },
            since_drain: 0,
            last_drain: Instant::now(),
        };
        let (sender, receiver) = sync_channel::<Vec<Message>>(BATCHES_IN_FLIGHT);
        let worker = std::thread::Builder::new()
            .name("tot-builder".into())
            .spawn(move || {
                for batch in receiver {
                    for message in batch {
                        recording.take(message);
                    }
                }
                recording
            })
            .context("cannot start the provenance builder's thread")?;
        Ok(Recorder {
            stage: Stage::Open { sender, worker },
            batch: Vec::with_capacity(BATCH),
            events: 0,
            options,
        })
    }

    /// The exit status of the first process seen, if it ended. Ends the intake.
    pub fn root_exit(&mut self) -> Option<tot_api::ExitStatus> {
        self.close().ok()?.builder.root_exit()
    }

    /// Counts so far (events only, until the intake ends).
    pub fn stats(&self) -> RecordingStats {
        match &self.stage {
            Stage::Closed(recording) => recording.output.stats,
            _ => RecordingStats {
                events: self.events,
                ..RecordingStats::default()
            },
        }
    }

    fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Stage::Open { sender, .. } = &self.stage {
            // A send fails only if the builder's thread is gone; close() reports that.
            let _ = sender.send(batch);
        }
    }

    /// Ends the intake and waits for the builder to take in everything sent.
    fn close(&mut self) -> anyhow::Result<&mut Recording> {
        self.send();
        self.stage = match std::mem::replace(&mut self.stage, Stage::Gone) {
            Stage::Open { sender, worker } => {
                drop(sender);
                let recording = worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("the provenance builder failed"))?;
                Stage::Closed(Box::new(recording))
            }
            other => other,
        };
        match &mut self.stage {
            Stage::Closed(recording) => Ok(recording),
            _ => anyhow::bail!("the provenance builder failed"),
        }
    }

    /// Hash what is pending, write everything, and put the final header in place.
    pub fn finish(mut self, header: &RunHeader) -> anyhow::Result<(PathBuf, RecordingStats)> {
        self.close()?;
        let Stage::Closed(recording) = std::mem::replace(&mut self.stage, Stage::Gone) else {
            anyhow::bail!("the provenance builder failed");
        };
        recording.finish(header)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Let the builder's thread finish before the record files are touched.
        let _ = self.close();
    }
}

impl Recording {
    fn take(&mut self, message: Message) {
        match message {
            Message::Diagnostic(diagnostic) => self.output.report(&diagnostic),
            Message::Event(event, handle) => {
                // A process that ended is final: write it out at once, so that a crash of
                // tot during a long quiet stretch still leaves every finished process on
                // disk.
                let ended = matches!(event.ev, EventKind::Exit { .. });
                self.output.stats.events += 1;
                self.builder.event_with_handle(event, handle);
                self.since_drain += 1;
                if ended
                    || self.since_drain >= DRAIN_EVERY_EVENTS
                    || (self.since_drain.is_multiple_of(64)
                        && self.last_drain.elapsed() >= DRAIN_EVERY)
                {
                    self.drain();
                }
            }
        }
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

    fn finish(self, header: &RunHeader) -> anyhow::Result<(PathBuf, RecordingStats)> {
        let Recording {
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

/// The writing half: the record file, counts, and the user's view of problems.
struct RecordOutput {
    writer: Option<RecordWriter>,
    write_error: Option<anyhow::Error>,
    /// Where diagnostics are attributed, such as the log file being imported.
    source: String,
    stats: RecordingStats,
}

/// A read-only handle on the file an `Open` for writing made, taken the moment the event
/// is read, while a short-lived file still exists. Only absolute paths: relative ones need
/// the process's directory, which only the builder knows.
fn handle_for(event: &Event, options: &BuildOptions) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let EventKind::Open {
        path,
        flags,
        outcome: Outcome::Ok(_),
        ..
    } = &event.ev
    else {
        return None;
    };
    let writable = matches!(flags.access, Access::Write | Access::ReadWrite);
    if !writable || flags.tmpfile || !path.as_slice().starts_with(b"/") {
        return None;
    }
    if !options.may_read(path.as_slice()) {
        return None;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path.as_path())
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
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
        self.events += 1;
        let ended = matches!(event.ev, EventKind::Exit { .. });
        let handle = handle_for(&event, &self.options);
        self.batch.push(Message::Event(event, handle));
        if ended || self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.batch.push(Message::Diagnostic(diagnostic));
    }
}
