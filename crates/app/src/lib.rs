//! Yajin's use cases. Each runs in one database transaction and talks to the store (and,
//! in later layers, to payout and SMS channels) through small interfaces.
//!
//! - [`clock`]: the time, injectable for tests.
//! - [`passwords`]: Argon2id hashing off the async threads.
//! - [`provisioning`]: creating merchants, staff, plans, terminals with their deposits, usage
//!   and outstanding items, as a deployment migrating from its old systems would.
//! - [`assessment`]: a terminal's eligibility, from its facts and its plan snapshot.
//! - [`demo`]: the fixed demo data set of api.md.

pub mod activation;
pub mod agents;
pub mod application_detail;
pub mod applications;
pub mod assessment;
pub mod attachments;
pub mod audit_trail;
pub mod auth;
pub mod backoff;
pub mod batches;
pub mod books;
pub mod clock;
pub mod collections;
pub mod demo;
pub mod devices;
pub mod evaluation;
pub mod housekeeping;
pub mod idempotency;
pub mod import;
pub mod inbox;
pub mod keys;
pub mod notices;
pub mod onboarding;
pub mod orders;
pub mod paging;
pub mod passwords;
pub mod payouts;
pub mod plans;
pub mod provisioning;
pub mod reconciliation;
pub mod reports;
pub mod review;
pub mod setup;
pub mod support;
pub mod tickets;
pub mod worker;

use std::sync::Arc;

use yajin_channels::sms::SmsGateway;
use yajin_core::application::{Role, Status};
use yajin_core::notice::Note;
use yajin_core::validation::FieldError;
use yajin_store::audit::{self, AuditEntry};
use yajin_store::pii::Vault;
use yajin_store::records::applications::{Application, NewEvent};
use yajin_store::{Db, StoreError, Tx};

pub use clock::{Clock, SystemClock};

/// The records use cases return, for the interfaces to render (they never query the store).
pub mod model {
    pub use yajin_store::audit::{AuditRow, ChainReport};
    pub use yajin_store::records::announcements::Announcement;
    pub use yajin_store::records::applications::{Application, Event, OpenApplication};
    pub use yajin_store::records::attachments::Attachment;
    pub use yajin_store::records::merchants::Merchant;
    pub use yajin_store::records::notifications::Notification;
    pub use yajin_store::records::orders::{Order, OrderEvent};
    pub use yajin_store::records::outstanding::Item;
    pub use yajin_store::records::payouts::Payout;
    pub use yajin_store::records::sessions::Session;
    pub use yajin_store::records::terminals::{Terminal, Usage};
    pub use yajin_store::records::tickets::{Message, Ticket};
}

/// What every use case needs.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    /// Shared, not copied: an `App` is cloned for every request and many use cases, and the
    /// vault's ciphers and keys are the largest thing it holds.
    pub vault: Arc<Vault>,
    pub clock: Arc<dyn Clock>,
    pub sms: Arc<dyn SmsGateway>,
    /// Refund submits waiting for a batch (PostgreSQL; see [`batches`]).
    submit_batches: Arc<batches::Batches<applications::Submit, applications::SubmitAnswer>>,
}

impl App {
    pub fn new(db: Db, vault: Vault, clock: Arc<dyn Clock>, sms: Arc<dyn SmsGateway>) -> App {
        App { db, vault: Arc::new(vault), clock, sms, submit_batches: Arc::default() }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now().millis()
    }

    /// Waits until whatever an answer of this process may show is on disk: every answer passes
    /// here before it leaves (on SQLite a write group is seen from its commit and flushed just
    /// after; see `yajin_store::group_commit`). At once when nothing is in flight.
    pub async fn seen_durable(&self) -> Result<(), AppError> {
        Ok(self.db.seen_durable().await?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that fails validation, every field at once.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{} {}", e.field, e.code)).collect::<Vec<_>>().join(", "))]
    Fields(Vec<FieldError>),
    /// Something with this identifying field exists already.
    #[error("{field} is already taken")]
    Duplicate { field: &'static str },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The object is in a state that does not allow this (a closed ticket, a published
    /// announcement, a deposit with nothing left).
    #[error("the {entity} is {status}")]
    InvalidState { entity: &'static str, status: String },
    /// A query parameter the list does not accept.
    #[error("invalid query parameter {field}")]
    InvalidQuery { field: &'static str },
    /// The same `Idempotency-Key` came with another request.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// A cursor this server did not make.
    #[error("invalid cursor")]
    InvalidCursor,
    /// Amounts would leave the range of a ledger amount: refused, never wrapped.
    #[error("amounts out of range")]
    AmountOutOfRange,
    /// The database holds data this command will not touch.
    #[error("{0}")]
    Precondition(String),
    /// A failure that is nobody's input: stored data that does not parse, a lost worker.
    /// Never a rule failure: those have their own variants.
    #[error("unexpected: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who acts: a staff member, a merchant, or Yajin itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub role: Role,
    pub id: String,
}

impl Actor {
    pub fn system() -> Actor {
        Actor { role: Role::System, id: "system".to_owned() }
    }

    /// Records what this actor did for the audit chain: the caller's transaction appends it
    /// as it commits (keyed by the vault's chain key), or forgets it if it rolls back.
    #[allow(clippy::too_many_arguments)] // each is one field of the row; a struct would only rename them
    pub fn audit(
        &self,
        vault: &Vault,
        tx: &mut Tx,
        action: &str,
        entity: &str,
        entity_id: &str,
        detail: serde_json::Value,
        now_ms: i64,
    ) {
        audit::at_commit(tx, vault, self.entry(action, entity, entity_id, detail), now_ms);
    }

    /// The timeline step of this actor moving `a` to `to`, in their `words` and with the
    /// system's `note`, with `detail` (JSON): review's and the payouts' steps alike.
    pub(crate) fn step_of<'a>(
        &'a self,
        a: &'a Application,
        to: Status,
        words: &'a str,
        note: Option<&'a Note>,
        detail: &'a str,
    ) -> NewEvent<'a> {
        NewEvent {
            application_id: &a.id,
            from: Some(a.status),
            to,
            actor_role: self.role,
            actor_id: &self.id,
            note: words,
            system_note: note,
            detail,
        }
    }

    /// What this actor did, as an entry of the audit chain (for [`audit::append_many`]).
    pub(crate) fn entry(&self, action: &str, entity: &str, entity_id: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            actor_role: self.role.as_str().to_owned(),
            actor_id: self.id.clone(),
            action: action.to_owned(),
            entity: entity.to_owned(),
            entity_id: entity_id.to_owned(),
            detail: detail.to_string(),
        }
    }
}
