//! Provisioning over the API (api.md, "Provisioning"): the records a deployment migrates from
//! its existing systems, each idempotent on its natural key. The same body again is answered
//! with the existing record ([`Provisioned::Existing`]); another body under an existing key is
//! [`AppError::Duplicate`] (409 `already_exists`): a migration run twice never doubles anything
//! and never silently overwrites.

use std::collections::{HashMap, HashSet};

use yajin_core::application::Role;
use yajin_core::ids::{BankCardNo, IdCardNo, TerminalSn};
use yajin_core::plan::TxnKind;
use yajin_core::validation::{due_date, happened, printable, FieldError, Lines};
use yajin_core::{Fen, Timestamp};
use yajin_store::records::outstanding::{self, Item};
use yajin_store::records::{merchants, staff, terminals};
use yajin_store::{StoreError, Tx};

use crate::idempotency::{begin_work, Outcome, Replay};
use crate::provisioning::{self, MerchantInput, TerminalInput};
use crate::{Actor, App, AppError};

/// Made now, or there already with the same content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provisioned<T> {
    Created(T),
    Existing(T),
}

/// At most this many usage records per batch.
pub const BATCH_MAX: usize = 1_000;

/// A merchant by `merchant_no`.
pub async fn merchant(
    app: &App,
    actor: &Actor,
    mut input: MerchantInput,
    agent_username: Option<&str>,
) -> Result<Provisioned<(String, String)>, AppError> {
    let existing = {
        let mut conn = app.db.begin_read().await?;
        if let Some(agent) = agent_username.map(str::trim).filter(|a| !a.is_empty()) {
            let found = staff::by_username(&mut conn, agent).await?.filter(|s| s.role == Role::Agent && s.active);
            let Some(found) = found else {
                return Err(AppError::Fields(vec![FieldError::new(
                    "agent_username",
                    "not_found",
                    format!("没有用户名为 {agent} 的代理商"),
                    format!("no agent is called {agent}"),
                )]));
            };
            input.agent_id = Some(found.id);
        }
        match merchants::by_merchant_no(&mut conn, input.merchant_no.trim()).await? {
            Some(m) => {
                let same_identity = match (IdCardNo::parse(&input.id_card_no), BankCardNo::parse(&input.bank_card_no)) {
                    (Ok(id_card), Ok(bank_card)) => {
                        let matched =
                            merchants::match_identity(&mut conn, &app.vault, &m.id, &id_card, &bank_card).await?;
                        matched.id_card && matched.bank_card
                    }
                    _ => false,
                };
                Some((m, same_identity))
            }
            None => None,
        }
    };
    match existing {
        Some((m, same_identity)) => {
            let same = same_identity
                && m.name == input.name.trim()
                && m.phone == input.phone.trim()
                && m.bank_name == input.bank_name
                && m.agent_id == input.agent_id;
            if same {
                Ok(Provisioned::Existing((m.id, m.merchant_no)))
            } else {
                Err(AppError::Duplicate { field: "merchant_no" })
            }
        }
        None => {
            let merchant_no = input.merchant_no.trim().to_owned();
            let id = provisioning::create_merchant(app, actor, input).await?;
            Ok(Provisioned::Created((id, merchant_no)))
        }
    }
}

/// Eight characters (ISO 8583 field 41), random: `Y` and seven of A–Z, 2–9 (no 0/O, 1/I).
pub(crate) fn generated_terminal_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    std::iter::once('Y').chain((0..7).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)).collect()
}

/// A terminal by SN, bound to the merchant with `merchant_no`; an empty `terminal_id` is
/// generated.
pub async fn terminal(
    app: &App,
    actor: &Actor,
    merchant_no: &str,
    input: TerminalInput,
) -> Result<Provisioned<(String, String)>, AppError> {
    let mut tx = app.db.begin_write().await?;
    let done = terminal_in(&mut tx, app, actor, merchant_no, input).await?;
    tx.commit().await?;
    Ok(done)
}

