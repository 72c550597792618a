//! My Devices (我的设备): terminals with their deposit, plan snapshot, progress, deadline and
//! eligibility; usage records; outstanding items and settling them.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use yajin_app::assessment::{self, TerminalAssessment};
use yajin_app::outstanding::{self, SettleError};
use yajin_core::eligibility::{Lang, Missing, Reason};
use yajin_core::plan::{FeeRule, RefundRule};
use yajin_core::Timestamp;
use yajin_store::records::outstanding::Item;
use yajin_store::records::terminals;

use super::paging::{self, PageQuery};
use super::problem::{language, ApiError};
use super::session::MerchantSession;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/terminals", get(list))
        .route("/api/v1/terminals/{sn}", get(one))
        .route("/api/v1/terminals/{sn}/transactions", get(transactions))
        .route("/api/v1/outstanding-items", get(items))
        .route("/api/v1/outstanding-items/{id}/settle", post(settle))
}

pub fn rfc3339(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

/// A reason with its code, the merchant-facing message and the figures behind it.
pub fn reason_json(reason: &Reason, lang: Lang) -> Value {
    let mut v = json!({"code": reason.code(), "message": reason.message(lang)});
    let extra = match reason {
        Reason::ApplicationAlreadyOpen { application_id } => json!({"application_id": application_id}),
        Reason::OutstandingBalance { outstanding_fen, item_ids, exceeds_refund } => {
            json!({"outstanding_fen": outstanding_fen, "item_ids": item_ids, "exceeds_refund": exceeds_refund})
        }
        Reason::RefundWindowExpired { deadline } => json!({"deadline": deadline.to_rfc3339()}),
        Reason::NotYetEligible {
            missing: Missing::VolumeBelowTarget { reached_fen, needed_fen, remaining_fen, deadline, days_left },
        } => {
            json!({"missing": "volume_below_target", "reached_fen": reached_fen, "needed_fen": needed_fen,
                   "remaining_fen": remaining_fen, "deadline": deadline.to_rfc3339(), "days_left": days_left})
        }
        Reason::NotYetEligible { missing: Missing::NotActivated } => json!({"missing": "not_activated"}),
        Reason::NotYetEligible { missing: Missing::NoDeposit } => json!({"missing": "no_deposit"}),
        Reason::DepositAlreadyRefunded | Reason::RiskFrozen => json!({}),
    };
    if let (Some(target), Value::Object(extra)) = (v.as_object_mut(), extra) {
        target.extend(extra);
    }
    v
}

fn plan_json(t: &terminals::Terminal) -> Value {
    let p = &t.plan;
    let rule = match &p.rule {
        RefundRule::Activation { volume_target_fen, counted_kinds, window_days } => json!({
            "kind": "activation", "volume_target_fen": volume_target_fen,
            "counted_kinds": counted_kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(), "window_days": window_days}),
        RefundRule::Termination { refund_window_days, device_return_required } => json!({
            "kind": "termination", "refund_window_days": refund_window_days, "device_return_required": device_return_required}),
    };
    let fee = match p.fee {
        FeeRule::Fixed { amount_fen } => json!({"kind": "fixed", "amount_fen": amount_fen}),
        FeeRule::Percent { basis_points, cap_fen } => {
            json!({"kind": "percent", "basis_points": basis_points, "cap_fen": cap_fen})
        }
    };
    json!({"code": p.code, "version": p.version, "name": p.name, "deposit_fen": p.deposit_fen, "rule": rule, "fee": fee,
           "auto_approve": p.auto_approve, "auto_apply": p.auto_apply, "four_eyes_threshold_fen": p.four_eyes_threshold_fen})
}

pub fn terminal_json(ta: &TerminalAssessment, lang: Lang, now: Timestamp) -> Value {
    let (t, d, a) = (&ta.terminal, &ta.deposit, &ta.assessment);
    let refundable = d.refundable().unwrap_or_default().max(yajin_core::Fen::ZERO);
    let deposit_status = if d.collected_fen.get() == 0 {
        "none"
    } else if d.in_flight_fen.is_positive() {
        "refund_in_progress"
    } else if !refundable.is_positive() {
        "refunded"
    } else {
        "held"
    };
    let progress = a.volume.as_ref().map(|v| {
        let percent =
            if v.target_fen.is_positive() { (v.reached_fen.get() * 100 / v.target_fen.get()).min(100) } else { 100 };
        json!({"reached_fen": v.reached_fen, "target_fen": v.target_fen, "percent": percent})
    });
    json!({
        "sn": t.sn, "terminal_id": t.terminal_id, "model": t.model, "status": t.status.as_str(),
        "activated_at": rfc3339(t.activated_at), "terminated_at": rfc3339(t.terminated_at),
        "device_returned_at": rfc3339(t.device_returned_at),
        "deposit": {"amount_fen": d.collected_fen, "refundable_fen": refundable, "refunded_fen": d.refunded_fen,
                    "in_flight_fen": d.in_flight_fen, "deducted_fen": d.deducted_fen, "status": deposit_status},
        "plan": plan_json(t),
        "progress": progress,
        "eligibility": {
            "eligible": a.eligible(),
            "reasons": a.reasons.iter().map(|r| reason_json(r, lang)).collect::<Vec<_>>(),
            "refundable_fen": a.refundable_fen, "fee_fen": a.fee_fen, "deducted_fen": a.deducted_fen,
            "net_refund_fen": a.net_refund_fen, "deadline": rfc3339(a.deadline),
            "days_left": a.deadline.map(|d| now.china_days_until(d)),
            "device_return_pending": a.device_return_pending, "auto_approvable": a.auto_approvable,
        },
        "open_application_id": ta.open_application_id,
    })
}

#[utoipa::path(get, path = "/api/v1/terminals", operation_id = "settle_outstanding_item", operation_id = "list_outstanding_items", operation_id = "list_transactions", operation_id = "get_terminal", operation_id = "list_terminals", tag = "devices", security(("bearer" = []), ("cookie" = [])), params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = crate::http::openapi::TerminalPage), (status = 400, description = "invalid_query, invalid_cursor", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 401, description = "unauthenticated", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn list(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = q.page()?;
    let now = state.app.clock.now();
    let mut conn = state.conn().await?;
    let after = page.after.clone().unwrap_or_default();
    let list = terminals::of_merchant(&mut conn, &session.merchant_id, &after, page.limit + 1).await?;
    let assessed = assessment::assess_terminals(&mut conn, &session.merchant_id, list, false, now).await?;
    let lang = language(&headers);
    Ok(Json(paging::respond(assessed, page.limit, |t| t.terminal.sn.clone(), |t| terminal_json(t, lang, now))))
}

