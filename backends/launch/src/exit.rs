//! Exit statuses as the shell reports them.

use tot_api::ExitStatus;

/// The exit code a shell would give for `status`: the code itself, 128+N for signal N,
/// 1 when unknown.
pub fn exit_code(status: &ExitStatus) -> u8 {
    match status {
        ExitStatus::Code(code) => (*code & 0xff) as u8,
        ExitStatus::Signal { name, .. } => signal_number(name)
            .map(|n| (128 + n).min(255) as u8)
            .unwrap_or(1),
        ExitStatus::Unknown => 1,
    }
}

const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGSYS", libc::SIGSYS),
];

/// This OS's number for a signal name such as `SIGKILL` (or `KILL`).
pub fn signal_number(name: &str) -> Option<i32> {
    let full = if name.starts_with("SIG") {
        name.to_string()
    } else {
        format!("SIG{name}")
    };
    SIGNALS
        .iter()
        .find(|(n, _)| *n == full)
        .map(|(_, number)| *number)
}

/// This OS's name for a signal number, such as `SIGKILL` for 9.
pub fn signal_name(number: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, n)| *n == number)
        .map(|(name, _)| (*name).to_string())
        .unwrap_or_else(|| format!("SIG{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_exit_codes() {
        assert_eq!(exit_code(&ExitStatus::Code(3)), 3);
        let killed = ExitStatus::Signal {
            name: "SIGKILL".into(),
            core_dumped: false,
        };
        assert_eq!(exit_code(&killed), 137);
        assert_eq!(signal_number("TERM"), Some(libc::SIGTERM));
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
    }
}
