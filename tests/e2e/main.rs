//! End-to-end tests: the real `tot` binary traces real programs under real tracers.
//!
//! Each test works in a fresh temp dir with its own data directory (`TOT_DATA_DIR`), and
//! reads records back as plain JSON, independently of tot's own types, so a change of
//! format is caught rather than mirrored.

mod support;

mod bpftrace;
mod plugins;
mod store;
mod strace;
