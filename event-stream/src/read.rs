//! Decoding the stream: hello first, then one event per line.

use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;
use tot_api::{
    Diagnostic, Event, EventSink, Hello, Severity, EVENT_STREAM_PROTOCOL, EVENT_STREAM_VERSION,
};

use crate::error::{Error, ErrorKind};
use crate::version::is_compatible;

/// Counts from one decoded stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeSummary {
    /// Lines read, the hello and blank lines included.
    pub lines: u64,
    /// Events passed to the sink.
    pub events: u64,
    /// Lines that were not events (each was reported as a diagnostic).
    pub malformed: u64,
    /// The hello the stream began with, once read.
    pub hello: Option<Hello>,
}

/// A streaming decoder: feed it lines in order, it pushes events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    summary: DecodeSummary,
}

#[derive(Deserialize)]
struct HelloLine {
    hello: Hello,
}

/// How much of a bad line to quote in a message.
const QUOTED_BYTES: usize = 120;

impl StreamDecoder {
    /// A decoder waiting for the hello line.
    pub fn new() -> Self {
        StreamDecoder::default()
    }

    /// Counts so far.
    pub fn summary(&self) -> &DecodeSummary {
        &self.summary
    }

    /// The counts, once the stream has ended.
    pub fn into_summary(self) -> DecodeSummary {
        self.summary
    }

    /// Decode the next line (without its newline). Blank lines are skipped.
    ///
    /// Errors only when the stream cannot be read at all: the first line is not a hello,
    /// or names another protocol or an incompatible version. A malformed event line is a
    /// diagnostic with its line number, and decoding goes on.
    pub fn decode_line(&mut self, line: &[u8], sink: &mut dyn EventSink) -> Result<(), Error> {
        self.decode(line, true, sink)
    }

    /// Decode the last bytes of a stream that ended without a newline: reported as cut off
    /// when they do not decode.
    pub fn decode_unterminated_line(
        &mut self,
        line: &[u8],
        sink: &mut dyn EventSink,
    ) -> Result<(), Error> {
        self.decode(line, false, sink)
    }

