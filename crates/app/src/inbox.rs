//! What the merchant reads: notifications, published announcements, their own record.

use yajin_store::records::announcements::{self, Announcement};
use yajin_store::records::merchants::{self, Merchant};
use yajin_store::records::notifications::{self, Notification};
use yajin_store::records::sms;

use crate::paging::{Page, PageRequest, MAX_LIMIT};
use crate::{App, AppError};

/// The merchant's notifications, newest first.
pub async fn notifications(app: &App, merchant_id: &str, page: &PageRequest) -> Result<Page<Notification>, AppError> {
    let mut conn = app.db.begin_read().await?;
    let rows = notifications::page(&mut conn, merchant_id, page.after.as_deref(), page.fetch()).await?;
    Ok(Page::of(rows, page, |n| n.id.clone()))
}

/// Published announcements, newest first (a short list: the newest 200).
pub async fn announcements(app: &App) -> Result<Page<Announcement>, AppError> {
    let mut conn = app.db.begin_read().await?;
    Ok(Page::whole(announcements::published(&mut conn, MAX_LIMIT).await?))
}

/// The merchant's own record, with personal data masked.
pub async fn me(app: &App, merchant_id: &str) -> Result<Merchant, AppError> {
    let mut conn = app.db.begin_read().await?;
    merchants::by_id(&mut conn, merchant_id).await?.ok_or(AppError::NotFound("merchant"))
}

/// A message the sandbox SMS gateway "sent".
pub use yajin_store::records::sms::Message as SandboxSms;

/// What the sandbox gateway sent to `phone`, newest first (the sandbox inbox of a demo).
pub async fn sandbox_sms(app: &App, phone: &str) -> Result<Vec<SandboxSms>, AppError> {
    let mut conn = app.db.begin_read().await?;
    Ok(sms::messages(&mut conn, phone.trim(), "sandbox", 50).await?)
}
