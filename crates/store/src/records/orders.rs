//! Terminal orders and their timelines. Every move is a conditional UPDATE on the status it
//! starts from, so two requests (or a request and a callback) never both move one order.

use crate::sql::{query, Conn, Row};
use yajin_core::application::Role;
use yajin_core::order::OrderStatus;
use yajin_core::{Fen, Timestamp};

use crate::pii::{Sealed, Vault};
use crate::{new_id, StoreError};

pub struct NewOrder<'a> {
    pub merchant_id: &'a str,
    pub plan_code: &'a str,
    pub model: &'a str,
    pub shipping_address: &'a str,
    pub deposit_route: &'a str,
    pub deposit: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub merchant_id: String,
    pub plan_code: String,
    pub model: String,
    pub shipping_address: String,
    pub deposit_route: String,
    pub deposit: Fen,
    pub status: OrderStatus,
    /// How many times the deposit was asked for (each attempt its own bank idempotency key).
    pub payment_attempt: i64,
    pub payment_status: Option<String>,
    pub bank_reference: Option<String>,
    pub paid_at: Option<Timestamp>,
    pub failure_code: Option<String>,
    /// The terminal it shipped as (its row id) and its SN.
    pub terminal_id: Option<String>,
    pub sn: Option<String>,
    pub carrier: Option<String>,
    pub waybill_no: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Order {
    /// The bank's idempotency key of the current attempt.
    pub fn payment_id(&self) -> String {
        format!("{}-{}", self.id, self.payment_attempt)
    }
}

/// `(order id, attempt)` of a payment id.
pub fn parse_payment_id(payment_id: &str) -> Option<(&str, i64)> {
    let (order, attempt) = payment_id.rsplit_once('-')?;
    Some((order, attempt.parse().ok()?))
}

const COLUMNS: &str = "o.id, o.merchant_id, o.plan_code, o.model, o.shipping_address_sealed, o.shipping_address_key_id,
    o.deposit_route, o.deposit_fen,
    o.status, o.payment_attempt, o.payment_status, o.bank_reference, o.paid_at, o.failure_code, o.terminal_id,
    t.sn, o.carrier, o.waybill_no, o.created_at, o.updated_at";
const FROM: &str = "terminal_orders o LEFT JOIN terminals t ON t.id = o.terminal_id";

/// The associated data an order's address is sealed with.
fn address_context(id: &str) -> String {
    format!("terminal_orders.shipping_address:{id}")
}

fn from_row(vault: &Vault, r: &Row) -> Result<Order, StoreError> {
    let status: String = r.try_get("status")?;
    let id: String = r.try_get("id")?;
    let sealed = Sealed { bytes: r.try_get("shipping_address_sealed")?, key_id: r.try_get("shipping_address_key_id")? };
    Ok(Order {
        shipping_address: vault.open(&sealed, &address_context(&id))?,
        id,
        merchant_id: r.try_get("merchant_id")?,
        plan_code: r.try_get("plan_code")?,
        model: r.try_get("model")?,
        deposit_route: r.try_get("deposit_route")?,
        deposit: Fen::new(r.try_get("deposit_fen")?),
        status: OrderStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("order status {status}")))?,
        payment_attempt: r.try_get("payment_attempt")?,
        payment_status: r.try_get("payment_status")?,
        bank_reference: r.try_get("bank_reference")?,
        paid_at: r.try_get::<Option<i64>, _>("paid_at")?.map(Timestamp::from_millis),
        failure_code: r.try_get("failure_code")?,
        terminal_id: r.try_get("terminal_id")?,
        sn: r.try_get("sn")?,
        carrier: r.try_get("carrier")?,
        waybill_no: r.try_get("waybill_no")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

pub async fn insert(conn: &mut Conn, vault: &Vault, o: &NewOrder<'_>, now_ms: i64) -> Result<String, StoreError> {
    let id = new_id("to");
    let address = vault.seal(o.shipping_address, &address_context(&id));
    query(
        "INSERT INTO terminal_orders (id, merchant_id, plan_code, model, shipping_address_sealed, shipping_address_key_id,
            deposit_route, deposit_fen, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'submitted', $9, $9)",
    )
    .bind(&id)
    .bind(o.merchant_id)
    .bind(o.plan_code)
    .bind(o.model)
    .bind(address.bytes)
    .bind(address.key_id)
    .bind(o.deposit_route)
    .bind(o.deposit.get())
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn by_id(conn: &mut Conn, vault: &Vault, id: &str) -> Result<Option<Order>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE o.id = $1")).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(|r| from_row(vault, r)).transpose()
}

/// One of the merchant's orders; another merchant's is not found.
pub async fn of_merchant(
    conn: &mut Conn,
    vault: &Vault,
    merchant_id: &str,
    id: &str,
) -> Result<Option<Order>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE o.id = $1 AND o.merchant_id = $2"))
        .bind(id)
        .bind(merchant_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(|r| from_row(vault, r)).transpose()
}

/// The merchant's orders, newest first, before the id cursor.
pub async fn page_of_merchant(
    conn: &mut Conn,
    vault: &Vault,
    merchant_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Order>, StoreError> {
    let (before, cursor) = crate::before_cursor("o.id", before_id);
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE o.merchant_id = $1 AND {before} ORDER BY o.id DESC LIMIT $3"
    ))
    .bind(merchant_id)
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| from_row(vault, r)).collect()
}

