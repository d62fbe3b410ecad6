//! Running bpftrace around a command.
//!
//! The order of things, so that no event of the command is missed:
//!
//! 1. tot forks the command, which waits at a gate (a FIFO) before it execs;
//! 2. tot starts bpftrace with the generated program, the command's pid as `$1`, and
//!    `-c release.sh`: bpftrace runs that helper only once every probe is attached, and
//!    the helper opens the gate and then waits on its stdin, which tot holds;
//! 3. the command execs and runs; tot reads bpftrace's output from a pipe and parses it
//!    while it comes;
//! 4. when the command exits, tot has every CPU print a flush marker (see `flush`) and
//!    closes the helper's stdin, so bpftrace stops; tot stops reading once every marker is
//!    in, without waiting for bpftrace to detach.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use tot_api::{
    Availability, Backend, BackendError, BackendErrorKind, Bytes, Diagnostic, Event, EventKind,
    EventSink, ExitStatus, Outcome, Severity, TraceOutcome, TraceRequest,
};
use tot_launch::{signal_name, SignalForwarder};
use tot_script_format::{parse_reader, ReorderSink, ScriptParser};

use crate::flush::{self, UntilFlushed};
use crate::gate::{is_plain_word, make_fifo, wait_for, GatedChild};
use crate::script::{self, Arch, Failures, Probes, TaskAccess, STRING_LIMIT};
use crate::task_layout::KERNEL_BTF;

/// How to install bpftrace, for error messages.
pub const INSTALL_FIX: &str =
    "apt-get install bpftrace (Debian/Ubuntu), dnf install bpftrace (Fedora)";

/// Per-CPU perf buffer pages: 4 MiB per CPU, so build bursts fit without loss.
const DEFAULT_PERF_RB_PAGES: &str = "1024";

/// Entries per map: tasks alive at once, with room to spare.
const DEFAULT_MAP_KEYS_MAX: &str = "65536";

/// How long events are held back to restore time order across CPUs.
const REORDER_WINDOW_NS: u64 = 200_000_000;

/// Where the kernel's tracepoints are described.
const TRACEFS_DIRS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The bpftrace backend (Linux, root).
///
/// Options (from the configuration): `path` (the bpftrace binary), `probes` (`raw`, the
/// default: two `raw_syscalls` tracepoints; or `syscalls`: one `syscalls:sys_*_NAME` pair
/// per call, much slower to attach, see [`Probes`]), `failures` (`skip`, the default: failed
/// calls are not printed, see [`Failures`]; or `keep`), `perf_rb_pages` (per-CPU output buffer
/// pages, default 1024), `map_keys_max` (default 65536) and `btf` (the kernel BTF file that
/// gives the offsets of the task fields the script reads, default `/sys/kernel/btf/vmlinux`;
/// without it bpftrace parses kernel types by name, about 0.3 s slower to start).
#[derive(Debug, Default, Clone)]
pub struct BpftraceBackend;

impl BpftraceBackend {
    /// The backend.
    pub fn new() -> Self {
        BpftraceBackend
    }

    /// Find bpftrace: the `path` option, else `PATH`.
    pub fn locate(options: &BTreeMap<String, String>) -> Result<PathBuf, (String, String)> {
        match options.get("path") {
            Some(path) => Ok(PathBuf::from(path)),
            None => which::which("bpftrace").map_err(|_| {
                (
                    "bpftrace not found in PATH".to_string(),
                    INSTALL_FIX.to_string(),
                )
            }),
        }
    }

    /// Why this process may not run bpftrace, if it may not.
    pub fn privilege_problem() -> Option<(String, String)> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return None;
        }
        Some((
            "the bpftrace backend must run as root: loading eBPF programs needs CAP_BPF and CAP_PERFMON".into(),
            "run tot as root (sudo tot --backend=bpftrace ...), or use the strace backend".into(),
        ))
    }
}

