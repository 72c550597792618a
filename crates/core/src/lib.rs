//! Yajin's domain: pure and synchronous. No I/O, no async, no SQL.
//!
//! - [`money`]: amounts in fen, formatting (¥ and Chinese capitals), parsing.
//! - [`ids`]: validated identifiers (phone, ID card, bank card, merchant/terminal numbers, SN).
//! - [`plan`]: versioned deposit plans.
//! - [`eligibility`]: whether a deposit can be refunded now, with every reason if not.
//! - [`application`]: the refund application state machine.
//! - [`ledger`]: double-entry, two-phase transfers and the postings of each business event.
//! - [`text`]: messages in Chinese and English.
//! - [`notice`]: what the merchant is told (notifications, timeline notes), put into words when read.

pub mod application;
pub mod attachment;
pub mod eligibility;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod notice;
pub mod order;
pub mod password;
pub mod permission;
pub mod plan;
pub mod rejection;
pub mod statement;
pub mod text;
pub mod timestamp;
pub mod validation;

pub use money::Fen;
pub use timestamp::Timestamp;
