//! The staff console (员工后台), for a desktop: the review queue and each application with
//! only the decisions its reader may take, payouts and their retries, reconciliation, deposit
//! plans, the audit log and its verification, the support inbox, and a dashboard.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use tower_http::limit::RequestBodyLimitLayer;
use yajin_app::auth;
use yajin_app::provisioning::StoredPlan;
use yajin_app::reconciliation::Reconciler;
use yajin_app::review::{self, Decisions, DeviceReceipt, StaffApplication, DEVICE_CONDITIONS};
use yajin_app::support::{self, SupportTicket};
use yajin_app::{audit_trail, books, payouts, provisioning, reports};
use yajin_core::application::{Role, Status};
use yajin_core::eligibility::Lang;
use yajin_core::permission::Permission;
use yajin_core::plan::{DepositPlan, FeeRule, RefundRule, TxnKind};
use yajin_core::rejection;
use yajin_core::validation::FieldError;
use yajin_core::Fen;

use super::charts::BarChart;
use super::once::{new_key, Once};
use super::page::{local_path, page_request, render, see, Area, Chrome, FormErrors, PageError};
use super::visitor::{log_out, signed_in, FormOwner, Posted, Staff, Visitor};
use crate::http::problem::ApiError;
use crate::http::views::{
    AuditRowView, AuditVerificationView, LedgerVerificationView, PayoutView, PolicyView, ReconciliationView,
    ReviewApplicationView, ReviewEvidenceView, SupportTicketView,
};
use crate::http::AppState;

/// A bank statement may be large: it is streamed through reconciliation, never held whole.
const STATEMENT_LIMIT_BYTES: usize = 512 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    let statements = Router::new()
        .route("/console/reconciliations", get(reconciliation_form).post(reconcile))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(STATEMENT_LIMIT_BYTES));
    Router::new()
        .route("/console", get(start))
        .route("/console/login", post(login))
        .route("/console/logout", post(log_out::<Staff>))
        .route("/console/dashboard", get(dashboard))
        .route("/console/queue", get(queue))
        .route("/console/applications/{id}", get(application))
        .route("/console/applications/{id}/{decision}", post(decide))
        .route("/console/terminals/{sn}/device-received", post(device_received))
        .route("/console/payouts", get(payout_list))
        .route("/console/payouts/{id}/retry", post(retry_payout))
        .route("/console/plans", get(plans).post(create_plan))
        .route("/console/audit", get(audit))
        .route("/console/audit/verify", get(verify_audit))
        .route("/console/ledger/verify", get(verify_ledger))
        .route("/console/support", get(support_inbox))
        .route("/console/support/{id}", get(support_ticket))
        .route("/console/support/{id}/{step}", post(support_step))
        .merge(statements)
}

fn failed(e: impl Into<ApiError>, lang: Lang) -> PageError {
    PageError::api(e.into(), lang, Area::Console)
}

/// Where a role starts: the first section it may open.
fn landing(role: Role) -> &'static str {
    match role {
        Role::Reviewer | Role::Approver => "/console/queue",
        Role::Support => "/console/support",
        Role::Agent => "/console/agent",
        _ => "/console/dashboard",
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
    entity: Option<String>,
    next: Option<String>,
}

fn notice(chrome: &mut Chrome, code: Option<&str>) {
    let (zh, en) = match code {
        Some("claimed") => ("已受理，您现在是该申请的审核员。", "Claimed: you are this application's reviewer."),
        Some("approved") => ("已批准，系统将自动打款。", "Approved: the payout starts by itself."),
        Some("first_approval") => (
            "已批准（第一审）。金额达到双人审批标准，需另一位审批人复核。",
            "First approval recorded. The amount needs a second approver.",
        ),
        Some("rejected") => {
            ("已驳回，商户会收到原因与下一步。", "Rejected: the merchant gets the reason and next step.")
        }
        Some("info_requested") => ("已请商户补充材料。", "The merchant was asked for more."),
        Some("device_received") => ("已登记收到设备。", "Device recorded as received."),
        Some("retried") => ("已重新发起打款。", "A new payout attempt was started."),
        Some("answered") => ("已答复。", "Answered."),
        Some("closed") => ("工单已关闭。", "Ticket closed."),
        Some("plan_created") => (
            "新版本已生效：此后激活的终端适用它，已激活的终端保留原版本。",
            "The new version is in force for terminals activated from now on; activated ones keep theirs.",
        ),
        _ => return,
    };
    chrome.notice = Some(chrome.t(zh, en));
}

