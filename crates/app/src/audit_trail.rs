//! The audit log as the back office reads it, and the walk that verifies its hash chain.

use yajin_store::audit::{self, AuditRow, ChainReport};

use crate::paging::{Page, PageRequest};
use crate::{App, AppError};

/// Rows oldest first, of one entity kind or all; the cursor is the row's sequence number.
pub async fn list(app: &App, entity: Option<&str>, page: &PageRequest) -> Result<Page<AuditRow>, AppError> {
    let after = match page.after.as_deref() {
        None => 0,
        Some(c) => c.parse::<i64>().map_err(|_| AppError::InvalidCursor)?,
    };
    let mut conn = app.db.begin_read().await?;
    let rows = audit::list(&mut conn, entity, after, page.fetch()).await?;
    Ok(Page::of(rows, page, |r| r.seq.to_string()))
}

pub async fn verify(app: &App) -> Result<ChainReport, AppError> {
    let mut conn = app.db.begin_read().await?;
    Ok(audit::verify(&mut conn, &app.vault).await?)
}

/// Keys the end of a chain written before the chain was keyed (at start): a keyed checkpoint
/// row, after which the whole chain can no longer be rewritten without the key.
pub async fn key_the_chain(app: &App) -> Result<bool, AppError> {
    let mut tx = app.db.begin_write().await?;
    if !audit::ends_unkeyed(&mut tx).await? {
        return Ok(false);
    }
    crate::Actor::system().audit(
        &app.vault,
        &mut tx,
        "audit_chain_keyed",
        "audit_log",
        "head",
        serde_json::json!({}),
        app.now_ms(),
    );
    tx.commit().await?;
    Ok(true)
}

/// The chain's head, signed: an outside system records it, and any later rewrite of the rows up
/// to `seq` shows as a hash that no longer matches what it recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    pub seq: i64,
    pub hash: String,
    /// What was signed: `yajin-audit-head\n{seq}\n{hash}`.
    pub message: String,
    /// Ed25519, hex; checked with [`head_public_key`].
    pub signature: String,
}

pub async fn signed_head(app: &App) -> Result<SignedHead, AppError> {
    let mut conn = app.db.begin_read().await?;
    let (seq, hash) = audit::head(&mut conn).await?;
    let message = format!("yajin-audit-head\n{seq}\n{hash}");
    let signature = app.vault.sign_head(message.as_bytes());
    Ok(SignedHead { seq, hash, message, signature })
}

/// The public key of the head's signatures (Ed25519, hex).
pub fn head_public_key(app: &App) -> String {
    app.vault.head_public_key()
}
