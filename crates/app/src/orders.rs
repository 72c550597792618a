//! Terminal orders (申请机具): a merchant applies for a terminal under a published plan; a
//! reviewer approves or rejects it; the merchant pays the deposit, collected through the
//! channel exactly once per attempt (the attempt's id is the bank's idempotency key, so retries,
//! timeouts and duplicate callbacks collect nothing twice); a reviewer ships it, which binds a
//! new terminal to the merchant with the deposit and its route; the merchant confirms delivery;
//! the first transaction activates it and fixes its plan snapshot.

use yajin_channels::payout::{BankStatus, ChannelError, CollectionOrder, PayoutChannel};
use yajin_core::application::Role;
use yajin_core::eligibility::TerminalStatus;
use yajin_core::ids::{TerminalId, TerminalSn};
use yajin_core::ledger::postings;
use yajin_core::notice::Notice;
use yajin_core::order::{order_transition, OrderAction, OrderRefusal, OrderStatus};
use yajin_core::validation::{printable, text_problems, FieldError, FieldErrors, Lines};
use yajin_core::Timestamp;
use yajin_store::records::orders::{self, NewOrder, Order, OrderEvent, PaymentAnswer};
use yajin_store::records::{jobs, merchants, plans, terminals};
use yajin_store::{ledger, Conn, StoreError, Tx};

use crate::idempotency::{begin_work, Outcome, Replay};
use crate::paging::{Page, PageRequest};
use crate::{notices, Actor, App, AppError};

/// The job kind that collects an order's deposit.
pub const PAYMENT_JOB: &str = "order_payment";
pub const ROUTES: [&str; 3] = ["card", "wechat", "alipay"];

/// An order with its timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderDetail {
    pub order: Order,
    pub timeline: Vec<OrderEvent>,
}

#[derive(Clone, Debug, Default)]
pub struct OrderInput {
    pub plan_code: String,
    pub model: String,
    pub shipping_address: String,
    pub deposit_route: String,
}

/// Where `action` by `role` takes the order, or why not (its state, said as a conflict).
fn next(order: &Order, action: OrderAction, role: Role) -> Result<OrderStatus, AppError> {
    order_transition(order.status, action, role).map_err(|refusal| match refusal {
        OrderRefusal::InvalidState => {
            AppError::InvalidState { entity: "terminal_order", status: order.status.as_str().to_owned() }
        }
        OrderRefusal::NotAllowed => AppError::Unexpected(format!("{role:?} may not {action:?} an order")),
    })
}

async fn detail_in(conn: &mut Conn, order: Order) -> Result<OrderDetail, AppError> {
    let timeline = orders::events(conn, &order.id).await?;
    Ok(OrderDetail { order, timeline })
}

/// Moves the order with its timeline entry; false if it had moved meanwhile.
async fn step(
    tx: &mut Tx,
    order: &Order,
    to: OrderStatus,
    actor: &Actor,
    note: &str,
    now: i64,
) -> Result<bool, AppError> {
    Ok(orders::advance(tx, &order.id, order.status, to, (actor.role, &actor.id), note, now).await?)
}

/// A merchant applies for a terminal under a published plan.
pub async fn place(
    app: &App,
    merchant_id: &str,
    input: &OrderInput,
    replay: Replay<'_, OrderDetail>,
) -> Result<Outcome<OrderDetail>, AppError> {
    let mut errors = text_problems("model", &input.model, 1, 50, Lines::One);
    errors.extend(text_problems("shipping_address", &input.shipping_address, 1, 200, Lines::One));
    if !ROUTES.contains(&input.deposit_route.trim()) {
        errors.push(FieldError::new(
            "deposit_route",
            "invalid",
            "须为 card、wechat 或 alipay",
            "card, wechat or alipay",
        ));
    }
    let plan = crate::plans::in_force(app, &input.plan_code).await?;
    if plan.is_none() {
        errors.push(FieldError::new("plan_code", "not_found", "没有这个方案", "no such plan"));
    }
    let (Some(plan), true) = (plan, errors.is_empty()) else { return Err(AppError::Fields(errors)) };
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let new = NewOrder {
        merchant_id,
        plan_code: &plan.code,
        model: input.model.trim(),
        shipping_address: input.shipping_address.trim(),
        deposit_route: input.deposit_route.trim(),
        deposit: plan.deposit_fen,
    };
    let id = orders::insert(tx, &app.vault, &new, now).await?;
    orders::append_event(tx, &id, None, OrderStatus::Submitted, (Role::Merchant, merchant_id), "", now).await?;
    let order = orders::by_id(tx, &app.vault, &id).await?.ok_or(AppError::NotFound("terminal order"))?;
    let detail = detail_in(tx, order).await?;
    work.finish(detail).await
}

