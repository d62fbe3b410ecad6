//! Lexical path handling on raw bytes: paths never go through `String`.

use tot_api::Bytes;

/// Joins `path` onto the absolute directory `base` when `path` is relative, then
/// normalizes lexically: `.` and empty components vanish, `..` drops the previous
/// component and never climbs above `/`. Symlinks are not followed (nothing is read).
pub(crate) fn resolve(base: &[u8], path: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(base.len() + path.len() + 1);
    out.push(b'/');
    if path.first() != Some(&b'/') {
        push_components(&mut out, base);
    }
    push_components(&mut out, path);
    Bytes(out)
}

/// Normalizes an absolute path (a relative one is taken relative to `/`).
pub(crate) fn normalize(path: &[u8]) -> Bytes {
    resolve(b"/", path)
}

fn push_components(out: &mut Vec<u8>, path: &[u8]) {
    for component in path.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                let cut = out.iter().rposition(|&byte| byte == b'/').unwrap_or(0);
                out.truncate(cut.max(1));
            }
            name => {
                if out.len() > 1 {
                    out.push(b'/');
                }
                out.extend_from_slice(name);
            }
        }
    }
}

/// True when `path` is `prefix` or lies below it (component-wise, so `/procfoo` is not
/// under `/proc`). Both are normalized absolute paths.
pub(crate) fn is_under(path: &[u8], prefix: &[u8]) -> bool {
    if prefix == b"/" {
        return true;
    }
    path.starts_with(prefix) && (path.len() == prefix.len() || path[prefix.len()] == b'/')
}

/// `path` with its leading `from` replaced by `to`, when `path` is `from` or below it.
pub(crate) fn rebase(path: &[u8], from: &[u8], to: &[u8]) -> Option<Bytes> {
    if !is_under(path, from) {
        return None;
    }
    let rest = if from == b"/" {
        path
    } else {
        &path[from.len()..]
    };
    let mut out = Vec::with_capacity(to.len() + rest.len() + 1);
    out.extend_from_slice(to);
    out.extend_from_slice(rest);
    Some(normalize(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dots_and_slashes() {
        assert_eq!(resolve(b"/a/b", b"../c//./d").0, b"/a/c/d");
        assert_eq!(resolve(b"/a", b"/x/../../y").0, b"/y");
        assert_eq!(resolve(b"/", b"..").0, b"/");
        assert_eq!(resolve(b"/a/", b"").0, b"/a");
        assert_eq!(resolve(b"//a//b/", b"./c/").0, b"/a/b/c");
        assert_eq!(resolve(b"/a", b"\xff/.").0, b"/a/\xff");
    }

    #[test]
    fn under_is_component_wise() {
        assert!(is_under(b"/proc/self/maps", b"/proc"));
        assert!(is_under(b"/proc", b"/proc"));
        assert!(!is_under(b"/procfoo", b"/proc"));
        assert!(is_under(b"/anything", b"/"));
    }

    #[test]
    fn rebase_moves_children() {
        assert_eq!(rebase(b"/a/b/c", b"/a/b", b"/x").unwrap().0, b"/x/c");
        assert_eq!(rebase(b"/a/b", b"/a/b", b"/x").unwrap().0, b"/x");
        assert!(rebase(b"/a/bc", b"/a/b", b"/x").is_none());
    }
}
