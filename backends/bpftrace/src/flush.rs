//! Ending a trace as soon as bpftrace has printed everything the command did, rather than
//! when bpftrace exits: detaching its probes takes it 0.3-0.5 s, because the kernel waits
//! for an RCU grace period per tracepoint.
//!
//! Once the command has exited, tot makes one marked `getcpu` call on every CPU and the
//! script prints a marker line for each ([`FLUSH_MARKER`]). bpftrace reads each CPU's buffer
//! in order, so once every CPU's marker has been read, so has every event recorded before.
//! If a marker cannot be made (a CPU tot may not run on), tot reads until bpftrace exits,
//! as it would without markers.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, OnceLock};

use crate::script::{FLUSH_MAGIC, FLUSH_MARKER};

/// The CPUs to mark: every online CPU, if this thread may run on each of them.
pub fn cpus_to_mark() -> Option<BTreeSet<usize>> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    let online = parse_cpu_list(online.trim())?;
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `allowed` is a valid cpu_set_t of the size given.
    let got = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&allowed), &mut allowed) };
    if got != 0 {
        return None;
    }
    // SAFETY: CPU_ISSET reads the set; cpu is below CPU_SETSIZE (checked).
    let may_run =
        |cpu: usize| cpu < libc::CPU_SETSIZE as usize && unsafe { libc::CPU_ISSET(cpu, &allowed) };
    online.iter().all(|&cpu| may_run(cpu)).then_some(online)
}

/// A kernel CPU list such as `0-3,8`.
fn parse_cpu_list(list: &str) -> Option<BTreeSet<usize>> {
    let mut cpus = BTreeSet::new();
    for part in list.split(',') {
        let (first, last): (usize, usize) = match part.split_once('-') {
            Some((first, last)) => (first.parse().ok()?, last.parse().ok()?),
            None => {
                let cpu = part.parse().ok()?;
                (cpu, cpu)
            }
        };
        cpus.extend(first..=last);
    }
    (!cpus.is_empty()).then_some(cpus)
}

/// Make the marked call on each CPU, from this thread (whose CPU affinity it changes, so
/// it is meant for a thread that ends soon after).
pub fn mark(cpus: &BTreeSet<usize>) {
    for &cpu in cpus {
        // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET writes within it.
        let mut only: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(cpu, &mut only) };
        // SAFETY: `only` is a valid cpu_set_t; 0 is the calling thread. Returning means
        // the thread has moved to that CPU.
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&only), &only) } != 0 {
            continue; // that CPU's marker never comes: tot reads until bpftrace exits
        }
        let mut on: libc::c_uint = 0;
        // SAFETY: getcpu writes one unsigned int to `on`; the third argument is unused by
        // the kernel and only marks the call for the script.
        unsafe {
            libc::syscall(
                libc::SYS_getcpu,
                &mut on as *mut libc::c_uint,
                std::ptr::null_mut::<libc::c_uint>(),
                FLUSH_MAGIC,
            )
        };
    }
}

/// Reads bpftrace's output through to the line format's parser, and ends (as at end of
/// file) once the marker of every expected CPU has been read.
pub struct UntilFlushed<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
    consumed: usize,
    expected: Arc<OnceLock<BTreeSet<usize>>>,
    seen: BTreeSet<usize>,
    flushed: bool,
}

impl<R: Read> UntilFlushed<R> {
    /// Read `inner`; `expected` is set to the CPUs to wait for, before their markers are made.
    pub fn new(inner: R, expected: Arc<OnceLock<BTreeSet<usize>>>) -> Self {
        UntilFlushed {
            inner: BufReader::new(inner),
            line: Vec::new(),
            consumed: 0,
            expected,
            seen: BTreeSet::new(),
            flushed: false,
        }
    }

    /// Whether reading ended on the markers (bpftrace may still be running) rather than
    /// at the end of its output.
    pub fn flushed(&self) -> bool {
        self.flushed
    }

    /// The reader, positioned after the last line passed on.
    pub fn into_inner(self) -> BufReader<R> {
        self.inner
    }

    fn note_marker(&mut self) {
        let Some(cpu) = self
            .line
            .strip_prefix(FLUSH_MARKER.as_bytes())
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(|rest| rest.trim_end().parse::<usize>().ok())
        else {
            return;
        };
        self.seen.insert(cpu);
        if let Some(expected) = self.expected.get() {
            self.flushed = expected.is_subset(&self.seen);
        }
    }
}

impl<R: Read> BufRead for UntilFlushed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed == self.line.len() && !self.flushed {
            self.line.clear();
            self.consumed = 0;
            self.inner.read_until(b'\n', &mut self.line)?;
            self.note_marker();
        }
        Ok(&self.line[self.consumed..])
    }

    fn consume(&mut self, amount: usize) {
        self.consumed = (self.consumed + amount).min(self.line.len());
    }
}

impl<R: Read> Read for UntilFlushed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let amount = available.len().min(buf.len());
        buf[..amount].copy_from_slice(&available[..amount]);
        self.consume(amount);
        Ok(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expecting(cpus: &[usize]) -> Arc<OnceLock<BTreeSet<usize>>> {
        let expected = Arc::new(OnceLock::new());
        let _ = expected.set(cpus.iter().copied().collect());
        expected
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-3,8"), Some([0, 1, 2, 3, 8].into()));
        assert_eq!(parse_cpu_list("0"), Some([0].into()));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn this_machine_can_be_marked() {
        let cpus = cpus_to_mark().expect("tot may run on every online CPU here");
        assert!(cpus.contains(&0));
    }

    #[test]
    fn reading_ends_after_the_last_expected_marker() {
        let output = "S\t1\t.\n#flush\t1\nS\t2\t.\n#flush\t0\nS\t3 after the markers\t.\n";
        let mut until = UntilFlushed::new(output.as_bytes(), expecting(&[0, 1]));
        let mut read = String::new();
        until.read_to_string(&mut read).unwrap();
        assert_eq!(read, "S\t1\t.\n#flush\t1\nS\t2\t.\n#flush\t0\n");
        assert!(until.flushed());
        let mut rest = String::new();
        until.into_inner().read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "S\t3 after the markers\t.\n");
    }

    #[test]
    fn without_every_marker_reading_goes_to_the_end() {
        let output = "S\t1\t.\n#flush\t1\nS\t2\t.\n";
        let mut until = UntilFlushed::new(output.as_bytes(), expecting(&[0, 1]));
        let mut lines = Vec::new();
        let mut line = String::new();
        while until.read_line(&mut line).unwrap() > 0 {
            lines.push(std::mem::take(&mut line));
        }
        assert_eq!(lines, ["S\t1\t.\n", "#flush\t1\n", "S\t2\t.\n"]);
        assert!(!until.flushed());
    }

    #[test]
    fn markers_before_the_expected_set_is_known_do_not_end_reading() {
        let output = "#flush\t0\nS\t1\t.\n";
        let mut until = UntilFlushed::new(output.as_bytes(), Arc::new(OnceLock::new()));
        let mut read = String::new();
        until.read_to_string(&mut read).unwrap();
        assert_eq!(read, output);
        assert!(!until.flushed());
    }
}
