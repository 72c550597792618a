//! The merchant's side of a refund application: preview, submit, cancel, supplement.
//! Submitting moves no money: it records the application, its first timeline event and a
//! notification, in the caller's transaction (which also holds the idempotency key).

use yajin_core::application::{sources_of, transition, Action, Role, Status};
use yajin_core::eligibility::Reason;
use yajin_core::ids::{BankCardNo, IdCardNo, PhoneNo, TerminalSn};
use yajin_core::notice::{Note, Notice};
use yajin_core::validation::{printable, FieldError, FieldErrors, Lines};
use yajin_core::Timestamp;

use yajin_store::records::applications::{self, Application, Event, NewApplication, NewEvent, Submission};
use yajin_store::records::devices::{MerchantFacts, TerminalFacts};
use yajin_store::records::idempotency::{self as keys, Answer, Claim, KeyClaim};
use yajin_store::records::merchants::Applicant;
use yajin_store::records::{attachments, devices, identity_misses, merchants, terminals};
use yajin_store::{Conn, StoreError, Tx};

pub use crate::application_detail::{load_detail, load_details, ApplicationDetail};
use crate::application_detail::{load_new_detail, NewlyWritten};
use crate::assessment::{assess_facts, assess_terminals, TerminalAssessment};
use crate::idempotency::{begin_work, Answering, Outcome, Replay};
use crate::paging::{Page, PageRequest};
use crate::review::AutomaticApproval;
use crate::{notices, App, AppError};

/// Why a merchant applies.
pub const REASONS: [&str; 5] = ["stop_using", "target_reached", "device_faulty", "changed_provider", "other"];
pub const NOTE_MAX_CHARS: usize = 500;
pub const ATTACHMENTS_MAX: usize = 10;

#[derive(Clone, Debug, Default)]
pub struct ApplyInput {
    pub terminal_sn: String,
    pub phone: String,
    pub id_card_no: String,
    pub bank_card_no: String,
    pub reason: String,
    pub note: String,
    pub attachment_ids: Vec<String>,
    pub deduct_outstanding: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("invalid fields")]
    Fields(Vec<FieldError>),
    #[error("terminal not found")]
    TerminalNotFound,
    #[error("identity does not match")]
    IdentityMismatch(Vec<FieldError>),
    #[error("bank card is not the bound card")]
    BankCardMismatch,
    /// Five well-formed mismatches in 24 hours: identity checks wait for an SMS code.
    #[error("identity checks are locked")]
    IdentityChecksLocked,
    /// The rules refuse it: every reason, with the assessment's figures.
    #[error("not eligible")]
    NotEligible(Box<TerminalAssessment>),
    /// The terminal has an open application (409), named when known: a race lost on the
    /// database's unique index is reported without it, and the caller looks it up after
    /// rolling back.
    #[error("an application is already open")]
    AlreadyOpen { application_id: Option<String>, terminal_id: String },
    #[error("not possible in state {0:?}")]
    InvalidState(Status),
    #[error("application not found")]
    NotFound,
    #[error("amounts out of range")]
    AmountOutOfRange,
    /// The same `Idempotency-Key` came with another request body.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// A receipt exists only once the refund is paid.
    #[error("not refunded yet ({0:?})")]
    NotRefunded(Status),
    #[error("unexpected: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AppError> for ApplyError {
    fn from(e: AppError) -> ApplyError {
        match e {
            AppError::Fields(errors) => ApplyError::Fields(errors),
            AppError::NotFound(_) => ApplyError::NotFound,
            AppError::AmountOutOfRange => ApplyError::AmountOutOfRange,
            AppError::IdempotencyKeyReused => ApplyError::IdempotencyKeyReused,
            AppError::Store(e) => ApplyError::Store(e),
            other => ApplyError::Unexpected(other.to_string()),
        }
    }
}

/// What a merchant sees before submitting: the verdict, the fee and deductions, the net, and
/// warnings that do not block (a card number that fails Luhn).
#[derive(Clone, Debug)]
pub struct Preview {
    pub assessment: TerminalAssessment,
    pub warnings: Vec<FieldError>,
}

struct Checked {
    sn: TerminalSn,
    bank_card: BankCardNo,
    warnings: Vec<FieldError>,
}

/// Field checks, all at once.
fn check_fields(input: &ApplyInput) -> Result<Checked, ApplyError> {
    let mut errors = FieldErrors::new();
    let sn = errors.check("terminal_sn", TerminalSn::parse(&input.terminal_sn));
    errors.check("phone", PhoneNo::parse(&input.phone));
    errors.check("id_card_no", IdCardNo::parse(&input.id_card_no));
    let bank_card = errors.check("bank_card_no", BankCardNo::parse(&input.bank_card_no));
    if !REASONS.contains(&input.reason.as_str()) {
        errors.push(FieldError::new(
            "reason",
            "invalid_value",
            format!("须为以下之一：{}", REASONS.join("、")),
            format!("one of {}", REASONS.join(", ")),
        ));
    }
    if input.note.chars().count() > NOTE_MAX_CHARS {
        errors.push(FieldError::new("note", "too_long", "至多 500 个字符", "at most 500 characters"));
    }
    errors.extend(printable("note", &input.note, Lines::Many));
    if input.attachment_ids.len() > ATTACHMENTS_MAX {
        errors.push(FieldError::new("attachment_ids", "too_many", "至多 10 个附件", "at most 10 attachments"));
    }
    errors.into_result().map_err(ApplyError::Fields)?;
    let (Some(sn), Some(bank_card)) = (sn, bank_card) else { unreachable!("every None pushed a field error") };
    let warnings = if bank_card.luhn_ok() {
        Vec::new()
    } else {
        vec![FieldError::new(
            "bank_card_no",
            "luhn_failed",
            "卡号未通过 Luhn 校验；如确为您绑定的结算卡，仍可提交",
            "the card number fails the Luhn check; accepted if it is your bound card",
        )]
    };
    Ok(Checked { sn, bank_card, warnings })
}

