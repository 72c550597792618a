//! One database handle for SQLite and PostgreSQL: one SQL text (`$1` placeholders work on
//! both), and a small [`Backend`] for the few places where the dialects differ.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};

use crate::audit::AuditEntry;
pub use crate::group_commit::DurableMark;
use crate::pii::ChainKey;
pub use crate::sql::Backend;
use crate::sql::Conn;
use crate::StoreError;

/// A transaction on either database; dereferences to the connection it runs on. A SQLite
/// write transaction is a savepoint in this process's group transaction (see
/// [`crate::group_commit`]); its commit returns once the group's commit is durable.
pub struct Tx {
    inner: TxInner,
    /// Audit entries to append as the transaction commits ([`crate::audit::at_commit`]),
    /// each with its time, under the chain key they were recorded with.
    audit: Option<(ChainKey, Vec<(AuditEntry, i64)>)>,
}

enum TxInner {
    Own(Transaction<'static, Any>),
    Member(crate::group_commit::Member),
}

impl Tx {
    fn new(inner: TxInner) -> Tx {
        Tx { inner, audit: None }
    }

    /// Commits: first appends the audit entries recorded (the chain's head is the last row
    /// the transaction takes), then commits. If the append fails, nothing is committed.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if let Some((key, entries)) = self.audit.take() {
            let timed: Vec<(&AuditEntry, i64)> = entries.iter().map(|(e, at)| (e, *at)).collect();
            crate::audit::append_timed(&mut *self, &key, &timed).await?;
        }
        match self.inner {
            TxInner::Own(tx) => Ok(tx.commit().await?),
            TxInner::Member(member) => member.commit().await,
        }
    }

    /// See [`crate::audit::at_commit`].
    pub(crate) fn audit_at_commit(&mut self, key: ChainKey, entry: AuditEntry, at: i64) {
        self.audit.get_or_insert_with(|| (key, Vec::new())).1.push((entry, at));
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Own(tx) => Ok(tx.rollback().await?),
            TxInner::Member(member) => {
                member.rollback().await;
                Ok(())
            }
        }
    }
}

// A transaction runs its statements on its connection.
crate::sql::sql_through_deref!(Tx);

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match &self.inner {
            TxInner::Own(tx) => tx,
            TxInner::Member(member) => member.conn(),
        }
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        match &mut self.inner {
            TxInner::Own(tx) => tx,
            TxInner::Member(member) => member.conn_mut(),
        }
    }
}

/// A pooled connection idle this long is pinged before it is handed out; one used more
/// recently is not (see `Db::connect`).
pub const CHECK_CONNECTIONS_IDLE_FOR: Duration = Duration::from_secs(1);

/// The page size of a SQLite database Yajin creates (SQLite's default is 4,096 bytes).
const SQLITE_PAGE_SIZE: u32 = 8192;

/// Pool settings, passed explicitly.
#[derive(Clone, Debug)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for the file lock before SQLITE_BUSY.
    pub busy_timeout: Duration,
    /// SQLite: the page cache of each connection (SQLite's default is 2 MiB); bulk loads
    /// whose indexes outgrow it spend their time re-reading pages.
    pub sqlite_cache_mib: u32,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
            sqlite_cache_mib: 2,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite on a file: the hot reads go through here (see [`SqliteReader`]).
    reader: Option<std::sync::Arc<crate::sqlite_reader::SqliteReader>>,
    /// SQLite has one writer: this process's writers take turns on one connection (in order,
    /// not in SQLite's busy handler, which sleeps up to 100 ms a try) and commit in groups.
    writer: Option<std::sync::Arc<crate::group_commit::GroupCommit>>,
    /// PostgreSQL: the URL, for a connection of its own driver (`COPY` in [`crate::bulk`]).
    postgres_url: Option<SecretUrl>,
    /// PostgreSQL: connections of its own driver for the hot committed reads (see
    /// [`Db::read_connection`]), opened when first needed.
    postgres_reads: Option<std::sync::Arc<crate::postgres_reads::PostgresReads>>,
}

