//! Whether the books balance: every account's stored counters recomputed from its transfers.
//! Admins ask for it (`GET /api/v1/ledger/verify`); `serve` also checks it every night and
//! logs an error naming each account that does not balance.

use std::time::Duration;

use yajin_store::ledger::{self, Mismatch};

use crate::{App, AppError};

/// What a check of the books found.
#[derive(Debug)]
pub struct LedgerReport {
    /// Accounts checked.
    pub accounts: i64,
    /// The accounts whose counters differ from their transfers (none when the books balance).
    pub mismatches: Vec<Mismatch>,
}

pub async fn verify(app: &App) -> Result<LedgerReport, AppError> {
    let mut conn = app.db.begin_read().await?;
    let accounts = ledger::account_count(&mut conn).await?;
    let mismatches = ledger::verify(&mut conn).await?;
    Ok(LedgerReport { accounts, mismatches })
}

/// Checks the books every `every`, for as long as the process runs.
pub async fn watch(app: App, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        match verify(&app).await {
            Ok(report) if report.mismatches.is_empty() => {
                tracing::info!(accounts = report.accounts, "the books balance");
            }
            Ok(report) => {
                for m in &report.mismatches {
                    tracing::error!(account = %m.account_id, stored = ?m.stored, derived = ?m.derived, "an account does not balance");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the nightly check of the books could not run"),
        }
    }
}
