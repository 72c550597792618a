//! In-app notifications to merchants.

use sqlx::{AnyConnection, Row};
use yajin_core::Timestamp;

use crate::{new_id, StoreError};

pub struct NewNotification<'a> {
    pub merchant_id: &'a str,
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub application_id: Option<&'a str>,
}

pub async fn insert(conn: &mut AnyConnection, n: &NewNotification<'_>, now_ms: i64) -> Result<String, StoreError> {
    let id = new_id("nt");
    sqlx::query(
        "INSERT INTO notifications (id, merchant_id, kind, title, body, application_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(n.merchant_id)
    .bind(n.kind)
    .bind(n.title)
    .bind(n.body)
    .bind(n.application_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub application_id: Option<String>,
    pub created_at: Timestamp,
}

/// Newest first, strictly before the id cursor (ids sort by creation).
pub async fn page(
    conn: &mut AnyConnection,
    merchant_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, kind, title, body, application_id, created_at FROM notifications
         WHERE merchant_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(merchant_id)
    .bind(before_id.unwrap_or(""))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Notification {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                application_id: r.try_get("application_id")?,
                created_at: Timestamp::from_millis(r.try_get("created_at")?),
            })
        })
        .collect()
}
