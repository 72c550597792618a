//! What merchants owe (未结清款项).

use sqlx::{AnyConnection, Row};
use yajin_core::eligibility::OwedItem;
use yajin_core::{Fen, Timestamp};

use crate::{new_id, StoreError};

pub struct NewItem {
    pub merchant_id: String,
    pub terminal_id: Option<String>,
    pub kind: &'static str,
    pub amount: Fen,
    pub due_at: Timestamp,
}

/// Records the item; the caller creates its `accrue_charge` transfer in the same transaction.
pub async fn insert(
    conn: &mut AnyConnection,
    item: &NewItem,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = new_id("oi");
    sqlx::query(
        "INSERT INTO outstanding_items (id, merchant_id, terminal_id, kind, amount_fen, due_at, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)",
    )
    .bind(&id)
    .bind(&item.merchant_id)
    .bind(&item.terminal_id)
    .bind(item.kind)
    .bind(item.amount.get())
    .bind(item.due_at.millis())
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The open items that block a refund of this terminal's deposit, oldest due first: those of
/// the terminal itself and those of the merchant as a whole (no terminal).
pub async fn open_for_terminal(
    conn: &mut AnyConnection,
    merchant_id: &str,
    terminal_id: &str,
) -> Result<Vec<OwedItem>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, kind, amount_fen, due_at FROM outstanding_items
         WHERE merchant_id = $1 AND status = 'open' AND (terminal_id = $2 OR terminal_id IS NULL) ORDER BY due_at, id",
    )
    .bind(merchant_id)
    .bind(terminal_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OwedItem {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                amount_fen: Fen::new(r.try_get("amount_fen")?),
                due_at: Timestamp::from_millis(r.try_get("due_at")?),
            })
        })
        .collect()
}

/// Marks an open item settled (or deducted); false if it was not open any more.
pub async fn close(
    conn: &mut AnyConnection,
    item_id: &str,
    status: &'static str,
    application_id: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE outstanding_items SET status = $1, settled_at = $2, application_id = $3 WHERE id = $4 AND status = 'open'",
    )
    .bind(status)
    .bind(now_ms)
    .bind(application_id)
    .bind(item_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}
