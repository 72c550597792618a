//! Rows of the business records, each module one table family. Every function takes the
//! caller's connection or transaction: the use case decides the transaction's bounds.

pub mod announcements;
pub mod applications;
pub mod attachments;
pub mod collections;
pub mod cursors;
pub mod devices;
pub mod idempotency;
pub mod identity_misses;
pub mod jobs;
pub mod logins;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod outstanding;
pub mod payouts;
pub mod plans;
pub mod reports;
pub mod sealed;
pub mod sessions;
pub mod sms;
pub mod staff;
pub mod terminals;
pub mod throttle;
pub mod tickets;
pub mod vault_secrets;

use crate::sql::{query, Conn};

use crate::StoreError;

/// How many of the main records exist: tells an empty database from one in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCounts {
    pub merchants: i64,
    pub terminals: i64,
    pub staff: i64,
}

impl RecordCounts {
    pub fn is_empty(&self) -> bool {
        self.merchants == 0 && self.terminals == 0 && self.staff == 0
    }
}

pub async fn counts(conn: &mut Conn) -> Result<RecordCounts, StoreError> {
    let row = query(
        "SELECT (SELECT count(*) FROM merchants) AS m, (SELECT count(*) FROM terminals) AS t, (SELECT count(*) FROM staff) AS s",
    )
    .fetch_one(conn)
    .await?;
    Ok(RecordCounts { merchants: row.try_get("m")?, terminals: row.try_get("t")?, staff: row.try_get("s")? })
}
