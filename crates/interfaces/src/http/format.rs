//! Money and time as people read them, for pages and printable documents.

use time::macros::{format_description, offset};
use yajin_core::{Fen, Timestamp};

/// `¥1,234.56`.
pub fn yuan(fen: i64) -> String {
    Fen::new(fen).to_string()
}

/// A moment (RFC 3339) as China time, to the minute: `2026-11-25 17:10`.
pub fn china_minute(rfc3339: &str) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]");
    Timestamp::parse_rfc3339(rfc3339)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000).ok())
        .and_then(|d| d.to_offset(offset!(+8)).format(&format).ok())
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// A moment (RFC 3339) as its China calendar day: `2026-11-25`.
pub fn china_day(rfc3339: &str) -> String {
    Timestamp::parse_rfc3339(rfc3339).map_or_else(|| rfc3339.to_owned(), |t| t.china_date().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_china() {
        assert_eq!(china_minute("2026-11-25T16:10:00Z"), "2026-11-26 00:10");
        assert_eq!(china_day("2026-11-25T16:10:00Z"), "2026-11-26");
        assert_eq!(china_minute("not a time"), "not a time");
        assert_eq!(yuan(123_456), "¥1,234.56");
    }
}
