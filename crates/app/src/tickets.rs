//! Customer-service tickets: a merchant asks, optionally about one of their applications, and
//! is promised a first answer within a day.

use yajin_core::validation::{printable, FieldError, Lines};
use yajin_store::records::tickets::{Message, Ticket};
use yajin_store::records::{applications, tickets};

use crate::idempotency::{begin_work, Outcome, Replay};
use crate::paging::{Page, PageRequest};
use crate::{App, AppError};

pub const FIRST_RESPONSE_MS: i64 = 24 * 3_600_000;
pub const SUBJECT_MAX_CHARS: usize = 200;
pub const BODY_MAX_CHARS: usize = 5_000;

fn check_body(field: &str, body: &str, errors: &mut Vec<FieldError>) {
    let n = body.trim().chars().count();
    if n == 0 {
        errors.push(FieldError::new(field, "required", "请说明您的问题", "say what you need"));
    } else if n > BODY_MAX_CHARS {
        errors.push(FieldError::new(field, "too_long", "至多 5000 个字符", "at most 5000 characters"));
    }
    errors.extend(printable(field, body, Lines::Many));
}

pub async fn open(
    app: &App,
    merchant_id: &str,
    subject: &str,
    body: &str,
    application_id: Option<&str>,
    replay: Replay<'_, TicketDetail>,
) -> Result<Outcome<TicketDetail>, AppError> {
    let mut errors = Vec::new();
    let subject_chars = subject.trim().chars().count();
    if subject_chars == 0 || subject_chars > SUBJECT_MAX_CHARS {
        errors.push(FieldError::new("subject", "invalid_length", "1–200 个字符", "1–200 characters"));
    }
    errors.extend(printable("subject", subject, Lines::One));
    check_body("body", body, &mut errors);
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    // Every field at once: the application is checked even when the text is wrong (a refusal
    // rolls the key's claim back with everything else).
    if let Some(id) = application_id {
        if applications::of_merchant(tx, merchant_id, id).await?.is_none() {
            errors.push(FieldError::new(
                "application_id",
                "not_found",
                "没有这笔申请，或不是您的申请",
                "no such application of yours",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let id = tickets::insert(tx, merchant_id, subject.trim(), application_id, now + FIRST_RESPONSE_MS, now).await?;
    tickets::add_message(tx, &id, "merchant", merchant_id, body.trim(), now).await?;
    let detail = detail_in(tx, merchant_id, &id).await?;
    work.finish(detail).await
}

async fn detail_in(conn: &mut yajin_store::Conn, merchant_id: &str, id: &str) -> Result<TicketDetail, AppError> {
    let ticket = tickets::of_merchant(conn, merchant_id, id).await?.ok_or(AppError::NotFound("ticket"))?;
    let messages = tickets::messages(conn, id).await?;
    Ok(TicketDetail { ticket, messages })
}

pub async fn reply(
    app: &App,
    merchant_id: &str,
    ticket_id: &str,
    body: &str,
    replay: Replay<'_, TicketDetail>,
) -> Result<Outcome<TicketDetail>, AppError> {
    let mut errors = Vec::new();
    check_body("body", body, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let ticket = tickets::of_merchant(tx, merchant_id, ticket_id).await?.ok_or(AppError::NotFound("ticket"))?;
    if ticket.status == "closed" {
        return Err(AppError::InvalidState { entity: "ticket", status: "closed".into() });
    }
    tickets::add_message(tx, ticket_id, "merchant", merchant_id, body.trim(), now).await?;
    let detail = detail_in(tx, merchant_id, ticket_id).await?;
    work.finish(detail).await
}

/// A ticket with its conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketDetail {
    pub ticket: Ticket,
    pub messages: Vec<Message>,
}

/// The merchant's tickets, newest first (without their messages).
pub async fn list(app: &App, merchant_id: &str, page: &PageRequest) -> Result<Page<Ticket>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows = tickets::page_of_merchant(&mut conn, merchant_id, page.after.as_deref(), page.fetch()).await?;
    Ok(Page::of(rows, page, |t| t.id.clone()))
}

/// One of the merchant's tickets with its messages; another merchant's is not found.
pub async fn get(app: &App, merchant_id: &str, id: &str) -> Result<TicketDetail, AppError> {
    let mut conn = app.db.begin_read().await?;
    let ticket = tickets::of_merchant(&mut conn, merchant_id, id).await?.ok_or(AppError::NotFound("ticket"))?;
    let messages = tickets::messages(&mut conn, &ticket.id).await?;
    Ok(TicketDetail { ticket, messages })
}
