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

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-24T08:00:00.000Z`. Every answer that
    /// lists terminals or applications writes dozens of these: the digits are written straight
    /// from the civil date (Howard Hinnant's `civil_from_days`), without the formatting
    /// machinery, which was a tenth of My Devices' CPU (docs/benchmarks.md, session 19).
    pub fn to_rfc3339(self) -> String {
        let (year, month, day) = civil_from_days(self.0.div_euclid(MS_PER_DAY));
        if !(0..=9999).contains(&year) {
            return self.to_rfc3339_formatted();
        }
        let ms = self.0.rem_euclid(MS_PER_DAY);
        let mut text = String::with_capacity(24);
        push_digits(&mut text, year, 4);
        let fields = [
            ('-', month, 2),
            ('-', day, 2),
            ('T', ms / 3_600_000, 2),
            (':', ms / 60_000 % 60, 2),
            (':', ms / 1_000 % 60, 2),
            ('.', ms % 1_000, 3),
        ];
        for (separator, value, width) in fields {
            text.push(separator);
            push_digits(&mut text, value, width);
        }
        text.push('Z');
        text
    }

    /// [`Self::to_rfc3339`] through the `time` crate, for years outside 0–9999.
    fn to_rfc3339_formatted(self) -> String {
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

/// Appends `n` (not negative) as `width` decimal digits, zeros first.
fn push_digits(text: &mut String, n: i64, width: u32) {
    for place in (0..width).rev() {
        let digit = n / 10_i64.pow(place) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

/// The proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01 (Howard
/// Hinnant, "chrono-Compatible Low-Level Date Algorithms").
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn writes_what_the_calendar_library_writes(ms in -62_167_219_200_000_i64..253_402_300_800_000) {
            // Every millisecond from 0000-01-01 to 9999-12-31 reads as the `time` crate says.
            let t = Timestamp::from_millis(ms);
            proptest::prop_assert_eq!(t.to_rfc3339(), t.to_rfc3339_formatted());
        }
    }

    #[test]
    fn writes_leap_days_and_the_ends_of_its_range() {
        for text in [
            "2024-02-29T23:59:59.999Z",
            "2000-02-29T00:00:00.000Z",
            "1900-03-01T00:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00.000Z",
            "0000-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            assert_eq!(at(text).to_rfc3339(), text);
        }
        // Past year 9999 the `time` crate's answer stands (it reads such an instant as the epoch).
        let far = Timestamp::from_millis(253_402_300_800_000);
        assert_eq!(far.to_rfc3339(), far.to_rfc3339_formatted());
    }

    #[test]
    fn formats_and_parses_rfc3339() {
        let t = at("2026-11-24T08:00:00.123+08:00");
        assert_eq!(t.to_rfc3339(), "2026-11-24T00:00:00.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
