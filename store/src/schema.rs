//! The schema, its version, and the migrations that bring an older store up to date.
//!
//! # Tables
//!
//! Paths, content hashes, argument vectors and notes are interned: stored once each in
//! their own table and referred to by integer id, so an access row holds only small
//! integers and two timestamps.
//!
//! | table | one row per |
//! |---|---|
//! | `tot_schema` | setting; `version` is the schema version |
//! | `machines` | machine id (hostname and OS as last seen) |
//! | `runs` | run (the record header) |
//! | `processes` | process exec epoch; `argv IS NULL` marks a process that accesses referred to but whose own line was not (yet) read |
//! | `accesses` | file access; `(process, ord)` is its identity, see the `sqlite` module |
//! | `paths`, `contents`, `argvs`, `notes` | distinct path / sha256 / argv / note |
//!
//! Access kinds are stored as small integers ([`kind_code`]); exit statuses as their
//! record JSON (`{"code":0}`).
//!
//! # Portability
//!
//! The statements use only what SQLite and PostgreSQL share (`INSERT ... RETURNING`,
//! `ON CONFLICT DO NOTHING`, partial indexes, `COALESCE`). The DDL below is SQLite's; a
//! PostgreSQL store differs only in column types (`BYTEA` for `BLOB`, `BIGINT`,
//! identity columns for `INTEGER PRIMARY KEY`) and in leaving out SQLite's
//! `WITHOUT ROWID` (which stores `accesses` in its primary key's order, saving a b-tree).

use tot_api::AccessKind;

/// The schema version this build creates and the newest it opens.
pub const SCHEMA_VERSION: u32 = 1;

/// `MIGRATIONS[n]` takes a store from version `n` to `n + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema.
    r#"
CREATE TABLE machines (
    id INTEGER PRIMARY KEY,
    machine_id TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    os TEXT NOT NULL
);
CREATE TABLE paths (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE
);
CREATE TABLE contents (
    id INTEGER PRIMARY KEY,
    sha256 BLOB NOT NULL UNIQUE,
    size INTEGER
);
CREATE TABLE argvs (
    id INTEGER PRIMARY KEY,
    argv TEXT NOT NULL UNIQUE
);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    note TEXT NOT NULL UNIQUE
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    machine INTEGER NOT NULL REFERENCES machines (id),
    hostname TEXT NOT NULL,
    os TEXT NOT NULL,
    backend TEXT NOT NULL,
    tot_version TEXT NOT NULL,
    record_version INTEGER NOT NULL,
    argv INTEGER NOT NULL REFERENCES argvs (id),
    cwd INTEGER NOT NULL REFERENCES paths (id),
    start_time INTEGER,
    end_time INTEGER,
    exit TEXT
);
CREATE INDEX runs_by_start ON runs (start_time);
CREATE TABLE processes (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs (id),
    local_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    parent INTEGER REFERENCES processes (id),
    exe INTEGER REFERENCES paths (id),
    argv INTEGER REFERENCES argvs (id),
    cwd INTEGER REFERENCES paths (id),
    start_time INTEGER,
    end_time INTEGER,
    exit TEXT,
    UNIQUE (run, local_id)
);
CREATE TABLE accesses (
    process INTEGER NOT NULL REFERENCES processes (id),
    ord INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    path INTEGER NOT NULL REFERENCES paths (id),
    content INTEGER REFERENCES contents (id),
    source INTEGER REFERENCES paths (id),
    mtime INTEGER,
    access_time INTEGER,
    note INTEGER REFERENCES notes (id),
    PRIMARY KEY (process, ord)
) WITHOUT ROWID;
CREATE INDEX accesses_by_content ON accesses (content, kind) WHERE content IS NOT NULL;
CREATE INDEX accesses_produced_at_path ON accesses (path) WHERE kind BETWEEN 3 AND 6;
"#,
];

/// The access kinds that produce the content at their path (`write`, `rename_to`,
/// `link`, `symlink`), as an SQL condition on `kind`. It must match the partial index
/// `accesses_produced_at_path` word for word, or SQLite will not use that index. (A
/// range, not an `IN` list: SQLite evaluates an `IN` list in a partial index's condition
/// through a temporary table on every insert, which made ingest twice as slow.)
pub(crate) const PRODUCING_KINDS_SQL: &str = "BETWEEN 3 AND 6";

/// The access kinds that take a file as an input (`read`, `exec`, `rename_from`).
pub(crate) const INPUT_KINDS_SQL: &str = "BETWEEN 0 AND 2";

/// The integer stored for an access kind.
pub fn kind_code(kind: AccessKind) -> i64 {
    // Inputs first, then outputs, so each group is a range (see PRODUCING_KINDS_SQL).
    match kind {
        AccessKind::Read => 0,
        AccessKind::Exec => 1,
        AccessKind::RenameFrom => 2,
        AccessKind::Write => 3,
        AccessKind::RenameTo => 4,
        AccessKind::Link => 5,
        AccessKind::Symlink => 6,
        AccessKind::Delete => 7,
        AccessKind::Mkdir => 8,
    }
}

/// The access kind of a stored integer.
pub fn kind_from_code(code: i64) -> Option<AccessKind> {
    Some(match code {
        0 => AccessKind::Read,
        1 => AccessKind::Exec,
        2 => AccessKind::RenameFrom,
        3 => AccessKind::Write,
        4 => AccessKind::RenameTo,
        5 => AccessKind::Link,
        6 => AccessKind::Symlink,
        7 => AccessKind::Delete,
        8 => AccessKind::Mkdir,
        _ => return None,
    })
}

/// True for the kinds whose content is an output of the process.
pub fn is_producing(kind: AccessKind) -> bool {
    matches!(
        kind,
        AccessKind::Write | AccessKind::RenameTo | AccessKind::Link | AccessKind::Symlink
    )
}

/// True for the kinds whose content is an input of the process.
pub fn is_input(kind: AccessKind) -> bool {
    matches!(
        kind,
        AccessKind::Read | AccessKind::Exec | AccessKind::RenameFrom
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_round_trip_and_match_the_sql_lists() {
        let all = [
            AccessKind::Read,
            AccessKind::Write,
            AccessKind::Exec,
            AccessKind::Delete,
            AccessKind::RenameFrom,
            AccessKind::RenameTo,
            AccessKind::Link,
            AccessKind::Symlink,
            AccessKind::Mkdir,
        ];
        let mut producing = Vec::new();
        let mut inputs = Vec::new();
        for kind in all {
            assert_eq!(kind_from_code(kind_code(kind)), Some(kind));
            if is_producing(kind) {
                producing.push(kind_code(kind));
            }
            if is_input(kind) {
                inputs.push(kind_code(kind));
            }
        }
        let range = |codes: &[i64]| format!("BETWEEN {} AND {}", codes[0], codes[codes.len() - 1]);
        assert!(producing.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(inputs.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(range(&producing), PRODUCING_KINDS_SQL);
        assert_eq!(range(&inputs), INPUT_KINDS_SQL);
        assert!(MIGRATIONS[0].contains(&format!("WHERE kind {PRODUCING_KINDS_SQL}")));
        assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION as usize);
    }
}
