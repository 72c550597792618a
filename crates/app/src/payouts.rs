//! Paying approved refunds, exactly once (design notes: "exactly-once payouts").
//!
//! An approval writes the pending ledger transfers and a `payout` job in its transaction. The
//! worker takes the job and works in recovery points, never holding a transaction across a
//! bank call:
//!
//! 1. *prepare* (one transaction): the application goes `approved → paying` and gets a
//!    `pending` payout row whose id is the bank's idempotency key (an all-deducted refund
//!    completes here, without the bank);
//! 2. *ask the bank* (no transaction): a `pending` payout is sent (again, harmlessly, after a
//!    crash); a `sent` or `unknown` one is looked up, and sent only if the bank never saw it;
//! 3. *record* (one transaction): `processing` → `sent`, look again soon (recorded by the
//!    worker in the transaction that reschedules the job); no answer →
//!    `unknown`, look again later (never a new payout); `succeeded` → the transfers are posted,
//!    the application is `refunded` with a receipt number; `failed` → `payout_failed` with the
//!    bank's reason, the money stays reserved until finance retries.
//!
//! Callbacks and the worker record outcomes through the same conditional updates, so a
//! duplicate, late or reordered callback changes nothing twice, and two workers (or a worker
//! and a callback) racing on one payout move it once.

use rand::Rng;
use yajin_channels::payout::{BankStatus, ChannelError, PayoutChannel, PayoutOrder};
use yajin_core::application::Status;
use yajin_core::ledger::{postings, Transfer, TransferState};
use yajin_core::notice::{Note, Notice};
use yajin_core::Timestamp;
use yajin_store::records::applications::{self, Application, Mark};

use yajin_store::records::payouts::{self, Answer, Payout};
use yajin_store::records::{jobs, merchants, terminals};
use yajin_store::{ledger, StoreError, Tx};

use crate::idempotency::{begin_work, Outcome, Replay};
use crate::paging::{Page, PageRequest};
use crate::{notices, Actor, App, AppError};

/// The first wait before looking again at a payout the bank is processing.
const POLL_MS: i64 = 1_000;

/// What the bank needs, read while preparing.
struct Prepared {
    payout: Payout,
    order: PayoutOrder,
}

/// What a payout job's run leaves to the worker, which records it with the job's outcome.
pub(crate) struct PayRun {
    /// `None` when the job is over, else when to look again and why.
    pub(crate) next: Option<(i64, String)>,
    /// The payout the bank is now processing, to record as `sent` in the transaction that
    /// reschedules the job ([`record_sent_in`]): one transaction where there were two. A
    /// crash before it commits leaves the payout `pending`, sent again (harmlessly) next time.
    pub(crate) sent: Option<String>,
}

impl PayRun {
    fn next(next: Option<(i64, String)>) -> PayRun {
        PayRun { next, sent: None }
    }
}

/// Runs a payout job.
pub(crate) async fn pay(
    app: &App,
    channel: &dyn PayoutChannel,
    application_id: &str,
    attempts: i64,
) -> Result<PayRun, AppError> {
    let Some(prepared) = prepare(app, channel.name(), application_id).await? else { return Ok(PayRun::next(None)) };
    let Prepared { payout, order } = prepared;
    let answer = match payout.status.as_str() {
        "pending" => channel.pay(&order).await,
        _ => match channel.payout_status(&payout.id).await {
            // The bank never saw it (lost before it arrived): sending it now is the first time.
            Ok(BankStatus::NotFound) => channel.pay(&order).await,
            other => other,
        },
    };
    let later = match answer {
        Ok(BankStatus::Processing) => {
            let poll = POLL_MS.max(crate::backoff::backoff_ms(attempts - 1) / 4);
            return Ok(PayRun { next: Some((poll, "the bank is processing".into())), sent: Some(payout.id) });
        }
        Ok(BankStatus::Succeeded { bank_reference, paid_at_ms }) => {
            succeeded(app, &payout.id, &bank_reference, paid_at_ms).await?;
            None
        }
        Ok(BankStatus::Failed { failure_code, failure_message }) => {
            failed(app, &payout.id, &failure_code, &failure_message).await?;
            None
        }
        Ok(BankStatus::NotFound) => {
            Some((crate::backoff::backoff_ms(attempts), "the bank does not know the payout yet".into()))
        }
        Err(ChannelError::Unknown(why)) => {
            record_unknown(app, &payout.id).await?;
            Some((crate::backoff::backoff_ms(attempts), format!("no answer; ask the bank again: {why}")))
        }
        Err(ChannelError::NotDone(why)) => {
            Some((crate::backoff::backoff_ms(attempts), format!("the bank did nothing: {why}")))
        }
    };
    Ok(PayRun::next(later))
}

