//! Following the traced command through the events a plugin sends.

use tot_api::{Diagnostic, Event, EventKind, EventSink, ExitStatus};

/// Passes events on, noting the traced command's pid (the first event's task) and its
/// exit status, so the status is known even when the plugin fails afterwards.
pub(crate) struct RootWatch<'a> {
    pub inner: &'a mut dyn EventSink,
    pub root: Option<u32>,
    pub exit: Option<ExitStatus>,
    pub events: u64,
}

impl<'a> RootWatch<'a> {
    pub fn new(inner: &'a mut dyn EventSink) -> Self {
        RootWatch {
            inner,
            root: None,
            exit: None,
            events: 0,
        }
    }
}

impl EventSink for RootWatch<'_> {
    fn event(&mut self, event: Event) {
        self.events += 1;
        let root = *self.root.get_or_insert(event.tid);
        if root == event.tid {
            if let EventKind::Exit { status } = &event.ev {
                self.exit = Some(status.clone());
            }
        }
        self.inner.event(event);
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.inner.diagnostic(diagnostic);
    }
}

/// A process's exit status in tot's terms.
pub(crate) fn status_of(status: std::process::ExitStatus) -> ExitStatus {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ExitStatus::Signal {
                name: tot_launch::signal_name(signal),
                core_dumped: status.core_dumped(),
            };
        }
    }
    match status.code() {
        Some(code) => ExitStatus::Code(code),
        None => ExitStatus::Unknown,
    }
}

/// `exited with status 3`, `was killed by SIGKILL`.
pub(crate) fn describe(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exited with status {code}"),
        ExitStatus::Signal { name, .. } => format!("was killed by {name}"),
        ExitStatus::Unknown => "ended".to_string(),
    }
}
