//! tot's stable contracts: the [`Backend`] trait, the [event stream](event) and the
//! [run record](record).
//!
//! This crate holds types only. It does no I/O, so a third-party backend can depend on it
//! without pulling in the rest of tot.
//!
//! # Data flow
//!
//! A [`Backend`] launches a tracer around a command and pushes one [`Event`] per observed
//! action into an [`EventSink`]. The provenance builder (crate `tot-provenance`) folds that
//! stream into a [`record::RunRecord`]: processes, file accesses and content hashes.
//!
//! Both formats are versioned ([`EVENT_STREAM_VERSION`], [`record::RECORD_VERSION`]) and
//! their JSON Lines form is documented on the types.

#![deny(missing_docs)]

mod backend;
mod bytes;
pub mod event;
pub mod record;

pub use backend::{
    Availability, Backend, BackendError, BackendErrorKind, Diagnostic, EventSink, Severity,
    TraceOutcome, TraceRequest,
};
pub use bytes::Bytes;
pub use event::{
    Access, Event, EventKind, ExitStatus, Hello, OpenFlags, Outcome, PathAt, EVENT_STREAM_PROTOCOL,
    EVENT_STREAM_VERSION,
};
pub use record::{AccessKind, FileAccess, ProcessEntry, RecordLine, RunHeader, RunRecord};
