//! Yajin's persistence on SQLite and PostgreSQL, on one code path.
//!
//! - [`sql`]: statements and rows on either database, written once; SQLite's writer runs them
//!   synchronously (rusqlite), the rest through sqlx.
//! - [`db`]: the connection pool, write transactions (on SQLite committed in groups:
//!   `group_commit`).
//! - [`bulk`]: bulk loading by each database's fastest path (`COPY` on PostgreSQL).
//! - [`migrate`]: embedded migrations per backend, all-or-nothing.
//! - [`pii`]: sealing of ID and bank card numbers, blind indexes.
//! - [`ledger`]: two-phase transfers persisted with conditional updates.
//! - [`audit`]: the append-only, hash-chained audit log.
//! - [`records`]: merchants, staff, plans, terminals, deposits, usage, outstanding items,
//!   refund applications and their timeline.

pub mod audit;
pub mod bulk;
pub mod db;
mod group_commit;
pub mod ledger;
pub mod migrate;
pub mod pii;
pub mod postgres_reads;
pub mod records;
pub mod sql;
pub mod sqlite_reader;

pub use db::{Backend, Db, DbOptions, DurableMark, Tx, CHECK_CONNECTIONS_IDLE_FOR};
pub use sql::Conn;
/// A connection borrowed from the pool; dereferences to [`Conn`].
pub type PooledConn = sqlx::pool::PoolConnection<sqlx::Any>;

