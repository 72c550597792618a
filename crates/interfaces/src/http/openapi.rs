//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request types.
//! Response shapes are declared here; a test checks real responses against them, so the
//! document and the server cannot drift apart unnoticed.

#![allow(dead_code)] // The schema types exist to be described, not constructed.

use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{admin, applications, attachments, auth, devices, health, inbox, review};

#[derive(OpenApi)]
#[openapi(
    info(title = "Yajin API", version = "1", description = "POS terminal deposits and their refunds. Amounts are integer fen; times RFC 3339 UTC; errors application/problem+json."),
    modifiers(&Security),
    paths(
        health::healthz, health::readyz,
        auth::login, auth::logout, auth::staff_login, auth::staff_logout, auth::request_code, auth::reset_password, auth::me, auth::sandbox_sms_inbox,
        devices::list, devices::one, devices::transactions, devices::items, devices::settle,
        attachments::upload, attachments::download,
        applications::submit, applications::list, applications::preview, applications::detail,
        applications::cancel, applications::supplement, applications::receipt,
        inbox::notifications_list, inbox::tickets_list, inbox::open_ticket, inbox::ticket, inbox::add_message,
        inbox::announcements_list,
        review::queue, review::evidence, review::claim, review::approve, review::reject, review::request_info,
        review::reason_codes, review::attachment,
        admin::list_plans, admin::create_plan, admin::audit_log, admin::audit_verify, admin::inbox, admin::support_ticket,
        admin::answer, admin::close, admin::draft, admin::publish, admin::withdraw, admin::summary,
    ),
    tags((name = "health"), (name = "auth"), (name = "devices"), (name = "attachments"), (name = "applications"), (name = "inbox"), (name = "backoffice"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components
            .add_security_scheme("cookie", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("yajin_session"))));
    }
}

pub fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

/// RFC 9457 problem details, with Yajin's stable `code` and, per code, the figures to act on.
#[derive(serde::Serialize, ToSchema)]
pub struct Problem {
    r#type: String,
    /// Stable machine code, e.g. `outstanding_balance`.
    code: String,
    /// zh-CN by default, English with `Accept-Language: en`.
    title: String,
    status: u16,
    detail: Option<String>,
    errors: Option<Vec<FieldErrorSchema>>,
    /// The figures of the code: `outstanding_fen`, `items`, `deadline`, `application_id`, ….
    #[serde(flatten)]
    figures: std::collections::HashMap<String, Value>,
}

#[derive(serde::Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorSchema {
    field: String,
    code: String,
    message: String,
}

#[derive(ToSchema)]
pub struct Status {
    status: String,
}

#[derive(ToSchema)]
pub struct Readiness {
    status: String,
    database: Option<String>,
    schema_version: Option<i64>,
    reason: Option<String>,
}

#[derive(ToSchema)]
pub struct LoginResponse {
    token: String,
    expires_at: String,
    role: String,
    /// Send back as `X-CSRF-Token` on state-changing requests made with the session cookie.
    csrf_token: String,
}

#[derive(ToSchema)]
pub struct CodeSent {
    resend_after_s: i64,
}

#[derive(ToSchema)]
pub struct Me {
    merchant_no: String,
    name: String,
    /// Masked: `138****0001`.
    phone: String,
    /// Masked: `6222 **** **** 0128`.
    bank_card: String,
    bank_name: String,
    /// Masked: `310***********1236`.
    id_card: String,
}

#[derive(ToSchema)]
pub struct SmsMessage {
    phone: String,
    text: String,
    sent_at: String,
}

#[derive(ToSchema)]
pub struct SmsInbox {
    items: Vec<SmsMessage>,
}

#[derive(ToSchema)]
pub struct Deposit {
    amount_fen: i64,
    refundable_fen: i64,
    refunded_fen: i64,
    in_flight_fen: i64,
    deducted_fen: i64,
    /// `none`, `held`, `refund_in_progress`, `refunded`.
    status: String,
}

/// A reason a refund cannot happen now, with its figures (`outstanding_fen`, `deadline`,
/// `reached_fen`, `needed_fen`, `days_left`, `application_id`, … by code).
#[derive(serde::Serialize, ToSchema)]
#[schema(as = Reason)]
pub struct ReasonSchema {
    code: String,
    message: String,
    #[serde(flatten)]
    figures: std::collections::HashMap<String, Value>,
}