/// What checking an application found: its fields, its terminal assessed, and who applies.
struct Evaluated {
    checked: Checked,
    assessed: TerminalAssessment,
    /// The agent who sold the merchant its terminals, named on the application.
    agent_name: Option<String>,
}

/// Everything short of writing: fields, ownership, identity, card, rules. Two statements (the
/// files; the terminal with its facts and the merchant's identity), none for files when none
/// are named.
async fn evaluate(conn: &mut Conn, app: &App, merchant_id: &str, input: &ApplyInput) -> Result<Evaluated, ApplyError> {
    let checked = check_fields(input)?;
    let not_owned = attachments::not_owned(conn, merchant_id, &input.attachment_ids).await?;
    if !not_owned.is_empty() {
        let errors = input
            .attachment_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| not_owned.contains(id))
            .map(|(i, _)| {
                FieldError::new(
                    format!("attachment_ids[{i}]"),
                    "not_found",
                    "没有这个附件，或不是您上传的",
                    "no such attachment of yours",
                )
            })
            .collect();
        return Err(ApplyError::Fields(errors));
    }
    let now = app.clock.now();
    let read =
        devices::for_application(conn, merchant_id, checked.sn.as_str(), misses_counted_since(now.millis())).await?;
    judge(app, input, checked, read, now)
}

/// What an application reads: its terminal with the facts, the merchant's facts, and the
/// applicant (None: the merchant has no terminal with that SN).
type ApplicationRead = Option<(TerminalFacts, MerchantFacts, Applicant)>;

/// Judges an application on what was read for it: the terminal, identity, card, rules.
fn judge(
    app: &App,
    input: &ApplyInput,
    checked: Checked,
    read: ApplicationRead,
    now: Timestamp,
) -> Result<Evaluated, ApplyError> {
    let Some((facts, merchant, applicant)) = read else { return Err(ApplyError::TerminalNotFound) };
    // Read first, judged last: the identity is checked before the rules are.
    let assessed = assess_facts(vec![facts], &merchant, input.deduct_outstanding, now);
    if locks_identity(applicant.misses) {
        return Err(ApplyError::IdentityChecksLocked);
    }
    let id_card = IdCardNo::parse(&input.id_card_no)
        .map_err(|e| ApplyError::Fields(vec![FieldError::from_id("id_card_no", e)]))?;
    let identity = applicant.identity.matches(&app.vault, &id_card, &checked.bank_card);
    let mut mismatched = Vec::new();
    if PhoneNo::parse(&input.phone).map(|p| p.expose().to_owned()).ok().as_deref() != Some(applicant.phone.as_str()) {
        mismatched.push(FieldError::new(
            "phone",
            "mismatch",
            "不是该商户绑定的手机号",
            "not the phone bound to this merchant",
        ));
    }
    if !identity.id_card {
        mismatched.push(FieldError::new(
            "id_card_no",
            "mismatch",
            "与商户实名登记的身份证号不一致",
            "not the ID card of the merchant's real-name record",
        ));
    }
    if !mismatched.is_empty() {
        return Err(ApplyError::IdentityMismatch(mismatched));
    }
    if !identity.bank_card {
        return Err(ApplyError::BankCardMismatch);
    }
    let assessed = assessed?.pop().ok_or(ApplyError::TerminalNotFound)?;
    Ok(Evaluated { checked, assessed, agent_name: applicant.agent_name })
}

/// An evaluated application the rules let through; refused if its terminal has an open
/// application or the rules say no.
fn admit(evaluated: Evaluated) -> Result<Evaluated, ApplyError> {
    let assessed = &evaluated.assessed;
    if let Some(Reason::ApplicationAlreadyOpen { application_id }) = assessed.assessment.reasons.first() {
        return Err(ApplyError::AlreadyOpen {
            application_id: Some(application_id.clone()),
            terminal_id: assessed.terminal.id.clone(),
        });
    }
    if !assessed.assessment.eligible() {
        return Err(ApplyError::NotEligible(Box::new(evaluated.assessed)));
    }
    Ok(evaluated)
}

pub async fn preview(app: &App, merchant_id: &str, input: &ApplyInput) -> Result<Preview, ApplyError> {
    let evaluated = {
        let mut conn = app.db.pool().acquire().await.map_err(StoreError::from)?;
        evaluate(&mut conn, app, merchant_id, input).await
    };
    let Evaluated { checked, assessed, .. } = count_miss(app, merchant_id, evaluated).await?;
    Ok(Preview { assessment: assessed, warnings: checked.warnings })
}

/// How many well-formed ID or card numbers that do not match may be tried in a day.
pub const IDENTITY_MISSES_MAX: i64 = 5;
const IDENTITY_MISS_WINDOW_MS: i64 = 86_400_000;

/// When the window of mismatches that count at `now_ms` began.
fn misses_counted_since(now_ms: i64) -> i64 {
    now_ms - IDENTITY_MISS_WINDOW_MS
}

/// Whether this many mismatches within the window lock the identity checks.
fn locks_identity(misses: i64) -> bool {
    misses >= IDENTITY_MISSES_MAX
}