/// Orders in `status`, oldest first, after the id cursor: the reviewers' queue.
pub async fn queue(
    conn: &mut Conn,
    vault: &Vault,
    status: OrderStatus,
    after_id: &str,
    limit: i64,
) -> Result<Vec<Order>, StoreError> {
    let rows = query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE o.status = $1 AND o.id > $2 ORDER BY o.id LIMIT $3"))
        .bind(status.as_str())
        .bind(after_id)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| from_row(vault, r)).collect()
}

/// The order a terminal shipped as.
pub async fn by_terminal(conn: &mut Conn, vault: &Vault, terminal_id: &str) -> Result<Option<Order>, StoreError> {
    let row = query(&format!("SELECT {COLUMNS} FROM {FROM} WHERE o.terminal_id = $1"))
        .bind(terminal_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(|r| from_row(vault, r)).transpose()
}

/// Moves the order from `from` to `to`; false if it was not in `from` any more.
pub async fn transition(
    conn: &mut Conn,
    id: &str,
    from: OrderStatus,
    to: OrderStatus,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = query("UPDATE terminal_orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
        .bind(to.as_str())
        .bind(now_ms)
        .bind(id)
        .bind(from.as_str())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Moves the order from `from` to `to` with its timeline entry; false (and nothing written) if
/// it was not in `from` any more.
#[allow(clippy::too_many_arguments)]
pub async fn advance(
    conn: &mut Conn,
    id: &str,
    from: OrderStatus,
    to: OrderStatus,
    actor: (Role, &str),
    note: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if !transition(conn, id, from, to, now_ms).await? {
        return Ok(false);
    }
    append_event(conn, id, Some(from), to, actor, note, now_ms).await?;
    Ok(true)
}

/// approved → paying with a new payment attempt; false if the order was not approved (paid,
/// paying, cancelled meanwhile).
pub async fn start_payment(conn: &mut Conn, id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE terminal_orders SET status = 'paying', payment_attempt = payment_attempt + 1, payment_status = 'pending',
            failure_code = NULL, updated_at = $1
         WHERE id = $2 AND status = 'approved'",
    )
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// What the bank said of an attempt.
#[derive(Default)]
pub struct PaymentAnswer<'a> {
    pub bank_reference: Option<&'a str>,
    pub paid_at: Option<i64>,
    pub failure_code: Option<&'a str>,
}

/// Records the bank's answer on attempt `attempt` if its payment is in one of `from`; false
/// otherwise (an answer about an old attempt, or a final one already recorded).
#[allow(clippy::too_many_arguments)]
pub async fn record_payment(
    conn: &mut Conn,
    id: &str,
    attempt: i64,
    from: &[&str],
    to: &str,
    answer: &PaymentAnswer<'_>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE terminal_orders SET payment_status = $1, bank_reference = coalesce($2, bank_reference),
            paid_at = coalesce($3, paid_at), failure_code = coalesce($4, failure_code), updated_at = $5
         WHERE id = $6 AND payment_attempt = $7 AND status = 'paying' AND payment_status IN ({})",
        from.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
    );
    let n = query(&sql)
        .bind(to)
        .bind(answer.bank_reference)
        .bind(answer.paid_at)
        .bind(answer.failure_code)
        .bind(now_ms)
        .bind(id)
        .bind(attempt)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// deposit_paid → shipped as `terminal_id`; false if it was not waiting to ship.
pub async fn ship(
    conn: &mut Conn,
    id: &str,
    terminal_id: &str,
    carrier: &str,
    waybill_no: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let n = query(
        "UPDATE terminal_orders SET status = 'shipped', terminal_id = $1, carrier = $2, waybill_no = $3, updated_at = $4
         WHERE id = $5 AND status = 'deposit_paid'",
    )
    .bind(terminal_id)
    .bind(carrier)
    .bind(waybill_no)
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub actor_role: String,
    pub note: String,
    pub at: Timestamp,
}

pub async fn append_event(
    conn: &mut Conn,
    order_id: &str,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: (Role, &str),
    note: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO terminal_order_events (order_id, from_status, to_status, actor_role, actor_id, note, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(order_id)
    .bind(from.map(OrderStatus::as_str))
    .bind(to.as_str())
    .bind(actor.0.as_str())
    .bind(actor.1)
    .bind(note)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn events(conn: &mut Conn, order_id: &str) -> Result<Vec<OrderEvent>, StoreError> {
    let rows = query(
        "SELECT from_status, to_status, actor_role, note, at FROM terminal_order_events WHERE order_id = $1 ORDER BY seq",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await?;
    let status =
        |text: String| OrderStatus::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("order status {text}")));
    rows.iter()
        .map(|r| {
            Ok(OrderEvent {
                from: r.try_get::<Option<String>, _>("from_status")?.map(status).transpose()?,
                to: status(r.try_get("to_status")?)?,
                actor_role: r.try_get("actor_role")?,
                note: r.try_get("note")?,
                at: Timestamp::from_millis(r.try_get("at")?),
            })
        })
        .collect()
}