/// [`terminal`] in the caller's transaction.
async fn terminal_in(
    tx: &mut Tx,
    app: &App,
    actor: &Actor,
    merchant_no: &str,
    input: TerminalInput,
) -> Result<Provisioned<(String, String)>, AppError> {
    let mut done = terminals_in(tx, app, actor, vec![(merchant_no.to_owned(), input)]).await?;
    done.pop().unwrap_or_else(|| Err(AppError::Unexpected("a terminal without an outcome".into())))
}

/// A terminal row's outcome: made now or there already (its id and SN), or why not.
pub(crate) type TerminalOutcome = Result<Provisioned<(String, String)>, AppError>;

/// Many [`terminal`]s in the caller's transaction (an import batch's), each row's outcome in
/// order, as if each had been provisioned alone one after the other, in a few statements for
/// each run of rows with no SN twice. A refused row writes nothing; a database failure fails
/// them all.
pub(crate) async fn terminals_in(
    tx: &mut Tx,
    app: &App,
    actor: &Actor,
    rows: Vec<(String, TerminalInput)>,
) -> Result<Vec<TerminalOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        // A row repeating an SN of its run ends the run: it is then looked up after the
        // earlier one is written, and finds it (there already, the same or not).
        let mut run = Vec::new();
        let mut sns = HashSet::new();
        while let Some(row) = rows.next_if(|(_, input)| !sns.contains(&lookup_sn(&input.sn))) {
            sns.insert(lookup_sn(&row.1.sn));
            run.push(row);
        }
        outcomes.extend(terminals_run(tx, app, actor, run).await?);
    }
    Ok(outcomes)
}

/// The SN a terminal is stored under, for looking one up (an SN that does not parse finds
/// none, and its row is refused for it).
fn lookup_sn(text: &str) -> String {
    TerminalSn::parse(text).map(|sn| sn.as_str().to_owned()).unwrap_or_default()
}

/// [`terminals_in`] for rows with distinct SNs: the merchants and the terminals already there
/// looked up at once, the rest created at once.
async fn terminals_run(
    tx: &mut Tx,
    app: &App,
    actor: &Actor,
    run: Vec<(String, TerminalInput)>,
) -> Result<Vec<TerminalOutcome>, StoreError> {
    let merchant_nos: Vec<String> = run.iter().map(|(no, _)| no.trim().to_owned()).collect();
    let merchant_ids: HashMap<String, String> =
        merchants::ids_by_merchant_nos(tx, &merchant_nos).await?.into_iter().collect();
    let sns: Vec<String> = run.iter().map(|(_, input)| lookup_sn(&input.sn)).collect();
    let existing: HashMap<String, terminals::Terminal> =
        terminals::by_sns(tx, &sns).await?.into_iter().map(|t| (t.sn.clone(), t)).collect();
    let mut outcomes: Vec<Option<TerminalOutcome>> = Vec::with_capacity(run.len());
    let mut created_at = Vec::new();
    let mut new = Vec::new();
    for ((merchant_no, input), sn) in run.into_iter().zip(sns) {
        let Some(merchant_id) = merchant_ids.get(merchant_no.trim()) else {
            outcomes.push(Some(Err(AppError::Fields(vec![FieldError::new(
                "merchant_no",
                "not_found",
                "没有这个商户号",
                "no such merchant",
            )]))));
            continue;
        };
        if let Some(t) = existing.get(&sn) {
            let same = &t.merchant_id == merchant_id && t.plan.code == input.plan_code && t.status == input.status;
            outcomes.push(Some(if same {
                Ok(Provisioned::Existing((t.id.clone(), t.sn.clone())))
            } else {
                Err(AppError::Duplicate { field: "sn" })
            }));
            continue;
        }
        let terminal_id =
            if input.terminal_id.trim().is_empty() { generated_terminal_id() } else { input.terminal_id.clone() };
        created_at.push((outcomes.len(), sn));
        outcomes.push(None);
        new.push(TerminalInput { merchant_id: merchant_id.clone(), terminal_id, ..input });
    }
    let created = provisioning::create_terminals_in(tx, app, actor, new).await?;
    for ((at, sn), result) in created_at.into_iter().zip(created) {
        outcomes[at] = Some(result.map(|id| Provisioned::Created((id, sn))));
    }
    Ok(outcomes.into_iter().map(|o| o.expect("every row has its outcome")).collect())
}