/// Whether the merchant's identity checks are locked now.
pub async fn identity_locked(conn: &mut Conn, merchant_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    Ok(locks_identity(identity_misses::count_since(conn, merchant_id, misses_counted_since(now_ms)).await?))
}

/// Records a mismatch of identity (in its own transaction: the refusal itself writes nothing).
async fn count_miss<T>(app: &App, merchant_id: &str, result: Result<T, ApplyError>) -> Result<T, ApplyError> {
    if let Err(ApplyError::IdentityMismatch(_) | ApplyError::BankCardMismatch) = &result {
        let mut tx = app.db.begin_write().await?;
        identity_misses::record(&mut tx, merchant_id, app.now_ms()).await?;
        tx.commit().await?;
    }
    result
}

/// Unlocks the merchant's identity checks with a code sent to their bound phone.
pub async fn unlock_identity_checks(app: &App, merchant_id: &str, code: &str) -> Result<(), crate::auth::AuthError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let merchant = merchants::by_id(&mut tx, merchant_id).await?.ok_or(crate::auth::AuthError::InvalidCode)?;
    if let Err(refused) =
        crate::auth::spend_code(app, &mut tx, &merchant.phone, crate::auth::PURPOSE_UNLOCK_IDENTITY, code, now).await
    {
        return Err(crate::auth::attempt_counted(tx, refused).await);
    }
    identity_misses::clear(&mut tx, merchant_id).await?;
    tx.commit().await?;
    Ok(())
}

/// A file of materials sent with an application form (a browser's one-step form).
#[derive(Clone, Debug)]
pub struct Upload {
    pub kind: String,
    pub content: Vec<u8>,
}

/// A form's first step: the materials sent with it are stored (their ids added to `input`),
/// then the application is checked as it would be submitted. The files stay the merchant's
/// whether or not the check passes, so a corrected form need not send them again.
pub async fn prepare(
    app: &App,
    merchant_id: &str,
    uploads: &[Upload],
    input: &mut ApplyInput,
) -> Result<Preview, ApplyError> {
    store_uploads(app, merchant_id, uploads, &mut input.attachment_ids).await?;
    preview(app, merchant_id, input).await
}

/// Stores the files of a form, adding their ids to `ids`.
async fn store_uploads(
    app: &App,
    merchant_id: &str,
    uploads: &[Upload],
    ids: &mut Vec<String>,
) -> Result<(), ApplyError> {
    if ids.len() + uploads.len() > ATTACHMENTS_MAX {
        let error = FieldError::new("attachment_ids", "too_many", "至多 10 个附件", "at most 10 attachments");
        return Err(ApplyError::Fields(vec![error]));
    }
    for upload in uploads {
        let stored = crate::attachments::upload(
            app,
            merchant_id,
            Some(&upload.kind),
            Some(&upload.content),
            crate::idempotency::Replay::none(),
        )
        .await
        .map_err(|e| ApplyError::Fields(vec![e.as_field_error("files")]))?;
        if let Some(saved) = stored.done() {
            ids.push(saved.id);
        }
    }
    Ok(())
}

/// A supplement from a browser's one-step form: the files stored, then sent with the note.
pub async fn supplement_with_uploads(
    app: &App,
    merchant_id: &str,
    id: &str,
    note: &str,
    uploads: &[Upload],
    replay: Replay<'_, ApplicationDetail>,
) -> Result<Outcome<ApplicationDetail>, ApplyError> {
    let mut ids = Vec::new();
    store_uploads(app, merchant_id, uploads, &mut ids).await?;
    supplement(app, merchant_id, id, note, &ids, replay).await
}

/// An application just written, and what its writer knows of it.
struct Submitted {
    created: Created,
    terminal_sn: String,
    agent_name: Option<String>,
}

/// Submits in the caller's transaction; stores the answer with the application when it can
/// (no files to list, no automatic approval to move it on).
async fn submit_in(
    tx: &mut Tx,
    answering: &Answering<'_, '_, ApplicationDetail>,
    app: &App,
    merchant_id: &str,
    input: &ApplyInput,
) -> Result<Submitted, ApplyError> {
    let Evaluated { checked, assessed, agent_name } = admit(evaluate(tx, app, merchant_id, input).await?)?;
    let actor = crate::Actor { role: Role::Merchant, id: merchant_id.to_owned() };
    let request = Request::of_merchant(input);
    let answer = |application: &Application, timeline: &[Event]| {
        // With files, the answer lists them as linked after the insert.
        if !input.attachment_ids.is_empty() {
            return None;
        }
        let detail = ApplicationDetail::written(
            application.clone(),
            timeline.to_vec(),
            assessed.terminal.sn.clone(),
            agent_name.clone(),
        );
        answering.answer(&detail)
    };
    let created = create(tx, app, &actor, &assessed, &checked.bank_card, &request, answer).await?;
    attachments::link(tx, &created.application.id, &input.attachment_ids).await?;
    Ok(Submitted { created, terminal_sn: assessed.terminal.sn, agent_name })
}

struct Request<'a> {
    reason: &'a str,
    /// The merchant's own words.
    note: &'a str,
    /// What the system says when it applies on the merchant's behalf.
    system_note: Option<Note>,
    deduct_outstanding: bool,
}

impl Request<'_> {
    /// What a merchant's form asks for.
    fn of_merchant(input: &ApplyInput) -> Request<'_> {
        Request {
            reason: &input.reason,
            note: input.note.trim(),
            system_note: None,
            deduct_outstanding: input.deduct_outstanding,
        }
    }
}

