//! The hot reads on PostgreSQL (a session by token, My Devices): connections of PostgreSQL's
//! own driver, kept here rather than in sqlx's pool. A read is one statement outside any
//! transaction, so one snapshot of what is committed, like [`crate::sqlite_reader`]'s.
//!
//! Why not sqlx's pool: it sends every connection handed back a round trip (a `Sync`, to
//! make sure nothing of a cancelled statement is left unread), which was a fifth of the
//! server's CPU under My Devices (docs/benchmarks.md, session 20). Here a connection goes
//! back at once when its last statement ran to its end; one whose statement failed, or whose
//! caller stopped waiting half-way, goes back only after a task of its own has read off what
//! was left of the answer (a ping waits for it), so the next read never meets its leftovers.
//! A connection idle for a while is pinged before it is used, as the pool's are
//! (`Db::connect` passes the same while).
//!
//! These connections also keep one plan a statement (`plan_cache_mode = force_generic_plan`):
//! PostgreSQL planned My Devices' page afresh at every run, guessing that a plan for the
//! values at hand would beat the generic one, and the planning cost more than the running.
//! The reads made here look rows up by key, where the generic plan is the plan.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sql::{Backend, Pending, Query, Row, Sql};
use crate::StoreError;

/// Each connection's settings (JIT off, as on the pool's: see `Db::connect`).
const SETTINGS: &str = "SET jit = off; SET plan_cache_mode = force_generic_plan";

pub struct PostgresReads {
    connect: PgConnectOptions,
    acquire_timeout: Duration,
    /// A connection idle this long is pinged before it is lent.
    check_idle_for: Duration,
    max: usize,
    /// One permit a connection: at most `max` exist at once.
    permits: Arc<Semaphore>,
    /// Connections ready for a read, each with when it was last used.
    idle: Mutex<Vec<(PgConnection, Instant)>>,
}

impl std::fmt::Debug for PostgresReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresReads({} connections at most)", self.max)
    }
}

impl PostgresReads {
    /// Up to `max` connections, opened when first needed; one idle for `check_idle_for` or
    /// longer is pinged before it is lent.
    pub fn new(
        connect: PgConnectOptions,
        max: u32,
        acquire_timeout: Duration,
        check_idle_for: Duration,
    ) -> PostgresReads {
        let max = usize::try_from(max.max(1)).unwrap_or(1);
        let permits = Arc::new(Semaphore::new(max));
        PostgresReads { connect, acquire_timeout, check_idle_for, max, permits, idle: Mutex::new(Vec::new()) }
    }

    /// A connection for one read: an idle one (pinged first if idle long), or a new one.
    pub async fn lease(self: &Arc<Self>) -> Result<Lease, StoreError> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::from(sqlx::Error::PoolTimedOut))?
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        loop {
            let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some((mut conn, last_used)) = idle else { break };
            if last_used.elapsed() < self.check_idle_for || conn.ping().await.is_ok() {
                return Ok(Lease { reads: self.clone(), conn: Some(conn), clean: true, permit: Some(permit) });
            }
            // Dropped by the server (a restart, `pg_terminate_backend`): the next one.
        }
        let mut conn = PgConnection::connect_with(&self.connect).await?;
        conn.execute(sqlx::raw_sql(SETTINGS)).await?;
        Ok(Lease { reads: self.clone(), conn: Some(conn), clean: true, permit: Some(permit) })
    }

    /// Makes `conn`, whose last statement was answered in full, ready for the next read
    /// (unless the server is stopping: a read drained after [`PostgresReads::close`] is not
    /// kept).
    fn give_back(&self, conn: PgConnection) {
        if self.permits.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, Instant::now()));
        }
    }

    /// Closes the idle connections (the server is stopping).
    pub async fn close(&self) {
        self.permits.close();
        let idle = self.idle.lock().map(|mut idle| std::mem::take(&mut *idle)).unwrap_or_default();
        for (conn, _) in idle {
            drop(conn.close().await);
        }
    }
}

/// A connection lent for a read; it goes back to the idle ones when dropped, if its last
/// statement ran to its end.
pub struct Lease {
    reads: Arc<PostgresReads>,
    conn: Option<PgConnection>,
    /// False from a statement's start until it has been answered in full.
    clean: bool,
    /// The connection's place among the `max`, held until it is idle again or closed.
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// The connection (only `drop` takes it away).
    fn conn(&mut self) -> Result<&mut PgConnection, StoreError> {
        self.conn.as_mut().ok_or(StoreError::Database(sqlx::Error::PoolClosed))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.clean {
            self.reads.give_back(conn);
            return;
        }
        // Cut short (its caller stopped waiting: a client that hung up) or failed: what is
        // left of the statement's answer is read off on a task of its own, which keeps the
        // connection's place meanwhile; only a connection that answers a ping after it goes
        // back. Closing it instead cost the next request a new connection, whose first
        // statement PostgreSQL spent ~100 ms planning and loading its catalogs for (the
        // tail of My Devices' latency after each load run, session 24).
        if self.reads.permits.is_closed() {
            return;
        }
        let (Some(permit), Ok(runtime)) = (self.permit.take(), tokio::runtime::Handle::try_current()) else { return };
        let reads = self.reads.clone();
        runtime.spawn(async move {
            let mut conn = conn;
            if let Ok(Ok(())) = tokio::time::timeout(reads.acquire_timeout, conn.ping()).await {
                reads.give_back(conn);
            }
            drop(permit);
        });
    }
}

impl Sql for Lease {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn run<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, u64> {
        Box::pin(async move {
            self.clean = false;
            let done = self.conn()?.run(query).await?;
            self.clean = true;
            Ok(done)
        })
    }

    fn rows<'c>(&'c mut self, query: &'c Query<'_>) -> Pending<'c, Vec<Row>> {
        Box::pin(async move {
            self.clean = false;
            let rows = self.conn()?.rows(query).await?;
            self.clean = true;
            Ok(rows)
        })
    }

    fn batch<'c>(&'c mut self, sql: &'c str) -> Pending<'c, ()> {
        Box::pin(async move {
            self.clean = false;
            self.conn()?.batch(sql).await?;
            self.clean = true;
            Ok(())
        })
    }
}
