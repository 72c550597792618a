//! My Devices (我的设备): terminals with their deposit, plan snapshot, progress, deadline and
//! eligibility; usage records; outstanding items and settling them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use yajin_app::collections::{self, SettleError};
use yajin_app::devices::MyDevices;
use yajin_app::model::Item;
use yajin_app::{devices, paging::PageRequest};

use super::idempotency::{Answer, IdempotencyKey};
use super::paging::PageQuery;
use super::problem::{language, ApiError, ErrorCode, Problem};
use super::session::{MerchantSession, SessionToken};
use super::state::AppState;
use super::views::{OutstandingItemView, OutstandingPage, TerminalPage, TerminalView, UsagePage, UsageView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/terminals", get(list_terminals))
        .route("/api/v1/terminals/{sn}", get(get_terminal))
        .route("/api/v1/terminals/{sn}/transactions", get(list_terminal_transactions))
        .route("/api/v1/outstanding-items", get(list_outstanding_items))
        .route("/api/v1/outstanding-items/{id}/settle", post(settle_outstanding_item))
}

#[utoipa::path(get, path = "/api/v1/terminals", operation_id = "list_terminals", tag = "devices",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = TerminalPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_terminals(
    State(state): State<AppState>,
    token: SessionToken,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    // A query refused is answered after the session is checked, as on every other list: who
    // holds no live merchant session learns nothing of what it may ask.
    let page = match query.map(|Query(q)| q.page()) {
        Ok(Ok(page)) => page,
        Ok(Err(invalid)) => {
            token.merchant(&state).await?;
            return Err(invalid);
        }
        Err(rejection) => {
            token.merchant(&state).await?;
            return Ok(rejection.into_response());
        }
    };
    // The session is read with the page: the hottest read, one lookup a request.
    match devices::list_terminals_of_session(&state.app, token.as_str(), &page).await? {
        MyDevices::NoSession => Err(ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated)),
        MyDevices::NotMerchant => Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden)),
        MyDevices::Page(terminals, now) => {
            let lang = language(&headers);
            Ok(Json(TerminalPage::of(terminals, |t| TerminalView::new(&t, lang, now))).into_response())
        }
    }
}

#[utoipa::path(get, path = "/api/v1/terminals/{sn}", operation_id = "get_terminal", tag = "devices",
    security(("bearer" = []), ("cookie" = [])), params(("sn" = String, Path)),
    responses((status = 200, body = TerminalView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "terminal_not_found (also another merchant's)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_terminal(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    Path(sn): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    let (terminal, now) = devices::terminal(&state.app, &session.merchant_id, &sn).await?;
    Ok(Json(TerminalView::new(&terminal, language(&headers), now)))
}

#[utoipa::path(get, path = "/api/v1/terminals/{sn}/transactions", operation_id = "list_terminal_transactions",
    tag = "devices", security(("bearer" = []), ("cookie" = [])), params(("sn" = String, Path), PageQuery),
    responses((status = 200, body = UsagePage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "terminal_not_found", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_terminal_transactions(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(sn): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<UsagePage>, ApiError> {
    let page = q.page()?;
    let usage = devices::transactions(&state.app, &session.merchant_id, &sn, &page).await?;
    Ok(Json(UsagePage::of(usage, UsageView::from)))
}

#[utoipa::path(get, path = "/api/v1/outstanding-items", operation_id = "list_outstanding_items", tag = "devices",
    security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = OutstandingPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_outstanding_items(
    State(state): State<AppState>,
    session: MerchantSession,
    Query(q): Query<PageQuery>,
) -> Result<Json<OutstandingPage>, ApiError> {
    let page: PageRequest = q.page()?;
    let items = devices::outstanding_items(&state.app, &session.merchant_id, &page).await?;
    Ok(Json(OutstandingPage::of(items, OutstandingItemView::from)))
}

#[utoipa::path(post, path = "/api/v1/outstanding-items/{id}/settle", operation_id = "settle_outstanding_item",
    tag = "devices", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 202, description = "the collection started: the item is `settling` until the channel confirms", body = OutstandingItemView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already_settled: settled, deducted or settling", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn settle_outstanding_item(
    State(state): State<AppState>,
    session: MerchantSession,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::ACCEPTED, |item: &Item| OutstandingItemView::from(item.clone()));
    let outcome =
        collections::settle(&state.app, &session.merchant_id, &id, key.replay(&session, &(), &answer)).await?;
    Ok(answer.respond(outcome))
}

impl From<SettleError> for ApiError {
    fn from(e: SettleError) -> ApiError {
        match e {
            SettleError::NotFound => ApiError::not_found(),
            SettleError::AlreadySettled(item) => {
                let item = serde_json::to_value(OutstandingItemView::from(*item)).unwrap_or_default();
                ApiError::new(StatusCode::CONFLICT, ErrorCode::AlreadySettled).with("item", item)
            }
            SettleError::App(e) => e.into(),
            SettleError::Store(e) => e.into(),
        }
    }
}
