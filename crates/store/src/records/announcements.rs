//! Announcements (policy changes, warnings) shown in the portal.

use crate::sql::{query, Conn};
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
    conn: &mut Conn,
    title: &str,
    body: &str,
    created_by: &str,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = new_id("an");
    query(
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
pub async fn published(conn: &mut Conn, limit: i64) -> Result<Vec<Announcement>, StoreError> {
    let rows = query(
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

pub async fn insert_draft(
    conn: &mut Conn,
    title: &str,
    body: &str,
    created_by: &str,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = new_id("an");
    query("INSERT INTO announcements (id, title, body, status, created_by, created_at) VALUES ($1, $2, $3, 'draft', $4, $5)")
        .bind(&id)
        .bind(title)
        .bind(body)
        .bind(created_by)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(id)
}

/// draft → published, or published → withdrawn; false if it was not in `from`.
pub async fn set_status(conn: &mut Conn, id: &str, from: &str, to: &str, now_ms: i64) -> Result<bool, StoreError> {
    let column = if to == "published" { "published_at" } else { "withdrawn_at" };
    let n = query(&format!("UPDATE announcements SET status = $1, {column} = $2 WHERE id = $3 AND status = $4"))
        .bind(to)
        .bind(now_ms)
        .bind(id)
        .bind(from)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub async fn status_of(conn: &mut Conn, id: &str) -> Result<Option<String>, StoreError> {
    let row = query("SELECT status FROM announcements WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.map(|r| r.try_get("status")).transpose()
}
