//! tot's configuration (TOML discovery and merging) and the backend registry: built-ins,
//! external commands and plugins.
//!
//! Libraries elsewhere in tot take explicit paths; this crate is the one place that knows
//! where files live by default.

#![deny(missing_docs)]

pub mod paths;