/// The tracefs directory with syscall tracepoints, mounting tracefs if it is not.
fn tracefs(mount_if_missing: bool) -> Result<(PathBuf, bool), (String, String)> {
    let found = |dir: &&str| Path::new(dir).join("events/syscalls").is_dir();
    if let Some(dir) = TRACEFS_DIRS.iter().find(|dir| found(dir)) {
        return Ok((PathBuf::from(dir), false));
    }
    if mount_if_missing {
        let target = c"/sys/kernel/tracing";
        // SAFETY: all strings are NUL-terminated; a failed mount changes nothing.
        let mounted = unsafe {
            libc::mount(
                c"nodev".as_ptr(),
                target.as_ptr(),
                c"tracefs".as_ptr(),
                0,
                std::ptr::null(),
            )
        } == 0;
        if mounted && found(&"/sys/kernel/tracing") {
            return Ok((PathBuf::from("/sys/kernel/tracing"), true));
        }
    }
    Err((
        "the kernel's syscall tracepoints are not visible (tracefs is not mounted, or the kernel lacks CONFIG_FTRACE_SYSCALLS)".into(),
        "mount -t tracefs nodev /sys/kernel/tracing".into(),
    ))
}

fn unavailable(reason: String, fix: String) -> BackendError {
    BackendError::new(
        BackendErrorKind::Unavailable,
        format!("{reason}; to fix: {fix}"),
    )
}

impl Backend for BpftraceBackend {
    fn name(&self) -> &str {
        "bpftrace"
    }

    fn platforms(&self) -> Vec<String> {
        vec!["linux".into()]
    }

    fn availability(&self) -> Availability {
        let binary = match Self::locate(&BTreeMap::new()) {
            Ok(binary) => binary,
            Err((reason, fix)) => return Availability::Unavailable { reason, fix },
        };
        if let Some((reason, fix)) = Self::privilege_problem() {
            return Availability::Unavailable { reason, fix };
        }
        if let Err((reason, fix)) = tracefs(false) {
            // tot mounts tracefs itself when it runs as root, so this is not fatal.
            if Path::new("/sys/kernel/tracing").is_dir() {
                return Availability::Available {
                    detail: format!(
                        "{} (tracefs will be mounted at /sys/kernel/tracing)",
                        binary.display()
                    ),
                };
            }
            return Availability::Unavailable { reason, fix };
        }
        let version = Command::new(&binary)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Availability::Available {
            detail: format!("{version} at {}", binary.display()),
        }
    }

