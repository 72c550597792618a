//! The rest of the back office: deposit plans, the audit log, the support inbox,
//! announcements, the summary report.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use yajin_app::{provisioning, reports, support, AppError};
use yajin_core::permission::Permission;
use yajin_core::plan::{DepositPlan, FeeRule, RefundRule};
use yajin_core::{Fen, Timestamp};
use yajin_store::audit;
use yajin_store::records::{applications, plans, tickets};

use super::json_body::ApiJson;
use super::paging::{self, PageQuery};
use super::problem::ApiError;
use super::session::{CanAnswerTickets, CanManageAnnouncements, CanManagePlans, Staff, StaffSession};
use super::AppState;

const P: &str = "application/problem+json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/policies", get(list_plans).post(create_plan))
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/support/tickets", get(inbox))
        .route("/api/v1/support/tickets/{id}", get(support_ticket))
        .route("/api/v1/support/tickets/{id}/messages", post(answer))
        .route("/api/v1/support/tickets/{id}/close", post(close))
        .route("/api/v1/admin/announcements", post(draft))
        .route("/api/v1/admin/announcements/{id}/publish", post(publish))
        .route("/api/v1/admin/announcements/{id}/withdraw", post(withdraw))
        .route("/api/v1/reports/summary", get(summary))
}

fn plan_json(id: &str, p: &DepositPlan, created_at: i64) -> Value {
    json!({"id": id, "code": p.code, "version": p.version, "name": p.name, "deposit_fen": p.deposit_fen,
           "rule": p.rule, "fee": p.fee, "auto_approve": p.auto_approve, "auto_apply": p.auto_apply,
           "four_eyes_threshold_fen": p.four_eyes_threshold_fen,
           "created_at": Timestamp::from_millis(created_at).to_rfc3339()})
}

#[utoipa::path(get, path = "/api/v1/policies", operation_id = "list_policies", tag = "backoffice", security(("bearer" = [])),
    responses((status = 200, body = crate::http::openapi::PolicyList), (status = 403, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn list_plans(State(state): State<AppState>, session: StaffSession) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ManagePlans)?;
    let mut conn = state.conn().await?;
    let items: Vec<Value> = plans::all(&mut conn).await?.iter().map(|(id, p, at)| plan_json(id, p, *at)).collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// A new version of a plan; terminals keep the version in force when they were activated.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanBody {
    code: String,
    name: String,
    deposit_fen: i64,
    /// `{"kind":"activation","volume_target_fen","counted_kinds","window_days"}` or
    /// `{"kind":"termination","refund_window_days","device_return_required"}`.
    #[schema(value_type = Object)]
    rule: RefundRule,
    /// `{"kind":"fixed","amount_fen"}` or `{"kind":"percent","basis_points","cap_fen"}`.
    #[schema(value_type = Object)]
    fee: FeeRule,
    #[serde(default)]
    auto_approve: bool,
    #[serde(default)]
    auto_apply: bool,
    four_eyes_threshold_fen: i64,
}