/// What [`create`] wrote: the row as it stands and its timeline, as written (the answer needs
/// no read), and, when the system approved it at once, its money, which the transaction
/// reserves last ([`crate::review::reserve`]).
struct Created {
    application: Application,
    timeline: Vec<Event>,
    unreserved: Option<crate::review::Unreserved>,
}

/// A submit's error for the system's approval failing: a store error as such, anything else
/// (a rule the submit had just judged) unexpected.
fn automatic_approval_failed(e: crate::review::ReviewError) -> ApplyError {
    match e {
        crate::review::ReviewError::Store(e) => ApplyError::Store(e),
        other => ApplyError::Unexpected(format!("automatic approval: {other}")),
    }
}

/// The system's approval of application `id`, written with it, when the rules allow it.
fn automatic_approval(id: &str, assessed: &TerminalAssessment) -> Result<Option<AutomaticApproval>, ApplyError> {
    let a = &assessed.assessment;
    if !a.auto_approvable {
        return Ok(None);
    }
    AutomaticApproval::of(id, &assessed.terminal, a.net_refund_fen).map(Some).map_err(automatic_approval_failed)
}

/// Queues the texts of the notifications just written with an application (`ids`, a
/// notice's each, in order).
async fn queue_texts(tx: &mut Tx, s: &Submission<'_>, ids: &[String], now: i64) -> Result<(), StoreError> {
    let notices = std::iter::once(s.notice).chain(s.then.map(|(_, notice)| notice));
    for (notice, id) in notices.zip(ids) {
        notices::queue_text(tx, notice, id, now).await?;
    }
    Ok(())
}

/// Reserves the money of the approvals the system made in this transaction (the last thing
/// the transaction writes: see `review::reserve`).
async fn reserve(tx: &mut Tx, approved: Vec<crate::review::Unreserved>, now: i64) -> Result<(), ApplyError> {
    if approved.is_empty() {
        return Ok(());
    }
    crate::review::reserve(tx, approved, now).await.map_err(automatic_approval_failed)
}

/// The row of an eligible application, as its rules figured it.
fn new_application<'a>(
    assessed: &'a TerminalAssessment,
    bank_card: &'a BankCardNo,
    request: &'a Request<'_>,
) -> NewApplication<'a> {
    let a = &assessed.assessment;
    NewApplication {
        merchant_id: &assessed.terminal.merchant_id,
        terminal_id: &assessed.terminal.id,
        reason: request.reason,
        note: request.note,
        amount: a.refundable_fen,
        fee: a.fee_fen,
        deducted: a.deducted_fen,
        net_refund: a.net_refund_fen,
        deduct_outstanding: request.deduct_outstanding && a.deducted_fen.is_positive(),
        bank_card,
        four_eyes_required: a.refundable_fen >= assessed.terminal.plan.four_eyes_threshold_fen,
    }
}

/// What an application's first timeline event records of its figures.
fn first_event_detail(assessed: &TerminalAssessment) -> String {
    let a = &assessed.assessment;
    serde_json::json!({"amount_fen": a.refundable_fen, "fee_fen": a.fee_fen, "deducted_fen": a.deducted_fen,
        "net_refund_fen": a.net_refund_fen, "deductions": a.deductions})
    .to_string()
}

/// An application's first timeline event: submitted, by `actor`, in the request's words.
fn first_event<'a>(id: &'a str, actor: &'a crate::Actor, request: &'a Request<'_>, detail: &'a str) -> NewEvent<'a> {
    NewEvent {
        application_id: id,
        from: None,
        to: Status::Submitted,
        actor_role: actor.role,
        actor_id: &actor.id,
        note: request.note,
        system_note: request.system_note.as_ref(),
        detail,
    }
}

/// What the merchant is told of an application submitted.
fn submitted_notice(id: &str, assessed: &TerminalAssessment) -> Notice {
    let a = &assessed.assessment;
    Notice::ApplicationSubmitted {
        application_id: id.to_owned(),
        sn: assessed.terminal.sn.clone(),
        amount: a.refundable_fen,
        fee: a.fee_fen,
        deducted: a.deducted_fen,
        net: a.net_refund_fen,
    }
}

/// Writes an eligible application: the row, the first timeline event, the notification, the
/// system's approval with its own step and notification when the rules allow it, and the
/// answer `answer` renders from the row and timeline as written (if it gives one).
async fn create(
    tx: &mut Tx,
    app: &App,
    actor: &crate::Actor,
    assessed: &TerminalAssessment,
    bank_card: &BankCardNo,
    request: &Request<'_>,
    answer: impl FnOnce(&Application, &[Event]) -> Option<Answer>,
) -> Result<Created, ApplyError> {
    let new = new_application(assessed, bank_card, request);
    let now = app.now_ms();
    let id = applications::new_application_id();
    let detail = first_event_detail(assessed);
    let event = first_event(&id, actor, request, &detail);
    let notice = submitted_notice(&id, assessed);
    let approval = automatic_approval(&id, assessed)?;
    let approval_step = approval.as_ref().map(|a| a.step(&id));
    let then = approval_step.as_ref().zip(approval.as_ref().map(AutomaticApproval::notice));
    let submission = Submission { id: &id, application: &new, first: &event, notice: &notice, then };
    let written =
        applications::insert_submitted(tx, &app.vault, &submission, answer, now).await.map_err(|e| match e {
            // The partial unique index: another open application won a race.
            StoreError::Conflict(_) => {
                ApplyError::AlreadyOpen { application_id: None, terminal_id: assessed.terminal.id.clone() }
            }
            other => ApplyError::Store(other),
        })?;
    queue_texts(tx, &submission, &written.notification_ids, now).await?;
    let unreserved = match approval {
        Some(approval) => Some(
            approval.written(&app.vault, tx, written.application.clone(), now).map_err(automatic_approval_failed)?,
        ),
        None => None,
    };
    Ok(Created { application: written.application, timeline: written.timeline, unreserved })
}

