//! Money in fen (分), the smallest unit of the renminbi. Never a float.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of CNY in fen. Arithmetic is checked: overflow is an error, never a wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(i64);

/// Why a computation on or parse of an amount failed. `code()` is the stable machine code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("the amount overflowed")]
    Overflow,
    #[error("an amount is digits with an optional point and at most two decimals, e.g. 99 or 99.50")]
    InvalidAmount,
    #[error("an amount has at most two decimals (fen)")]
    TooManyDecimals,
    #[error("the amount may not be negative")]
    Negative,
}

impl MoneyError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Overflow => "amount_too_large",
            Self::InvalidAmount => "invalid_amount",
            Self::TooManyDecimals => "too_many_decimals",
            Self::Negative => "negative_amount",
        }
    }
}

impl Fen {
    pub const ZERO: Fen = Fen(0);
    /// The largest amount a parse accepts: one trillion yuan, far above any deposit, far below
    /// what i64 arithmetic on sums of many amounts could overflow.
    pub const PARSE_MAX: Fen = Fen(100_000_000_000_000);

    pub const fn new(fen: i64) -> Fen {
        Fen(fen)
    }

    pub const fn yuan(yuan: i64) -> Fen {
        Fen(yuan * 100)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn checked_add(self, other: Fen) -> Result<Fen, MoneyError> {
        self.0.checked_add(other.0).map(Fen).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Fen) -> Result<Fen, MoneyError> {
        self.0.checked_sub(other.0).map(Fen).ok_or(MoneyError::Overflow)
    }

    /// `self × basis_points / 10_000`, rounded down (in the merchant's favour when it is a fee).
    pub fn percent_bp_floor(self, basis_points: u32) -> Result<Fen, MoneyError> {
        let product = i128::from(self.0) * i128::from(basis_points);
        let value = product.div_euclid(10_000);
        i64::try_from(value).map(Fen).map_err(|_| MoneyError::Overflow)
    }

    /// `self × basis_points / 10_000`, rounded half up to the fen (a transaction fee as banks
    /// quote it: 0.5 fen and more rounds up). For amounts of 0 and more.
    pub fn percent_bp_half_up(self, basis_points: u32) -> Result<Fen, MoneyError> {
        let product = i128::from(self.0) * i128::from(basis_points);
        let value = (product + 5_000).div_euclid(10_000);
        i64::try_from(value).map(Fen).map_err(|_| MoneyError::Overflow)
    }

    /// Sum of many amounts; overflow is an error.
    pub fn sum<I: IntoIterator<Item = Fen>>(amounts: I) -> Result<Fen, MoneyError> {
        amounts.into_iter().try_fold(Fen::ZERO, Fen::checked_add)
    }

    /// Parses what a person types: `"99"`, `"99.5"`, `"99.50"`, `"1,234.56"`, optionally with a
    /// leading `¥`. Never through a float.
    pub fn parse_yuan(input: &str) -> Result<Fen, MoneyError> {
        let text = input.trim();
        let text = text.strip_prefix('¥').unwrap_or(text).trim_start();
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let whole_digits = parse_grouped_digits(whole)?;
        let frac_fen = match frac {
            None => 0,
            Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => return Err(MoneyError::InvalidAmount),
            Some(f) if f.len() > 2 => return Err(MoneyError::TooManyDecimals),
            Some(f) if f.len() == 1 => i64::from(f.as_bytes()[0] - b'0') * 10,
            Some(f) => i64::from(f.as_bytes()[0] - b'0') * 10 + i64::from(f.as_bytes()[1] - b'0'),
        };
        let fen = whole_digits.checked_mul(100).and_then(|w| w.checked_add(frac_fen)).ok_or(MoneyError::Overflow)?;
        if fen > Fen::PARSE_MAX.0 {
            return Err(MoneyError::Overflow);
        }
        Ok(Fen(fen))
    }

    /// Chinese capital numerals as on a cheque or receipt: 壹仟贰佰叁拾肆元伍角陆分, 贰佰玖拾玖元整.
    pub fn to_chinese_capitals(self) -> String {
        let mut out = String::new();
        if self.0 < 0 {
            out.push('负');
        }
        let abs = self.0.unsigned_abs();
        let yuan = abs / 100;
        let jiao = (abs / 10 % 10) as usize;
        let fen = (abs % 10) as usize;
        if yuan > 0 {
            push_yuan_capitals(&mut out, yuan);
            out.push('元');
        }
        if jiao == 0 && fen == 0 {
            if yuan == 0 {
                out.push_str("零元");
            }
            out.push('整');
            return out;
        }
        if jiao > 0 {
            out.push(DIGITS[jiao]);
            out.push('角');
        } else if yuan > 0 {
            out.push('零');
        }
        if fen > 0 {
            out.push(DIGITS[fen]);
            out.push('分');
        }
        out
    }
}

/// Digits of the integer part, allowing thousands separators in the right places only.
fn parse_grouped_digits(whole: &str) -> Result<i64, MoneyError> {
    if whole.is_empty() {
        return Err(MoneyError::InvalidAmount);
    }
    let groups: Vec<&str> = whole.split(',').collect();
    let well_grouped = groups.len() == 1
        || (!groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
    if !well_grouped {
        return Err(MoneyError::InvalidAmount);
    }
    let mut value: i64 = 0;
    for b in groups.iter().flat_map(|g| g.bytes()) {
        if !b.is_ascii_digit() {
            return Err(MoneyError::InvalidAmount);
        }
        value = value.checked_mul(10).and_then(|v| v.checked_add(i64::from(b - b'0'))).ok_or(MoneyError::Overflow)?;
    }
    Ok(value)
}

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const PLACES: [&str; 4] = ["", "拾", "佰", "仟"];
const SECTIONS: [&str; 5] = ["", "万", "亿", "万亿", "亿亿"];

/// Writes a positive whole number of yuan in capitals, section by section (万, 亿), with one
/// 零 for each run of zeros between non-zero digits.
fn push_yuan_capitals(out: &mut String, yuan: u64) {
    let mut sections = Vec::new();
    let mut rest = yuan;
    while rest > 0 {
        sections.push((rest % 10_000) as usize);
        rest /= 10_000;
    }
    let mut zero_pending = false;
    let mut started = false;
    for (index, &section) in sections.iter().enumerate().rev() {
        if section == 0 {
            zero_pending = started;
            continue;
        }
        if started && (zero_pending || section < 1000) {
            out.push('零');
        }
        push_section(out, section);
        out.push_str(SECTIONS[index]);
        started = true;
        zero_pending = false;
    }
}

fn push_section(out: &mut String, section: usize) {
    let digits = [section / 1000, section / 100 % 10, section / 10 % 10, section % 10];
    let mut zero_pending = false;
    let mut started = false;
    for (i, &d) in digits.iter().enumerate() {
        if d == 0 {
            zero_pending = started;
            continue;
        }
        if zero_pending {
            out.push('零');
        }
        out.push(DIGITS[d]);
        out.push_str(PLACES[3 - i]);
        started = true;
        zero_pending = false;
    }
}

/// `¥1,234.56`; negative amounts as `-¥1,234.56`.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let whole = (abs / 100).to_string();
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}¥{grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_with_thousands_separators() {
        assert_eq!(Fen::new(123_456).to_string(), "¥1,234.56");
        assert_eq!(Fen::new(9_900).to_string(), "¥99.00");
        assert_eq!(Fen::new(5).to_string(), "¥0.05");
        assert_eq!(Fen::new(100_000_000).to_string(), "¥1,000,000.00");
        assert_eq!(Fen::new(-123_456).to_string(), "-¥1,234.56");
        assert_eq!(Fen::new(i64::MIN).to_string(), "-¥92,233,720,368,547,758.08");
    }

    #[test]
    fn chinese_capitals_follow_cheque_rules() {
        let cases = [
            (123_456, "壹仟贰佰叁拾肆元伍角陆分"),
            (29_900, "贰佰玖拾玖元整"),
            (9_900, "玖拾玖元整"),
            (3_900, "叁拾玖元整"),
            (1_000, "壹拾元整"),
            (100_500, "壹仟零伍元整"),
            (1_005, "壹拾元零伍分"),
            (10_050, "壹佰元伍角"),
            (5, "伍分"),
            (50, "伍角"),
            (0, "零元整"),
            (10_000_000, "壹拾万元整"),
            (10_000_000_100, "壹亿零壹元整"),
            (10_010_000_000, "壹亿零壹拾万元整"),
            (100_100_000, "壹佰万壹仟元整"),
            (10_700_053, "壹拾万柒仟元伍角叁分"),
            (1_000_000_000_000, "壹佰亿元整"),
            (168_032, "壹仟陆佰捌拾元叁角贰分"),
            (-29_900, "负贰佰玖拾玖元整"),
        ];
        for (fen, want) in cases {
            assert_eq!(Fen::new(fen).to_chinese_capitals(), want, "{fen} fen");
        }
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(Fen::parse_yuan("99"), Ok(Fen::new(9_900)));
        assert_eq!(Fen::parse_yuan("99.5"), Ok(Fen::new(9_950)));
        assert_eq!(Fen::parse_yuan("99.50"), Ok(Fen::new(9_950)));
        assert_eq!(Fen::parse_yuan(" ¥1,234.56 "), Ok(Fen::new(123_456)));
        assert_eq!(Fen::parse_yuan("0.07"), Ok(Fen::new(7)));
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        assert_eq!(Fen::parse_yuan("99.505"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Fen::parse_yuan("-1"), Err(MoneyError::Negative));
        for bad in ["", "abc", "1e3", "99.", ".5", "1,23", "12,3456", "9 9", "0x10", "NaN", "99.5a"] {
            assert_eq!(Fen::parse_yuan(bad), Err(MoneyError::InvalidAmount), "{bad:?}");
        }
        assert_eq!(Fen::parse_yuan("99999999999999999999"), Err(MoneyError::Overflow));
        assert_eq!(Fen::parse_yuan("1000000000001"), Err(MoneyError::Overflow));
    }

    #[test]
    fn arithmetic_overflow_is_an_error() {
        assert_eq!(Fen::new(i64::MAX).checked_add(Fen::new(1)), Err(MoneyError::Overflow));
        assert_eq!(Fen::new(i64::MIN).checked_sub(Fen::new(1)), Err(MoneyError::Overflow));
        assert_eq!(Fen::sum([Fen::new(i64::MAX), Fen::new(1)]), Err(MoneyError::Overflow));
        assert_eq!(Fen::new(10_000).percent_bp_floor(150), Ok(Fen::new(150)));
        assert_eq!(Fen::new(999).percent_bp_floor(50), Ok(Fen::new(4)));
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(fen in 0i64..=Fen::PARSE_MAX.get()) {
            let shown = Fen::new(fen).to_string();
            prop_assert_eq!(Fen::parse_yuan(&shown), Ok(Fen::new(fen)));
        }

        #[test]
        fn capitals_never_contain_doubled_zero(fen in -1_000_000_000_000i64..1_000_000_000_000) {
            let text = Fen::new(fen).to_chinese_capitals();
            prop_assert!(!text.contains("零零"), "{}", text);
            prop_assert!(!text.ends_with('零'), "{}", text);
            prop_assert!(text.ends_with('整') || text.ends_with('分') || text.ends_with('角'));
        }
    }
}
