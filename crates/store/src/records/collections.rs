//! Collections: taking what a merchant owes through the channel. An open item with a live
//! collection is `settling`; the item row carries the collection's id, so a collection and a
//! deduction cannot both take it (each is a conditional UPDATE of that one row).

use crate::sql::{query, Conn, Row};
use yajin_core::{Fen, Timestamp};

use crate::{new_id, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub item_id: String,
    pub merchant_id: String,
    pub amount: Fen,
    pub status: String,
    pub bank_reference: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: Timestamp,
}

const COLUMNS: &str =
    "id, item_id, merchant_id, amount_fen, status, bank_reference, failure_code, failure_message, created_at";

fn from_row(r: &Row) -> Result<Collection, StoreError> {
    Ok(Collection {
        id: r.try_get("id")?,
        item_id: r.try_get("item_id")?,
        merchant_id: r.try_get("merchant_id")?,
        amount: Fen::new(r.try_get("amount_fen")?),
        status: r.try_get("status")?,
        bank_reference: r.try_get("bank_reference")?,
        failure_code: r.try_get("failure_code")?,
        failure_message: r.try_get("failure_message")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

/// Starts a collection of an open item that has none under way; `None` when the item is not
/// open or is already being collected.
pub async fn start(
    conn: &mut Conn,
    item_id: &str,
    merchant_id: &str,
    amount: Fen,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    let id = new_id("co");
    let taken = query(
        "UPDATE outstanding_items SET collection_id = $1 WHERE id = $2 AND merchant_id = $3 AND status = 'open' AND collection_id IS NULL",
    )
    .bind(&id)
    .bind(item_id)
    .bind(merchant_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if taken != 1 {
        return Ok(None);
    }
    query(
        "INSERT INTO collections (id, item_id, merchant_id, amount_fen, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
    )
    .bind(&id)
    .bind(item_id)
    .bind(merchant_id)
    .bind(amount.get())
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(Some(id))
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Collection>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM collections WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Moves the collection from one of `from` to `to` (conditional; false when it was elsewhere).
pub async fn advance(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    to: &str,
    answer: &crate::records::payouts::Answer<'_>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let sources = from.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let n = query(&format!(
        "UPDATE collections SET status = $1, bank_reference = COALESCE($2, bank_reference), failure_code = $3,
             failure_message = $4, updated_at = $5
         WHERE id = $6 AND status IN ({sources})"
    ))
    .bind(to)
    .bind(answer.bank_reference)
    .bind(answer.failure_code)
    .bind(answer.failure_message)
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A failed collection gives the item back: open, nothing under way.
pub async fn release_item(conn: &mut Conn, item_id: &str, collection_id: &str) -> Result<(), StoreError> {
    query("UPDATE outstanding_items SET collection_id = NULL WHERE id = $1 AND collection_id = $2 AND status = 'open'")
        .bind(item_id)
        .bind(collection_id)
        .execute(conn)
        .await?;
    Ok(())
}