// ---- login ----

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    chrome: Chrome,
    demo: bool,
    next: String,
    username: String,
    errors: FormErrors,
}

async fn start(State(state): State<AppState>, visitor: Visitor, Query(q): Query<ListQuery>) -> Response {
    let staff = visitor.session.as_ref().filter(|s| s.principal_kind == "staff").and_then(|s| Role::parse(&s.role));
    if let Some(role) = staff {
        return see(local_path(q.next.as_deref(), landing(role)));
    }
    let next = local_path(q.next.as_deref(), "");
    render(&LoginPage {
        chrome: visitor.chrome,
        demo: state.site.demo,
        next,
        username: String::new(),
        errors: FormErrors::default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    username: String,
    password: String,
    next: String,
}

async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    ip: crate::http::session::ClientIp,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    match auth::login(&state.app, auth::Kind::Staff, &form.username, form.password, None, &ip.0).await {
        Ok(session) => {
            let to = local_path(Some(form.next.as_str()).filter(|n| !n.is_empty()), landing(session.role));
            signed_in(&to, &session, state.site.https)
        }
        Err(e) => {
            let (status, errors) = FormErrors::refusal(e, visitor.chrome.lang);
            let page = LoginPage {
                chrome: visitor.chrome,
                demo: state.site.demo,
                next: form.next,
                username: form.username,
                errors,
            };
            (status, render(&page)).into_response()
        }
    }
}

// ---- dashboard ----

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    by_status: Vec<(String, i64)>,
    median_s: Option<i64>,
    p90_s: Option<i64>,
    /// Refunds per day, time to refund, queue age.
    charts: Vec<BarChart>,
}

/// Bucket labels: ≤ 1 h, ≤ 1 d, ≤ 3 d, ≤ 7 d, > 7 d.
fn bucket_labels(buckets: &[reports::Bucket], lang: Lang) -> Vec<(String, i64, String)> {
    buckets
        .iter()
        .map(|b| {
            let label = match (b.upper_s, lang) {
                (Some(s), _) if s <= 3_600 => "≤1h".to_owned(),
                (Some(s), Lang::Zh) => format!("≤{}天", s / 86_400),
                (Some(s), Lang::En) => format!("≤{}d", s / 86_400),
                (None, Lang::Zh) => ">7天".to_owned(),
                (None, Lang::En) => ">7d".to_owned(),
            };
            let title = format!("{label}: {}", b.count);
            (label, b.count, title)
        })
        .collect()
}

async fn dashboard(State(state): State<AppState>, who: Staff) -> Result<Response, PageError> {
    who.require(Permission::ReadReports)?;
    let lang = who.chrome.lang;
    let s = reports::summary(&state.app, 30).await.map_err(|e| failed(e, lang))?;
    let t = |zh: &str, en: &str| if lang == Lang::En { en.to_owned() } else { zh.to_owned() };
    let per_day = s
        .refunded_per_day
        .iter()
        .map(|d| (d.day[5..].to_owned(), d.count, format!("{}: {} · {}", d.day, d.count, d.amount_fen)))
        .collect();
    Ok(render(&DashboardPage {
        chrome: who.chrome,
        by_status: s.applications_by_status.into_iter().collect(),
        median_s: s.submit_to_refund_median_s,
        p90_s: s.submit_to_refund_p90_s,
        charts: vec![
            BarChart::new(t("近 30 天每日退款笔数", "Refunds per day, last 30 days"), per_day),
            BarChart::new(
                t("退款用时（提交到打款）", "Time to refund (submitted to paid)"),
                bucket_labels(&s.time_to_refund, lang),
            ),
            BarChart::new(
                t("待处理申请已等待时长", "How long open applications have waited"),
                bucket_labels(&s.queue_age, lang),
            ),
        ],
    }))
}

// ---- review ----

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    chrome: Chrome,
    status: String,
    statuses: [&'static str; 8],
    applications: Vec<ReviewApplicationView>,
    next_cursor: Option<String>,
}

