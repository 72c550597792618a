//! Validated identifiers: constructed only through parsing, each failure with its own code.
//! Personal numbers (ID card, bank card, phone) print masked in `Debug` and `Display`, so a
//! log line cannot leak them; the full value is reachable only through `expose()`.

use std::fmt;

use time::{Date, Month};

use crate::text::Text;

/// Why an identifier was refused. `code()` is the stable machine code in field errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("required")]
    Required,
    #[error("wrong length")]
    InvalidLength,
    #[error("characters not allowed here")]
    InvalidFormat,
    #[error("not a mainland mobile number (1, then 3–9)")]
    InvalidPrefix,
    #[error("the check character does not match")]
    InvalidChecksum,
    #[error("the birth date is not a real date")]
    InvalidBirthDate,
    #[error("too long")]
    TooLong,
}

impl IdError {
    /// What is wrong, for the person who typed it.
    pub fn text(self) -> Text {
        let zh = match self {
            Self::Required => "必填",
            Self::InvalidLength => "长度不对",
            Self::InvalidFormat => "含有此处不允许的字符",
            Self::InvalidPrefix => "不是中国大陆手机号（以 1 开头，第二位 3–9）",
            Self::InvalidChecksum => "校验位不符，请核对号码",
            Self::InvalidBirthDate => "出生日期不是真实的日期",
            Self::TooLong => "太长",
        };
        Text::new(zh, self.to_string())
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::InvalidLength => "invalid_length",
            Self::InvalidFormat => "invalid_format",
            Self::InvalidPrefix => "invalid_prefix",
            Self::InvalidChecksum => "invalid_checksum",
            Self::InvalidBirthDate => "invalid_birth_date",
            Self::TooLong => "too_long",
        }
    }
}

fn required(input: &str) -> Result<&str, IdError> {
    let text = input.trim();
    if text.is_empty() {
        Err(IdError::Required)
    } else {
        Ok(text)
    }
}

/// A number as people type it, as the machine reads it: full-width characters (１３８, Ａ,
/// ＋) become their ASCII twins, and the spaces and dashes people group digits with are
/// dropped. Every identifier is parsed from this form, so that `１３８ 0000-0001` and
/// `13800000001` are one number everywhere (login, lockout counters, reset, submit).
pub fn as_typed(input: &str) -> String {
    input
        .chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}')))
        .collect()
}

