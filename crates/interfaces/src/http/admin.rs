//! The rest of the back office: deposit plans, the audit log, the support inbox,
//! announcements, the summary report.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use yajin_app::paging::Page;
use yajin_app::provisioning::StoredPlan;
use yajin_app::support::{AnnouncementState, SupportTicket};
use yajin_app::{audit_trail, books, provisioning, reports, support};
use yajin_core::permission::Permission;
use yajin_core::plan::{CardRate, DepositPlan, FeeRule, RefundRule};
use yajin_core::{Fen, Timestamp};

use super::idempotency::{Answer, IdempotencyKey};
use super::json_body::ApiJson;
use super::paging::PageQuery;
use super::problem::{ApiError, ErrorCode, Language, Problem};
use super::session::{CanAnswerTickets, CanManageAnnouncements, CanManagePlans, Staff, StaffSession};
use super::state::AppState;
use super::views::{
    AnnouncementStateView, AuditHeadView, AuditPage, AuditRowView, AuditVerificationView, DayTotalView,
    LedgerVerificationView, PlanView, PolicyPage, PolicyView, PublicKeyView, SummaryView, SupportTicketPage,
    SupportTicketView,
};
use yajin_core::text::Lang;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/policies", get(list_policies).post(create_policy))
        .route("/api/v1/audit", get(list_audit_log))
        .route("/api/v1/audit/verify", get(verify_audit_log))
        .route("/api/v1/ledger/verify", get(verify_ledger))
        .route("/api/v1/audit/head", get(get_audit_head))
        .route("/api/v1/audit/public-key", get(get_audit_public_key))
        .route("/api/v1/support/tickets", get(list_support_tickets))
        .route("/api/v1/support/tickets/{id}", get(get_support_ticket))
        .route("/api/v1/support/tickets/{id}/messages", post(answer_support_ticket))
        .route("/api/v1/support/tickets/{id}/close", post(close_support_ticket))
        .route("/api/v1/admin/announcements", post(draft_announcement))
        .route("/api/v1/admin/announcements/{id}/publish", post(publish_announcement))
        .route("/api/v1/admin/announcements/{id}/withdraw", post(withdraw_announcement))
        .route("/api/v1/reports/summary", get(get_summary_report))
}

pub(crate) fn policy(id: String, p: &DepositPlan, created_at: i64, lang: Lang) -> PolicyView {
    PolicyView { id, plan: PlanView::new(p, lang), created_at: Timestamp::from_millis(created_at).to_rfc3339() }
}

#[utoipa::path(get, path = "/api/v1/policies", operation_id = "list_policies", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PolicyPage),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_policies(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
) -> Result<Json<PolicyPage>, ApiError> {
    session.require(Permission::ManagePlans)?;
    let plans = provisioning::list_plans(&state.app).await?;
    Ok(Json(PolicyPage::of(Page::whole(plans), |(id, p, at)| policy(id, &p, at, lang))))
}

/// A new version of a plan; terminals keep the version in force when they were activated.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanBody {
    code: String,
    /// The name in Chinese.
    name: String,
    /// The name in English (optional; without it, English readers see "Deposit plan CODE").
    #[serde(default)]
    name_en: String,
    /// Transaction fee rates per card kind: `[{"kind":"credit_card","rate_bp":60},
    /// {"kind":"debit_card","rate_bp":50,"cap_fen":2000}]` (optional).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    card_rates: Vec<CardRate>,
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