#[utoipa::path(get, path = "/api/v1/terminals/{sn}", tag = "devices", security(("bearer" = []), ("cookie" = [])), params(("sn" = String, Path)), responses((status = 200, body = crate::http::openapi::Terminal), (status = 404, description = "terminal_not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn one(
    State(state): State<AppState>,
    session: MerchantSession,
    headers: HeaderMap,
    Path(sn): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = state.app.clock.now();
    let sn = yajin_core::ids::TerminalSn::parse(&sn).map_err(|_| terminal_not_found())?;
    let mut conn = state.conn().await?;
    let assessed = assessment::assess_by_sn(&mut conn, &session.merchant_id, sn.as_str(), false, now)
        .await?
        .ok_or_else(terminal_not_found)?;
    Ok(Json(terminal_json(&assessed, language(&headers), now)))
}

pub fn terminal_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "terminal_not_found")
}

#[utoipa::path(get, path = "/api/v1/terminals/{sn}/transactions", tag = "devices", security(("bearer" = []), ("cookie" = [])), params(("sn" = String, Path), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = crate::http::openapi::UsagePage), (status = 404, description = "terminal_not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn transactions(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(sn): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = q.page()?;
    let sn = yajin_core::ids::TerminalSn::parse(&sn).map_err(|_| terminal_not_found())?;
    let mut conn = state.conn().await?;
    let terminal =
        terminals::by_sn(&mut conn, &session.merchant_id, sn.as_str()).await?.ok_or_else(terminal_not_found)?;
    let before = match page.after.as_deref() {
        None => None,
        Some(key) => {
            let (at, id) =
                key.split_once('|').ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor"))?;
            Some((
                at.parse::<i64>().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor"))?,
                id.to_owned(),
            ))
        }
    };
    let rows = terminals::usage_page(&mut conn, &terminal.id, before, page.limit + 1).await?;
    Ok(Json(paging::respond(
        rows,
        page.limit,
        |u| format!("{}|{}", u.occurred_at.millis(), u.id),
        |u| json!({"id": u.id, "amount_fen": u.amount, "fee_fen": u.fee, "occurred_at": u.occurred_at.to_rfc3339(), "kind": u.kind}),
    )))
}

pub fn item_json(i: &Item) -> Value {
    json!({"id": i.id, "kind": i.kind, "amount_fen": i.amount, "due_at": i.due_at.to_rfc3339(), "status": i.status,
           "terminal_sn": i.terminal_sn, "settled_at": rfc3339(i.settled_at), "application_id": i.application_id})
}

#[utoipa::path(get, path = "/api/v1/outstanding-items", tag = "devices", security(("bearer" = []), ("cookie" = [])), params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = crate::http::openapi::OutstandingPage)))]
pub(super) async fn items(
    State(state): State<AppState>,
    session: MerchantSession,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = q.page()?;
    let mut conn = state.conn().await?;
    let after = page.after.clone().unwrap_or_default();
    let rows =
        yajin_store::records::outstanding::page_of_merchant(&mut conn, &session.merchant_id, &after, page.limit + 1)
            .await?;
    Ok(Json(paging::respond(rows, page.limit, |i| i.id.clone(), item_json)))
}

#[utoipa::path(post, path = "/api/v1/outstanding-items/{id}/settle", tag = "devices", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::http::openapi::OutstandingItem), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 409, description = "already_settled", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn settle(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match outstanding::settle(&state.app, &session.merchant_id, &id).await {
        Ok(item) => Ok(Json(item_json(&item))),
        Err(SettleError::NotFound) => Err(ApiError::not_found()),
        Err(SettleError::AlreadySettled(item)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "already_settled").with("item", item_json(&item)))
        }
        Err(SettleError::Store(e)) => Err(e.into()),
    }
}
