//! One-time SMS codes (hashed, expiring, with an attempt count) and the record of every SMS.

use crate::sql::{query, Conn};

use crate::{new_id, StoreError};

pub async fn insert_code(
    conn: &mut Conn,
    phone: &str,
    purpose: &str,
    code_hash: &str,
    now_ms: i64,
    expires_at: i64,
) -> Result<String, StoreError> {
    let id = new_id("sc");
    query(
        "INSERT INTO sms_codes (id, phone, purpose, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(phone)
    .bind(purpose)
    .bind(code_hash)
    .bind(now_ms)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(Clone, Debug)]
pub struct Code {
    pub id: String,
    pub code_hash: String,
    pub attempts: i64,
    pub expires_at: i64,
}

/// The newest unconsumed code for the phone and purpose.
pub async fn latest_code(conn: &mut Conn, phone: &str, purpose: &str) -> Result<Option<Code>, StoreError> {
    let row = query(
        "SELECT id, code_hash, attempts, expires_at FROM sms_codes
         WHERE phone = $1 AND purpose = $2 AND consumed_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(phone)
    .bind(purpose)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Code {
        id: r.try_get("id")?,
        code_hash: r.try_get("code_hash")?,
        attempts: r.try_get("attempts")?,
        expires_at: r.try_get("expires_at")?,
    }))
}

/// Counts a wrong try; false once `max_attempts` is reached (the code is then spent).
pub async fn count_attempt(conn: &mut Conn, id: &str, max_attempts: i64) -> Result<bool, StoreError> {
    let n = query("UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2")
        .bind(id)
        .bind(max_attempts)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Consumes the code; false if it was consumed already (a concurrent reset won).
pub async fn consume(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query("UPDATE sms_codes SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL")
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub async fn record_message(
    conn: &mut Conn,
    phone: &str,
    text: &str,
    gateway: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    query("INSERT INTO sms_messages (id, phone, text, gateway, sent_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id("sm"))
        .bind(phone)
        .bind(text)
        .bind(gateway)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Message {
    pub phone: String,
    pub text: String,
    pub sent_at: i64,
}

/// Messages a gateway sent to a phone, newest first.
pub async fn messages(conn: &mut Conn, phone: &str, gateway: &str, limit: i64) -> Result<Vec<Message>, StoreError> {
    let rows = query(
        "SELECT phone, text, sent_at FROM sms_messages WHERE phone = $1 AND gateway = $2 ORDER BY sent_at DESC, id DESC LIMIT $3",
    )
    .bind(phone)
    .bind(gateway)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok(Message { phone: r.try_get("phone")?, text: r.try_get("text")?, sent_at: r.try_get("sent_at")? }))
        .collect()
}
