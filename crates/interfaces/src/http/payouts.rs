//! Money moving: the payout channel's signed callbacks, and finance's view of payouts.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use yajin_app::model::Payout;
use yajin_app::payouts::{self, RetryError};
use yajin_app::worker;
use yajin_channels::payout::Callback;
use yajin_channels::signature;

use super::idempotency::{Answer, IdempotencyKey};
use super::paging::PageQuery;
use super::problem::{ApiError, ErrorCode, Problem};
use super::session::{CanWatchPayouts, Staff};
use super::state::AppState;
use super::views::{PayoutPage, PayoutView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels/{channel}/callbacks", post(receive_channel_callback))
        .route("/api/v1/payouts", get(list_payouts))
        .route("/api/v1/payouts/{id}", get(get_payout))
        .route("/api/v1/payouts/{id}/retry", post(retry_payout))
}

/// The bank's notice, checked before its body is read: a missing, forged or stale signature
/// is 401 and changes nothing.
#[utoipa::path(post, path = "/api/v1/channels/{channel}/callbacks", operation_id = "receive_channel_callback", tag = "payouts",
    params(("channel" = String, Path, description = "`sandbox`"),
        ("X-Yajin-Timestamp" = String, Header, description = "Unix seconds; refused beyond 5 minutes from now"),
        ("X-Yajin-Signature" = String, Header, description = "hex HMAC-SHA256 of `timestamp.body` with the shared secret")),
    request_body(content = Object, description = "`{\"kind\":\"payout|collection\",\"id\",\"status\":\"processing|succeeded|failed\",…}` (docs/payout-channel.md)"),
    responses((status = 204, description = "applied (or already applied)"),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "invalid_signature", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such channel, payout or collection", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn receive_channel_callback(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(known) = state.channel.as_ref().filter(|c| c.name == channel) else {
        return Err(ApiError::not_found());
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    signature::verify(
        &known.secret,
        header(signature::TIMESTAMP_HEADER),
        header(signature::SIGNATURE_HEADER),
        &body,
        signature::now_s(),
    )
    .map_err(|e| {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidSignature).detail(e.to_string(), e.to_string())
    })?;
    let callback = Callback::parse(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson).detail("回调内容无法解析或不合规范", e)
    })?;
    worker::notice(&state.app, &callback).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PayoutQuery {
    /// `pending`, `sent`, `unknown`, `succeeded` or `failed`.
    status: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/payouts", operation_id = "list_payouts", tag = "payouts",
    security(("bearer" = []), ("cookie" = [])), params(PayoutQuery),
    responses((status = 200, body = PayoutPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_payouts(
    State(state): State<AppState>,
    _: Staff<CanWatchPayouts>,
    Query(q): Query<PayoutQuery>,
) -> Result<Json<PayoutPage>, ApiError> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let list = payouts::list(&state.app, q.status.as_deref(), &page).await?;
    Ok(Json(PayoutPage::of(list, PayoutView::from)))
}

#[utoipa::path(get, path = "/api/v1/payouts/{id}", operation_id = "get_payout", tag = "payouts",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = PayoutView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_payout(
    State(state): State<AppState>,
    _: Staff<CanWatchPayouts>,
    Path(id): Path<String>,
) -> Result<Json<PayoutView>, ApiError> {
    Ok(Json(PayoutView::from(payouts::get(&state.app, &id).await?)))
}

/// A new attempt of a failed payout (never of an `unknown` one: ask the bank first).
#[utoipa::path(post, path = "/api/v1/payouts/{id}/retry", operation_id = "retry_payout", tag = "payouts",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 201, description = "the new attempt", body = PayoutView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "payout_outcome_unknown, invalid_state", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn retry_payout(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanWatchPayouts>,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::CREATED, |p: &Payout| PayoutView::from(p.clone()));
    let outcome = payouts::retry(&state.app, &session.actor(), &id, key.replay(&session, &(), &answer)).await?;
    Ok(answer.respond(outcome))
}

impl From<RetryError> for ApiError {
    fn from(e: RetryError) -> ApiError {
        match e {
            RetryError::NotFound => ApiError::not_found(),
            RetryError::OutcomeUnknown => ApiError::new(StatusCode::CONFLICT, ErrorCode::PayoutOutcomeUnknown),
            RetryError::InvalidState(status) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState).with("payout_status", status)
            }
            RetryError::App(e) => e.into(),
        }
    }
}
