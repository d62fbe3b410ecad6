//! The bpftrace backend (Linux).
#![deny(missing_docs)]
