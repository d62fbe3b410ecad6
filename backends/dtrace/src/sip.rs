//! System Integrity Protection: when it stops DTrace, and which binaries it protects.

use std::path::Path;

/// What to do when SIP blocks DTrace.
pub const SIP_FIX: &str = "restart into Recovery (hold the power button on Apple silicon, Cmd-R on Intel), open Terminal, run `csrutil enable --without dtrace`, and restart";

/// Where macOS keeps binaries that SIP protects even with `--without dtrace`: DTrace
/// cannot trace them (nor anything signed with restricted entitlements). Copy such a
/// program elsewhere (`cp /bin/ls /tmp/ls`) and, if needed, remove its signature
/// (`codesign --remove-signature /tmp/ls`) to trace it. `/usr/local` is not protected.
pub const SIP_PROTECTED_DIRS: &[&str] = &[
    "/System",
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/libexec",
    "/usr/lib",
];

/// What `csrutil status` said about DTrace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipStatus {
    /// SIP is off, or on with the DTrace restriction off: DTrace works.
    DtraceAllowed,
    /// SIP restricts DTrace: syscall and proc probes cannot see protected processes, and
    /// `dtrace -c` refuses binaries with restricted entitlements.
    DtraceRestricted,
    /// The output was not understood.
    Unknown,
}

/// Read the output of `csrutil status`.
///
/// ```text
/// System Integrity Protection status: enabled.
/// System Integrity Protection status: disabled.
/// System Integrity Protection status: unknown (Custom Configuration).
///
/// Configuration:
///         ...
///         DTrace Restrictions: disabled
/// ```
pub fn sip_status(csrutil_output: &str) -> SipStatus {
    let lower = csrutil_output.to_ascii_lowercase();
    if let Some(line) = lower.lines().find(|l| l.contains("dtrace restrictions:")) {
        return if line.contains("disabled") {
            SipStatus::DtraceAllowed
        } else {
            SipStatus::DtraceRestricted
        };
    }
    match lower
        .lines()
        .find(|l| l.contains("system integrity protection status:"))
    {
        Some(line) if line.contains("disabled") => SipStatus::DtraceAllowed,
        Some(line) if line.contains("enabled") => SipStatus::DtraceRestricted,
        _ => SipStatus::Unknown,
    }
}

/// Whether SIP protects `program` from DTrace.
pub fn is_sip_protected(program: &Path) -> bool {
    !program.starts_with("/usr/local")
        && SIP_PROTECTED_DIRS
            .iter()
            .any(|dir| program.starts_with(dir))
}

/// The message for a trace that SIP blocks.
pub fn sip_message(what: &str) -> String {
    format!(
        "{what}: System Integrity Protection stops DTrace; to fix: {SIP_FIX}. Even then SIP protects the binaries in {} and anything signed with restricted entitlements: copy such a program elsewhere to trace it",
        SIP_PROTECTED_DIRS.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrutil_outputs() {
        assert_eq!(
            sip_status("System Integrity Protection status: enabled.\n"),
            SipStatus::DtraceRestricted
        );
        assert_eq!(
            sip_status("System Integrity Protection status: disabled.\n"),
            SipStatus::DtraceAllowed
        );
        let custom = "System Integrity Protection status: unknown (Custom Configuration).\n\nConfiguration:\n\tApple Internal: disabled\n\tKext Signing: enabled\n\tFilesystem Protections: enabled\n\tDebugging Restrictions: enabled\n\tDTrace Restrictions: disabled\n\tNVRAM Protections: enabled\n";
        assert_eq!(sip_status(custom), SipStatus::DtraceAllowed);
        assert_eq!(
            sip_status(&custom.replace(
                "DTrace Restrictions: disabled",
                "DTrace Restrictions: enabled"
            )),
            SipStatus::DtraceRestricted
        );
        assert_eq!(sip_status("csrutil: command not found"), SipStatus::Unknown);
    }

    #[test]
    fn protected_binaries() {
        assert!(is_sip_protected(Path::new("/bin/ls")));
        assert!(is_sip_protected(Path::new("/usr/bin/make")));
        assert!(!is_sip_protected(Path::new("/usr/local/bin/make")));
        assert!(!is_sip_protected(Path::new("/opt/homebrew/bin/gmake")));
        assert!(sip_message("x").contains("csrutil enable --without dtrace"));
    }
}
