//! Settling what a merchant owes through the payout channel: pressing "settle" starts a
//! collection (the item is `settling`); only the channel's confirmation settles the item and
//! posts the money; a failure gives the item back, `open`, with the bank's reason. A settling
//! item still blocks a refund and cannot be deducted from one: a debt is never taken twice.
//!
//! The worker runs a collection as [`crate::payouts`] runs a payout: the row exists before the
//! bank hears of it, no transaction spans the bank call, outcomes are conditional updates.

use yajin_channels::payout::{BankStatus, ChannelError, CollectionOrder, PayoutChannel};
use yajin_core::application::Role;
use yajin_core::ledger::postings;
use yajin_core::notice::Notice;
use yajin_store::records::collections::{self, Collection};
use yajin_store::records::outstanding::{self, Item};
use yajin_store::records::payouts::Answer;
use yajin_store::records::{jobs, merchants};
use yajin_store::{ledger, StoreError};

use crate::idempotency::{begin_work, Outcome, Replay};
use crate::{notices, Actor, App, AppError};

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("no such item")]
    NotFound,
    /// Settled, deducted, or being collected already.
    #[error("already settled or settling")]
    AlreadySettled(Box<Item>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A refusal every use case shares (a reused idempotency key).
    #[error(transparent)]
    App(#[from] AppError),
}

/// Starts collecting one of the merchant's open items; returns it, `settling`.
pub async fn settle(
    app: &App,
    merchant_id: &str,
    item_id: &str,
    replay: Replay<'_, Item>,
) -> Result<Outcome<Item>, SettleError> {
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let tx = &mut work.tx;
    let item = outstanding::of_merchant(tx, merchant_id, item_id).await?.ok_or(SettleError::NotFound)?;
    let Some(collection_id) = collections::start(tx, item_id, merchant_id, item.amount, now).await? else {
        return Err(SettleError::AlreadySettled(Box::new(item)));
    };
    let payload = serde_json::json!({"collection_id": collection_id}).to_string();
    jobs::enqueue(tx, "collection", &format!("collection:{collection_id}"), &payload, now, now).await?;
    let actor = Actor { role: Role::Merchant, id: merchant_id.to_owned() };
    let detail = serde_json::json!({"amount_fen": item.amount, "collection_id": collection_id});
    actor.audit(&app.vault, tx, "settle_outstanding", "outstanding_item", item_id, detail, now);
    let settling = outstanding::of_merchant(tx, merchant_id, item_id).await?.ok_or(SettleError::NotFound)?;
    Ok(work.finish(settling).await?)
}

/// Runs a collection job: `None` when it is over, else when to look again and why.
pub(crate) async fn run(
    app: &App,
    channel: &dyn PayoutChannel,
    collection_id: &str,
    attempts: i64,
) -> Result<Option<(i64, String)>, AppError> {
    let (collection, order) = {
        let mut conn = app.db.begin_read().await?;
        let c = collections::by_id(&mut conn, collection_id).await?.ok_or(AppError::NotFound("collection"))?;
        if matches!(c.status.as_str(), "succeeded" | "failed") {
            return Ok(None);
        }
        let merchant = merchants::by_id(&mut conn, &c.merchant_id).await?.ok_or(AppError::NotFound("merchant"))?;
        let card_no = merchants::bank_card_for_payout(&mut conn, &app.vault, &c.merchant_id).await?;
        let order = CollectionOrder {
            collection_id: c.id.clone(),
            reference: c.item_id.clone(),
            amount_fen: c.amount.get(),
            card_no,
            account_name: merchant.name,
        };
        (c, order)
    };
    let answer = match collection.status.as_str() {
        "pending" => channel.collect(&order).await,
        _ => match channel.collection_status(&collection.id).await {
            Ok(BankStatus::NotFound) => channel.collect(&order).await,
            other => other,
        },
    };
    let wait = crate::backoff::backoff_ms(attempts);
    match answer {
        Ok(BankStatus::Processing) => {
            advance(app, collection_id, &["pending", "unknown"], "sent").await?;
            Ok(Some((1_000, "the bank is processing".into())))
        }
        Ok(BankStatus::Succeeded { bank_reference, .. }) => {
            succeeded(app, collection_id, &bank_reference).await?;
            Ok(None)
        }
        Ok(BankStatus::Failed { failure_code, failure_message }) => {
            failed(app, collection_id, &failure_code, &failure_message).await?;
            Ok(None)
        }
        Ok(BankStatus::NotFound) => Ok(Some((wait, "the bank does not know the collection yet".into()))),
        Err(ChannelError::Unknown(why)) => {
            advance(app, collection_id, &["pending", "sent"], "unknown").await?;
            Ok(Some((wait, format!("no answer; ask the bank again: {why}"))))
        }
        Err(ChannelError::NotDone(why)) => Ok(Some((wait, format!("the bank did nothing: {why}")))),
    }
}

async fn advance(app: &App, id: &str, from: &[&str], to: &str) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    collections::advance(&mut tx, id, from, to, &Answer::default(), app.now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// The bank has collected: the item is settled and the money recorded, once.
pub async fn succeeded(app: &App, collection_id: &str, bank_reference: &str) -> Result<(), AppError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let answer = Answer { bank_reference: Some(bank_reference), ..Answer::default() };
    if !collections::advance(&mut tx, collection_id, &["pending", "sent", "unknown"], "succeeded", &answer, now).await?
    {
        return Ok(());
    }
    let c: Collection = collections::by_id(&mut tx, collection_id).await?.ok_or(AppError::NotFound("collection"))?;
    if !outstanding::settle_by(&mut tx, &c.item_id, &c.id, now).await? {
        return Err(AppError::Unexpected(format!("collection {} succeeded for an item it does not hold", c.id)));
    }
    ledger::create(&mut tx, &[postings::settle_charge(&c.item_id, &c.merchant_id, c.amount)], now).await?;
    let kind = item_kind(&mut tx, &c).await?;
    let notice = Notice::OutstandingSettled { kind, amount: c.amount, bank_reference: bank_reference.to_owned() };
    notices::tell(&mut tx, &c.merchant_id, &notice, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The bank could not collect: the item is open again, with the reason told.
pub async fn failed(app: &App, collection_id: &str, code: &str, message: &str) -> Result<(), AppError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let answer = Answer { failure_code: Some(code), failure_message: Some(message), ..Answer::default() };
    if !collections::advance(&mut tx, collection_id, &["pending", "sent", "unknown"], "failed", &answer, now).await? {
        return Ok(());
    }
    let c = collections::by_id(&mut tx, collection_id).await?.ok_or(AppError::NotFound("collection"))?;
    collections::release_item(&mut tx, &c.item_id, &c.id).await?;
    let kind = item_kind(&mut tx, &c).await?;
    let notice = Notice::CollectionFailed { kind, amount: c.amount, failure_code: code.to_owned() };
    notices::tell(&mut tx, &c.merchant_id, &notice, now).await?;
    tx.commit().await?;
    Ok(())
}

/// What the collected item was (a service fee, a SIM fee, …), to name it to the merchant.
async fn item_kind(tx: &mut yajin_store::Tx, c: &Collection) -> Result<String, StoreError> {
    Ok(outstanding::of_merchant(tx, &c.merchant_id, &c.item_id).await?.map(|i| i.kind).unwrap_or_default())
}

/// A collection the bank is processing (a late notice after a final one changes nothing).
pub async fn processing(app: &App, collection_id: &str) -> Result<(), AppError> {
    advance(app, collection_id, &["pending", "unknown"], "sent").await
}