/// PostgreSQL's connections for the hot reads: half as many as the pool's (a read is one
/// short statement; more at once than cores would only queue inside PostgreSQL).
fn postgres_reads_max(max_connections: u32) -> u32 {
    max_connections.div_ceil(2)
}

/// A database URL, which may hold a password: never printed whole.
#[derive(Clone)]
struct SecretUrl(String);

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl Db {
    /// Connects and checks the connection. SQLite files are created if missing, in WAL mode
    /// with durable commits (money is never at the mercy of a power cut: `synchronous=FULL`,
    /// or on the writer the syncer's flush, see [`crate::group_commit`]) and foreign keys on.
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| StoreError::BadUrl(redact(url)))?;
        let connect_options: AnyConnectOptions =
            url.parse().map_err(|e: sqlx::Error| StoreError::BadUrl(format!("{}: {e}", redact(url))))?;
        // One direct connection first: a pool only says "timed out", this says why.
        let probe = tokio::time::timeout(options.acquire_timeout, AnyConnection::connect_with(&connect_options)).await;
        match probe {
            Ok(Ok(conn)) => drop(conn.close().await),
            Ok(Err(e)) => return Err(StoreError::Unreachable(format!("{}: {}", redact(url), one_line(&e)))),
            Err(_) => {
                return Err(StoreError::Unreachable(format!(
                    "{}: no answer within {:?}",
                    redact(url),
                    options.acquire_timeout
                )))
            }
        }
        // Pages of 8 KiB for a database made now (the setting is read when the file gets its
        // first page; an existing database keeps its own, docs/operations.md): a record's
        // indexes then split half as often, and a bulk load of usage records took 13 %
        // less time with no change to submits or reads (docs/benchmarks.md, session 21).
        let pragmas = format!(
            "PRAGMA page_size = {SQLITE_PAGE_SIZE}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; PRAGMA cache_size = -{};",
            options.busy_timeout.as_millis(),
            u64::from(options.sqlite_cache_mib) * 1024
        );
        let pool_pragmas = pragmas.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings every connection it hands out: on PostgreSQL a round trip before
            // each request's first statement (a submit had two, My Devices two). A connection
            // that answered moments ago is alive; one idle longer is checked, so a database
            // restart costs no request an error (HikariCP's `aliveBypassWindowMs`).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= CHECK_CONNECTIONS_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                let pragmas = pool_pragmas.clone();
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => conn.execute(sqlx::raw_sql(&pragmas)).await?,
                        // No JIT compilation: Yajin's statements are short, and PostgreSQL
                        // compiles any whose estimated cost passes `jit_above_cost` — a page
                        // of 200 terminals of a merchant with 40,000 took 24–40 ms of
                        // compiling to run 2 ms (docs/benchmarks.md, session 10).
                        Backend::Postgres => conn.execute(sqlx::raw_sql("SET jit = off")).await?,
                    };
                    Ok(())
                })
            })
            .connect_with(connect_options.clone())
            .await
            .map_err(|e| StoreError::Unreachable(format!("{}: {}", redact(url), one_line(&e))))?;
        let (reader, writer) = match backend {
            Backend::Sqlite => {
                let reader =
                    crate::sqlite_reader::SqliteReader::for_url(url, options.busy_timeout).map(std::sync::Arc::new);
                // A database in memory has no file for the writer to open (each connection
                // would see a database of its own): its writes are the pool's transactions.
                let writer = match &reader {
                    Some(reader) => {
                        let path = reader.path().to_owned();
                        let writer =
                            crate::group_commit::GroupCommit::start(path, options.busy_timeout, pragmas).await?;
                        Some(std::sync::Arc::new(writer))
                    }
                    None => None,
                };
                (reader, writer)
            }
            Backend::Postgres => (None, None),
        };
        let postgres_url = (backend == Backend::Postgres).then(|| SecretUrl(url.to_owned()));
        let postgres_reads = match backend {
            Backend::Postgres => {
                let connect: PgConnectOptions =
                    url.parse().map_err(|e: sqlx::Error| StoreError::BadUrl(format!("{}: {e}", redact(url))))?;
                let reads = crate::postgres_reads::PostgresReads::new(
                    connect,
                    postgres_reads_max(options.max_connections),
                    options.acquire_timeout,
                    CHECK_CONNECTIONS_IDLE_FOR,
                );
                Some(std::sync::Arc::new(reads))
            }
            Backend::Sqlite => None,
        };
        Ok(Db { pool, backend, reader, writer, postgres_url, postgres_reads })
    }

    /// The synchronous reader of a SQLite file, if that is the database.
    pub fn sqlite_reader(&self) -> Option<&crate::sqlite_reader::SqliteReader> {
        self.reader.as_deref()
    }

    /// The URL of a PostgreSQL database (for a connection of its own driver).
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres_url.as_ref().map(|u| u.0.as_str())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. On SQLite it is a savepoint in the group transaction of
    /// this process's one writer (see [`crate::group_commit`]), whose `BEGIN IMMEDIATE` took
    /// the write lock up front; on PostgreSQL a transaction of its own.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        match &self.writer {
            Some(writer) => Ok(Tx::new(TxInner::Member(writer.begin().await?))),
            None => Ok(Tx::new(TxInner::Own(self.pool.begin().await?))),
        }
    }

    /// Runs `work` where this database's writes are cheapest to make: on SQLite, on the
    /// writer's thread (see [`crate::group_commit`]), where the turn to write passes from one
    /// writer to the next, and to the committer, without waking another CPU; on PostgreSQL,
    /// right here.
    pub async fn on_writer<T, E>(
        &self,
        work: impl std::future::Future<Output = Result<T, E>> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Some(writer) = &self.writer else { return work.await };
        match writer.runtime().spawn(work).await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Unreachable("the writer thread stopped".into()).into()),
        }
    }

    /// A connection for one hot read outside any transaction (a session by token, My
    /// Devices' one statement): on PostgreSQL one of the reads' own (see
    /// [`crate::postgres_reads`]), otherwise the pool's. A SQLite file's hot reads go through
    /// [`Db::sqlite_reader`] instead.
    pub async fn read_connection(&self) -> Result<Box<Conn>, StoreError> {
        match &self.postgres_reads {
            Some(reads) => Ok(Box::new(reads.lease().await?)),
            None => Ok(Box::new(self.pool.acquire().await?)),
        }
    }

    /// Where [`Db::durable_since`] counts from: taken before reading what another writer wrote.
    pub fn durable_mark(&self) -> DurableMark {
        match &self.writer {
            Some(writer) => writer.mark(),
            None => DurableMark::default(),
        }
    }

    /// Waits until whatever any writer of this process has begun, read since `mark`, is
    /// durable (on SQLite, see [`crate::group_commit`]; on PostgreSQL every commit seen is
    /// durable already), and fails if some of it was rolled back instead. For an answer that
    /// rests on another request's work: a replayed answer, a duplicate notice found done.
    pub async fn durable_since(&self, mark: DurableMark) -> Result<(), StoreError> {
        match &self.writer {
            Some(writer) => writer.durable_since(mark).await,
            None => Ok(()),
        }
    }

    /// Waits until whatever a read of this process may have seen is durable: for every
    /// answer, which may show it (on SQLite a group is seen from its commit, before its flush;
    /// see [`crate::group_commit`]). At once when every commit is flushed already, and always
    /// on PostgreSQL.
    pub async fn seen_durable(&self) -> Result<(), StoreError> {
        match &self.writer {
            Some(writer) => writer.seen_durable().await,
            None => Ok(()),
        }
    }

    /// A read-only unit of work: a consistent snapshot on both databases.
    pub async fn begin_read(&self) -> Result<Tx, StoreError> {
        Ok(Tx::new(TxInner::Own(self.pool.begin().await?)))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.flush().await;
        }
        self.pool.close().await;
        if let Some(reads) = &self.postgres_reads {
            reads.close().await;
        }
    }
}

/// Runs one statement outside any transaction (`CREATE DATABASE` cannot run in one).
pub async fn execute_admin(db: &Db, sql: &str) -> Result<(), StoreError> {
    db.pool.execute(sqlx::raw_sql(sql)).await?;
    Ok(())
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn one_line(e: &sqlx::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://data/yajin.db"), "sqlite://data/yajin.db");
    }
}
