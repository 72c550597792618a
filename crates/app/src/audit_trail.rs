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
    Ok(audit::verify(&mut conn).await?)
}
