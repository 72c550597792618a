//! The back office's review: claim, approve (with four eyes), reject with a catalogued reason,
//! request information; and the system's automatic approval. Approval moves money: the
//! pending ledger transfers, the deducted items and the payout job are written in the same
//! transaction as the status change, guarded by a conditional update.

use yajin_core::application::{check_second_approver, transition, Action, Role, Status};
use yajin_core::ledger::postings;
use yajin_core::notice::{Note, Notice};
use yajin_core::plan::RefundRule;
use yajin_core::rejection;
use yajin_core::validation::{printable, FieldError, Lines};
use yajin_core::Fen;
use yajin_store::pii::Vault;
use yajin_store::records::applications::{self, Application, Mark, NewEvent};
use yajin_store::records::{jobs, outstanding, terminals};
use yajin_store::{ledger, StoreError, Tx};

use std::collections::HashMap;

use yajin_core::Timestamp;
use yajin_store::records::{attachments, merchants};
use yajin_store::Conn;

use crate::application_detail::{load_details, ApplicationDetail};
use crate::assessment::{assess_terminals, TerminalAssessment};
use crate::idempotency::{begin_work, Outcome, Replay};
use crate::paging::{Page, PageRequest};
use crate::{notices, Actor, App, AppError};

/// An application as the back office sees it: the merchant's view, whose it is, who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffApplication {
    pub detail: ApplicationDetail,
    pub merchant_no: Option<String>,
    pub merchant_name: Option<String>,
    /// When this was read, for the waiting time.
    pub as_of: Timestamp,
}

/// Staff views of many applications: the details in three queries and the merchants in one.
async fn staff_views(
    conn: &mut Conn,
    rows: Vec<Application>,
    as_of: Timestamp,
) -> Result<Vec<StaffApplication>, StoreError> {
    let merchant_ids: Vec<String> = rows.iter().map(|a| a.merchant_id.clone()).collect();
    let merchants: HashMap<String, (String, String)> =
        merchants::by_ids(conn, &merchant_ids).await?.into_iter().map(|m| (m.id, (m.merchant_no, m.name))).collect();
    Ok(load_details(conn, rows)
        .await?
        .into_iter()
        .map(|detail| {
            let m = merchants.get(&detail.application.merchant_id);
            StaffApplication {
                merchant_no: m.map(|m| m.0.clone()),
                merchant_name: m.map(|m| m.1.clone()),
                detail,
                as_of,
            }
        })
        .collect())
}

async fn staff_view(conn: &mut Conn, a: Application, as_of: Timestamp) -> Result<StaffApplication, ReviewError> {
    staff_views(conn, vec![a], as_of).await?.pop().ok_or(ReviewError::NotFound)
}

/// The review queue: applications in `status` (default `submitted`), oldest first.
/// What waits for someone in `role`: an approver's second approvals, everyone else's new
/// applications.
pub fn default_queue(role: Role) -> Status {
    match role {
        Role::Approver => Status::AwaitingSecondApproval,
        _ => Status::Submitted,
    }
}

