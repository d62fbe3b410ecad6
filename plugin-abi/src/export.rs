//! The plugin side: exporting a [`Backend`] through the ABI.

use std::any::Any;
use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use tot_api::{Backend, Diagnostic, Event, EventSink, TraceRequest};
use tot_event_stream::{encode_event, hello_line};

use crate::{
    severity_name, HostV1, PluginV1, WireAvailability, WireDiagnostic, WireRequest, WireResult,
    STATUS_ERROR, STATUS_OK, STATUS_PANICKED,
};

/// Events are handed to the host in batches of about this many bytes: one callback per
/// event would cost more than the encoding itself.
const BATCH_BYTES: usize = 32 * 1024;

/// A [`PluginV1`] that can live in a `static` (it holds only pointers to other statics
/// and functions, which are safe to share between threads).
#[derive(Debug)]
pub struct ExportedPlugin(PluginV1);

// SAFETY: the pointers in a PluginV1 made by `export_backend!` point to immutable,
// 'static, NUL-terminated string literals; function pointers are Sync anyway.
unsafe impl Sync for ExportedPlugin {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for ExportedPlugin {}

impl ExportedPlugin {
    /// Wrap `plugin`, whose string pointers must be `'static`.
    pub const fn new(plugin: PluginV1) -> Self {
        ExportedPlugin(plugin)
    }

    /// What the entry symbol returns.
    pub fn as_ptr(&'static self) -> *const PluginV1 {
        &self.0
    }
}

/// Export a [`Backend`] as a dynamic plugin: defines the entry symbol
/// `tot_plugin_entry` and the ABI functions around `backend`.
///
/// ```ignore
/// tot_plugin_abi::export_backend!(
///     name: "strace-plugin",
///     platforms: "linux",
///     backend: tot_backend_strace::StraceBackend::new()
/// );
/// ```
///
/// `backend` is evaluated once, on first use. Panics anywhere in it are caught at the
/// boundary and reported to tot as errors.
#[macro_export]
macro_rules! export_backend {
    (name: $name:literal, platforms: $platforms:literal, backend: $make:expr $(,)?) => {
        const _: () = {
            fn backend() -> &'static dyn $crate::tot_api::Backend {
                static BACKEND: ::std::sync::OnceLock<
                    ::std::boxed::Box<dyn $crate::tot_api::Backend>,
                > = ::std::sync::OnceLock::new();
                BACKEND
                    .get_or_init(|| ::std::boxed::Box::new($make))
                    .as_ref()
            }

            unsafe extern "C" fn availability(host: *const $crate::HostV1) -> i32 {
                // SAFETY: the host passes a HostV1 valid for the duration of the call.
                unsafe { $crate::availability_entry(backend, host) }
            }

            unsafe extern "C" fn trace(
                request: *const u8,
                request_len: usize,
                host: *const $crate::HostV1,
            ) -> i32 {
                // SAFETY: the host passes a request buffer and a HostV1 valid for the
                // duration of the call.
                unsafe { $crate::trace_entry(backend, request, request_len, host) }
            }

            static PLUGIN: $crate::ExportedPlugin = $crate::ExportedPlugin::new($crate::PluginV1 {
                abi_version: $crate::ABI_VERSION,
                name: concat!($name, "\0").as_ptr().cast(),
                platforms: concat!($platforms, "\0").as_ptr().cast(),
                availability,
                trace,
            });

            #[no_mangle]
            pub extern "C" fn tot_plugin_entry() -> *const $crate::PluginV1 {
                PLUGIN.as_ptr()
            }
        };
    };
}

/// The body of an exported `availability` function.
///
/// # Safety
///
/// `host` must point to a valid [`HostV1`] for the duration of the call.
pub unsafe fn availability_entry(
    backend: fn() -> &'static dyn Backend,
    host: *const HostV1,
) -> i32 {
    // SAFETY: the caller guarantees host is valid.
    let Some(host) = (unsafe { host.as_ref() }) else {
        return STATUS_ERROR;
    };
    let result = catch_unwind(|| WireAvailability::from(&backend().availability()));
    let (wire, status) = match result {
        Ok(wire) => (wire, STATUS_OK),
        Err(payload) => (
            WireAvailability::Unavailable {
                reason: format!("the plugin panicked: {}", panic_message(&*payload)),
                fix: "report the bug to the plugin's authors".into(),
            },
            STATUS_PANICKED,
        ),
    };
    let json = serde_json::to_vec(&wire).expect("availability is plain strings");
    // SAFETY: the host's callback takes a buffer valid for the call.
    unsafe { (host.finish)(host.context, json.as_ptr(), json.len()) };
    status
}

