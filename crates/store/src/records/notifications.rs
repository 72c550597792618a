//! In-app notifications to merchants, kept as a [`Notice`] (a code with its parameters) and put
//! into words in the reader's language when read. The Chinese words are stored beside it for
//! readers of the table; rows from before (no `params`) are shown as they were written.

use crate::sql::{query, Conn, Row};
use yajin_core::notice::Notice;
use yajin_core::text::Lang;
use yajin_core::Timestamp;

use crate::{new_id, StoreError};

/// A notification's columns as [`insert`] stores them (with the merchant's and the time).
pub(crate) struct Columns {
    pub id: String,
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub application_id: Option<String>,
    pub params: String,
}

impl Columns {
    pub(crate) fn of(notice: &Notice) -> Result<Columns, StoreError> {
        Ok(Columns {
            id: new_id("nt"),
            kind: notice.code(),
            title: notice.title(Lang::Zh),
            body: notice.body(Lang::Zh),
            application_id: notice.application_id().map(str::to_owned),
            params: serde_json::to_string(notice).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }
}

const INSERT: &str =
    "INSERT INTO notifications (id, merchant_id, kind, title, body, application_id, created_at, params)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Stores `notice` for the merchant; returns its id.
pub async fn insert(conn: &mut Conn, merchant_id: &str, notice: &Notice, now_ms: i64) -> Result<String, StoreError> {
    let c = Columns::of(notice)?;
    insert_columns(conn, merchant_id, &c, now_ms).await?;
    Ok(c.id)
}

/// Stores a notification whose columns are made ([`Columns::of`]).
pub(crate) async fn insert_columns(
    conn: &mut Conn,
    merchant_id: &str,
    c: &Columns,
    now_ms: i64,
) -> Result<(), StoreError> {
    query(INSERT)
        .bind(&c.id)
        .bind(merchant_id)
        .bind(c.kind)
        .bind(&c.title)
        .bind(&c.body)
        .bind(&c.application_id)
        .bind(now_ms)
        .bind(&c.params)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    /// What it says, when it was stored as a code (every notification since migration 9).
    pub notice: Option<Notice>,
    /// The Chinese words as stored.
    pub title: String,
    pub body: String,
    pub application_id: Option<String>,
    pub created_at: Timestamp,
}

impl Notification {
    /// The title and body in `lang`.
    pub fn words(&self, lang: Lang) -> (String, String) {
        match &self.notice {
            Some(n) => (n.title(lang), n.body(lang)),
            None => (self.title.clone(), self.body.clone()),
        }
    }
}

fn from_row(r: &Row) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        notice: r.try_get::<Option<String>, _>("params")?.and_then(|p| serde_json::from_str(&p).ok()),
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        application_id: r.try_get("application_id")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

/// Newest first, strictly before the id cursor (ids sort by creation).
pub async fn page(
    conn: &mut Conn,
    merchant_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let (before, cursor) = crate::before_cursor("id", before_id);
    let rows = query(&format!(
        "SELECT id, kind, title, body, application_id, created_at, params FROM notifications
         WHERE merchant_id = $1 AND {before} ORDER BY id DESC LIMIT $3",
    ))
    .bind(merchant_id)
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One notification, for the job that texts it.
pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<(String, Notification)>, StoreError> {
    let row = query(
        "SELECT id, merchant_id, kind, title, body, application_id, created_at, params FROM notifications WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((r.try_get("merchant_id")?, from_row(&r)?))).transpose()
}
