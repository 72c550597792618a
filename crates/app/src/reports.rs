//! The summary report: applications by status, refunds per day, time from submit to refund.

use std::collections::BTreeMap;

use serde::Serialize;
use yajin_core::{Fen, Timestamp};
use yajin_store::records::reports;
use yajin_store::StoreError;

use crate::App;

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub applications_by_status: BTreeMap<String, i64>,
    /// China calendar day → (count, net refunded).
    pub refunded_per_day: Vec<DayTotal>,
    pub submit_to_refund_median_s: Option<i64>,
    pub submit_to_refund_p90_s: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DayTotal {
    pub day: String,
    pub count: i64,
    pub amount_fen: Fen,
}

/// The value below which `p` of the sorted values fall (nearest rank).
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub async fn summary(app: &App, days: i64) -> Result<Summary, StoreError> {
    let since = app.clock.now().plus_days(-days).millis();
    let mut conn = app.db.pool().acquire().await?;
    let applications_by_status = reports::count_by_status(&mut conn).await?.into_iter().collect();
    let refunds = reports::refunds(&mut conn, since).await?;
    let mut per_day: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut durations: Vec<i64> = Vec::with_capacity(refunds.len());
    for (submitted, refunded, net) in refunds {
        let day = Timestamp::from_millis(refunded).china_date().to_string();
        let entry = per_day.entry(day).or_default();
        entry.0 += 1;
        entry.1 += net;
        durations.push((refunded - submitted).max(0) / 1000);
    }
    durations.sort_unstable();
    Ok(Summary {
        applications_by_status,
        refunded_per_day: per_day
            .into_iter()
            .map(|(day, (count, fen))| DayTotal { day, count, amount_fen: Fen::new(fen) })
            .collect(),
        submit_to_refund_median_s: percentile(&durations, 0.5),
        submit_to_refund_p90_s: percentile(&durations, 0.9),
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.9)), (Some(5), Some(9)));
        assert_eq!(percentile(&[7], 0.9), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