/// After new usage: if the terminal has just met its activation target, tell the merchant
/// (once), and under a plan that says so, apply on their behalf to the bound card.
pub async fn on_usage(tx: &mut Tx, app: &App, terminal_id: &str) -> Result<Option<String>, ApplyError> {
    let Some(terminal) = terminals::by_id(tx, terminal_id).await? else { return Ok(None) };
    let now = app.clock.now();
    let merchant_id = terminal.merchant_id.clone();
    let assessed = assess_terminals(tx, &merchant_id, vec![terminal], false, now)
        .await?
        .pop()
        .ok_or(ApplyError::TerminalNotFound)?;
    let reached = assessed.assessment.volume.as_ref().is_some_and(|v| v.reached_fen >= v.target_fen);
    if !reached || !terminals::mark_target_reached(tx, terminal_id, now.millis()).await? {
        return Ok(None);
    }
    // Told only while it is true: a deposit already refunded, or with an application open,
    // is not "ready to apply for".
    let moot = assessed
        .assessment
        .reasons
        .iter()
        .any(|r| matches!(r, Reason::DepositAlreadyRefunded | Reason::ApplicationAlreadyOpen { .. }));
    if moot {
        return Ok(None);
    }
    let t = &assessed.terminal;
    let applies = t.plan.auto_apply && assessed.assessment.eligible();
    let notice = Notice::TargetReached { sn: t.sn.clone(), deposit: assessed.deposit.collected_fen, applied: applies };
    notices::tell(tx, &merchant_id, &notice, now.millis()).await?;
    if !applies {
        return Ok(None);
    }
    let card = merchants::bank_card_for_payout(tx, &app.vault, &merchant_id).await?;
    let card = BankCardNo::parse(&card).map_err(|e| ApplyError::Unexpected(format!("the bound card on file: {e}")))?;
    let request = Request {
        reason: "target_reached",
        note: "",
        system_note: Some(Note::AppliedForMerchant),
        deduct_outstanding: false,
    };
    let created = create(tx, app, &crate::Actor::system(), &assessed, &card, &request, |_, _| None).await?;
    reserve(tx, created.unreserved.into_iter().collect(), now.millis()).await?;
    Ok(Some(created.application.id))
}

/// Moves the merchant's application by `action`, with its event and notification.
async fn merchant_step(
    app: &App,
    merchant_id: &str,
    id: &str,
    action: Action,
    note: &str,
    attachment_ids: &[String],
    replay: Replay<'_, ApplicationDetail>,
) -> Result<Outcome<ApplicationDetail>, ApplyError> {
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let current = applications::of_merchant(tx, merchant_id, id).await?.ok_or(ApplyError::NotFound)?;
    let to =
        transition(current.status, action, Role::Merchant).map_err(|_| ApplyError::InvalidState(current.status))?;
    let not_owned = attachments::not_owned(tx, merchant_id, attachment_ids).await?;
    if !not_owned.is_empty() {
        let errors = not_owned
            .iter()
            .map(|_| {
                FieldError::new(
                    "attachment_ids",
                    "not_found",
                    "没有这个附件，或不是您上传的",
                    "no such attachment of yours",
                )
            })
            .collect();
        return Err(ApplyError::Fields(errors));
    }
    if !applications::transition(tx, id, &sources_of(action), to, now).await? {
        return Err(ApplyError::InvalidState(current.status));
    }
    if !note.is_empty() {
        applications::append_note(tx, id, note).await?;
    }
    attachments::link(tx, id, attachment_ids).await?;
    let event = NewEvent {
        application_id: id,
        from: Some(current.status),
        to,
        actor_role: Role::Merchant,
        actor_id: merchant_id,
        note,
        system_note: None,
        detail: "{}",
    };
    applications::append_event(tx, &event, now).await?;
    let application_id = id.to_owned();
    let notice = match action {
        Action::Cancel => Notice::ApplicationCancelled { application_id },
        _ => Notice::ApplicationSupplemented { application_id },
    };
    notices::tell(tx, merchant_id, &notice, now).await?;
    let updated = applications::of_merchant(tx, merchant_id, id).await?.ok_or(ApplyError::NotFound)?;
    let detail = load_detail(tx, updated).await?;
    Ok(work.finish(detail).await?)
}

pub async fn cancel(
    app: &App,
    merchant_id: &str,
    id: &str,
    replay: Replay<'_, ApplicationDetail>,
) -> Result<Outcome<ApplicationDetail>, ApplyError> {
    merchant_step(app, merchant_id, id, Action::Cancel, "", &[], replay).await
}

