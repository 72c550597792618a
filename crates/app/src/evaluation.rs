//! Target evaluation for usage that arrived in bulk (`yajin import`, `POST
//! /api/v1/admin/transactions`), which skips the check a single new record gets: every terminal
//! with usage recorded since the last run is evaluated as if its records had come one by one —
//! the merchant is told once when the activation target is met, and under a plan that says so
//! an application is made on their behalf. `yajin evaluate` runs it; `serve` runs it every few
//! minutes.
//!
//! Incremental: a cursor (`job_cursors`, `evaluate`) remembers the last usage record looked at,
//! and each run starts a few minutes before it, so a record whose transaction committed late
//! (ids are made before commit) is not missed. Evaluating a terminal twice is harmless: the
//! notice and the application happen once (`mark_target_reached` is conditional).

use std::collections::HashMap;
use std::time::Duration;

use yajin_core::notice::Notice;
use yajin_store::records::terminals::WindowReminder;
use yajin_store::records::{cursors, devices, terminals};

use yajin_core::Fen;

use crate::applications::ApplyError;
use crate::assessment::{assess_facts, assess_terminals};
use crate::{notices, App, AppError};

const CURSOR: &str = "evaluate";
/// Usage records read per step.
const PAGE: i64 = 20_000;
/// How far before the cursor each run starts again.
const OVERLAP_MS: u64 = 5 * 60_000;
/// How long before an activation window closes the merchant is reminded (once).
pub const CLOSING_NOTICE_MS: i64 = 7 * 86_400_000;
/// Reminders handled per step.
const REMINDERS: i64 = 200;

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Usage records read.
    pub records: u64,
    /// Terminals evaluated.
    pub terminals: u64,
    /// Applications made on merchants' behalf.
    pub applied: u64,
    /// Merchants reminded that a window closes soon or has closed with the target not met.
    pub reminded: u64,
}

/// One run, from the cursor to the newest record; `progress` hears the totals after each step.
pub async fn run(app: &App, mut progress: impl FnMut(&Evaluation)) -> Result<Evaluation, AppError> {
    let mut done = Evaluation::default();
    let start = {
        let mut conn = app.db.begin_read().await?;
        cursors::get(&mut conn, CURSOR).await?
    };
    let mut after = start.map(|p| yajin_store::id_before(&p, OVERLAP_MS)).unwrap_or_default();
    loop {
        let page = terminals::usage_after(&app.db, &after, PAGE).await?;
        let Some(last) = page.iter().map(|(_, _, last)| last).max().cloned() else { break };
        done.records += page.iter().map(|(_, records, _)| *records as u64).sum::<u64>();
        let mut touched: Vec<String> = page.into_iter().map(|(terminal, _, _)| terminal).collect();
        touched.sort_unstable();
        for terminal_id in &candidates(app, &touched).await? {
            let mut tx = app.db.begin_write().await?;
            match crate::applications::on_usage(&mut tx, app, terminal_id).await {
                Ok(applied) => {
                    tx.commit().await?;
                    done.applied += u64::from(applied.is_some());
                }
                Err(ApplyError::Store(e)) => return Err(e.into()),
                // One terminal's refusal (its application cannot be made as things stand) is
                // logged, and the others are evaluated; the merchant can still apply.
                Err(e) => tracing::warn!(terminal = %terminal_id, error = %e, "evaluation could not finish a terminal"),
            }
        }
        done.terminals += touched.len() as u64;
        let mut tx = app.db.begin_write().await?;
        cursors::advance(&mut tx, CURSOR, &last, app.now_ms()).await?;
        tx.commit().await?;
        after = last;
        progress(&done);
    }
    remind(app, &mut done).await?;
    progress(&done);
    Ok(done)
}

/// The touched terminals whose target may just have been met: not marked as reached yet, and
/// at or over it by the facts as read now, outside any write transaction (most terminals are
/// not, and need no write at all). `on_usage` decides again in its own transaction.
async fn candidates(app: &App, touched: &[String]) -> Result<Vec<String>, AppError> {
    let now = app.clock.now();
    let mut by_merchant: HashMap<String, Vec<String>> = HashMap::new();
    for (terminal_id, merchant_id) in terminals::not_yet_reached(&app.db, touched).await? {
        by_merchant.entry(merchant_id).or_default().push(terminal_id);
    }
    let mut out = Vec::new();
    for (merchant_id, ids) in by_merchant {
        let (facts, merchant) = devices::of_terminals_committed(&app.db, &merchant_id, &ids).await?;
        for assessed in assess_facts(facts, &merchant, false, now)? {
            if assessed.assessment.volume.as_ref().is_some_and(|v| v.reached_fen >= v.target_fen) {
                out.push(assessed.terminal.id);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Tells merchants, once each, that a terminal's activation window closes within a week with
/// the target not met (with how far they are), and again when it has closed unmet.
async fn remind(app: &App, done: &mut Evaluation) -> Result<(), AppError> {
    loop {
        let now = app.clock.now();
        let due = {
            let mut conn = app.db.begin_read().await?;
            terminals::window_reminders_due(&mut conn, now.millis(), CLOSING_NOTICE_MS, REMINDERS).await?
        };
        if due.is_empty() {
            return Ok(());
        }
        for (terminal, which) in due {
            let mut tx = app.db.begin_write().await?;
            if !terminals::mark_window_told(&mut tx, &terminal.id, which, now.millis()).await? {
                continue;
            }
            let merchant_id = terminal.merchant_id.clone();
            let sn = terminal.sn.clone();
            let Some(assessed) = assess_terminals(&mut tx, &merchant_id, vec![terminal], false, now).await?.pop()
            else {
                tx.commit().await?;
                continue;
            };
            let (reached, target) =
                assessed.assessment.volume.as_ref().map_or((Fen::ZERO, Fen::ZERO), |v| (v.reached_fen, v.target_fen));
            let until = assessed.assessment.deadline.map(|d| d.china_date().to_string()).unwrap_or_default();
            let notice = match which {
                WindowReminder::Closing => Notice::WindowClosing { sn, until, reached, target },
                WindowReminder::Closed => Notice::WindowClosed { sn, until, reached, target },
            };
            notices::tell(&mut tx, &merchant_id, &notice, now.millis()).await?;
            tx.commit().await?;
            done.reminded += 1;
        }
    }
}

/// Runs [`run`] every `every` until the process ends, the first time half a minute after start
/// (not in the middle of starting up); a failed run is logged and tried again.
pub async fn watch(app: App, every: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(30), every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match run(&app, |_| {}).await {
            Ok(e) if e.applied > 0 => tracing::info!(?e, "usage evaluated; applications made for merchants"),
            Ok(e) => tracing::debug!(?e, "usage evaluated"),
            Err(e) => tracing::warn!(error = %e, "evaluating usage failed; will try again"),
        }
    }
}
