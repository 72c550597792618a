//! The password policy: long enough, letters and digits, not the phone number.

use crate::validation::FieldError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 64;

/// Why a new password is refused, as a field error on `field`.
pub fn check(field: &str, password: &str, phone: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    let refuse = |code: &'static str, zh: &'static str, en: &'static str| Err(FieldError::new(field, code, zh, en));
    if chars < MIN_LEN {
        return refuse("too_short", "至少 8 个字符", "at least 8 characters");
    }
    if chars > MAX_LEN {
        return refuse("too_long", "至多 64 个字符", "at most 64 characters");
    }
    if !password.chars().any(|c| c.is_alphabetic()) || !password.chars().any(|c| c.is_ascii_digit()) {
        return refuse("too_simple", "须同时包含字母和数字", "use both letters and digits");
    }
    if !phone.is_empty() && password.contains(phone) {
        return refuse("contains_phone", "不能包含手机号", "must not contain the phone number");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check("p", "Demo@12345", "13800000001").is_ok());
        assert_eq!(check("p", "Ab1", "").unwrap_err().code, "too_short");
        assert_eq!(check("p", &"a1".repeat(33), "").unwrap_err().code, "too_long");
        assert_eq!(check("p", "abcdefgh", "").unwrap_err().code, "too_simple");
        assert_eq!(check("p", "12345678", "").unwrap_err().code, "too_simple");
        assert_eq!(check("p", "x13800000001", "13800000001").unwrap_err().code, "contains_phone");
        assert!(check("p", "密码很安全123", "").is_ok(), "any script's letters count");
    }
}
