//! Customer service: answering and closing tickets; announcements. Every staff action is
//! audited; every answer reaches the merchant as a notification too.

use yajin_core::validation::FieldError;
use yajin_store::records::notifications::{self, NewNotification};
use yajin_store::records::{announcements, tickets};
use yajin_store::StoreError;

use crate::{Actor, App, AppError};

fn text(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    let n = value.trim().chars().count();
    if n == 0 || n > max {
        return Err(AppError::Fields(vec![FieldError::new(field, "invalid_length", format!("1–{max} characters"))]));
    }
    Ok(())
}

pub async fn answer(app: &App, actor: &Actor, ticket_id: &str, body: &str) -> Result<(), AppError> {
    text("body", body, 5_000)?;
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let ticket = tickets::by_id(&mut tx, ticket_id).await?.ok_or(AppError::NotFound("ticket"))?;
    if !tickets::answer(&mut tx, ticket_id, &actor.id, body.trim(), now).await? {
        return Err(AppError::Refused("the ticket is closed".into()));
    }
    let note = format!("工单「{}」有新回复：{}", ticket.subject, body.trim());
    let n = NewNotification {
        merchant_id: &ticket.merchant_id,
        kind: "ticket_answered",
        title: "客服已回复",
        body: &note,
        application_id: ticket.application_id.as_deref(),
    };
    notifications::insert(&mut tx, &n, now).await?;
    actor.audit(&mut tx, "answer_ticket", "ticket", ticket_id, serde_json::json!({}), now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

pub async fn close(app: &App, actor: &Actor, ticket_id: &str) -> Result<(), AppError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    tickets::by_id(&mut tx, ticket_id).await?.ok_or(AppError::NotFound("ticket"))?;
    if !tickets::close(&mut tx, ticket_id, now).await? {
        return Err(AppError::Refused("the ticket is closed already".into()));
    }
    actor.audit(&mut tx, "close_ticket", "ticket", ticket_id, serde_json::json!({}), now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

pub async fn draft_announcement(app: &App, actor: &Actor, title: &str, body: &str) -> Result<String, AppError> {
    let mut errors = Vec::new();
    for (field, value, max) in [("title", title, 200), ("body", body, 5_000)] {
        if let Err(AppError::Fields(mut e)) = text(field, value, max) {
            errors.append(&mut e);
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let id = announcements::insert_draft(&mut tx, title.trim(), body.trim(), &actor.id, now).await?;
    actor
        .audit(&mut tx, "draft_announcement", "announcement", &id, serde_json::json!({"title": title.trim()}), now)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(id)
}

/// draft → published, published → withdrawn.
pub async fn move_announcement(app: &App, actor: &Actor, id: &str, publish: bool) -> Result<(), AppError> {
    let (from, to) = if publish { ("draft", "published") } else { ("published", "withdrawn") };
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let Some(status) = announcements::status_of(&mut tx, id).await? else {
        return Err(AppError::NotFound("announcement"));
    };
    if !announcements::set_status(&mut tx, id, from, to, now).await? {
        return Err(AppError::Refused(format!("the announcement is {status}")));
    }
    actor.audit(&mut tx, &format!("{to}_announcement"), "announcement", id, serde_json::json!({}), now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
