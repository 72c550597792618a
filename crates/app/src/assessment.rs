//! A terminal's refund eligibility: gathers the facts from the store (deposit figures from the
//! ledger, what is owed, the open application, the counted volume) and asks the domain.

use yajin_core::eligibility::{assess, Assessment, DepositFigures, OwedItem, TerminalFacts};
use yajin_core::Timestamp;
use yajin_store::records::terminals::Terminal;
use yajin_store::records::{applications, merchants, outstanding, terminals};
use yajin_store::{ledger, Conn, StoreError};

use crate::AppError;

/// Everything a merchant sees about one terminal's deposit.
#[derive(Clone, Debug)]
pub struct TerminalAssessment {
    pub deposit: DepositFigures,
    pub owed: Vec<OwedItem>,
    pub open_application_id: Option<String>,
    pub assessment: Assessment,
}

pub async fn assess_terminal(
    conn: &mut Conn,
    terminal: &Terminal,
    deduct_outstanding: bool,
    now: Timestamp,
) -> Result<TerminalAssessment, AppError> {
    let deposit = ledger::deposit_figures(conn, &terminal.id).await?;
    let owed = outstanding::open_for_terminal(conn, &terminal.merchant_id, &terminal.id).await?;
    let open_application_id = applications::open_for_terminal(conn, &terminal.id)
        .await?
        .map(|a| a.id);
    let risk_frozen = merchants::by_id(conn, &terminal.merchant_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("terminal {} has no merchant", terminal.id)))?
        .risk_frozen;
    let counted_volume_fen = match (terminal.activated_at, &terminal.plan.rule) {
        (Some(activated), yajin_core::plan::RefundRule::Activation { counted_kinds, .. }) => {
            let (from, until) = terminal
                .plan
                .counting_window(activated)
                .unwrap_or((activated, activated));
            terminals::counted_volume(conn, &terminal.id, counted_kinds, from, until).await?
        }
        _ => yajin_core::Fen::ZERO,
    };
    let facts = TerminalFacts {
        status: terminal.status,
        activated_at: terminal.activated_at,
        terminated_at: terminal.terminated_at,
        device_returned: terminal.device_returned_at.is_some(),
        risk_frozen,
        deposit,
        counted_volume_fen,
        open_application_id: open_application_id.clone(),
    };
    let assessment = assess(&facts, &terminal.plan, &owed, deduct_outstanding, now)
        .map_err(|e| AppError::Refused(format!("amounts overflowed: {e}")))?;
    Ok(TerminalAssessment {
        deposit,
        owed,
        open_application_id,
        assessment,
    })
}
