//! Reading records: header checks, then line by line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tot_api::record::{RecordLine, RunHeader, RunRecord, RECORD_FORMAT, RECORD_VERSION};

use crate::error::{Error, ErrorKind, LineError};

/// The header line is read with a cap, so a large binary file with no newline is refused
/// without reading it whole. Far above any real header (argv is bounded by the OS).
const HEADER_LINE_LIMIT: u64 = 64 * 1024 * 1024;

/// Iterates over the lines of a record: `(line_no, line or error)`, with 1-based line
/// numbers. Blank lines are skipped. A malformed line yields an error and the iteration
/// goes on; a read error yields an error with [`LineError::is_io`] and ends it.
///
/// It yields every line as it is, header lines included; [`open_record`] and
/// [`read_record`] check that the header comes first and only once.
#[derive(Debug)]
pub struct RecordReader<R: BufRead> {
    input: R,
    path: Option<PathBuf>,
    line_no: usize,
    buffer: Vec<u8>,
    done: bool,
}

impl<R: BufRead> RecordReader<R> {
    /// Reads lines from `input`, numbering from 1.
    pub fn new(input: R) -> Self {
        RecordReader {
            input,
            path: None,
            line_no: 0,
            buffer: Vec::new(),
            done: false,
        }
    }

    /// Names the file in line errors.
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// Sets the number of lines already consumed from `input` (for a reader that
    /// continues after a header read elsewhere).
    pub fn with_lines_consumed(mut self, lines: usize) -> Self {
        self.line_no = lines;
        self
    }

    /// The input, for example to ask a counting reader how far it got.
    pub fn get_ref(&self) -> &R {
        &self.input
    }

    /// The number of the last line read.
    pub fn line_no(&self) -> usize {
        self.line_no
    }

    fn line_error(&self, message: String, is_io: bool) -> LineError {
        LineError {
            path: self.path.clone(),
            line: self.line_no,
            message,
            is_io,
        }
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = (usize, Result<RecordLine, LineError>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            match self.input.read_until(b'\n', &mut self.buffer) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line_no += 1;
                    if self.buffer.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let parsed = serde_json::from_slice::<RecordLine>(&self.buffer)
                        .map_err(|e| self.line_error(describe_json_error(&e), false));
                    return Some((self.line_no, parsed));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    let line = self.line_no + 1;
                    let mut error = self.line_error(format!("read error: {e}"), true);
                    error.line = line;
                    return Some((line, Err(error)));
                }
            }
        }
        None
    }
}

/// serde_json counts lines within the one line it was given; only the column helps.
fn describe_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!(
            "malformed line: {} (column {})",
            &text[..at],
            error.column()
        ),
        None => format!("malformed line: {text}"),
    }
}

/// Opens a record file, checks its header, and returns the header and a reader over the
/// remaining lines.
///
/// Refused: a file that is not a tot run record (empty, not JSON, no header first, or a
/// `format` other than `tot-run`), and a record whose `version` is newer than
/// [`RECORD_VERSION`] (the error names both versions).
pub fn open_record(path: &Path) -> Result<(RunHeader, RecordReader<BufReader<File>>), Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    read_header(BufReader::with_capacity(256 * 1024, file), path)
}

