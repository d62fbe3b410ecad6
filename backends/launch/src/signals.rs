//! Forwarding SIGINT, SIGTERM, SIGHUP and SIGQUIT to the traced command.
//!
//! A tracer launched around a command ignores these signals (strace does), so tot passes
//! them on itself. A signal typed at the terminal (Ctrl-C) already reaches the whole
//! foreground process group, the command included; forwarding it again would deliver it
//! twice. The kernel marks those with `si_code == SI_KERNEL`, and only the others are
//! forwarded. Either way tot itself keeps running until the tracer has finished, so the
//! record is complete and tot exits with the command's status.

use std::sync::atomic::{AtomicI32, Ordering};

/// The pid to forward to; 0 until known.
static TARGET: AtomicI32 = AtomicI32::new(0);
/// A signal that arrived before the target was known.
static PENDING: AtomicI32 = AtomicI32::new(0);

const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Installs the forwarding handlers; restores the previous ones on drop.
pub struct SignalForwarder {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl std::fmt::Debug for SignalForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalForwarder").finish_non_exhaustive()
    }
}

extern "C" fn forward(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let from_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    if from_terminal {
        return;
    }
    let target = TARGET.load(Ordering::SeqCst);
    if target > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(target, signal) };
    } else {
        PENDING.store(signal, Ordering::SeqCst);
    }
}

impl SignalForwarder {
    /// Install the handlers. Only one forwarder should be alive at a time.
    pub fn install() -> std::io::Result<Self> {
        TARGET.store(0, Ordering::SeqCst);
        PENDING.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for signal in FORWARDED {
            // SAFETY: a zeroed sigaction is a valid starting value; the handler only uses
            // async-signal-safe operations (atomics and kill).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = forward as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                previous.push((signal, old));
            }
        }
        Ok(SignalForwarder { previous })
    }

    /// Forward from now on to `pid`, and deliver a signal that arrived before it was known.
    pub fn set_target(&self, pid: u32) {
        let pid = i32::try_from(pid).unwrap_or(0);
        TARGET.store(pid, Ordering::SeqCst);
        let pending = PENDING.swap(0, Ordering::SeqCst);
        if pending != 0 && pid > 0 {
            // SAFETY: plain kill(2) on a pid we traced.
            unsafe { libc::kill(pid, pending) };
        }
    }
}

impl Drop for SignalForwarder {
    fn drop(&mut self) {
        TARGET.store(0, Ordering::SeqCst);
        for (signal, old) in &self.previous {
            // SAFETY: restoring the action that was installed before ours.
            unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
        }
    }
}