#[utoipa::path(post, path = "/api/v1/policies", operation_id = "create_policy", tag = "backoffice", security(("bearer" = [])), request_body = PlanBody,
    responses((status = 201, body = crate::http::openapi::Policy), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 422, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn create_plan(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanManagePlans>,
    ApiJson(b): ApiJson<PlanBody>,
) -> Result<Response, ApiError> {
    let plan = DepositPlan {
        code: b.code,
        version: 0,
        name: b.name,
        deposit_fen: Fen::new(b.deposit_fen),
        rule: b.rule,
        fee: b.fee,
        auto_approve: b.auto_approve,
        four_eyes_threshold_fen: Fen::new(b.four_eyes_threshold_fen),
        auto_apply: b.auto_apply,
    };
    let (id, version) = provisioning::create_plan(&state.app, &session.actor(), plan.clone()).await?;
    let stored = DepositPlan { version, ..plan };
    Ok((StatusCode::CREATED, Json(plan_json(&id, &stored, state.app.now_ms()))).into_response())
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    entity: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", operation_id = "audit_log", tag = "backoffice", security(("bearer" = [])),
    params(("entity" = Option<String>, Query), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = crate::http::openapi::AuditPage), (status = 403, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn audit_log(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ReadAudit)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let after: i64 = match page.after.as_deref() {
        None => 0,
        Some(c) => c.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor"))?,
    };
    let mut conn = state.conn().await?;
    let rows = audit::list(&mut conn, q.entity.as_deref(), after, page.limit + 1).await?;
    Ok(Json(paging::respond(
        rows,
        page.limit,
        |r| r.seq.to_string(),
        |r| {
            json!({"id": r.seq, "at": Timestamp::from_millis(r.at).to_rfc3339(), "actor_role": r.entry.actor_role, "actor_id": r.entry.actor_id,
               "action": r.entry.action, "entity": r.entry.entity, "entity_id": r.entry.entity_id,
               "detail": serde_json::from_str::<Value>(&r.entry.detail).unwrap_or(Value::Null), "hash": r.hash})
        },
    )))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", operation_id = "audit_verify", tag = "backoffice", security(("bearer" = [])),
    responses((status = 200, body = crate::http::openapi::AuditVerification), (status = 403, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn audit_verify(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ReadAudit)?;
    let mut conn = state.conn().await?;
    let report = audit::verify(&mut conn).await?;
    Ok(Json(json!({"ok": report.ok, "checked": report.checked, "first_broken_id": report.first_broken_id})))
}

#[derive(Deserialize)]
pub(super) struct InboxQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn support_ticket_json(t: &tickets::Ticket, now: Timestamp) -> Value {
    json!({"id": t.id, "subject": t.subject, "status": t.status, "application_id": t.application_id, "owner": t.owner_staff_id,
           "first_response_due_at": t.first_response_due_at.to_rfc3339(),
           "first_response_at": t.first_response_at.map(|x| x.to_rfc3339()),
           "overdue": t.first_response_at.is_none() && now > t.first_response_due_at,
           "age_s": (now.millis() - t.created_at.millis()).max(0) / 1000,
           "created_at": t.created_at.to_rfc3339(), "updated_at": t.updated_at.to_rfc3339()})
}

#[utoipa::path(get, path = "/api/v1/support/tickets", operation_id = "support_inbox", tag = "backoffice", security(("bearer" = [])),
    params(("status" = Option<String>, Query, description = "open, answered, closed"), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = crate::http::openapi::SupportTicketPage), (status = 400, body = crate::http::openapi::Problem, content_type = P), (status = 403, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn inbox(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::SupportInbox)?;
    if let Some(s) = q.status.as_deref().filter(|s| !["open", "answered", "closed"].contains(s)) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query").with("field", "status").with("value", s));
    }
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let now = state.app.clock.now();
    let mut conn = state.conn().await?;
    let rows =
        tickets::inbox(&mut conn, q.status.as_deref(), page.after.as_deref().unwrap_or(""), page.limit + 1).await?;
    Ok(Json(paging::respond(rows, page.limit, |t| t.id.clone(), |t| support_ticket_json(t, now))))
}

#[utoipa::path(get, path = "/api/v1/support/tickets/{id}", operation_id = "support_ticket", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = crate::http::openapi::SupportTicket), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn support_ticket(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::SupportInbox)?;
    let mut conn = state.conn().await?;
    let t = tickets::by_id(&mut conn, &id).await?.ok_or_else(ApiError::not_found)?;
    let mut v = support_ticket_json(&t, state.app.clock.now());
    let messages = tickets::messages(&mut conn, &t.id).await?;
    v["messages"] = messages
        .iter()
        .map(|m| json!({"id": m.id, "author": m.author_role, "body": m.body, "created_at": m.created_at.to_rfc3339()}))
        .collect();
    v["application"] = match &t.application_id {
        Some(aid) => match applications::by_id(&mut conn, aid).await? {
            Some(a) => super::applications::application_json(&mut conn, &a).await?,
            None => Value::Null,
        },
        None => Value::Null,
    };
    Ok(Json(v))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AnswerBody {
    #[serde(default)]
    body: String,
}

fn refused_to_conflict(e: AppError) -> ApiError {
    match e {
        AppError::Refused(message) => {
            ApiError::new(StatusCode::CONFLICT, "invalid_state").detail(message.clone(), message)
        }
        other => other.into(),
    }
}

#[utoipa::path(post, path = "/api/v1/support/tickets/{id}/messages", operation_id = "support_answer", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AnswerBody,
    responses((status = 201, body = crate::http::openapi::SupportTicket), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, body = crate::http::openapi::Problem, content_type = P), (status = 422, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn answer(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanAnswerTickets>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AnswerBody>,
) -> Result<Response, ApiError> {
    support::answer(&state.app, &session.actor(), &id, &b.body).await.map_err(refused_to_conflict)?;
    let Json(v) = support_ticket(State(state), session, Path(id)).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[utoipa::path(post, path = "/api/v1/support/tickets/{id}/close", operation_id = "support_close", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = crate::http::openapi::SupportTicket), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn close(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::SupportInbox)?;
    support::close(&state.app, &session.actor(), &id).await.map_err(refused_to_conflict)?;
    support_ticket(State(state), session, Path(id)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AnnouncementBody {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

#[utoipa::path(post, path = "/api/v1/admin/announcements", operation_id = "draft_announcement", tag = "backoffice", security(("bearer" = [])), request_body = AnnouncementBody,
    responses((status = 201, body = crate::http::openapi::AnnouncementState), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 422, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn draft(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanManageAnnouncements>,
    ApiJson(b): ApiJson<AnnouncementBody>,
) -> Result<Response, ApiError> {
    let id = support::draft_announcement(&state.app, &session.actor(), &b.title, &b.body).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "status": "draft"}))).into_response())
}

async fn move_announcement(
    state: AppState,
    session: StaffSession,
    id: String,
    publish: bool,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ManageAnnouncements)?;
    support::move_announcement(&state.app, &session.actor(), &id, publish).await.map_err(refused_to_conflict)?;
    Ok(Json(json!({"id": id, "status": if publish { "published" } else { "withdrawn" }})))
}

#[utoipa::path(post, path = "/api/v1/admin/announcements/{id}/publish", operation_id = "publish_announcement", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = crate::http::openapi::AnnouncementState), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn publish(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    move_announcement(state, session, id, true).await
}

#[utoipa::path(post, path = "/api/v1/admin/announcements/{id}/withdraw", operation_id = "withdraw_announcement", tag = "backoffice", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = crate::http::openapi::AnnouncementState), (status = 403, body = crate::http::openapi::Problem, content_type = P), (status = 404, body = crate::http::openapi::Problem, content_type = P), (status = 409, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn withdraw(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    move_announcement(state, session, id, false).await
}

#[derive(Deserialize)]
pub(super) struct SummaryQuery {
    days: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/summary", operation_id = "report_summary", tag = "backoffice", security(("bearer" = [])),
    params(("days" = Option<i64>, Query, description = "1–366, default 30")),
    responses((status = 200, body = crate::http::openapi::Summary), (status = 400, body = crate::http::openapi::Problem, content_type = P), (status = 403, body = crate::http::openapi::Problem, content_type = P)))]
pub(super) async fn summary(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<Value>, ApiError> {
    session.require(Permission::ReadReports)?;
    let days = match q.days.as_deref() {
        None => 30,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=366).contains(d))
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query").with("field", "days"))?,
    };
    let s = reports::summary(&state.app, days).await?;
    Ok(Json(serde_json::to_value(s).unwrap_or_default()))
}
