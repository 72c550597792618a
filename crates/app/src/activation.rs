//! A terminal comes to life with its first transaction: an inactive (shipped) terminal is
//! activated then, under the plan version in force — its snapshot is fixed from here on, so
//! later versions never move its goalposts — and the order it shipped as is activated.

use yajin_core::application::Role;
use yajin_core::eligibility::TerminalStatus;
use yajin_core::notice::Notice;
use yajin_core::order::{order_transition, OrderAction};
use yajin_core::Timestamp;
use yajin_store::pii::Vault;
use yajin_store::records::{orders, plans, terminals};
use yajin_store::Tx;

use crate::{notices, Actor, AppError};

/// A terminal's first transaction: if it is inactive it activates now under the plan version in
/// force (its snapshot is fixed from here on), and the order it shipped as is activated.
pub(crate) async fn activate_on_first_use(
    tx: &mut Tx,
    vault: &Vault,
    terminal_id: &str,
    at: Timestamp,
) -> Result<(), AppError> {
    let Some(terminal) = terminals::by_id(tx, terminal_id).await? else { return Ok(()) };
    if terminal.status != TerminalStatus::Inactive {
        return Ok(());
    }
    let (plan_id, plan) = plans::latest(tx, &terminal.plan.code).await?.ok_or(AppError::NotFound("deposit plan"))?;
    if !terminals::activate(tx, terminal_id, &plan_id, &plan, at).await? {
        return Ok(());
    }
    let Some(order) = orders::by_terminal(tx, vault, terminal_id).await? else { return Ok(()) };
    let Ok(to) = order_transition(order.status, OrderAction::Activate, Role::System) else { return Ok(()) };
    let system = Actor::system();
    if orders::advance(tx, &order.id, order.status, to, (system.role, &system.id), "", at.millis()).await? {
        let notice = Notice::OrderActivated { order_id: order.id.clone(), sn: terminal.sn.clone() };
        notices::tell(tx, &order.merchant_id, &notice, at.millis()).await?;
    }
    Ok(())
}