/// Like [`open_record`], over any buffered input; `path` names the record in messages.
pub fn read_header<R: BufRead>(
    mut input: R,
    path: &Path,
) -> Result<(RunHeader, RecordReader<R>), Error> {
    let mut lines_consumed = 0;
    let mut first_line = Vec::new();
    loop {
        first_line.clear();
        let read = (&mut input)
            .take(HEADER_LINE_LIMIT)
            .read_until(b'\n', &mut first_line)
            .map_err(|e| Error::io(path, e))?;
        if read == 0 {
            let reason = if lines_consumed == 0 {
                "the file is empty"
            } else {
                "the file holds only blank lines"
            };
            return Err(not_a_record(path, reason));
        }
        lines_consumed += 1;
        if !first_line.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    let header = parse_header(path, &first_line)?;
    let reader = RecordReader::new(input)
        .with_path(path)
        .with_lines_consumed(lines_consumed);
    Ok((header, reader))
}

fn not_a_record(path: &Path, reason: &str) -> Error {
    Error::new(
        ErrorKind::NotARecord {
            reason: reason.to_string(),
        },
        path,
    )
}

fn parse_header(path: &Path, line: &[u8]) -> Result<RunHeader, Error> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|_| not_a_record(path, "the first line is not a JSON run header"))?;
    let Some(object) = value.as_object() else {
        return Err(not_a_record(path, "the first line is not a JSON object"));
    };
    let Some(header) = object.get("header").and_then(|h| h.as_object()) else {
        let reason = if object.contains_key("process") || object.contains_key("access") {
            "it does not start with a header line"
        } else {
            "the first line is not a run header"
        };
        return Err(not_a_record(path, reason));
    };
    match header.get("format").and_then(|f| f.as_str()) {
        Some(RECORD_FORMAT) => {}
        Some(other) => {
            return Err(not_a_record(
                path,
                &format!("its format is {other:?}, not {RECORD_FORMAT:?}"),
            ))
        }
        None => return Err(not_a_record(path, "its header has no \"format\"")),
    }
    // The version is checked before the rest: a newer header may have other fields.
    let version = header.get("version").and_then(|v| v.as_u64());
    match version {
        Some(found) if found > u64::from(RECORD_VERSION) => {
            return Err(Error::new(
                ErrorKind::NewerVersion {
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                    supported: RECORD_VERSION,
                },
                path,
            ))
        }
        Some(_) => {}
        None => {
            return Err(Error::new(
                ErrorKind::MalformedHeader {
                    message: "\"version\" is missing or not a number".into(),
                },
                path,
            ))
        }
    }
    let Some(header_value) = value.get("header") else {
        return Err(not_a_record(path, "the first line is not a run header"));
    };
    RunHeader::deserialize(header_value).map_err(|e| {
        Error::new(
            ErrorKind::MalformedHeader {
                message: e.to_string(),
            },
            path,
        )
    })
}

