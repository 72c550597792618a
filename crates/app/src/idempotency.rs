//! One idempotency layer for every request that creates something or moves money (api.md's
//! conventions, the design notes' "idempotency keys"): a caller may send a key with such a
//! request; the key is claimed in the same transaction as the work, and the rendered answer is
//! stored in that transaction too. So:
//!
//! - a retry with the same key and the same request gets the first answer again (its status
//!   and its bytes), whatever happened since, and does nothing;
//! - the same key with another request is refused ([`AppError::IdempotencyKeyReused`]);
//! - a request that fails (validation, a rule, a crash) rolls back and stores nothing, so a
//!   corrected retry with the same key works;
//! - two copies racing: the second waits on the first one's claim and then replays it.
//!
//! Keys belong to one caller (`principal`): two merchants may use the same key.
//!
//! A use case takes a [`Replay`] and opens its write transaction with [`begin`] (through
//! `begin_work!`); it returns
//! [`Outcome::Replayed`] at once if the key was answered before, else works in
//! [`Work::tx`] and ends with [`Work::finish`], which stores the answer and commits.

use std::sync::atomic::{AtomicBool, Ordering};

use yajin_store::records::idempotency::{self as keys, Claim};
use yajin_store::Tx;

use crate::{App, AppError};

/// A caller's key for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Who sent it (`merchant:…`, `staff:…`): keys are scoped per caller.
    pub principal: String,
    /// The `Idempotency-Key` as sent.
    pub key: String,
    /// A digest of the request (method, path, body): another request under the same key is a
    /// client bug, refused rather than answered with the first request's answer.
    pub request_hash: String,
}

/// A function that renders a use case's result as the caller's success answer (the bytes of
/// the response body); shared, so that a use case may carry it to another thread.
pub type Render<'r, T> = std::sync::Arc<dyn Fn(&T) -> Vec<u8> + Send + Sync + 'r>;

/// What a use case needs to make its answer replayable: the caller's key, if one was sent,
/// with the status and rendering of a success.
pub struct Replay<'r, T> {
    keyed: Option<(Key, u16, Render<'r, T>)>,
}

impl<'r, T> Replay<'r, T> {
    /// No key: the request is simply carried out (the CLI, tests, a client that sent none).
    pub fn none() -> Replay<'static, T> {
        Replay { keyed: None }
    }

    /// A key, when the caller sent one.
    pub fn maybe(key: Option<Key>, status: u16, render: Render<'r, T>) -> Replay<'r, T> {
        Replay { keyed: key.map(|k| (k, status, render)) }
    }
}

impl<T> Clone for Replay<'_, T> {
    fn clone(&self) -> Self {
        Replay { keyed: self.keyed.clone() }
    }
}

impl<T> Replay<'_, T> {
    /// The caller's key, if one was sent.
    pub fn key(&self) -> Option<&Key> {
        self.keyed.as_ref().map(|(key, _, _)| key)
    }

    /// The answer `value` is to be stored as under the key, if one was sent (for a use case
    /// that claims its keys with others', [`keys::claim_many`], and stores the answer in the
    /// statement that does its work).
    pub fn answer(&self, value: &T) -> Option<keys::Answer> {
        answer_of(&self.keyed, value)
    }
}

/// The answer `value` is stored as under the key, if there is one.
fn answer_of<T>(keyed: &Option<(Key, u16, Render<'_, T>)>, value: &T) -> Option<keys::Answer> {
    keyed.as_ref().map(|(key, status, render)| keys::Answer {
        principal: key.principal.clone(),
        key: key.key.clone(),
        status: *status,
        body: render(value),
    })
}

/// A key's claim as stored: the request's digest kept keyed (see [`begin`]).
pub fn key_claim(app: &App, key: &Key) -> keys::KeyClaim {
    keys::KeyClaim {
        principal: key.principal.clone(),
        key: key.key.clone(),
        request_hash: app.vault.blind_index("idempotency_request", &key.request_hash),
    }
}

/// A use case's answer: done now, or the stored answer to an earlier request with the key.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    Replayed { status: u16, body: Vec<u8> },
}

impl<T> Outcome<T> {
    /// The result, when the work was done by this request.
    pub fn done(self) -> Option<T> {
        match self {
            Outcome::Done(value) => Some(value),
            Outcome::Replayed { .. } => None,
        }
    }
}

