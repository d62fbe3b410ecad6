//! Writing records: streamed while a run is traced, or all at once.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tot_api::record::{FileAccess, ProcessEntry, RunHeader, RunRecord};

use crate::error::{Error, ErrorKind};

/// Flush the partial file at least this often, so a crash loses little.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// ... and at least every this many lines.
const FLUSH_LINES: usize = 10_000;

/// One record line, borrowed: the same wire form as [`tot_api::RecordLine`] without
/// cloning what is written.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum LineRef<'a> {
    Header(&'a RunHeader),
    Process(&'a ProcessEntry),
    Access(&'a FileAccess),
}

fn write_line<W: Write>(out: &mut W, line: &LineRef<'_>, path: &Path) -> Result<(), Error> {
    serde_json::to_writer(&mut *out, line).map_err(|e| {
        if e.is_io() {
            Error::io(path, e.into())
        } else {
            Error::new(
                ErrorKind::Encode {
                    message: e.to_string(),
                },
                path,
            )
        }
    })?;
    out.write_all(b"\n").map_err(|e| Error::io(path, e))
}

/// The file a [`RecordWriter`] streams into: `<final_path>.partial`.
pub fn partial_path(final_path: &Path) -> PathBuf {
    let mut name = OsString::from(final_path.as_os_str());
    name.push(".partial");
    PathBuf::from(name)
}

/// Streams a record to `<final>.partial` so that a crash leaves a readable file, then
/// writes the complete record atomically on [`finish`](RecordWriter::finish).
///
/// The partial file starts with the header as known at the start (no `end`, no exit
/// status), which is exactly what a record cut short looks like.
#[derive(Debug)]
pub struct RecordWriter {
    final_path: PathBuf,
    partial_path: PathBuf,
    out: BufWriter<File>,
    lines_since_flush: usize,
    last_flush: Instant,
}

impl RecordWriter {
    /// Creates `<final_path>.partial` (and missing parent directories) and writes the
    /// header line to it at once.
    pub fn create(final_path: &Path, header: &RunHeader) -> Result<RecordWriter, Error> {
        if let Some(parent) = final_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let partial_path = partial_path(final_path);
        let file = File::create(&partial_path).map_err(|e| Error::io(&partial_path, e))?;
        let mut writer = RecordWriter {
            final_path: final_path.to_path_buf(),
            partial_path,
            out: BufWriter::with_capacity(256 * 1024, file),
            lines_since_flush: 0,
            last_flush: Instant::now(),
        };
        write_line(
            &mut writer.out,
            &LineRef::Header(header),
            &writer.partial_path,
        )?;
        writer.flush()?;
        Ok(writer)
    }

    /// Appends process and access lines. They are buffered, and flushed to the partial
    /// file at least every second or every few thousand lines.
    pub fn append(
        &mut self,
        processes: &[ProcessEntry],
        accesses: &[FileAccess],
    ) -> Result<(), Error> {
        for process in processes {
            write_line(
                &mut self.out,
                &LineRef::Process(process),
                &self.partial_path,
            )?;
        }
        for access in accesses {
            write_line(&mut self.out, &LineRef::Access(access), &self.partial_path)?;
        }
        self.lines_since_flush += processes.len() + accesses.len();
        if self.lines_since_flush >= FLUSH_LINES || self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Pushes buffered lines to the partial file now.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out
            .flush()
            .map_err(|e| Error::io(&self.partial_path, e))?;
        self.lines_since_flush = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// The partial file being written.
    pub fn partial_file(&self) -> &Path {
        &self.partial_path
    }

    /// Writes the final record (this complete header first, then every line appended)
    /// atomically through a temporary file and a rename, removes the partial file, and
    /// returns the final path.
    pub fn finish(mut self, header: &RunHeader) -> Result<PathBuf, Error> {
        self.flush()?;
        let final_path = self.final_path.clone();
        let partial =
            File::open(&self.partial_path).map_err(|e| Error::io(&self.partial_path, e))?;
        let mut lines = BufReader::with_capacity(256 * 1024, partial);
        // Skip the provisional header line; the body is copied as written.
        let mut first_line = Vec::new();
        lines
            .read_until(b'\n', &mut first_line)
            .map_err(|e| Error::io(&self.partial_path, e))?;
        atomic_write(&final_path, |out| {
            write_line(out, &LineRef::Header(header), &final_path)?;
            std::io::copy(&mut lines, out).map_err(|e| Error::io(&self.partial_path, e))?;
            Ok(())
        })?;
        std::fs::remove_file(&self.partial_path).map_err(|e| Error::io(&self.partial_path, e))?;
        Ok(final_path)
    }
}

/// Writes a whole record at once, atomically (temporary file + rename).
pub fn write_record(path: &Path, record: &RunRecord) -> Result<(), Error> {
    atomic_write(path, |out| {
        write_line(out, &LineRef::Header(&record.header), path)?;
        for process in &record.processes {
            write_line(out, &LineRef::Process(process), path)?;
        }
        for access in &record.accesses {
            write_line(out, &LineRef::Access(access), path)?;
        }
        Ok(())
    })
}

/// Writes `path` through a temporary file in the same directory, synced and renamed into
/// place, so readers see either the old file or the whole new one.
fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), Error>,
) -> Result<(), Error> {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            dir.to_path_buf()
        }
        None => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".tot-record-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    {
        let mut out = BufWriter::with_capacity(256 * 1024, temp.as_file_mut());
        fill(&mut out)?;
        out.flush().map_err(|e| Error::io(path, e))?;
    }
    temp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    temp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tot_api::record::{AccessKind, RecordLine, RECORD_FORMAT, RECORD_VERSION};
    use tot_api::{Bytes, ExitStatus};

    fn header(end: Option<u64>) -> RunHeader {
        RunHeader {
            format: RECORD_FORMAT.into(),
            version: RECORD_VERSION,
            run_id: "r-1".into(),
            machine_id: "m".into(),
            hostname: "h".into(),
            os: "linux".into(),
            backend: "strace".into(),
            tot_version: "0.1.0".into(),
            argv: vec!["make".into()],
            cwd: "/src".into(),
            start: Some(1),
            end,
            exit: end.map(|_| ExitStatus::Code(0)),
        }
    }

    #[test]
    fn borrowed_lines_have_the_api_wire_form() {
        let header = header(Some(2));
        let access = FileAccess {
            id: "r-1:1:0:0".into(),
            process: "r-1:1:0".into(),
            path: Bytes(vec![b'/', 0xff]),
            kind: AccessKind::Write,
            source: None,
            sha256: Some("ab".into()),
            size: Some(3),
            mtime: None,
            time: Some(5),
            note: None,
        };
        let ours = serde_json::to_string(&LineRef::Header(&header)).unwrap();
        let api = serde_json::to_string(&RecordLine::Header(header.clone())).unwrap();
        assert_eq!(ours, api);
        let ours = serde_json::to_string(&LineRef::Access(&access)).unwrap();
        let api = serde_json::to_string(&RecordLine::Access(access.clone())).unwrap();
        assert_eq!(ours, api);
    }

    #[test]
    fn partial_file_is_readable_before_finish_and_gone_after() {
        let dir = tempfile::tempdir().unwrap();
        let final_path = dir.path().join("records/run.jsonl");
        let mut writer = RecordWriter::create(&final_path, &header(None)).unwrap();
        let partial = writer.partial_file().to_path_buf();
        assert_eq!(partial, dir.path().join("records/run.jsonl.partial"));
        // The header is on disk at once, before any append.
        let (record, errors) = crate::read_record(&partial).unwrap();
        assert!(errors.is_empty());
        assert_eq!(record.header.end, None);

        let process = ProcessEntry {
            id: "r-1:1:0".into(),
            pid: 1,
            parent: None,
            exe: Some("/usr/bin/make".into()),
            argv: vec!["make".into()],
            cwd: "/src".into(),
            start: Some(1),
            end: None,
            exit: None,
        };
        writer.append(std::slice::from_ref(&process), &[]).unwrap();
        writer.flush().unwrap();
        let (record, _) = crate::read_record(&partial).unwrap();
        assert_eq!(record.processes, vec![process.clone()]);

        let done = writer.finish(&header(Some(9))).unwrap();
        assert_eq!(done, final_path);
        assert!(!partial.exists());
        let (record, errors) = crate::read_record(&final_path).unwrap();
        assert!(errors.is_empty());
        assert_eq!(record.header, header(Some(9)));
        assert_eq!(record.processes, vec![process]);
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("records"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("run.jsonl")]);
    }
}
