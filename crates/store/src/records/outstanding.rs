//! What merchants owe (未结清款项).

use crate::sql::{query, Conn, Row};
use yajin_core::eligibility::OwedItem;
use yajin_core::{Fen, Timestamp};

use crate::StoreError;

pub struct NewItem {
    pub merchant_id: String,
    pub terminal_id: Option<String>,
    pub kind: &'static str,
    pub amount: Fen,
    pub due_at: Timestamp,
}

/// Records the items, each under the id given with it, in one statement; the caller creates
/// each one's `accrue_charge` transfer in the same transaction.
pub async fn insert_many(conn: &mut Conn, items: &[(&str, &NewItem)], now_ms: i64) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = items
        .iter()
        .map(|(id, i)| {
            serde_json::json!([id, i.merchant_id, i.terminal_id, i.kind, i.amount.get(), i.due_at.millis(), now_ms])
        })
        .collect();
    let source = crate::json_rows(
        conn,
        &[
            ("id", "TEXT"),
            ("merchant_id", "TEXT"),
            ("terminal_id", "TEXT"),
            ("kind", "TEXT"),
            ("amount_fen", "BIGINT"),
            ("due_at", "BIGINT"),
            ("created_at", "BIGINT"),
        ],
    );
    query(&format!(
        "INSERT INTO outstanding_items (id, merchant_id, terminal_id, kind, amount_fen, due_at, status, created_at)
         SELECT id, merchant_id, terminal_id, kind, amount_fen, due_at, 'open', created_at FROM ({source}) AS item"
    ))
    .bind(crate::json_array(&rows)?)
    .execute(conn)
    .await?;
    Ok(())
}

/// The open items that block a refund of this terminal's deposit, oldest due first: those of
/// the terminal itself and those of the merchant as a whole (no terminal).
pub async fn open_for_terminal(
    conn: &mut Conn,
    merchant_id: &str,
    terminal_id: &str,
) -> Result<Vec<OwedItem>, StoreError> {
    let rows = query(
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

/// Deducts an open item from a refund; false if it is not open any more or is being
/// collected (a debt is never taken twice).
pub async fn deduct(conn: &mut Conn, item_id: &str, application_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let done = query(
        "UPDATE outstanding_items SET status = 'deducted', settled_at = $1, application_id = $2
         WHERE id = $3 AND status = 'open' AND collection_id IS NULL",
    )
    .bind(now_ms)
    .bind(application_id)
    .bind(item_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Settles an item by the collection that took it; false if it is not that collection's.
pub async fn settle_by(conn: &mut Conn, item_id: &str, collection_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let done = query(
        "UPDATE outstanding_items SET status = 'settled', settled_at = $1
         WHERE id = $2 AND status = 'open' AND collection_id = $3",
    )
    .bind(now_ms)
    .bind(item_id)
    .bind(collection_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub merchant_id: String,
    pub terminal_sn: Option<String>,
    pub kind: String,
    pub amount: Fen,
    pub due_at: Timestamp,
    /// `open`, `settling` (open, with a collection under way), `settled` or `deducted`.
    pub status: String,
    pub settled_at: Option<Timestamp>,
    pub application_id: Option<String>,
    pub collection_id: Option<String>,
}

const ITEM_COLUMNS: &str =
    "o.id, o.merchant_id, t.sn AS terminal_sn, o.kind, o.amount_fen, o.due_at, o.status, o.settled_at, \
                            o.application_id, o.collection_id";

fn item_from(r: &Row) -> Result<Item, StoreError> {
    let collection_id: Option<String> = r.try_get("collection_id")?;
    Ok(Item {
        id: r.try_get("id")?,
        merchant_id: r.try_get("merchant_id")?,
        terminal_sn: r.try_get("terminal_sn")?,
        kind: r.try_get("kind")?,
        amount: Fen::new(r.try_get("amount_fen")?),
        due_at: Timestamp::from_millis(r.try_get("due_at")?),
        status: match (r.try_get::<String, _>("status")?, &collection_id) {
            (open, Some(_)) if open == "open" => "settling".to_owned(),
            (status, _) => status,
        },
        settled_at: r.try_get::<Option<i64>, _>("settled_at")?.map(Timestamp::from_millis),
        application_id: r.try_get("application_id")?,
        collection_id,
    })
}

/// A page of a merchant's items, any status, by id after the cursor.
pub async fn page_of_merchant(
    conn: &mut Conn,
    merchant_id: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<Item>, StoreError> {
    let rows = query(&format!(
        "SELECT {ITEM_COLUMNS} FROM outstanding_items o LEFT JOIN terminals t ON t.id = o.terminal_id
         WHERE o.merchant_id = $1 AND o.id > $2 ORDER BY o.id LIMIT $3"
    ))
    .bind(merchant_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(item_from).collect()
}

/// One of the merchant's items; another merchant's item is not found.
pub async fn of_merchant(conn: &mut Conn, merchant_id: &str, id: &str) -> Result<Option<Item>, StoreError> {
    let row = query(&format!(
        "SELECT {ITEM_COLUMNS} FROM outstanding_items o LEFT JOIN terminals t ON t.id = o.terminal_id
         WHERE o.merchant_id = $1 AND o.id = $2"
    ))
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(item_from).transpose()
}

/// What identifies an item a migration brings: its terminal, kind, amount and due date.
pub type ItemKey = (String, String, i64, i64);

/// The keys of every item of these terminals, in one statement (a batch's check of which of
/// its items are there already).
pub async fn keys_of_terminals(
    conn: &mut Conn,
    terminal_ids: &[String],
) -> Result<std::collections::HashSet<ItemKey>, StoreError> {
    if terminal_ids.is_empty() {
        return Ok(Default::default());
    }
    let list = crate::json_list(conn);
    let rows = query(&format!(
        "SELECT terminal_id, kind, amount_fen, due_at FROM outstanding_items WHERE terminal_id IN ({list})"
    ))
    .bind(crate::json_array(terminal_ids)?)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("terminal_id")?, r.try_get("kind")?, r.try_get("amount_fen")?, r.try_get("due_at")?)))
        .collect()
}
