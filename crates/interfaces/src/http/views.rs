//! What the API answers, as types: each is `Serialize` for the handler and `ToSchema` for the
//! OpenAPI document, so the two cannot describe different shapes. Each view is built from what
//! a use case returned, in the reader's language where it holds words.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use yajin_app::applications::{ApplicationDetail, Receipt as ReceiptModel};
use yajin_app::assessment::TerminalAssessment;
use yajin_app::model;
use yajin_app::paging::Page;
use yajin_app::review::StaffApplication;
use yajin_core::application::Status;
use yajin_core::eligibility::{Lang, Missing, Reason};
use yajin_core::notice::{self, Note};
use yajin_core::plan::{DepositPlan, FeeRule, RefundRule};
use yajin_core::rejection;
use yajin_core::{Fen, Timestamp};

/// A stored phone number, masked (138****0001).
fn masked_phone(phone: &str) -> String {
    yajin_core::ids::PhoneNo::parse(phone).map(|p| p.masked()).unwrap_or_default()
}

fn rfc3339(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_rfc3339())
}

/// Declares `$page { items: Vec<$item>, next_cursor }` for a list of `$item`.
macro_rules! page {
    ($($page:ident of $item:ident;)*) => {$(
        #[derive(Serialize, ToSchema)]
        pub struct $page {
            pub items: Vec<$item>,
            /// Pass as `?cursor=` for the next page; `null` on the last.
            pub next_cursor: Option<String>,
        }

        impl $page {
            pub fn of<T>(page: Page<T>, view: impl FnMut(T) -> $item) -> $page {
                let page = page.map(view);
                $page { items: page.items, next_cursor: page.next_cursor }
            }
        }
    )*};
}

page! {
    TerminalPage of TerminalView;
    UsagePage of UsageView;
    OutstandingPage of OutstandingItemView;
    ApplicationPage of ApplicationView;
    PayoutPage of PayoutView;
    NotificationPage of NotificationView;
    TicketPage of TicketView;
    AnnouncementPage of AnnouncementView;
    ReviewPage of ReviewApplicationView;
    PolicyPage of PolicyView;
    AuditPage of AuditRowView;
    SupportTicketPage of SupportTicketView;
    AgentMerchantPage of AgentMerchantView;
    AgentTerminalPage of AgentTerminalView;
    AgentApplicationPage of AgentApplicationView;
}