pub async fn list(app: &App, merchant_id: &str, page: &PageRequest) -> Result<Page<Order>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows =
        orders::page_of_merchant(&mut conn, &app.vault, merchant_id, page.after.as_deref(), page.fetch()).await?;
    Ok(Page::of(rows, page, |o| o.id.clone()))
}

/// One of the merchant's orders; another merchant's is not found.
pub async fn get(app: &App, merchant_id: &str, id: &str) -> Result<OrderDetail, AppError> {
    let mut conn = app.db.begin_read().await?;
    let order = orders::of_merchant(&mut conn, &app.vault, merchant_id, id)
        .await?
        .ok_or(AppError::NotFound("terminal order"))?;
    detail_in(&mut conn, order).await
}

/// A merchant's step on its own order: cancel (before paying), pay, confirm delivery, or return
/// it unused (the terminal is terminated, and its deposit comes back once the device is received).
pub async fn merchant_step(
    app: &App,
    merchant_id: &str,
    id: &str,
    action: OrderAction,
    replay: Replay<'_, OrderDetail>,
) -> Result<Outcome<OrderDetail>, AppError> {
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let order =
        orders::of_merchant(tx, &app.vault, merchant_id, id).await?.ok_or(AppError::NotFound("terminal order"))?;
    let to = next(&order, action, Role::Merchant)?;
    let actor = Actor { role: Role::Merchant, id: merchant_id.to_owned() };
    let moved = if action == OrderAction::Return {
        // The terminal ends unused; a used one is ended by an ordinary termination instead.
        let terminal = order.terminal_id.as_deref().unwrap_or_default();
        step(tx, &order, to, &actor, "", now).await? && terminals::terminate_unused(tx, terminal, now).await?
    } else if action == OrderAction::Pay {
        // A new attempt, with its own idempotency key at the bank, collected by the worker.
        let started = orders::start_payment(tx, id, now).await?;
        if started {
            orders::append_event(tx, id, Some(order.status), to, (Role::Merchant, merchant_id), "", now).await?;
            let attempt = order.payment_attempt + 1;
            let payload = serde_json::json!({"order_id": id, "attempt": attempt}).to_string();
            jobs::enqueue(tx, PAYMENT_JOB, &format!("order-payment:{id}:{attempt}"), &payload, now, now).await?;
        }
        started
    } else {
        step(tx, &order, to, &actor, "", now).await?
    };
    if !moved {
        return Err(AppError::InvalidState { entity: "terminal_order", status: order.status.as_str().to_owned() });
    }
    let detail_json = serde_json::json!({"deposit_fen": order.deposit, "attempt": order.payment_attempt + 1});
    actor.audit(&app.vault, tx, &format!("order_{}", to.as_str()), "terminal_order", id, detail_json, now);
    let detail = {
        let order = orders::by_id(tx, &app.vault, id).await?.ok_or(AppError::NotFound("terminal order"))?;
        detail_in(tx, order).await?
    };
    work.finish(detail).await
}

/// The reviewers' queue: orders in `status` (default `submitted`), oldest first.
pub async fn queue(app: &App, status: Option<&str>, page: &PageRequest) -> Result<Page<Order>, AppError> {
    let status = match status.filter(|s| !s.is_empty()) {
        None => OrderStatus::Submitted,
        Some(text) => OrderStatus::parse(text).ok_or(AppError::InvalidQuery { field: "status" })?,
    };
    let mut conn = app.db.begin_read().await?;
    let rows = orders::queue(&mut conn, &app.vault, status, page.after_or_empty(), page.fetch()).await?;
    Ok(Page::of(rows, page, |o| o.id.clone()))
}

