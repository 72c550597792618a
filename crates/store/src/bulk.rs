//! Bulk loading of usage records by the fastest path each database has: on SQLite prepared
//! inserts of many rows a statement in one transaction per batch, on a connection used
//! synchronously (no hand-off to a worker thread per statement); on PostgreSQL `COPY` into the
//! table, or, when the batch holds a reference already recorded, into a temporary table and one
//! `INSERT … SELECT` from it. Either way a batch is all or nothing, a
//! reference already recorded is skipped, and every commit is as durable as any other
//! (`synchronous=FULL` on SQLite).

use std::path::PathBuf;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

use crate::db::Backend;
use crate::records::terminals::NewUsage;
use crate::{Db, StoreError};

/// Where a [`UsageLoader`] writes, opened on first use and kept for the next batch.
enum Target {
    Sqlite {
        path: PathBuf,
        busy_timeout: Duration,
        conn: Option<rusqlite::Connection>,
    },
    Postgres {
        url: String,
        conn: Option<PgConnection>,
    },
    /// An in-memory SQLite database (tests), only reachable through its pool.
    Pool,
}

/// Loads batches of usage records; see the module's documentation.
pub struct UsageLoader {
    db: Db,
    target: Target,
}

/// Rows a statement of the SQLite loader inserts. Each statement is an undo point of its own
/// (a statement journal: the row's trigger writes a second table, and a `CHECK` can fail
/// midway), opened, filled and closed with the statement; a statement per row paid for that
/// once a row. 64 rows of seven columns are 448 parameters, well inside SQLite's 32,766.
const SQLITE_ROWS_PER_STATEMENT: usize = 64;

/// The insert of `rows` usage records, seven parameters a row.
fn sqlite_insert(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
    }
    sql.push_str(" ON CONFLICT (ref) DO NOTHING");
    sql
}

impl UsageLoader {
    pub fn new(db: &Db) -> UsageLoader {
        let target = match (db.backend(), db.sqlite_reader()) {
            (Backend::Sqlite, Some(reader)) => {
                Target::Sqlite { path: reader.path().to_owned(), busy_timeout: reader.busy_timeout(), conn: None }
            }
            (Backend::Sqlite, None) => Target::Pool,
            (Backend::Postgres, _) => {
                Target::Postgres { url: db.postgres_url().unwrap_or_default().to_owned(), conn: None }
            }
        };
        UsageLoader { db: db.clone(), target }
    }

    /// How many loaders write at once with profit. SQLite has one writer. PostgreSQL inserts on
    /// each connection's own backend: two batches at once loaded a million records in 7.3 s
    /// against 10.8 s one after the other (docs/benchmarks.md, session 21); each waits for the
    /// other only to count the volume of terminals both name, at the end.
    pub fn at_once(db: &Db) -> usize {
        match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        }
    }

    /// Inserts the batch (reference, record) in one transaction; returns how many were new.
    pub async fn load(&mut self, mut rows: Vec<(String, NewUsage)>) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        match &mut self.target {
            Target::Sqlite { path, busy_timeout, conn } => {
                let mut open = match conn.take() {
                    Some(open) => open,
                    None => open_sqlite(path, *busy_timeout)?,
                };
                // On a thread of its own, so that the caller can check its next batch meanwhile;
                // the connection comes back with the answer (a load cut short drops it with the
                // thread's end, and the next one opens another).
                let (open, new) = tokio::task::spawn_blocking(move || {
                    let new = load_sqlite(&mut open, &rows);
                    (open, new)
                })
                .await
                .map_err(|e| StoreError::Sqlite(format!("the bulk loader stopped: {e}")))?;
                *conn = Some(open);
                new
            }
            Target::Postgres { url, conn } => {
                if conn.is_none() {
                    // A batch of 50,000 records takes a second or more by design: not a slow
                    // statement worth a warning on the importer's terminal.
                    let options: PgConnectOptions = url.parse()?;
                    *conn = Some(PgConnection::connect_with(&options.disable_statement_logging()).await?);
                }
                load_postgres(conn.as_mut().expect("opened above"), &mut rows).await
            }
            Target::Pool => {
                let mut tx = self.db.begin_write().await?;
                let new = crate::records::terminals::insert_usage_many(&mut tx, &rows).await?;
                tx.commit().await?;
                Ok(new)
            }
        }
    }
}

fn open_sqlite(path: &std::path::Path, busy_timeout: Duration) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    // Per connection: durable commits, foreign keys checked, a page cache that holds the
    // indexes of a large table (the import's other connections have the same), the WAL
    // copied back into the database every 64 MiB instead of every 4 MiB (an index page that
    // every batch touches is copied once per checkpoint), and each statement's undo pages kept
    // in memory: with many rows a statement they outgrew SQLite's 64 KiB and went to a
    // temporary file, a `pwrite` per page.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -131072;
         PRAGMA wal_autocheckpoint = 16384; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