/// Recovery point 1: the payout row exists before the bank hears of it.
async fn prepare(app: &App, channel: &str, application_id: &str) -> Result<Option<Prepared>, AppError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let a = applications::by_id(&mut tx, application_id).await?.ok_or(AppError::NotFound("application"))?;
    // A payout written here has no card of its own (only a retry's or a new card's may have).
    let (payout, own_card) = match a.status {
        Status::Approved if !a.net_refund.is_positive() => {
            complete_without_bank(&mut tx, &a, now).await?;
            tx.commit().await?;
            return Ok(None);
        }
        Status::Approved => {
            let attempts = payouts::of_application(&mut tx, &a.id).await?;
            let attempt = attempts.len() as i64 + 1;
            let written = match attempts.into_iter().find(|p| p.status != "failed") {
                Some(live) => (live, true),
                None => {
                    let last4 = last4(&a.bank_card_masked);
                    (payouts::insert(&mut tx, &a.id, attempt, a.net_refund, channel, &last4, now).await?, false)
                }
            };
            step(&mut tx, &a, Status::Paying, Note::SentToBank, now).await?;
            written
        }
        Status::Paying => match payouts::live_of(&mut tx, &a.id).await? {
            Some(live) if live.status != "succeeded" => (live, true),
            _ => return Ok(None),
        },
        // Refunded, failed (finance retries with a new job), or moved by a callback meanwhile.
        _ => return Ok(None),
    };
    // A card the merchant changed to travels with its payout; otherwise the bound card.
    let own_card = if own_card { payouts::card(&mut tx, &app.vault, &payout.id).await? } else { None };
    let (account_name, card_no) = merchants::payee(&mut tx, &app.vault, &a.merchant_id, own_card).await?;
    tx.commit().await?;
    let order = PayoutOrder {
        payout_id: payout.id.clone(),
        reference: a.id.clone(),
        amount_fen: payout.amount.get(),
        card_no,
        account_name,
    };
    Ok(Some(Prepared { payout, order }))
}

/// The key of the job that pays an application's `attempt` (the first, queued by the approval;
/// later ones by finance's retry or the merchant's new card), queued once.
pub(crate) fn job_key(application_id: &str, attempt: i64) -> String {
    if attempt <= 1 {
        format!("payout:{application_id}")
    } else {
        format!("payout:{application_id}:{attempt}")
    }
}

pub(crate) fn last4(masked: &str) -> String {
    let digits: Vec<char> = masked.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(4)..].iter().collect()
}

/// Moves the application one step, the system's, with its timeline event (one statement on
/// PostgreSQL, nothing read back); false if it had moved already.
async fn step(tx: &mut Tx, a: &Application, to: Status, note: Note, now: i64) -> Result<bool, AppError> {
    let actor = Actor::system();
    let event = actor.step_of(a, to, "", Some(&note), "{}");
    Ok(applications::step_naming_no_staff(tx, a, &event, None, now).await?.is_some())
}

/// [`step`] to refunded, which gives the application its receipt number in the same update.
async fn step_to_refunded(tx: &mut Tx, a: &Application, note: Note, now: i64) -> Result<bool, AppError> {
    let actor = Actor::system();
    let event = actor.step_of(a, Status::Refunded, "", Some(&note), "{}");
    let receipt = receipt_number(now);
    Ok(applications::step_naming_no_staff(tx, a, &event, Some(&receipt), now).await?.is_some())
}

/// [`step`] by a staff member (finance retrying a payout), whose name the timeline shows.
async fn step_by_staff(
    tx: &mut Tx,
    a: &Application,
    to: Status,
    actor: &Actor,
    note: Note,
    now: i64,
) -> Result<bool, AppError> {
    if !applications::transition_by(tx, &a.id, a.status, to, Mark::None, now).await? {
        return Ok(false);
    }
    applications::append_event(tx, &actor.step_of(a, to, "", Some(&note), "{}"), now).await?;
    Ok(true)
}

