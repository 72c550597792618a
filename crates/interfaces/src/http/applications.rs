//! Refund applications (退押金申请): preview, submit (idempotent), list, detail with timeline,
//! cancel, supplement, receipt.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use yajin_app::applications::{self, ApplyError, ApplyInput};
use yajin_app::assessment::TerminalAssessment;
use yajin_core::eligibility::{Lang, Reason};
use yajin_core::Fen;
use yajin_store::records::applications::{self as records, Application};
use yajin_store::records::idempotency::{self, Claim};
use yajin_store::records::{attachments, merchants, terminals};
use yajin_store::{Conn, StoreError};

use super::devices::{reason_json, rfc3339};
use super::json_body::ApiJson;
use super::paging::{self, PageQuery};
use super::problem::{language, ApiError};
use super::session::MerchantSession;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/refund-applications", post(submit).get(list))
        .route("/api/v1/refund-applications/preview", post(preview))
        .route("/api/v1/refund-applications/{id}", get(detail))
        .route("/api/v1/refund-applications/{id}/cancel", post(cancel))
        .route("/api/v1/refund-applications/{id}/supplement", post(supplement))
        .route("/api/v1/refund-applications/{id}/receipt", get(receipt))
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
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    attachment_ids: Vec<String>,
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

fn amounts_json(a: &TerminalAssessment) -> Value {
    let x = &a.assessment;
    json!({"amount_fen": x.refundable_fen, "fee_fen": x.fee_fen, "deducted_fen": x.deducted_fen, "net_refund_fen": x.net_refund_fen,
           "deductions": x.deductions, "deadline": rfc3339(x.deadline)})
}

fn apply_error(e: ApplyError, lang: Lang) -> ApiError {
    match e {
        ApplyError::Fields(errors) => ApiError::validation(errors),
        ApplyError::TerminalNotFound => ApiError::new(StatusCode::NOT_FOUND, "terminal_not_found"),
        ApplyError::IdentityMismatch(errors) => {
            ApiError { errors, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "identity_mismatch") }
        }
        ApplyError::BankCardMismatch => ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bank_card_mismatch",
            yajin_core::validation::FieldError::new(
                "bank_card_no",
                "mismatch",
                "refunds go to the bound settlement card",
            ),
        ),
        ApplyError::NotEligible(assessed) => not_eligible(&assessed, lang),
        ApplyError::AlreadyOpen { application_id, .. } => {
            ApiError::new(StatusCode::CONFLICT, "application_already_open").with("application_id", application_id)
        }
        ApplyError::InvalidState(status) => {
            ApiError::new(StatusCode::CONFLICT, "invalid_state").with("application_status", status.as_str())
        }
        ApplyError::NotFound => ApiError::not_found(),
        ApplyError::Store(e) => e.into(),
    }
}

/// The first reason is the code; every reason is listed with its figures and message.
fn not_eligible(a: &TerminalAssessment, lang: Lang) -> ApiError {
    let reasons = &a.assessment.reasons;
    let Some(first) = reasons.first() else { return ApiError::internal() };
    let mut error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, first.code());
    if let Value::Object(figures) = reason_json(first, lang) {
        for (k, v) in figures.into_iter().filter(|(k, _)| k != "code" && k != "message") {
            error = error.with(&k, v);
        }
    }
    if let Reason::OutstandingBalance { .. } = first {
        let items: Vec<Value> = a
            .owed
            .iter()
            .map(|i| json!({"id": i.id, "kind": i.kind, "amount_fen": i.amount_fen, "due_at": i.due_at.to_rfc3339()}))
            .collect();
        error = error.with("items", items);
    }
    let message = first.message(lang);
    error
        .with("reasons", reasons.iter().map(|r| reason_json(r, lang)).collect::<Vec<_>>())
        .detail(message.clone(), message)
}

#[utoipa::path(post, path = "/api/v1/refund-applications/preview", operation_id = "get_receipt", operation_id = "supplement_application", operation_id = "cancel_application", operation_id = "get_application", operation_id = "preview_application", operation_id = "list_applications", operation_id = "submit_application", tag = "applications", security(("bearer" = []), ("cookie" = [])), request_body = ApplyBody, responses((status = 200, body = crate::http::openapi::Preview), (status = 404, description = "terminal_not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "validation_failed, identity_mismatch, bank_card_mismatch", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn preview(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<Json<Value>, ApiError> {
    let lang = language(&headers);
    let p = applications::preview(&state.app, &session.merchant_id, &body.input())
        .await
        .map_err(|e| apply_error(e, lang))?;
    let mut out = amounts_json(&p.assessment);
    let extra = json!({
        "eligible": p.assessment.assessment.eligible(),
        "reasons": p.assessment.assessment.reasons.iter().map(|r| reason_json(r, lang)).collect::<Vec<_>>(),
        "auto_approvable": p.assessment.assessment.auto_approvable,
        "warnings": p.warnings,
        "terminal_sn": p.assessment.terminal.sn,
    });
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    Ok(Json(out))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key")
            .detail("幂等键须为 1–255 个可见 ASCII 字符", "Idempotency-Key: 1–255 visible ASCII characters")
    })
}

