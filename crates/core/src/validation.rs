//! Field-level validation errors, reported all at once.

use std::borrow::Cow;

use crate::ids::IdError;
use crate::text::Text;
use crate::Timestamp;

/// One problem with one input field: `field` as the client named it, a stable `code`, and a
/// message, in Chinese and English, saying what would be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: Text,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: &'static str,
        zh: impl Into<Cow<'static, str>>,
        en: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self { field: field.into(), code, message: Text::new(zh, en) }
    }

    pub fn from_id(field: impl Into<String>, error: IdError) -> Self {
        Self { field: field.into(), code: error.code(), message: error.text() }
    }
}

/// Collects field errors while parsing a request, so the client hears about all of them.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the parsed value, or records the error under `field` and returns `None`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, IdError>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(FieldError::from_id(field, error));
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

impl Extend<FieldError> for FieldErrors {
    fn extend<I: IntoIterator<Item = FieldError>>(&mut self, errors: I) {
        self.0.extend(errors);
    }
}

/// Whether typed text may contain line breaks (a message, a note) or is one line (a name, a
/// title, a reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Refuses control characters in text a person typed: NUL (which PostgreSQL cannot store and
/// SQLite's `length()` stops at), the other C0 and C1 controls, DEL, and line breaks and tabs
/// where the field is one line. Neither database nor any page could show them faithfully.
pub fn printable(field: &str, value: &str, lines: Lines) -> Option<FieldError> {
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    value.chars().any(|c| c.is_control() && !allowed(c)).then(|| {
        FieldError::new(
            field,
            "invalid_characters",
            if lines == Lines::Many {
                "含有不可见的控制字符"
            } else {
                "含有换行或不可见的控制字符"
            },
            if lines == Lines::Many {
                "contains invisible control characters"
            } else {
                "contains a line break or an invisible control character"
            },
        )
    })
}

/// The earliest time a record Yajin takes may carry (2000-01-01T00:00:00Z): POS deposits and
/// card volume older than that are a typo, not history.
pub const EARLIEST: Timestamp = Timestamp::from_millis(946_684_800_000);

/// How far ahead of the server's clock a time that has already happened may be (another
/// system's clock running fast).
pub const CLOCK_SKEW_MS: i64 = 5 * 60_000;

/// The latest due date a charge may carry (2100-01-01T00:00:00Z).
pub const LATEST_DUE: Timestamp = Timestamp::from_millis(4_102_444_800_000);

/// Refuses a time that cannot have happened yet, or is before [`EARLIEST`]: when a terminal
/// was bound, activated or returned, a deposit collected, a card payment made. A payment dated
/// next month would count toward an activation target today.
pub fn happened(field: &str, at: Timestamp, now: Timestamp) -> Option<FieldError> {
    (at < EARLIEST || at.millis() > now.millis().saturating_add(CLOCK_SKEW_MS)).then(|| {
        FieldError::new(
            field,
            "out_of_range",
            "须在 2000 年之后，且不晚于当前时间",
            "from 2000 up to now: it has already happened",
        )
    })
}

/// Refuses a due date before [`EARLIEST`] or from [`LATEST_DUE`] on.
pub fn due_date(field: &str, at: Timestamp) -> Option<FieldError> {
    (at < EARLIEST || at >= LATEST_DUE)
        .then(|| FieldError::new(field, "out_of_range", "须在 2000 年至 2099 年之间", "between 2000 and 2099"))
}

/// Every problem with a typed text that must hold `min`–`max` characters once trimmed and no
/// control characters (see [`printable`]).
pub fn text_problems(field: &str, value: &str, min: usize, max: usize, lines: Lines) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let n = value.trim().chars().count();
    if n < min || n > max {
        errors.push(FieldError::new(
            field,
            "invalid_length",
            format!("{min}–{max} 个字符"),
            format!("{min}–{max} characters"),
        ));
    }
    errors.extend(printable(field, value, lines));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_time_that_happened_is_from_2000_up_to_now_and_a_due_date_before_2100() {
        let now = Timestamp::parse_rfc3339("2026-12-06T00:00:00Z").unwrap();
        let at = |t: &str| Timestamp::parse_rfc3339(t).unwrap();
        for fine in ["2000-01-01T00:00:00Z", "2026-12-05T23:59:59Z", "2026-12-06T00:04:59Z"] {
            assert_eq!(happened("at", at(fine), now), None, "{fine}");
        }
        for wrong in ["1999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-12-06T00:05:01Z", "9999-12-31T23:59:59Z"] {
            assert_eq!(happened("at", at(wrong), now).map(|e| e.code), Some("out_of_range"), "{wrong}");
        }
        assert_eq!(due_date("due_at", at("2099-12-31T23:59:59Z")), None);
        assert_eq!(due_date("due_at", at("2027-06-30T00:00:00Z")), None, "a charge falls due later");
        assert!(due_date("due_at", at("2100-01-01T00:00:00Z")).is_some());
        assert!(due_date("due_at", at("1999-01-01T00:00:00Z")).is_some());
    }

    #[test]
    fn a_text_is_checked_for_its_length_and_its_characters() {
        assert!(text_problems("model", " P2 ", 1, 50, Lines::One).is_empty());
        let codes =
            |v: &str| text_problems("model", v, 1, 5, Lines::One).into_iter().map(|e| e.code).collect::<Vec<_>>();
        assert_eq!(codes("   "), ["invalid_length"]);
        assert_eq!(codes("abcdef\n"), ["invalid_length", "invalid_characters"]);
        assert_eq!(text_problems("m", "", 0, 5, Lines::One), []);
    }

    #[test]
    fn control_characters_are_refused_and_ordinary_text_is_not() {
        assert!(printable("title", "退押金 refund ✓", Lines::One).is_none());
        assert!(printable("body", "第一行\n第二行\r\n\tend", Lines::Many).is_none());
        assert!(printable("title", "a\nb", Lines::One).is_some());
        for bad in ["\u{0}", "a\u{0}b", "\u{7f}", "\u{92}", "\u{1b}[31m"] {
            let e = printable("body", bad, Lines::Many).expect(bad);
            assert_eq!((e.field.as_str(), e.code), ("body", "invalid_characters"));
        }
    }

    proptest! {
        #[test]
        fn refused_exactly_when_a_control_character_is_present(s in "\\PC{0,20}", c in any::<char>(), at in 0usize..21) {
            let mut text: Vec<char> = s.chars().collect();
            let at = at.min(text.len());
            text.insert(at, c);
            let text: String = text.into_iter().collect();
            prop_assert_eq!(printable("f", &text, Lines::Many).is_some(), c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
            prop_assert!(printable("f", &s, Lines::One).is_none());
        }
    }
}
