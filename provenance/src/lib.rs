//! The provenance builder: folds a tot event stream into a run record (process tree, fd tables, paths, hashes).

#![deny(missing_docs)]
