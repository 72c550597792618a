//! The merchant's inbox: notifications, customer-service tickets, announcements.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use yajin_app::tickets::TicketDetail;
use yajin_app::{inbox, tickets};

use super::idempotency::{Answer, IdempotencyKey};
use super::json_body::ApiJson;
use super::paging::PageQuery;
use super::problem::{ApiError, Language, Problem};
use super::session::MerchantSession;
use super::state::AppState;
use super::views::{AnnouncementPage, AnnouncementView, NotificationPage, NotificationView, TicketPage, TicketView};
use yajin_core::text::Lang;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications", get(list_notifications))
        .route("/api/v1/tickets", get(list_tickets).post(open_ticket))
        .route("/api/v1/tickets/{id}", get(get_ticket))
        .route("/api/v1/tickets/{id}/messages", post(add_ticket_message))
        .route("/api/v1/announcements", get(list_announcements))
}

#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "list_notifications", tag = "inbox",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = NotificationPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_notifications(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    Query(q): Query<PageQuery>,
) -> Result<Json<NotificationPage>, ApiError> {
    let page = q.page()?;
    let list = inbox::notifications(&state.app, &session.merchant_id, &page).await?;
    Ok(Json(NotificationPage::of(list, |n| NotificationView::new(n, lang))))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TicketBody {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    application_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tickets", operation_id = "open_ticket", tag = "inbox",
    security(("bearer" = []), ("cookie" = [])), params(IdempotencyKey), request_body = TicketBody,
    responses((status = 201, body = TicketView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn open_ticket(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    ApiJson(b): ApiJson<TicketBody>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::CREATED, ticket_view(lang));
    let replay = key.replay(&session, &b, &answer);
    let outcome =
        tickets::open(&state.app, &session.merchant_id, &b.subject, &b.body, b.application_id.as_deref(), replay)
            .await?;
    Ok(answer.respond(outcome))
}

fn ticket_view(lang: Lang) -> impl Fn(&TicketDetail) -> TicketView + Send + Sync + 'static {
    move |t| TicketView::new(t.ticket.clone(), Some(t.messages.clone()), lang)
}

#[utoipa::path(get, path = "/api/v1/tickets", operation_id = "list_tickets", tag = "inbox",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = TicketPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_tickets(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    Query(q): Query<PageQuery>,
) -> Result<Json<TicketPage>, ApiError> {
    let page = q.page()?;
    let list = tickets::list(&state.app, &session.merchant_id, &page).await?;
    Ok(Json(TicketPage::of(list, |t| TicketView::new(t, None, lang))))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}", operation_id = "get_ticket", tag = "inbox",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TicketView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_ticket(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let t = tickets::get(&state.app, &session.merchant_id, &id).await?;
    Ok(Json(TicketView::new(t.ticket, Some(t.messages), lang)))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageBody {
    #[serde(default)]
    body: String,
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", operation_id = "add_ticket_message", tag = "inbox",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = MessageBody,
    responses((status = 201, body = TicketView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state: the ticket is closed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn add_ticket_message(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<MessageBody>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::CREATED, ticket_view(lang));
    let outcome =
        tickets::reply(&state.app, &session.merchant_id, &id, &b.body, key.replay(&session, &b, &answer)).await?;
    Ok(answer.respond(outcome))
}

#[utoipa::path(get, path = "/api/v1/announcements", operation_id = "list_announcements", tag = "inbox",
    responses((status = 200, body = AnnouncementPage)))]
pub(super) async fn list_announcements(State(state): State<AppState>) -> Result<Json<AnnouncementPage>, ApiError> {
    let list = inbox::announcements(&state.app).await?;
    Ok(Json(AnnouncementPage::of(list, AnnouncementView::from)))
}