/// The body of an exported `trace` function: decodes the request, runs the backend with
/// a sink that streams to the host, and reports the result, or the panic.
///
/// # Safety
///
/// `request` must point to `request_len` readable bytes and `host` to a valid [`HostV1`],
/// both for the duration of the call.
pub unsafe fn trace_entry(
    backend: fn() -> &'static dyn Backend,
    request: *const u8,
    request_len: usize,
    host: *const HostV1,
) -> i32 {
    // SAFETY: the caller guarantees host is valid.
    let Some(host) = (unsafe { host.as_ref() }) else {
        return STATUS_ERROR;
    };
    let request_bytes: &[u8] = if request.is_null() {
        &[]
    } else {
        // SAFETY: the caller guarantees request_len readable bytes at request.
        unsafe { std::slice::from_raw_parts(request, request_len) }
    };
    let mut sink = HostSink::new(host);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let request = decode_request(request_bytes)?;
        backend()
            .trace(&request, &mut sink)
            .map_err(|err| WireResult::from(&err))
    }));
    // Whatever happened, the events already produced reach the host.
    sink.flush();
    let (wire, status) = match result {
        Ok(Ok(outcome)) => (
            WireResult::Outcome {
                status: outcome.status,
                root_pid: outcome.root_pid,
            },
            STATUS_OK,
        ),
        Ok(Err(error)) => (error, STATUS_ERROR),
        Err(payload) => (
            WireResult::Error {
                kind: "panicked".into(),
                message: format!("the plugin panicked: {}", panic_message(&*payload)),
            },
            STATUS_PANICKED,
        ),
    };
    let json = serde_json::to_vec(&wire).expect("results are plain data");
    // SAFETY: the host's callback takes a buffer valid for the call.
    unsafe { (host.finish)(host.context, json.as_ptr(), json.len()) };
    status
}

fn decode_request(bytes: &[u8]) -> Result<TraceRequest, WireResult> {
    let wire: WireRequest = serde_json::from_slice(bytes).map_err(|e| WireResult::Error {
        kind: "provider".into(),
        message: format!("the plugin could not read tot's request: {e}"),
    })?;
    Ok(TraceRequest {
        argv: wire.argv.iter().map(os_string).collect(),
        cwd: PathBuf::from(os_string(&wire.cwd)),
        options: wire.options,
    })
}

#[cfg(unix)]
fn os_string(bytes: &tot_api::Bytes) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes.0.clone())
}

#[cfg(not(unix))]
fn os_string(bytes: &tot_api::Bytes) -> OsString {
    OsString::from(bytes.to_str_lossy().into_owned())
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// Encodes events into event-stream lines and hands them to the host in batches.
struct HostSink<'a> {
    host: &'a HostV1,
    buffer: Vec<u8>,
    refused: bool,
}

impl<'a> HostSink<'a> {
    fn new(host: &'a HostV1) -> Self {
        let mut buffer = Vec::with_capacity(BATCH_BYTES + 4096);
        buffer.extend_from_slice(
            hello_line(Some(concat!("tot-plugin-abi ", env!("CARGO_PKG_VERSION")))).as_bytes(),
        );
        HostSink {
            host,
            buffer,
            refused: false,
        }
    }

    fn flush(&mut self) {
        if self.buffer.is_empty() || self.refused {
            self.buffer.clear();
            return;
        }
        // SAFETY: the host's callback takes a buffer valid for the call.
        let answer = unsafe {
            (self.host.write_events)(self.host.context, self.buffer.as_ptr(), self.buffer.len())
        };
        self.refused = answer != 0;
        self.buffer.clear();
    }
}

impl EventSink for HostSink<'_> {
    fn event(&mut self, event: Event) {
        if self.refused {
            return;
        }
        encode_event(&event, &mut self.buffer);
        if self.buffer.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        let wire = WireDiagnostic {
            severity: severity_name(diagnostic.severity).to_string(),
            line: diagnostic.line,
            message: diagnostic.message,
        };
        let json = serde_json::to_vec(&wire).expect("diagnostics are plain data");
        // SAFETY: the host's callback takes a buffer valid for the call.
        unsafe { (self.host.diagnostic)(self.host.context, json.as_ptr(), json.len()) };
    }
}
