//! Following the traced command through the events a backend produces.

use tot_api::{Diagnostic, Event, EventKind, EventSink, ExitStatus};

#[cfg(unix)]
use crate::SignalForwarder;

/// Passes events on, noting the traced command's pid (the first event's task) and its exit
/// status, so the status is known even when the provider fails afterwards. With a
/// [`SignalForwarder`], it also points the forwarder at the command as soon as its pid is
/// known.
pub struct RootWatch<'a> {
    inner: &'a mut dyn EventSink,
    #[cfg(unix)]
    forwarder: Option<&'a SignalForwarder>,
    /// The traced command's pid: the task of the first event.
    pub root: Option<u32>,
    /// The traced command's exit status, once its `Exit` passed by.
    pub exit: Option<ExitStatus>,
    /// Events passed on.
    pub events: u64,
}

impl<'a> RootWatch<'a> {
    /// Watch the events going into `inner`.
    pub fn new(inner: &'a mut dyn EventSink) -> Self {
        RootWatch {
            inner,
            #[cfg(unix)]
            forwarder: None,
            root: None,
            exit: None,
            events: 0,
        }
    }

    /// Forward signals to the traced command once its pid is known.
    #[cfg(unix)]
    pub fn forwarding(mut self, forwarder: &'a SignalForwarder) -> Self {
        self.forwarder = Some(forwarder);
        self
    }

    /// The sink the events go to.
    pub fn inner(&mut self) -> &mut dyn EventSink {
        self.inner
    }
}

impl EventSink for RootWatch<'_> {
    fn event(&mut self, event: Event) {
        self.events += 1;
        let root = match self.root {
            Some(root) => root,
            None => {
                self.root = Some(event.tid);
                #[cfg(unix)]
                if let Some(forwarder) = self.forwarder {
                    forwarder.set_target(event.tid);
                }
                event.tid
            }
        };
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

/// A child process's exit status in tot's terms.
pub fn exit_status_of(status: std::process::ExitStatus) -> ExitStatus {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ExitStatus::Signal {
                name: crate::signal_name(signal),
                core_dumped: status.core_dumped(),
            };
        }
    }
    match status.code() {
        Some(code) => ExitStatus::Code(code),
        None => ExitStatus::Unknown,
    }
}

/// `exited with status 3`, `was killed by SIGKILL`: for messages.
pub fn describe_status(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exited with status {code}"),
        ExitStatus::Signal { name, .. } => format!("was killed by {name}"),
        ExitStatus::Unknown => "ended".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_of_real_children() {
        let done = std::process::Command::new("sh")
            .args(["-c", "exit 3"])
            .status()
            .unwrap();
        assert_eq!(exit_status_of(done), ExitStatus::Code(3));
        let killed = std::process::Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .status()
            .unwrap();
        let status = exit_status_of(killed);
        assert_eq!(describe_status(&status), "was killed by SIGTERM");
    }
}