/// The queue of `status`, or by default what waits for `role` ([`default_queue`]).
pub async fn queue(
    app: &App,
    role: Role,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Page<StaffApplication>, AppError> {
    let status = match status.filter(|s| !s.is_empty()) {
        None => default_queue(role),
        Some(text) => Status::parse(text).ok_or(AppError::InvalidQuery { field: "status" })?,
    };
    let mut conn = app.db.begin_read().await?;
    let rows = applications::queue(&mut conn, status, page.after_or_empty(), page.fetch()).await?;
    let page = Page::of(rows, page, |a| a.id.clone());
    let items = staff_views(&mut conn, page.items, app.clock.now()).await?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// An application with what a reviewer needs to decide it.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub application: StaffApplication,
    pub terminal: Option<TerminalAssessment>,
    /// Ledger lines of the terminal (its deposit) and of the application (its refund).
    pub ledger: Vec<(yajin_core::ledger::Transfer, yajin_core::ledger::TransferState)>,
}

pub async fn evidence(app: &App, id: &str) -> Result<Evidence, AppError> {
    let now = app.clock.now();
    let mut conn = app.db.begin_read().await?;
    let a = applications::by_id(&mut conn, id).await?.ok_or(AppError::NotFound("application"))?;
    let terminal = terminals::by_id(&mut conn, &a.terminal_id).await?.ok_or(AppError::NotFound("terminal"))?;
    let assessed = assess_terminals(&mut conn, &a.merchant_id, vec![terminal], a.deduct_outstanding, now).await?.pop();
    let mut ledger_lines = ledger::by_reference(&mut conn, &a.terminal_id).await?;
    ledger_lines.extend(ledger::by_reference(&mut conn, &a.id).await?);
    let application = staff_views(&mut conn, vec![a], now).await?.pop().ok_or(AppError::NotFound("application"))?;
    Ok(Evidence { application, terminal: assessed, ledger: ledger_lines })
}

/// A file of any merchant, for staff who may read evidence: its metadata and bytes.
pub async fn attachment(app: &App, id: &str) -> Result<(attachments::Attachment, Vec<u8>), AppError> {
    crate::attachments::read(app, None, id).await
}

pub const COMMENT_MAX_CHARS: usize = 1_000;
pub const INFO_ITEMS_MAX: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no such application")]
    NotFound,
    #[error("not possible in state {0:?}")]
    InvalidState(Status),
    #[error("your role may not do this")]
    Forbidden,
    #[error("the second approval must come from someone else")]
    SameApprover,
    #[error("the second approval needs the approver role")]
    ApproverRequired,
    #[error("claim the application before deciding on it")]
    NotClaimedByYou,
    #[error("unknown rejection reason code")]
    UnknownReasonCode,
    #[error("invalid input")]
    Fields(Vec<FieldError>),
    /// What the refund rests on changed since the application was made: `what` says which
    /// (`outstanding`, `risk_frozen`).
    #[error("{what} changed since submission")]
    FiguresChanged { what: &'static str },
    /// The plan wants the device back, and nobody has recorded it as received.
    #[error("the device has not been received")]
    DeviceNotReceived,
    #[error("the device was recorded as received already")]
    DeviceAlreadyReceived,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A refusal every use case shares (a reused idempotency key).
    #[error(transparent)]
    App(#[from] AppError),
}

fn check_comment(comment: &str, errors: &mut Vec<FieldError>) {
    if comment.chars().count() > COMMENT_MAX_CHARS {
        errors.push(FieldError::new("comment", "too_long", "至多 1000 个字符", "at most 1000 characters"));
    }
    errors.extend(printable("comment", comment, Lines::Many));
}

async fn load(tx: &mut Tx, id: &str) -> Result<Application, ReviewError> {
    applications::by_id(tx, id).await?.ok_or(ReviewError::NotFound)
}

/// The state the action leads to, or why this actor may not take it now.
fn next(a: &Application, action: Action, role: Role) -> Result<Status, ReviewError> {
    transition(a.status, action, role).map_err(|e| match e {
        yajin_core::application::TransitionError::NotAllowed { .. } => ReviewError::Forbidden,
        _ => ReviewError::InvalidState(a.status),
    })
}

#[allow(clippy::too_many_arguments)]
async fn record(
    vault: &Vault,
    tx: &mut Tx,
    a: &Application,
    to: Status,
    actor: &Actor,
    said: Said<'_>,
    detail: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    let detail_text = detail.to_string();
    applications::append_event(tx, &actor.step_of(a, to, said.words, said.note.as_ref(), &detail_text), now).await?;
    audit_step(vault, tx, a, to, actor, detail, now);
    Ok(())
}

/// The audit chain's entry for `actor` moving `a` to `to`, appended as the transaction commits.
fn audit_step(
    vault: &Vault,
    tx: &mut Tx,
    a: &Application,
    to: Status,
    actor: &Actor,
    detail: serde_json::Value,
    now: i64,
) {
    actor.audit(vault, tx, &format!("application_{}", to.as_str()), "refund_application", &a.id, detail, now);
}

/// What a timeline step says: a person's words, the system's note, or both.
#[derive(Default)]
struct Said<'a> {
    words: &'a str,
    note: Option<Note>,
}

impl<'a> Said<'a> {
    fn words(words: &'a str) -> Said<'a> {
        Said { words, note: None }
    }
}

pub async fn claim(
    app: &App,
    actor: &Actor,
    id: &str,
    replay: Replay<'_, StaffApplication>,
) -> Result<Outcome<StaffApplication>, ReviewError> {
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let a = load(tx, id).await?;
    let to = next(&a, Action::Claim, actor.role)?;
    if !applications::transition_by(tx, id, a.status, to, Mark::Claimed(&actor.id), now).await? {
        return Err(ReviewError::InvalidState(a.status));
    }
    record(&app.vault, tx, &a, to, actor, Said::default(), serde_json::json!({}), now).await?;
    notices::tell(tx, &a.merchant_id, &Notice::ApplicationInReview { application_id: a.id.clone() }, now).await?;
    let updated = load(tx, id).await?;
    let out = staff_view(tx, updated, Timestamp::from_millis(now)).await?;
    Ok(work.finish(out).await?)
}

/// Which approval `actor`'s "approve" would be, and where it leads, or why they may not.
fn approval(a: &Application, actor: &Actor) -> Result<(Action, Status), ReviewError> {
    let action = match a.status {
        Status::AwaitingSecondApproval => Action::SecondApprove,
        _ if a.four_eyes_required => Action::ApproveFirstOfTwo,
        _ => Action::Approve,
    };
    if action == Action::SecondApprove {
        // Who first approved is told so before anything else: that is why they may not.
        check_second_approver(a.first_approver.as_deref().unwrap_or(""), &actor.id)
            .map_err(|_| ReviewError::SameApprover)?;
        return match next(a, action, actor.role) {
            Err(ReviewError::Forbidden) => Err(ReviewError::ApproverRequired),
            other => other.map(|to| (action, to)),
        };
    }
    let to = next(a, action, actor.role)?;
    if a.claimed_by.as_deref() != Some(actor.id.as_str()) {
        return Err(ReviewError::NotClaimedByYou);
    }
    Ok((action, to))
}

/// A reviewer decides only on what they claimed (a rejection at the second approval excepted).
fn check_own_claim(a: &Application, action: Action, actor: &Actor) -> Result<(), ReviewError> {
    let needs_claim = match action {
        Action::RequestInfo => true,
        Action::Reject => a.status == Status::InReview,
        _ => false,
    };
    if needs_claim && a.claimed_by.as_deref() != Some(actor.id.as_str()) {
        return Err(ReviewError::NotClaimedByYou);
    }
    Ok(())
}

/// What `actor` may do with the application now: the buttons a console shows. The same
/// checks as the use cases themselves (role, state, claim, four eyes), so a button is never
/// offered that the use case would refuse for who is asking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decisions {
    pub claim: bool,
    pub approve: bool,
    pub reject: bool,
    pub request_info: bool,
}

pub fn decisions(a: &Application, actor: &Actor) -> Decisions {
    let may = |action: Action| next(a, action, actor.role).is_ok() && check_own_claim(a, action, actor).is_ok();
    Decisions {
        claim: may(Action::Claim),
        approve: approval(a, actor).is_ok(),
        reject: may(Action::Reject),
        request_info: may(Action::RequestInfo),
    }
}

pub async fn approve(
    app: &App,
    actor: &Actor,
    id: &str,
    comment: &str,
    replay: Replay<'_, StaffApplication>,
) -> Result<Outcome<StaffApplication>, ReviewError> {
    let mut errors = Vec::new();
    check_comment(comment, &mut errors);
    if !errors.is_empty() {
        return Err(ReviewError::Fields(errors));
    }
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let a = load(tx, id).await?;
    let (action, to) = approval(&a, actor)?;
    let mark =
        if action == Action::SecondApprove { Mark::SecondApproval(&actor.id) } else { Mark::FirstApproval(&actor.id) };
    if !applications::transition_by(tx, id, a.status, to, mark, now).await? {
        // Someone moved it first, or (second approval) it is one's own first approval.
        let again = load(tx, id).await?;
        return Err(if again.status == a.status {
            ReviewError::SameApprover
        } else {
            ReviewError::InvalidState(again.status)
        });
    }
    let approved = to == Status::Approved;
    record(&app.vault, tx, &a, to, actor, Said::words(comment), serde_json::json!({"comment": comment}), now).await?;
    let application_id = a.id.clone();
    let notice = if approved {
        let card_last4 = crate::payouts::last4(&a.bank_card_masked);
        Notice::ApplicationApproved { application_id, net: a.net_refund, card_last4 }
    } else {
        Notice::AwaitingSecondApproval { application_id }
    };
    notices::tell(tx, &a.merchant_id, &notice, now).await?;
    if approved {
        reserve_and_enqueue(tx, &a, now).await?;
    }
    let updated = load(tx, id).await?;
    let out = staff_view(tx, updated, Timestamp::from_millis(now)).await?;
    Ok(work.finish(out).await?)
}

/// The money side of a staff approval, days perhaps after the merchant applied: the facts
/// that may have changed since are judged again as of now (windows and targets stay judged as
/// of submission: approving late does not refuse a timely request), then the money is
/// reserved ([`reserve_judged`]) with the items owed deducted and closed.
async fn reserve_and_enqueue(tx: &mut Tx, a: &Application, now: i64) -> Result<(), ReviewError> {
    let merchant = merchants::by_id(tx, &a.merchant_id).await?.ok_or(ReviewError::NotFound)?;
    if merchant.risk_frozen {
        return Err(ReviewError::FiguresChanged { what: "risk_frozen" });
    }
    let terminal = terminals::by_id(tx, &a.terminal_id).await?.ok_or(ReviewError::NotFound)?;
    let wants_device = matches!(terminal.plan.rule, RefundRule::Termination { device_return_required: true, .. });
    if wants_device && terminal.device_returned_at.is_none() {
        return Err(ReviewError::DeviceNotReceived);
    }
    let owed = outstanding::open_for_terminal(tx, &a.merchant_id, &a.terminal_id).await?;
    let owed_total =
        Fen::sum(owed.iter().map(|i| i.amount_fen)).map_err(|_| ReviewError::FiguresChanged { what: "outstanding" })?;
    if owed_total != a.deducted {
        // Settled or newly owed since submission: the merchant must apply again.
        return Err(ReviewError::FiguresChanged { what: "outstanding" });
    }
    let deductions: Vec<(String, Fen)> = owed.iter().map(|i| (i.id.clone(), i.amount_fen)).collect();
    for (item_id, _) in &deductions {
        // Being collected, or settled, since we read it: the merchant must apply again.
        if !outstanding::deduct(tx, item_id, &a.id, now).await? {
            return Err(ReviewError::FiguresChanged { what: "outstanding" });
        }
    }
    reserve_judged(tx, &[(a, deductions)], now).await
}

/// Reserves the money of approvals whose facts are judged, each with what it deducts: pending
/// transfers (net to refunds in flight, fee to revenue, each deduction to the receivable) all
/// at once (`ledger::create_many`), and a payout queued for each (`jobs::enqueue_many`). The
/// last thing an approval writes: refunds in flight is one row that every approval and payout
/// updates and holds until it commits, so on PostgreSQL approvals go one commit at a time from
/// the moment each takes it, and whatever is written after it lengthens the wait of all the
/// others (docs/benchmarks.md, session 27). A batch takes it once for all of its approvals.
async fn reserve_judged(
    tx: &mut Tx,
    judged: &[(&Application, Vec<(String, Fen)>)],
    now: i64,
) -> Result<(), ReviewError> {
    let keys: Vec<(String, String)> = judged
        .iter()
        .map(|(a, _)| (crate::payouts::job_key(&a.id, 1), serde_json::json!({"application_id": a.id}).to_string()))
        .collect();
    let payouts: Vec<jobs::NewJob> = keys
        .iter()
        .map(|(dedupe_key, payload)| jobs::NewJob { kind: "payout", dedupe_key, payload, run_at: now })
        .collect();
    jobs::enqueue_many(tx, &payouts, now).await?;
    let mut transfers = Vec::new();
    for (a, deductions) in judged {
        transfers.extend(postings::approve_refund(
            &a.id,
            &a.terminal_id,
            &a.merchant_id,
            a.net_refund,
            a.fee,
            deductions,
        ));
    }
    // Each application's transfers debit its own deposit, so a deposit's limit checked on
    // their sum is checked on each.
    ledger::create_many(tx, &transfers, now).await?;
    Ok(())
}

/// An application the system approved whose money is not reserved yet: [`reserve`] it in the
/// same transaction before it commits (an approval without its reservation would pay money
/// the ledger never set aside).
#[must_use = "an approval's money is reserved in its transaction (review::reserve)"]
#[derive(Debug)]
pub struct Unreserved(Application);

/// Reserves the money of approvals the system made in this transaction, all at once, as the
/// last thing the transaction writes (see [`reserve_judged`]). Nothing is judged again: the
/// system approved each on facts this transaction read, with nothing owed (on SQLite no other
/// writer can have changed them since; on PostgreSQL a change committed meanwhile is ordered
/// after this transaction, as one committed a moment after its last read would be).
pub async fn reserve(tx: &mut Tx, approved: Vec<Unreserved>, now: i64) -> Result<(), ReviewError> {
    if approved.iter().any(|u| u.0.deducted != Fen::ZERO) {
        // The system approves only what deducts nothing (`Assessment::auto_approvable`).
        return Err(ReviewError::FiguresChanged { what: "outstanding" });
    }
    let judged: Vec<(&Application, Vec<(String, Fen)>)> = approved.iter().map(|u| (&u.0, Vec::new())).collect();
    reserve_judged(tx, &judged, now).await
}

/// The system's approval of an application being submitted that meets its plan's activation
/// rule with nothing owed: the step and the notice the submit writes with the application
/// (`applications::insert_submitted`, which writes it approved at once), then
/// [`AutomaticApproval::written`], which audits it and hands over its money to reserve.
pub struct AutomaticApproval {
    to: Status,
    actor: Actor,
    detail: serde_json::Value,
    detail_text: String,
    note: Note,
    notice: Notice,
}

impl AutomaticApproval {
    /// The approval of application `id`, being submitted for `net` on `terminal` (the one it
    /// was judged on).
    pub fn of(id: &str, terminal: &terminals::Terminal, net: Fen) -> Result<Self, ReviewError> {
        let to = transition(Status::Submitted, Action::AutoApprove, Role::System)
            .map_err(|_| ReviewError::InvalidState(Status::Submitted))?;
        let detail = serde_json::json!({"rule": "activation", "plan": terminal.plan.code, "plan_version": terminal.plan.version});
        Ok(AutomaticApproval {
            to,
            actor: Actor::system(),
            detail_text: detail.to_string(),
            detail,
            note: Note::AutoApproved,
            notice: Notice::ApplicationAutoApproved { application_id: id.to_owned(), sn: terminal.sn.clone(), net },
        })
    }

    /// The approval's step on the timeline of `id`, which its first step left submitted.
    pub fn step<'a>(&'a self, id: &'a str) -> NewEvent<'a> {
        NewEvent {
            application_id: id,
            from: Some(Status::Submitted),
            to: self.to,
            actor_role: self.actor.role,
            actor_id: &self.actor.id,
            note: "",
            system_note: Some(&self.note),
            detail: &self.detail_text,
        }
    }

    /// What the merchant is told of it.
    pub fn notice(&self) -> &Notice {
        &self.notice
    }

    /// The application as written with the approval's step: audited as the transaction
    /// commits, and its money to reserve before then ([`reserve`]).
    pub fn written(
        &self,
        vault: &Vault,
        tx: &mut Tx,
        approved: Application,
        now: i64,
    ) -> Result<Unreserved, ReviewError> {
        if approved.status != self.to {
            return Err(ReviewError::InvalidState(approved.status));
        }
        audit_step(vault, tx, &approved, self.to, &self.actor, self.detail.clone(), now);
        Ok(Unreserved(approved))
    }
}

pub async fn reject(
    app: &App,
    actor: &Actor,
    id: &str,
    reason_code: &str,
    comment: &str,
    replay: Replay<'_, StaffApplication>,
) -> Result<Outcome<StaffApplication>, ReviewError> {
    let reason = rejection::find(reason_code).ok_or(ReviewError::UnknownReasonCode)?;
    let mut errors = Vec::new();
    check_comment(comment, &mut errors);
    if reason.code == rejection::OTHER && comment.trim().is_empty() {
        // "Another reason" says nothing by itself: the merchant must be told which.
        errors.push(FieldError::new(
            "comment",
            "required",
            "选择“其他原因”时，请写明具体原因",
            "with “another reason”, say which",
        ));
    }
    if !errors.is_empty() {
        return Err(ReviewError::Fields(errors));
    }
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let a = load(tx, id).await?;
    let to = next(&a, Action::Reject, actor.role)?;
    check_own_claim(&a, Action::Reject, actor)?;
    if !applications::transition_by(tx, id, a.status, to, Mark::Rejected(reason.code), now).await? {
        return Err(ReviewError::InvalidState(a.status));
    }
    let detail = serde_json::json!({"reason_code": reason.code, "comment": comment});
    let said = Said { words: comment.trim(), note: Some(Note::Rejected { reason_code: reason.code.to_owned() }) };
    record(&app.vault, tx, &a, to, actor, said, detail, now).await?;
    let notice = Notice::ApplicationRejected {
        application_id: a.id.clone(),
        reason_code: reason.code.to_owned(),
        comment: comment.trim().to_owned(),
    };
    notices::tell(tx, &a.merchant_id, &notice, now).await?;
    let updated = load(tx, id).await?;
    let out = staff_view(tx, updated, Timestamp::from_millis(now)).await?;
    Ok(work.finish(out).await?)
}

pub async fn request_info(
    app: &App,
    actor: &Actor,
    id: &str,
    items: &[String],
    comment: &str,
    replay: Replay<'_, StaffApplication>,
) -> Result<Outcome<StaffApplication>, ReviewError> {
    let mut errors = Vec::new();
    if items.is_empty() || items.len() > INFO_ITEMS_MAX {
        errors.push(FieldError::new(
            "items",
            "invalid_length",
            "请列出 1–10 项需商户补充的材料",
            "1–10 items the merchant should provide",
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let n = item.trim().chars().count();
        if n == 0 || n > 200 {
            errors.push(FieldError::new(format!("items[{i}]"), "invalid_length", "1–200 个字符", "1–200 characters"));
        }
        errors.extend(printable(&format!("items[{i}]"), item, Lines::One));
    }
    check_comment(comment, &mut errors);
    if !errors.is_empty() {
        return Err(ReviewError::Fields(errors));
    }
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let a = load(tx, id).await?;
    let to = next(&a, Action::RequestInfo, actor.role)?;
    check_own_claim(&a, Action::RequestInfo, actor)?;
    if !applications::transition_by(tx, id, a.status, to, Mark::None, now).await? {
        return Err(ReviewError::InvalidState(a.status));
    }
    let items: Vec<String> = items.iter().map(|i| i.trim().to_owned()).collect();
    let said = Said { words: comment.trim(), note: Some(Note::InfoRequested { items: items.clone() }) };
    record(&app.vault, tx, &a, to, actor, said, serde_json::json!({"items": items, "comment": comment}), now).await?;
    let notice = Notice::InfoRequested { application_id: a.id.clone(), items, comment: comment.trim().to_owned() };
    notices::tell(tx, &a.merchant_id, &notice, now).await?;
    let updated = load(tx, id).await?;
    let out = staff_view(tx, updated, Timestamp::from_millis(now)).await?;
    Ok(work.finish(out).await?)
}

pub const DEVICE_CONDITIONS: [&str; 3] = ["ok", "damaged", "missing_parts"];

/// A returned device, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceReceipt {
    pub sn: String,
    pub waybill_no: String,
    pub condition: String,
    pub received_at: Timestamp,
}

/// A reviewer records a returned device (waybill, condition): a termination refund whose plan
/// wants the device back can be approved only after this.
pub async fn device_received(
    app: &App,
    actor: &Actor,
    sn: &str,
    waybill_no: &str,
    condition: &str,
    note: &str,
    replay: Replay<'_, DeviceReceipt>,
) -> Result<Outcome<DeviceReceipt>, ReviewError> {
    let mut errors = Vec::new();
    let waybill = waybill_no.trim();
    if waybill.is_empty() || waybill.chars().count() > 40 {
        errors.push(FieldError::new("waybill_no", "invalid_length", "运单号为 1–40 个字符", "1–40 characters"));
    }
    errors.extend(printable("waybill_no", waybill, Lines::One));
    if !DEVICE_CONDITIONS.contains(&condition) {
        errors.push(FieldError::new(
            "condition",
            "invalid_value",
            "须为 ok、damaged 或 missing_parts",
            "ok, damaged or missing_parts",
        ));
    }
    check_comment(note, &mut errors);
    if !errors.is_empty() {
        return Err(ReviewError::Fields(errors));
    }
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let sn = yajin_core::ids::TerminalSn::parse(sn).map_err(|_| ReviewError::NotFound)?;
    let terminal = terminals::by_sn_any(tx, sn.as_str()).await?.ok_or(ReviewError::NotFound)?;
    if !terminals::record_device_received(tx, &terminal.id, waybill, condition, now).await? {
        return Err(ReviewError::DeviceAlreadyReceived);
    }
    let detail = serde_json::json!({"waybill_no": waybill, "condition": condition, "note": note});
    actor.audit(&app.vault, tx, "device_received", "terminal", &terminal.id, detail, now);
    let receipt = DeviceReceipt {
        sn: terminal.sn,
        waybill_no: waybill.to_owned(),
        condition: condition.to_owned(),
        received_at: Timestamp::from_millis(now),
    };
    Ok(work.finish(receipt).await?)
}
