//! Telling the merchant: every state change writes a [`Notice`] in the transaction that made
//! it (so a merchant is told exactly when it happened, and never of something that was rolled
//! back), and the notices that ask the merchant to act or say that money moved also go out by
//! SMS — through the job queue, so a slow gateway never holds up the request.

use yajin_core::notice::Notice;
use yajin_store::records::{jobs, merchants, notifications, sms};
use yajin_store::{StoreError, Tx};

use crate::{App, AppError};

/// The job kind that texts a notification.
pub const SMS_JOB: &str = "sms";

/// Writes `notice` for the merchant and, when it goes by SMS, queues the text.
pub async fn tell(tx: &mut Tx, merchant_id: &str, notice: &Notice, now: i64) -> Result<(), StoreError> {
    let id = notifications::insert(tx, merchant_id, notice, now).await?;
    queue_text(tx, notice, &id, now).await
}

/// Queues the text of the notification `id` just stored for `notice`, when it goes by SMS.
pub async fn queue_text(tx: &mut Tx, notice: &Notice, id: &str, now: i64) -> Result<(), StoreError> {
    if notice.by_sms() {
        let payload = serde_json::json!({ "notification_id": id }).to_string();
        jobs::enqueue(tx, SMS_JOB, &format!("sms:{id}"), &payload, now, now).await?;
    }
    Ok(())
}

/// Texts one notification to the merchant's phone (the worker runs it). Delivery is at least
/// once: a worker that dies between the gateway's answer and the job's completion sends it again.
pub async fn text(app: &App, notification_id: &str, attempts: i64) -> Result<Option<(i64, String)>, AppError> {
    let (phone, words) = {
        let mut conn = app.db.begin_read().await?;
        let Some((merchant_id, n)) = notifications::by_id(&mut conn, notification_id).await? else {
            return Ok(None);
        };
        let Some(merchant) = merchants::by_id(&mut conn, &merchant_id).await? else { return Ok(None) };
        let words = match &n.notice {
            Some(notice) => notice.sms_text(),
            None => format!("【押金服务】{}", n.body),
        };
        (merchant.phone, words)
    };
    if let Err(e) = app.sms.send(&phone, &words).await {
        return Ok(Some((crate::backoff::backoff_ms(attempts), format!("SMS not delivered: {e}"))));
    }
    let mut tx = app.db.begin_write().await?;
    sms::record_message(&mut tx, &phone, &words, app.sms.name(), app.now_ms()).await?;
    tx.commit().await?;
    Ok(None)
}
