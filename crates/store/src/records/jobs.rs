//! The outbox / job queue: rows written in the same transaction as the state change they
//! follow; a worker claims them later (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

use sqlx::AnyConnection;

use crate::{new_id, StoreError};

/// Enqueues a job once per `dedupe_key`: a repeat is ignored. Returns whether it was new.
pub async fn enqueue(
    conn: &mut AnyConnection,
    kind: &str,
    dedupe_key: &str,
    payload: &str,
    run_at: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = sqlx::query(
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
