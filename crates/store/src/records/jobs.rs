//! The outbox / job queue: rows written in the same transaction as the state change they
//! follow; a worker claims them later (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

use std::sync::LazyLock;

use crate::sql::{query, Conn};

use crate::{new_id, StoreError};

/// Enqueues a job once per `dedupe_key`: a repeat is ignored. Returns whether it was new.
pub async fn enqueue(
    conn: &mut Conn,
    kind: &str,
    dedupe_key: &str,
    payload: &str,
    run_at: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = query(
        "INSERT INTO jobs (id, kind, dedupe_key, payload, status, run_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_id("jb"))
    .bind(kind)
    .bind(dedupe_key)
    .bind(payload)
    .bind(run_at)
    .bind(now_ms)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A job a worker holds, until its lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: String,
    /// How many times it was claimed, this time included.
    pub attempts: i64,
}

/// Claims up to `limit` jobs that are due (queued and due, or running with an expired lease:
/// their worker died), oldest due first, for `lease_ms`, in one statement. On PostgreSQL two
/// workers never claim the same row (`FOR UPDATE SKIP LOCKED`); on SQLite the caller's
/// `BEGIN IMMEDIATE` serialises them. Each claim counts an attempt, and the attempt number
/// identifies the claim: [`complete`] and [`reschedule`] change the job only while that
/// claim still holds it, so the holder of a lease that ran out (and whose job another claim
/// took over, in this process or another) changes nothing.
pub async fn claim(
    conn: &mut Conn,
    backend: crate::Backend,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Job>, StoreError> {
    let lock = if backend == crate::Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    // Each kind of due job is read in the index's order and only as many as asked for: a
    // backlog (a surge of approvals, a text to every merchant) costs a claim no more than an
    // empty queue. With one condition `… OR …`, both databases gathered every due row and
    // sorted them to take the first few, a claim at a time.
    let rows = query(&format!(
        "UPDATE jobs SET status = 'running', locked_until = $1, locked_by = $2, attempts = attempts + 1, updated_at = $3
         WHERE id IN (
           SELECT id FROM (
             SELECT id, run_at FROM (SELECT id, run_at FROM jobs WHERE status = 'queued' AND run_at <= $3
                                     ORDER BY run_at LIMIT $4 {lock}) queued
             UNION ALL
             SELECT id, run_at FROM (SELECT id, run_at FROM jobs WHERE status = 'running' AND locked_until < $3
                                     ORDER BY run_at LIMIT $4 {lock}) abandoned
           ) due ORDER BY run_at LIMIT $4)
         RETURNING id, kind, payload, attempts"
    ))
    .bind(now_ms + lease_ms)
    .bind(worker)
    .bind(now_ms)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Job {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect()
}

/// The job is finished; false if this claim no longer held it (its lease ran out and
/// another claim took it over).
pub async fn complete(conn: &mut Conn, job: &Job, worker: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = $1
         WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND status = 'running'",
    )
    .bind(now_ms)
    .bind(&job.id)
    .bind(worker)
    .bind(job.attempts)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The job runs again at `run_at` (a backoff, or a later look at the bank).
pub async fn reschedule(
    conn: &mut Conn,
    job: &Job,
    worker: &str,
    run_at: i64,
    error: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE jobs SET status = 'queued', run_at = $1, locked_until = NULL, last_error = $2, updated_at = $3
         WHERE id = $4 AND locked_by = $5 AND attempts = $6 AND status = 'running'",
    )
    .bind(run_at)
    .bind(error)
    .bind(now_ms)
    .bind(&job.id)
    .bind(worker)
    .bind(job.attempts)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The queued job under `dedupe_key` is over before it runs again: what it would have found
/// to do was done elsewhere (a payout the bank's callback settled while its job waited to look
/// again). A job running now is left to its claim, which finds nothing to do. Whether one was.
pub async fn finish_queued(conn: &mut Conn, dedupe_key: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query("UPDATE jobs SET status = 'done', updated_at = $1 WHERE dedupe_key = $2 AND status = 'queued'")
        .bind(now_ms)
        .bind(dedupe_key)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Whether any job is due (a read: an idle worker asks this instead of taking the write lock).
pub async fn any_due(conn: &mut Conn, now_ms: i64) -> Result<bool, StoreError> {
    // Two walks of the index in its order, one per kind of due job, each stopping at the first
    // (or at the first not due). Written as one `… OR …`, or without the order, PostgreSQL
    // expected a due row within a few of a scan's first and read the whole table (which keeps
    // every job done) each time an idle worker looked.
    let row = query(
        "SELECT count(*) AS n FROM (
           SELECT 1 AS due FROM (SELECT 1 FROM jobs WHERE status = 'queued' AND run_at <= $1
                                 ORDER BY run_at LIMIT 1) queued
           UNION ALL
           SELECT 1 FROM (SELECT 1 FROM jobs WHERE status = 'running' AND locked_until < $1
                          ORDER BY run_at LIMIT 1) abandoned
         ) due",
    )
    .bind(now_ms)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Forgets the jobs done whose last run was due before `before_ms`: what each did lives on in
/// the payout, collection, order or text it ran (jobs that gave up, `dead`, are kept for
/// whoever looks into them). Returns how many. A key of a job forgotten could queue its work
/// again; none does, since each key names a step taken once (an approval, a retry's attempt,
/// a notification), and the work of any job is safe to run again.
pub async fn prune_done(conn: &mut Conn, before_ms: i64) -> Result<u64, StoreError> {
    Ok(query("DELETE FROM jobs WHERE status = 'done' AND run_at < $1")
        .bind(before_ms)
        .execute(conn)
        .await?
        .rows_affected())
}

/// A job for [`enqueue_many`].
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub dedupe_key: &'a str,
    pub payload: &'a str,
    pub run_at: i64,
}

/// Enqueues each job as [`enqueue`] does (a repeated `dedupe_key` is ignored): on PostgreSQL
/// in one statement whatever their number, in key order (so that two transactions enqueuing
/// the same keys wait on each other rather than deadlock); on SQLite, which has no round
/// trips, a prepared insert each.
pub async fn enqueue_many(conn: &mut Conn, jobs: &[NewJob<'_>], now_ms: i64) -> Result<(), StoreError> {
    if conn.backend() != crate::Backend::Postgres {
        for job in jobs {
            enqueue(conn, job.kind, job.dedupe_key, job.payload, job.run_at, now_ms).await?;
        }
        return Ok(());
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> =
        jobs.iter().map(|j| serde_json::json!([new_id("jb"), j.kind, j.dedupe_key, j.payload, j.run_at])).collect();
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let source = crate::json_rows_for(
            crate::Backend::Postgres,
            &[("id", "TEXT"), ("kind", "TEXT"), ("dedupe_key", "TEXT"), ("payload", "TEXT"), ("run_at", "BIGINT")],
        );
        format!(
            "INSERT INTO jobs (id, kind, dedupe_key, payload, status, run_at, created_at, updated_at)
             SELECT id, kind, dedupe_key, payload, 'queued', run_at, $2, $2 FROM ({source}) AS r
             ORDER BY dedupe_key COLLATE \"C\" ON CONFLICT (dedupe_key) DO NOTHING"
        )
    });
    query(&SQL).bind(crate::json_array(&rows)?).bind(now_ms).execute(conn).await?;
    Ok(())
}
