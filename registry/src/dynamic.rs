//! Dynamic plugins: shared libraries speaking the C ABI of `tot-plugin-abi`.

use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tot_api::{
    Availability, Backend, BackendError, BackendErrorKind, Bytes, Diagnostic, EventSink,
    ExitStatus, Severity, TraceOutcome, TraceRequest,
};
use tot_event_stream::StreamDecoder;
use tot_plugin_abi::{
    error_kind_from_name, severity_from_name, EntryFn, HostV1, PluginV1, WireAvailability,
    WireDiagnostic, WireRequest, WireResult, ABI_VERSION, ENTRY_SYMBOL,
};

use crate::error::{Error, ErrorKind};
use tot_launch::{describe_status, RootWatch};

/// A plugin library, loaded and checked.
#[derive(Debug)]
pub struct PluginLibrary {
    path: PathBuf,
    plugin: &'static PluginV1,
    name: String,
    platforms: Vec<String>,
}

impl PluginLibrary {
    /// The library's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name the plugin gives itself.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The platforms the plugin says it runs on.
    pub fn platforms(&self) -> &[String] {
        &self.platforms
    }
}

/// Libraries loaded so far, by canonical path: each is loaded once per process.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<PluginLibrary>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<PluginLibrary>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// Load the plugin library at `path` and check it speaks [`ABI_VERSION`].
///
/// Errors: the file does not exist; it is not a loadable library; it lacks the entry
/// symbol; it speaks another ABI version (both versions named).
pub fn load_plugin_library(path: &Path) -> Result<Arc<PluginLibrary>, Error> {
    let canonical = path.canonicalize().map_err(|e| {
        Error::new(
            ErrorKind::PluginNotFound,
            format!("plugin library {} cannot be opened: {e}", path.display()),
        )
    })?;
    let mut cache = loaded()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(library) = cache.get(&canonical) {
        return Ok(Arc::clone(library));
    }
    // SAFETY: loading a library runs its initializers; that is what loading a plugin
    // means, and the user configured or installed this one.
    let library = unsafe { libloading::Library::new(&canonical) }.map_err(|e| {
        Error::new(
            ErrorKind::NotALibrary,
            format!(
                "{} is not a loadable library ({e}); a dynamic plugin is a shared library built as a cdylib",
                canonical.display()
            ),
        )
    })?;
    // Never unloaded: pointers into the library (its name, its functions, thread-local
    // destructors of its runtime) may outlive any handle, and tot is a short-lived process.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol's type is fixed by the ABI; a library exporting the name with
    // another type is not a tot plugin, and the version check below catches old ones.
    let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) }.map_err(|_| {
        Error::new(
            ErrorKind::MissingSymbol,
            format!(
                "{} is a library but not a tot plugin: it does not export the symbol `tot_plugin_entry` (see docs/writing-a-backend.md)",
                canonical.display()
            ),
        )
    })?;
    // SAFETY: calling the entry function as the ABI defines it.
    let pointer = unsafe { entry() };
    if pointer.is_null() {
        return Err(Error::new(
            ErrorKind::MissingSymbol,
            format!(
                "{}: `tot_plugin_entry` returned no plugin",
                canonical.display()
            ),
        ));
    }
    // SAFETY: every ABI version starts with the version as a u32, so this read is valid
    // whatever the version; nothing else is read before it is checked.
    let version = unsafe { *pointer.cast::<u32>() };
    if version != ABI_VERSION {
        return Err(Error::new(
            ErrorKind::AbiMismatch,
            format!(
                "{} speaks tot plugin ABI version {version}, but this tot speaks version {ABI_VERSION}: rebuild the plugin against tot-plugin-abi with ABI version {ABI_VERSION}",
                canonical.display()
            ),
        ));
    }
    // SAFETY: version 1 means the struct is a PluginV1, static in the never-unloaded library.
    let plugin: &'static PluginV1 = unsafe { &*pointer };
    let name = c_text(plugin.name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::MissingSymbol,
                format!("{}: the plugin has no name", canonical.display()),
            )
        })?;
    let platforms = c_text(plugin.platforms)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    let library = Arc::new(PluginLibrary {
        path: canonical.clone(),
        plugin,
        name,
        platforms,
    });
    cache.insert(canonical, Arc::clone(&library));
    Ok(library)
}

