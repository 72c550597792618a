//! Creating the records a deployment migrates from its existing systems: merchants, staff,
//! plans, terminals with their deposits, usage, outstanding items, refunds already paid.
//! Each call is one transaction, audited; money moves only through ledger transfers.

use std::collections::HashMap;

use yajin_core::application::{Role, Status};
use yajin_core::eligibility::TerminalStatus;
use yajin_core::ids::{BankCardNo, IdCardNo, MerchantNo, PhoneNo, TerminalId, TerminalSn};
use yajin_core::ledger::postings;
use yajin_core::notice::Note;
use yajin_core::plan::{DepositPlan, TxnKind};
use yajin_core::validation::{due_date, happened, text_problems, FieldError, FieldErrors, Lines};
use yajin_core::{Fen, Timestamp};
use yajin_store::pii::Vault;
use yajin_store::records::{applications, merchants, outstanding, plans, staff, terminals};
use yajin_store::{audit, ledger, StoreError, Tx};

use crate::idempotency::{begin_work, Outcome, Replay};
use crate::{passwords, Actor, App, AppError};

/// A unique violation on insert means the identifying field is taken.
fn taken(field: &'static str) -> impl Fn(StoreError) -> AppError {
    move |e| {
        if e.is_conflict() {
            AppError::Duplicate { field }
        } else {
            AppError::Store(e)
        }
    }
}

#[derive(Default)]
pub struct MerchantInput {
    pub merchant_no: String,
    pub name: String,
    pub phone: String,
    pub password: String,
    pub id_card_no: String,
    pub bank_card_no: String,
    pub bank_name: String,
    /// The staff id of the agent (代理商) who onboarded the merchant, if one did.
    pub agent_id: Option<String>,
}

/// A merchant's identifiers, parsed, or every field that is wrong.
fn parse_merchant(input: &MerchantInput) -> Result<(MerchantNo, PhoneNo, IdCardNo, BankCardNo), Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let merchant_no = errors.check("merchant_no", MerchantNo::parse(&input.merchant_no));
    let phone = errors.check("phone", PhoneNo::parse(&input.phone));
    let id_card = errors.check("id_card_no", IdCardNo::parse(&input.id_card_no));
    let bank_card = errors.check("bank_card_no", BankCardNo::parse(&input.bank_card_no));
    one_line(&mut errors, "name", input.name.trim(), 1);
    one_line(&mut errors, "bank_name", &input.bank_name, 1);
    errors.into_result()?;
    match (merchant_no, phone, id_card, bank_card) {
        (Some(merchant_no), Some(phone), Some(id_card), Some(bank_card)) => {
            Ok((merchant_no, phone, id_card, bank_card))
        }
        _ => unreachable!("every None pushed a field error"),
    }
}

/// What is wrong with a merchant's fields, before anything is looked up (a dry run).
pub fn check_merchant(input: &MerchantInput) -> Result<(), Vec<FieldError>> {
    parse_merchant(input).map(|_| ())
}

pub async fn create_merchant(app: &App, actor: &Actor, input: MerchantInput) -> Result<String, AppError> {
    let (merchant_no, phone, id_card, bank_card) = parse_merchant(&input).map_err(AppError::Fields)?;
    let name = input.name.trim().to_owned();
    let password_hash = passwords::hash(input.password).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let new = merchants::NewMerchant {
        merchant_no,
        name,
        phone,
        password_hash,
        id_card,
        bank_card,
        bank_name: input.bank_name,
        agent_id: input.agent_id,
    };
    let id = merchants::insert(&mut tx, &app.vault, &new, now).await.map_err(taken("merchant_no or phone"))?;
    actor.audit(
        &app.vault,
        &mut tx,
        "create_merchant",
        "merchant",
        &id,
        serde_json::json!({"merchant_no": new.merchant_no.as_str(), "agent_id": new.agent_id}),
        now,
    );
    tx.commit().await?;
    Ok(id)
}

