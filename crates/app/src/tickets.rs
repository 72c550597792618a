//! Customer-service tickets: a merchant asks, optionally about one of their applications, and
//! is promised a first answer within a day.

use yajin_core::validation::FieldError;
use yajin_store::records::{applications, tickets};
use yajin_store::StoreError;

use crate::{App, AppError};

pub const FIRST_RESPONSE_MS: i64 = 24 * 3_600_000;
pub const SUBJECT_MAX_CHARS: usize = 200;
pub const BODY_MAX_CHARS: usize = 5_000;

fn check_body(field: &str, body: &str, errors: &mut Vec<FieldError>) {
    let n = body.trim().chars().count();
    if n == 0 {
        errors.push(FieldError::new(field, "required", "say what you need"));
    } else if n > BODY_MAX_CHARS {
        errors.push(FieldError::new(field, "too_long", "at most 5000 characters"));
    }
}

pub async fn open(
    app: &App,
    merchant_id: &str,
    subject: &str,
    body: &str,
    application_id: Option<&str>,
) -> Result<String, AppError> {
    let mut errors = Vec::new();
    let subject_chars = subject.trim().chars().count();
    if subject_chars == 0 || subject_chars > SUBJECT_MAX_CHARS {
        errors.push(FieldError::new("subject", "invalid_length", "1–200 characters"));
    }
    check_body("body", body, &mut errors);
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    if let Some(id) = application_id {
        if applications::of_merchant(&mut tx, merchant_id, id).await?.is_none() {
            errors.push(FieldError::new("application_id", "not_found", "no such application of yours"));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let id =
        tickets::insert(&mut tx, merchant_id, subject.trim(), application_id, now + FIRST_RESPONSE_MS, now).await?;
    tickets::add_message(&mut tx, &id, "merchant", merchant_id, body.trim(), now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(id)
}

pub async fn reply(app: &App, merchant_id: &str, ticket_id: &str, body: &str) -> Result<(), AppError> {
    let mut errors = Vec::new();
    check_body("body", body, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let ticket = tickets::of_merchant(&mut tx, merchant_id, ticket_id).await?.ok_or(AppError::NotFound("ticket"))?;
    if ticket.status == "closed" {
        return Err(AppError::Refused("the ticket is closed; open a new one".into()));
    }
    tickets::add_message(&mut tx, ticket_id, "merchant", merchant_id, body.trim(), now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
