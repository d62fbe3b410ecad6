//! Reading and writing tot's event stream as JSON Lines: the plugin protocol's wire form.
//!
//! A program that prints this stream is a tot backend (see `docs/writing-a-backend.md`).
//! The stream is a hello line, then one [`Event`](tot_api::Event) per line:
//!
//! ```text
//! {"hello":{"protocol":"tot-events","v":"1.0","producer":"my-tracer 0.3"}}
//! {"tid":100,"ev":{"exec":{"path":"/bin/cat","argv":["cat","in"]}}}
//! {"tid":100,"ev":{"exit":{"status":{"code":0}}}}
//! ```
//!
//! - [`StreamDecoder`] and [`decode_reader`] read it: the hello is checked first (a stream
//!   whose version does not caret-match [`EVENT_STREAM_VERSION`](tot_api::EVENT_STREAM_VERSION)
//!   is refused, naming both versions); a malformed line becomes a
//!   [`Diagnostic`](tot_api::Diagnostic) carrying its line number, and decoding goes on.
//! - [`StreamWriter`] writes it, for plugin authors and tests.
//!
//! Both external-command backends and dynamic plugins decode through this crate, so a
//! stream means the same thing whichever route it took.

#![deny(missing_docs)]

mod error;
mod read;
mod version;
mod write;

pub use error::{Error, ErrorKind};
pub use read::{decode_reader, DecodeSummary, StreamDecoder};
pub use version::{is_compatible, parse_version};
pub use write::{encode_event, hello_line, StreamWriter};
