//! A JSON body extractor whose every failure is a problem: not JSON → 400 `malformed_json`;
//! JSON of the wrong shape (wrong type, unknown or missing field, a number out of range) →
//! 422 `invalid_body` naming the field. Bodies are read only up to the router's size limit.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use yajin_core::validation::FieldError;

use super::problem::{ApiError, ErrorCode};

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType)
                .detail("请以 application/json 提交", "Send application/json"));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson)
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body: a truncated document is malformed, whatever its
    // first field holds.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson)
            .detail(format!("第 {} 行第 {} 列附近 JSON 语法有误", e.line(), e.column()), e.to_string())
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let (field, code) = classify(&path, &message);
        let error = FieldError::new(field, code, in_chinese(code), message);
        ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidBody, error)
    })
}

/// The field and a code for a shape error; serde reports a missing field at the level of the
/// object that lacks it, with the name in the message.
fn classify(path: &str, message: &str) -> (String, &'static str) {
    let quoted = message.split('`').nth(1).unwrap_or("").to_owned();
    let join = |name: String| if path == "." || path.is_empty() { name } else { format!("{path}.{name}") };
    if message.starts_with("unknown field") {
        // The path already ends at the unknown key.
        let field = if path.ends_with(&quoted) { path.to_owned() } else { join(quoted) };
        (field, "unknown_field")
    } else if message.starts_with("missing field") {
        (join(quoted), "required")
    } else if message.starts_with("invalid type") {
        (path.to_owned(), "invalid_type")
    } else if message.starts_with("invalid value") || message.contains("out of range") {
        (path.to_owned(), "invalid_value")
    } else {
        (path.to_owned(), "invalid")
    }
}

/// The Chinese for a shape error (serde's own words are English).
fn in_chinese(code: &str) -> &'static str {
    match code {
        "unknown_field" => "不接受此字段（见接口文档）",
        "required" => "缺少此字段",
        "invalid_type" => "类型不对（见接口文档）",
        "invalid_value" => "取值不在允许的范围内",
        _ => "不符合接口文档的要求",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        phone: String,
        count: Option<u32>,
    }

    fn err(body: &str) -> (StatusCode, ErrorCode, Option<(String, &'static str)>) {
        let e = parse::<Body>(body.as_bytes()).unwrap_err();
        (e.status, e.code, e.errors.first().map(|f| (f.field.clone(), f.code)))
    }

    #[test]
    fn every_failure_is_classified() {
        assert_eq!(err("{"), (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, None));
        assert_eq!(err("{\"phone\":\"1\"} x"), (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, None));
        assert_eq!(err(r#"{"phone":"1","extra":1}"#).2, Some(("extra".into(), "unknown_field")));
        assert_eq!(err(r#"{}"#).2, Some(("phone".into(), "required")));
        assert_eq!(err(r#"{"phone":1}"#).2, Some(("phone".into(), "invalid_type")));
        assert_eq!(err(r#"{"phone":"1","count":-5}"#).2.map(|(f, _)| f), Some("count".into()));
        assert_eq!(err(r#"{"phone":"1","count":1e400}"#).1, ErrorCode::MalformedJson);
        assert_eq!(
            err(r#"{"phone": 5"#).1,
            ErrorCode::MalformedJson,
            "truncated, though its first field is also wrong"
        );
        assert_eq!(err(r#"{"phone":"1","count":99999999999999999999}"#).2.map(|(f, _)| f), Some("count".into()));
        assert_eq!(parse::<Body>(b"{\"phone\":\"\xff\"}").unwrap_err().code, ErrorCode::MalformedJson);
    }
}
