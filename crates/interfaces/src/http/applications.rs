//! Refund applications (退押金申请): preview, submit (idempotent), list, detail with timeline,
//! cancel, supplement, receipt.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use yajin_app::applications::{self, ApplicationDetail, ApplyError, ApplyInput};
use yajin_app::assessment::TerminalAssessment;
use yajin_app::payouts::CardChangeError;
use yajin_core::eligibility::{Lang, Reason};

use super::idempotency::{Answer, IdempotencyKey};
use super::json_body::ApiJson;
use super::paging::PageQuery;
use super::problem::{language, ApiError, ErrorCode, Language, Problem};
use super::session::MerchantSession;
use super::state::AppState;
use super::views::{figures, ApplicationPage, ApplicationView, PreviewView, ReasonView, ReceiptCheckView, ReceiptView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/refund-applications", post(submit_refund_application).get(list_refund_applications))
        .route("/api/v1/refund-applications/preview", post(preview_refund_application))
        .route("/api/v1/refund-applications/{id}", get(get_refund_application))
        .route("/api/v1/refund-applications/{id}/cancel", post(cancel_refund_application))
        .route("/api/v1/refund-applications/{id}/supplement", post(supplement_refund_application))
        .route("/api/v1/refund-applications/{id}/receipt", get(get_refund_receipt))
        .route("/api/v1/receipts/{number}/verify", get(verify_receipt))
        .route("/api/v1/refund-applications/{id}/payout-card", post(change_payout_card))
}

/// Every field optional at the JSON level, so that all missing ones are reported at once.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    #[serde(default)]
    terminal_sn: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    id_card_no: Option<String>,
    #[serde(default)]
    bank_card_no: Option<String>,
    /// `stop_using`, `target_reached`, `device_faulty`, `changed_provider`, `other`.
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    attachment_ids: Vec<String>,
    /// Consent to have what is owed deducted from the deposit.
    #[serde(default)]
    deduct_outstanding: bool,
}

impl ApplyBody {
    fn input(&self) -> ApplyInput {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        ApplyInput {
            terminal_sn: text(&self.terminal_sn),
            phone: text(&self.phone),
            id_card_no: text(&self.id_card_no),
            bank_card_no: text(&self.bank_card_no),
            reason: text(&self.reason),
            note: text(&self.note),
            attachment_ids: self.attachment_ids.clone(),
            deduct_outstanding: self.deduct_outstanding,
        }
    }
}

pub(crate) fn apply_error(e: ApplyError, lang: Lang) -> ApiError {
    match e {
        ApplyError::Fields(errors) => ApiError::validation(errors),
        ApplyError::TerminalNotFound => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::TerminalNotFound),
        ApplyError::IdentityMismatch(errors) => {
            ApiError { errors, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::IdentityMismatch) }
        }
        ApplyError::BankCardMismatch => ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::BankCardMismatch,
            yajin_core::validation::FieldError::new(
                "bank_card_no",
                "mismatch",
                "押金只退回绑定的结算卡",
                "refunds go to the bound settlement card",
            ),
        ),
        ApplyError::NotEligible(assessed) => not_eligible(&assessed, lang),
        ApplyError::IdentityChecksLocked => ApiError::new(StatusCode::LOCKED, ErrorCode::IdentityChecksLocked),
        ApplyError::AlreadyOpen { application_id, .. } => {
            ApiError::new(StatusCode::CONFLICT, ErrorCode::ApplicationAlreadyOpen)
                .with("application_id", application_id)
        }
        ApplyError::InvalidState(status) => {
            ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState).with("application_status", status.as_str())
        }
        ApplyError::NotRefunded(status) => {
            ApiError::new(StatusCode::CONFLICT, ErrorCode::NotRefunded).with("application_status", status.as_str())
        }
        ApplyError::IdempotencyKeyReused => ApiError::new(StatusCode::CONFLICT, ErrorCode::IdempotencyKeyReused),
        ApplyError::NotFound => ApiError::not_found(),
        ApplyError::AmountOutOfRange => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::AmountOutOfRange),
        ApplyError::Unexpected(cause) => ApiError::unexpected(cause),
        ApplyError::Store(e) => e.into(),
    }
}

