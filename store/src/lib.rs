//! The provenance store: one schema and one set of queries over SQLite, for run records from many machines.

#![deny(missing_docs)]