#[utoipa::path(post, path = "/api/v1/policies", operation_id = "create_policy", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(IdempotencyKey), request_body = PlanBody,
    responses((status = 201, body = PolicyView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn create_policy(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanManagePlans>,
    Language(lang): Language,
    key: IdempotencyKey,
    ApiJson(b): ApiJson<PlanBody>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::CREATED, move |s: &StoredPlan| {
        policy(s.id.clone(), &s.plan, s.created_at.millis(), lang)
    });
    let replay = key.replay(&session, &b, &answer);
    let plan = DepositPlan {
        code: b.code,
        version: 0,
        name: b.name,
        name_en: b.name_en,
        card_rates: b.card_rates,
        deposit_fen: Fen::new(b.deposit_fen),
        rule: b.rule,
        fee: b.fee,
        auto_approve: b.auto_approve,
        four_eyes_threshold_fen: Fen::new(b.four_eyes_threshold_fen),
        auto_apply: b.auto_apply,
    };
    Ok(answer.respond(provisioning::create_plan(&state.app, &session.actor(), plan, replay).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Only rows about this kind of entity (`refund_application`, `ticket`, …).
    entity: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_log", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_audit_log(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    session.require(Permission::ReadAudit)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let rows = audit_trail::list(&state.app, q.entity.as_deref(), &page).await?;
    Ok(Json(AuditPage::of(rows, AuditRowView::from)))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", operation_id = "verify_audit_log", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AuditVerificationView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn verify_audit_log(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<AuditVerificationView>, ApiError> {
    session.require(Permission::ReadAudit)?;
    let r = audit_trail::verify(&state.app).await?;
    Ok(Json(AuditVerificationView { ok: r.ok, checked: r.checked, first_broken_id: r.first_broken_id }))
}

/// The audit chain's head, signed with Ed25519: record it outside Yajin, and a later rewrite of
/// the rows up to `seq` shows as a hash that no longer matches.
#[utoipa::path(get, path = "/api/v1/audit/head", operation_id = "get_audit_head", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AuditHeadView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_audit_head(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<AuditHeadView>, ApiError> {
    session.require(Permission::ReadAudit)?;
    let h = audit_trail::signed_head(&state.app).await?;
    Ok(Json(AuditHeadView { seq: h.seq, hash: h.hash, signed_message: h.message, signature: h.signature }))
}

/// The public key that checks the head's signatures: anyone may hold it.
#[utoipa::path(get, path = "/api/v1/audit/public-key", operation_id = "get_audit_public_key", tag = "backoffice",
    responses((status = 200, body = PublicKeyView)))]
pub(super) async fn get_audit_public_key(State(state): State<AppState>) -> Json<PublicKeyView> {
    Json(PublicKeyView { algorithm: "ed25519".into(), public_key: audit_trail::head_public_key(&state.app) })
}

