//! Running `dtrace -q -c CMD -s tot.d` around a command (macOS).
//!
//! `dtrace -c` starts the command stopped and lets it run once the probes are enabled, so
//! no first event is missed. The D script's output goes to a FIFO that tot parses while
//! the command runs. The code is compiled on every Unix so it is type-checked in CI; it
//! refuses to run anywhere but macOS.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tot_api::{
    Availability, Backend, BackendError, BackendErrorKind, Bytes, Diagnostic, Event, EventKind,
    EventSink, ExitStatus, TraceOutcome, TraceRequest,
};
use tot_launch::{OutputFifo, RootWatch, SignalForwarder};
use tot_script_format::{parse_reader, ReorderSink, ScriptParser};

use crate::sip::{is_sip_protected, sip_message, sip_status, SipStatus};
use crate::D_SCRIPT;

/// How to get dtrace.
pub const INSTALL_FIX: &str = "dtrace ships with macOS at /usr/sbin/dtrace; install the Xcode command line tools (xcode-select --install) if it is missing";

/// The DTrace backend (macOS, root).
///
/// Options: `path` (the dtrace binary).
#[derive(Debug, Default, Clone)]
pub struct DtraceBackend;

impl DtraceBackend {
    /// The backend.
    pub fn new() -> Self {
        DtraceBackend
    }

    /// Find dtrace: the `path` option, else `PATH`, else `/usr/sbin/dtrace`.
    pub fn locate(options: &BTreeMap<String, String>) -> Result<PathBuf, (String, String)> {
        if let Some(path) = options.get("path") {
            return Ok(PathBuf::from(path));
        }
        which::which("dtrace")
            .ok()
            .or_else(|| Some(PathBuf::from("/usr/sbin/dtrace")).filter(|p| p.exists()))
            .ok_or_else(|| ("dtrace not found".to_string(), INSTALL_FIX.to_string()))
    }

    /// Everything that stops dtrace from running here, as (reason, fix).
    pub fn check() -> Result<PathBuf, (String, String)> {
        if !cfg!(target_os = "macos") {
            return Err((
                "the dtrace backend runs on macOS only".into(),
                "use the bpftrace or strace backend on Linux".into(),
            ));
        }
        let binary = Self::locate(&BTreeMap::new())?;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err((
                "dtrace must run as root".into(),
                "run tot as root: sudo tot --backend=dtrace ...".into(),
            ));
        }
        let csrutil = Command::new("csrutil").arg("status").output();
        if let Ok(output) = csrutil {
            if sip_status(&String::from_utf8_lossy(&output.stdout)) == SipStatus::DtraceRestricted {
                return Err((sip_message("DTrace is restricted"), String::new()));
            }
        }
        Ok(binary)
    }
}

fn unavailable(reason: String, fix: String) -> BackendError {
    let message = if fix.is_empty() {
        reason
    } else {
        format!("{reason}; to fix: {fix}")
    };
    BackendError::new(BackendErrorKind::Unavailable, message)
}

/// The string for `dtrace -c`, which dtrace splits at spaces: the command itself when its
/// words are plain, else a shell script that execs it with exact quoting (the trace then
/// starts with `/bin/sh`, which execs the command at once).
pub fn command_string(program: &Path, argv: &[OsString], work: &Path) -> std::io::Result<String> {
    let plain = |bytes: &[u8]| {
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(b))
    };
    let mut words: Vec<&[u8]> = vec![program.as_os_str().as_bytes()];
    words.extend(argv.iter().skip(1).map(|a| a.as_bytes()));
    if words.iter().all(|w| plain(w)) && plain(work.as_os_str().as_bytes()) {
        return Ok(words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect::<Vec<_>>()
            .join(" "));
    }
    let mut script = b"exec".to_vec();
    for word in words {
        script.extend_from_slice(b" '");
        for &b in word {
            if b == b'\'' {
                script.extend_from_slice(b"'\\''");
            } else {
                script.push(b);
            }
        }
        script.push(b'\'');
    }
    script.push(b'\n');
    let path = work.join("run.sh");
    std::fs::write(&path, script)?;
    Ok(format!("/bin/sh {}", path.display()))
}

impl Backend for DtraceBackend {
    fn name(&self) -> &str {
        "dtrace"
    }

    fn platforms(&self) -> Vec<String> {
        vec!["macos".into()]
    }

    fn availability(&self) -> Availability {
        match Self::check() {
            Ok(binary) => Availability::Available {
                detail: format!("dtrace at {}", binary.display()),
            },
            Err((reason, fix)) => Availability::Unavailable { reason, fix },
        }
    }

