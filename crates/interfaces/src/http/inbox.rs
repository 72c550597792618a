//! The merchant's inbox: notifications, customer-service tickets, announcements.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use yajin_app::tickets;
use yajin_store::records::tickets::Ticket;
use yajin_store::records::{announcements, notifications, tickets as records};
use yajin_store::Conn;

use super::devices::rfc3339;
use super::json_body::ApiJson;
use super::paging::{self, PageQuery};
use super::problem::ApiError;
use super::session::MerchantSession;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications", get(notifications_list))
        .route("/api/v1/tickets", get(tickets_list).post(open_ticket))
        .route("/api/v1/tickets/{id}", get(ticket))
        .route("/api/v1/tickets/{id}/messages", axum::routing::post(add_message))
        .route("/api/v1/announcements", get(announcements_list))
}

#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "list_announcements", operation_id = "add_ticket_message", operation_id = "get_ticket", operation_id = "open_ticket", operation_id = "list_tickets", operation_id = "list_notifications", tag = "inbox", security(("bearer" = []), ("cookie" = [])), params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = crate::http::openapi::NotificationPage)))]
pub(super) async fn notifications_list(
    State(state): State<AppState>,
    session: MerchantSession,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = q.page()?;
    let mut conn = state.conn().await?;
    let rows = notifications::page(&mut conn, &session.merchant_id, page.after.as_deref(), page.limit + 1).await?;
    Ok(Json(paging::respond(
        rows,
        page.limit,
        |n| n.id.clone(),
        |n| {
            json!({"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "application_id": n.application_id,
               "created_at": n.created_at.to_rfc3339()})
        },
    )))
}

async fn ticket_json(conn: &mut Conn, t: &Ticket, with_messages: bool) -> Result<Value, ApiError> {
    let mut v = json!({"id": t.id, "subject": t.subject, "status": t.status, "application_id": t.application_id,
        "owner": t.owner_staff_id, "first_response_due_at": t.first_response_due_at.to_rfc3339(),
        "first_response_at": rfc3339(t.first_response_at), "created_at": t.created_at.to_rfc3339(), "updated_at": t.updated_at.to_rfc3339()});
    if with_messages {
        let messages = records::messages(conn, &t.id).await?;
        v["messages"] = messages.iter().map(|m| json!({"id": m.id, "author": m.author_role, "body": m.body, "created_at": m.created_at.to_rfc3339()})).collect();
    }
    Ok(v)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TicketBody {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    application_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tickets", tag = "inbox", security(("bearer" = []), ("cookie" = [])), request_body = TicketBody, responses((status = 201, body = crate::http::openapi::Ticket), (status = 422, description = "validation_failed", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn open_ticket(
    State(state): State<AppState>,
    session: MerchantSession,
    ApiJson(b): ApiJson<TicketBody>,
) -> Result<Response, ApiError> {
    let id = tickets::open(&state.app, &session.merchant_id, &b.subject, &b.body, b.application_id.as_deref()).await?;
    let mut conn = state.conn().await?;
    let t = records::of_merchant(&mut conn, &session.merchant_id, &id).await?.ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(ticket_json(&mut conn, &t, true).await?)).into_response())
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "inbox", security(("bearer" = []), ("cookie" = [])), params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = crate::http::openapi::TicketPage)))]
pub(super) async fn tickets_list(
    State(state): State<AppState>,
    session: MerchantSession,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = q.page()?;
    let mut conn = state.conn().await?;
    let rows =
        records::page_of_merchant(&mut conn, &session.merchant_id, page.after.as_deref(), page.limit + 1).await?;
    let (rows, next) = paging::split(rows, page.limit, |t| t.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for t in &rows {
        items.push(ticket_json(&mut conn, t, false).await?);
    }
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "inbox", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::http::openapi::Ticket), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn ticket(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut conn = state.conn().await?;
    let t = records::of_merchant(&mut conn, &session.merchant_id, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(ticket_json(&mut conn, &t, true).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageBody {
    #[serde(default)]
    body: String,
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "inbox", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)), request_body = MessageBody, responses((status = 201, body = crate::http::openapi::Ticket), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 409, description = "invalid_state", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn add_message(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<MessageBody>,
) -> Result<Response, ApiError> {
    match tickets::reply(&state.app, &session.merchant_id, &id, &b.body).await {
        Ok(()) => {}
        Err(yajin_app::AppError::Refused(_)) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "invalid_state").with("ticket_status", "closed"))
        }
        Err(e) => return Err(e.into()),
    }
    let mut conn = state.conn().await?;
    let t = records::of_merchant(&mut conn, &session.merchant_id, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(ticket_json(&mut conn, &t, true).await?)).into_response())
}

#[utoipa::path(get, path = "/api/v1/announcements", tag = "inbox", responses((status = 200, body = crate::http::openapi::AnnouncementPage)))]
pub(super) async fn announcements_list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut conn = state.conn().await?;
    let rows = announcements::published(&mut conn, paging::MAX_LIMIT).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|a| json!({"id": a.id, "title": a.title, "body": a.body, "published_at": rfc3339(a.published_at)}))
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}
