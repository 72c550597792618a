//! Terminals' refund eligibility: gathers the facts from the store (deposit figures from the
//! ledger, what is owed, open applications, counted volume) in one statement for any number of
//! terminals, and asks the domain.

use std::collections::HashMap;

use yajin_core::eligibility::{assess, Assessment, DepositFigures, OwedItem, TerminalFacts};
use yajin_core::plan::TxnKind;
use yajin_core::{Fen, Timestamp};
use yajin_store::records::applications::OpenApplication;
use yajin_store::records::devices;
use yajin_store::records::terminals::Terminal;
use yajin_store::Conn;

use crate::AppError;

/// Everything a merchant sees about one terminal's deposit.
#[derive(Clone, Debug)]
pub struct TerminalAssessment {
    pub terminal: Terminal,
    pub deposit: DepositFigures,
    pub owed: Vec<OwedItem>,
    pub open_application: Option<OpenApplication>,
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
    let (facts, merchant) = devices::of_terminals(conn, merchant_id, &ids).await?;
    // In the order asked for (the statement reads them by SN).
    let mut by_id: HashMap<String, devices::TerminalFacts> =
        facts.into_iter().map(|f| (f.terminal.id.clone(), f)).collect();
    let facts = ids.iter().filter_map(|id| by_id.remove(id)).collect();
    assess_facts(facts, &merchant, deduct_outstanding, now)
}

/// Asks the domain about terminals whose facts are gathered (by [`assess_terminals`], or by
/// one statement for My Devices).
pub fn assess_facts(
    facts: Vec<devices::TerminalFacts>,
    merchant: &devices::MerchantFacts,
    deduct_outstanding: bool,
    now: Timestamp,
) -> Result<Vec<TerminalAssessment>, AppError> {
    let mut out = Vec::with_capacity(facts.len());
    for devices::TerminalFacts { terminal, deposit, volumes, open_application } in facts {
        let owed: Vec<OwedItem> = merchant
            .owed
            .iter()
            .filter(|(t, _)| t.as_deref().is_none_or(|t| t == terminal.id))
            .map(|(_, item)| item.clone())
            .collect();
        let counted = Fen::sum(
            volumes
                .iter()
                .filter(|(kind, _)| TxnKind::parse(kind).is_some_and(|k| terminal.plan.counts(k)))
                .map(|(_, fen)| *fen),
        );
        let facts = TerminalFacts {
            status: terminal.status,
            activated_at: terminal.activated_at,
            terminated_at: terminal.terminated_at,
            device_returned: terminal.device_returned_at.is_some(),
            risk_frozen: merchant.risk_frozen,
            deposit,
            counted_volume_fen: counted.map_err(|_| AppError::AmountOutOfRange)?,
            open_application_id: open_application.as_ref().map(|o| o.id.clone()),
        };
        let assessment =
            assess(&facts, &terminal.plan, &owed, deduct_outstanding, now).map_err(|_| AppError::AmountOutOfRange)?;
        out.push(TerminalAssessment { terminal, deposit, owed, open_application, assessment });
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
    let Some((facts, merchant)) = devices::of_sn(conn, merchant_id, sn).await? else { return Ok(None) };
    Ok(assess_facts(vec![facts], &merchant, deduct_outstanding, now)?.pop())
}