use yajin_core::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not a database URL Yajin understands ({0}); use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    #[error("cannot reach the database at {0}")]
    Unreachable(String),
    #[error(
        "the database is at schema version {found}, newer than this yajin (knows up to {known}); run a newer yajin"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("migration {version} applied to this database differs from this yajin's copy; refusing to continue")]
    SchemaChanged { version: i64 },
    #[error("migration {version} failed, nothing was applied: {message}")]
    MigrationFailed { version: i64, message: String },
    #[error("personal data: {0}")]
    Pii(String),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("conflict: {0}")]
    Conflict(String),
    /// PostgreSQL gave up this transaction so that another could go on (a deadlock, or a
    /// serialization failure): it rolled back whole, nothing of it was written, and the same
    /// request again may succeed.
    #[error("the database stopped this transaction for another one, nothing was written: {0}")]
    Contention(String),
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
    /// The group transaction this work was part of did not commit: none of it happened.
    #[error("the commit failed, nothing was written: {0}")]
    CommitFailed(String),
    /// A text value held a NUL character, which PostgreSQL can neither store nor compare:
    /// refused before the statement ran, on both databases.
    #[error("a text value holds a NUL character")]
    Unstorable,
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// An error from SQLite's writer connection (rusqlite), other than a broken unique key.
    #[error("database error: {0}")]
    Sqlite(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e.as_database_error() {
            Some(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
            // deadlock_detected, serialization_failure
            Some(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
                StoreError::Contention(db.message().to_owned())
            }
            _ if matches!(e, sqlx::Error::PoolTimedOut) => {
                StoreError::Unreachable("its connection pool: no connection came free in time".into())
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

/// `$start, $start+1, …` for `count` values of an `IN (…)` list.
pub fn placeholders(start: usize, count: usize) -> String {
    (start..start + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A query over `sql`, with `ids` bound from `$1` on (for an `IN (…)` list made by
/// [`placeholders`]).
pub fn query_in<'q>(sql: &'q str, ids: &'q [String]) -> sql::Query<'q> {
    ids.iter().fold(sql::query(sql), |q, id| q.bind(id))
}

/// A page's condition on its id cursor, bound as `$2`, for a list newest first, with the value
/// to bind: `column < $2` when there is a cursor, a range an index ending in `column` seeks to;
/// for the first page (no cursor, or an empty one) `$2` is bound as '' and compared with ''
/// alone, once. One statement for both (`$2 = '' OR column < $2`) read every row newer than
/// the cursor on SQLite, and on PostgreSQL under a plan kept for every value.
pub fn before_cursor<'c>(column: &str, cursor: Option<&'c str>) -> (String, &'c str) {
    match cursor.filter(|id| !id.is_empty()) {
        Some(id) => (format!("{column} < $2"), id),
        None => ("$2 = ''".to_owned(), ""),
    }
}

/// The smallest id of `id`'s kind made `ms` milliseconds before it (for a cursor that looks back
/// over records written by slower writers); `id` itself when it is not one of ours.
pub fn id_before(id: &str, ms: u64) -> String {
    let Some((prefix, ulid)) = id.split_once('_') else { return id.to_owned() };
    let Ok(ulid) = ulid::Ulid::from_string(&ulid.to_ascii_uppercase()) else { return id.to_owned() };
    let at = ulid.timestamp_ms().saturating_sub(ms);
    format!("{prefix}_{}", ulid::Ulid::from_parts(at, 0).to_string().to_ascii_lowercase())
}

/// A subquery of the values of a JSON array of strings bound as `$1` (`… IN (<this>)`): a list
/// of thousands travels as one parameter, since binding them one by one costs more than the
/// lookup (the driver looks each parameter's name up).
///
/// On PostgreSQL the values pass through an array, which the planner takes for 10 values
/// rather than the 100 it assumes of a function's rows: planned for 100 against a table of a
/// few thousand rows, the lookup was a hash join over the whole table, a plan PostgreSQL then
/// kept for the connection's prepared statement while the table grew (each batch of a terminal
/// import scanned all of `ledger_accounts` so). Planned for 10, it is an index lookup a value,
/// whatever the table's size when it was planned.
pub fn json_list(conn: &Conn) -> &'static str {
    if conn.backend() == Backend::Postgres {
        "SELECT unnest(ARRAY(SELECT json_array_elements_text($1::json)))"
    } else {
        "SELECT value FROM json_each($1)"
    }
}

/// A subquery of the rows of a JSON array of arrays bound as `$1`, element `i` of each row
/// read as the column `columns[i]` (a name and its type, `TEXT` or `BIGINT`; JSON `null` reads
/// as NULL): `INSERT INTO t (…) <this> WHERE true` writes thousands of rows in one statement
/// and one parameter, on either database. (`WHERE true` lets SQLite's parser take an upsert
/// clause after it.) PostgreSQL reads the array as `jsonb`, parsed once: as `json`, each `->>`
/// parsed its row's text again up to the element, which made a row of thirty columns with a
/// long one cost a quarter of a millisecond.
pub fn json_rows(conn: &Conn, columns: &[(&str, &str)]) -> String {
    json_rows_for(conn.backend(), columns)
}

/// [`json_rows`] for a backend, for a statement built before any connection is at hand.
pub fn json_rows_for(backend: Backend, columns: &[(&str, &str)]) -> String {
    use std::fmt::Write;
    let mut sql = String::from("SELECT ");
    for (i, (name, kind)) in columns.iter().enumerate() {
        let comma = if i > 0 { ", " } else { "" };
        let _ = write!(sql, "{comma}CAST(value ->> {i} AS {kind}) AS {name}");
    }
    sql.push_str(if backend == Backend::Postgres {
        " FROM jsonb_array_elements($1::jsonb)"
    } else {
        " FROM json_each($1)"
    });
    sql
}

/// A list as the one JSON text bound as `$1`: the rows [`json_rows`] reads, or the values of
/// a [`json_list`].
pub fn json_array<T: serde::Serialize + ?Sized>(list: &T) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A new opaque id with a type prefix: `ra_01JD…`. ULIDs sort by creation time, which keeps
/// inserts at the end of indexes and makes cursors stable.
pub fn new_id(prefix: &str) -> String {
    // Monotonic within the process, so two rows written in the same millisecond still sort
    // in the order they were made.
    static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    // (A poisoned lock or a millisecond's random space used up falls back to a fresh ULID,
    // never to the nil one that `Ulid::default()` is.)
    let ulid = match GENERATOR.lock().ok().and_then(|mut g| g.generate().ok()) {
        Some(ulid) => ulid,
        None => ulid::Ulid::new(),
    };
    format!("{prefix}_{}", ulid.to_string().to_ascii_lowercase())
}