fn all_digits(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// A mainland mobile number: 11 digits, `1`, then 3–9.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNo(String);

impl PhoneNo {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let typed = as_typed(required(input)?);
        let text = typed.strip_prefix("+86").or_else(|| typed.strip_prefix("0086")).unwrap_or(&typed);
        if !all_digits(text) {
            return Err(IdError::InvalidFormat);
        }
        if text.len() != 11 {
            return Err(IdError::InvalidLength);
        }
        let b = text.as_bytes();
        if b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(IdError::InvalidPrefix);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `138****0001`
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// A resident identity card number (居民身份证): 17 digits and a check character (digit or X),
/// ISO 7064 MOD 11-2, with a real birth date at positions 7–14.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdCardNo(String);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: [u8; 11] = *b"10X98765432";

impl IdCardNo {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = as_typed(required(input)?).to_ascii_uppercase();
        if !text.is_ascii() {
            return Err(IdError::InvalidFormat);
        }
        if text.len() != 18 {
            return Err(IdError::InvalidLength);
        }
        let (body, check) = text.split_at(17);
        if !all_digits(body) || !(all_digits(check) || check == "X") {
            return Err(IdError::InvalidFormat);
        }
        if !valid_birth_date(&body[6..14]) {
            return Err(IdError::InvalidBirthDate);
        }
        let sum: u32 = body.bytes().zip(ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        if ID_CHECK[(sum % 11) as usize] != check.as_bytes()[0] {
            return Err(IdError::InvalidChecksum);
        }
        Ok(Self(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `110***********123X`: the region's first three and the last four.
    pub fn masked(&self) -> String {
        format!("{}***********{}", &self.0[..3], &self.0[14..])
    }

    pub fn last4(&self) -> &str {
        &self.0[14..]
    }
}

fn valid_birth_date(yyyymmdd: &str) -> bool {
    let num = |r: std::ops::Range<usize>| yyyymmdd[r].parse::<u16>().ok();
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(4..6), num(6..8)) else {
        return false;
    };
    let Ok(month) = Month::try_from(month as u8) else {
        return false;
    };
    year >= 1900 && Date::from_calendar_date(i32::from(year), month, day as u8).is_ok()
}

/// A bank card number: 16–19 digits (spaces and dashes typed between groups are dropped).
/// A Luhn failure is not an error: many genuine Chinese debit cards fail it. It is a warning.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BankCardNo {
    digits: String,
    luhn_ok: bool,
}

impl BankCardNo {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let digits = as_typed(required(input)?);
        if !all_digits(&digits) {
            return Err(IdError::InvalidFormat);
        }
        if !(16..=19).contains(&digits.len()) {
            return Err(IdError::InvalidLength);
        }
        let luhn_ok = luhn_valid(&digits);
        Ok(Self { digits, luhn_ok })
    }

    pub fn expose(&self) -> &str {
        &self.digits
    }

    /// False when the number fails the Luhn check: shown as a warning, never refused for it.
    pub fn luhn_ok(&self) -> bool {
        self.luhn_ok
    }

    /// `6222 **** **** 1234`
    pub fn masked(&self) -> String {
        mask_card_last4(&self.digits[..4], self.last4())
    }

    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }
}

/// The display form of a card from its first and last four digits, as stored in clear.
pub fn mask_card_last4(first4: &str, last4: &str) -> String {
    format!("{first4} **** **** {last4}")
}

/// The Luhn (mod 10) check over a string of ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

macro_rules! masked_debug {
    ($($ty:ty),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), self.masked())
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.masked())
            }
        }
    )*};
}
masked_debug!(PhoneNo, IdCardNo, BankCardNo);

fn alphanumeric_of_len(input: &str, len: usize) -> Result<String, IdError> {
    let text = required(input)?;
    if !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(IdError::InvalidFormat);
    }
    if text.len() != len {
        return Err(IdError::InvalidLength);
    }
    Ok(text.to_ascii_uppercase())
}

/// A merchant number (商户号): 15 alphanumerics.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MerchantNo(String);

impl MerchantNo {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        alphanumeric_of_len(input, 15).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A terminal id (终端号): 8 alphanumerics, ISO 8583 field 41.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TerminalId(String);

impl TerminalId {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        alphanumeric_of_len(input, 8).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A terminal serial number / TUSN: up to 50 of A–Z, 0–9 and `-`, stored upper-case with
/// spaces removed, so `demo-auto 01` and `DEMO-AUTO01` are one terminal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TerminalSn(String);

impl TerminalSn {
    pub const MAX_LEN: usize = 50;

