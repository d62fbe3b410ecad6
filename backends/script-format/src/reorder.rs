//! Putting events from per-CPU buffers back into time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tot_api::{Diagnostic, Event, EventSink, Severity};

/// An [`EventSink`] that holds events back for a window of trace time and releases them
/// in timestamp order.
///
/// eBPF and DTrace both buffer per CPU, so a child's first event can be printed before the
/// fork that made it. Every event carries the kernel's timestamp; holding each one until
/// the stream has moved `window_ns` past it is enough to restore the order, because the
/// tracer drains each CPU's buffer many times per second. An event that still arrives
/// after a later one was released is passed on at once and counted, and [`finish`]
/// reports the count.
///
/// Events without a timestamp, and diagnostics, pass straight through.
///
/// [`finish`]: ReorderSink::finish
pub struct ReorderSink<'a> {
    inner: &'a mut dyn EventSink,
    window_ns: u64,
    heap: BinaryHeap<Reverse<Held>>,
    next_seq: u64,
    newest_ts: u64,
    released_ts: u64,
    late: u64,
}

struct Held {
    ts: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(other.ts, other.seq))
    }
}

impl<'a> ReorderSink<'a> {
    /// Reorder into `inner`, holding events for `window_ns` of trace time.
    pub fn new(inner: &'a mut dyn EventSink, window_ns: u64) -> Self {
        ReorderSink {
            inner,
            window_ns,
            heap: BinaryHeap::new(),
            next_seq: 0,
            newest_ts: 0,
            released_ts: 0,
            late: 0,
        }
    }

    /// Release every held event, report late ones, and return how many arrived too late
    /// to be put in order.
    pub fn finish(mut self) -> u64 {
        while let Some(Reverse(held)) = self.heap.pop() {
            self.inner.event(held.event);
        }
        if self.late > 0 {
            self.inner.diagnostic(Diagnostic {
                severity: Severity::Warning,
                line: None,
                message: format!(
                    "{} events arrived more than {} ms late and were kept out of time order",
                    self.late,
                    self.window_ns / 1_000_000
                ),
            });
        }
        self.late
    }

    fn release_until(&mut self, limit: u64) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.ts > limit {
                break;
            }
            if let Some(Reverse(held)) = self.heap.pop() {
                self.released_ts = self.released_ts.max(held.ts);
                self.inner.event(held.event);
            }
        }
    }
}

impl EventSink for ReorderSink<'_> {
    fn event(&mut self, event: Event) {
        let Some(ts) = event.ts else {
            self.inner.event(event);
            return;
        };
        if ts < self.released_ts {
            self.late += 1;
            self.inner.event(event);
            return;
        }
        self.newest_ts = self.newest_ts.max(ts);
        self.heap.push(Reverse(Held {
            ts,
            seq: self.next_seq,
            event,
        }));
        self.next_seq += 1;
        let limit = self.newest_ts.saturating_sub(self.window_ns);
        self.release_until(limit);
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.inner.diagnostic(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tot_api::{EventKind, ExitStatus};

    #[derive(Default)]
    struct Recorder(Vec<Event>, Vec<Diagnostic>);
    impl EventSink for Recorder {
        fn event(&mut self, event: Event) {
            self.0.push(event);
        }
        fn diagnostic(&mut self, diagnostic: Diagnostic) {
            self.1.push(diagnostic);
        }
    }

    fn exit_at(tid: u32, ts: u64) -> Event {
        Event {
            tid,
            ts: Some(ts),
            ev: EventKind::Exit {
                status: ExitStatus::Code(0),
            },
        }
    }

    #[test]
    fn restores_order_within_the_window_and_counts_stragglers() {
        let mut recorder = Recorder::default();
        let mut sink = ReorderSink::new(&mut recorder, 100);
        for (tid, ts) in [(1, 50), (2, 10), (3, 30), (4, 400), (5, 20), (6, 390)] {
            sink.event(exit_at(tid, ts));
        }
        assert_eq!(sink.finish(), 1);
        let order: Vec<u32> = recorder.0.iter().map(|e| e.tid).collect();
        // 10, 30, 50 were released when 400 arrived; 20 came after that and is late.
        assert_eq!(order, vec![2, 3, 1, 5, 6, 4]);
        assert_eq!(recorder.1.len(), 1);
    }
}