    fn trace(
        &self,
        request: &TraceRequest,
        sink: &mut dyn EventSink,
    ) -> Result<TraceOutcome, BackendError> {
        let binary = Self::locate(&request.options).map_err(|(r, f)| unavailable(r, f))?;
        if !binary.exists() {
            return Err(unavailable(
                format!("bpftrace not found at {}", binary.display()),
                INSTALL_FIX.into(),
            ));
        }
        if let Some((reason, fix)) = Self::privilege_problem() {
            return Err(unavailable(reason, fix));
        }
        let resolved = tot_launch::resolve_argv(&request.argv, &request.cwd)?;
        let (tracefs_dir, mounted) = tracefs(true).map_err(|(r, f)| unavailable(r, f))?;
        if mounted {
            sink.diagnostic(Diagnostic {
                severity: Severity::Info,
                line: None,
                message: "mounted tracefs at /sys/kernel/tracing for bpftrace".into(),
            });
        }
        let io_error = |what: &str, e: std::io::Error| {
            BackendError::new(BackendErrorKind::Io, format!("{what}: {e}"))
        };

        // bpftrace splits `-c` on spaces, so the helper's path must be a plain word.
        let temp_root = if is_plain_word(std::env::temp_dir().as_os_str()) {
            std::env::temp_dir()
        } else {
            PathBuf::from("/tmp")
        };
        let work = tempfile::Builder::new()
            .prefix("tot-bpftrace-")
            .tempdir_in(&temp_root)
            .map_err(|e| io_error("cannot make a temporary directory", e))?;
        let script_path = work.path().join("trace.bt");
        let gate_path = work.path().join("gate");
        let release_path = work.path().join("release.sh");
        let probes = match (
            request.options.get("probes").map(String::as_str),
            Arch::current(),
        ) {
            (Some("syscalls"), _) | (_, None) => Probes::PerSyscall,
            (_, Some(arch)) => Probes::Raw(arch),
        };
        let failures = match request.options.get("failures").map(String::as_str) {
            Some("keep") => Failures::Keep,
            _ => Failures::Skip,
        };
        let btf = request
            .options
            .get("btf")
            .map_or_else(|| PathBuf::from(KERNEL_BTF), PathBuf::from);
        let (task_access, why_typed) = TaskAccess::for_kernel(&btf);
        if let Some(why) = why_typed {
            sink.diagnostic(Diagnostic {
                severity: Severity::Warning,
                line: None,
                message: format!(
                    "bpftrace will parse kernel types by name, about 0.3 s slower to start: {why}"
                ),
            });
        }
        let has_syscall = |name: &str| {
            tracefs_dir
                .join(format!("events/syscalls/sys_enter_{name}"))
                .exists()
        };
        let can_flush = has_syscall(script::FLUSH_SYSCALL);
        let program_text = script::generate(probes, failures, task_access, has_syscall);
        std::fs::write(&script_path, program_text)
            .map_err(|e| io_error("cannot write the bpftrace program", e))?;
        std::fs::write(&release_path, release_script(&gate_path))
            .map_err(|e| io_error("cannot write the release helper", e))?;
        make_fifo(&gate_path).map_err(|e| io_error("cannot make the gate FIFO", e))?;

        let forwarder = SignalForwarder::install()
            .map_err(|e| io_error("cannot install signal handlers", e))?;
        let mut command = GatedChild::spawn(&resolved, &request.argv, &request.cwd, &gate_path)
            .map_err(|e| io_error("cannot start the command", e))?;
        let root = command.pid;
        forwarder.set_target(u32::try_from(root).unwrap_or(0));

        let option = |key: &str, default: &str| {
            request
                .options
                .get(key)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        let spawned = Command::new(&binary)
            // Unbuffered, to stdout: each record reaches tot when it happens, so outputs
            // are caught before they vanish and the flush markers are not held back.
            // (`-o FILE` is always fully buffered.)
            .arg("-B")
            .arg("none")
            .arg("-c")
            .arg(format!("/bin/sh {}", release_path.display()))
            .arg(&script_path)
            .arg(root.to_string())
            .arg(std::process::id().to_string())
            .env("BPFTRACE_STRLEN", STRING_LIMIT.to_string())
            .env(
                "BPFTRACE_PERF_RB_PAGES",
                option("perf_rb_pages", DEFAULT_PERF_RB_PAGES),
            )
            .env(
                "BPFTRACE_MAP_KEYS_MAX",
                option("map_keys_max", DEFAULT_MAP_KEYS_MAX),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut tracer = match spawned {
            Ok(tracer) => tracer,
            Err(e) => {
                kill_and_reap(root);
                return Err(BackendError::new(
                    BackendErrorKind::Provider,
                    format!("cannot start {}: {e}", binary.display()),
                ));
            }
        };
        let helper_stdin = tracer.stdin.take();
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = tracer.stderr.take().map(|stderr| {
            let lines = Arc::clone(&stderr_lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if !is_noise(&line) {
                        lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                    }
                }
            })
        });
        // The command's exit: mark every CPU's buffer, then end the helper, which ends
        // bpftrace.
        let flush_cpus = Arc::new(OnceLock::new());
        let (status_tx, status_rx) = mpsc::channel();
        let waiter = {
            let flush_cpus = Arc::clone(&flush_cpus);
            std::thread::spawn(move || {
                let status = wait_for(root);
                if let Some(cpus) = flush::cpus_to_mark().filter(|_| can_flush) {
                    let cpus = flush_cpus.get_or_init(|| cpus);
                    flush::mark(cpus);
                }
                drop(helper_stdin);
                let _ = status_tx.send(());
                status
            })
        };

        let mut watch = Watch::new(sink, u32::try_from(root).unwrap_or(0));
        let mut flushed_early = None;
        let parse_result = match tracer.stdout.take() {
            Some(reader) => {
                let mut parser = ScriptParser::new().with_clock_offset(clock_offset());
                let mut reorder = ReorderSink::new(&mut watch, REORDER_WINDOW_NS);
                let mut until = UntilFlushed::new(reader, Arc::clone(&flush_cpus));
                let result = parse_reader(&mut parser, &mut until, &mut reorder);
                reorder.finish();
                if until.flushed() {
                    flushed_early = Some(until.into_inner());
                }
                result
                    .map(drop)
                    .map_err(|e| io_error("reading bpftrace's output failed", e))
            }
            None => Err(BackendError::new(
                BackendErrorKind::Io,
                "bpftrace's output was not captured",
            )),
        };
        // bpftrace is gone or finishing. A command still held at the gate never ran.
        let mut killed_at_gate = false;
        if !watch.root_exec_seen && status_rx.try_recv().is_err() {
            let _ = tracer.wait();
            killed_at_gate = true;
            // SAFETY: plain kill(2) of our own child, still unreaped (the waiter reaps it).
            unsafe { libc::kill(root, libc::SIGKILL) };
        }
        let command_status = waiter
            .join()
            .map_err(|_| BackendError::new(BackendErrorKind::Io, "the waiting thread panicked"))?
            .map_err(|e| io_error("cannot wait for the command", e))?;
        let tracer_status = match flushed_early {
            // Everything is read; bpftrace detaches its probes on its own time.
            Some(rest) => {
                finish_in_background(tracer, rest);
                None
            }
            None => {
                let status = tracer
                    .wait()
                    .map_err(|e| io_error("cannot wait for bpftrace", e))?;
                if let Some(reader) = stderr_reader {
                    let _ = reader.join();
                }
                Some(status)
            }
        };
        drop(forwarder);
        let stderr_lines =
            std::mem::take(&mut *stderr_lines.lock().unwrap_or_else(|e| e.into_inner()));
        parse_result?;
        let status = status_from_wait(command_status);

        if let Some(error) = command.exec_error() {
            let kind = if error.kind() == std::io::ErrorKind::NotFound {
                BackendErrorKind::CommandNotFound
            } else {
                BackendErrorKind::CommandNotExecutable
            };
            return Err(BackendError::new(
                kind,
                format!("{}: {error}", request.argv[0].to_string_lossy()),
            ));
        }
        if !watch.root_exec_seen {
            let said = if stderr_lines.is_empty() {
                String::new()
            } else {
                format!("; bpftrace said: {}", stderr_lines.join(" | "))
            };
            let message = if !killed_at_gate {
                format!(
                    "the command ended ({}) before bpftrace attached its probes, so nothing was recorded{said}",
                    describe(&status)
                )
            } else {
                let status =
                    tracer_status.map_or_else(|| "still running".into(), |s| s.to_string());
                format!("bpftrace failed ({status}) before the command could start{said}")
            };
            return Err(BackendError::new(BackendErrorKind::Provider, message));
        }
        for line in &stderr_lines {
            watch.inner.diagnostic(Diagnostic {
                severity: Severity::Warning,
                line: None,
                message: format!("bpftrace: {line}"),
            });
        }
        if let Some(tracer_status) = tracer_status.filter(|status| !status.success()) {
            watch.inner.diagnostic(Diagnostic {
                severity: Severity::Error,
                line: None,
                message: format!(
                    "bpftrace ended with {tracer_status}: the record may be incomplete"
                ),
            });
        }
        watch.report();
        Ok(TraceOutcome {
            status,
            root_pid: u32::try_from(root).ok(),
        })
    }
}