/// Posts the application's pending transfers (the reservation becomes the refund) and creates
/// `then` (what the bank paid, if it paid) in one ledger call, which takes every account they
/// move, in the ledger's order, before moving any (a merchant settling a debt at once waits,
/// never deadlocks). The last thing a payout's outcome writes: refunds in flight and channel
/// clearing are rows that every approval and payout updates and holds until it commits, so
/// whatever is written after them lengthens every other approval's and payout's wait
/// (docs/benchmarks.md, sessions 27 and 29).
async fn post_reservation(tx: &mut Tx, application_id: &str, then: &[Transfer], now: i64) -> Result<(), AppError> {
    let reserved = ledger::by_reference(tx, application_id).await?;
    let pending: Vec<&Transfer> =
        reserved.iter().filter(|(_, state)| *state == TransferState::Pending).map(|(t, _)| t).collect();
    ledger::post_and_create(tx, &pending, then, now).await?;
    Ok(())
}

fn receipt_number(now: i64) -> String {
    let day = Timestamp::from_millis(now).to_rfc3339();
    let digits: String = day.chars().filter(char::is_ascii_digit).take(8).collect();
    format!("RF{digits}{:010}", rand::thread_rng().gen_range(0..10_000_000_000_u64))
}

/// A refund whose whole deposit went to fees and debts: nothing to pay, so no bank call.
async fn complete_without_bank(tx: &mut Tx, a: &Application, now: i64) -> Result<(), AppError> {
    step(tx, a, Status::Paying, Note::NothingToPay, now).await?;
    let paying = Application { status: Status::Paying, ..a.clone() };
    step_to_refunded(tx, &paying, Note::AllDeducted, now).await?;
    let notice = Notice::RefundedByDeduction { application_id: a.id.clone(), deducted: a.deducted };
    notices::tell(tx, &a.merchant_id, &notice, now).await?;
    post_reservation(tx, &a.id, &[], now).await?;
    Ok(())
}

/// Moves the payout from one of `from` to `to` and gives it back; None when it stood
/// elsewhere (moved already: a duplicate or late answer changes nothing). A payout that does
/// not exist is not found: a bank's callback naming no payout of ours is told so, without a
/// read for every callback that does.
async fn advance(
    tx: &mut Tx,
    payout_id: &str,
    from: &[&str],
    to: &str,
    answer: &Answer<'_>,
    now: i64,
) -> Result<Option<Payout>, AppError> {
    match payouts::advance(tx, payout_id, from, to, answer, now).await? {
        Some(moved) => Ok(Some(moved)),
        None if payouts::by_id(tx, payout_id).await?.is_some() => Ok(None),
        None => Err(AppError::NotFound("payout")),
    }
}

/// The bank is processing the payout: recorded as `sent` in `tx` (a late `processing` after a
/// final answer changes nothing).
pub(crate) async fn record_sent_in(tx: &mut Tx, payout_id: &str, now: i64) -> Result<(), AppError> {
    advance(tx, payout_id, &["pending", "unknown"], "sent", &Answer::default(), now).await?;
    Ok(())
}

async fn record_unknown(app: &App, payout_id: &str) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    advance(&mut tx, payout_id, &["pending", "sent"], "unknown", &Answer::default(), app.now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// The payout's outcome is known (most often from the bank's callback, while its job waits to
/// look again): the job is over rather than claimed once more only to find nothing to do (a
/// transaction, a read, its claim and its end a payout). A job running now finds nothing.
async fn finish_job_waiting(tx: &mut Tx, payout: &Payout, now: i64) -> Result<(), AppError> {
    jobs::finish_queued(tx, &job_key(&payout.application_id, payout.attempt), now).await?;
    Ok(())
}

/// The bank paid: posts the transfers, refunds the application, gives the receipt number.
/// Idempotent: a second report of the same success changes nothing.
pub async fn succeeded(app: &App, payout_id: &str, bank_reference: &str, paid_at_ms: i64) -> Result<(), AppError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let answer = Answer { bank_reference: Some(bank_reference), paid_at: Some(paid_at_ms), ..Answer::default() };
    let Some(payout) = advance(&mut tx, payout_id, &["pending", "sent", "unknown"], "succeeded", &answer, now).await?
    else {
        return Ok(());
    };
    finish_job_waiting(&mut tx, &payout, now).await?;
    let a = applications::by_id(&mut tx, &payout.application_id).await?.ok_or(AppError::NotFound("application"))?;
    let note = Note::BankPaid { bank_reference: bank_reference.to_owned() };
    if !step_to_refunded(&mut tx, &a, note, now).await? {
        return Err(AppError::Unexpected(format!(
            "payout {payout_id} succeeded for application {} in {:?}",
            a.id, a.status
        )));
    }
    // A paid termination refund ends the terminal's binding (product.md, lifecycle step 7).
    terminals::unbind_if_terminated(&mut tx, &a.terminal_id, now).await?;
    let notice = Notice::ApplicationRefunded {
        application_id: a.id.clone(),
        net: payout.amount,
        card_last4: payout.card_last4.clone(),
        bank_reference: bank_reference.to_owned(),
    };
    notices::tell(&mut tx, &a.merchant_id, &notice, now).await?;
    // The money last: see `post_reservation`.
    post_reservation(&mut tx, &a.id, &[postings::payout_sent(&a.id, payout.amount)], now).await?;
    let detail =
        serde_json::json!({"payout_id": payout_id, "bank_reference": bank_reference, "amount_fen": payout.amount});
    Actor::system().audit(&app.vault, &mut tx, "payout_succeeded", "refund_application", &a.id, detail, now);
    tx.commit().await?;
    Ok(())
}