/// One usage record of a batch.
pub struct UsageInput {
    pub reference: String,
    pub sn: String,
    pub amount: Fen,
    pub fee: Fen,
    pub kind: TxnKind,
    pub occurred_at: Timestamp,
}

/// A batch of usage, all or nothing: every bad item is reported (`items[i].field`) and then
/// nothing is written; a reference already recorded is skipped. Returns how many were new.
pub async fn usage(app: &App, items: &[UsageInput]) -> Result<u64, AppError> {
    let mut errors = Vec::new();
    if items.is_empty() || items.len() > BATCH_MAX {
        errors.push(FieldError::new("items", "invalid_length", "1–1000 条", "1–1000 items"));
    }
    let sns: Vec<String> = items.iter().map(|i| i.sn.trim().to_ascii_uppercase()).collect();
    let now = app.clock.now();
    let mut conn = app.db.begin_write().await?;
    let ids: HashMap<String, String> = terminals::ids_by_sns(&mut conn, &sns).await?.into_iter().collect();
    for (i, item) in items.iter().enumerate() {
        let r = item.reference.trim();
        if r.is_empty() || r.len() > 64 {
            errors.push(FieldError::new(format!("items[{i}].ref"), "invalid_length", "1–64 个字符", "1–64 characters"));
        }
        errors.extend(printable(&format!("items[{i}].ref"), r, Lines::One));
        if !ids.contains_key(&sns[i]) {
            errors.push(FieldError::new(format!("items[{i}].sn"), "not_found", "没有这台终端", "no such terminal"));
        }
        if !item.amount.is_positive() {
            errors.push(FieldError::new(format!("items[{i}].amount_fen"), "out_of_range", "须大于 0", "more than 0"));
        }
        errors.extend(happened(&format!("items[{i}].occurred_at"), item.occurred_at, now));
        if item.fee.is_negative() || item.fee > item.amount {
            errors.push(FieldError::new(
                format!("items[{i}].fee_fen"),
                "out_of_range",
                "0 至交易金额",
                "0 up to the amount",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Fields(errors));
    }
    let rows: Vec<(String, terminals::NewUsage)> = items
        .iter()
        .zip(&sns)
        .map(|(item, sn)| {
            let usage = terminals::NewUsage {
                terminal_id: ids[sn].clone(),
                amount: item.amount,
                fee: item.fee,
                kind: item.kind,
                occurred_at: item.occurred_at,
            };
            (item.reference.trim().to_owned(), usage)
        })
        .collect();
    let inserted = terminals::insert_usage_many(&mut conn, &rows).await?;
    conn.commit().await?;
    Ok(inserted)
}

/// What a merchant owes on one terminal, by SN; returns the item.
pub async fn outstanding(
    app: &App,
    actor: &Actor,
    sn: &str,
    kind: &'static str,
    amount: Fen,
    due_at: Timestamp,
    replay: Replay<'_, Item>,
) -> Result<Outcome<Item>, AppError> {
    if !amount.is_positive() {
        return Err(AppError::Fields(vec![FieldError::new("amount_fen", "out_of_range", "须大于 0", "more than 0")]));
    }
    if let Some(e) = due_date("due_at", due_at) {
        return Err(AppError::Fields(vec![e]));
    }
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let Some(t) = terminals::by_sn_any(&mut work.tx, &sn.trim().to_ascii_uppercase()).await? else {
        return Err(AppError::Fields(vec![FieldError::new("sn", "not_found", "没有这台终端", "no such terminal")]));
    };
    let id = provisioning::add_outstanding_in(
        &app.vault,
        &mut work.tx,
        actor,
        &t.merchant_id,
        Some(&t.id),
        kind,
        amount,
        due_at,
        now,
    )
    .await?;
    let item = outstanding::of_merchant(&mut work.tx, &t.merchant_id, &id).await?.ok_or(AppError::NotFound("item"))?;
    work.finish(item).await
}