/// The helper bpftrace starts once its probes are attached: it releases the command, then
/// stays until tot closes its stdin, because bpftrace stops when it exits.
fn release_script(gate: &Path) -> String {
    let quoted = gate.display().to_string().replace('\'', r"'\''");
    format!("# tot: the probes are attached; let the command run.\nprintf go >> '{quoted}'\nexec cat > /dev/null\n")
}

/// Let bpftrace finish detaching without tot waiting: keep reading (and dropping) what it
/// still prints, so it never blocks on a full pipe, and reap it. If tot exits first, bpftrace
/// still ends by itself: its helper is gone.
fn finish_in_background(mut tracer: Child, mut rest: impl std::io::Read + Send + 'static) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut rest, &mut std::io::sink());
        let _ = tracer.wait();
    });
}

/// bpftrace's messages that say nothing about the trace.
fn is_noise(line: &str) -> bool {
    line.contains("couldn't set RLIMIT_MEMLOCK") || line.trim().is_empty()
}

fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: plain kill(2) of our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = wait_for(pid);
}

/// Wall clock minus the monotonic clock bpftrace stamps events with.
fn clock_offset() -> i64 {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid out-pointer.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    };
    read(libc::CLOCK_REALTIME) - read(libc::CLOCK_MONOTONIC)
}

