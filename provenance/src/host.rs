//! Facts about this machine for the run header: a stable machine id, the hostname, the OS.

use sha2::{Digest, Sha256};

/// A stable id of this machine.
///
/// - Linux: the content of `/etc/machine-id`, or else `/var/lib/dbus/machine-id`.
/// - macOS: the `IOPlatformUUID` printed by `ioreg -rd1 -c IOPlatformExpertDevice`.
/// - Otherwise, or when those fail: `h-` followed by 32 hex digits of the sha256 of
///   `tot-machine:<hostname>`. That is stable as long as the hostname is, and distinct
///   between machines as long as hostnames are.
pub fn machine_id() -> String {
    platform_machine_id().unwrap_or_else(|| fallback_machine_id(&hostname()))
}

/// The machine's hostname, or `unknown` when it cannot be read.
pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the pointer and length describe `buffer`, which outlives the call;
    // gethostname writes at most `len` bytes.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return "unknown".into();
    }
    let end = buffer
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(buffer.len());
    let name = String::from_utf8_lossy(&buffer[..end]).trim().to_string();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

/// The OS name as the run header spells it: `linux`, `macos`, ...
pub fn os() -> &'static str {
    std::env::consts::OS
}

fn fallback_machine_id(hostname: &str) -> String {
    let digest = Sha256::digest(format!("tot-machine:{hostname}").as_bytes());
    format!("h-{}", &crate::hashing::hex(&digest)[..32])
}

#[cfg(target_os = "macos")]
fn platform_machine_id() -> Option<String> {
    let output = std::process::Command::new("ioreg")
        .args(["-rd1", "-c", "IOPlatformExpertDevice"])
        .output()
        .ok()?;
    parse_ioreg_uuid(&String::from_utf8_lossy(&output.stdout))
}

#[cfg(not(target_os = "macos"))]
fn platform_machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let id = text.trim();
            (!id.is_empty()).then(|| id.to_string())
        })
}

/// The value of `"IOPlatformUUID" = "…"` in `ioreg` output.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn parse_ioreg_uuid(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim().trim_matches('"') != "IOPlatformUUID" {
            return None;
        }
        let value = value.trim().trim_matches('"').trim();
        (!value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_id_is_stable_and_non_empty() {
        let first = machine_id();
        assert!(!first.is_empty());
        assert_eq!(first, machine_id());
    }

    #[test]
    fn fallback_depends_only_on_hostname() {
        let a = fallback_machine_id("box");
        assert_eq!(a, fallback_machine_id("box"));
        assert_ne!(a, fallback_machine_id("other"));
        assert_eq!(a.len(), 34);
    }

    #[test]
    fn ioreg_uuid_is_found() {
        let text = "+-o J314sAP  <class IOPlatformExpertDevice>\n    {\n      \"IOPlatformSerialNumber\" = \"XYZ\"\n      \"IOPlatformUUID\" = \"12345678-ABCD-4EF0-9876-0123456789AB\"\n    }\n";
        assert_eq!(
            parse_ioreg_uuid(text).as_deref(),
            Some("12345678-ABCD-4EF0-9876-0123456789AB")
        );
    }

    #[test]
    fn hostname_and_os_are_known() {
        assert!(!hostname().is_empty());
        assert!(!os().is_empty());
    }
}
