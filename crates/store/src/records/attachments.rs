//! Attachments: metadata per upload, bodies content-addressed by SHA-256 (one copy however
//! often the same file is uploaded). Bodies live in the database, capped at 10 MiB each, so a
//! backup of the database is a backup of the evidence and every server sees every file; they
//! are sealed like the other personal data, bound to their address.

use crate::sql::{query, Conn, Row};
use yajin_core::Timestamp;

use crate::pii::{Sealed, Vault};
use crate::{new_id, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub merchant_id: String,
    pub kind: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: Timestamp,
}

fn blob_context(sha256: &str) -> String {
    format!("attachment_blobs.content:{sha256}")
}

/// A file to store, as uploaded.
pub struct NewAttachment<'a> {
    pub merchant_id: &'a str,
    pub kind: &'a str,
    pub content_type: &'a str,
    pub sha256: &'a str,
    pub content: &'a [u8],
}

pub async fn insert(
    conn: &mut Conn,
    vault: &Vault,
    new: &NewAttachment<'_>,
    now_ms: i64,
) -> Result<Attachment, StoreError> {
    let NewAttachment { merchant_id, kind, content_type, sha256, content } = *new;
    let sealed = vault.seal_bytes(content, &blob_context(sha256));
    query("INSERT INTO attachment_blobs (sha256, content, key_id) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING")
        .bind(sha256)
        .bind(&sealed.bytes)
        .bind(&sealed.key_id)
        .execute(&mut *conn)
        .await?;
    let a = Attachment {
        id: new_id("at"),
        merchant_id: merchant_id.to_owned(),
        kind: kind.to_owned(),
        content_type: content_type.to_owned(),
        size: content.len() as i64,
        sha256: sha256.to_owned(),
        created_at: Timestamp::from_millis(now_ms),
    };
    query(
        "INSERT INTO attachments (id, merchant_id, kind, content_type, size, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&a.id)
    .bind(&a.merchant_id)
    .bind(&a.kind)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(&a.sha256)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(a)
}

fn from_row(r: &Row) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        id: r.try_get("id")?,
        merchant_id: r.try_get("merchant_id")?,
        kind: r.try_get("kind")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

/// One attachment; `merchant_id` limits it to its owner (staff pass `None`).
pub async fn get(conn: &mut Conn, id: &str, merchant_id: Option<&str>) -> Result<Option<Attachment>, StoreError> {
    let row = query(
        "SELECT id, merchant_id, kind, content_type, size, sha256, created_at FROM attachments
         WHERE id = $1 AND ($2 = '' OR merchant_id = $2)",
    )
    .bind(id)
    .bind(merchant_id.unwrap_or(""))
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A body, opened (or as it is, if written before bodies were sealed).
pub async fn content(conn: &mut Conn, vault: &Vault, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let row = query("SELECT content, key_id FROM attachment_blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let bytes: Vec<u8> = row.try_get("content")?;
    match row.try_get::<Option<String>, _>("key_id")? {
        None => Ok(Some(bytes)),
        Some(key_id) => vault.open_bytes(&Sealed { bytes, key_id }, &blob_context(sha256)).map(Some),
    }
}

/// Seals up to `limit` bodies written in clear before bodies were sealed; how many it sealed.
pub async fn seal_clear_blobs(conn: &mut Conn, vault: &Vault, limit: i64) -> Result<u64, StoreError> {
    let rows = query("SELECT sha256, content FROM attachment_blobs WHERE key_id IS NULL LIMIT $1")
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut sealed_count = 0;
    for row in rows {
        let sha256: String = row.try_get("sha256")?;
        let clear: Vec<u8> = row.try_get("content")?;
        let sealed = vault.seal_bytes(&clear, &blob_context(&sha256));
        sealed_count +=
            query("UPDATE attachment_blobs SET content = $1, key_id = $2 WHERE sha256 = $3 AND key_id IS NULL")
                .bind(&sealed.bytes)
                .bind(&sealed.key_id)
                .bind(&sha256)
                .execute(&mut *conn)
                .await?
                .rows_affected();
    }
    Ok(sealed_count)
}

/// What a merchant has uploaded since `since_ms`: files and bytes.
pub async fn uploaded_since(conn: &mut Conn, merchant_id: &str, since_ms: i64) -> Result<(i64, i64), StoreError> {
    let row = query(
        "SELECT count(*) AS n, CAST(coalesce(sum(size), 0) AS BIGINT) AS bytes FROM attachments
         WHERE merchant_id = $1 AND created_at >= $2",
    )
    .bind(merchant_id)
    .bind(since_ms)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("n")?, row.try_get("bytes")?))
}

/// Which of `ids` are not the merchant's (unknown or another merchant's).
pub async fn not_owned(conn: &mut Conn, merchant_id: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql =
        format!("SELECT id FROM attachments WHERE merchant_id = $1 AND id IN ({})", crate::placeholders(2, ids.len()));
    let mut query = query(&sql).bind(merchant_id);
    for id in ids {
        query = query.bind(id);
    }
    let owned: Vec<String> = query.fetch_all(conn).await?.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
    Ok(ids.iter().filter(|id| !owned.contains(id)).cloned().collect())
}

pub async fn link(conn: &mut Conn, application_id: &str, ids: &[String]) -> Result<(), StoreError> {
    for id in ids {
        query(
            "INSERT INTO application_attachments (application_id, attachment_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(application_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The files of many applications in one query: `(application_id, attachment)`.
pub async fn of_applications(conn: &mut Conn, ids: &[String]) -> Result<Vec<(String, Attachment)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT l.application_id, a.id, a.merchant_id, a.kind, a.content_type, a.size, a.sha256, a.created_at
         FROM application_attachments l JOIN attachments a ON a.id = l.attachment_id
         WHERE l.application_id IN ({}) ORDER BY l.application_id, a.id",
        crate::placeholders(1, ids.len())
    );
    let rows = crate::query_in(&sql, ids).fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get("application_id")?, from_row(r)?))).collect()
}

pub async fn of_application(conn: &mut Conn, application_id: &str) -> Result<Vec<Attachment>, StoreError> {
    let rows = query(
        "SELECT a.id, a.merchant_id, a.kind, a.content_type, a.size, a.sha256, a.created_at
         FROM application_attachments l JOIN attachments a ON a.id = l.attachment_id
         WHERE l.application_id = $1 ORDER BY a.id",
    )
    .bind(application_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}
