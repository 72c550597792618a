//! Rate limits and cooldowns, counted in the database so that they hold across servers.

use crate::sql::{query, Conn};

use crate::StoreError;

/// Counts one more hit in the fixed window containing `now_ms`, returning the window's count
/// and when the window ends.
pub async fn hit(conn: &mut Conn, bucket: &str, window_ms: i64, now_ms: i64) -> Result<(i64, i64), StoreError> {
    let window_start = now_ms - now_ms.rem_euclid(window_ms);
    let row = query(
        "INSERT INTO rate_limits (bucket, window_start, count) VALUES ($1, $2, 1)
         ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count",
    )
    .bind(bucket)
    .bind(window_start)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("count")?, window_start + window_ms))
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

/// Drops counters and cooldowns that can no longer matter.
/// `older_than_ms` must lie before the start of the longest window in use (callers keep a day).
/// Returns how many rows went.
pub async fn prune(conn: &mut Conn, older_than_ms: i64) -> Result<u64, StoreError> {
    let windows = query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(older_than_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let cooldowns =
        query("DELETE FROM cooldowns WHERE until_at < $1").bind(older_than_ms).execute(conn).await?.rows_affected();
    Ok(windows + cooldowns)
}
