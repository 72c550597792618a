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
    /// Refunds of the period by how long they took, submission to money sent.
    pub time_to_refund: Vec<Bucket>,
    /// Applications waiting on staff now, by how long they have waited in their state.
    pub queue_age: Vec<Bucket>,
}

/// How many durations fell at or under `upper_s` (and over the previous bucket's); the last
/// bucket has no upper bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub upper_s: Option<i64>,
    pub count: i64,
}

/// The bounds of the duration buckets: an hour, a day, three days, a week, more.
pub const BUCKET_BOUNDS_S: [i64; 4] = [3_600, 86_400, 3 * 86_400, 7 * 86_400];

/// Durations (seconds) counted into the buckets of [`BUCKET_BOUNDS_S`].
pub fn buckets(durations: &[i64]) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = BUCKET_BOUNDS_S
        .iter()
        .map(|b| Some(*b))
        .chain(std::iter::once(None))
        .map(|upper_s| Bucket { upper_s, count: 0 })
        .collect();
    for d in durations {
        let index = BUCKET_BOUNDS_S.iter().position(|b| d <= b).unwrap_or(BUCKET_BOUNDS_S.len());
        out[index].count += 1;
    }
    out
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
    let now = app.clock.now().millis();
    let since = app.clock.now().plus_days(-days).millis();
    let mut conn = app.db.pool().acquire().await?;
    let applications_by_status = reports::count_by_status(&mut conn, since).await?.into_iter().collect();
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
    let waiting: Vec<i64> =
        reports::waiting_since(&mut conn).await?.into_iter().map(|since| (now - since).max(0) / 1000).collect();
    Ok(Summary {
        time_to_refund: buckets(&durations),
        queue_age: buckets(&waiting),
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
    use super::{buckets, percentile, Bucket};

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.9)), (Some(5), Some(9)));
        assert_eq!(percentile(&[7], 0.9), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn durations_fall_into_the_bucket_of_their_upper_bound() {
        let counts: Vec<i64> = buckets(&[0, 3_600, 3_601, 86_400, 200_000, 604_800, 604_801, 10_000_000])
            .into_iter()
            .map(|Bucket { count, .. }| count)
            .collect();
        assert_eq!(counts, vec![2, 2, 1, 1, 2]);
        assert_eq!(buckets(&[]).iter().map(|b| b.count).sum::<i64>(), 0);
        assert_eq!(buckets(&[]).last().unwrap().upper_s, None);
    }
}