pub async fn create_staff(
    app: &App,
    actor: &Actor,
    username: &str,
    display_name: &str,
    role: Role,
    password: String,
) -> Result<String, AppError> {
    let username = username.trim();
    let valid_name = !username.is_empty()
        && username.len() <= 64
        && username.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    let mut errors = Vec::new();
    if !valid_name {
        errors.push(FieldError::new(
            "username",
            "invalid_format",
            "1–64 个字符，限 a–z、0–9、. _ -",
            "1–64 of a–z, 0–9, . _ -",
        ));
    }
    if !role.is_staff() {
        errors.push(FieldError::new(
            "role",
            "invalid_value",
            "reviewer、approver、finance、admin、support 或 agent",
            "reviewer, approver, finance, admin, support or agent",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let password_hash = passwords::hash(password).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let new =
        staff::NewStaff { username: username.to_owned(), display_name: display_name.to_owned(), role, password_hash };
    let id = staff::insert(&mut tx, &new, now).await.map_err(taken("username"))?;
    actor.audit(
        &app.vault,
        &mut tx,
        "create_staff",
        "staff",
        &id,
        serde_json::json!({"username": username, "role": role.as_str()}),
        now,
    );
    tx.commit().await?;
    Ok(id)
}

/// A deposit plan as stored: its row id and the version it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPlan {
    pub id: String,
    pub plan: DepositPlan,
    pub created_at: Timestamp,
}

/// Stores `plan` as the next version of its code (the version given is ignored).
pub async fn create_plan(
    app: &App,
    actor: &Actor,
    mut plan: DepositPlan,
    replay: Replay<'_, StoredPlan>,
) -> Result<Outcome<StoredPlan>, AppError> {
    plan.version = 1;
    plan.validate().map_err(AppError::Fields)?;
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    plan.version = plans::latest(tx, &plan.code).await?.map_or(1, |(_, p)| p.version + 1);
    let id = plans::insert(tx, &plan, &actor.id, now).await.map_err(taken("version"))?;
    let detail = serde_json::json!({"code": plan.code, "version": plan.version});
    actor.audit(&app.vault, tx, "create_plan", "deposit_plan", &id, detail, now);
    work.finish(StoredPlan { id, plan, created_at: Timestamp::from_millis(now) }).await
}

/// A name or reference typed on one line: `min`–100 characters, no control characters.
fn one_line(errors: &mut FieldErrors, field: &str, value: &str, min: usize) {
    errors.extend(text_problems(field, value, min, 100, Lines::One));
}

pub struct DepositInput {
    pub amount: Fen,
    pub route: &'static str,
    pub route_ref: String,
    pub collected_at: Timestamp,
}

pub struct TerminalInput {
    pub merchant_id: String,
    pub sn: String,
    pub terminal_id: String,
    pub model: String,
    pub plan_code: String,
    pub status: TerminalStatus,
    pub bound_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub terminated_at: Option<Timestamp>,
    pub device_returned_at: Option<Timestamp>,
    pub deposit: Option<DepositInput>,
}

/// Binds a terminal to a merchant with the plan in force now as its snapshot, and records
/// its deposit: the deposit row and the `collect_deposit` transfer, in one transaction.
/// A terminal's identifiers, parsed, or every field that is wrong.
fn parse_terminal(input: &TerminalInput, now: Timestamp) -> Result<(TerminalSn, TerminalId), Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let sn = errors.check("sn", TerminalSn::parse(&input.sn));
    let terminal_no = errors.check("terminal_id", TerminalId::parse(&input.terminal_id));
    let times = [
        ("bound_at", Some(input.bound_at)),
        ("activated_at", input.activated_at),
        ("terminated_at", input.terminated_at),
        ("device_returned_at", input.device_returned_at),
        ("deposit.collected_at", input.deposit.as_ref().map(|d| d.collected_at)),
    ];
    for (field, at) in times {
        if let Some(e) = at.and_then(|at| happened(field, at, now)) {
            errors.push(e);
        }
    }
    if input.status == TerminalStatus::Terminated && input.terminated_at.is_none() {
        errors.push(FieldError::new(
            "terminated_at",
            "required",
            "已解绑的终端须有解绑时间",
            "a terminated terminal has a termination time",
        ));
    }
    one_line(&mut errors, "model", &input.model, 0);
    if let Some(deposit) = &input.deposit {
        one_line(&mut errors, "deposit.route_ref", &deposit.route_ref, 0);
    }
    if input.deposit.as_ref().is_some_and(|d| !d.amount.is_positive()) {
        errors.push(FieldError::new("deposit.amount_fen", "out_of_range", "须大于 0", "more than 0"));
    }
    errors.into_result()?;
    match (sn, terminal_no) {
        (Some(sn), Some(terminal_no)) => Ok((sn, terminal_no)),
        _ => unreachable!("every None pushed a field error"),
    }
}

/// What is wrong with a terminal's fields, before anything is looked up (a dry run); an empty
/// `terminal_id` is one to be generated.
pub fn check_terminal(input: &TerminalInput, now: Timestamp) -> Result<(), Vec<FieldError>> {
    let result = parse_terminal(input, now).map(|_| ());
    if input.terminal_id.trim().is_empty() {
        return result.or_else(|errors| {
            let rest: Vec<FieldError> = errors.into_iter().filter(|e| e.field != "terminal_id").collect();
            if rest.is_empty() {
                Ok(())
            } else {
                Err(rest)
            }
        });
    }
    result
}

pub async fn create_terminal(app: &App, actor: &Actor, input: TerminalInput) -> Result<String, AppError> {
    parse_terminal(&input, app.clock.now()).map_err(AppError::Fields)?;
    let mut tx = app.db.begin_write().await?;
    if merchants::by_id(&mut tx, &input.merchant_id).await?.is_none() {
        return Err(AppError::NotFound("merchant"));
    }
    let id = create_terminal_in(&mut tx, app, actor, input).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`create_terminal`] in the caller's transaction, for a merchant the caller has found.
pub(crate) async fn create_terminal_in(
    tx: &mut Tx,
    app: &App,
    actor: &Actor,
    input: TerminalInput,
) -> Result<String, AppError> {
    let mut created = create_terminals_in(tx, app, actor, vec![input]).await?;
    created.pop().unwrap_or_else(|| Err(AppError::Unexpected("a terminal without an outcome".into())))
}

/// Terminals of merchants the caller has found, each with the plan in force now as its
/// snapshot and its deposit recorded (the deposit row and its `collect_deposit` transfer),
/// audited, in the caller's transaction and in a few statements whatever their number. Each
/// input's outcome, in order: the new terminal's id, or what is wrong with it (and nothing of
/// it written). A database failure fails them all.
pub(crate) async fn create_terminals_in(
    tx: &mut Tx,
    app: &App,
    actor: &Actor,
    inputs: Vec<TerminalInput>,
) -> Result<Vec<Result<String, AppError>>, StoreError> {
    let now = app.now_ms();
    let mut plans_by_code: HashMap<String, Option<(String, DepositPlan)>> = HashMap::new();
    let mut outcomes = Vec::with_capacity(inputs.len());
    let mut new = Vec::with_capacity(inputs.len());
    let mut deposits = Vec::new();
    for input in inputs {
        let (sn, terminal_no) = match parse_terminal(&input, Timestamp::from_millis(now)) {
            Ok(parsed) => parsed,
            Err(errors) => {
                outcomes.push(Err(AppError::Fields(errors)));
                continue;
            }
        };
        if !plans_by_code.contains_key(&input.plan_code) {
            let latest = plans::latest(tx, &input.plan_code).await?;
            plans_by_code.insert(input.plan_code.clone(), latest);
        }
        let Some((plan_id, plan)) = plans_by_code[&input.plan_code].clone() else {
            outcomes.push(Err(AppError::NotFound("deposit plan")));
            continue;
        };
        let id = yajin_store::new_id("tm");
        if let Some(d) = input.deposit {
            deposits.push(terminals::NewDeposit {
                terminal_id: id.clone(),
                merchant_id: input.merchant_id.clone(),
                amount: d.amount,
                route: d.route,
                route_ref: d.route_ref,
                collected_at: d.collected_at,
            });
        }
        let terminal = terminals::NewTerminal {
            merchant_id: input.merchant_id,
            sn,
            terminal_id: terminal_no,
            model: input.model,
            status: input.status,
            plan_id,
            plan_snapshot: plan,
            bound_at: input.bound_at,
            activated_at: input.activated_at,
            terminated_at: input.terminated_at,
            device_returned_at: input.device_returned_at,
        };
        outcomes.push(Ok(id.clone()));
        new.push((id, terminal));
    }
    // A terminal whose SN or terminal id is taken is not written, nor anything of it.
    let rows: Vec<(&str, &terminals::NewTerminal)> = new.iter().map(|(id, t)| (id.as_str(), t)).collect();
    let inserted = terminals::insert_many(tx, &rows, now).await?;
    for outcome in &mut outcomes {
        if outcome.as_ref().is_ok_and(|id| !inserted.contains(id)) {
            *outcome = Err(AppError::Duplicate { field: "sn or terminal_id" });
        }
    }
    deposits.retain(|d| inserted.contains(&d.terminal_id));
    terminals::insert_deposits(tx, &deposits).await?;
    let transfers: Vec<_> = deposits.iter().map(|d| postings::collect_deposit(&d.terminal_id, d.amount)).collect();
    ledger::create_many(tx, &transfers, now).await?;
    let entries: Vec<_> = new
        .iter()
        .filter(|(id, _)| inserted.contains(id))
        .map(|(id, t)| actor.entry("create_terminal", "terminal", id, serde_json::json!({"sn": t.sn.as_str()})))
        .collect();
    audit::append_many(tx, &app.vault, &entries, now).await?;
    Ok(outcomes)
}

pub async fn add_usage(
    app: &App,
    terminal_id: &str,
    amount: Fen,
    kind: TxnKind,
    at: Timestamp,
) -> Result<String, AppError> {
    if !amount.is_positive() {
        return Err(AppError::Fields(vec![FieldError::new("amount_fen", "out_of_range", "须大于 0", "more than 0")]));
    }
    let mut tx = app.db.begin_write().await?;
    // A shipped terminal's first transaction activates it (and fixes its plan snapshot).
    crate::activation::activate_on_first_use(&mut tx, &app.vault, terminal_id, at).await?;
    let usage =
        terminals::NewUsage { terminal_id: terminal_id.to_owned(), amount, fee: Fen::ZERO, kind, occurred_at: at };
    let id = terminals::insert_usage(&mut tx, &usage).await?;
    crate::applications::on_usage(&mut tx, app, terminal_id).await.map_err(|e| match e {
        crate::applications::ApplyError::Store(e) => AppError::Store(e),
        other => AppError::Unexpected(other.to_string()),
    })?;
    tx.commit().await?;
    Ok(id)
}

/// Card volume on a terminal, by SN, now: the sandbox's stand-in for a real transaction (the
/// demo's button and tests). A shipped terminal's first one activates it.
pub async fn sandbox_transaction(app: &App, sn: &str, amount: Fen, kind: &str) -> Result<String, AppError> {
    let mut errors = Vec::new();
    let kind = TxnKind::parse_field("kind", kind).map_err(|e| errors.push(e)).ok();
    if !amount.is_positive() || amount > Fen::yuan(1_000_000) {
        errors.push(FieldError::new(
            "amount_fen",
            "out_of_range",
            "须大于 0，至多 100 万元",
            "more than 0, at most 1,000,000 yuan",
        ));
    }
    let (Some(kind), true) = (kind, errors.is_empty()) else { return Err(AppError::Fields(errors)) };
    let terminal = {
        let mut conn = app.db.begin_read().await?;
        terminals::by_sn_any(&mut conn, &sn.trim().to_ascii_uppercase()).await?.ok_or(AppError::NotFound("terminal"))?
    };
    add_usage(app, &terminal.id, amount, kind, app.clock.now()).await
}

/// A charge the merchant owes: the item and its `accrue_charge` transfer.
pub async fn add_outstanding(
    app: &App,
    actor: &Actor,
    merchant_id: &str,
    terminal_id: Option<&str>,
    kind: &'static str,
    amount: Fen,
    due_at: Timestamp,
) -> Result<String, AppError> {
    if !amount.is_positive() {
        return Err(AppError::Fields(vec![FieldError::new("amount_fen", "out_of_range", "须大于 0", "more than 0")]));
    }
    if let Some(e) = due_date("due_at", due_at) {
        return Err(AppError::Fields(vec![e]));
    }
    let mut tx = app.db.begin_write().await?;
    let id =
        add_outstanding_in(&app.vault, &mut tx, actor, merchant_id, terminal_id, kind, amount, due_at, app.now_ms())
            .await?;
    tx.commit().await?;
    Ok(id)
}

/// The item and its `accrue_charge` transfer, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn add_outstanding_in(
    vault: &Vault,
    tx: &mut Tx,
    actor: &Actor,
    merchant_id: &str,
    terminal_id: Option<&str>,
    kind: &'static str,
    amount: Fen,
    due_at: Timestamp,
    now: i64,
) -> Result<String, AppError> {
    let item = outstanding::NewItem {
        merchant_id: merchant_id.to_owned(),
        terminal_id: terminal_id.map(str::to_owned),
        kind,
        amount,
        due_at,
    };
    let mut ids = add_outstanding_many_in(vault, tx, actor, &[item], now).await?;
    ids.pop().ok_or_else(|| AppError::Unexpected("an item without an id".into()))
}

