//! End-to-end tests: real programs under real tracers.
