//! The backends compiled into tot.

use tot_api::Backend;

/// A backend compiled into tot: its name and how to make it.
#[derive(Debug, Clone, Copy)]
pub struct BuiltIn {
    /// The name users pass to `--backend`.
    pub name: &'static str,
    /// Makes the backend.
    pub make: fn() -> Box<dyn Backend>,
}

impl BuiltIn {
    /// A built-in backend.
    pub const fn new(name: &'static str, make: fn() -> Box<dyn Backend>) -> Self {
        BuiltIn { name, make }
    }
}

/// Every built-in backend, best first: when neither `--backend` nor the config names one,
/// tot uses the first of these that is usable here.
///
/// Adding a built-in is one line here (and the crate in this package's dependencies).
pub fn builtins() -> Vec<BuiltIn> {
    vec![
        #[cfg(unix)]
        BuiltIn::new("strace", || {
            Box::new(tot_backend_strace::StraceBackend::new())
        }),
        #[cfg(target_os = "linux")]
        BuiltIn::new("bpftrace", || {
            Box::new(tot_backend_bpftrace::BpftraceBackend::new())
        }),
        #[cfg(unix)]
        BuiltIn::new("dtrace", || {
            Box::new(tot_backend_dtrace::DtraceBackend::new())
        }),
    ]
}