#[derive(ToSchema)]
pub struct Eligibility {
    eligible: bool,
    reasons: Vec<ReasonSchema>,
    refundable_fen: i64,
    fee_fen: i64,
    deducted_fen: i64,
    net_refund_fen: i64,
    deadline: Option<String>,
    days_left: Option<i64>,
    device_return_pending: bool,
    auto_approvable: bool,
}

#[derive(ToSchema)]
pub struct Progress {
    reached_fen: i64,
    target_fen: i64,
    percent: i64,
}

/// The deposit plan snapshot taken at activation.
#[derive(ToSchema)]
pub struct Plan {
    code: String,
    version: i64,
    name: String,
    deposit_fen: i64,
    #[schema(value_type = Object)]
    rule: Value,
    #[schema(value_type = Object)]
    fee: Value,
    auto_approve: bool,
    auto_apply: bool,
    four_eyes_threshold_fen: i64,
}

#[derive(ToSchema)]
pub struct Terminal {
    sn: String,
    terminal_id: String,
    model: String,
    status: String,
    activated_at: Option<String>,
    terminated_at: Option<String>,
    device_returned_at: Option<String>,
    deposit: Deposit,
    plan: Plan,
    progress: Option<Progress>,
    eligibility: Eligibility,
    open_application_id: Option<String>,
}