    fn trace(
        &self,
        request: &TraceRequest,
        sink: &mut dyn EventSink,
    ) -> Result<TraceOutcome, BackendError> {
        let binary = match request.options.get("path") {
            Some(path) if cfg!(target_os = "macos") => PathBuf::from(path),
            _ => Self::check().map_err(|(r, f)| unavailable(r, f))?,
        };
        let resolved = tot_launch::resolve_argv(&request.argv, &request.cwd)?;
        if is_sip_protected(&resolved) {
            return Err(BackendError::new(
                BackendErrorKind::Unavailable,
                sip_message(&format!("{} is protected", resolved.display())),
            ));
        }
        let io_error = |what: &str, e: std::io::Error| {
            BackendError::new(BackendErrorKind::Io, format!("{what}: {e}"))
        };
        let work = tempfile::Builder::new()
            .prefix("tot-dtrace-")
            .tempdir_in("/tmp")
            .map_err(|e| io_error("cannot make a temporary directory", e))?;
        let script = work.path().join("tot.d");
        std::fs::write(&script, D_SCRIPT).map_err(|e| io_error("cannot write the D script", e))?;
        let command = command_string(&resolved, &request.argv, work.path())
            .map_err(|e| io_error("cannot write the command script", e))?;
        let output = OutputFifo::create().map_err(|e| io_error("cannot make the trace FIFO", e))?;
        let forwarder = SignalForwarder::install()
            .map_err(|e| io_error("cannot install signal handlers", e))?;
        let mut child = Command::new(&binary)
            .arg("-q")
            .arg("-o")
            .arg(output.path())
            .arg("-c")
            .arg(&command)
            .arg("-s")
            .arg(&script)
            .current_dir(&request.cwd)
            .spawn()
            .map_err(|e| {
                BackendError::new(
                    BackendErrorKind::Provider,
                    format!("cannot start {}: {e}", binary.display()),
                )
            })?;
        let reader = output
            .open_reader(|| matches!(child.try_wait(), Ok(None)))
            .map_err(|e| io_error("cannot read dtrace's output", e))?;
        let mut supplier = RootExecSupplier {
            inner: sink,
            root_exec: Some((
                Bytes::from_os_str(resolved.as_os_str()),
                request.argv.iter().map(|a| Bytes::from_os_str(a)).collect(),
            )),
        };
        let mut watch = RootWatch::new(&mut supplier).forwarding(&forwarder);
        let parsed = match reader {
            Some(reader) => {
                let mut parser = ScriptParser::new();
                let mut reorder = ReorderSink::new(&mut watch, 200_000_000);
                let result = parse_reader(&mut parser, BufReader::new(reader), &mut reorder);
                reorder.finish();
                Some(result.map_err(|e| io_error("reading dtrace's output failed", e))?)
            }
            None => None,
        };
        let dtrace_status = child
            .wait()
            .map_err(|e| io_error("cannot wait for dtrace", e))?;
        let (root, exit) = (watch.root, watch.exit.take());
        drop(watch);
        drop(forwarder);
        match (root, parsed) {
            (Some(root), _) => Ok(TraceOutcome {
                status: exit.unwrap_or(ExitStatus::Unknown),
                root_pid: Some(root),
            }),
            (None, _) => Err(BackendError::new(
                BackendErrorKind::Provider,
                format!(
                    "dtrace traced nothing and ended with {dtrace_status}; its message is above. If it mentions System Integrity Protection or restricted entitlements: {}",
                    sip_message("SIP")
                ),
            )),
        }
    }
}

/// `dtrace -c` starts the command suspended after its exec, so the command's own exec is
/// never traced: this supplies it, from what tot launched, before the command's first event.
struct RootExecSupplier<'a> {
    inner: &'a mut dyn EventSink,
    root_exec: Option<(Bytes, Vec<Bytes>)>,
}

impl EventSink for RootExecSupplier<'_> {
    fn event(&mut self, event: Event) {
        if let Some((path, argv)) = self.root_exec.take() {
            if !matches!(event.ev, EventKind::Exec { .. }) {
                self.inner.event(Event {
                    tid: event.tid,
                    ts: event.ts,
                    ev: EventKind::Exec {
                        dirfd: None,
                        path,
                        argv,
                        env: None,
                        cwd: None,
                        argv_truncated: false,
                    },
                });
            }
        }
        self.inner.event(event);
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.inner.diagnostic(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_commands_go_straight_to_dash_c() {
        let work = tempfile::tempdir().unwrap();
        let argv: Vec<OsString> = vec!["make".into(), "-j2".into(), "all".into()];
        let command =
            command_string(Path::new("/usr/local/bin/make"), &argv, Path::new("/tmp/x")).unwrap();
        assert_eq!(command, "/usr/local/bin/make -j2 all");
        let argv: Vec<OsString> = vec![
            "printf".into(),
            "%s|".into(),
            "it's done".into(),
            "a b".into(),
        ];
        let command = command_string(Path::new("/usr/bin/printf"), &argv, work.path()).unwrap();
        assert!(command.starts_with("/bin/sh "));
        let script = std::fs::read_to_string(work.path().join("run.sh")).unwrap();
        assert_eq!(
            script,
            "exec '/usr/bin/printf' '%s|' 'it'\\''s done' 'a b'\n"
        );
        let out = Command::new("sh")
            .arg(work.path().join("run.sh"))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"it's done|a b|");
    }

    #[test]
    fn refuses_to_run_off_macos() {
        if !cfg!(target_os = "macos") {
            let availability = DtraceBackend::new().availability();
            assert!(!availability.is_available());
            let request = TraceRequest {
                argv: vec!["true".into()],
                cwd: std::env::current_dir().unwrap(),
                options: Default::default(),
            };
            struct Nothing;
            impl EventSink for Nothing {
                fn event(&mut self, _: Event) {}
                fn diagnostic(&mut self, _: Diagnostic) {}
            }
            let error = DtraceBackend::new()
                .trace(&request, &mut Nothing)
                .unwrap_err();
            assert_eq!(error.kind, BackendErrorKind::Unavailable);
            assert!(error.message.contains("macOS only"), "{}", error.message);
        }
    }
}