pub async fn supplement(
    app: &App,
    merchant_id: &str,
    id: &str,
    note: &str,
    attachment_ids: &[String],
    replay: Replay<'_, ApplicationDetail>,
) -> Result<Outcome<ApplicationDetail>, ApplyError> {
    let mut errors = Vec::new();
    if note.chars().count() > NOTE_MAX_CHARS {
        errors.push(FieldError::new("note", "too_long", "至多 500 个字符", "at most 500 characters"));
    }
    errors.extend(printable("note", note, Lines::Many));
    if note.trim().is_empty() && attachment_ids.is_empty() {
        errors.push(FieldError::new(
            "note",
            "required",
            "请说明补充的内容，或上传附件",
            "say what you add, or attach files",
        ));
    }
    if attachment_ids.len() > ATTACHMENTS_MAX {
        errors.push(FieldError::new("attachment_ids", "too_many", "至多 10 个附件", "at most 10 attachments"));
    }
    if !errors.is_empty() {
        return Err(ApplyError::Fields(errors));
    }
    merchant_step(app, merchant_id, id, Action::Supplement, note.trim(), attachment_ids, replay).await
}

/// The merchant's applications, newest first.
pub async fn list(app: &App, merchant_id: &str, page: &PageRequest) -> Result<Page<ApplicationDetail>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows = applications::page_of_merchant(&mut conn, merchant_id, page.after.as_deref(), page.fetch()).await?;
    let page = Page::of(rows, page, |a| a.id.clone());
    let items = load_details(&mut conn, page.items).await?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// One of the merchant's applications; another merchant's is not found.
pub async fn detail(app: &App, merchant_id: &str, id: &str) -> Result<ApplicationDetail, ApplyError> {
    let mut conn = app.db.begin_read().await?;
    let a = applications::of_merchant(&mut conn, merchant_id, id).await?.ok_or(ApplyError::NotFound)?;
    Ok(load_detail(&mut conn, a).await?)
}

/// Submits an application in one transaction with its idempotency key (see
/// [`crate::idempotency`]): a refusal rolls back, so a corrected retry with the same key works.
pub async fn submit(
    app: &App,
    merchant_id: &str,
    input: &ApplyInput,
    replay: Replay<'static, ApplicationDetail>,
) -> Result<Outcome<ApplicationDetail>, ApplyError> {
    // On PostgreSQL with others (files aside: they are linked one by one), in a batch of
    // five statements whatever its size.
    if app.db.backend() == yajin_store::Backend::Postgres && input.attachment_ids.is_empty() {
        let submit = Submit { merchant_id: merchant_id.to_owned(), input: input.clone(), replay };
        let for_batches = app.clone();
        let run = move |batch: Vec<Submit>| {
            let app = for_batches.clone();
            async move { submit_many(&app, &batch).await }
        };
        let answer = app.submit_batches.join(submit, run).await;
        return answer.unwrap_or_else(|| Err(ApplyError::Unexpected("the batch of this submit stopped".into())));
    }
    // A dozen statements, each a turn with the writer's connection: run where those turns
    // are cheapest (on SQLite, the writer's own thread).
    let (app, merchant_id, input) = (app.clone(), merchant_id.to_owned(), input.clone());
    let db = app.db.clone();
    db.on_writer(async move { submit_here(&app, &merchant_id, &input, replay).await }).await
}

async fn submit_here(
    app: &App,
    merchant_id: &str,
    input: &ApplyInput,
    replay: Replay<'_, ApplicationDetail>,
) -> Result<Outcome<ApplicationDetail>, ApplyError> {
    let mut work = begin_work!(app, replay);
    let (tx, answering) = work.parts();
    let submitted = match submit_in(tx, &answering, app, merchant_id, input).await {
        Ok(submitted) => submitted,
        Err(e @ (ApplyError::IdentityMismatch(_) | ApplyError::BankCardMismatch)) => {
            drop(work);
            return count_miss(app, merchant_id, Err(e)).await;
        }
        Err(ApplyError::AlreadyOpen { application_id: None, terminal_id }) => {
            // Lost the race on the unique index: name the winner, read after our rollback.
            drop(work);
            let mut conn = app.db.begin_read().await?;
            let open = applications::open_for_terminal(&mut conn, &terminal_id).await?.map(|a| a.id);
            return Err(ApplyError::AlreadyOpen { application_id: open, terminal_id });
        }
        Err(e) => return Err(e),
    };
    let Created { application, timeline, unreserved } = submitted.created;
    let known = NewlyWritten {
        terminal_sn: submitted.terminal_sn,
        agent_name: submitted.agent_name,
        with_files: !input.attachment_ids.is_empty(),
        timeline,
    };
    let detail = load_new_detail(&mut work.tx, application, known).await?;
    reserve(&mut work.tx, unreserved.into_iter().collect(), app.now_ms()).await?;
    Ok(work.finish(detail).await?)
}

/// A merchant's submit, one of a batch ([`submit_many`]).
pub struct Submit {
    pub merchant_id: String,
    pub input: ApplyInput,
    pub replay: Replay<'static, ApplicationDetail>,
}

/// What a submit is answered.
pub type SubmitAnswer = Result<Outcome<ApplicationDetail>, ApplyError>;

