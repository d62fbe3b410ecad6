//! External-command backends and out-of-process plugins: a program runs the traced
//! command and writes a trace (tot's event stream, or strace's text) that tot reads while
//! the command runs.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tot_api::{
    Availability, Backend, BackendError, BackendErrorKind, Diagnostic, EventSink, Severity,
    TraceOutcome, TraceRequest,
};
use tot_config::StreamFormat;
use tot_launch::{resolve_command, OutputFifo, SignalForwarder};
use tot_plugin_abi::WireAvailability;

use tot_launch::{describe_status, exit_status_of, RootWatch};

/// How long a plugin may take to answer `--availability`.
const AVAILABILITY_TIMEOUT: Duration = Duration::from_secs(10);

/// Expands to `--option KEY=VALUE` pairs in a plugin's command line (not for users).
const OPTIONS_PLACEHOLDER: &str = "{options}";

/// A backend that is another program.
#[derive(Debug, Clone)]
pub struct ExternalBackend {
    name: String,
    template: Vec<String>,
    format: StreamFormat,
    platforms: Vec<String>,
    /// The plugin program, for a backend following the plugin calling convention.
    plugin: Option<PathBuf>,
    /// Where it was declared, for messages.
    declared_in: String,
}

impl ExternalBackend {
    /// A `command = [...]` backend. `declared_in` names where, for messages.
    pub fn command(
        name: impl Into<String>,
        command: Vec<String>,
        format: StreamFormat,
        platforms: Option<Vec<String>>,
        declared_in: impl Into<String>,
    ) -> Self {
        ExternalBackend {
            name: name.into(),
            template: command,
            format,
            platforms: platforms.unwrap_or_else(all_platforms),
            plugin: None,
            declared_in: declared_in.into(),
        }
    }

    /// An out-of-process plugin, run by the calling convention
    /// `PROGRAM --output FIFO [--option KEY=VALUE]... -- COMMAND...` and asked
    /// `PROGRAM --availability`.
    pub fn plugin(
        name: impl Into<String>,
        program: PathBuf,
        platforms: Option<Vec<String>>,
        declared_in: impl Into<String>,
    ) -> Self {
        let template = vec![
            program.to_string_lossy().into_owned(),
            "--output".into(),
            "{output}".into(),
            OPTIONS_PLACEHOLDER.into(),
            "--".into(),
            "{command}".into(),
        ];
        ExternalBackend {
            name: name.into(),
            template,
            format: StreamFormat::TotEvents,
            platforms: platforms.unwrap_or_else(all_platforms),
            plugin: Some(program),
            declared_in: declared_in.into(),
        }
    }

    fn program(&self) -> OsString {
        match &self.plugin {
            Some(program) => program.clone().into_os_string(),
            None => OsString::from(self.template.first().cloned().unwrap_or_default()),
        }
    }

    fn platform_problem(&self) -> Option<Availability> {
        let here = std::env::consts::OS;
        if self.platforms.iter().any(|p| p == here) {
            return None;
        }
        Some(Availability::Unavailable {
            reason: format!(
                "{} runs on {} only, not {here}",
                self.name,
                self.platforms.join(", ")
            ),
            fix: "choose a backend usable here (see `tot backends`)".into(),
        })
    }

    /// The command line for `request`, writing to `output`.
    fn command_line(&self, request: &TraceRequest, output: Option<&Path>) -> Vec<OsString> {
        let mut argv = Vec::new();
        for element in &self.template {
            match element.as_str() {
                "{command}" => argv.extend(request.argv.iter().cloned()),
                OPTIONS_PLACEHOLDER if self.plugin.is_some() => {
                    for (key, value) in &request.options {
                        argv.push("--option".into());
                        argv.push(format!("{key}={value}").into());
                    }
                }
                _ => argv.push(expand(element, request, output)),
            }
        }
        argv
    }

