//! The hot reads on SQLite (a session by token, My Devices) without sqlx's hand-off to a worker
//! thread per statement and per row: plain read-only connections to the same file, used
//! synchronously on the caller's thread, each with its prepared statements cached. A read is
//! one statement, so one WAL snapshot of committed data; it never takes a lock a writer needs.
//!
//! A profile of My Devices under load put ~45% of the CPU in futex wake-ups around those
//! hand-offs; these reads are tens of microseconds, short enough to run on a runtime thread.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// Idle connections kept for reuse (more are opened under load and closed when returned).
const IDLE_MAX: usize = 8;

pub struct SqliteReader {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteReader({})", self.path.display())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Corrupt(format!("SQLite read: {e}"))
    }
}

impl SqliteReader {
    /// A reader for the database file a `sqlite:` URL names; `None` for an in-memory database
    /// (each connection would see its own).
    pub fn for_url(url: &str, busy_timeout: Duration) -> Option<SqliteReader> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
            return None;
        }
        Some(SqliteReader { path: Path::new(path).to_owned(), busy_timeout, idle: Mutex::new(Vec::new()) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one).
    pub fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_MAX {
                idle.push(conn);
            }
        }
        result
    }
}