/// Submits a batch of applications, each answered as [`submit`] would answer it alone, the
/// batch in one transaction of five statements whatever its size: where each statement's turn
/// costs the database more than its work (PostgreSQL; docs/benchmarks.md, session 19), that
/// is most of a submit's cost. A request that names files, or repeats an earlier one's key or
/// terminal, is submitted alone after the batch, seeing what it wrote. If the batch's
/// transaction fails (a race lost on a terminal's open application, a deadlock, a dropped
/// connection), each of its requests is submitted alone: one cannot sink another.
pub async fn submit_many(app: &App, batch: &[Submit]) -> Vec<SubmitAnswer> {
    let mut keys = std::collections::HashSet::new();
    let mut sns = std::collections::HashSet::new();
    let (together, alone): (Vec<usize>, Vec<usize>) = (0..batch.len()).partition(|&i| {
        let s = &batch[i];
        let first_key = s.replay.key().is_none_or(|k| keys.insert((k.principal.as_str(), k.key.as_str())));
        let sn = TerminalSn::parse(&s.input.terminal_sn).map(|sn| sn.as_str().to_owned());
        let first_sn = sns.insert((s.merchant_id.as_str(), sn.unwrap_or_else(|_| s.input.terminal_sn.clone())));
        first_key && first_sn && s.input.attachment_ids.is_empty()
    });
    let mut answers: Vec<Option<SubmitAnswer>> = batch.iter().map(|_| None).collect();
    let picked: Vec<&Submit> = together.iter().map(|&i| &batch[i]).collect();
    match submit_together(app, &picked).await {
        Ok(done) => together.iter().zip(done).for_each(|(&i, answer)| answers[i] = Some(answer)),
        Err(e) => {
            tracing::info!(error = %e, submits = together.len(), "a batch of submits failed; submitting each alone");
            for &i in &together {
                answers[i] = Some(submit_alone(app, &batch[i]).await);
            }
        }
    }
    for &i in &alone {
        answers[i] = Some(submit_alone(app, &batch[i]).await);
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(ApplyError::Unexpected("a submit went unanswered".into()))))
        .collect()
}

async fn submit_alone(app: &App, s: &Submit) -> SubmitAnswer {
    submit_here(app, &s.merchant_id, &s.input, s.replay.clone()).await
}

/// The batch of [`submit_many`] in one transaction: the keys claimed, the fields checked, the
/// terminals read, each judged, the admitted written, the refused keys given up. An error
/// means nothing was written (the caller submits each alone).
async fn submit_together(app: &App, batch: &[&Submit]) -> Result<Vec<SubmitAnswer>, ApplyError> {
    let now = app.clock.now();
    let now_ms = now.millis();
    let mut answers: Vec<Option<SubmitAnswer>> = batch.iter().map(|_| None).collect();
    let mut tx = app.db.begin_write().await?;
    // The keys first: a request under a key answered before, or used for another request, is
    // answered as such whatever else is wrong with it.
    let keyed: Vec<(usize, &crate::idempotency::Key)> =
        batch.iter().enumerate().filter_map(|(i, s)| s.replay.key().map(|k| (i, k))).collect();
    let claims: Vec<KeyClaim> = keyed.iter().map(|(_, k)| crate::idempotency::key_claim(app, k)).collect();
    let mut claimed = Vec::new();
    for ((i, key), claim) in keyed.iter().zip(keys::claim_many(&mut tx, &claims, now_ms).await?) {
        match claim {
            Claim::New => claimed.push((*i, (key.principal.clone(), key.key.clone()))),
            Claim::Replay { status, body } => answers[*i] = Some(Ok(Outcome::Replayed { status, body })),
            Claim::Mismatch => answers[*i] = Some(Err(ApplyError::IdempotencyKeyReused)),
        }
    }
    let mut checked = Vec::new();
    for (i, s) in batch.iter().enumerate() {
        if answers[i].is_some() {
            continue;
        }
        match check_fields(&s.input) {
            Ok(fields) => checked.push((i, fields)),
            Err(e) => answers[i] = Some(Err(e)),
        }
    }
    let wanted: Vec<(&str, &str)> =
        checked.iter().map(|(i, fields)| (batch[*i].merchant_id.as_str(), fields.sn.as_str())).collect();
    let reads = devices::for_applications(&mut tx, &wanted, misses_counted_since(now_ms)).await?;
    let mut admitted = Vec::new();
    for ((i, fields), read) in checked.into_iter().zip(reads) {
        match judge(app, &batch[i].input, fields, read, now).and_then(admit) {
            Ok(evaluated) => admitted.push((i, evaluated)),
            Err(e) => answers[i] = Some(Err(e)),
        }
    }
    let (written, unreserved) = write_together(&mut tx, app, batch, &admitted, now_ms).await?;
    for (i, detail) in written {
        answers[i] = Some(Ok(Outcome::Done(detail)));
    }
    // A refused request leaves its key unclaimed, so that a corrected retry with it works.
    let refused: Vec<(String, String)> =
        claimed.into_iter().filter(|(i, _)| matches!(answers[*i], Some(Err(_)))).map(|(_, key)| key).collect();
    keys::release_many(&mut tx, &refused).await?;
    // The money of every approval made above at once, last.
    reserve(&mut tx, unreserved, now_ms).await?;
    tx.commit().await?;
    let mut done = Vec::with_capacity(batch.len());
    for (s, answer) in batch.iter().zip(answers) {
        let answer = answer.unwrap_or_else(|| Err(ApplyError::Unexpected("a submit went unanswered".into())));
        done.push(count_miss(app, &s.merchant_id, answer).await);
    }
    Ok(done)
}