    fn uses_output(&self) -> bool {
        self.template.iter().any(|e| e.contains("{output}"))
    }
}

fn all_platforms() -> Vec<String> {
    tot_config::KNOWN_PLATFORMS
        .iter()
        .map(|p| p.to_string())
        .collect()
}

/// `{output}` and `{cwd}` inside one element; the rest stays as written.
fn expand(element: &str, request: &TraceRequest, output: Option<&Path>) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let mut bytes = element.as_bytes().to_vec();
        let mut replace = |placeholder: &str, value: &[u8]| {
            while let Some(at) = find(&bytes, placeholder.as_bytes()) {
                bytes.splice(at..at + placeholder.len(), value.iter().copied());
            }
        };
        if let Some(output) = output {
            replace("{output}", output.as_os_str().as_bytes());
        }
        replace("{cwd}", request.cwd.as_os_str().as_bytes());
        OsString::from_vec(bytes)
    }
    #[cfg(not(unix))]
    {
        let mut text = element.to_string();
        if let Some(output) = output {
            text = text.replace("{output}", &output.to_string_lossy());
        }
        OsString::from(text.replace("{cwd}", &request.cwd.to_string_lossy()))
    }
}

#[cfg(unix)]
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Backend for ExternalBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn platforms(&self) -> Vec<String> {
        self.platforms.clone()
    }

    fn availability(&self) -> Availability {
        if let Some(problem) = self.platform_problem() {
            return problem;
        }
        let program = self.program();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let found = match resolve_command(&program, &cwd) {
            Ok(found) => found,
            Err(err) => {
                return Availability::Unavailable {
                    reason: err.message,
                    fix: match &self.plugin {
                        Some(_) => format!(
                            "install the plugin there and make it executable, or fix {}",
                            self.declared_in
                        ),
                        None => format!(
                            "install {}, or fix `command` of {}",
                            program.to_string_lossy(),
                            self.declared_in
                        ),
                    },
                }
            }
        };
        match &self.plugin {
            None => Availability::Available {
                detail: format!("runs {}", found.display()),
            },
            Some(_) => ask_availability(&found),
        }
    }

    fn trace(
        &self,
        request: &TraceRequest,
        sink: &mut dyn EventSink,
    ) -> Result<TraceOutcome, BackendError> {
        tot_launch::resolve_argv(&request.argv, &request.cwd)?;
        if let Some(Availability::Unavailable { reason, fix }) = self.platform_problem() {
            return Err(BackendError::new(
                BackendErrorKind::Unavailable,
                format!("{reason}; to fix: {fix}"),
            ));
        }
        let io_error = |what: &str, e: std::io::Error| {
            BackendError::new(BackendErrorKind::Io, format!("{what}: {e}"))
        };
        let fifo = if self.uses_output() {
            Some(OutputFifo::create().map_err(|e| io_error("cannot make the output FIFO", e))?)
        } else {
            None
        };
        let argv = self.command_line(request, fifo.as_ref().map(|f| f.path()));
        let forwarder = SignalForwarder::install()
            .map_err(|e| io_error("cannot install signal handlers", e))?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).current_dir(&request.cwd);
        if fifo.is_none() {
            command.stdout(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                BackendErrorKind::Unavailable
            } else {
                BackendErrorKind::Provider
            };
            BackendError::new(
                kind,
                format!(
                    "backend {}: cannot start {}: {e} (declared in {})",
                    self.name,
                    argv[0].to_string_lossy(),
                    self.declared_in
                ),
            )
        })?;
        // The backend is in charge of the traced command, so it gets the signals.
        forwarder.set_target(child.id());
        let mut watch = RootWatch::new(sink);
        let read: Result<(), String> = match &fifo {
            Some(fifo) => match fifo.open_reader(|| matches!(child.try_wait(), Ok(None))) {
                Ok(Some(reader)) => read_trace(reader, self.format, &mut watch),
                Ok(None) => Err(format!(
                    "it never opened its output {}",
                    fifo.path().display()
                )),
                Err(e) => Err(format!("its output could not be read: {e}")),
            },
            None => match child.stdout.take() {
                Some(stdout) => read_trace(stdout, self.format, &mut watch),
                None => Err("its standard output could not be read".into()),
            },
        };
        let backend_status = exit_status_of(
            child
                .wait()
                .map_err(|e| io_error("cannot wait for the backend", e))?,
        );
        drop(forwarder);
        let who = format!("backend {}", self.name);
        if let Err(problem) = &read {
            if watch.events == 0 {
                return Err(BackendError::new(
                    BackendErrorKind::Provider,
                    format!(
                        "{who} produced no trace: {problem}; the backend {}",
                        describe_status(&backend_status)
                    ),
                ));
            }
            watch.diagnostic(Diagnostic {
                severity: Severity::Error,
                line: None,
                message: format!(
                    "{who}: {problem}; the {} events before it are kept",
                    watch.events
                ),
            });
        }
        let status = match watch.exit.clone() {
            Some(status) => {
                if status != backend_status {
                    watch.diagnostic(Diagnostic {
                        severity: Severity::Warning,
                        line: None,
                        message: format!(
                            "{who} {} although the traced command {}",
                            describe_status(&backend_status),
                            describe_status(&status)
                        ),
                    });
                }
                status
            }
            None => {
                if watch.events == 0 && read.is_ok() {
                    return Err(BackendError::new(
                        BackendErrorKind::Provider,
                        format!(
                            "{who} traced nothing and {}; its message, if any, is above",
                            describe_status(&backend_status)
                        ),
                    ));
                }
                watch.diagnostic(Diagnostic {
                    severity: Severity::Error,
                    line: None,
                    message: format!(
                        "{who} {} before reporting the traced command's exit: the trace is incomplete; the {} events received are kept and the backend's exit status stands for the command's",
                        describe_status(&backend_status),
                        watch.events
                    ),
                });
                backend_status
            }
        };
        Ok(TraceOutcome {
            status,
            root_pid: watch.root,
        })
    }
}