    pub fn parse(input: &str) -> Result<Self, IdError> {
        let normalised: String = input.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if normalised.is_empty() {
            return Err(IdError::Required);
        }
        if !normalised.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') {
            return Err(IdError::InvalidFormat);
        }
        if normalised.len() > Self::MAX_LEN {
            return Err(IdError::TooLong);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TerminalSn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phone_numbers() {
        assert_eq!(PhoneNo::parse("13800000001").unwrap().expose(), "13800000001");
        assert_eq!(PhoneNo::parse("+86 19912345678").unwrap().expose(), "19912345678");
        assert_eq!(PhoneNo::parse("").unwrap_err(), IdError::Required);
        assert_eq!(PhoneNo::parse("1380000000").unwrap_err(), IdError::InvalidLength);
        assert_eq!(PhoneNo::parse("138000000012").unwrap_err(), IdError::InvalidLength);
        assert_eq!(PhoneNo::parse("1380000000a").unwrap_err(), IdError::InvalidFormat);
        assert_eq!(PhoneNo::parse("12800000001").unwrap_err(), IdError::InvalidPrefix);
        assert_eq!(PhoneNo::parse("23800000001").unwrap_err(), IdError::InvalidPrefix);
        assert_eq!(PhoneNo::parse("13800000001").unwrap().masked(), "138****0001");
    }

    #[test]
    fn id_cards_with_published_vectors() {
        // The worked example of GB 11643-1999 and commonly published valid numbers.
        for good in ["11010519491231002X", "310115198506151236", "440305199001014561"] {
            assert!(IdCardNo::parse(good).is_ok(), "{good}");
        }
        assert_eq!(IdCardNo::parse("11010519491231002x").unwrap().expose(), "11010519491231002X");
        assert_eq!(IdCardNo::parse("110105194912310021").unwrap_err(), IdError::InvalidChecksum);
        assert_eq!(IdCardNo::parse("310115198506151237").unwrap_err(), IdError::InvalidChecksum);
        assert_eq!(IdCardNo::parse("11010519491231002").unwrap_err(), IdError::InvalidLength);
        assert_eq!(IdCardNo::parse("1101051949123100Y2").unwrap_err(), IdError::InvalidFormat);
        assert_eq!(IdCardNo::parse("11010519490230002X").unwrap_err(), IdError::InvalidBirthDate);
        assert_eq!(IdCardNo::parse("11010518991231002X").unwrap_err(), IdError::InvalidBirthDate);
        assert_eq!(IdCardNo::parse("身份证号码身份证").unwrap_err(), IdError::InvalidFormat);
        assert_eq!(IdCardNo::parse("11010519491231002X").unwrap().masked(), "110***********002X");
    }

    #[test]
    fn bank_cards_warn_on_luhn_never_refuse() {
        let good = BankCardNo::parse("6222 0212 3456 7890 128").unwrap();
        assert!(good.luhn_ok());
        assert_eq!(good.expose(), "6222021234567890128");
        assert_eq!(good.masked(), "6222 **** **** 0128");
        let fails_luhn = BankCardNo::parse("6222021234567890123").unwrap();
        assert!(!fails_luhn.luhn_ok(), "accepted, with a warning");
        assert_eq!(BankCardNo::parse("622202123456789").unwrap_err(), IdError::InvalidLength);
        assert_eq!(BankCardNo::parse("62220212345678901234").unwrap_err(), IdError::InvalidLength);
        assert_eq!(BankCardNo::parse("6222O21234567890128").unwrap_err(), IdError::InvalidFormat);
        // Published Luhn vectors.
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("6217001234567890122"));
    }

    #[test]
    fn debug_and_display_never_show_full_numbers() {
        let id = IdCardNo::parse("310115198506151236").unwrap();
        let card = BankCardNo::parse("6222021234567890128").unwrap();
        let phone = PhoneNo::parse("13800000001").unwrap();
        let shown = format!("{id:?} {id} {card:?} {card} {phone:?} {phone}");
        assert!(!shown.contains("310115198506151236"), "{shown}");
        assert!(!shown.contains("6222021234567890128"), "{shown}");
        assert!(!shown.contains("13800000001"), "{shown}");
    }

    #[test]
    fn merchant_and_terminal_numbers() {
        assert_eq!(MerchantNo::parse("822100058120001").unwrap().as_str(), "822100058120001");
        assert_eq!(MerchantNo::parse("82210005812000").unwrap_err(), IdError::InvalidLength);
        assert_eq!(MerchantNo::parse("82210005812000-").unwrap_err(), IdError::InvalidFormat);
        assert_eq!(TerminalId::parse("a1b2c3d4").unwrap().as_str(), "A1B2C3D4");
        assert_eq!(TerminalId::parse("A1B2C3D").unwrap_err(), IdError::InvalidLength);
        assert_eq!(TerminalId::parse("A1B2C3D_").unwrap_err(), IdError::InvalidFormat);
    }