/// Writes the batch's admitted applications in one statement with their steps (the system's
/// approval too, for those it approves at once), notifications and answers: each request's
/// index in the batch with its application's detail, and the money of the approvals, for the
/// transaction to reserve last.
async fn write_together(
    tx: &mut Tx,
    app: &App,
    batch: &[&Submit],
    admitted: &[(usize, Evaluated)],
    now_ms: i64,
) -> Result<(Vec<(usize, ApplicationDetail)>, Vec<crate::review::Unreserved>), ApplyError> {
    let actors: Vec<crate::Actor> = admitted
        .iter()
        .map(|(i, _)| crate::Actor { role: Role::Merchant, id: batch[*i].merchant_id.clone() })
        .collect();
    let requests: Vec<Request> = admitted.iter().map(|(i, _)| Request::of_merchant(&batch[*i].input)).collect();
    let ids: Vec<String> = admitted.iter().map(|_| applications::new_application_id()).collect();
    let details: Vec<String> = admitted.iter().map(|(_, e)| first_event_detail(&e.assessed)).collect();
    let rows: Vec<NewApplication> = admitted
        .iter()
        .zip(&requests)
        .map(|((_, e), request)| new_application(&e.assessed, &e.checked.bank_card, request))
        .collect();
    let events: Vec<NewEvent> =
        (0..admitted.len()).map(|k| first_event(&ids[k], &actors[k], &requests[k], &details[k])).collect();
    let notices: Vec<Notice> =
        admitted.iter().zip(&ids).map(|((_, e), id)| submitted_notice(id, &e.assessed)).collect();
    let approvals: Vec<Option<AutomaticApproval>> =
        admitted.iter().zip(&ids).map(|((_, e), id)| automatic_approval(id, &e.assessed)).collect::<Result<_, _>>()?;
    let approval_steps: Vec<Option<NewEvent>> =
        approvals.iter().zip(&ids).map(|(a, id)| a.as_ref().map(|a| a.step(id))).collect();
    let submissions: Vec<Submission> = (0..admitted.len())
        .map(|k| Submission {
            id: &ids[k],
            application: &rows[k],
            first: &events[k],
            notice: &notices[k],
            then: approval_steps[k].as_ref().zip(approvals[k].as_ref().map(AutomaticApproval::notice)),
        })
        .collect();
    let detail_of = |k: usize, application: Application, timeline: Vec<Event>| {
        let (_, e) = &admitted[k];
        ApplicationDetail::written(application, timeline, e.assessed.terminal.sn.clone(), e.agent_name.clone())
    };
    let answer = |k: usize, application: &Application, timeline: &[Event]| {
        batch[admitted[k].0].replay.answer(&detail_of(k, application.clone(), timeline.to_vec()))
    };
    let written = applications::insert_submitted_many(tx, &app.vault, &submissions, answer, now_ms).await?;
    let mut done = Vec::with_capacity(written.len());
    let mut unreserved = Vec::new();
    for ((k, w), approval) in written.into_iter().enumerate().zip(&approvals) {
        queue_texts(tx, &submissions[k], &w.notification_ids, now_ms).await?;
        if let Some(approval) = approval {
            let approved = approval.written(&app.vault, tx, w.application.clone(), now_ms);
            unreserved.push(approved.map_err(automatic_approval_failed)?);
        }
        done.push((admitted[k].0, detail_of(k, w.application, w.timeline)));
    }
    Ok((done, unreserved))
}

/// What a receipt number proves: a refund of this much, paid then, to this (masked) card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptCheck {
    pub receipt_number: String,
    pub net_refund: yajin_core::Fen,
    pub paid_at: Option<yajin_core::Timestamp>,
    pub card_masked: String,
}

/// Checks a receipt number anyone shows (a bank, an agent): found only if it is real.
pub async fn verify_receipt(app: &App, number: &str) -> Result<ReceiptCheck, AppError> {
    let mut conn = app.db.begin_read().await?;
    let a = applications::by_receipt_number(&mut conn, number).await?.ok_or(AppError::NotFound("receipt"))?;
    let paid_at = yajin_store::records::payouts::of_application(&mut conn, &a.id)
        .await?
        .into_iter()
        .find(|p| p.status == "succeeded")
        .and_then(|p| p.paid_at);
    Ok(ReceiptCheck {
        receipt_number: number.to_owned(),
        net_refund: a.net_refund,
        paid_at,
        card_masked: a.bank_card_masked,
    })
}

/// The refund receipt (退款凭证) of a refunded application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub application: Application,
    pub merchant_no: String,
    pub merchant_name: String,
    pub bank_name: String,
    pub terminal_sn: String,
    pub terminal_id: String,
    pub refunded_at: Option<yajin_core::Timestamp>,
    /// The payout that paid it (none when everything was deducted).
    pub payout: Option<yajin_store::records::payouts::Payout>,
}

pub async fn receipt(app: &App, merchant_id: &str, id: &str) -> Result<Receipt, ApplyError> {
    let mut conn = app.db.begin_read().await?;
    let a = applications::of_merchant(&mut conn, merchant_id, id).await?.ok_or(ApplyError::NotFound)?;
    if a.status != Status::Refunded {
        return Err(ApplyError::NotRefunded(a.status));
    }
    let merchant = merchants::by_id(&mut conn, &a.merchant_id).await?.ok_or(ApplyError::NotFound)?;
    let terminal = terminals::by_id(&mut conn, &a.terminal_id).await?.ok_or(ApplyError::NotFound)?;
    let events = applications::events(&mut conn, &a.id).await?;
    let refunded_at = events.iter().rev().find(|e| e.to == Status::Refunded).map(|e| e.at);
    let payout = yajin_store::records::payouts::of_application(&mut conn, &a.id)
        .await?
        .into_iter()
        .find(|p| p.status == "succeeded");
    Ok(Receipt {
        payout,
        application: a,
        merchant_no: merchant.merchant_no,
        merchant_name: merchant.name,
        bank_name: merchant.bank_name,
        terminal_sn: terminal.sn,
        terminal_id: terminal.terminal_id,
        refunded_at,
    })
}