#[derive(Serialize, ToSchema)]
pub struct StatusView {
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessView {
    pub status: String,
    pub database: Option<String>,
    pub schema_version: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginView {
    pub token: String,
    pub expires_at: String,
    pub role: String,
    /// Send back as `X-CSRF-Token` on state-changing requests made with the session cookie.
    pub csrf_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct CodeSentView {
    pub resend_after_s: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub merchant_no: String,
    pub name: String,
    /// Masked: `138****0001`.
    pub phone: String,
    /// Masked: `6222 **** **** 0128`.
    pub bank_card: String,
    pub bank_name: String,
    /// Masked: `310***********1236`.
    pub id_card: String,
}

impl From<model::Merchant> for MeView {
    fn from(m: model::Merchant) -> MeView {
        let phone = masked_phone(&m.phone);
        MeView {
            merchant_no: m.merchant_no,
            name: m.name,
            phone,
            bank_card: m.bank_card_masked,
            bank_name: m.bank_name,
            id_card: m.id_card_masked,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SmsMessageView {
    pub phone: String,
    pub text: String,
    pub sent_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SmsInboxView {
    pub items: Vec<SmsMessageView>,
}

#[derive(Serialize, ToSchema)]
pub struct DepositView {
    pub amount_fen: i64,
    pub refundable_fen: i64,
    pub refunded_fen: i64,
    pub in_flight_fen: i64,
    pub deducted_fen: i64,
    /// `none`, `held`, `refund_in_progress`, `refunded`.
    pub status: String,
}

impl DepositView {
    pub fn new(d: &yajin_core::eligibility::DepositFigures) -> DepositView {
        let refundable = d.refundable().unwrap_or_default().max(Fen::ZERO);
        let status = if d.collected_fen.get() == 0 {
            "none"
        } else if d.in_flight_fen.is_positive() {
            "refund_in_progress"
        } else if !refundable.is_positive() {
            "refunded"
        } else {
            "held"
        };
        DepositView {
            amount_fen: d.collected_fen.get(),
            refundable_fen: refundable.get(),
            refunded_fen: d.refunded_fen.get(),
            in_flight_fen: d.in_flight_fen.get(),
            deducted_fen: d.deducted_fen.get(),
            status: status.to_owned(),
        }
    }
}

/// A reason a refund cannot happen now, with its figures (`outstanding_fen`, `deadline`,
/// `reached_fen`, `needed_fen`, `days_left`, `application_id`, … by code).
#[derive(Serialize, ToSchema)]
#[schema(as = Reason)]
pub struct ReasonView {
    pub code: String,
    pub message: String,
    #[serde(flatten)]
    pub figures: Map<String, Value>,
}

impl ReasonView {
    pub fn new(reason: &Reason, lang: Lang) -> ReasonView {
        ReasonView { code: reason.code().to_owned(), message: reason.message(lang), figures: figures(reason) }
    }
}

/// The figures behind a reason, as members of its object.
pub fn figures(reason: &Reason) -> Map<String, Value> {
    let value = match reason {
        Reason::ApplicationAlreadyOpen { application_id } => serde_json::json!({"application_id": application_id}),
        Reason::OutstandingBalance { outstanding_fen, item_ids, exceeds_refund } => serde_json::json!({
            "outstanding_fen": outstanding_fen, "item_ids": item_ids, "exceeds_refund": exceeds_refund}),
        Reason::RefundWindowExpired { deadline } => serde_json::json!({"deadline": deadline.to_rfc3339()}),
        Reason::NotYetEligible {
            missing: Missing::VolumeBelowTarget { reached_fen, needed_fen, remaining_fen, deadline, days_left },
        } => serde_json::json!({"missing": "volume_below_target", "reached_fen": reached_fen,
            "needed_fen": needed_fen, "remaining_fen": remaining_fen, "deadline": deadline.to_rfc3339(),
            "days_left": days_left}),
        Reason::NotYetEligible { missing: Missing::NotActivated } => serde_json::json!({"missing": "not_activated"}),
        Reason::NotYetEligible { missing: Missing::NoDeposit } => serde_json::json!({"missing": "no_deposit"}),
        Reason::NotYetEligible { missing: Missing::DeviceNotReturned } => {
            serde_json::json!({"missing": "device_not_returned"})
        }
        Reason::DepositAlreadyRefunded | Reason::RiskFrozen => serde_json::json!({}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct EligibilityView {
    pub eligible: bool,
    pub reasons: Vec<ReasonView>,
    pub refundable_fen: i64,
    pub fee_fen: i64,
    pub deducted_fen: i64,
    pub net_refund_fen: i64,
    pub deadline: Option<String>,
    pub days_left: Option<i64>,
    pub device_return_pending: bool,
    pub auto_approvable: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ProgressView {
    pub reached_fen: i64,
    pub target_fen: i64,
    pub percent: i64,
}

/// A deposit plan: the snapshot a terminal keeps from its activation, or a version on file.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub code: String,
    pub version: i64,
    /// The name in Chinese.
    pub name: String,
    /// The name in English, as stored (empty for a plan given none).
    pub name_en: String,
    /// The name in the reader's language (read-only).
    pub display_name: String,
    pub deposit_fen: i64,
    /// `{"kind":"activation","volume_target_fen","counted_kinds","window_days"}` or
    /// `{"kind":"termination","refund_window_days","device_return_required"}`.
    #[schema(value_type = Object)]
    pub rule: RefundRule,
    /// `{"kind":"fixed","amount_fen"}` or `{"kind":"percent","basis_points","cap_fen"}`.
    #[schema(value_type = Object)]
    pub fee: FeeRule,
    pub auto_approve: bool,
    pub auto_apply: bool,
    pub four_eyes_threshold_fen: i64,
}

impl PlanView {
    pub fn new(p: &DepositPlan, lang: Lang) -> PlanView {
        PlanView {
            code: p.code.clone(),
            version: p.version,
            name: p.name.clone(),
            name_en: p.name_en.clone(),
            display_name: p.name_in(lang),
            deposit_fen: p.deposit_fen.get(),
            rule: p.rule.clone(),
            fee: p.fee,
            auto_approve: p.auto_approve,
            auto_apply: p.auto_apply,
            four_eyes_threshold_fen: p.four_eyes_threshold_fen.get(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TerminalView {
    pub sn: String,
    pub terminal_id: String,
    pub model: String,
    pub status: String,
    pub activated_at: Option<String>,
    pub terminated_at: Option<String>,
    pub device_returned_at: Option<String>,
    pub deposit: DepositView,
    pub plan: PlanView,
    pub progress: Option<ProgressView>,
    pub eligibility: EligibilityView,
    pub open_application_id: Option<String>,
    /// The application in progress for this deposit: while it runs, the deposit is not
    /// refundable again, and this is what the merchant will receive.
    pub open_application: Option<OpenApplicationView>,
}

#[derive(Serialize, ToSchema)]
pub struct OpenApplicationView {
    pub id: String,
    pub status: String,
    pub net_refund_fen: i64,
}

impl OpenApplicationView {
    pub fn new(o: &yajin_app::model::OpenApplication) -> OpenApplicationView {
        OpenApplicationView {
            id: o.id.clone(),
            status: o.status.as_str().to_owned(),
            net_refund_fen: o.net_refund.get(),
        }
    }
}

impl TerminalView {
    pub fn new(ta: &TerminalAssessment, lang: Lang, now: Timestamp) -> TerminalView {
        let (t, a) = (&ta.terminal, &ta.assessment);
        let progress = a.volume.as_ref().map(|v| {
            let percent = if v.target_fen.is_positive() {
                (v.reached_fen.get().saturating_mul(100) / v.target_fen.get()).min(100)
            } else {
                100
            };
            ProgressView { reached_fen: v.reached_fen.get(), target_fen: v.target_fen.get(), percent }
        });
        TerminalView {
            sn: t.sn.clone(),
            terminal_id: t.terminal_id.clone(),
            model: t.model.clone(),
            status: t.status.as_str().to_owned(),
            activated_at: rfc3339(t.activated_at),
            terminated_at: rfc3339(t.terminated_at),
            device_returned_at: rfc3339(t.device_returned_at),
            deposit: DepositView::new(&ta.deposit),
            plan: PlanView::new(&t.plan, lang),
            progress,
            eligibility: EligibilityView {
                eligible: a.eligible(),
                reasons: a.reasons.iter().map(|r| ReasonView::new(r, lang)).collect(),
                refundable_fen: a.refundable_fen.get(),
                fee_fen: a.fee_fen.get(),
                deducted_fen: a.deducted_fen.get(),
                net_refund_fen: a.net_refund_fen.get(),
                deadline: rfc3339(a.deadline),
                days_left: a.deadline.map(|d| now.china_days_until(d)),
                device_return_pending: a.device_return_pending,
                auto_approvable: a.auto_approvable,
            },
            open_application_id: ta.open_application.as_ref().map(|o| o.id.clone()),
            open_application: ta.open_application.as_ref().map(OpenApplicationView::new),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UsageView {
    pub id: String,
    pub amount_fen: i64,
    pub fee_fen: i64,
    pub occurred_at: String,
    pub kind: String,
}

impl From<model::Usage> for UsageView {
    fn from(u: model::Usage) -> UsageView {
        UsageView {
            id: u.id,
            amount_fen: u.amount.get(),
            fee_fen: u.fee.get(),
            occurred_at: u.occurred_at.to_rfc3339(),
            kind: u.kind,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OutstandingItemView {
    pub id: String,
    pub kind: String,
    pub amount_fen: i64,
    pub due_at: String,
    pub status: String,
    pub terminal_sn: Option<String>,
    pub settled_at: Option<String>,
    pub application_id: Option<String>,
}

impl From<model::Item> for OutstandingItemView {
    fn from(i: model::Item) -> OutstandingItemView {
        OutstandingItemView {
            id: i.id,
            kind: i.kind,
            amount_fen: i.amount.get(),
            due_at: i.due_at.to_rfc3339(),
            status: i.status,
            terminal_sn: i.terminal_sn,
            settled_at: rfc3339(i.settled_at),
            application_id: i.application_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: String,
    pub kind: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

impl From<model::Attachment> for AttachmentView {
    fn from(a: model::Attachment) -> AttachmentView {
        AttachmentView { id: a.id, kind: a.kind, content_type: a.content_type, size: a.size, sha256: a.sha256 }
    }
}

/// Multipart upload: `file` (JPEG, PNG or PDF by content, ≤ 10 MiB) and `kind`.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form; axum's `Multipart` reads it.
pub struct AttachmentUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `purchase_voucher`, `usage_record`, `id_photo`, `other`.
    kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentRefView {
    pub id: String,
    pub kind: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TimelineEntryView {
    pub status: String,
    pub from: Option<String>,
    pub at: String,
    /// The role that took the step (`merchant`, `reviewer`, `system`, …).
    pub actor: String,
    /// Who, in the reader's language: "审核员 王芳" / "Reviewer 王芳"; the role alone for the
    /// merchant and the system.
    pub actor_name: String,
    /// What the step says, in the reader's language: the system's note, or the person's words.
    pub note: String,
    /// A person's words beside the system's note (a reviewer's comment on a rejection).
    pub comment: Option<String>,
    /// On a rejection: why, and what to do next.
    pub rejection: Option<RejectionView>,
    /// On a request for information: what is asked for.
    pub info_request: Option<InfoRequestView>,
}

/// Why an application was rejected, as its merchant reads it.
#[derive(Clone, Serialize, ToSchema)]
pub struct RejectionView {
    pub reason_code: String,
    pub explanation: String,
    pub next_step: String,
    /// The reviewer's own words, when they wrote any.
    pub comment: Option<String>,
}

/// What a reviewer asked the merchant to add.
#[derive(Clone, Serialize, ToSchema)]
pub struct InfoRequestView {
    pub items: Vec<String>,
    pub comment: Option<String>,
}

fn words(text: String) -> Option<String> {
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

impl TimelineEntryView {
    pub fn new(e: model::Event, lang: Lang) -> TimelineEntryView {
        let actor_name = someone(&e.actor_role, e.actor_name.as_deref(), lang);
        let rejection = match &e.system_note {
            Some(Note::Rejected { reason_code }) => rejection::find(reason_code).map(|r| RejectionView {
                reason_code: r.code.to_owned(),
                explanation: if lang == Lang::En { r.explanation_en } else { r.explanation_zh }.to_owned(),
                next_step: if lang == Lang::En { r.next_step_en } else { r.next_step_zh }.to_owned(),
                comment: words(e.note.clone()),
            }),
            _ => None,
        };
        let info_request = match &e.system_note {
            Some(Note::InfoRequested { items }) => {
                Some(InfoRequestView { items: items.clone(), comment: words(e.note.clone()) })
            }
            _ => None,
        };
        let (note, comment) = match &e.system_note {
            Some(n) => (n.text(lang), words(e.note)),
            None => (e.note, None),
        };
        TimelineEntryView {
            status: e.to.as_str().to_owned(),
            from: e.from.map(|s| s.as_str().to_owned()),
            at: e.at.to_rfc3339(),
            actor: e.actor_role,
            actor_name,
            note,
            comment,
            rejection,
            info_request,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: String,
    pub status: String,
    pub terminal_sn: Option<String>,
    pub reason: String,
    /// The reason, as a person says it, in the reader's language.
    pub reason_name: String,
    pub note: String,
    pub amount_fen: i64,
    pub fee_fen: i64,
    pub deducted_fen: i64,
    pub net_refund_fen: i64,
    pub deduct_outstanding: bool,
    pub bank_card: String,
    pub four_eyes_required: bool,
    pub created_at: String,
    pub updated_at: String,
    pub attachments: Vec<AttachmentRefView>,
    pub timeline: Vec<TimelineEntryView>,
    /// Once rejected: why, what to do next, and the reviewer's comment.
    pub rejection: Option<RejectionView>,
    /// While information is requested: what to add.
    pub info_request: Option<InfoRequestView>,
    /// The agent who sold the merchant its terminal ("代理商 周强"); the company owns the refund.
    pub agent: Option<String>,
    /// The latest payout attempt, once one exists (`null` for an all-deducted refund).
    pub payout: Option<PayoutView>,
}

impl ApplicationView {
    pub fn new(d: ApplicationDetail, lang: Lang) -> ApplicationView {
        let a = d.application;
        let timeline: Vec<TimelineEntryView> =
            d.timeline.into_iter().map(|e| TimelineEntryView::new(e, lang)).collect();
        let rejection =
            (a.status == Status::Rejected).then(|| timeline.iter().rev().find_map(|e| e.rejection.clone())).flatten();
        let info_request = (a.status == Status::InfoRequested)
            .then(|| timeline.iter().rev().find_map(|e| e.info_request.clone()))
            .flatten();
        ApplicationView {
            status: a.status.as_str().to_owned(),
            terminal_sn: d.terminal_sn,
            reason_name: notice::refund_reason_name(&a.reason).get(lang).to_owned(),
            reason: a.reason,
            note: a.note,
            amount_fen: a.amount.get(),
            fee_fen: a.fee.get(),
            deducted_fen: a.deducted.get(),
            net_refund_fen: a.net_refund.get(),
            deduct_outstanding: a.deduct_outstanding,
            bank_card: a.bank_card_masked,
            four_eyes_required: a.four_eyes_required,
            created_at: a.created_at.to_rfc3339(),
            updated_at: a.updated_at.to_rfc3339(),
            attachments: d
                .attachments
                .into_iter()
                .map(|f| AttachmentRefView { id: f.id, kind: f.kind, content_type: f.content_type, size: f.size })
                .collect(),
            timeline,
            rejection,
            info_request,
            agent: d.agent_name.as_deref().map(|name| someone("agent", Some(name), lang)),
            payout: d.payout.map(PayoutView::from),
            id: a.id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeductionView {
    pub item_id: String,
    pub kind: String,
    pub amount_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub eligible: bool,
    pub reasons: Vec<ReasonView>,
    pub terminal_sn: String,
    pub amount_fen: i64,
    pub fee_fen: i64,
    pub deducted_fen: i64,
    pub net_refund_fen: i64,
    pub deductions: Vec<DeductionView>,
    pub deadline: Option<String>,
    pub auto_approvable: bool,
    pub warnings: Vec<crate::http::problem::FieldErrorView>,
}

impl PreviewView {
    pub fn new(p: &yajin_app::applications::Preview, lang: Lang) -> PreviewView {
        let a = &p.assessment.assessment;
        PreviewView {
            eligible: a.eligible(),
            reasons: a.reasons.iter().map(|r| ReasonView::new(r, lang)).collect(),
            terminal_sn: p.assessment.terminal.sn.clone(),
            amount_fen: a.refundable_fen.get(),
            fee_fen: a.fee_fen.get(),
            deducted_fen: a.deducted_fen.get(),
            net_refund_fen: a.net_refund_fen.get(),
            deductions: a
                .deductions
                .iter()
                .map(|d| DeductionView {
                    item_id: d.item_id.clone(),
                    kind: d.kind.clone(),
                    amount_fen: d.amount_fen.get(),
                })
                .collect(),
            deadline: a.deadline.map(|d| d.to_rfc3339()),
            auto_approvable: a.auto_approvable,
            warnings: p.warnings.iter().map(|w| crate::http::problem::FieldErrorView::new(w, lang)).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReceiptView {
    pub refund_no: String,
    pub merchant_no: String,
    pub merchant_name: String,
    pub terminal_sn: String,
    pub terminal_id: String,
    pub amount_fen: i64,
    pub fee_fen: i64,
    pub deducted_fen: i64,
    pub net_refund_fen: i64,
    pub net_refund_yuan: String,
    /// 大写, e.g. 贰佰玖拾玖元整.
    pub net_refund_capitals: String,
    pub amount_capitals: String,
    pub bank_card: String,
    pub bank_name: String,
    /// The receipt's number: `GET /api/v1/receipts/{number}/verify` confirms it to anyone.
    pub receipt_number: Option<String>,
    /// The bank's reference of the payout (none when everything was deducted).
    pub bank_reference: Option<String>,
    /// When the bank paid.
    pub paid_at: Option<String>,
    pub submitted_at: String,
    pub refunded_at: Option<String>,
}

/// What a receipt's number proves, to anyone who holds it.
#[derive(Serialize, ToSchema)]
pub struct ReceiptCheckView {
    pub valid: bool,
    pub receipt_number: String,
    pub net_refund_fen: i64,
    pub paid_at: Option<String>,
    /// Masked: `6222 **** **** 0128`.
    pub card: String,
}

impl From<ReceiptModel> for ReceiptView {
    fn from(r: ReceiptModel) -> ReceiptView {
        let a = r.application;
        ReceiptView {
            refund_no: a.id,
            merchant_no: r.merchant_no,
            merchant_name: r.merchant_name,
            terminal_sn: r.terminal_sn,
            terminal_id: r.terminal_id,
            amount_fen: a.amount.get(),
            fee_fen: a.fee.get(),
            deducted_fen: a.deducted.get(),
            net_refund_fen: a.net_refund.get(),
            net_refund_yuan: a.net_refund.to_string(),
            net_refund_capitals: a.net_refund.to_chinese_capitals(),
            amount_capitals: a.amount.to_chinese_capitals(),
            // The card actually paid: the bound one, or the one the merchant changed to.
            bank_card: match r.payout.as_ref().filter(|p| !a.bank_card_masked.ends_with(&p.card_last4)) {
                Some(p) => format!("**** **** **** {}", p.card_last4),
                None => a.bank_card_masked,
            },
            bank_name: r.bank_name,
            receipt_number: a.receipt_number,
            bank_reference: r.payout.as_ref().and_then(|p| p.bank_reference.clone()),
            paid_at: r.payout.as_ref().and_then(|p| p.paid_at).map(|t| t.to_rfc3339()),
            submitted_at: a.created_at.to_rfc3339(),
            refunded_at: rfc3339(r.refunded_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub application_id: Option<String>,
    pub created_at: String,
}

impl NotificationView {
    pub fn new(n: model::Notification, lang: Lang) -> NotificationView {
        let (title, body) = n.words(lang);
        NotificationView {
            id: n.id,
            kind: n.kind,
            title,
            body,
            application_id: n.application_id,
            created_at: n.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TicketMessageView {
    pub id: String,
    /// The author's role: `merchant` or `support`.
    pub author: String,
    /// Who wrote it, in the reader's language ("客服 李娜", "Customer service 李娜").
    pub author_name: String,
    pub body: String,
    pub created_at: String,
}

/// A role and a staff member's display name, as a person reads them together.
fn someone(role: &str, name: Option<&str>, lang: Lang) -> String {
    let role = notice::role_name(role);
    match name {
        Some(name) => format!("{} {name}", role.get(lang)),
        None => role.get(lang).to_owned(),
    }
}

fn messages(list: Vec<model::Message>, lang: Lang) -> Vec<TicketMessageView> {
    list.into_iter()
        .map(|m| TicketMessageView {
            id: m.id,
            author_name: someone(&m.author_role, m.author_name.as_deref(), lang),
            author: m.author_role,
            body: m.body,
            created_at: m.created_at.to_rfc3339(),
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct TicketView {
    pub id: String,
    pub subject: String,
    pub status: String,
    pub application_id: Option<String>,
    /// Who in customer service owns it, by name ("客服 李娜"), once someone has answered.
    pub owner: Option<String>,
    pub first_response_due_at: String,
    pub first_response_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The conversation, on a single ticket (not in lists).
    pub messages: Option<Vec<TicketMessageView>>,
}

impl TicketView {
    pub fn new(t: model::Ticket, list: Option<Vec<model::Message>>, lang: Lang) -> TicketView {
        TicketView {
            id: t.id,
            subject: t.subject,
            status: t.status,
            application_id: t.application_id,
            owner: t.owner_staff_id.as_ref().map(|_| someone("support", t.owner_name.as_deref(), lang)),
            first_response_due_at: t.first_response_due_at.to_rfc3339(),
            first_response_at: rfc3339(t.first_response_at),
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
            messages: list.map(|l| messages(l, lang)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AnnouncementView {
    pub id: String,
    pub title: String,
    pub body: String,
    pub published_at: Option<String>,
}

impl From<model::Announcement> for AnnouncementView {
    fn from(a: model::Announcement) -> AnnouncementView {
        AnnouncementView { id: a.id, title: a.title, body: a.body, published_at: rfc3339(a.published_at) }
    }
}

/// A merchant as its agent sees it: numbers masked.
#[derive(Serialize, ToSchema)]
pub struct AgentMerchantView {
    pub merchant_no: String,
    pub name: String,
    /// Masked: 138****0001.
    pub phone: String,
    /// Masked: 6222 **** **** 0128.
    pub bank_card: String,
    pub bank_name: String,
}

impl From<model::Merchant> for AgentMerchantView {
    fn from(m: model::Merchant) -> AgentMerchantView {
        AgentMerchantView {
            phone: masked_phone(&m.phone),
            merchant_no: m.merchant_no,
            name: m.name,
            bank_card: m.bank_card_masked,
            bank_name: m.bank_name,
        }
    }
}

/// A terminal of one of the agent's merchants: its deposit and the refund in progress.
#[derive(Serialize, ToSchema)]
pub struct AgentTerminalView {
    pub sn: String,
    pub terminal_id: String,
    pub model: String,
    pub status: String,
    pub merchant_no: String,
    pub merchant_name: String,
    pub activated_at: Option<String>,
    pub plan_code: String,
    pub deposit: DepositView,
    pub open_application: Option<OpenApplicationView>,
}

impl From<yajin_app::agents::AgentTerminal> for AgentTerminalView {
    fn from(a: yajin_app::agents::AgentTerminal) -> AgentTerminalView {
        let t = a.terminal;
        AgentTerminalView {
            deposit: DepositView::new(&a.deposit),
            open_application: a.open_application.as_ref().map(OpenApplicationView::new),
            activated_at: rfc3339(t.activated_at),
            plan_code: t.plan.code,
            status: t.status.as_str().to_owned(),
            sn: t.sn,
            terminal_id: t.terminal_id,
            model: t.model,
            merchant_no: a.merchant_no,
            merchant_name: a.merchant_name,
        }
    }
}

/// A refund application as the agent who sold the terminal sees it: the merchant's view (card
/// masked, timeline in the reader's language) and whose it is. Read-only.
#[derive(Serialize, ToSchema)]
pub struct AgentApplicationView {
    #[serde(flatten)]
    pub application: ApplicationView,
    pub merchant_no: String,
    pub merchant_name: String,
}

impl AgentApplicationView {
    pub fn new(a: yajin_app::agents::AgentApplication, lang: Lang) -> AgentApplicationView {
        AgentApplicationView {
            application: ApplicationView::new(a.detail, lang),
            merchant_no: a.merchant_no,
            merchant_name: a.merchant_name,
        }
    }
}

/// An application as the back office sees it.
#[derive(Serialize, ToSchema)]
pub struct ReviewApplicationView {
    #[serde(flatten)]
    pub application: ApplicationView,
    pub merchant_no: Option<String>,
    pub merchant_name: Option<String>,
    pub claimed_by: Option<String>,
    pub first_approver: Option<String>,
    pub second_approver: Option<String>,
    /// Seconds since submission.
    pub waiting_s: i64,
}

impl ReviewApplicationView {
    pub fn new(s: StaffApplication, lang: Lang) -> ReviewApplicationView {
        let a = &s.detail.application;
        let (claimed_by, first_approver, second_approver) =
            (a.claimed_by.clone(), a.first_approver.clone(), a.second_approver.clone());
        // The clock stops when the application reaches a final state.
        let until = if a.status.is_final() { a.updated_at } else { s.as_of };
        let waiting_s = (until.millis() - a.created_at.millis()).max(0) / 1000;
        ReviewApplicationView {
            application: ApplicationView::new(s.detail, lang),
            merchant_no: s.merchant_no,
            merchant_name: s.merchant_name,
            claimed_by,
            first_approver,
            second_approver,
            waiting_s,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LedgerLineView {
    pub id: String,
    pub debit: String,
    pub credit: String,
    pub amount_fen: i64,
    pub code: String,
    pub state: String,
}

#[derive(Serialize, ToSchema)]
pub struct OutstandingItemRefView {
    pub id: String,
    pub kind: String,
    pub amount_fen: i64,
    pub due_at: String,
}

/// How the merchant's identity was checked.
#[derive(Serialize, ToSchema)]
pub struct IdentityCheckView {
    pub phone: String,
    pub id_card: String,
    pub bank_card: String,
    pub method: String,
}

/// An application with the evidence to decide it.
#[derive(Serialize, ToSchema)]
pub struct ReviewEvidenceView {
    #[serde(flatten)]
    pub application: ReviewApplicationView,
    pub terminal: Option<TerminalView>,
    pub outstanding_items: Vec<OutstandingItemRefView>,
    pub ledger: Vec<LedgerLineView>,
    pub identity_check: IdentityCheckView,
}

impl ReviewEvidenceView {
    pub fn new(evidence: yajin_app::review::Evidence, lang: Lang) -> ReviewEvidenceView {
        let now = evidence.application.as_of;
        let outstanding_items = evidence.terminal.as_ref().map_or_else(Vec::new, |t| {
            t.owed
                .iter()
                .map(|i| OutstandingItemRefView {
                    id: i.id.clone(),
                    kind: i.kind.clone(),
                    amount_fen: i.amount_fen.get(),
                    due_at: i.due_at.to_rfc3339(),
                })
                .collect()
        });
        let ledger = evidence
            .ledger
            .iter()
            .map(|(t, s)| LedgerLineView {
                id: t.id.clone(),
                debit: t.debit.id(),
                credit: t.credit.id(),
                amount_fen: t.amount.get(),
                code: t.code.as_str().to_owned(),
                state: s.as_str().to_owned(),
            })
            .collect();
        ReviewEvidenceView {
            terminal: evidence.terminal.as_ref().map(|t| TerminalView::new(t, lang, now)),
            application: ReviewApplicationView::new(evidence.application, lang),
            outstanding_items,
            ledger,
            // Submission succeeds only when phone, ID card and bank card match the real-name
            // record (compared by blind index), so an application on file has passed all three.
            identity_check: IdentityCheckView {
                phone: "match".into(),
                id_card: "match".into(),
                bank_card: "match".into(),
                method: "blind_index_at_submission".into(),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LocalizedView {
    pub zh: String,
    pub en: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReasonCodeView {
    pub code: String,
    pub explanation: LocalizedView,
    pub next_step: LocalizedView,
}

#[derive(Serialize, ToSchema)]
pub struct ReasonCodesView {
    pub items: Vec<ReasonCodeView>,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    pub id: String,
    #[serde(flatten)]
    pub plan: PlanView,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditRowView {
    pub id: i64,
    pub at: String,
    pub actor_role: String,
    pub actor_id: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub hash: String,
}

impl From<model::AuditRow> for AuditRowView {
    fn from(r: model::AuditRow) -> AuditRowView {
        AuditRowView {
            id: r.seq,
            at: Timestamp::from_millis(r.at).to_rfc3339(),
            detail: serde_json::from_str(&r.entry.detail).unwrap_or(Value::Null),
            actor_role: r.entry.actor_role,
            actor_id: r.entry.actor_id,
            action: r.entry.action,
            entity: r.entry.entity,
            entity_id: r.entry.entity_id,
            hash: r.hash,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditVerificationView {
    pub ok: bool,
    pub checked: i64,
    pub first_broken_id: Option<i64>,
}

/// The audit chain's head as signed: `signature` (Ed25519, hex) is over `signed_message`
/// (`yajin-audit-head\n{seq}\n{hash}`), checked with `GET /api/v1/audit/public-key`.
#[derive(Serialize, ToSchema)]
pub struct AuditHeadView {
    pub seq: i64,
    pub hash: String,
    pub signed_message: String,
    pub signature: String,
}

#[derive(Serialize, ToSchema)]
pub struct PublicKeyView {
    /// `ed25519`.
    pub algorithm: String,
    /// The raw 32-byte public key, hex.
    pub public_key: String,
}

/// An account's four counters, in fen.
#[derive(Serialize, ToSchema)]
pub struct BalanceView {
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
}

impl From<yajin_core::ledger::Balance> for BalanceView {
    fn from(b: yajin_core::ledger::Balance) -> BalanceView {
        BalanceView {
            debits_pending: b.debits_pending.get(),
            debits_posted: b.debits_posted.get(),
            credits_pending: b.credits_pending.get(),
            credits_posted: b.credits_posted.get(),
        }
    }
}

/// An account whose stored counters differ from what its transfers add up to.
#[derive(Serialize, ToSchema)]
pub struct LedgerMismatchView {
    pub account_id: String,
    pub stored: BalanceView,
    pub derived: BalanceView,
}

/// Whether the books balance.
#[derive(Serialize, ToSchema)]
pub struct LedgerVerificationView {
    pub ok: bool,
    pub accounts_checked: i64,
    pub mismatches: Vec<LedgerMismatchView>,
}

impl From<yajin_app::books::LedgerReport> for LedgerVerificationView {
    fn from(r: yajin_app::books::LedgerReport) -> LedgerVerificationView {
        LedgerVerificationView {
            ok: r.mismatches.is_empty(),
            accounts_checked: r.accounts,
            mismatches: r
                .mismatches
                .into_iter()
                .map(|m| LedgerMismatchView {
                    account_id: m.account_id,
                    stored: m.stored.into(),
                    derived: m.derived.into(),
                })
                .collect(),
        }
    }
}

/// A ticket as support sees it: the merchant's view, its age, and the application it is about.
#[derive(Serialize, ToSchema)]
pub struct SupportTicketView {
    #[serde(flatten)]
    pub ticket: TicketView,
    /// Whose ticket it is: support sees the merchant on every ticket.
    pub merchant_no: String,
    pub merchant_name: String,
    /// Masked: 138****0001.
    pub merchant_phone: String,
    pub overdue: bool,
    pub age_s: i64,
    pub application: Option<ApplicationView>,
}

impl SupportTicketView {
    pub fn new(
        t: model::Ticket,
        list: Option<Vec<model::Message>>,
        application: Option<ApplicationDetail>,
        now: Timestamp,
        lang: Lang,
    ) -> SupportTicketView {
        SupportTicketView {
            overdue: t.first_response_at.is_none() && now > t.first_response_due_at,
            age_s: (now.millis() - t.created_at.millis()).max(0) / 1000,
            merchant_no: t.merchant_no.clone(),
            merchant_name: t.merchant_name.clone(),
            merchant_phone: masked_phone(&t.merchant_phone),
            ticket: TicketView::new(t, list, lang),
            application: application.map(|d| ApplicationView::new(d, lang)),
        }
    }

    /// One ticket as support reads it, whole.
    pub fn read(s: yajin_app::support::SupportTicket, lang: Lang) -> SupportTicketView {
        SupportTicketView::new(s.ticket, Some(s.messages), s.application, s.as_of, lang)
    }
}

#[derive(Serialize, ToSchema)]
pub struct AnnouncementStateView {
    pub id: String,
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct DayTotalView {
    pub day: String,
    pub count: i64,
    pub amount_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryView {
    /// Status → number of the applications submitted within the period.
    pub applications_by_status: std::collections::BTreeMap<String, i64>,
    pub refunded_per_day: Vec<DayTotalView>,
    pub submit_to_refund_median_s: Option<i64>,
    pub submit_to_refund_p90_s: Option<i64>,
}

/// One attempt to pay a refund through the channel.
#[derive(Serialize, ToSchema)]
pub struct PayoutView {
    pub id: String,
    pub application_id: String,
    pub attempt: i64,
    pub amount_fen: i64,
    /// `pending` (not yet at the bank), `sent`, `unknown` (no answer: the bank is asked, never paid twice), `succeeded`, `failed`.
    pub status: String,
    pub card_last4: String,
    pub bank_reference: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub paid_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<yajin_app::model::Payout> for PayoutView {
    fn from(p: yajin_app::model::Payout) -> PayoutView {
        PayoutView {
            id: p.id,
            application_id: p.application_id,
            attempt: p.attempt,
            amount_fen: p.amount.get(),
            status: p.status,
            card_last4: p.card_last4,
            bank_reference: p.bank_reference,
            failure_code: p.failure_code,
            failure_message: p.failure_message,
            paid_at: p.paid_at.map(|t| t.to_rfc3339()),
            created_at: p.created_at.to_rfc3339(),
            updated_at: p.updated_at.to_rfc3339(),
        }
    }
}

/// A bank statement to reconcile.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form; axum's `Multipart` reads it.
pub struct ReconciliationUpload {
    /// CSV: `payout_id,reference,amount_fen,bank_reference,paid_at` (docs/payout-channel.md).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(Serialize, ToSchema)]
pub struct MismatchView {
    pub payout_id: String,
    pub ours_fen: i64,
    pub statement_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct LineErrorView {
    pub line: u64,
    pub message: String,
}

/// What a statement reconciled to. Lists name at most 1,000 each; the totals count all.
#[derive(Serialize, ToSchema)]
pub struct ReconciliationView {
    pub lines: u64,
    pub matched: u64,
    pub settled_by_statement: Vec<String>,
    pub duplicates: Vec<String>,
    pub duplicates_total: u64,
    pub unknown_in_statement: Vec<String>,
    pub unknown_in_statement_total: u64,
    pub amount_mismatches: Vec<MismatchView>,
    pub amount_mismatches_total: u64,
    pub conflicts: Vec<String>,
    pub conflicts_total: u64,
    pub missing_in_statement: Vec<String>,
    pub missing_in_statement_total: u64,
    pub errors: Vec<LineErrorView>,
    pub errors_total: u64,
}

impl From<yajin_app::reconciliation::Report> for ReconciliationView {
    fn from(r: yajin_app::reconciliation::Report) -> ReconciliationView {
        ReconciliationView {
            lines: r.lines,
            matched: r.matched,
            settled_by_statement: r.settled_by_statement,
            duplicates: r.duplicates,
            duplicates_total: r.duplicates_total,
            unknown_in_statement: r.unknown_in_statement,
            unknown_in_statement_total: r.unknown_total,
            amount_mismatches: r
                .amount_mismatches
                .into_iter()
                .map(|m| MismatchView { payout_id: m.payout_id, ours_fen: m.ours_fen, statement_fen: m.statement_fen })
                .collect(),
            amount_mismatches_total: r.mismatches_total,
            conflicts: r.conflicts,
            conflicts_total: r.conflicts_total,
            missing_in_statement: r.missing_in_statement,
            missing_in_statement_total: r.missing_total,
            errors: r.errors.into_iter().map(|e| LineErrorView { line: e.line, message: e.message }).collect(),
            errors_total: r.errors_total,
        }
    }
}

/// A returned device as recorded.
#[derive(Serialize, ToSchema)]
pub struct DeviceReceiptView {
    pub sn: String,
    pub waybill_no: String,
    pub condition: String,
    pub received_at: String,
}

/// A provisioned record: its id and natural key.
#[derive(Serialize, ToSchema)]
pub struct ProvisionedView {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sn: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InsertedView {
    pub inserted: u64,
}
