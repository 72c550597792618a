//! The review desk: the queue, the evidence, and the decisions.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use yajin_app::assessment;
use yajin_app::review::{self, ReviewError};
use yajin_core::application::Status;
use yajin_core::permission::Permission;
use yajin_core::rejection;
use yajin_core::validation::FieldError;
use yajin_store::records::applications::{self as records, Application};
use yajin_store::records::{attachments, merchants, terminals};
use yajin_store::{ledger, Conn};

use super::applications::application_json;
use super::devices::terminal_json;
use super::json_body::ApiJson;
use super::paging::{self, PageQuery};
use super::problem::{language, ApiError};
use super::session::{CanDecide, CanDecideOrSecondApprove, Staff, StaffSession};
use super::AppState;

const P: &str = "application/problem+json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/review/applications", get(queue))
        .route("/api/v1/review/applications/{id}", get(evidence))
        .route("/api/v1/review/applications/{id}/claim", post(claim))
        .route("/api/v1/review/applications/{id}/approve", post(approve))
        .route("/api/v1/review/applications/{id}/reject", post(reject))
        .route("/api/v1/review/applications/{id}/request-info", post(request_info))
        .route("/api/v1/review/reason-codes", get(reason_codes))
        .route("/api/v1/review/attachments/{id}", get(attachment))
}

fn review_error(e: ReviewError) -> ApiError {
    match e {
        ReviewError::NotFound => ApiError::not_found(),
        ReviewError::InvalidState(s) => {
            ApiError::new(StatusCode::CONFLICT, "invalid_state").with("application_status", s.as_str())
        }
        ReviewError::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden"),
        ReviewError::SameApprover => ApiError::new(StatusCode::FORBIDDEN, "same_approver"),
        ReviewError::NotClaimedByYou => ApiError::new(StatusCode::CONFLICT, "not_claimed_by_you"),
        ReviewError::UnknownReasonCode => ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_reason_code",
            FieldError::new("reason_code", "unknown", "see GET /api/v1/review/reason-codes"),
        ),
        ReviewError::Fields(errors) => ApiError::validation(errors),
        ReviewError::FiguresChanged => ApiError::new(StatusCode::CONFLICT, "figures_changed").detail(
            "提交后应付款项已变化，请驳回并请商户重新申请",
            "What the merchant owes changed since submission; reject so they can apply again",
        ),
        ReviewError::Store(e) => e.into(),
    }
}

/// The merchant's view plus who holds it in the back office and how long it has waited.
async fn staff_json(conn: &mut Conn, a: &Application, now_ms: i64) -> Result<Value, ApiError> {
    let mut v = application_json(conn, a).await?;
    let merchant = merchants::by_id(conn, &a.merchant_id).await?;
    v["merchant_no"] = json!(merchant.as_ref().map(|m| m.merchant_no.clone()));
    v["merchant_name"] = json!(merchant.map(|m| m.name));
    v["claimed_by"] = json!(a.claimed_by);
    v["first_approver"] = json!(a.first_approver);
    v["second_approver"] = json!(a.second_approver);
    v["waiting_s"] = json!((now_ms - a.created_at.millis()).max(0) / 1000);
    Ok(v)
}

