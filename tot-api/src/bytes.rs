//! Byte strings that survive a round trip through JSON.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte string: a path, an argument or an environment entry.
///
/// Paths are bytes on Unix and need not be UTF-8. On the wire a `Bytes` is a plain JSON
/// string when it is valid UTF-8 (the common case, cheap to read and to grep), and
/// otherwise an object `{"b64": "<standard base64 of the raw bytes>"}`. Both forms decode
/// to the same bytes, so nothing is lost.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The raw bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A lossy UTF-8 rendering, for display only.
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The bytes as an OS path (Unix: exact).
    #[cfg(unix)]
    pub fn as_path(&self) -> &std::path::Path {
        use std::os::unix::ffi::OsStrExt;
        std::path::Path::new(std::ffi::OsStr::from_bytes(&self.0))
    }

    /// Bytes of an OS string (Unix: exact).
    #[cfg(unix)]
    pub fn from_os_str(s: &std::ffi::OsStr) -> Self {
        use std::os::unix::ffi::OsStrExt;
        Bytes(s.as_bytes().to_vec())
    }
}

impl From<&str> for Bytes {
    fn from(s: &str) -> Self {
        Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for Bytes {
    fn from(s: String) -> Self {
        Bytes(s.into_bytes())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.escape_ascii().to_string())
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(&self.0);
                map.serialize_entry("b64", &encoded)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a string or {"b64": "<base64>"}"#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
        Ok(Bytes(v.as_bytes().to_vec()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Bytes, E> {
        Ok(Bytes(v.into_bytes()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bytes, A::Error> {
        let mut decoded = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "b64" {
                return Err(de::Error::unknown_field(&key, &["b64"]));
            }
            let text: std::borrow::Cow<'de, str> = map.next_value()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| de::Error::custom(format!("bad base64 in byte string: {e}")))?;
            decoded = Some(Bytes(bytes));
        }
        decoded.ok_or_else(|| de::Error::missing_field("b64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_a_plain_string() {
        let json = serde_json::to_string(&Bytes::from("/tmp/a b")).unwrap();
        assert_eq!(json, r#""/tmp/a b""#);
        assert_eq!(
            serde_json::from_str::<Bytes>(&json).unwrap(),
            Bytes::from("/tmp/a b")
        );
    }

    #[test]
    fn non_utf8_round_trips_losslessly() {
        let raw = Bytes(vec![b'/', b't', 0xff, 0xfe, b'x']);
        let json = serde_json::to_string(&raw).unwrap();
        assert_eq!(json, r#"{"b64":"L3T//ng="}"#);
        assert_eq!(serde_json::from_str::<Bytes>(&json).unwrap(), raw);
    }

    #[test]
    fn unknown_key_is_an_error() {
        assert!(serde_json::from_str::<Bytes>(r#"{"hex":"00"}"#).is_err());
    }
}
