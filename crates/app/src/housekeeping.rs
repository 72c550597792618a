//! Forgetting what can no longer matter: ended sessions, idempotency keys past their
//! retention, requests a rate limit counted that no window reaches any more, SMS cooldowns
//! that have passed, and the worker's jobs done a month ago. `yajin serve` runs [`prune`]
//! every few minutes; every server of a deployment may, since each statement is an idempotent
//! `DELETE … WHERE` on times.

use std::time::Duration;

use yajin_store::records::{idempotency, jobs, logins, sessions, throttle};
use yajin_store::StoreError;

use crate::App;

/// How long things are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// A retry with the same `Idempotency-Key` replays the first answer this long (≥ 24 h).
    pub idempotency_keys: Duration,
    /// Ended sessions, counted requests and cooldowns are kept this long after they end, for
    /// whoever investigates a login. Never shorter than the longest rate-limit window (a
    /// phone's codes, 24 h): a request still inside it must still count.
    pub ended: Duration,
    /// The worker's jobs are kept this long after they are done (each refund leaves about
    /// three: its payout, a look at the bank, a text).
    pub jobs_done: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            idempotency_keys: Duration::from_secs(24 * 3600),
            ended: Duration::from_secs(24 * 3600),
            jobs_done: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub idempotency_keys: u64,
    pub throttles: u64,
    pub jobs: u64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One pass, in one short transaction.
pub async fn prune(app: &App, retention: Retention) -> Result<Pruned, StoreError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let pruned = Pruned {
        sessions: sessions::prune(&mut tx, now.saturating_sub(ms(retention.ended))).await?,
        idempotency_keys: idempotency::prune(&mut tx, now.saturating_sub(ms(retention.idempotency_keys))).await?,
        throttles: throttle::prune(&mut tx, now.saturating_sub(ms(retention.ended))).await?
            + logins::prune_failures(&mut tx, now.saturating_sub(ms(retention.ended))).await?
            + logins::prune_addresses(&mut tx, now.saturating_sub(crate::auth::KNOWN_ADDRESS_MS)).await?,
        jobs: jobs::prune_done(&mut tx, now.saturating_sub(ms(retention.jobs_done))).await?,
    };
    tx.commit().await?;
    Ok(pruned)
}

/// Prunes every `every` until the process ends; a failed pass is logged and tried again.
pub async fn run(app: App, every: Duration, retention: Retention) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match prune(&app, retention).await {
            Ok(p) => tracing::debug!(?p, "pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning failed; will try again"),
        }
    }
}