fn replayed(status: u16, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

#[utoipa::path(post, path = "/api/v1/refund-applications", tag = "applications", security(("bearer" = []), ("cookie" = [])), request_body = ApplyBody, params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = crate::http::openapi::Application), (status = 404, description = "terminal_not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 409, description = "application_already_open, idempotency_key_reused", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "validation_failed, invalid_body, identity_mismatch, bank_card_mismatch, outstanding_balance, refund_window_expired, not_yet_eligible, deposit_already_refunded, risk_frozen", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn submit(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<Response, ApiError> {
    let lang = language(&headers);
    let key = idempotency_key(&headers)?;
    let principal = format!("merchant:{}", session.merchant_id);
    let request_hash = hex::encode(Sha256::digest(serde_json::to_vec(&body).unwrap_or_default()));
    let mut tx = state.app.db.begin_write().await?;
    if let Some(key) = &key {
        match idempotency::claim(&mut tx, &principal, key, &request_hash, state.app.now_ms()).await? {
            Claim::New => {}
            Claim::Replay { status, body } => return Ok(replayed(status, body)),
            Claim::Mismatch => return Err(ApiError::new(StatusCode::CONFLICT, "idempotency_key_reused")),
        }
    }
    let id = match applications::submit(&mut tx, &state.app, &session.merchant_id, &body.input()).await {
        Ok(id) => id,
        Err(ApplyError::AlreadyOpen { application_id: None, terminal_id }) => {
            drop(tx);
            let mut conn = state.conn().await?;
            let open = records::open_for_terminal(&mut conn, &terminal_id).await?.map(|a| a.id);
            return Err(apply_error(ApplyError::AlreadyOpen { application_id: open, terminal_id }, lang));
        }
        Err(e) => return Err(apply_error(e, lang)),
    };
    let created = records::by_id(&mut tx, &id).await?.ok_or_else(ApiError::internal)?;
    let rendered = application_json(&mut tx, &created).await?;
    let bytes = serde_json::to_vec(&rendered).unwrap_or_default();
    if let Some(key) = &key {
        idempotency::complete(&mut tx, &principal, key, 201, &bytes).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    let mut response = (StatusCode::CREATED, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// An application as the merchant sees it, with its terminal, files, timeline and payout.
pub async fn application_json(conn: &mut Conn, a: &Application) -> Result<Value, ApiError> {
    let terminal = terminals::by_id(conn, &a.terminal_id).await?;
    let events = records::events(conn, &a.id).await?;
    let files = attachments::of_application(conn, &a.id).await?;
    let timeline: Vec<Value> = events
        .iter()
        .map(|e| json!({"status": e.to.as_str(), "from": e.from.map(|s| s.as_str()), "at": e.at.to_rfc3339(), "actor": e.actor_role, "note": e.note}))
        .collect();
    Ok(json!({
        "id": a.id, "status": a.status.as_str(), "terminal_sn": terminal.map(|t| t.sn), "reason": a.reason, "note": a.note,
        "amount_fen": a.amount, "fee_fen": a.fee, "deducted_fen": a.deducted, "net_refund_fen": a.net_refund,
        "deduct_outstanding": a.deduct_outstanding, "bank_card": a.bank_card_masked, "four_eyes_required": a.four_eyes_required,
        "created_at": a.created_at.to_rfc3339(), "updated_at": a.updated_at.to_rfc3339(),
        "attachments": files.iter().map(|f| json!({"id": f.id, "kind": f.kind, "content_type": f.content_type, "size": f.size})).collect::<Vec<_>>(),
        "timeline": timeline,
        "payout": Value::Null,
    }))
}

#[utoipa::path(get, path = "/api/v1/refund-applications", tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = crate::http::openapi::ApplicationPage)))]
pub(super) async fn list(
    State(state): State<AppState>,
    session: MerchantSession,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = q.page()?;
    let mut conn = state.conn().await?;
    let rows =
        records::page_of_merchant(&mut conn, &session.merchant_id, page.after.as_deref(), page.limit + 1).await?;
    let (rows, next) = paging::split(rows, page.limit, |a| a.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for a in &rows {
        items.push(application_json(&mut conn, a).await?);
    }
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

#[utoipa::path(get, path = "/api/v1/refund-applications/{id}", tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::http::openapi::Application), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn detail(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut conn = state.conn().await?;
    let a = records::of_merchant(&mut conn, &session.merchant_id, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(application_json(&mut conn, &a).await?))
}

#[utoipa::path(post, path = "/api/v1/refund-applications/{id}/cancel", tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::http::openapi::Application), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 409, description = "invalid_state", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = applications::cancel(&state.app, &session.merchant_id, &id)
        .await
        .map_err(|e| apply_error(e, language(&headers)))?;
    let mut conn = state.conn().await?;
    Ok(Json(application_json(&mut conn, &a).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SupplementBody {
    #[serde(default)]
    note: String,
    #[serde(default)]
    attachment_ids: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/refund-applications/{id}/supplement", tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)), request_body = SupplementBody, responses((status = 200, body = crate::http::openapi::Application), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 409, description = "invalid_state", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "validation_failed", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn supplement(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SupplementBody>,
) -> Result<Json<Value>, ApiError> {
    let a = applications::supplement(&state.app, &session.merchant_id, &id, &body.note, &body.attachment_ids)
        .await
        .map_err(|e| apply_error(e, language(&headers)))?;
    let mut conn = state.conn().await?;
    Ok(Json(application_json(&mut conn, &a).await?))
}

#[derive(Deserialize)]
pub(super) struct ReceiptQuery {
    format: Option<String>,
}

/// The refund receipt (退款凭证), once refunded.
#[utoipa::path(get, path = "/api/v1/refund-applications/{id}/receipt", tag = "applications", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), ("format" = Option<String>, Query, description = "html for a printable page")), responses((status = 200, body = crate::http::openapi::Receipt), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 409, description = "not_refunded", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn receipt(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, ApiError> {
    let mut conn = state.conn().await?;
    let a = records::of_merchant(&mut conn, &session.merchant_id, &id).await?.ok_or_else(ApiError::not_found)?;
    if a.status != yajin_core::application::Status::Refunded {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_refunded").with("application_status", a.status.as_str()));
    }
    let merchant = merchants::by_id(&mut conn, &a.merchant_id).await?.ok_or_else(ApiError::not_found)?;
    let terminal = terminals::by_id(&mut conn, &a.terminal_id).await?.ok_or_else(ApiError::not_found)?;
    let events = records::events(&mut conn, &a.id).await?;
    let refunded_at = events.iter().rev().find(|e| e.to == yajin_core::application::Status::Refunded).map(|e| e.at);
    let capitals = |f: Fen| f.to_chinese_capitals();
    let receipt = json!({
        "refund_no": a.id, "merchant_no": merchant.merchant_no, "merchant_name": merchant.name,
        "terminal_sn": terminal.sn, "terminal_id": terminal.terminal_id,
        "amount_fen": a.amount, "fee_fen": a.fee, "deducted_fen": a.deducted, "net_refund_fen": a.net_refund,
        "net_refund_yuan": a.net_refund.to_string(), "net_refund_capitals": capitals(a.net_refund),
        "amount_capitals": capitals(a.amount),
        "bank_card": a.bank_card_masked, "bank_name": merchant.bank_name, "bank_reference": Value::Null,
        "submitted_at": a.created_at.to_rfc3339(), "refunded_at": rfc3339(refunded_at),
    });
    if q.format.as_deref() == Some("html") {
        return Ok(Html(receipt_html(&receipt)).into_response());
    }
    Ok(Json(receipt).into_response())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn receipt_html(r: &Value) -> String {
    let s = |k: &str| escape(&r[k].as_str().map(str::to_owned).unwrap_or_else(|| r[k].to_string()));
    let yuan = |k: &str| Fen::new(r[k].as_i64().unwrap_or(0)).to_string();
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>退款凭证 {no}</title><style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}}\
         td{{padding:.3em .6em;border-bottom:1px solid #ddd}}td:first-child{{color:#555}}</style></head><body>\
         <h1>退押金退款凭证</h1><table>\
         <tr><td>退款编号</td><td>{no}</td></tr><tr><td>商户</td><td>{name}（{mno}）</td></tr>\
         <tr><td>终端</td><td>{sn} / {tid}</td></tr><tr><td>押金</td><td>{amount}</td></tr>\
         <tr><td>手续费</td><td>{fee}</td></tr><tr><td>抵扣</td><td>{deducted}</td></tr>\
         <tr><td>实退金额</td><td>{net}（大写：{caps}）</td></tr><tr><td>收款卡</td><td>{bank} {card}</td></tr>\
         <tr><td>申请时间</td><td>{submitted}</td></tr><tr><td>退款时间</td><td>{refunded}</td></tr></table>\
         <p>本凭证由系统生成。官方退押金流程不会向您收取任何费用，也不会索要验证码。</p></body></html>",
        no = s("refund_no"),
        name = s("merchant_name"),
        mno = s("merchant_no"),
        sn = s("terminal_sn"),
        tid = s("terminal_id"),
        amount = yuan("amount_fen"),
        fee = yuan("fee_fen"),
        deducted = yuan("deducted_fen"),
        net = yuan("net_refund_fen"),
        caps = s("net_refund_capitals"),
        bank = s("bank_name"),
        card = s("bank_card"),
        submitted = s("submitted_at"),
        refunded = s("refunded_at"),
    )
}