/// The bank refused for good: the application shows why; the reservation stays for a retry.
pub async fn failed(app: &App, payout_id: &str, code: &str, message: &str) -> Result<(), AppError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let answer = Answer { failure_code: Some(code), failure_message: Some(message), ..Answer::default() };
    let Some(payout) = advance(&mut tx, payout_id, &["pending", "sent", "unknown"], "failed", &answer, now).await?
    else {
        return Ok(());
    };
    finish_job_waiting(&mut tx, &payout, now).await?;
    let a = applications::by_id(&mut tx, &payout.application_id).await?.ok_or(AppError::NotFound("application"))?;
    let note = Note::BankReturned { failure_code: code.to_owned() };
    step(&mut tx, &a, Status::PayoutFailed, note, now).await?;
    let notice = Notice::PayoutFailed {
        application_id: a.id.clone(),
        card_last4: payout.card_last4.clone(),
        failure_code: code.to_owned(),
    };
    notices::tell(&mut tx, &a.merchant_id, &notice, now).await?;
    let detail = serde_json::json!({"payout_id": payout_id, "failure_code": code});
    Actor::system().audit(&app.vault, &mut tx, "payout_failed", "refund_application", &a.id, detail, now);
    tx.commit().await?;
    Ok(())
}

/// A payout the bank is processing: recorded as sent (a late `processing` after a final
/// answer changes nothing).
pub async fn processing(app: &App, payout_id: &str) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    record_sent_in(&mut tx, payout_id, app.now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no such payout")]
    NotFound,
    /// Nobody knows yet whether the bank paid: ask it first, never pay twice.
    #[error("the outcome of this payout is unknown")]
    OutcomeUnknown,
    #[error("only a failed payout, the latest of its application, can be retried (it is {0})")]
    InvalidState(String),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for RetryError {
    fn from(e: StoreError) -> RetryError {
        RetryError::App(AppError::Store(e))
    }
}

/// Finance retries a failed payout: a new attempt under a new id, to the same card. Never
/// while another attempt is live (the database refuses a second live one too).
pub async fn retry(
    app: &App,
    actor: &Actor,
    payout_id: &str,
    replay: Replay<'_, Payout>,
) -> Result<Outcome<Payout>, RetryError> {
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let old = payouts::by_id(tx, payout_id).await?.ok_or(RetryError::NotFound)?;
    match old.status.as_str() {
        "failed" => {}
        "unknown" => return Err(RetryError::OutcomeUnknown),
        other => return Err(RetryError::InvalidState(other.to_owned())),
    }
    let a = applications::by_id(tx, &old.application_id).await?.ok_or(RetryError::NotFound)?;
    let latest = payouts::of_application(tx, &a.id).await?.last().map(|p| p.id.clone());
    if a.status != Status::PayoutFailed || latest.as_deref() != Some(payout_id) {
        return Err(RetryError::InvalidState(format!("application {}", a.status.as_str())));
    }
    let payout = match payouts::insert(tx, &a.id, old.attempt + 1, old.amount, &old.channel, &old.card_last4, now).await
    {
        Ok(payout) => payout,
        Err(e) if e.is_conflict() => return Err(RetryError::InvalidState("retried already".into())),
        Err(e) => return Err(e.into()),
    };
    // Retried to the card the failed attempt was for.
    if let Some(card) = payouts::card(tx, &app.vault, &old.id).await? {
        payouts::set_card(tx, &app.vault, &payout.id, &card).await?;
    }
    if !step_by_staff(tx, &a, Status::Paying, actor, Note::FinanceRetried, now).await? {
        return Err(RetryError::InvalidState(format!("application {}", a.status.as_str())));
    }
    let payload = serde_json::json!({"application_id": a.id}).to_string();
    jobs::enqueue(tx, "payout", &job_key(&a.id, old.attempt + 1), &payload, now, now).await?;
    actor.audit(&app.vault, tx, "retry_payout", "payout", &payout.id, serde_json::json!({"previous": payout_id}), now);
    Ok(work.finish(payout).await?)
}

/// Payouts for finance, by id, optionally of one status.
pub async fn list(app: &App, status: Option<&str>, page: &PageRequest) -> Result<Page<Payout>, AppError> {
    if status.is_some_and(|s| !["pending", "sent", "unknown", "succeeded", "failed"].contains(&s)) {
        return Err(AppError::InvalidQuery { field: "status" });
    }
    let mut conn = app.db.begin_read().await?;
    let rows = payouts::page(&mut conn, status, page.after_or_empty(), page.fetch()).await?;
    Ok(Page::of(rows, page, |p| p.id.clone()))
}

pub async fn get(app: &App, id: &str) -> Result<Payout, AppError> {
    let mut conn = app.db.begin_read().await?;
    payouts::by_id(&mut conn, id).await?.ok_or(AppError::NotFound("payout"))
}

#[derive(Debug, thiserror::Error)]
pub enum CardChangeError {
    #[error("no such application")]
    NotFound,
    /// Only an application whose payout failed takes another card.
    #[error("the application is {0}")]
    InvalidState(String),
    #[error("invalid input")]
    Fields(Vec<yajin_core::validation::FieldError>),
    #[error(transparent)]
    Code(#[from] crate::auth::AuthError),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for CardChangeError {
    fn from(e: StoreError) -> CardChangeError {
        CardChangeError::App(AppError::Store(e))
    }
}

/// After `payout_failed`, the merchant names another card in their own name, confirmed by an
/// SMS code to their bound phone: the refund is issued again to that card under a new payout
/// id (the ledger still shows one refund: the reservation was never released).
pub async fn change_card(
    app: &App,
    merchant_id: &str,
    application_id: &str,
    bank_card_no: &str,
    sms_code: &str,
    replay: Replay<'_, crate::application_detail::ApplicationDetail>,
) -> Result<Outcome<crate::application_detail::ApplicationDetail>, CardChangeError> {
    let card = yajin_core::ids::BankCardNo::parse(bank_card_no)
        .map_err(|e| CardChangeError::Fields(vec![yajin_core::validation::FieldError::from_id("bank_card_no", e)]))?;
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let a =
        applications::of_merchant(&mut work.tx, merchant_id, application_id).await?.ok_or(CardChangeError::NotFound)?;
    if a.status != Status::PayoutFailed {
        return Err(CardChangeError::InvalidState(a.status.as_str().to_owned()));
    }
    let merchant = merchants::by_id(&mut work.tx, merchant_id).await?.ok_or(CardChangeError::NotFound)?;
    let purpose = crate::auth::PURPOSE_PAYOUT_CARD;
    match crate::auth::spend_code(app, &mut work.tx, &merchant.phone, purpose, sms_code, now).await {
        Ok(()) => {}
        Err(crate::auth::AuthError::WrongCode) => {
            // The attempt counts (five wrong tries spend the code); nothing else happened,
            // and the idempotency key stays free for the corrected retry.
            work.commit_refusal().await?;
            return Err(crate::auth::AuthError::InvalidCode.into());
        }
        Err(other) => return Err(other.into()),
    }
    let tx = &mut work.tx;
    let Some(old) = payouts::of_application(tx, &a.id).await?.pop().filter(|p| p.status == "failed") else {
        return Err(CardChangeError::InvalidState("payout_failed without a failed payout".into()));
    };
    let last4: String = card.expose().chars().skip(card.expose().len() - 4).collect();
    let id = payouts::insert(tx, &a.id, old.attempt + 1, old.amount, &old.channel, &last4, now).await?.id;
    payouts::set_card(tx, &app.vault, &id, card.expose()).await?;
    step(tx, &a, Status::Paying, Note::NewCard { card_last4: last4.clone() }, now).await?;
    let payload = serde_json::json!({"application_id": a.id}).to_string();
    jobs::enqueue(tx, "payout", &job_key(&a.id, old.attempt + 1), &payload, now, now).await?;
    let merchant_actor = Actor { role: yajin_core::application::Role::Merchant, id: merchant_id.to_owned() };
    let detail = serde_json::json!({"payout_id": id, "card_last4": last4});
    merchant_actor.audit(&app.vault, tx, "change_payout_card", "refund_application", &a.id, detail, now);
    let updated = applications::by_id(tx, &a.id).await?.ok_or(CardChangeError::NotFound)?;
    let detail = crate::application_detail::load_detail(tx, updated).await?;
    Ok(work.finish(detail).await?)
}
