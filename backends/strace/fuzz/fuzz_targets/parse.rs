//! Fuzz the strace parser: any bytes, whole and streamed, must parse without a panic and
//! give the same events both ways. Run with `cargo +nightly fuzz run parse` from
//! `backends/strace` (seed it with `../../tests/corpus/strace`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tot_api::{Diagnostic, Event, EventSink};

#[derive(Default)]
struct Keep(Vec<Event>);

impl EventSink for Keep {
    fn event(&mut self, event: Event) {
        self.0.push(event);
    }

    fn diagnostic(&mut self, _: Diagnostic) {}
}

fuzz_target!(|data: &[u8]| {
    let mut whole = Keep::default();
    let summary = tot_backend_strace::parse_log(data, &mut whole);
    let mut streamed = Keep::default();
    let streamed_summary =
        tot_backend_strace::parse_reader(data, &mut streamed).expect("memory reads");
    assert_eq!(summary, streamed_summary);
    assert_eq!(whole.0, streamed.0);
});
