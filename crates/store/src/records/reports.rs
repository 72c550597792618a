//! Figures for the summary report.

use crate::sql::{query, Conn};

use crate::StoreError;

/// Applications submitted since `since_ms`, per status they are in now.
pub async fn count_by_status(conn: &mut Conn, since_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = query(
        "SELECT status, count(*) AS n FROM refund_applications WHERE created_at >= $1 GROUP BY status ORDER BY status",
    )
    .bind(since_ms)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
}

/// For every refunded application: when it was submitted, when it was refunded, the net paid.
pub async fn refunds(conn: &mut Conn, since_ms: i64) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    let rows = query(
        "SELECT a.created_at AS submitted, e.at AS refunded, a.net_refund_fen AS net
         FROM refund_applications a JOIN application_events e ON e.application_id = a.id AND e.to_status = 'refunded'
         WHERE a.status = 'refunded' AND e.at >= $1 ORDER BY e.at",
    )
    .bind(since_ms)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("submitted")?, r.try_get("refunded")?, r.try_get("net")?))).collect()
}

/// When each application waiting on staff (in review, to be reviewed or approved, or with a
/// failed payout) last changed state.
pub async fn waiting_since(conn: &mut Conn) -> Result<Vec<i64>, StoreError> {
    let rows = query(
        "SELECT updated_at FROM refund_applications
         WHERE status IN ('submitted', 'in_review', 'awaiting_second_approval', 'payout_failed')",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| r.try_get("updated_at")).collect()
}