/// Read a trace to its end. A refused event stream is still drained, so the backend runs
/// to its end rather than dying of a broken pipe, and the command's status is real.
fn read_trace(
    mut reader: impl Read,
    format: StreamFormat,
    watch: &mut RootWatch<'_>,
) -> Result<(), String> {
    match format {
        StreamFormat::TotEvents => match tot_event_stream::decode_reader(&mut reader, watch) {
            Ok(_) => Ok(()),
            Err(err) => {
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                Err(err.to_string())
            }
        },
        StreamFormat::Strace => tot_backend_strace::parse_reader(reader, watch)
            .map(|_| ())
            .map_err(|e| format!("reading its strace output failed: {e}")),
    }
}

/// Run `PROGRAM --availability` and read its JSON answer.
fn ask_availability(program: &Path) -> Availability {
    let broken = |reason: String| Availability::Unavailable {
        reason,
        fix: format!(
            "check the plugin: `{} --availability` must print one JSON object",
            program.display()
        ),
    };
    let mut child = match Command::new(program)
        .arg("--availability")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return broken(format!("cannot run {}: {e}", program.display())),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < AVAILABILITY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return broken(format!(
                    "{} --availability did not answer within {}s",
                    program.display(),
                    AVAILABILITY_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return broken(format!("cannot wait for {}: {e}", program.display())),
        }
    }
    let output = match child.wait_with_output() {
        Ok(output) => output,
        Err(e) => return broken(format!("cannot read {}: {e}", program.display())),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    match serde_json::from_str::<WireAvailability>(text.trim()) {
        Ok(wire) => wire.into(),
        Err(_) => broken(format!(
            "{} --availability {} and printed {:?}{}",
            program.display(),
            describe_status(&exit_status_of(output.status)),
            text.trim(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        )),
    }
}