fn reason_code(reason: &Reason) -> ErrorCode {
    match reason {
        Reason::ApplicationAlreadyOpen { .. } => ErrorCode::ApplicationAlreadyOpen,
        Reason::OutstandingBalance { .. } => ErrorCode::OutstandingBalance,
        Reason::RefundWindowExpired { .. } => ErrorCode::RefundWindowExpired,
        Reason::NotYetEligible { .. } => ErrorCode::NotYetEligible,
        Reason::DepositAlreadyRefunded => ErrorCode::DepositAlreadyRefunded,
        Reason::RiskFrozen => ErrorCode::RiskFrozen,
    }
}

/// The first reason is the code; every reason is listed with its figures and message.
fn not_eligible(a: &TerminalAssessment, lang: Lang) -> ApiError {
    let reasons = &a.assessment.reasons;
    let Some(first) = reasons.first() else { return ApiError::unexpected("refused without a reason") };
    let mut error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason_code(first));
    for (k, v) in figures(first) {
        error = error.with(&k, v);
    }
    if let Reason::OutstandingBalance { .. } = first {
        let items: Vec<Value> = a
            .owed
            .iter()
            .map(|i| serde_json::json!({"id": i.id, "kind": i.kind, "amount_fen": i.amount_fen, "due_at": i.due_at.to_rfc3339()}))
            .collect();
        error = error.with("items", items);
    }
    let reasons: Vec<Value> =
        reasons.iter().map(|r| serde_json::to_value(ReasonView::new(r, lang)).unwrap_or_default()).collect();
    error.with("reasons", reasons).detail(first.message(Lang::Zh), first.message(Lang::En))
}