fn load_sqlite(conn: &mut rusqlite::Connection, rows: &[(String, NewUsage)]) -> Result<u64, StoreError> {
    // IMMEDIATE: the write lock up front (a deferred transaction could fail on it midway).
    let tx = rusqlite::Transaction::new(conn, rusqlite::TransactionBehavior::Immediate)?;
    let mut new = 0;
    let full = sqlite_insert(SQLITE_ROWS_PER_STATEMENT);
    for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut insert = if chunk.len() == SQLITE_ROWS_PER_STATEMENT {
            tx.prepare_cached(&full)?
        } else {
            tx.prepare_cached(&sqlite_insert(chunk.len()))?
        };
        let mut at = 1;
        for (reference, u) in chunk {
            let (id, terminal_id, amount, fee, kind, occurred_at, reference) = u.columns(reference);
            insert.raw_bind_parameter(at, id)?;
            insert.raw_bind_parameter(at + 1, terminal_id)?;
            insert.raw_bind_parameter(at + 2, amount)?;
            insert.raw_bind_parameter(at + 3, fee)?;
            insert.raw_bind_parameter(at + 4, kind)?;
            insert.raw_bind_parameter(at + 5, occurred_at)?;
            insert.raw_bind_parameter(at + 6, reference)?;
            at += 7;
        }
        // Rows this statement inserted (what its trigger wrote is not counted).
        new += insert.raw_execute()? as u64;
    }
    tx.commit()?;
    Ok(new)
}

async fn load_postgres(conn: &mut PgConnection, rows: &mut [(String, NewUsage)]) -> Result<u64, StoreError> {
    // In one order of references, byte by byte (the fallback's `COLLATE "C"`, and
    // `insert_usage_many`'s): two loaders whose batches share references wait on each other's
    // new keys, and taking them in one order makes that a wait, never a deadlock.
    rows.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    let mut data = String::with_capacity(rows.len() * 96);
    for (reference, u) in rows.iter() {
        let (id, terminal_id, amount, fee, kind, occurred_at, reference) = u.columns(reference);
        let (amount, fee, occurred_at) = (amount.to_string(), fee.to_string(), occurred_at.to_string());
        for (i, field) in [id.as_str(), terminal_id, &amount, &fee, kind, &occurred_at, reference].iter().enumerate() {
            if i > 0 {
                data.push('\t');
            }
            copy_text(&mut data, field);
        }
        data.push('\n');
    }
    // A batch of new records (most of them: a file is loaded once) goes straight into the
    // table. A reference already recorded fails that `COPY` at its row (the first one, when a
    // file is loaded again), and the batch is loaded by way of a temporary table instead,
    // skipping what is there: a second write of each row that the usual batch is spared.
    let mut tx = conn.begin().await?;
    let straight = copy_in(
        &mut tx,
        "COPY usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref)
         FROM STDIN (FORMAT text)",
        data.as_bytes(),
    )
    .await;
    match straight {
        Ok(new) => {
            tx.commit().await?;
            return Ok(new);
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => tx.rollback().await?,
        Err(e) => return Err(e.into()),
    }
    let mut tx = conn.begin().await?;
    tx.execute(
        "CREATE TEMP TABLE IF NOT EXISTS usage_load (id TEXT, terminal_id TEXT, amount_fen BIGINT, fee_fen BIGINT,
            kind TEXT, occurred_at BIGINT, ref TEXT) ON COMMIT DELETE ROWS",
    )
    .await?;
    copy_in(&mut tx, "COPY usage_load FROM STDIN (FORMAT text)", data.as_bytes()).await?;
    let new = tx
        .execute(
            "INSERT INTO usage_transactions (id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref)
             SELECT id, terminal_id, amount_fen, fee_fen, kind, occurred_at, ref FROM usage_load
             ORDER BY ref COLLATE \"C\" ON CONFLICT (ref) DO NOTHING",
        )
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(new)
}

/// `COPY … FROM STDIN` of `data` (COPY's text format) on `conn`; returns the rows copied.
async fn copy_in(conn: &mut PgConnection, statement: &str, data: &[u8]) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data).await?;
    copy.finish().await
}

/// `value` in COPY's text format: backslash, tab, newline and carriage return escaped.
fn copy_text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copy_text;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_row() {
        let mut out = String::new();
        copy_text(&mut out, "a\\b\tc\nd\re");
        assert_eq!(out, "a\\\\b\\tc\\nd\\re");
    }
}
