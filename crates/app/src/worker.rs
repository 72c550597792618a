//! The background worker: it takes due jobs (the outbox rows that approvals and settlements
//! write in their own transactions) and runs them — payouts ([`crate::payouts`]), collections
//! ([`crate::collections`]) and texts to merchants ([`crate::notices`]) — several side by side,
//! and applies the bank's callbacks to both. Jobs are claimed with a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; SQLite serialises writers), so any number of workers may run beside
//! each other; a worker that dies holding a job delays it by the lease, and the job's work is
//! safe to run again.

use std::sync::Arc;
use std::time::Duration;

use yajin_channels::payout::{BankStatus, Callback, PayoutChannel};
use yajin_store::records::jobs::{self, Job};

use crate::backoff::backoff_ms;
use crate::{collections, notices, orders, payouts, App, AppError};

/// How long a claimed job is a worker's before another may take it over (a worker that died
/// holding one delays it this long).
pub const LEASE_MS: i64 = 30_000;

/// How many jobs a worker runs at once unless told otherwise (`YAJIN_WORKER_JOBS`). A payout
/// spends nearly all its time waiting for the bank: one job at a time would pay at most one
/// refund per bank round trip (17.7 a second against a bank answering in 50 ms, measured by
/// `bench/payouts.sh`), and a text to a slow SMS gateway would hold every payout behind it.
pub const JOBS_AT_ONCE: usize = 16;

/// Runs one due job, if any; says whether there was one.
pub async fn run_once(app: &App, channel: &dyn PayoutChannel, worker: &str, lease_ms: i64) -> Result<bool, AppError> {
    let Some(job) = claim(app, worker, lease_ms, 1).await?.pop() else { return Ok(false) };
    run(app, channel, worker, &job, None).await?;
    Ok(true)
}

/// Claims up to `limit` due jobs in one transaction; asks first with a read, so that an idle
/// worker does not take the write lock every time it looks.
async fn claim(app: &App, worker: &str, lease_ms: i64, limit: usize) -> Result<Vec<Job>, AppError> {
    let now = app.now_ms();
    let due = {
        let mut conn = app.db.begin_read().await?;
        jobs::any_due(&mut conn, now).await?
    };
    if !due {
        return Ok(Vec::new());
    }
    let mut tx = app.db.begin_write().await?;
    let jobs = jobs::claim(&mut tx, app.db.backend(), worker, now, lease_ms, limit).await?;
    tx.commit().await?;
    Ok(jobs)
}

/// Runs a claimed job's work, then records what is next for it: done, or when to run again.
/// With a lease (`next_lease_ms`), the transaction that records it also claims the next due
/// job for the slot this one leaves, if any, and gives it back: one commit where a read to
/// see whether any was due and a second transaction to claim it were, for every job run.
/// (Were that claim to fail, the job's outcome is not recorded either, and the job runs again
/// once its lease ends: its work is safe to run again.)
async fn run(
    app: &App,
    channel: &dyn PayoutChannel,
    worker: &str,
    job: &Job,
    next_lease_ms: Option<i64>,
) -> Result<Option<Job>, AppError> {
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
    // A payout the bank is now processing, recorded `sent` with the job's outcome below.
    let mut sent = None;
    let next = match job.kind.as_str() {
        "payout" => match payload["application_id"].as_str() {
            Some(id) => payouts::pay(app, channel, id, job.attempts).await.map(|run| {
                sent = run.sent;
                run.next
            }),
            None => Err(AppError::Unexpected(format!("payout job {} without an application", job.id))),
        },
        "collection" => match payload["collection_id"].as_str() {
            Some(id) => collections::run(app, channel, id, job.attempts).await,
            None => Err(AppError::Unexpected(format!("collection job {} without a collection", job.id))),
        },
        orders::PAYMENT_JOB => match (payload["order_id"].as_str(), payload["attempt"].as_i64()) {
            (Some(id), Some(attempt)) => orders::run_payment(app, channel, id, attempt, job.attempts).await,
            _ => Err(AppError::Unexpected(format!("order payment job {} without its order", job.id))),
        },
        notices::SMS_JOB => match payload["notification_id"].as_str() {
            Some(id) => notices::text(app, id, job.attempts).await,
            None => Err(AppError::Unexpected(format!("SMS job {} without a notification", job.id))),
        },
        other => Err(AppError::Unexpected(format!("unknown job kind {other}"))),
    };
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    if let Some(payout_id) = &sent {
        payouts::record_sent_in(&mut tx, payout_id, now).await?;
    }
    match next {
        Ok(None) => {
            jobs::complete(&mut tx, job, worker, now).await?;
        }
        Ok(Some((ms, why))) => {
            jobs::reschedule(&mut tx, job, worker, now + ms, Some(&why), now).await?;
        }
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "job failed; it runs again later");
            jobs::reschedule(&mut tx, job, worker, now + backoff_ms(job.attempts), Some(&e.to_string()), now).await?;
        }
    }
    let following = match next_lease_ms {
        Some(lease_ms) => jobs::claim(&mut tx, app.db.backend(), worker, now, lease_ms, 1).await?.pop(),
        None => None,
    };
    tx.commit().await?;
    Ok(following)
}

