//! Caret compatibility of `MAJOR.MINOR[.PATCH]` versions.

/// `MAJOR.MINOR[.PATCH]` as numbers; `None` when it is not of that form.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(patch) => patch.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Whether a stream written at version `theirs` can be read by a reader of version `ours`,
/// in the sense of a caret requirement `^ours`: the same major version, and for major 0
/// the same minor version too. Fields added in a later minor version are optional, and a
/// reader ignores what it does not know.
pub fn is_compatible(theirs: &str, ours: &str) -> bool {
    match (parse_version(theirs), parse_version(ours)) {
        (Some((their_major, their_minor, _)), Some((our_major, our_minor, _))) => {
            their_major == our_major && (our_major != 0 || their_minor == our_minor)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_rules() {
        assert!(is_compatible("1.0", "1.0"));
        assert!(is_compatible("1.4", "1.0"));
        assert!(is_compatible("1.0.7", "1.2"));
        assert!(!is_compatible("2.0", "1.0"));
        assert!(!is_compatible("0.2", "0.1"));
        assert!(is_compatible("0.1.9", "0.1"));
        assert!(!is_compatible("one", "1.0"));
        assert!(!is_compatible("1", "1.0"));
        assert!(!is_compatible("1.0.0.0", "1.0"));
    }
}