    #[test]
    fn serial_numbers_are_normalised() {
        assert_eq!(TerminalSn::parse(" demo-auto 01 ").unwrap().as_str(), "DEMO-AUTO01");
        assert_eq!(TerminalSn::parse("   ").unwrap_err(), IdError::Required);
        assert_eq!(TerminalSn::parse("SN_01").unwrap_err(), IdError::InvalidFormat);
        assert_eq!(TerminalSn::parse("终端").unwrap_err(), IdError::InvalidFormat);
        assert_eq!(TerminalSn::parse(&"A".repeat(51)).unwrap_err(), IdError::TooLong);
        assert!(TerminalSn::parse(&"A".repeat(50)).is_ok());
    }

    proptest! {
        #[test]
        fn a_computed_check_character_is_always_accepted(
            region in 110000u32..660000, days in 0i64..40_000, seq in 0u32..1000
        ) {
            let birth = Date::from_calendar_date(1920, Month::January, 1).unwrap() + time::Duration::days(days);
            let body = format!("{region}{:04}{:02}{:02}{seq:03}", birth.year(), birth.month() as u8, birth.day());
            let sum: u32 = body.bytes().zip(ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
            let full = format!("{body}{}", ID_CHECK[(sum % 11) as usize] as char);
            prop_assert!(IdCardNo::parse(&full).is_ok());
            // Changing any one digit of the body breaks the check.
            let pos = (seq as usize) % 17;
            let mut bytes = full.clone().into_bytes();
            bytes[pos] = if bytes[pos] == b'9' { b'0' } else { bytes[pos] + 1 };
            let altered = String::from_utf8(bytes).unwrap();
            prop_assert!(IdCardNo::parse(&altered).is_err());
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,60}") {
            let _ = PhoneNo::parse(&s);
            let _ = IdCardNo::parse(&s);
            let _ = BankCardNo::parse(&s);
            let _ = MerchantNo::parse(&s);
            let _ = TerminalId::parse(&s);
            let _ = TerminalSn::parse(&s);
        }
    }
}

#[cfg(test)]
mod typed_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_are_read_as_people_type_them() {
        for phone in [
            "13800000001",
            "+86 138 0000 0001",
            "+8613800000001",
            "0086-138-0000-0001",
            "１３８０００００００１",
            "＋８６　１３８－００００－０００１",
            " 138 0000 0001 ",
        ] {
            assert_eq!(PhoneNo::parse(phone).map(|p| p.expose().to_owned()), Ok("13800000001".to_owned()), "{phone}");
        }
        assert_eq!(
            IdCardNo::parse("３１０１１５ １９８５０６１５ １２３６").map(|i| i.expose().to_owned()),
            Ok("310115198506151236".into())
        );
        assert_eq!(
            BankCardNo::parse("6222-0212-3456-7890-128").map(|c| c.expose().to_owned()),
            Ok("6222021234567890128".into())
        );
        assert_eq!(
            BankCardNo::parse("６２２２ ０２１２ ３４５６ ７８９０ １２８").map(|c| c.expose().to_owned()),
            Ok("6222021234567890128".into())
        );
        assert_eq!(PhoneNo::parse("+85 13800000001"), Err(IdError::InvalidFormat));
    }

    proptest! {
        /// Grouping a phone number with spaces and dashes, writing it in full-width digits or
        /// putting +86 before it never changes which number it is.
        #[test]
        fn every_way_of_typing_a_phone_is_the_same_phone(
            rest in "[3-9][0-9]{9}",
            seps in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-"), Just("\u{3000}")], 11),
            wide in any::<bool>(),
            prefix in prop_oneof![Just(""), Just("+86"), Just("+86 "), Just("0086")],
        ) {
            let plain = format!("1{rest}");
            let mut typed = prefix.to_owned();
            for (c, sep) in plain.chars().zip(&seps) {
                typed.push(if wide { char::from_u32(c as u32 + 0xfee0).unwrap_or(c) } else { c });
                typed.push_str(sep);
            }
            prop_assert_eq!(PhoneNo::parse(&typed).map(|p| p.expose().to_owned()), Ok(plain));
        }
    }
}
