//! Where background jobs have got to (`job_cursors`).

use crate::sql::{query, Conn};

use crate::StoreError;

pub async fn get(conn: &mut Conn, name: &str) -> Result<Option<String>, StoreError> {
    let row = query("SELECT position FROM job_cursors WHERE name = $1").bind(name).fetch_optional(conn).await?;
    row.map(|r| r.try_get("position")).transpose()
}

/// Moves the cursor forward to `position` (never back: two runners at once keep the furthest).
pub async fn advance(conn: &mut Conn, name: &str, position: &str, now_ms: i64) -> Result<(), StoreError> {
    query(
        "INSERT INTO job_cursors (name, position, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET position = $2, updated_at = $3 WHERE job_cursors.position < $2",
    )
    .bind(name)
    .bind(position)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}