/// The write transaction of a request that is being carried out.
pub struct Work<'r, T> {
    pub tx: Tx,
    keyed: Option<(Key, u16, Render<'r, T>)>,
    /// Whether the work's own statement stored the answer ([`Answering::answer`]).
    answered: AtomicBool,
}

/// How [`begin`] went: carry out the request, or answer it with what was stored.
pub enum Begun<'r, T> {
    Fresh(Work<'r, T>),
    Replay(Outcome<T>),
}

/// Opens a use case's write transaction with [`begin`]: evaluates to its [`Work`], or returns
/// `Ok` of the stored answer from the enclosing use case.
macro_rules! begin_work {
    ($app:expr, $replay:expr) => {
        match $crate::idempotency::begin($app, $replay).await? {
            $crate::idempotency::Begun::Fresh(work) => work,
            $crate::idempotency::Begun::Replay(answer) => return Ok(answer),
        }
    };
}
pub(crate) use begin_work;

/// Opens the write transaction and claims the key, if any.
pub async fn begin<'r, T>(app: &App, replay: Replay<'r, T>) -> Result<Begun<'r, T>, AppError> {
    let mark = app.db.durable_mark();
    let mut tx = app.db.begin_write().await?;
    if let Some((key, _, _)) = &replay.keyed {
        // Kept keyed: a request's digest covers its body (full ID and card numbers), and a
        // plain digest of so few possible numbers would give them back to whoever reads it.
        let claim = key_claim(app, key);
        match keys::claim(&mut tx, &claim.principal, &claim.key, &claim.request_hash, app.now_ms()).await? {
            Claim::New => {}
            Claim::Replay { status, body } => {
                // The stored answer may be moments old, its work committed but not yet on
                // disk (SQLite's flush follows the commit), or not yet committed at all (a
                // request of the same write group): it is given once it is on disk, and not
                // if it was rolled back.
                tx.rollback().await?;
                app.db.durable_since(mark).await?;
                return Ok(Begun::Replay(Outcome::Replayed { status, body }));
            }
            Claim::Mismatch => return Err(AppError::IdempotencyKeyReused),
        }
    }
    Ok(Begun::Fresh(Work { tx, keyed: replay.keyed, answered: AtomicBool::new(false) }))
}

/// The part of a [`Work`] that renders its answer, apart from its transaction ([`Work::parts`]).
pub struct Answering<'w, 'r, T> {
    keyed: &'w Option<(Key, u16, Render<'r, T>)>,
    answered: &'w AtomicBool,
}

impl<T> Answering<'_, '_, T> {
    /// The answer `value` is to be stored as, if the request came with a key. The caller
    /// stores it in the work's transaction (a failure there fails the work), so
    /// [`Work::finish`] then stores nothing more.
    pub fn answer(&self, value: &T) -> Option<keys::Answer> {
        let answer = answer_of(self.keyed, value);
        self.answered.store(answer.is_some(), Ordering::Relaxed);
        answer
    }
}

impl<'r, T> Work<'r, T> {
    /// The transaction and the answer's rendering, for a write that may store its answer in
    /// the statement that does its work (one round trip fewer on PostgreSQL); it ends with
    /// [`Work::finish`] either way.
    pub fn parts(&mut self) -> (&mut Tx, Answering<'_, 'r, T>) {
        (&mut self.tx, Answering { keyed: &self.keyed, answered: &self.answered })
    }

    /// Commits what a refused request must still record (a wrong SMS code's attempt) while
    /// leaving the key unclaimed, so that a corrected retry with the same key works.
    pub async fn commit_refusal(mut self) -> Result<(), AppError> {
        if let Some((key, _, _)) = &self.keyed {
            keys::release(&mut self.tx, &key.principal, &key.key).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Stores the answer under the key (if any, unless the work's own statement stored it) and
    /// commits: the work and its answer become durable together.
    pub async fn finish(mut self, value: T) -> Result<Outcome<T>, AppError> {
        let stored = self.answered.load(Ordering::Relaxed);
        if let (Some((key, status, render)), false) = (&self.keyed, stored) {
            keys::complete(&mut self.tx, &key.principal, &key.key, *status, &render(&value)).await?;
        }
        self.tx.commit().await?;
        Ok(Outcome::Done(value))
    }
}
