//! Escaping of string fields, so that any byte string travels inside one tab-separated field.

use std::fmt;

/// Escape `bytes` for an `escaped` stream: printable ASCII other than `\` stays as it is,
/// `\` becomes `\\`, tab, newline and carriage return become `\t`, `\n` and `\r`, and every
/// other byte becomes `\xHH`. [`unescape`] gives the bytes back exactly.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out
}

/// A backslash sequence that is not one of the escapes [`unescape`] knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEscape {
    /// Byte offset of the backslash within the field.
    pub offset: usize,
}

impl fmt::Display for BadEscape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad escape sequence at byte {}", self.offset)
    }
}

/// Undo the escaping of one field.
///
/// Accepts what [`escape`] writes and what DTrace's `%S` conversion prints: the C escapes
/// `\\ \" \' \? \a \b \f \n \r \t \v`, octal `\N`, `\NN`, `\NNN` (so `\0`) and hex `\xHH`.
/// A NUL byte ends the string (DTrace prints the terminator of `copyinstr` as `\0`).
pub fn unescape(field: &[u8]) -> Result<Vec<u8>, BadEscape> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let byte = field[i];
        if byte != b'\\' {
            out.push(byte);
            i += 1;
            continue;
        }
        let start = i;
        let Some(&next) = field.get(i + 1) else {
            return Err(BadEscape { offset: start });
        };
        i += 2;
        let decoded = match next {
            b'\\' => b'\\',
            b'"' => b'"',
            b'\'' => b'\'',
            b'?' => b'?',
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'x' => {
                let hex = field.get(i..i + 2).ok_or(BadEscape { offset: start })?;
                let text = std::str::from_utf8(hex).map_err(|_| BadEscape { offset: start })?;
                let value =
                    u8::from_str_radix(text, 16).map_err(|_| BadEscape { offset: start })?;
                i += 2;
                value
            }
            b'0'..=b'7' => {
                let mut value: u32 = u32::from(next - b'0');
                let mut digits = 1;
                while digits < 3 {
                    match field.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                            digits += 1;
                        }
                        _ => break,
                    }
                }
                u8::try_from(value).map_err(|_| BadEscape { offset: start })?
            }
            _ => return Err(BadEscape { offset: start }),
        };
        out.push(decoded);
    }
    if let Some(nul) = out.iter().position(|&b| b == 0) {
        out.truncate(nul);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (1..=255u8).collect();
        let escaped = escape(&all);
        assert!(!escaped.contains('\t') && !escaped.contains('\n'));
        assert_eq!(unescape(escaped.as_bytes()).unwrap(), all);
        let tricky = b"a\\x41b\tc\nd\xff".to_vec();
        assert_eq!(unescape(escape(&tricky).as_bytes()).unwrap(), tricky);
    }

    #[test]
    fn dtrace_percent_s_upper_forms() {
        assert_eq!(
            unescape(br"/dev/dtracehelper\0").unwrap(),
            b"/dev/dtracehelper"
        );
        assert_eq!(unescape(br" \001\0").unwrap(), b" \x01");
        assert_eq!(unescape(br#"say \"hi\"\n"#).unwrap(), b"say \"hi\"\n");
        assert_eq!(unescape(br"\303\251t\351").unwrap(), b"\xc3\xa9t\xe9");
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(unescape(br"abc\").unwrap_err(), BadEscape { offset: 3 });
        assert!(unescape(br"\q").is_err());
        assert!(unescape(br"\x4").is_err());
        assert!(unescape(br"\777").is_err());
    }
}
