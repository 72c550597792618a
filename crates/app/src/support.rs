//! Customer service: answering and closing tickets; announcements. Every staff action is
//! audited; every answer, and the closing, reaches the merchant as a notification too.

use yajin_core::notice::Notice;
use yajin_core::validation::{text_problems, Lines};
use yajin_store::records::{announcements, staff, tickets};
use yajin_store::Conn;

use yajin_core::Timestamp;
use yajin_store::records::applications;
use yajin_store::records::tickets::{Message, Ticket};

use crate::application_detail::{load_detail, ApplicationDetail};
use crate::idempotency::{begin_work, Outcome, Replay};
use crate::paging::{Page, PageRequest};
use crate::{notices, Actor, App, AppError};

fn text(field: &str, value: &str, max: usize, lines: Lines) -> Result<(), AppError> {
    match text_problems(field, value, 1, max, lines) {
        errors if errors.is_empty() => Ok(()),
        errors => Err(AppError::Fields(errors)),
    }
}

/// A ticket as support sees it: the conversation and the application it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportTicket {
    pub ticket: Ticket,
    pub messages: Vec<Message>,
    pub application: Option<ApplicationDetail>,
    /// When this was read: for the ticket's age and whether its first answer is overdue.
    pub as_of: Timestamp,
}

/// The support inbox, oldest first, optionally of one status (`open`, `answered`, `closed`).
pub async fn inbox(app: &App, status: Option<&str>, page: &PageRequest) -> Result<(Page<Ticket>, Timestamp), AppError> {
    if status.is_some_and(|s| !["open", "answered", "closed"].contains(&s)) {
        return Err(AppError::InvalidQuery { field: "status" });
    }
    let mut conn = app.db.begin_read().await?;
    let rows = tickets::inbox(&mut conn, status, page.after_or_empty(), page.fetch()).await?;
    Ok((Page::of(rows, page, |t| t.id.clone()), app.clock.now()))
}

/// Any merchant's ticket, with its messages and its application.
pub async fn ticket(app: &App, id: &str) -> Result<SupportTicket, AppError> {
    let mut conn = app.db.begin_read().await?;
    ticket_in(&mut conn, id, app.clock.now()).await
}

async fn ticket_in(conn: &mut Conn, id: &str, as_of: Timestamp) -> Result<SupportTicket, AppError> {
    let ticket = tickets::by_id(conn, id).await?.ok_or(AppError::NotFound("ticket"))?;
    let messages = tickets::messages(conn, id).await?;
    let application = match &ticket.application_id {
        Some(aid) => match applications::by_id(conn, aid).await? {
            Some(a) => Some(load_detail(conn, a).await?),
            None => None,
        },
        None => None,
    };
    Ok(SupportTicket { ticket, messages, application, as_of })
}

/// Answers a ticket (the merchant is notified) and returns it as it now stands.
pub async fn answer(
    app: &App,
    actor: &Actor,
    ticket_id: &str,
    body: &str,
    replay: Replay<'_, SupportTicket>,
) -> Result<Outcome<SupportTicket>, AppError> {
    text("body", body, 5_000, Lines::Many)?;
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let ticket = tickets::by_id(tx, ticket_id).await?.ok_or(AppError::NotFound("ticket"))?;
    if !tickets::answer(tx, ticket_id, &actor.id, body.trim(), now).await? {
        return Err(AppError::InvalidState { entity: "ticket", status: "closed".into() });
    }
    let staff_name = staff::by_id(tx, &actor.id).await?.map(|s| s.display_name).unwrap_or_default();
    let notice = Notice::TicketAnswered {
        ticket_id: ticket.id.clone(),
        subject: ticket.subject.clone(),
        staff_name,
        body: body.trim().to_owned(),
    };
    notices::tell(tx, &ticket.merchant_id, &notice, now).await?;
    actor.audit(&app.vault, tx, "answer_ticket", "ticket", ticket_id, serde_json::json!({}), now);
    let answered = ticket_in(tx, ticket_id, app.clock.now()).await?;
    work.finish(answered).await
}

/// Closes a ticket and returns it as it now stands.
pub async fn close(
    app: &App,
    actor: &Actor,
    ticket_id: &str,
    replay: Replay<'_, SupportTicket>,
) -> Result<Outcome<SupportTicket>, AppError> {
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let ticket = tickets::by_id(tx, ticket_id).await?.ok_or(AppError::NotFound("ticket"))?;
    if !tickets::close(tx, ticket_id, now).await? {
        return Err(AppError::InvalidState { entity: "ticket", status: "closed".into() });
    }
    let notice = Notice::TicketClosed { ticket_id: ticket.id.clone(), subject: ticket.subject.clone() };
    notices::tell(tx, &ticket.merchant_id, &notice, now).await?;
    actor.audit(&app.vault, tx, "close_ticket", "ticket", ticket_id, serde_json::json!({}), now);
    let closed = ticket_in(tx, ticket_id, app.clock.now()).await?;
    work.finish(closed).await
}

/// Where an announcement stands after a staff action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnouncementState {
    pub id: String,
    pub status: &'static str,
}

pub async fn draft_announcement(
    app: &App,
    actor: &Actor,
    title: &str,
    body: &str,
    replay: Replay<'_, AnnouncementState>,
) -> Result<Outcome<AnnouncementState>, AppError> {
    let mut errors = Vec::new();
    for (field, value, max, lines) in [("title", title, 200, Lines::One), ("body", body, 5_000, Lines::Many)] {
        if let Err(AppError::Fields(mut e)) = text(field, value, max, lines) {
            errors.append(&mut e);
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let id = announcements::insert_draft(tx, title.trim(), body.trim(), &actor.id, now).await?;
    actor.audit(
        &app.vault,
        tx,
        "draft_announcement",
        "announcement",
        &id,
        serde_json::json!({"title": title.trim()}),
        now,
    );
    work.finish(AnnouncementState { id, status: "draft" }).await
}

/// draft → published, published → withdrawn.
pub async fn move_announcement(
    app: &App,
    actor: &Actor,
    id: &str,
    publish: bool,
    replay: Replay<'_, AnnouncementState>,
) -> Result<Outcome<AnnouncementState>, AppError> {
    let (from, to) = if publish { ("draft", "published") } else { ("published", "withdrawn") };
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let Some(status) = announcements::status_of(tx, id).await? else {
        return Err(AppError::NotFound("announcement"));
    };
    if !announcements::set_status(tx, id, from, to, now).await? {
        return Err(AppError::InvalidState { entity: "announcement", status });
    }
    actor.audit(&app.vault, tx, &format!("{to}_announcement"), "announcement", id, serde_json::json!({}), now);
    work.finish(AnnouncementState { id: id.to_owned(), status: to }).await
}
