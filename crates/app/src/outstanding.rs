//! Settling what a merchant owes. In the sandbox the payment succeeds at once; the item
//! closes and the ledger records the money in, in one transaction.

use yajin_core::ledger::postings;
use yajin_store::records::notifications::{self, NewNotification};
use yajin_store::records::outstanding::{self, Item};
use yajin_store::{ledger, StoreError};

use crate::idempotency::{self, Begun, Outcome, Replay};
use crate::{App, AppError};

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("no such item")]
    NotFound,
    #[error("already settled")]
    AlreadySettled(Box<Item>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A refusal every use case shares (a reused idempotency key).
    #[error(transparent)]
    App(#[from] AppError),
}

pub async fn settle(
    app: &App,
    merchant_id: &str,
    item_id: &str,
    replay: Replay<'_, Item>,
) -> Result<Outcome<Item>, SettleError> {
    let now = app.now_ms();
    let mut work = match idempotency::begin(app, replay).await? {
        Begun::Fresh(work) => work,
        Begun::Replay(answer) => return Ok(answer),
    };
    let tx = &mut work.tx;
    let item = outstanding::of_merchant(tx, merchant_id, item_id).await?.ok_or(SettleError::NotFound)?;
    if item.status != "open" || !outstanding::close(tx, item_id, "settled", None, now).await? {
        return Err(SettleError::AlreadySettled(Box::new(item)));
    }
    ledger::create(tx, &[postings::settle_charge(item_id, merchant_id, item.amount)], now).await?;
    let actor = crate::Actor { role: yajin_core::application::Role::Merchant, id: merchant_id.to_owned() };
    let detail = serde_json::json!({"amount_fen": item.amount});
    actor.audit(tx, "settle_outstanding", "outstanding_item", item_id, detail, now).await?;
    let body = format!("您已结清 {} 款项 {}。", item.kind, item.amount);
    let note = NewNotification {
        merchant_id,
        kind: "outstanding_settled",
        title: "款项已结清",
        body: &body,
        application_id: None,
    };
    notifications::insert(tx, &note, now).await?;
    let settled = outstanding::of_merchant(tx, merchant_id, item_id).await?.ok_or(SettleError::NotFound)?;
    Ok(work.finish(settled).await?)
}
