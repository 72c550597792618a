//! Rate limits and cooldowns, counted in the database so that they hold across servers.

use crate::sql::{query, Conn};

use crate::StoreError;

/// What a rate limit said to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    /// Let through, and counted.
    Allowed,
    /// Refused (and not counted): `max` requests already fall in the window that ends now; the
    /// oldest of them leaves it in `retry_after_ms`.
    Limited { retry_after_ms: i64 },
}

/// Counts a request in `bucket` unless `max` already fall in the sliding window of
/// `window_ms` that ends at `now_ms`: at most `max` requests are let through in any span of
/// `window_ms`, wherever it starts. The bucket's row is taken first, so concurrent requests in
/// one bucket (from any server) take turns and cannot both take the last place.
pub async fn hit(conn: &mut Conn, bucket: &str, window_ms: i64, max: i64, now_ms: i64) -> Result<Hit, StoreError> {
    query(
        "INSERT INTO rate_limit_buckets (bucket, last_hit_at) VALUES ($1, $2)
         ON CONFLICT (bucket) DO UPDATE SET last_hit_at = excluded.last_hit_at",
    )
    .bind(bucket)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    let row = query("SELECT COUNT(*) AS hits, MIN(at) AS oldest FROM rate_limit_hits WHERE bucket = $1 AND at > $2")
        .bind(bucket)
        .bind(now_ms - window_ms)
        .fetch_one(&mut *conn)
        .await?;
    let hits: i64 = row.try_get("hits")?;
    if hits >= max {
        let oldest: Option<i64> = row.try_get("oldest")?;
        let leaves_at = oldest.map_or(now_ms, |at| at + window_ms);
        return Ok(Hit::Limited { retry_after_ms: (leaves_at - now_ms).max(1) });
    }
    query("INSERT INTO rate_limit_hits (bucket, at) VALUES ($1, $2)").bind(bucket).bind(now_ms).execute(conn).await?;
    Ok(Hit::Allowed)
}

/// Takes the cooldown `key` for `cooldown_ms` if it is free; otherwise returns how many
/// milliseconds remain. One statement, so two servers cannot both take it.
pub async fn take_cooldown(
    conn: &mut Conn,
    key: &str,
    cooldown_ms: i64,
    now_ms: i64,
) -> Result<Result<(), i64>, StoreError> {
    let taken = query(
        "INSERT INTO cooldowns (key, until_at) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET until_at = $2 WHERE cooldowns.until_at <= $3",
    )
    .bind(key)
    .bind(now_ms + cooldown_ms)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if taken == 1 {
        return Ok(Ok(()));
    }
    let row = query("SELECT until_at FROM cooldowns WHERE key = $1").bind(key).fetch_one(conn).await?;
    let until: i64 = row.try_get("until_at")?;
    Ok(Err((until - now_ms).max(1)))
}

/// Drops counted requests, buckets and cooldowns that can no longer matter.
/// `older_than_ms` must lie before the start of the longest window in use (callers keep a day).
/// Returns how many rows went.
pub async fn prune(conn: &mut Conn, older_than_ms: i64) -> Result<u64, StoreError> {
    let hits = query("DELETE FROM rate_limit_hits WHERE at < $1")
        .bind(older_than_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let buckets = query("DELETE FROM rate_limit_buckets WHERE last_hit_at < $1")
        .bind(older_than_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let cooldowns =
        query("DELETE FROM cooldowns WHERE until_at < $1").bind(older_than_ms).execute(conn).await?.rows_affected();
    Ok(hits + buckets + cooldowns)
}