/// Any order, for the back office.
pub async fn get_any(app: &App, id: &str) -> Result<OrderDetail, AppError> {
    let mut conn = app.db.begin_read().await?;
    let order = orders::by_id(&mut conn, &app.vault, id).await?.ok_or(AppError::NotFound("terminal order"))?;
    detail_in(&mut conn, order).await
}

/// What a reviewer decides on a submitted order.
pub enum Decision<'a> {
    Approve,
    Reject { comment: &'a str },
    Ship { sn: &'a str, carrier: &'a str, waybill_no: &'a str },
}

/// A reviewer approves, rejects or ships an order.
pub async fn decide(
    app: &App,
    actor: &Actor,
    id: &str,
    decision: Decision<'_>,
    replay: Replay<'_, OrderDetail>,
) -> Result<Outcome<OrderDetail>, AppError> {
    let ship = match &decision {
        Decision::Ship { sn, carrier, waybill_no } => {
            let mut errors = FieldErrors::new();
            let sn = errors.check("sn", TerminalSn::parse(sn));
            errors.extend(text_problems("carrier", carrier, 1, 40, Lines::One));
            errors.extend(text_problems("waybill_no", waybill_no, 1, 40, Lines::One));
            match (sn, errors.into_result()) {
                (Some(sn), Ok(())) => Some((sn, carrier.trim(), waybill_no.trim())),
                (_, Err(errors)) => return Err(AppError::Fields(errors)),
                (None, Ok(())) => return Err(AppError::Unexpected("an SN refused without a reason".into())),
            }
        }
        Decision::Reject { comment } => {
            let mut errors = Vec::new();
            if comment.chars().count() > 1_000 {
                errors.push(FieldError::new("comment", "too_long", "至多 1000 个字符", "at most 1000 characters"));
            }
            errors.extend(printable("comment", comment, Lines::Many));
            if !errors.is_empty() {
                return Err(AppError::Fields(errors));
            }
            None
        }
        Decision::Approve => None,
    };
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let order = orders::by_id(tx, &app.vault, id).await?.ok_or(AppError::NotFound("terminal order"))?;
    let action = match decision {
        Decision::Approve => OrderAction::Approve,
        Decision::Reject { .. } => OrderAction::Reject,
        Decision::Ship { .. } => OrderAction::Ship,
    };
    let to = next(&order, action, Role::Reviewer)?;
    let conflict = || AppError::InvalidState { entity: "terminal_order", status: order.status.as_str().to_owned() };
    let notice = match (&decision, ship) {
        (Decision::Approve, _) => {
            if !step(tx, &order, to, actor, "", now).await? {
                return Err(conflict());
            }
            Notice::OrderApproved { order_id: order.id.clone(), deposit: order.deposit }
        }
        (Decision::Reject { comment }, _) => {
            if !step(tx, &order, to, actor, comment.trim(), now).await? {
                return Err(conflict());
            }
            Notice::OrderRejected { order_id: order.id.clone(), comment: comment.trim().to_owned() }
        }
        (Decision::Ship { .. }, Some((sn, carrier, waybill_no))) => {
            let terminal_id = bind_terminal(tx, &order, &sn, now).await?;
            if !orders::ship(tx, id, &terminal_id, carrier, waybill_no, now).await? {
                return Err(conflict());
            }
            let note = format!("{carrier} {waybill_no}");
            orders::append_event(tx, id, Some(order.status), to, (actor.role, &actor.id), &note, now).await?;
            Notice::OrderShipped {
                order_id: order.id.clone(),
                sn: sn.as_str().to_owned(),
                carrier: carrier.to_owned(),
                waybill_no: waybill_no.to_owned(),
            }
        }
        (Decision::Ship { .. }, None) => return Err(AppError::Unexpected("a shipment without its fields".into())),
    };
    notices::tell(tx, &order.merchant_id, &notice, now).await?;
    actor.audit(&app.vault, tx, &format!("order_{}", to.as_str()), "terminal_order", id, serde_json::json!({}), now);
    let detail = {
        let order = orders::by_id(tx, &app.vault, id).await?.ok_or(AppError::NotFound("terminal order"))?;
        detail_in(tx, order).await?
    };
    work.finish(detail).await
}

/// Binds a new terminal for a shipped order: the merchant's, under the ordered plan as it stands
/// now (its snapshot is fixed again at activation), inactive, with its deposit collected by the
/// order's route and the collection's bank reference. An SN bound to anybody already is refused.
async fn bind_terminal(tx: &mut Tx, order: &Order, sn: &TerminalSn, now: i64) -> Result<String, AppError> {
    if terminals::by_sn_any(tx, sn.as_str()).await?.is_some() {
        return Err(AppError::Duplicate { field: "sn" });
    }
    let (plan_id, plan) = plans::latest(tx, &order.plan_code).await?.ok_or(AppError::NotFound("deposit plan"))?;
    let terminal_no = TerminalId::parse(&crate::onboarding::generated_terminal_id())
        .map_err(|e| AppError::Unexpected(format!("a generated terminal id: {e}")))?;
    let new = terminals::NewTerminal {
        merchant_id: order.merchant_id.clone(),
        sn: sn.clone(),
        terminal_id: terminal_no,
        model: order.model.clone(),
        status: TerminalStatus::Inactive,
        plan_id,
        plan_snapshot: plan,
        bound_at: Timestamp::from_millis(now),
        activated_at: None,
        terminated_at: None,
        device_returned_at: None,
    };
    let id = terminals::insert(tx, &new, now).await.map_err(|e| match e {
        StoreError::Conflict(_) => AppError::Duplicate { field: "sn" },
        other => other.into(),
    })?;
    let route = ROUTES.into_iter().find(|r| *r == order.deposit_route).unwrap_or("card");
    let deposit = terminals::NewDeposit {
        terminal_id: id.clone(),
        merchant_id: order.merchant_id.clone(),
        amount: order.deposit,
        route,
        route_ref: order.bank_reference.clone().unwrap_or_default(),
        collected_at: order.paid_at.unwrap_or(Timestamp::from_millis(now)),
    };
    terminals::insert_deposit(tx, &deposit).await?;
    ledger::create(tx, &[postings::collect_deposit(&id, order.deposit)], now).await?;
    Ok(id)
}

/// Collects an order's deposit, attempt `attempt` (the worker runs it): `None` when over, else
/// when to look again and why. Asks the bank before asking again, so nothing is collected twice.
pub(crate) async fn run_payment(
    app: &App,
    channel: &dyn PayoutChannel,
    order_id: &str,
    attempt: i64,
    tries: i64,
) -> Result<Option<(i64, String)>, AppError> {
    let (order, request) = {
        let mut conn = app.db.begin_read().await?;
        let order =
            orders::by_id(&mut conn, &app.vault, order_id).await?.ok_or(AppError::NotFound("terminal order"))?;
        if order.status != OrderStatus::Paying || order.payment_attempt != attempt {
            return Ok(None);
        }
        let merchant = merchants::by_id(&mut conn, &order.merchant_id).await?.ok_or(AppError::NotFound("merchant"))?;
        let card_no = merchants::bank_card_for_payout(&mut conn, &app.vault, &order.merchant_id).await?;
        let request = CollectionOrder {
            collection_id: order.payment_id(),
            reference: order.id.clone(),
            amount_fen: order.deposit.get(),
            card_no,
            account_name: merchant.name,
        };
        (order, request)
    };
    let answer = match order.payment_status.as_deref() {
        Some("pending") => channel.collect(&request).await,
        _ => match channel.collection_status(&request.collection_id).await {
            Ok(BankStatus::NotFound) => channel.collect(&request).await,
            other => other,
        },
    };
    let wait = crate::backoff::backoff_ms(tries);
    let payment = request.collection_id;
    match answer {
        Ok(BankStatus::Processing) => {
            record(app, order_id, attempt, &["pending", "unknown"], "sent").await?;
            Ok(Some((1_000, "the bank is processing".into())))
        }
        Ok(BankStatus::Succeeded { bank_reference, paid_at_ms }) => {
            payment_succeeded(app, &payment, &bank_reference, paid_at_ms).await?;
            Ok(None)
        }
        Ok(BankStatus::Failed { failure_code, .. }) => {
            payment_failed(app, &payment, &failure_code).await?;
            Ok(None)
        }
        Ok(BankStatus::NotFound) => Ok(Some((wait, "the bank does not know the collection yet".into()))),
        Err(ChannelError::Unknown(why)) => {
            record(app, order_id, attempt, &["pending", "sent"], "unknown").await?;
            Ok(Some((wait, format!("no answer; ask the bank again: {why}"))))
        }
        Err(ChannelError::NotDone(why)) => Ok(Some((wait, format!("the bank did nothing: {why}")))),
    }
}

async fn record(app: &App, order_id: &str, attempt: i64, from: &[&str], to: &str) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    orders::record_payment(&mut tx, order_id, attempt, from, to, &PaymentAnswer::default(), app.now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// The bank is processing an attempt: recorded as sent (a late notice after a final one changes
/// nothing).
pub async fn payment_processing(app: &App, payment_id: &str) -> Result<(), AppError> {
    let Some((order_id, attempt)) = orders::parse_payment_id(payment_id) else {
        return Err(AppError::NotFound("terminal order"));
    };
    record(app, order_id, attempt, &["pending", "unknown"], "sent").await
}

/// Whether a collection id is an order's deposit payment (`to_…-N`).
pub fn is_payment(collection_id: &str) -> bool {
    orders::parse_payment_id(collection_id).is_some_and(|(order, _)| order.starts_with("to_"))
}

/// The bank collected the deposit: the order is paid, once, whatever order the news comes in.
pub async fn payment_succeeded(
    app: &App,
    payment_id: &str,
    bank_reference: &str,
    paid_at_ms: i64,
) -> Result<(), AppError> {
    let Some((order_id, attempt)) = orders::parse_payment_id(payment_id) else {
        return Err(AppError::NotFound("terminal order"));
    };
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let answer = PaymentAnswer { bank_reference: Some(bank_reference), paid_at: Some(paid_at_ms), failure_code: None };
    if !orders::record_payment(&mut tx, order_id, attempt, &["pending", "sent", "unknown"], "succeeded", &answer, now)
        .await?
    {
        return Ok(());
    }
    let order = orders::by_id(&mut tx, &app.vault, order_id).await?.ok_or(AppError::NotFound("terminal order"))?;
    let to = next(&order, OrderAction::PaymentSucceeded, Role::System)?;
    if !step(&mut tx, &order, to, &Actor::system(), bank_reference, now).await? {
        return Err(AppError::Unexpected(format!("order {order_id} paid while {:?}", order.status)));
    }
    let notice = Notice::OrderDepositPaid {
        order_id: order.id.clone(),
        deposit: order.deposit,
        bank_reference: bank_reference.to_owned(),
    };
    notices::tell(&mut tx, &order.merchant_id, &notice, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The bank refused the deposit: nothing was collected; the order is approved again and the
/// merchant may pay again (a new attempt).
pub async fn payment_failed(app: &App, payment_id: &str, failure_code: &str) -> Result<(), AppError> {
    let Some((order_id, attempt)) = orders::parse_payment_id(payment_id) else {
        return Err(AppError::NotFound("terminal order"));
    };
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let answer = PaymentAnswer { failure_code: Some(failure_code), ..PaymentAnswer::default() };
    if !orders::record_payment(&mut tx, order_id, attempt, &["pending", "sent", "unknown"], "failed", &answer, now)
        .await?
    {
        return Ok(());
    }
    let order = orders::by_id(&mut tx, &app.vault, order_id).await?.ok_or(AppError::NotFound("terminal order"))?;
    let to = next(&order, OrderAction::PaymentFailed, Role::System)?;
    step(&mut tx, &order, to, &Actor::system(), failure_code, now).await?;
    let notice = Notice::OrderPaymentFailed {
        order_id: order.id.clone(),
        deposit: order.deposit,
        failure_code: failure_code.to_owned(),
    };
    notices::tell(&mut tx, &order.merchant_id, &notice, now).await?;
    tx.commit().await?;
    Ok(())
}
