//! Announcements (policy changes, warnings) shown in the portal.

use sqlx::{AnyConnection, Row};
use yajin_core::Timestamp;

use crate::{new_id, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub id: String,
    pub title: String,
    pub body: String,
    pub published_at: Option<Timestamp>,
}

pub async fn insert_published(
    conn: &mut AnyConnection,
    title: &str,
    body: &str,
    created_by: &str,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = new_id("an");
    sqlx::query(
        "INSERT INTO announcements (id, title, body, status, created_by, created_at, published_at) VALUES ($1, $2, $3, 'published', $4, $5, $5)",
    )
    .bind(&id)
    .bind(title)
    .bind(body)
    .bind(created_by)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Published announcements, newest first.
pub async fn published(conn: &mut AnyConnection, limit: i64) -> Result<Vec<Announcement>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, title, body, published_at FROM announcements WHERE status = 'published' ORDER BY published_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Announcement {
                id: r.try_get("id")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                published_at: r.try_get::<Option<i64>, _>("published_at")?.map(Timestamp::from_millis),
            })
        })
        .collect()
}