/// Runs jobs, up to `jobs_at_once` of them side by side, until `stop` says so: a serve's or a
/// `yajin worker`'s background task. A slot whose job ends claims the next due job as it
/// records the outcome ([`run`]); a slot that frees otherwise claims at once; with nothing
/// due the worker looks again every 100 ms. Once stopped it claims nothing more and
/// returns when the jobs it runs have finished (each is bounded by the channel's timeout; one
/// cut short anyway, by a crash, is taken over when its lease ends, and runs again safely).
pub async fn work(
    app: App,
    channel: Arc<dyn PayoutChannel>,
    worker: String,
    lease_ms: i64,
    jobs_at_once: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let jobs_at_once = jobs_at_once.max(1);
    let mut running = tokio::task::JoinSet::new();
    loop {
        // Stopped, or nobody left to say so (the sender dropped).
        if *stop.borrow() || stop.has_changed().is_err() {
            while running.join_next().await.is_some() {}
            return;
        }
        let free = jobs_at_once - running.len();
        if free > 0 {
            match claim(&app, &worker, lease_ms, free).await {
                Ok(jobs) => {
                    for job in jobs {
                        let (app, channel, worker) = (app.clone(), channel.clone(), worker.clone());
                        let stop = stop.clone();
                        running.spawn(async move {
                            // The slot runs the next due job it claims as it records this one's
                            // outcome, until none is due or the worker is stopping.
                            let mut job = Some(job);
                            while let Some(current) = job.take() {
                                let stopping = *stop.borrow() || stop.has_changed().is_err();
                                match run(&app, channel.as_ref(), &worker, &current, (!stopping).then_some(lease_ms)).await {
                                    Ok(following) => job = following,
                                    // Its claim ends with the lease; the job runs again then.
                                    Err(e) => {
                                        tracing::warn!(job = %current.id, error = %e, "a job's outcome could not be recorded")
                                    }
                                }
                            }
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the worker could not claim jobs"),
            }
        }
        if running.len() == jobs_at_once {
            // Every slot is busy: the next to finish frees one.
            tokio::select! {
                _ = running.join_next() => {}
                _ = stop.changed() => {}
            }
        } else {
            // Nothing more is due now: look again shortly, or when a job finishes (it may
            // have queued another, a text to the merchant say).
            tokio::select! {
                Some(_) = running.join_next() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// A bank's signed notice (already verified by the caller), applied whatever order it comes
/// in and however often: only forward moves from a non-final status happen.
pub async fn notice(app: &App, callback: &Callback) -> Result<(), AppError> {
    let mark = app.db.durable_mark();
    // A payout's use cases find it as they move it, and refuse one that is not there: no read
    // first for the callback of every payout (the busiest kind).
    let known = match callback.kind.as_str() {
        "payout" => true,
        "collection" => {
            let mut conn = app.db.begin_read().await?;
            if orders::is_payment(&callback.id) {
                let order = yajin_store::records::orders::parse_payment_id(&callback.id).map(|(order, _)| order);
                yajin_store::records::orders::by_id(&mut conn, &app.vault, order.unwrap_or_default()).await?.is_some()
            } else {
                yajin_store::records::collections::by_id(&mut conn, &callback.id).await?.is_some()
            }
        }
        _ => false,
    };
    if !known {
        return Err(AppError::NotFound("payout"));
    }
    apply_notice(app, callback).await?;
    // A duplicate finds the first notice's work done, perhaps committed but not yet on disk
    // (SQLite's flush follows the commit): the bank hears "applied" once it is.
    Ok(app.db.durable_since(mark).await?)
}

async fn apply_notice(app: &App, callback: &Callback) -> Result<(), AppError> {
    match (callback.kind.as_str(), &callback.status) {
        ("payout", BankStatus::Succeeded { bank_reference, paid_at_ms }) => {
            payouts::succeeded(app, &callback.id, bank_reference, *paid_at_ms).await
        }
        ("payout", BankStatus::Failed { failure_code, failure_message }) => {
            payouts::failed(app, &callback.id, failure_code, failure_message).await
        }
        ("payout", BankStatus::Processing) => payouts::processing(app, &callback.id).await,
        (_, BankStatus::Succeeded { bank_reference, paid_at_ms }) if orders::is_payment(&callback.id) => {
            orders::payment_succeeded(app, &callback.id, bank_reference, *paid_at_ms).await
        }
        (_, BankStatus::Failed { failure_code, .. }) if orders::is_payment(&callback.id) => {
            orders::payment_failed(app, &callback.id, failure_code).await
        }
        (_, BankStatus::Processing) if orders::is_payment(&callback.id) => {
            orders::payment_processing(app, &callback.id).await
        }
        (_, BankStatus::Succeeded { bank_reference, .. }) => {
            collections::succeeded(app, &callback.id, bank_reference).await
        }
        (_, BankStatus::Failed { failure_code, failure_message }) => {
            collections::failed(app, &callback.id, failure_code, failure_message).await
        }
        (_, BankStatus::Processing) => collections::processing(app, &callback.id).await,
        (_, BankStatus::NotFound) => Ok(()),
    }
}
