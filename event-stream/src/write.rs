//! Encoding the stream, for plugin authors and tests.

use std::io::{self, Write};

use tot_api::{Event, Hello, EVENT_STREAM_PROTOCOL, EVENT_STREAM_VERSION};

/// The hello line (with its newline) that begins a stream written by this version.
pub fn hello_line(producer: Option<&str>) -> String {
    #[derive(serde::Serialize)]
    struct HelloLine<'a> {
        hello: &'a Hello,
    }
    let hello = Hello {
        protocol: EVENT_STREAM_PROTOCOL.to_string(),
        v: EVENT_STREAM_VERSION.to_string(),
        producer: producer.map(str::to_string),
    };
    let mut line = serde_json::to_string(&HelloLine { hello: &hello })
        .expect("a Hello of plain strings always serializes");
    line.push('\n');
    line
}

/// Append `event` as one JSON line (with its newline) to `out`.
pub fn encode_event(event: &Event, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, event).expect("writing JSON into a Vec cannot fail");
    out.push(b'\n');
}

/// Writes a stream: the hello on creation, then one line per event.
#[derive(Debug)]
pub struct StreamWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> StreamWriter<W> {
    /// Write the hello line to `out` and return the writer. `producer` names the program
    /// in tot's messages.
    pub fn new(mut out: W, producer: Option<&str>) -> io::Result<Self> {
        out.write_all(hello_line(producer).as_bytes())?;
        Ok(StreamWriter {
            out,
            line: Vec::with_capacity(256),
        })
    }

    /// Write one event.
    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        self.line.clear();
        encode_event(event, &mut self.line);
        self.out.write_all(&self.line)
    }

    /// Flush and return the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tot_api::{Bytes, EventKind};

    #[test]
    fn written_streams_read_back() {
        let events = vec![
            Event {
                tid: 9,
                ts: Some(5),
                ev: EventKind::Exec {
                    dirfd: None,
                    path: Bytes(vec![b'/', 0xff]),
                    argv: vec!["x".into()],
                    env: None,
                    cwd: None,
                    argv_truncated: false,
                },
            },
            Event {
                tid: 9,
                ts: None,
                ev: EventKind::Close { fd: 3 },
            },
        ];
        let mut writer = StreamWriter::new(Vec::new(), Some("unit test")).unwrap();
        for event in &events {
            writer.event(event).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        struct Collect(Vec<Event>);
        impl tot_api::EventSink for Collect {
            fn event(&mut self, event: Event) {
                self.0.push(event);
            }
            fn diagnostic(&mut self, diagnostic: tot_api::Diagnostic) {
                panic!("unexpected diagnostic {diagnostic}");
            }
        }
        let mut sink = Collect(Vec::new());
        let summary = crate::decode_reader(&bytes[..], &mut sink).unwrap();
        assert_eq!(sink.0, events);
        assert_eq!(
            summary.hello.unwrap().producer.as_deref(),
            Some("unit test")
        );
    }
}