/// Whether the books balance: every account's counters recomputed from its transfers.
#[utoipa::path(get, path = "/api/v1/ledger/verify", operation_id = "verify_ledger", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = LedgerVerificationView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn verify_ledger(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<LedgerVerificationView>, ApiError> {
    session.require(Permission::ReadAudit)?;
    Ok(Json(LedgerVerificationView::from(books::verify(&state.app).await?)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct InboxQuery {
    /// `open`, `answered` or `closed`; all when absent.
    status: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/support/tickets", operation_id = "list_support_tickets", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(InboxQuery),
    responses((status = 200, body = SupportTicketPage),
        (status = 400, description = "invalid_query, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_support_tickets(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
    Query(q): Query<InboxQuery>,
) -> Result<Json<SupportTicketPage>, ApiError> {
    session.require(Permission::SupportInbox)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let (tickets, now) = support::inbox(&state.app, q.status.as_deref(), &page).await?;
    Ok(Json(SupportTicketPage::of(tickets, |t| SupportTicketView::new(t, None, None, now, lang))))
}

#[utoipa::path(get, path = "/api/v1/support/tickets/{id}", operation_id = "get_support_ticket", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SupportTicketView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_support_ticket(
    State(state): State<AppState>,
    session: StaffSession,
    Language(lang): Language,
    Path(id): Path<String>,
) -> Result<Json<SupportTicketView>, ApiError> {
    session.require(Permission::SupportInbox)?;
    Ok(Json(SupportTicketView::read(support::ticket(&state.app, &id).await?, lang)))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AnswerBody {
    #[serde(default)]
    body: String,
}

#[utoipa::path(post, path = "/api/v1/support/tickets/{id}/messages", operation_id = "answer_support_ticket", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey), request_body = AnswerBody,
    responses((status = 201, body = SupportTicketView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state: the ticket is closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn answer_support_ticket(
    State(state): State<AppState>,
    Language(lang): Language,
    Staff(session, _): Staff<CanAnswerTickets>,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AnswerBody>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::CREATED, support_ticket_view(lang));
    let outcome =
        support::answer(&state.app, &session.actor(), &id, &b.body, key.replay(&session, &b, &answer)).await?;
    Ok(answer.respond(outcome))
}

#[utoipa::path(post, path = "/api/v1/support/tickets/{id}/close", operation_id = "close_support_ticket", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = SupportTicketView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn close_support_ticket(
    State(state): State<AppState>,
    Language(lang): Language,
    Staff(session, _): Staff<CanAnswerTickets>,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::OK, support_ticket_view(lang));
    let outcome = support::close(&state.app, &session.actor(), &id, key.replay(&session, &(), &answer)).await?;
    Ok(answer.respond(outcome))
}

fn support_ticket_view(lang: Lang) -> impl Fn(&SupportTicket) -> SupportTicketView + Send + Sync + 'static {
    move |t| SupportTicketView::read(t.clone(), lang)
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AnnouncementBody {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

#[utoipa::path(post, path = "/api/v1/admin/announcements", operation_id = "draft_announcement", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(IdempotencyKey), request_body = AnnouncementBody,
    responses((status = 201, body = AnnouncementStateView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn draft_announcement(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanManageAnnouncements>,
    key: IdempotencyKey,
    ApiJson(b): ApiJson<AnnouncementBody>,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::CREATED, announcement_state_view);
    let replay = key.replay(&session, &b, &answer);
    Ok(answer.respond(support::draft_announcement(&state.app, &session.actor(), &b.title, &b.body, replay).await?))
}

fn announcement_state_view(a: &AnnouncementState) -> AnnouncementStateView {
    AnnouncementStateView { id: a.id.clone(), status: a.status.to_owned() }
}

async fn move_announcement(
    state: AppState,
    session: StaffSession,
    key: IdempotencyKey,
    id: String,
    publish: bool,
) -> Result<Response, ApiError> {
    let answer = Answer::new(StatusCode::OK, announcement_state_view);
    let replay = key.replay(&session, &(), &answer);
    Ok(answer.respond(support::move_announcement(&state.app, &session.actor(), &id, publish, replay).await?))
}

#[utoipa::path(post, path = "/api/v1/admin/announcements/{id}/publish", operation_id = "publish_announcement", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = AnnouncementStateView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn publish_announcement(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanManageAnnouncements>,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    move_announcement(state, session, key, id, true).await
}

#[utoipa::path(post, path = "/api/v1/admin/announcements/{id}/withdraw", operation_id = "withdraw_announcement", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path), IdempotencyKey),
    responses((status = 200, body = AnnouncementStateView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_state", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn withdraw_announcement(
    State(state): State<AppState>,
    Staff(session, _): Staff<CanManageAnnouncements>,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    move_announcement(state, session, key, id, false).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SummaryQuery {
    /// 1–366, default 30.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 366)]
    days: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/summary", operation_id = "get_summary_report", tag = "backoffice",
    security(("bearer" = []), ("cookie" = [])), params(SummaryQuery),
    responses((status = 200, body = SummaryView),
        (status = 400, description = "invalid_query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_summary_report(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<SummaryQuery>,
) -> Result<Json<SummaryView>, ApiError> {
    session.require(Permission::ReadReports)?;
    let days = match q.days.as_deref() {
        None => 30,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=366).contains(d))
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery).with("field", "days"))?,
    };
    let s = reports::summary(&state.app, days).await?;
    Ok(Json(SummaryView {
        applications_by_status: s.applications_by_status,
        refunded_per_day: s
            .refunded_per_day
            .into_iter()
            .map(|d| DayTotalView { day: d.day, count: d.count, amount_fen: d.amount_fen.get() })
            .collect(),
        submit_to_refund_median_s: s.submit_to_refund_median_s,
        submit_to_refund_p90_s: s.submit_to_refund_p90_s,
    }))
}
