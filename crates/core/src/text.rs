//! Yajin speaks Chinese (the default) and English: every message a person reads is written in
//! both, and the interface picks the reader's.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// A message in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub zh: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Text {
    pub fn new(zh: impl Into<Cow<'static, str>>, en: impl Into<Cow<'static, str>>) -> Text {
        Text { zh: zh.into(), en: en.into() }
    }

    /// The message in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// Whether `c` is a Chinese character or Chinese punctuation (CJK ideographs, CJK symbols and
/// punctuation, full-width forms).
pub fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
}

/// What keeps a message pair from reading naturally, empty when nothing does: Chinese text that
/// holds a code (`service_fee`) or an English word, English text that holds a Chinese character
/// or a code. `allowed` lists the words a message may quote as they are (ids, names, numbers
/// its parameters carry). The language tests apply it to every catalogue entry.
pub fn language_faults(zh: &str, en: &str, allowed: &[&str]) -> Vec<String> {
    let strip = |text: &str| allowed.iter().fold(text.to_owned(), |t, a| t.replace(a, " "));
    let (zh, en) = (strip(zh), strip(en));
    let mut faults = Vec::new();
    if zh.trim().is_empty() || en.trim().is_empty() {
        faults.push("a language is missing".to_owned());
    }
    for word in zh.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
        if word.contains('_') {
            faults.push(format!("a code in the Chinese text: {word}"));
        } else if word.chars().filter(char::is_ascii_alphabetic).count() > 3 {
            faults.push(format!("an English word in the Chinese text: {word}"));
        }
    }
    if !zh.trim().is_empty() && !zh.chars().any(is_cjk) {
        faults.push(format!("the Chinese text is not Chinese: {zh}"));
    }
    if let Some(c) = en.chars().find(|c| is_cjk(*c)) {
        faults.push(format!("a Chinese character in the English text: {c}"));
    }
    if en.split_whitespace().any(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_').contains('_')) {
        faults.push(format!("a code in the English text: {en}"));
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_check_catches_what_it_is_for() {
        assert!(!language_faults("您已结清 service_fee 款项", "You settled", &[]).is_empty());
        assert!(!language_faults("您的申请 was approved", "Approved", &[]).is_empty());
        assert!(!language_faults("已批准", "已批准 approved", &[]).is_empty());
        assert!(!language_faults("approved", "approved", &[]).is_empty());
        assert!(!language_faults("已批准", "status application_approved", &[]).is_empty());
        assert!(language_faults("已批准", "Approved", &[]).is_empty());
        assert!(language_faults("申请 ra_01 已批准，尾号 0128", "Application ra_01 approved", &["ra_01"]).is_empty());
        assert!(language_faults("终端 SN1 的 POS", "Terminal SN1", &[]).is_empty());
    }
}
