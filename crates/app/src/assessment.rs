//! Terminals' refund eligibility: gathers the facts from the store (deposit figures from the
//! ledger, what is owed, open applications, counted volume) in a fixed number of queries for
//! any number of terminals, and asks the domain.

use std::collections::HashMap;

use yajin_core::eligibility::{assess, Assessment, DepositFigures, OwedItem, TerminalFacts};
use yajin_core::plan::TxnKind;
use yajin_core::{Fen, Timestamp};
use yajin_store::records::terminals::Terminal;
use yajin_store::records::{applications, merchants, outstanding, terminals};
use yajin_store::{ledger, Conn};

use crate::AppError;

/// Everything a merchant sees about one terminal's deposit.
#[derive(Clone, Debug)]
pub struct TerminalAssessment {
    pub terminal: Terminal,
    pub deposit: DepositFigures,
    pub owed: Vec<OwedItem>,
    pub open_application_id: Option<String>,
    pub assessment: Assessment,
}

/// Assesses the merchant's `list` of terminals; `deduct_outstanding` is the merchant's consent
/// to have what is owed deducted.
pub async fn assess_terminals(
    conn: &mut Conn,
    merchant_id: &str,
    list: Vec<Terminal>,
    deduct_outstanding: bool,
    now: Timestamp,
) -> Result<Vec<TerminalAssessment>, AppError> {
    let ids: Vec<String> = list.iter().map(|t| t.id.clone()).collect();
    let mut figures = ledger::deposit_figures_of(conn, &ids).await?;
    let open: HashMap<String, String> = applications::open_for_terminals(conn, &ids).await?.into_iter().collect();
    let owed_all = outstanding::open_of_merchant(conn, merchant_id).await?;
    let mut volumes: HashMap<String, Vec<(TxnKind, Fen)>> = HashMap::new();
    for (terminal, kind, volume) in terminals::window_volumes(conn, merchant_id, &ids).await? {
        if let Some(kind) = TxnKind::parse(&kind) {
            volumes.entry(terminal).or_default().push((kind, volume));
        }
    }
    let risk_frozen = merchants::by_id(conn, merchant_id).await?.ok_or(AppError::NotFound("merchant"))?.risk_frozen;
    let mut out = Vec::with_capacity(list.len());
    for terminal in list {
        let owed: Vec<OwedItem> = owed_all
            .iter()
            .filter(|(t, _)| t.as_deref().is_none_or(|t| t == terminal.id))
            .map(|(_, item)| item.clone())
            .collect();
        let counted = volumes.get(&terminal.id).map_or(Ok(Fen::ZERO), |v| {
            Fen::sum(v.iter().filter(|(kind, _)| terminal.plan.counts(*kind)).map(|(_, fen)| *fen))
        });
        let deposit = figures.remove(&terminal.id).unwrap_or_default();
        let facts = TerminalFacts {
            status: terminal.status,
            activated_at: terminal.activated_at,
            terminated_at: terminal.terminated_at,
            device_returned: terminal.device_returned_at.is_some(),
            risk_frozen,
            deposit,
            counted_volume_fen: counted.map_err(|_| AppError::AmountOutOfRange)?,
            open_application_id: open.get(&terminal.id).cloned(),
        };
        let assessment =
            assess(&facts, &terminal.plan, &owed, deduct_outstanding, now).map_err(|_| AppError::AmountOutOfRange)?;
        out.push(TerminalAssessment {
            terminal,
            deposit,
            owed,
            open_application_id: facts.open_application_id,
            assessment,
        });
    }
    Ok(out)
}

/// One terminal of the merchant by SN, assessed; `None` for an unknown SN or another
/// merchant's terminal.
pub async fn assess_by_sn(
    conn: &mut Conn,
    merchant_id: &str,
    sn: &str,
    deduct_outstanding: bool,
    now: Timestamp,
) -> Result<Option<TerminalAssessment>, AppError> {
    let Some(terminal) = terminals::by_sn(conn, merchant_id, sn).await? else { return Ok(None) };
    Ok(assess_terminals(conn, merchant_id, vec![terminal], deduct_outstanding, now).await?.pop())
}