// SAFETY: `plugin` points into a library that is never unloaded, at immutable data and
// functions; the ABI requires a plugin's functions to be callable from any thread, as a
// `tot_api::Backend` is `Send + Sync`.
unsafe impl Send for PluginLibrary {}
// SAFETY: as above.
unsafe impl Sync for PluginLibrary {}

fn c_text(pointer: *const std::ffi::c_char) -> Option<String> {
    if pointer.is_null() {
        return None;
    }
    // SAFETY: the ABI requires a NUL-terminated string living as long as the library.
    Some(
        unsafe { CStr::from_ptr(pointer) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// A backend provided by a plugin library.
#[derive(Debug, Clone)]
pub struct DynamicBackend {
    name: String,
    library: Arc<PluginLibrary>,
}

impl DynamicBackend {
    /// The backend of `library`, known to users as `name`.
    pub fn new(name: impl Into<String>, library: Arc<PluginLibrary>) -> Self {
        DynamicBackend {
            name: name.into(),
            library,
        }
    }
}

/// What the host's callbacks collect during one call into the plugin.
struct HostState<'a> {
    watch: RootWatch<'a>,
    decoder: StreamDecoder,
    partial: Vec<u8>,
    refused: Option<String>,
    result: Option<Vec<u8>>,
}

impl HostState<'_> {
    fn take_events(&mut self, data: &[u8]) -> i32 {
        if self.refused.is_some() {
            return 1;
        }
        self.partial.extend_from_slice(data);
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = &self.partial[start..start + end];
            if let Err(err) = self.decoder.decode_line(line, &mut self.watch) {
                self.refused = Some(err.to_string());
                self.partial.clear();
                return 1;
            }
            start += end + 1;
        }
        self.partial.drain(..start);
        0
    }
}