async fn queue(State(state): State<AppState>, who: Staff, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    who.require(Permission::ReviewRead)?;
    let lang = who.chrome.lang;
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| review::default_queue(who.session.role).as_str().to_owned());
    let page = page_request(q.cursor.as_deref(), lang, Area::Console)?;
    let list = review::queue(&state.app, who.session.role, Some(&status), &page).await.map_err(|e| failed(e, lang))?;
    Ok(render(&QueuePage {
        chrome: who.chrome,
        status,
        statuses: [
            "submitted",
            "in_review",
            "awaiting_second_approval",
            "info_requested",
            "approved",
            "payout_failed",
            "refunded",
            "rejected",
        ],
        applications: list.items.into_iter().map(|a| ReviewApplicationView::new(a, lang)).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[derive(Template)]
#[template(path = "console/application.html")]
struct ApplicationPage {
    chrome: Chrome,
    e: ReviewEvidenceView,
    may: Decisions,
    /// The device is due back and not recorded yet, and this reader may record it.
    may_record_device: bool,
    reasons: Vec<(&'static str, &'static str)>,
    conditions: [&'static str; 3],
    key: String,
}

async fn application(
    State(state): State<AppState>,
    who: Staff,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    who.require(Permission::ReviewRead)?;
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let evidence = review::evidence(&state.app, &id).await.map_err(|e| failed(e, lang))?;
    let may = review::decisions(&evidence.application.detail.application, &who.session.actor());
    let may_record_device = yajin_core::permission::allows(who.session.role, Permission::ReviewDecide)
        && evidence.terminal.as_ref().is_some_and(|t| t.assessment.device_return_pending);
    let reasons = rejection::CATALOGUE
        .iter()
        .map(|r| (r.code, if lang == Lang::En { r.explanation_en } else { r.explanation_zh }))
        .collect();
    Ok(render(&ApplicationPage {
        chrome,
        e: ReviewEvidenceView::new(evidence, lang),
        may,
        may_record_device,
        reasons,
        conditions: DEVICE_CONDITIONS,
        key: new_key(),
    }))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct DecisionForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    comment: String,
    reason_code: String,
    /// What the merchant must add, a line each.
    items: String,
}

/// `POST /console/applications/{id}/{claim|approve|reject|request-info}`.
async fn decide(
    State(state): State<AppState>,
    Path((id, decision)): Path<(String, String)>,
    posted: Posted<Staff, DecisionForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let actor = who.session.actor();
    let (notice, to) = match decision.as_str() {
        "claim" => ("claimed", "claim"),
        "approve" => ("approved", "approve"),
        "reject" => ("rejected", "reject"),
        "request-info" => ("info_requested", "request-info"),
        _ => return Err(PageError::not_found(lang, Area::Console)),
    };
    let once = Once::new(
        &who.session,
        &format!("POST /console/applications/{id}/{to}"),
        &form.key,
        &form,
        move |a: &StaffApplication| {
            let a = &a.detail.application;
            let notice = if a.status == Status::AwaitingSecondApproval { "first_approval" } else { notice };
            format!("/console/applications/{}?notice={notice}", a.id)
        },
    );
    let app = &state.app;
    let outcome = match decision.as_str() {
        "claim" => review::claim(app, &actor, &id, once.replay()).await,
        "approve" => review::approve(app, &actor, &id, &form.comment, once.replay()).await,
        "reject" => review::reject(app, &actor, &id, &form.reason_code, &form.comment, once.replay()).await,
        _ => {
            let items: Vec<String> =
                form.items.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
            review::request_info(app, &actor, &id, &items, &form.comment, once.replay()).await
        }
    };
    Ok(see(once.location(outcome.map_err(|e| failed(e, lang))?)))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct DeviceForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    waybill_no: String,
    condition: String,
    note: String,
    /// The application page to go back to.
    #[serde(skip_serializing)]
    back: String,
}

async fn device_received(
    State(state): State<AppState>,
    Path(sn): Path<String>,
    posted: Posted<Staff, DeviceForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    let back = local_path(Some(&form.back), "/console/queue");
    let once = Once::new(
        &who.session,
        &format!("POST /console/terminals/{sn}/device-received"),
        &form.key,
        &form,
        move |_: &DeviceReceipt| format!("{back}?notice=device_received"),
    );
    let outcome = review::device_received(
        &state.app,
        &who.session.actor(),
        &sn,
        &form.waybill_no,
        &form.condition,
        &form.note,
        once.replay(),
    )
    .await
    .map_err(|e| failed(e, lang))?;
    Ok(see(once.location(outcome)))
}

// ---- payouts and reconciliation ----

#[derive(Template)]
#[template(path = "console/payouts.html")]
struct PayoutsPage {
    chrome: Chrome,
    status: String,
    statuses: [&'static str; 6],
    payouts: Vec<PayoutView>,
    next_cursor: Option<String>,
    key: String,
}

async fn payout_list(
    State(state): State<AppState>,
    who: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    who.require(Permission::Payouts)?;
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let status = q.status.filter(|s| !s.is_empty());
    let page = page_request(q.cursor.as_deref(), lang, Area::Console)?;
    let list = payouts::list(&state.app, status.as_deref(), &page).await.map_err(|e| failed(e, lang))?;
    Ok(render(&PayoutsPage {
        chrome,
        status: status.unwrap_or_default(),
        statuses: ["failed", "unknown", "pending", "sent", "succeeded", ""],
        payouts: list.items.into_iter().map(PayoutView::from).collect(),
        next_cursor: list.next_cursor,
        key: new_key(),
    }))
}

async fn retry_payout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Staff, KeyForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    who.require(Permission::Payouts)?;
    let once = Once::new(&who.session, &format!("POST /console/payouts/{id}/retry"), &form.key, &(), |_: &_| {
        "/console/payouts?notice=retried".to_owned()
    });
    let outcome =
        payouts::retry(&state.app, &who.session.actor(), &id, once.replay()).await.map_err(|e| failed(e, lang))?;
    Ok(see(once.location(outcome)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyForm {
    #[serde(rename = "_key")]
    key: String,
}

#[derive(Template)]
#[template(path = "console/reconciliation.html")]
struct ReconciliationPage {
    chrome: Chrome,
    report: Option<ReconciliationView>,
    errors: FormErrors,
}

async fn reconciliation_form(who: Staff) -> Result<Response, PageError> {
    who.require(Permission::Payouts)?;
    Ok(render(&ReconciliationPage { chrome: who.chrome, report: None, errors: FormErrors::default() }))
}

/// Streams the uploaded statement through reconciliation and shows its report.
async fn reconcile(State(state): State<AppState>, who: Staff, mut form: Multipart) -> Result<Response, PageError> {
    who.require(Permission::Payouts)?;
    let lang = who.chrome.lang;
    let unreadable = |e: axum::extract::multipart::MultipartError| PageError::unreadable_form(&e, lang, Area::Console);
    let mut csrf = String::new();
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            // The page puts the token before the file, so it is checked before any line is read.
            Some("_csrf") => csrf = field.text().await.map_err(unreadable)?,
            Some("file") => {
                who.check_csrf(&csrf)?;
                let mut reconciler = Reconciler::new(&state.app);
                while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                    reconciler.feed(&chunk).await.map_err(|e| failed(e, lang))?;
                }
                let report = reconciler.finish().await.map_err(|e| failed(e, lang))?;
                let page = ReconciliationPage {
                    chrome: who.chrome,
                    report: Some(ReconciliationView::from(report)),
                    errors: FormErrors::default(),
                };
                return Ok(render(&page));
            }
            _ => {}
        }
    }
    who.check_csrf(&csrf)?;
    let missing =
        yajin_core::validation::FieldError::new("file", "required", "请选择对账单文件", "choose a statement file");
    let errors = FormErrors::field(&[missing], lang);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&ReconciliationPage { chrome: who.chrome, report: None, errors }))
        .into_response())
}

// ---- plans, audit ----

#[derive(Template)]
#[template(path = "console/plans.html")]
struct PlansPage {
    chrome: Chrome,
    plans: Vec<PolicyView>,
    form: PlanForm,
    errors: FormErrors,
    kinds: [&'static str; 4],
    key: String,
}

/// A plan version as the form carries it: money in yuan as typed, days and basis points as
/// text, checkboxes as `"true"` when ticked.
#[derive(Deserialize, Serialize, Default, Clone)]
#[serde(default)]
struct PlanForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    code: String,
    name: String,
    #[serde(default)]
    name_en: String,
    /// The card rates carried from the version the form was filled from (JSON, shown read-only;
    /// set through `POST /api/v1/policies`).
    #[serde(default)]
    card_rates: String,
    deposit: String,
    /// `activation` or `termination`.
    rule_kind: String,
    volume_target: String,
    window_days: String,
    credit_card: String,
    debit_card: String,
    qr_code: String,
    nfc: String,
    refund_window_days: String,
    device_return_required: String,
    /// `fixed` or `percent`.
    fee_kind: String,
    fee_amount: String,
    fee_basis_points: String,
    fee_cap: String,
    auto_approve: String,
    auto_apply: String,
    four_eyes_threshold: String,
}

impl PlanForm {
    /// The form filled from a plan on file (for its next version).
    fn of(p: &DepositPlan) -> PlanForm {
        let yuan = |f: Fen| format!("{}.{:02}", f.get() / 100, f.get() % 100);
        let tick = |b: bool| if b { "true".to_owned() } else { String::new() };
        let mut form = PlanForm {
            code: p.code.clone(),
            name: p.name.clone(),
            name_en: p.name_en.clone(),
            card_rates: serde_json::to_string(&p.card_rates).unwrap_or_default(),
            deposit: yuan(p.deposit_fen),
            auto_approve: tick(p.auto_approve),
            auto_apply: tick(p.auto_apply),
            four_eyes_threshold: yuan(p.four_eyes_threshold_fen),
            ..PlanForm::default()
        };
        match &p.rule {
            RefundRule::Activation { volume_target_fen, counted_kinds, window_days } => {
                form.rule_kind = "activation".into();
                form.volume_target = yuan(*volume_target_fen);
                form.window_days = window_days.to_string();
                for kind in counted_kinds {
                    *form.kind_mut(kind.as_str()) = "true".into();
                }
            }
            RefundRule::Termination { refund_window_days, device_return_required } => {
                form.rule_kind = "termination".into();
                form.refund_window_days = refund_window_days.to_string();
                form.device_return_required = tick(*device_return_required);
            }
        }
        match p.fee {
            FeeRule::Fixed { amount_fen } => {
                form.fee_kind = "fixed".into();
                form.fee_amount = yuan(amount_fen);
            }
            FeeRule::Percent { basis_points, cap_fen } => {
                form.fee_kind = "percent".into();
                form.fee_basis_points = basis_points.to_string();
                form.fee_cap = yuan(cap_fen);
            }
        }
        form
    }

    fn kind_mut(&mut self, kind: &str) -> &mut String {
        match kind {
            "credit_card" => &mut self.credit_card,
            "debit_card" => &mut self.debit_card,
            "qr_code" => &mut self.qr_code,
            _ => &mut self.nfc,
        }
    }

    /// Whether a checkbox (or a counted kind) is ticked.
    fn ticked(&self, name: &str) -> bool {
        let value = match name {
            "credit_card" => &self.credit_card,
            "debit_card" => &self.debit_card,
            "qr_code" => &self.qr_code,
            "nfc" => &self.nfc,
            "device_return_required" => &self.device_return_required,
            "auto_approve" => &self.auto_approve,
            "auto_apply" => &self.auto_apply,
            _ => return false,
        };
        value == "true"
    }

    /// The plan the form describes, or every field it cannot be read from. The rules of a
    /// plan (ranges, what may be automatic) are the use case's to check.
    fn plan(&self) -> Result<DepositPlan, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut money = |field: &str, text: &str| match Fen::parse_yuan(text) {
            Ok(f) => f,
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    "invalid_amount",
                    "请填写金额，如 99 或 99.50",
                    "an amount, like 99 or 99.50",
                ));
                Fen::ZERO
            }
        };
        let deposit = money("deposit", &self.deposit);
        let threshold = money("four_eyes_threshold", &self.four_eyes_threshold);
        let rule_money =
            if self.rule_kind == "activation" { money("volume_target", &self.volume_target) } else { Fen::ZERO };
        let fee_money = match self.fee_kind.as_str() {
            "percent" => money("fee_cap", &self.fee_cap),
            _ => money("fee_amount", &self.fee_amount),
        };
        let mut number = |field: &str, text: &str| match text.trim().parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                errors.push(FieldError::new(field, "invalid_number", "请填写整数", "a whole number"));
                0
            }
        };
        let rule = if self.rule_kind == "activation" {
            RefundRule::Activation {
                volume_target_fen: rule_money,
                counted_kinds: TxnKind::ALL.into_iter().filter(|k| self.ticked(k.as_str())).collect(),
                window_days: number("window_days", &self.window_days),
            }
        } else {
            RefundRule::Termination {
                refund_window_days: number("refund_window_days", &self.refund_window_days),
                device_return_required: self.ticked("device_return_required"),
            }
        };
        let fee = if self.fee_kind == "percent" {
            FeeRule::Percent { basis_points: number("fee_basis_points", &self.fee_basis_points), cap_fen: fee_money }
        } else {
            FeeRule::Fixed { amount_fen: fee_money }
        };
        let card_rates = match self.card_rates.trim() {
            "" => Vec::new(),
            text => serde_json::from_str(text).unwrap_or_else(|_| {
                errors.push(FieldError::new("card_rates", "invalid", "卡费率无效", "the card rates are not valid"));
                Vec::new()
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DepositPlan {
            code: self.code.trim().to_owned(),
            version: 0,
            name: self.name.trim().to_owned(),
            name_en: self.name_en.trim().to_owned(),
            card_rates,
            deposit_fen: deposit,
            rule,
            fee,
            auto_approve: self.ticked("auto_approve"),
            auto_apply: self.ticked("auto_apply"),
            four_eyes_threshold_fen: threshold,
        })
    }
}