/// Items, each with its `accrue_charge` transfer, audited, in the caller's transaction and in a
/// few statements whatever their number (an import batch's); returns their ids, in order.
pub(crate) async fn add_outstanding_many_in(
    vault: &Vault,
    tx: &mut Tx,
    actor: &Actor,
    items: &[outstanding::NewItem],
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let ids: Vec<String> = items.iter().map(|_| yajin_store::new_id("oi")).collect();
    let rows: Vec<(&str, &outstanding::NewItem)> = ids.iter().map(String::as_str).zip(items).collect();
    outstanding::insert_many(tx, &rows, now).await?;
    let transfers: Vec<_> =
        rows.iter().map(|(id, item)| postings::accrue_charge(id, &item.merchant_id, item.amount)).collect();
    ledger::create_many(tx, &transfers, now).await?;
    let entries: Vec<_> = rows
        .iter()
        .map(|(id, item)| {
            let detail = serde_json::json!({"amount_fen": item.amount, "kind": item.kind});
            actor.entry("add_outstanding", "outstanding_item", id, detail)
        })
        .collect();
    audit::append_many(tx, vault, &entries, now).await?;
    Ok(ids)
}

/// A refund that the old system already paid, migrated with its whole history: the
/// application (refunded), its timeline, and the ledger's reservation, posting and payout.
pub async fn record_past_refund(
    app: &App,
    actor: &Actor,
    terminal_id: &str,
    refunded_at: Timestamp,
) -> Result<String, AppError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let merchant_id = terminals::by_id(&mut tx, terminal_id).await?.ok_or(AppError::NotFound("terminal"))?.merchant_id;
    let figures = ledger::deposit_figures(&mut tx, terminal_id).await?;
    let amount = figures.refundable().map_err(|_| AppError::AmountOutOfRange)?;
    if !amount.is_positive() {
        return Err(AppError::InvalidState { entity: "deposit", status: "refunded".into() });
    }
    let card = BankCardNo::parse(&merchants::bank_card_for_payout(&mut tx, &app.vault, &merchant_id).await?)
        .map_err(|e| AppError::Unexpected(format!("stored bank card: {e}")))?;
    let new = applications::NewApplication {
        merchant_id: &merchant_id,
        terminal_id,
        reason: "migrated",
        note: "",
        amount,
        fee: Fen::ZERO,
        deducted: Fen::ZERO,
        net_refund: amount,
        deduct_outstanding: false,
        bank_card: &card,
        four_eyes_required: false,
    };
    let id = applications::insert(&mut tx, &app.vault, &new, refunded_at.millis()).await?.id;
    let reserve = postings::approve_refund(&id, terminal_id, &merchant_id, amount, Fen::ZERO, &[]);
    let paid = postings::payout_sent(&id, amount);
    // Several ledger calls: every account they move held first, in the ledger's order.
    ledger::hold_accounts_of(&mut tx, reserve.iter().chain([&paid])).await?;
    ledger::create(&mut tx, &reserve, now).await?;
    for t in &reserve {
        ledger::post(&mut tx, &t.id, now).await?;
    }
    ledger::create(&mut tx, &[paid], now).await?;
    let steps = [
        (None, Status::Submitted),
        (Some(Status::Submitted), Status::Approved),
        (Some(Status::Approved), Status::Paying),
        (Some(Status::Paying), Status::Refunded),
    ];
    applications::transition(&mut tx, &id, &[Status::Submitted], Status::Refunded, refunded_at.millis()).await?;
    for (from, to) in steps {
        let event = applications::NewEvent {
            application_id: &id,
            from,
            to,
            actor_role: Role::System,
            actor_id: "migration",
            note: "",
            system_note: from.is_none().then_some(&Note::Migrated),
            detail: "{}",
        };
        applications::append_event(&mut tx, &event, refunded_at.millis()).await?;
    }
    actor.audit(
        &app.vault,
        &mut tx,
        "record_past_refund",
        "refund_application",
        &id,
        serde_json::json!({"amount_fen": amount}),
        now,
    );
    tx.commit().await?;
    Ok(id)
}

/// Every version of every deposit plan: `(id, plan, created_at_ms)`, by code, newest first.
pub async fn list_plans(app: &App) -> Result<Vec<(String, DepositPlan, i64)>, AppError> {
    let mut conn = app.db.begin_read().await?;
    Ok(yajin_store::records::plans::all(&mut conn).await?)
}