/// Reads a whole record into memory.
///
/// Returns the record and the lines that were skipped (malformed lines, and header lines
/// after the first); see [`open_record`] for what is refused outright.
pub fn read_record(path: &Path) -> Result<(RunRecord, Vec<LineError>), Error> {
    let (header, reader) = open_record(path)?;
    let mut record = RunRecord {
        header,
        processes: Vec::new(),
        accesses: Vec::new(),
    };
    let mut skipped = Vec::new();
    for (line, parsed) in reader {
        match parsed {
            Ok(RecordLine::Process(process)) => record.processes.push(process),
            Ok(RecordLine::Access(access)) => record.accesses.push(access),
            Ok(RecordLine::Header(_)) => skipped.push(LineError {
                path: Some(path.to_path_buf()),
                line,
                message: "a second header line (one record per file)".into(),
                is_io: false,
            }),
            Err(error) if error.is_io => {
                return Err(Error::io(path, std::io::Error::other(error.message)));
            }
            Err(error) => skipped.push(error),
        }
    }
    Ok((record, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_record;
    use tot_api::record::{AccessKind, FileAccess, ProcessEntry};
    use tot_api::{Bytes, ExitStatus};

    fn sample_record() -> RunRecord {
        let weird = Bytes(vec![b'/', b't', b'm', b'p', b'/', 0xff, 0xfe, b'\n', b'x']);
        RunRecord {
            header: RunHeader {
                format: RECORD_FORMAT.into(),
                version: RECORD_VERSION,
                run_id: "r-1".into(),
                machine_id: "m".into(),
                hostname: "h".into(),
                os: "linux".into(),
                backend: "strace".into(),
                tot_version: "0.1.0".into(),
                argv: vec!["cp".into(), weird.clone()],
                cwd: Bytes(vec![b'/', 0x80]),
                start: Some(1),
                end: Some(2),
                exit: Some(ExitStatus::Signal {
                    name: "SIGKILL".into(),
                    core_dumped: false,
                }),
            },
            processes: vec![ProcessEntry {
                id: "r-1:7:0".into(),
                pid: 7,
                parent: None,
                exe: Some(Bytes(vec![b'/', 0xc3])),
                argv: vec!["cp".into(), weird.clone()],
                cwd: "/".into(),
                start: Some(1),
                end: Some(2),
                exit: Some(ExitStatus::Code(3)),
            }],
            accesses: vec![FileAccess {
                id: "r-1:7:0:0".into(),
                process: "r-1:7:0".into(),
                path: weird.clone(),
                kind: AccessKind::RenameTo,
                source: Some(weird),
                sha256: Some("00ff".into()),
                size: Some(2),
                mtime: Some(-5),
                time: Some(1),
                note: None,
            }],
        }
    }

    #[test]
    fn non_utf8_paths_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let record = sample_record();
        write_record(&path, &record).unwrap();
        let (back, errors) = read_record(&path).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(back, record);
    }

    #[test]
    fn malformed_lines_are_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let record = sample_record();
        write_record(&path, &record).unwrap();
        let mut text = std::fs::read(&path).unwrap();
        // Line 2 is the process; insert garbage as line 3 and a cut line at the end.
        let first_newline = text.iter().position(|&b| b == b'\n').unwrap();
        let second_newline = first_newline
            + 1
            + text[first_newline + 1..]
                .iter()
                .position(|&b| b == b'\n')
                .unwrap();
        text.splice(
            second_newline + 1..second_newline + 1,
            b"{not json\n\n".iter().copied(),
        );
        text.extend_from_slice(b"{\"access\":{\"id\":\"x\"");
        std::fs::write(&path, &text).unwrap();

        let (back, errors) = read_record(&path).unwrap();
        assert_eq!(back.processes, record.processes);
        assert_eq!(back.accesses, record.accesses);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 6]);
        let shown = errors[0].to_string();
        assert!(
            shown.starts_with(&format!("{}:3: malformed line", path.display())),
            "{shown}"
        );
    }

    #[test]
    fn foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8]); 5] = [
            ("empty", b""),
            ("text", b"hello world\n"),
            ("json", b"{\"name\":\"package\"}\n"),
            (
                "other-format",
                b"{\"header\":{\"format\":\"other\",\"version\":1}}\n",
            ),
            ("binary", b"\x7fELF\x02\x01\x01\x00\x00\x00"),
        ];
        for (name, content) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let error = read_record(&path).unwrap_err();
            assert!(
                matches!(error.kind(), ErrorKind::NotARecord { .. }),
                "{name}: {error}"
            );
            let shown = error.to_string();
            assert!(shown.contains("not a tot run record"), "{shown}");
            assert!(shown.contains(&path.display().to_string()), "{shown}");
        }
    }

    #[test]
    fn newer_versions_are_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.jsonl");
        std::fs::write(
            &path,
            b"{\"header\":{\"format\":\"tot-run\",\"version\":7,\"brand_new\":true}}\n",
        )
        .unwrap();
        let error = read_record(&path).unwrap_err();
        assert_eq!(
            error.kind(),
            &ErrorKind::NewerVersion {
                found: 7,
                supported: RECORD_VERSION
            }
        );
        let shown = error.to_string();
        assert!(shown.contains("version 7"), "{shown}");
        assert!(
            shown.contains(&format!("version {RECORD_VERSION}")),
            "{shown}"
        );
    }

    #[test]
    fn a_second_header_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twice.jsonl");
        write_record(&path, &sample_record()).unwrap();
        let once = std::fs::read(&path).unwrap();
        std::fs::write(&path, [once.clone(), once].concat()).unwrap();
        let (back, errors) = read_record(&path).unwrap();
        assert_eq!(back.processes.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 4);
        assert!(errors[0].message.contains("second header"));
    }
}
