//! Well-formed ID or card numbers that did not match a merchant's real-name record: counted,
//! so that nobody can learn the hidden digits by trying them.

use crate::sql::{query, Conn};

use crate::{new_id, StoreError};

pub async fn record(conn: &mut Conn, merchant_id: &str, now_ms: i64) -> Result<(), StoreError> {
    query("INSERT INTO identity_misses (id, merchant_id, at) VALUES ($1, $2, $3)")
        .bind(new_id("im"))
        .bind(merchant_id)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many since `since_ms`.
pub async fn count_since(conn: &mut Conn, merchant_id: &str, since_ms: i64) -> Result<i64, StoreError> {
    let row = query("SELECT count(*) AS n FROM identity_misses WHERE merchant_id = $1 AND at >= $2")
        .bind(merchant_id)
        .bind(since_ms)
        .fetch_one(conn)
        .await?;
    row.try_get("n")
}

/// Forgets the merchant's misses (they proved who they are).
pub async fn clear(conn: &mut Conn, merchant_id: &str) -> Result<(), StoreError> {
    query("DELETE FROM identity_misses WHERE merchant_id = $1").bind(merchant_id).execute(conn).await?;
    Ok(())
}
