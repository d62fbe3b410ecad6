//! The DTrace backend (macOS) and the dtruss parser.
#![deny(missing_docs)]