    fn decode(
        &mut self,
        line: &[u8],
        complete: bool,
        sink: &mut dyn EventSink,
    ) -> Result<(), Error> {
        self.summary.lines += 1;
        let line = trim_line(line);
        if line.is_empty() {
            return Ok(());
        }
        if self.summary.hello.is_none() {
            let hello = read_hello(line)?;
            self.summary.hello = Some(hello);
            return Ok(());
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(event) => {
                self.summary.events += 1;
                sink.event(event);
            }
            Err(err) => {
                self.summary.malformed += 1;
                let message = if complete {
                    format!("malformed event ({err}): {}", quote(line))
                } else {
                    format!("the stream ended in the middle of a line: {}", quote(line))
                };
                sink.diagnostic(Diagnostic {
                    severity: Severity::Warning,
                    line: Some(self.summary.lines),
                    message,
                });
            }
        }
        Ok(())
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.trim_ascii()
}

fn read_hello(line: &[u8]) -> Result<Hello, Error> {
    let expected = format!(
        r#"{{"hello":{{"protocol":"{EVENT_STREAM_PROTOCOL}","v":"{EVENT_STREAM_VERSION}"}}}}"#
    );
    let hello = serde_json::from_slice::<HelloLine>(line)
        .map_err(|_| {
            Error::new(
                ErrorKind::NoHello,
                format!(
                    "the stream does not begin with a hello line such as {expected}; its first line is: {}",
                    quote(line)
                ),
            )
        })?
        .hello;
    if hello.protocol != EVENT_STREAM_PROTOCOL {
        return Err(Error::new(
            ErrorKind::WrongProtocol,
            format!(
                "the stream speaks protocol {:?}, not {EVENT_STREAM_PROTOCOL:?}",
                hello.protocol
            ),
        ));
    }
    if !is_compatible(&hello.v, EVENT_STREAM_VERSION) {
        return Err(Error::new(
            ErrorKind::IncompatibleVersion,
            format!(
                "the stream is {EVENT_STREAM_PROTOCOL} version {}{}, but this tot reads version {EVENT_STREAM_VERSION} (compatible: ^{EVENT_STREAM_VERSION})",
                hello.v,
                hello
                    .producer
                    .as_deref()
                    .map(|p| format!(" from {p}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(hello)
}

fn quote(line: &[u8]) -> String {
    let shown = &line[..line.len().min(QUOTED_BYTES)];
    let ellipsis = if line.len() > QUOTED_BYTES { "…" } else { "" };
    format!("{}{ellipsis}", String::from_utf8_lossy(shown))
}

/// Decode a whole stream as it is read, for example from the FIFO a plugin writes to while
/// the command runs. A last line without a newline that does not decode is reported as cut
/// off.
///
/// Errors when the stream is refused (see [`StreamDecoder::decode_line`]) or reading fails;
/// the events decoded before that have already reached `sink`.
pub fn decode_reader(reader: impl Read, sink: &mut dyn EventSink) -> Result<DecodeSummary, Error> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut decoder = StreamDecoder::new();
    let mut line = Vec::with_capacity(512);
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("reading the event stream failed: {e}"),
            )
        })?;
        if read == 0 {
            break;
        }
        let complete = line.last() == Some(&b'\n');
        decoder.decode(&line, complete, sink)?;
    }
    Ok(decoder.into_summary())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tot_api::EventKind;

    #[derive(Default)]
    struct Collect {
        events: Vec<Event>,
        diagnostics: Vec<Diagnostic>,
    }

    impl EventSink for Collect {
        fn event(&mut self, event: Event) {
            self.events.push(event);
        }
        fn diagnostic(&mut self, diagnostic: Diagnostic) {
            self.diagnostics.push(diagnostic);
        }
    }

    #[test]
    fn malformed_lines_are_reported_by_number_and_the_rest_kept() {
        let input = concat!(
            "{\"hello\":{\"protocol\":\"tot-events\",\"v\":\"1.3\",\"producer\":\"test\"}}\n",
            "{\"tid\":1,\"ev\":{\"exec\":{\"path\":\"/bin/true\",\"argv\":[\"true\"]}}}\n",
            "\n",
            "{\"tid\":1,\"ev\":{\"teleport\":{}}}\n",
            "this is not json\n",
            "{\"tid\":1,\"ev\":{\"exit\":{\"status\":{\"code\":3}}}}\r\n",
            "{\"tid\":1,\"ev\":{\"clo"
        );
        let mut sink = Collect::default();
        let summary = decode_reader(input.as_bytes(), &mut sink).unwrap();
        assert_eq!(summary.events, 2);
        assert_eq!(summary.malformed, 3);
        assert_eq!(summary.lines, 7);
        assert_eq!(summary.hello.unwrap().producer.as_deref(), Some("test"));
        let lines: Vec<_> = sink.diagnostics.iter().map(|d| d.line).collect();
        assert_eq!(lines, [Some(4), Some(5), Some(7)]);
        assert!(sink.diagnostics[0].message.contains("teleport"));
        assert!(sink.diagnostics[2]
            .message
            .contains("ended in the middle of a line"));
        assert!(matches!(
            sink.events[1].ev,
            EventKind::Exit {
                status: tot_api::ExitStatus::Code(3)
            }
        ));
    }

    #[test]
    fn a_stream_without_hello_is_refused() {
        let input = "{\"tid\":1,\"ev\":{\"close\":{\"fd\":3}}}\n";
        let err = decode_reader(input.as_bytes(), &mut Collect::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoHello);
        assert!(err.to_string().contains("\"close\""), "{err}");
    }

    #[test]
    fn an_incompatible_version_names_both_versions() {
        let input =
            "{\"hello\":{\"protocol\":\"tot-events\",\"v\":\"2.0\",\"producer\":\"future\"}}\n";
        let err = decode_reader(input.as_bytes(), &mut Collect::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IncompatibleVersion);
        let message = err.to_string();
        assert!(message.contains("version 2.0 from future"), "{message}");
        assert!(message.contains("reads version 1.0"), "{message}");
    }

    #[test]
    fn another_protocol_is_refused() {
        let input = "{\"hello\":{\"protocol\":\"nu-plugin\",\"v\":\"1.0\"}}\n";
        let err = decode_reader(input.as_bytes(), &mut Collect::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongProtocol);
    }
}
