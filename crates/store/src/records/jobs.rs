//! The outbox / job queue: rows written in the same transaction as the state change they
//! follow; a worker claims them later (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

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

/// Claims the next job that is due (queued and due, or running with an expired lease: its
/// worker died) for `lease_ms`. On PostgreSQL two workers never claim the same row
/// (`FOR UPDATE SKIP LOCKED`); on SQLite the caller's `BEGIN IMMEDIATE` serialises them.
pub async fn claim(
    conn: &mut Conn,
    backend: crate::Backend,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<Job>, StoreError> {
    let lock = if backend == crate::Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let row = query(&format!(
        "SELECT id, kind, payload, attempts FROM jobs
         WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until < $1)
         ORDER BY run_at LIMIT 1 {lock}"
    ))
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    query(
        "UPDATE jobs SET status = 'running', locked_until = $1, locked_by = $2, attempts = attempts + 1, updated_at = $3
         WHERE id = $4",
    )
    .bind(now_ms + lease_ms)
    .bind(worker)
    .bind(now_ms)
    .bind(&id)
    .execute(conn)
    .await?;
    Ok(Some(Job {
        id,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get::<i64, _>("attempts")? + 1,
    }))
}

/// The job is finished; false if this worker no longer held it (its lease ran out and
/// another worker took it over).
pub async fn complete(conn: &mut Conn, id: &str, worker: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = $1 WHERE id = $2 AND locked_by = $3 AND status = 'running'",
    )
    .bind(now_ms)
    .bind(id)
    .bind(worker)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The job runs again at `run_at` (a backoff, or a later look at the bank).
pub async fn reschedule(
    conn: &mut Conn,
    id: &str,
    worker: &str,
    run_at: i64,
    error: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE jobs SET status = 'queued', run_at = $1, locked_until = NULL, last_error = $2, updated_at = $3
         WHERE id = $4 AND locked_by = $5 AND status = 'running'",
    )
    .bind(run_at)
    .bind(error)
    .bind(now_ms)
    .bind(id)
    .bind(worker)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Whether any job is due (a read: an idle worker asks this instead of taking the write lock).
pub async fn any_due(conn: &mut Conn, now_ms: i64) -> Result<bool, StoreError> {
    let row = query(
        "SELECT count(*) AS n FROM (SELECT 1 FROM jobs
         WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until < $1) LIMIT 1) due",
    )
    .bind(now_ms)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