/// The form's field for a plan rule's field (`rule.window_days` → `window_days`).
fn plan_form_field(field: &str) -> String {
    let field = field.rsplit('.').next().unwrap_or(field);
    match field {
        "deposit_fen" => "deposit",
        "four_eyes_threshold_fen" => "four_eyes_threshold",
        "volume_target_fen" => "volume_target",
        "amount_fen" => "fee_amount",
        "basis_points" => "fee_basis_points",
        "cap_fen" => "fee_cap",
        other => other,
    }
    .to_owned()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PlansQuery {
    /// Fill the form from this plan's latest version.
    from: Option<String>,
    notice: Option<String>,
}

async fn plans(State(state): State<AppState>, who: Staff, Query(q): Query<PlansQuery>) -> Result<Response, PageError> {
    who.require(Permission::ManagePlans)?;
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let plans = provisioning::list_plans(&state.app).await.map_err(|e| failed(e, lang))?;
    let latest = q.from.as_deref().and_then(|code| {
        plans.iter().filter(|(_, p, _)| p.code == code).max_by_key(|(_, p, _)| p.version).map(|(_, p, _)| p)
    });
    let form = latest.map_or_else(
        || PlanForm { rule_kind: "activation".into(), fee_kind: "fixed".into(), ..PlanForm::default() },
        PlanForm::of,
    );
    let plans = plans.into_iter().map(|(id, p, at)| crate::http::admin::policy(id, &p, at, lang)).collect();
    Ok(render(&PlansPage {
        chrome,
        plans,
        form,
        errors: FormErrors::default(),
        kinds: TxnKind::ALL.map(TxnKind::as_str),
        key: new_key(),
    }))
}

/// A new version of a plan (or a new plan): the terminals activated under earlier versions
/// keep theirs.
async fn create_plan(State(state): State<AppState>, posted: Posted<Staff, PlanForm>) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    who.require(Permission::ManagePlans)?;
    let created = match form.plan() {
        Ok(plan) => {
            let once = Once::new(&who.session, "POST /console/plans", &form.key, &form, |p: &StoredPlan| {
                format!("/console/plans?notice=plan_created&from={}", p.plan.code)
            });
            match provisioning::create_plan(&state.app, &who.session.actor(), plan, once.replay()).await {
                Ok(outcome) => return Ok(see(once.location(outcome))),
                Err(e) => ApiError::from(e),
            }
        }
        Err(errors) => ApiError::validation(errors),
    };
    let mut errors = FormErrors::from_api(&created, lang);
    for (field, _) in &mut errors.fields {
        *field = plan_form_field(field);
    }
    let plans = provisioning::list_plans(&state.app).await.map_err(|e| failed(e, lang))?;
    let page = PlansPage {
        chrome: who.chrome,
        plans: plans.into_iter().map(|(id, p, at)| crate::http::admin::policy(id, &p, at, lang)).collect(),
        form,
        errors,
        kinds: TxnKind::ALL.map(TxnKind::as_str),
        key: new_key(),
    };
    Ok((created.status, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<AuditRowView>,
    next_cursor: Option<String>,
    /// The chain's verification, when asked for.
    verified: Option<AuditVerificationView>,
    /// The books' check, when asked for.
    ledger: Option<LedgerVerificationView>,
}

async fn audit(State(state): State<AppState>, who: Staff, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    who.require(Permission::ReadAudit)?;
    let lang = who.chrome.lang;
    let page = page_request(q.cursor.as_deref(), lang, Area::Console)?;
    let rows = audit_trail::list(&state.app, q.entity.as_deref(), &page).await.map_err(|e| failed(e, lang))?;
    Ok(render(&AuditPage {
        chrome: who.chrome,
        rows: rows.items.into_iter().map(AuditRowView::from).collect(),
        next_cursor: rows.next_cursor,
        verified: None,
        ledger: None,
    }))
}

async fn verify_audit(State(state): State<AppState>, who: Staff) -> Result<Response, PageError> {
    who.require(Permission::ReadAudit)?;
    let lang = who.chrome.lang;
    let r = audit_trail::verify(&state.app).await.map_err(|e| failed(e, lang))?;
    let verified = AuditVerificationView { ok: r.ok, checked: r.checked, first_broken_id: r.first_broken_id };
    let page =
        AuditPage { chrome: who.chrome, rows: Vec::new(), next_cursor: None, verified: Some(verified), ledger: None };
    Ok(render(&page))
}

async fn verify_ledger(State(state): State<AppState>, who: Staff) -> Result<Response, PageError> {
    who.require(Permission::ReadAudit)?;
    let lang = who.chrome.lang;
    let report = books::verify(&state.app).await.map_err(|e| failed(e, lang))?;
    let ledger = Some(LedgerVerificationView::from(report));
    Ok(render(&AuditPage { chrome: who.chrome, rows: Vec::new(), next_cursor: None, verified: None, ledger }))
}

// ---- support ----

#[derive(Template)]
#[template(path = "console/support.html")]
struct SupportPage {
    chrome: Chrome,
    status: String,
    tickets: Vec<SupportTicketView>,
    next_cursor: Option<String>,
}

async fn support_inbox(
    State(state): State<AppState>,
    who: Staff,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    who.require(Permission::SupportInbox)?;
    let lang = who.chrome.lang;
    let status = q.status.filter(|s| !s.is_empty());
    let page = page_request(q.cursor.as_deref(), lang, Area::Console)?;
    let (list, now) = support::inbox(&state.app, status.as_deref(), &page).await.map_err(|e| failed(e, lang))?;
    Ok(render(&SupportPage {
        chrome: who.chrome,
        status: status.unwrap_or_default(),
        tickets: list.items.into_iter().map(|t| SupportTicketView::new(t, None, None, now, lang)).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[derive(Template)]
#[template(path = "console/ticket.html")]
struct TicketPage {
    chrome: Chrome,
    t: SupportTicketView,
    key: String,
}

async fn support_ticket(
    State(state): State<AppState>,
    who: Staff,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    who.require(Permission::SupportInbox)?;
    let mut chrome = who.chrome;
    let lang = chrome.lang;
    notice(&mut chrome, q.notice.as_deref());
    let t = support::ticket(&state.app, &id).await.map_err(|e| failed(e, lang))?;
    Ok(render(&TicketPage { chrome, t: SupportTicketView::read(t, lang), key: new_key() }))
}

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
struct AnswerForm {
    #[serde(rename = "_key", skip_serializing)]
    key: String,
    body: String,
}

/// `POST /console/support/{id}/{answer|close}`.
async fn support_step(
    State(state): State<AppState>,
    Path((id, step)): Path<(String, String)>,
    posted: Posted<Staff, AnswerForm>,
) -> Result<Response, PageError> {
    let Posted { who, form } = posted;
    let lang = who.lang();
    who.require(Permission::SupportInbox)?;
    let notice = match step.as_str() {
        "answer" => "answered",
        "close" => "closed",
        _ => return Err(PageError::not_found(lang, Area::Console)),
    };
    let once = Once::new(
        &who.session,
        &format!("POST /console/support/{id}/{step}"),
        &form.key,
        &form,
        move |t: &SupportTicket| format!("/console/support/{}?notice={notice}", t.ticket.id),
    );
    let actor = who.session.actor();
    let outcome = if step == "answer" {
        support::answer(&state.app, &actor, &id, &form.body, once.replay()).await
    } else {
        support::close(&state.app, &actor, &id, once.replay()).await
    };
    Ok(see(once.location(outcome.map_err(|e| failed(e, lang))?)))
}