#[utoipa::path(post, path = "/api/v1/refund-applications/preview", operation_id = "preview_refund_application",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), request_body = ApplyBody,
    responses((status = 200, body = PreviewView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "terminal_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body, identity_mismatch, bank_card_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "identity_checks_locked: 5 mismatches in 24 h; unlock with POST /api/v1/identity-checks/unlock", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn preview_refund_application(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<Json<PreviewView>, ApiError> {
    let lang = language(&headers);
    let p = applications::preview(&state.app, &session.merchant_id, &body.input())
        .await
        .map_err(|e| apply_error(e, lang))?;
    Ok(Json(PreviewView::new(&p, lang)))
}

#[utoipa::path(post, path = "/api/v1/refund-applications", operation_id = "submit_refund_application",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), request_body = ApplyBody,
    params(IdempotencyKey),
    responses((status = 201, body = ApplicationView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "terminal_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "application_already_open", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body, identity_mismatch, bank_card_mismatch, outstanding_balance, refund_window_expired, not_yet_eligible, deposit_already_refunded, risk_frozen", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "identity_checks_locked", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn submit_refund_application(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<Response, ApiError> {
    let lang = language(&headers);
    let answer = Answer::new(StatusCode::CREATED, application_view(lang));
    let replay = key.replay(&session, &body, &answer);
    let outcome = applications::submit(&state.app, &session.merchant_id, &body.input(), replay)
        .await
        .map_err(|e| apply_error(e, language(&headers)))?;
    Ok(answer.respond(outcome))
}

fn application_view(lang: Lang) -> impl Fn(&ApplicationDetail) -> ApplicationView + Send + Sync + 'static {
    move |detail| ApplicationView::new(detail.clone(), lang)
}

#[utoipa::path(get, path = "/api/v1/refund-applications", operation_id = "list_refund_applications",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), params(PageQuery),
    responses((status = 200, body = ApplicationPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_refund_applications(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    Query(q): Query<PageQuery>,
) -> Result<Json<ApplicationPage>, ApiError> {
    let page = q.page()?;
    let list = applications::list(&state.app, &session.merchant_id, &page).await?;
    Ok(Json(ApplicationPage::of(list, |d| ApplicationView::new(d, lang))))
}

#[utoipa::path(get, path = "/api/v1/refund-applications/{id}", operation_id = "get_refund_application",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another merchant's)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_refund_application(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ApplicationView>, ApiError> {
    let lang = language(&headers);
    let detail = applications::detail(&state.app, &session.merchant_id, &id)
        .await
        .map_err(|e| apply_error(e, language(&headers)))?;
    Ok(Json(ApplicationView::new(detail, lang)))
}

#[utoipa::path(post, path = "/api/v1/refund-applications/{id}/cancel", operation_id = "cancel_refund_application",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = ApplicationView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn cancel_refund_application(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lang = language(&headers);
    let answer = Answer::new(StatusCode::OK, application_view(lang));
    let outcome = applications::cancel(&state.app, &session.merchant_id, &id, key.replay(&session, &(), &answer))
        .await
        .map_err(|e| apply_error(e, language(&headers)))?;
    Ok(answer.respond(outcome))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SupplementBody {
    #[serde(default)]
    note: String,
    #[serde(default)]
    attachment_ids: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/refund-applications/{id}/supplement", operation_id = "supplement_refund_application",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = SupplementBody,
    responses((status = 200, body = ApplicationView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn supplement_refund_application(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SupplementBody>,
) -> Result<Response, ApiError> {
    let lang = language(&headers);
    let answer = Answer::new(StatusCode::OK, application_view(lang));
    let replay = key.replay(&session, &body, &answer);
    let outcome =
        applications::supplement(&state.app, &session.merchant_id, &id, &body.note, &body.attachment_ids, replay)
            .await
            .map_err(|e| apply_error(e, language(&headers)))?;
    Ok(answer.respond(outcome))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReceiptQuery {
    /// `json` (the default) or `html` for a printable page; anything else is 400.
    format: Option<String>,
}

/// The refund receipt (退款凭证), once refunded.
#[utoipa::path(get, path = "/api/v1/refund-applications/{id}/receipt", operation_id = "get_refund_receipt",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), ReceiptQuery),
    responses((status = 200, body = ReceiptView, description = "JSON, or with `format=html` a printable page"),
        (status = 400, description = "invalid_query: format is neither json nor html", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not_refunded", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_refund_receipt(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, ApiError> {
    let html = match q.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery)
                .with("field", "format")
                .detail("format 须为 json 或 html", "format is json or html"))
        }
    };
    let receipt = applications::receipt(&state.app, &session.merchant_id, &id)
        .await
        .map_err(|e| apply_error(e, language(&headers)))?;
    let view = ReceiptView::from(receipt);
    if html {
        return Ok(super::receipt::document(view, language(&headers)));
    }
    Ok(Json(view).into_response())
}

/// Public: anyone a merchant shows a receipt to can check its number. Only a real number is
/// found; the card stays masked.
#[utoipa::path(get, path = "/api/v1/receipts/{number}/verify", operation_id = "verify_receipt", tag = "applications",
    params(("number" = String, Path)),
    responses((status = 200, body = ReceiptCheckView),
        (status = 404, description = "not_found: no such receipt", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn verify_receipt(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Json<ReceiptCheckView>, ApiError> {
    let check = applications::verify_receipt(&state.app, &number).await?;
    Ok(Json(ReceiptCheckView {
        valid: true,
        receipt_number: check.receipt_number,
        net_refund_fen: check.net_refund.get(),
        paid_at: check.paid_at.map(|t| t.to_rfc3339()),
        card: check.card_masked,
    }))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PayoutCardBody {
    /// Another card in the merchant's own name.
    bank_card_no: String,
    /// The code sent by `POST /api/v1/auth/sms-codes` with purpose `change_payout_card`.
    sms_code: String,
}

/// After `payout_failed`: the refund is issued again, to another card of the merchant's,
/// confirmed by an SMS code to their bound phone.
#[utoipa::path(post, path = "/api/v1/refund-applications/{id}/payout-card", operation_id = "change_payout_card",
    tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    request_body = PayoutCardBody,
    responses((status = 200, description = "the application, `paying` again", body = ApplicationView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another merchant's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state: only after payout_failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body, invalid_code (wrong, spent or expired)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn change_payout_card(
    State(state): State<AppState>,
    session: MerchantSession,
    Language(lang): Language,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PayoutCardBody>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::OK, application_view(lang));
    let replay = key.replay(&session, &body, &answer);
    let outcome = yajin_app::payouts::change_card(
        &state.app,
        &session.merchant_id,
        &id,
        &body.bank_card_no,
        &body.sms_code,
        replay,
    )
    .await?;
    Ok(answer.respond(outcome))
}

impl From<CardChangeError> for ApiError {
    fn from(e: CardChangeError) -> ApiError {
        match e {
            CardChangeError::NotFound => ApiError::not_found(),
            CardChangeError::InvalidState(status) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState).with("application_status", status)
            }
            CardChangeError::Fields(errors) => ApiError::validation(errors),
            CardChangeError::Code(e) => e.into(),
            CardChangeError::App(e) => e.into(),
        }
    }
}
