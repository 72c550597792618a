//! The review desk: the queue, the evidence, and the decisions.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use yajin_app::review::{self, DeviceReceipt, ReviewError, StaffApplication};
use yajin_core::permission::Permission;
use yajin_core::rejection;
use yajin_core::validation::FieldError;

use super::attachments::{file_response, Disposition};
use super::idempotency::{Answer, IdempotencyKey};
use super::json_body::ApiJson;
use super::problem::{language, ApiError, ErrorCode, Language, Problem};
use super::session::{CanDecide, CanDecideOrSecondApprove, Staff, StaffSession};
use super::state::AppState;
use super::views::{
    DeviceReceiptView, LocalizedView, ReasonCodeView, ReasonCodesView, ReviewApplicationView, ReviewEvidenceView,
    ReviewPage,
};
use yajin_core::text::Lang;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/review/applications", get(list_review_queue))
        .route("/api/v1/review/applications/{id}", get(get_review_evidence))
        .route("/api/v1/review/applications/{id}/claim", post(claim_application))
        .route("/api/v1/review/applications/{id}/approve", post(approve_application))
        .route("/api/v1/review/applications/{id}/reject", post(reject_application))
        .route("/api/v1/review/applications/{id}/request-info", post(request_application_info))
        .route("/api/v1/review/reason-codes", get(list_rejection_reasons))
        .route("/api/v1/review/terminals/{sn}/device-received", post(record_device_received))
        .route("/api/v1/review/attachments/{id}", get(download_evidence_attachment))
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> ApiError {
        match e {
            ReviewError::NotFound => ApiError::not_found(),
            ReviewError::InvalidState(s) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState).with("application_status", s.as_str())
            }
            ReviewError::Forbidden => ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ReviewError::SameApprover => ApiError::new(StatusCode::FORBIDDEN, ErrorCode::SameApprover),
            ReviewError::ApproverRequired => ApiError::new(StatusCode::FORBIDDEN, ErrorCode::ApproverRequired),
            ReviewError::NotClaimedByYou => ApiError::new(StatusCode::CONFLICT, ErrorCode::NotClaimedByYou),
            ReviewError::UnknownReasonCode => ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::UnknownReasonCode,
                FieldError::new(
                    "reason_code",
                    "unknown",
                    "未知的驳回原因，见 GET /api/v1/review/reason-codes",
                    "see GET /api/v1/review/reason-codes",
                ),
            ),
            ReviewError::Fields(errors) => ApiError::validation(errors),
            ReviewError::FiguresChanged { what } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::FiguresChanged).with("changed", what)
            }
            ReviewError::DeviceNotReceived => ApiError::new(StatusCode::CONFLICT, ErrorCode::DeviceNotReceived),
            ReviewError::DeviceAlreadyReceived => ApiError::new(StatusCode::CONFLICT, ErrorCode::DeviceAlreadyReceived),
            ReviewError::App(e) => e.into(),
            ReviewError::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct QueueQuery {
    /// An application status; default `submitted`.
    status: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/review/applications", operation_id = "list_review_queue", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(QueueQuery),
    responses((status = 200, body = ReviewPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_review_queue(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
    Query(q): Query<QueueQuery>,
) -> Result<Json<ReviewPage>, ApiError> {
    session.require(Permission::ReviewRead)?;
    let page = yajin_app::paging::PageRequest::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let list = review::queue(&state.app, session.role, q.status.as_deref(), &page).await?;
    Ok(Json(ReviewPage::of(list, |a| ReviewApplicationView::new(a, lang))))
}

#[utoipa::path(get, path = "/api/v1/review/applications/{id}", operation_id = "get_review_evidence", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ReviewEvidenceView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_review_evidence(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ReviewEvidenceView>, ApiError> {
    session.require(Permission::ReviewRead)?;
    let evidence = review::evidence(&state.app, &id).await?;
    Ok(Json(ReviewEvidenceView::new(evidence, language(&headers))))
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/claim", operation_id = "claim_application", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = ReviewApplicationView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn claim_application(
    State(state): State<AppState>,
    Language(lang): Language,
    Staff(session, _): Staff<CanDecide>,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = decision_answer(lang);
    let outcome = review::claim(&state.app, &session.actor(), &id, key.replay(&session, &(), &answer)).await?;
    Ok(answer.respond(outcome))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ApproveBody {
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/approve", operation_id = "approve_application", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = ApproveBody,
    responses((status = 200, body = ReviewApplicationView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, same_approver (you gave the first approval), approver_required (the second approval needs the approver role)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state, not_claimed_by_you, figures_changed (with `changed`: outstanding, risk_frozen), device_not_received", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn approve_application(
    State(state): State<AppState>,
    Language(lang): Language,
    Staff(session, _): Staff<CanDecideOrSecondApprove>,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ApproveBody>,
) -> Result<Response, ApiError> {
    let answer = decision_answer(lang);
    let replay = key.replay(&session, &b, &answer);
    let outcome = review::approve(&state.app, &session.actor(), &id, &b.comment, replay).await?;
    Ok(answer.respond(outcome))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectBody {
    #[serde(default)]
    reason_code: String,
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/reject", operation_id = "reject_application", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = RejectBody,
    responses((status = 200, body = ReviewApplicationView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state, not_claimed_by_you", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "unknown_reason_code, validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn reject_application(
    State(state): State<AppState>,
    Language(lang): Language,
    Staff(session, _): Staff<CanDecideOrSecondApprove>,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RejectBody>,
) -> Result<Response, ApiError> {
    let answer = decision_answer(lang);
    let replay = key.replay(&session, &b, &answer);
    let outcome = review::reject(&state.app, &session.actor(), &id, &b.reason_code, &b.comment, replay).await?;
    Ok(answer.respond(outcome))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestInfoBody {
    #[serde(default)]
    items: Vec<String>,
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/review/applications/{id}/request-info", operation_id = "request_application_info", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = RequestInfoBody,
    responses((status = 200, body = ReviewApplicationView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state, not_claimed_by_you", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn request_application_info(
    State(state): State<AppState>,
    Language(lang): Language,
    Staff(session, _): Staff<CanDecide>,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RequestInfoBody>,
) -> Result<Response, ApiError> {
    let answer = decision_answer(lang);
    let replay = key.replay(&session, &b, &answer);
    let outcome = review::request_info(&state.app, &session.actor(), &id, &b.items, &b.comment, replay).await?;
    Ok(answer.respond(outcome))
}

/// A decision is answered with the application as the back office now sees it.
fn decision_answer(lang: Lang) -> Answer<StaffApplication> {
    Answer::new(StatusCode::OK, move |a: &StaffApplication| ReviewApplicationView::new(a.clone(), lang))
}

#[utoipa::path(get, path = "/api/v1/review/reason-codes", operation_id = "list_rejection_reasons", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ReasonCodesView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_rejection_reasons(session: StaffSession) -> Result<Json<ReasonCodesView>, ApiError> {
    session.require(Permission::ReviewRead)?;
    let items = rejection::CATALOGUE
        .iter()
        .map(|r| ReasonCodeView {
            code: r.code.to_owned(),
            explanation: LocalizedView { zh: r.explanation_zh.to_owned(), en: r.explanation_en.to_owned() },
            next_step: LocalizedView { zh: r.next_step_zh.to_owned(), en: r.next_step_en.to_owned() },
        })
        .collect();
    Ok(Json(ReasonCodesView { items }))
}

#[utoipa::path(get, path = "/api/v1/review/attachments/{id}", operation_id = "download_evidence_attachment", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "the file"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn download_evidence_attachment(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    session.require(Permission::ReadAttachments)?;
    let (meta, content) = review::attachment(&state.app, &id).await?;
    Ok(file_response(&id, meta.content_type, content, Disposition::Download))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeviceReceivedBody {
    #[serde(default)]
    waybill_no: String,
    /// `ok`, `damaged` or `missing_parts`.
    #[serde(default)]
    condition: String,
    #[serde(default)]
    note: String,
}

/// A returned device, recorded by the reviewer: the termination refunds whose plan wants the
/// device back can be approved from now on.
#[utoipa::path(post, path = "/api/v1/review/terminals/{sn}/device-received", operation_id = "record_device_received", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("sn" = String, Path), IdempotencyKey), request_body = DeviceReceivedBody,
    responses((status = 201, body = DeviceReceiptView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "device_already_received", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn record_device_received(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanDecide>,
    key: IdempotencyKey,
    Path(sn): Path<String>,
    ApiJson(b): ApiJson<DeviceReceivedBody>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::CREATED, |r: &DeviceReceipt| DeviceReceiptView {
        sn: r.sn.clone(),
        waybill_no: r.waybill_no.clone(),
        condition: r.condition.clone(),
        received_at: r.received_at.to_rfc3339(),
    });
    let replay = key.replay(&session, &b, &answer);
    let outcome =
        review::device_received(&state.app, &session.actor(), &sn, &b.waybill_no, &b.condition, &b.note, replay)
            .await?;
    Ok(answer.respond(outcome))
}