fn status_from_wait(status: libc::c_int) -> ExitStatus {
    if libc::WIFEXITED(status) {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        ExitStatus::Signal {
            name: signal_name(libc::WTERMSIG(status)),
            core_dumped: libc::WCOREDUMP(status),
        }
    } else {
        ExitStatus::Unknown
    }
}

fn describe(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exit status {code}"),
        ExitStatus::Signal { name, .. } => format!("killed by {name}"),
        ExitStatus::Unknown => "status unknown".into(),
    }
}

/// Passes events on, noting whether the command's own exec was seen and which paths
/// bpftrace could not read in full.
struct Watch<'a> {
    inner: &'a mut dyn EventSink,
    root: u32,
    root_exec_seen: bool,
    unreadable_paths: u64,
    cut_paths: u64,
}

impl<'a> Watch<'a> {
    fn new(inner: &'a mut dyn EventSink, root: u32) -> Self {
        Watch {
            inner,
            root,
            root_exec_seen: false,
            unreadable_paths: 0,
            cut_paths: 0,
        }
    }

    fn check_path(&mut self, path: &Bytes) {
        if path.is_empty() {
            self.unreadable_paths += 1;
        } else if path.as_slice().len() >= STRING_LIMIT - 1 {
            self.cut_paths += 1;
        }
    }

    fn report(&mut self) {
        if self.unreadable_paths > 0 {
            self.inner.diagnostic(Diagnostic {
                severity: Severity::Warning,
                line: None,
                message: format!(
                    "bpftrace could not read {} paths (user memory not resident); those accesses have empty paths",
                    self.unreadable_paths
                ),
            });
        }
        if self.cut_paths > 0 {
            self.inner.diagnostic(Diagnostic {
                severity: Severity::Warning,
                line: None,
                message: format!(
                    "{} paths reached bpftrace's {}-byte string limit and may be cut short",
                    self.cut_paths,
                    STRING_LIMIT - 1
                ),
            });
        }
    }
}

impl EventSink for Watch<'_> {
    fn event(&mut self, event: Event) {
        match &event.ev {
            EventKind::Exec { path, .. } => {
                if event.tid == self.root {
                    self.root_exec_seen = true;
                }
                self.check_path(path);
            }
            EventKind::Open {
                path,
                outcome: Outcome::Ok(_),
                ..
            } => {
                let path = path.clone();
                self.check_path(&path);
            }
            EventKind::Rename { from, to } | EventKind::Link { from, to } => {
                let (from, to) = (from.path.clone(), to.path.clone());
                self.check_path(&from);
                self.check_path(&to);
            }
            _ => {}
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
    fn the_release_helper_quotes_its_gate() {
        let text = release_script(Path::new("/tmp/it's/gate"));
        assert!(text.contains(r"printf go >> '/tmp/it'\''s/gate'"));
        assert!(text.ends_with("exec cat > /dev/null\n"));
    }

    #[test]
    fn wait_statuses_become_exit_statuses() {
        assert_eq!(status_from_wait(3 << 8), ExitStatus::Code(3));
        assert_eq!(
            status_from_wait(libc::SIGKILL),
            ExitStatus::Signal {
                name: "SIGKILL".into(),
                core_dumped: false
            }
        );
    }
}