#[derive(ToSchema)]
pub struct TerminalPage {
    items: Vec<Terminal>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct Usage {
    id: String,
    amount_fen: i64,
    fee_fen: i64,
    occurred_at: String,
    kind: String,
}

#[derive(ToSchema)]
pub struct UsagePage {
    items: Vec<Usage>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct OutstandingItem {
    id: String,
    kind: String,
    amount_fen: i64,
    due_at: String,
    status: String,
    terminal_sn: Option<String>,
    settled_at: Option<String>,
    application_id: Option<String>,
}

#[derive(ToSchema)]
pub struct OutstandingPage {
    items: Vec<OutstandingItem>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct Attachment {
    id: String,
    kind: String,
    content_type: String,
    size: i64,
    sha256: String,
}

/// Multipart upload: `file` (JPEG, PNG or PDF by content, ≤ 10 MiB) and `kind`.
#[derive(ToSchema)]
pub struct AttachmentUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `purchase_voucher`, `usage_record`, `id_photo`, `other`.
    kind: String,
}

#[derive(ToSchema)]
pub struct AttachmentRef {
    id: String,
    kind: String,
    content_type: String,
    size: i64,
}

#[derive(ToSchema)]
pub struct TimelineEntry {
    status: String,
    from: Option<String>,
    at: String,
    actor: String,
    note: String,
}

#[derive(ToSchema)]
pub struct Application {
    id: String,
    status: String,
    terminal_sn: Option<String>,
    reason: String,
    note: String,
    amount_fen: i64,
    fee_fen: i64,
    deducted_fen: i64,
    net_refund_fen: i64,
    deduct_outstanding: bool,
    bank_card: String,
    four_eyes_required: bool,
    created_at: String,
    updated_at: String,
    attachments: Vec<AttachmentRef>,
    timeline: Vec<TimelineEntry>,
    #[schema(value_type = Option<Object>)]
    payout: Option<Value>,
}

#[derive(ToSchema)]
pub struct ApplicationPage {
    items: Vec<Application>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct Deduction {
    item_id: String,
    kind: String,
    amount_fen: i64,
}

#[derive(ToSchema)]
pub struct Preview {
    eligible: bool,
    reasons: Vec<ReasonSchema>,
    terminal_sn: String,
    amount_fen: i64,
    fee_fen: i64,
    deducted_fen: i64,
    net_refund_fen: i64,
    deductions: Vec<Deduction>,
    deadline: Option<String>,
    auto_approvable: bool,
    warnings: Vec<FieldErrorSchema>,
}

#[derive(ToSchema)]
pub struct Receipt {
    refund_no: String,
    merchant_no: String,
    merchant_name: String,
    terminal_sn: String,
    terminal_id: String,
    amount_fen: i64,
    fee_fen: i64,
    deducted_fen: i64,
    net_refund_fen: i64,
    net_refund_yuan: String,
    /// 大写, e.g. 贰佰玖拾玖元整.
    net_refund_capitals: String,
    amount_capitals: String,
    bank_card: String,
    bank_name: String,
    bank_reference: Option<String>,
    submitted_at: String,
    refunded_at: Option<String>,
}

#[derive(ToSchema)]
pub struct Notification {
    id: String,
    kind: String,
    title: String,
    body: String,
    application_id: Option<String>,
    created_at: String,
}

#[derive(ToSchema)]
pub struct NotificationPage {
    items: Vec<Notification>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct TicketMessage {
    id: String,
    author: String,
    body: String,
    created_at: String,
}

#[derive(ToSchema)]
pub struct Ticket {
    id: String,
    subject: String,
    status: String,
    application_id: Option<String>,
    owner: Option<String>,
    first_response_due_at: String,
    first_response_at: Option<String>,
    created_at: String,
    updated_at: String,
    messages: Option<Vec<TicketMessage>>,
}

#[derive(ToSchema)]
pub struct TicketPage {
    items: Vec<Ticket>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct Announcement {
    id: String,
    title: String,
    body: String,
    published_at: Option<String>,
}

#[derive(ToSchema)]
pub struct AnnouncementPage {
    items: Vec<Announcement>,
    next_cursor: Option<String>,
}

/// An application as the back office sees it.
#[derive(ToSchema)]
pub struct ReviewApplication {
    #[serde(flatten)]
    application: Application,
    merchant_no: Option<String>,
    merchant_name: Option<String>,
    claimed_by: Option<String>,
    first_approver: Option<String>,
    second_approver: Option<String>,
    /// Seconds since submission.
    waiting_s: i64,
}

#[derive(ToSchema)]
pub struct ReviewPage {
    items: Vec<ReviewApplication>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct LedgerLine {
    id: String,
    debit: String,
    credit: String,
    amount_fen: i64,
    code: String,
    state: String,
}

/// An application with the evidence to decide it.
#[derive(ToSchema)]
pub struct ReviewEvidence {
    #[serde(flatten)]
    application: ReviewApplication,
    terminal: Terminal,
    outstanding_items: Vec<OutstandingItemRef>,
    ledger: Vec<LedgerLine>,
    #[schema(value_type = Object)]
    identity_check: Value,
}

#[derive(ToSchema)]
pub struct OutstandingItemRef {
    id: String,
    kind: String,
    amount_fen: i64,
    due_at: String,
}

#[derive(ToSchema)]
pub struct Localized {
    zh: String,
    en: String,
}

#[derive(ToSchema)]
pub struct ReasonCode {
    code: String,
    explanation: Localized,
    next_step: Localized,
}

#[derive(ToSchema)]
pub struct ReasonCodes {
    items: Vec<ReasonCode>,
}

#[derive(ToSchema)]
pub struct Policy {
    id: String,
    #[serde(flatten)]
    plan: Plan,
    created_at: String,
}

#[derive(ToSchema)]
pub struct PolicyList {
    items: Vec<Policy>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct AuditRow {
    id: i64,
    at: String,
    actor_role: String,
    actor_id: String,
    action: String,
    entity: String,
    entity_id: String,
    #[schema(value_type = Object)]
    detail: Value,
    hash: String,
}

#[derive(ToSchema)]
pub struct AuditPage {
    items: Vec<AuditRow>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct AuditVerification {
    ok: bool,
    checked: i64,
    first_broken_id: Option<i64>,
}

#[derive(ToSchema)]
pub struct SupportTicket {
    id: String,
    subject: String,
    status: String,
    application_id: Option<String>,
    owner: Option<String>,
    first_response_due_at: String,
    first_response_at: Option<String>,
    overdue: bool,
    age_s: i64,
    created_at: String,
    updated_at: String,
    messages: Option<Vec<TicketMessage>>,
    application: Option<Application>,
}

#[derive(ToSchema)]
pub struct SupportTicketPage {
    items: Vec<SupportTicket>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct AnnouncementState {
    id: String,
    status: String,
}

#[derive(ToSchema)]
pub struct DayTotal {
    day: String,
    count: i64,
    amount_fen: i64,
}

#[derive(ToSchema)]
pub struct Summary {
    #[schema(value_type = Object)]
    applications_by_status: Value,
    refunded_per_day: Vec<DayTotal>,
    submit_to_refund_median_s: Option<i64>,
    submit_to_refund_p90_s: Option<i64>,
}