/// # Safety
/// `context` is the `HostState` of the call in progress; `data` points to `len` bytes.
unsafe fn with_state(
    context: *mut c_void,
    data: *const u8,
    len: usize,
    f: impl FnOnce(&mut HostState<'_>, &[u8]) -> i32,
) -> i32 {
    if context.is_null() || (data.is_null() && len > 0) {
        return 1;
    }
    // SAFETY: the host made `context` from a live &mut HostState for the duration of the
    // call into the plugin, and the plugin calls back only during that call.
    let state = unsafe { &mut *context.cast::<HostState<'_>>() };
    let bytes: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the plugin passes `len` readable bytes.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    // A panic must not unwind into the plugin's C frames.
    catch_unwind(AssertUnwindSafe(|| f(state, bytes))).unwrap_or(1)
}

unsafe extern "C" fn host_write_events(context: *mut c_void, data: *const u8, len: usize) -> i32 {
    // SAFETY: forwarded from the plugin, which received these from the host.
    unsafe { with_state(context, data, len, |state, bytes| state.take_events(bytes)) }
}

unsafe extern "C" fn host_diagnostic(context: *mut c_void, data: *const u8, len: usize) {
    // SAFETY: as above.
    unsafe {
        with_state(context, data, len, |state, bytes| {
            let diagnostic = match serde_json::from_slice::<WireDiagnostic>(bytes) {
                Ok(wire) => Diagnostic {
                    severity: severity_from_name(&wire.severity),
                    line: wire.line,
                    message: wire.message,
                },
                Err(_) => Diagnostic {
                    severity: Severity::Warning,
                    line: None,
                    message: format!(
                        "the plugin sent a malformed diagnostic: {}",
                        String::from_utf8_lossy(bytes)
                    ),
                },
            };
            state.watch.diagnostic(diagnostic);
            0
        })
    };
}

unsafe extern "C" fn host_finish(context: *mut c_void, data: *const u8, len: usize) {
    // SAFETY: as above.
    unsafe {
        with_state(context, data, len, |state, bytes| {
            state.result = Some(bytes.to_vec());
            0
        })
    };
}

fn host_for(state: &mut HostState<'_>) -> HostV1 {
    HostV1 {
        context: (state as *mut HostState<'_>).cast(),
        write_events: host_write_events,
        diagnostic: host_diagnostic,
        finish: host_finish,
    }
}

impl Backend for DynamicBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn platforms(&self) -> Vec<String> {
        self.library.platforms.clone()
    }

    fn availability(&self) -> Availability {
        let mut ignored = Discard;
        let mut state = HostState {
            watch: RootWatch::new(&mut ignored),
            decoder: StreamDecoder::new(),
            partial: Vec::new(),
            refused: None,
            result: None,
        };
        let host = host_for(&mut state);
        // SAFETY: host and its context live until the call returns.
        unsafe { (self.library.plugin.availability)(&host) };
        match state
            .result
            .as_deref()
            .map(serde_json::from_slice::<WireAvailability>)
        {
            Some(Ok(wire)) => wire.into(),
            Some(Err(e)) => Availability::Unavailable {
                reason: format!(
                    "plugin {} answered availability with malformed JSON: {e}",
                    self.library.path.display()
                ),
                fix: "report the bug to the plugin's authors".into(),
            },
            None => Availability::Unavailable {
                reason: format!(
                    "plugin {} did not say whether it is available",
                    self.library.path.display()
                ),
                fix: "report the bug to the plugin's authors".into(),
            },
        }
    }

    fn trace(
        &self,
        request: &TraceRequest,
        sink: &mut dyn EventSink,
    ) -> Result<TraceOutcome, BackendError> {
        tot_launch::resolve_argv(&request.argv, &request.cwd)?;
        let wire = WireRequest {
            argv: request.argv.iter().map(|a| Bytes::from_os_str(a)).collect(),
            cwd: Bytes::from_os_str(request.cwd.as_os_str()),
            options: request.options.clone(),
        };
        let request_json = serde_json::to_vec(&wire).expect("a request is plain data");
        let mut state = HostState {
            watch: RootWatch::new(sink),
            decoder: StreamDecoder::new(),
            partial: Vec::new(),
            refused: None,
            result: None,
        };
        let host = host_for(&mut state);
        // SAFETY: the request buffer, host and its context live until the call returns.
        let code = unsafe {
            (self.library.plugin.trace)(request_json.as_ptr(), request_json.len(), &host)
        };
        if !state.partial.is_empty() && state.refused.is_none() {
            let rest = std::mem::take(&mut state.partial);
            if let Err(err) = state
                .decoder
                .decode_unterminated_line(&rest, &mut state.watch)
            {
                state.refused = Some(err.to_string());
            }
        }
        let who = format!("plugin {} ({})", self.name, self.library.path.display());
        let result = match state
            .result
            .as_deref()
            .map(serde_json::from_slice::<WireResult>)
        {
            Some(Ok(result)) => result,
            Some(Err(e)) => WireResult::Error {
                kind: "provider".into(),
                message: format!("its result was malformed JSON: {e}"),
            },
            None => WireResult::Error {
                kind: "provider".into(),
                message: format!("it returned status {code} without a result"),
            },
        };
        let watch = &mut state.watch;
        if let Some(refused) = &state.refused {
            if watch.events == 0 {
                return Err(BackendError::new(
                    BackendErrorKind::Provider,
                    format!("{who}: {refused}"),
                ));
            }
            watch.diagnostic(Diagnostic {
                severity: Severity::Error,
                line: None,
                message: format!("{who}: {refused}; the events before it are kept"),
            });
        }
        match result {
            WireResult::Outcome { status, root_pid } => Ok(TraceOutcome {
                status,
                root_pid: root_pid.or(watch.root),
            }),
            WireResult::Error { kind, message } => {
                if watch.events == 0 {
                    return Err(BackendError::new(
                        error_kind_from_name(&kind),
                        format!("{who}: {message}"),
                    ));
                }
                let status = watch.exit.clone().unwrap_or(ExitStatus::Unknown);
                watch.diagnostic(Diagnostic {
                    severity: Severity::Error,
                    line: None,
                    message: format!(
                        "{who} failed: {message}; the trace is incomplete, the {} events received before are kept{}",
                        watch.events,
                        match &watch.exit {
                            Some(status) => format!(", and the traced command {}", describe_status(status)),
                            None => String::new(),
                        }
                    ),
                });
                Ok(TraceOutcome {
                    status,
                    root_pid: watch.root,
                })
            }
        }
    }
}

struct Discard;

impl EventSink for Discard {
    fn event(&mut self, _event: tot_api::Event) {}
    fn diagnostic(&mut self, _diagnostic: Diagnostic) {}
}
