//! Parse strace output into tot events. (API skeleton; the implementation is being written.)

use std::io::Read;

use tot_api::EventSink;

/// What a log turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogKind {
    /// A syscall trace.
    #[default]
    Trace,
    /// A `strace -c` summary table: not a trace.
    Summary,
    /// Nothing at all.
    Empty,
}

/// Counts from one parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Lines read.
    pub lines: u64,
    /// Lines that could not be parsed (each was reported as a diagnostic).
    pub errors: u64,
    /// What the input was.
    pub kind: LogKind,
}

/// A streaming strace parser: feed it lines, it pushes events.
#[derive(Debug, Default)]
pub struct StraceParser {}

impl StraceParser {
    /// A parser with no state.
    pub fn new() -> Self {
        StraceParser {}
    }

    /// Parse one line (without its newline). `line_no` is 1-based.
    pub fn parse_line(&mut self, _line: &[u8], _line_no: u64, _sink: &mut dyn EventSink) {}

    /// End of input: report what is still pending.
    pub fn finish(&mut self, _sink: &mut dyn EventSink) -> ParseSummary {
        ParseSummary::default()
    }
}

/// Parse a whole log in memory.
pub fn parse_log(input: &[u8], sink: &mut dyn EventSink) -> ParseSummary {
    let mut parser = StraceParser::new();
    for (i, line) in input.split(|b| *b == b'\n').enumerate() {
        parser.parse_line(line, i as u64 + 1, sink);
    }
    parser.finish(sink)
}

/// Parse a log as it is read, for example from the FIFO strace writes to while the
/// command runs. A last line without a newline is reported as cut off.
pub fn parse_reader(mut reader: impl Read, sink: &mut dyn EventSink) -> std::io::Result<ParseSummary> {
    let mut all = Vec::new();
    reader.read_to_end(&mut all)?;
    Ok(parse_log(&all, sink))
}
