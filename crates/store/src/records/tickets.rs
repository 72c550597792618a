//! Customer-service tickets and their messages.

use crate::sql::{query, Conn, Row};
use yajin_core::Timestamp;

use crate::{new_id, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    pub merchant_id: String,
    pub subject: String,
    pub status: String,
    pub application_id: Option<String>,
    pub owner_staff_id: Option<String>,
    /// The owner's display name, once support has taken the ticket.
    pub owner_name: Option<String>,
    pub merchant_no: String,
    pub merchant_name: String,
    /// The merchant's phone as stored (the interfaces mask it).
    pub merchant_phone: String,
    pub first_response_due_at: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub author_role: String,
    /// A staff author's display name.
    pub author_name: Option<String>,
    pub body: String,
    pub created_at: Timestamp,
}

pub async fn insert(
    conn: &mut Conn,
    merchant_id: &str,
    subject: &str,
    application_id: Option<&str>,
    first_response_due_at: i64,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = new_id("tk");
    query(
        "INSERT INTO tickets (id, merchant_id, subject, status, application_id, first_response_due_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(merchant_id)
    .bind(subject)
    .bind(application_id)
    .bind(first_response_due_at)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn add_message(
    conn: &mut Conn,
    ticket_id: &str,
    author_role: &str,
    author_id: &str,
    body: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO ticket_messages (id, ticket_id, author_role, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id("tm"))
    .bind(ticket_id)
    .bind(author_role)
    .bind(author_id)
    .bind(body)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    // A merchant's message reopens an answered ticket; a closed one stays closed.
    query("UPDATE tickets SET updated_at = $1, status = CASE WHEN status = 'answered' THEN 'open' ELSE status END WHERE id = $2")
        .bind(now_ms)
        .bind(ticket_id)
        .execute(conn)
        .await?;
    Ok(())
}

const COLUMNS: &str = "t.id, t.merchant_id, t.subject, t.status, t.application_id, t.owner_staff_id,
    t.first_response_due_at, t.first_response_at, t.created_at, t.updated_at, s.display_name AS owner_name,
    m.merchant_no, m.name AS merchant_name, m.phone AS merchant_phone";
/// A ticket with its merchant and its owner.
const FROM: &str = "tickets t JOIN merchants m ON m.id = t.merchant_id LEFT JOIN staff s ON s.id = t.owner_staff_id";

fn from_row(r: &Row) -> Result<Ticket, StoreError> {
    Ok(Ticket {
        id: r.try_get("id")?,
        merchant_id: r.try_get("merchant_id")?,
        subject: r.try_get("subject")?,
        status: r.try_get("status")?,
        application_id: r.try_get("application_id")?,
        owner_staff_id: r.try_get("owner_staff_id")?,
        owner_name: r.try_get("owner_name")?,
        merchant_no: r.try_get("merchant_no")?,
        merchant_name: r.try_get("merchant_name")?,
        merchant_phone: r.try_get("merchant_phone")?,
        first_response_due_at: Timestamp::from_millis(r.try_get("first_response_due_at")?),
        first_response_at: r.try_get::<Option<i64>, _>("first_response_at")?.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

pub async fn of_merchant(conn: &mut Conn, merchant_id: &str, id: &str) -> Result<Option<Ticket>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE t.id = $1 AND t.merchant_id = $2"))
        .bind(id)
        .bind(merchant_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn page_of_merchant(
    conn: &mut Conn,
    merchant_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Ticket>, StoreError> {
    let (before, cursor) = crate::before_cursor("t.id", before_id);
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE t.merchant_id = $1 AND {before} ORDER BY t.id DESC LIMIT $3"
    ))
    .bind(merchant_id)
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn messages(conn: &mut Conn, ticket_id: &str) -> Result<Vec<Message>, StoreError> {
    let rows = query(
        "SELECT tm.id, tm.author_role, tm.body, tm.created_at, s.display_name AS author_name
         FROM ticket_messages tm LEFT JOIN staff s ON s.id = tm.author_id AND tm.author_role <> 'merchant'
         WHERE tm.ticket_id = $1 ORDER BY tm.created_at, tm.id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Message {
                id: r.try_get("id")?,
                author_role: r.try_get("author_role")?,
                author_name: r.try_get("author_name")?,
                body: r.try_get("body")?,
                created_at: Timestamp::from_millis(r.try_get("created_at")?),
            })
        })
        .collect()
}

/// The support inbox: tickets in `status` (any if `None`), oldest first, after the id cursor.
pub async fn inbox(
    conn: &mut Conn,
    status: Option<&str>,
    after_id: &str,
    limit: i64,
) -> Result<Vec<Ticket>, StoreError> {
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE ($1 = '' OR t.status = $1) AND t.id > $2 ORDER BY t.id LIMIT $3"
    ))
    .bind(status.unwrap_or(""))
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn by_id(conn: &mut Conn, id: &str) -> Result<Option<Ticket>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE t.id = $1")).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// A staff answer: the first one is recorded as the first response; the ticket gets an owner
/// if it had none; an open ticket becomes answered. False if the ticket is closed.
pub async fn answer(conn: &mut Conn, id: &str, staff_id: &str, body: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE tickets SET status = 'answered', updated_at = $1, first_response_at = coalesce(first_response_at, $1),
            owner_staff_id = coalesce(owner_staff_id, $2) WHERE id = $3 AND status <> 'closed'",
    )
    .bind(now_ms)
    .bind(staff_id)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        query("INSERT INTO ticket_messages (id, ticket_id, author_role, author_id, body, created_at) VALUES ($1, $2, 'support', $3, $4, $5)")
            .bind(new_id("tm"))
            .bind(id)
            .bind(staff_id)
            .bind(body)
            .bind(now_ms)
            .execute(conn)
            .await?;
    }
    Ok(n == 1)
}

/// Closes a ticket; false if it was closed already.
pub async fn close(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE tickets SET status = 'closed', closed_at = $1, updated_at = $1 WHERE id = $2 AND status <> 'closed'",
    )
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
