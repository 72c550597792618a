//! Payouts: one row per attempt to pay an approved refund through the channel. The id is the
//! bank's idempotency key; at most one attempt per application is live (not `failed`), which
//! the database enforces. Statuses move forward only, each by a conditional UPDATE.

use crate::sql::{query, Conn, Row};
use yajin_core::{Fen, Timestamp};

use crate::{new_id, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    pub id: String,
    pub application_id: String,
    pub attempt: i64,
    pub amount: Fen,
    pub channel: String,
    pub card_last4: String,
    /// `pending` (not yet known to the bank), `sent`, `unknown` (asked, no answer), `succeeded`, `failed`.
    pub status: String,
    pub bank_reference: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub paid_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, application_id, attempt, amount_fen, channel, card_last4, status, bank_reference, \
                       failure_code, failure_message, paid_at, created_at, updated_at";

fn from_row(r: &Row) -> Result<Payout, StoreError> {
    Ok(Payout {
        id: r.try_get("id")?,
        application_id: r.try_get("application_id")?,
        attempt: r.try_get("attempt")?,
        amount: Fen::new(r.try_get("amount_fen")?),
        channel: r.try_get("channel")?,
        card_last4: r.try_get::<Option<String>, _>("card_last4")?.unwrap_or_default(),
        status: r.try_get("status")?,
        bank_reference: r.try_get("bank_reference")?,
        failure_code: r.try_get("failure_code")?,
        failure_message: r.try_get("failure_message")?,
        paid_at: r.try_get::<Option<i64>, _>("paid_at")?.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

/// A new `pending` attempt, given back as written (nothing read back); a conflict means a live
/// one exists already.
pub async fn insert(
    conn: &mut Conn,
    application_id: &str,
    attempt: i64,
    amount: Fen,
    channel: &str,
    card_last4: &str,
    now_ms: i64,
) -> Result<Payout, StoreError> {
    let id = new_id("po");
    query(
        "INSERT INTO payouts (id, application_id, attempt, amount_fen, channel, card_last4, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
    )
    .bind(&id)
    .bind(application_id)
    .bind(attempt)
    .bind(amount.get())
    .bind(channel)
    .bind(card_last4)
    .bind(now_ms)
    .execute(conn)
    .await?;
    let now = Timestamp::from_millis(now_ms);
    Ok(Payout {
        id,
        application_id: application_id.to_owned(),
        attempt,
        amount,
        channel: channel.to_owned(),
        card_last4: card_last4.to_owned(),
        status: "pending".to_owned(),
        bank_reference: None,
        failure_code: None,
        failure_message: None,
        paid_at: None,
        created_at: now,
        updated_at: now,
    })
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Payout>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM payouts WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// The live attempt of an application (any status but `failed`), if any.
pub async fn live_of(conn: &mut Conn, application_id: &str) -> Result<Option<Payout>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM payouts WHERE application_id = $1 AND status <> 'failed'"))
        .bind(application_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every attempt of an application, the latest last.
pub async fn of_application(conn: &mut Conn, application_id: &str) -> Result<Vec<Payout>, StoreError> {
    let rows = query(&format!("SELECT {COLUMNS} FROM payouts WHERE application_id = $1 ORDER BY attempt"))
        .bind(application_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The latest attempt of each of these applications.
pub async fn latest_of(conn: &mut Conn, application_ids: &[String]) -> Result<Vec<Payout>, StoreError> {
    if application_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM payouts p WHERE application_id IN ({}) AND attempt = \
         (SELECT max(attempt) FROM payouts q WHERE q.application_id = p.application_id)",
        crate::placeholders(1, application_ids.len())
    );
    let rows = crate::query_in(&sql, application_ids).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// A page of payouts by id, optionally of one status.
pub async fn page(
    conn: &mut Conn,
    status: Option<&str>,
    after_id: &str,
    limit: i64,
) -> Result<Vec<Payout>, StoreError> {
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM payouts WHERE ($1 = '' OR status = $1) AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(status.unwrap_or(""))
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// What the bank said, as the columns it sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer<'a> {
    pub bank_reference: Option<&'a str>,
    pub failure_code: Option<&'a str>,
    pub failure_message: Option<&'a str>,
    pub paid_at: Option<i64>,
}

/// Moves the attempt from one of `from` to `to`, and gives it back as it now stands; None when
/// it was elsewhere (someone else moved it first: the caller re-reads instead of moving it
/// twice).
pub async fn advance(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    to: &str,
    answer: &Answer<'_>,
    now_ms: i64,
) -> Result<Option<Payout>, StoreError> {
    let sources = from.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let row = query(&format!(
        "UPDATE payouts SET status = $1, bank_reference = COALESCE($2, bank_reference), failure_code = $3,
             failure_message = $4, paid_at = $5, updated_at = $6
         WHERE id = $7 AND status IN ({sources}) RETURNING {COLUMNS}"
    ))
    .bind(to)
    .bind(answer.bank_reference)
    .bind(answer.failure_code)
    .bind(answer.failure_message)
    .bind(answer.paid_at)
    .bind(now_ms)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The payouts with these ids (any that exist).
pub async fn by_ids(conn: &mut Conn, ids: &[String]) -> Result<Vec<Payout>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::json_list(conn);
    let json = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let rows = query(&format!("SELECT {COLUMNS} FROM payouts WHERE id IN ({list})")).bind(json).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// The ids of the payouts that succeeded in `[from_ms, to_ms)`.
pub async fn succeeded_between(conn: &mut Conn, from_ms: i64, to_ms: i64) -> Result<Vec<String>, StoreError> {
    let rows = query("SELECT id FROM payouts WHERE status = 'succeeded' AND paid_at >= $1 AND paid_at < $2")
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

fn card_context(id: &str) -> String {
    format!("payouts.card:{id}")
}

/// Gives a payout its own card (sealed; bound to the row), instead of the merchant's bound one.
pub async fn set_card(conn: &mut Conn, vault: &crate::pii::Vault, id: &str, card_no: &str) -> Result<(), StoreError> {
    let sealed = vault.seal(card_no, &card_context(id));
    query("UPDATE payouts SET card_sealed = $1, card_key_id = $2 WHERE id = $3")
        .bind(sealed.bytes)
        .bind(sealed.key_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The payout's own card, if it has one.
pub async fn card(conn: &mut Conn, vault: &crate::pii::Vault, id: &str) -> Result<Option<String>, StoreError> {
    let row =
        query("SELECT card_sealed, card_key_id FROM payouts WHERE id = $1").bind(id).fetch_one(&mut *conn).await?;
    let bytes: Option<Vec<u8>> = row.try_get("card_sealed")?;
    let key_id: Option<String> = row.try_get("card_key_id")?;
    match (bytes, key_id) {
        (Some(bytes), Some(key_id)) => Ok(Some(vault.open(&crate::pii::Sealed { bytes, key_id }, &card_context(id))?)),
        _ => Ok(None),
    }
}