#[derive(Deserialize)]
pub(super) struct QueueQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/review/applications", operation_id = "review_queue", tag = "backoffice", security(("bearer" = [])),
    params(("status" = Option<String>, Query, description = "default submitted"), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = crate::http::openapi::ReviewPage), (status = 400, body = crate::http::openapi::Problem, content_type = P), (status = 403, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn queue(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<QueueQuery>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ReviewRead)?;
    let status = match q.status.as_deref() {
        None => Status::Submitted,
        Some(text) => Status::parse(text)
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query").with("field", "status"))?,
    };
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let now = state.app.now_ms();
    let mut conn = state.conn().await?;
    let rows = records::queue(&mut conn, status, page.after.as_deref().unwrap_or(""), page.limit + 1).await?;
    let (rows, next) = paging::split(rows, page.limit, |a| a.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for a in &rows {
        items.push(staff_json(&mut conn, a, now).await?);
    }
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

#[utoipa::path(get, path = "/api/v1/review/applications/{id}", operation_id = "review_evidence", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = crate::http::openapi::ReviewEvidence), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn evidence(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ReviewRead)?;
    let now = state.app.clock.now();
    let mut conn = state.conn().await?;
    let a = records::by_id(&mut conn, &id).await?.ok_or_else(ApiError::not_found)?;
    let mut v = staff_json(&mut conn, &a, now.millis()).await?;
    let terminal = terminals::by_id(&mut conn, &a.terminal_id).await?.ok_or_else(ApiError::internal)?;
    let assessed =
        assessment::assess_terminals(&mut conn, &a.merchant_id, vec![terminal], a.deduct_outstanding, now).await?;
    let lang = language(&headers);
    v["terminal"] = assessed.first().map(|t| terminal_json(t, lang, now)).unwrap_or(Value::Null);
    v["outstanding_items"] = json!(assessed.first().map(|t| t
        .owed
        .iter()
        .map(|i| json!({
        "id": i.id, "kind": i.kind, "amount_fen": i.amount_fen, "due_at": i.due_at.to_rfc3339()}))
        .collect::<Vec<_>>()));
    let mut lines = ledger::by_reference(&mut conn, &a.terminal_id).await?;
    lines.extend(ledger::by_reference(&mut conn, &a.id).await?);
    v["ledger"] = lines
        .iter()
        .map(|(t, s)| json!({"id": t.id, "debit": t.debit.id(), "credit": t.credit.id(), "amount_fen": t.amount, "code": t.code.as_str(), "state": s.as_str()}))
        .collect();
    // Submission succeeds only when phone, ID card and bank card match the real-name record
    // (compared by blind index), so an application on file has passed all three.
    v["identity_check"] =
        json!({"phone": "match", "id_card": "match", "bank_card": "match", "method": "blind_index_at_submission"});
    Ok(Json(v))
}

async fn decided(state: &AppState, a: Application) -> Result<Json<Value>, ApiError> {
    let mut conn = state.conn().await?;
    Ok(Json(staff_json(&mut conn, &a, state.app.now_ms()).await?))
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/claim", operation_id = "review_claim", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = crate::http::openapi::ReviewApplication), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn claim(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ReviewDecide)?;
    let a = review::claim(&state.app, &session.actor(), &id).await.map_err(review_error)?;
    decided(&state, a).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ApproveBody {
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/approve", operation_id = "review_approve", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ApproveBody,
    responses((status = 200, body = crate::http::openapi::ReviewApplication), (status = 403, description = "forbidden, same_approver", body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, description = "invalid_state, not_claimed_by_you, figures_changed", body = crate::http::openapi::Problem, content_type = P), (status = 422, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn approve(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanDecideOrSecondApprove>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ApproveBody>,
) -> Result<Json<Value>, ApiError> {
    let a = review::approve(&state.app, &session.actor(), &id, &b.comment).await.map_err(review_error)?;
    decided(&state, a).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectBody {
    #[serde(default)]
    reason_code: String,
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/reject", operation_id = "review_reject", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RejectBody,
    responses((status = 200, body = crate::http::openapi::ReviewApplication), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, body = crate::http::openapi::Problem, content_type = P), (status = 422, description = "unknown_reason_code, validation_failed", body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn reject(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanDecideOrSecondApprove>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RejectBody>,
) -> Result<Json<Value>, ApiError> {
    let a =
        review::reject(&state.app, &session.actor(), &id, &b.reason_code, &b.comment).await.map_err(review_error)?;
    decided(&state, a).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestInfoBody {
    #[serde(default)]
    items: Vec<String>,
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/request-info", operation_id = "review_request_info", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RequestInfoBody,
    responses((status = 200, body = crate::http::openapi::ReviewApplication), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, body = crate::http::openapi::Problem, content_type = P), (status = 422, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn request_info(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanDecide>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RequestInfoBody>,
) -> Result<Json<Value>, ApiError> {
    let a =
        review::request_info(&state.app, &session.actor(), &id, &b.items, &b.comment).await.map_err(review_error)?;
    decided(&state, a).await
}

#[utoipa::path(get, path = "/api/v1/review/reason-codes", operation_id = "review_reason_codes", tag = "backoffice", security(("bearer" = [])),
    responses((status = 200, body = crate::http::openapi::ReasonCodes), (status = 403, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn reason_codes(session: StaffSession) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ReviewRead)?;
    let items: Vec<Value> = rejection::CATALOGUE
        .iter()
        .map(|r| json!({"code": r.code, "explanation": {"zh": r.explanation_zh, "en": r.explanation_en}, "next_step": {"zh": r.next_step_zh, "en": r.next_step_en}}))
        .collect();
    Ok(Json(json!({"items": items})))
}

#[utoipa::path(get, path = "/api/v1/review/attachments/{id}", operation_id = "review_attachment", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "the file"), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn attachment(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    session.require(Permission::ReadAttachments)?;
    let mut conn = state.conn().await?;
    let meta = attachments::get(&mut conn, &id, None).await?.ok_or_else(ApiError::not_found)?;
    let content = attachments::content(&mut conn, &meta.sha256).await?.ok_or_else(ApiError::not_found)?;
    let headers = [(header::CONTENT_TYPE, meta.content_type), (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned())];
    Ok((headers, Body::from(content)).into_response())
}
