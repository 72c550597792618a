//! Money and time as people read them, for pages and printable documents.

use time::macros::{format_description, offset};
use yajin_core::text::Lang;
use yajin_core::{Fen, Timestamp};

/// `¥1,234.56`.
pub fn yuan(fen: i64) -> String {
    Fen::new(fen).to_string()
}

/// A moment (RFC 3339) as Beijing time, to the minute, saying so:
/// `2026-11-25 17:10（北京时间）`, `2026-11-25 17:10 (Beijing time)`.
pub fn china_minute(rfc3339: &str, lang: Lang) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]");
    let zone = if lang == Lang::En { " (Beijing time)" } else { "（北京时间）" };
    Timestamp::parse_rfc3339(rfc3339)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000).ok())
        .and_then(|d| d.to_offset(offset!(+8)).format(&format).ok())
        .map_or_else(|| rfc3339.to_owned(), |t| format!("{t}{zone}"))
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
        assert_eq!(china_minute("2026-09-26T03:50:00Z", Lang::Zh), "2026-09-26 11:50（北京时间）");
        assert_eq!(china_minute("2026-11-25T16:10:00Z", Lang::En), "2026-11-26 00:10 (Beijing time)");
        assert_eq!(china_day("2026-11-25T16:10:00Z"), "2026-11-26");
        assert_eq!(china_minute("not a time", Lang::Zh), "not a time");
        assert_eq!(yuan(123_456), "¥1,234.56");
    }
}
