//! Field-level validation errors, reported all at once.

use std::borrow::Cow;

use crate::ids::IdError;
use crate::text::Text;

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
