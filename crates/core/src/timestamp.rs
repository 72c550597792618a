//! Instants as milliseconds since the Unix epoch (UTC), and the calendar days of China
//! Standard Time (UTC+8, no daylight saving) that deposit rules count in.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time, UtcOffset};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("UTC+8 is a valid offset"),
};
const MS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(MS_PER_DAY)))
    }

    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// The China calendar date this instant falls on.
    pub fn china_date(self) -> Date {
        self.to_offset_date_time().to_offset(CHINA).date()
    }

    /// The last millisecond of the China calendar day that lies `days` after this instant's
    /// day: "within 90 days of activation, the last day counts".
    pub fn end_of_china_day_after(self, days: u32) -> Timestamp {
        let last_day = self.china_date() + Duration::days(i64::from(days));
        let next_midnight = (last_day + Duration::days(1)).with_time(Time::MIDNIGHT).assume_offset(CHINA);
        Timestamp((next_midnight.unix_timestamp_nanos() / 1_000_000) as i64 - 1)
    }

    /// Whole China calendar days from `self`'s day to `later`'s day (negative if earlier).
    pub fn china_days_until(self, later: Timestamp) -> i64 {
        (later.china_date() - self.china_date()).whole_days()
    }

    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-24T08:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        let t = self.to_offset_date_time();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }

    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok().map(Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn the_last_day_of_a_window_counts_in_china_time() {
        // Activated 10 Jan at 23:30 in Shanghai (15:30 UTC): day 90 is 10 April, to midnight.
        let activated = at("2026-01-10T15:30:00Z");
        let deadline = activated.end_of_china_day_after(90);
        assert_eq!(deadline.to_rfc3339(), "2026-04-10T15:59:59.999Z");
        // 16:30 UTC on 10 Jan is already 11 Jan in Shanghai.
        assert_eq!(at("2026-01-10T16:30:00Z").end_of_china_day_after(90).to_rfc3339(), "2026-04-11T15:59:59.999Z");
    }

    #[test]
    fn counts_calendar_days() {
        assert_eq!(at("2026-01-10T15:30:00Z").china_days_until(at("2026-01-10T16:30:00Z")), 1);
        assert_eq!(at("2026-01-10T00:00:00Z").china_days_until(at("2026-01-09T00:00:00Z")), -1);
    }

    #[test]
    fn formats_and_parses_rfc3339() {
        let t = at("2026-11-24T08:00:00.123+08:00");
        assert_eq!(t.to_rfc3339(), "2026-11-24T00:00:00.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
