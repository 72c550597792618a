//! `?limit=` (default 50, at most 200) and an opaque `?cursor=`; lists answer
//! `{"items": [...], "next_cursor": null | "…"}`.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::problem::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub struct Page {
    pub limit: i64,
    /// The decoded cursor: the sort key of the last item of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match &self.limit {
            None => DEFAULT_LIMIT,
            Some(text) => text.parse::<i64>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query")
                    .with("field", "limit")
                    .detail(format!("limit 须为 1–{MAX_LIMIT}"), format!("limit must be 1–{MAX_LIMIT}"))
            })?,
        };
        let after = match &self.cursor {
            None => None,
            Some(c) => Some(decode(c).ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor"))?),
        };
        Ok(Page { limit, after })
    }
}

pub fn encode(key: &str) -> String {
    hex::encode(key.as_bytes())
}

fn decode(cursor: &str) -> Option<String> {
    hex::decode(cursor).ok().and_then(|b| String::from_utf8(b).ok())
}

/// Splits rows fetched with `limit + 1` into the page and the next cursor: the extra row only
/// says there is more.
pub fn split<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(|r| encode(&key(r))) } else { None };
    (rows, next)
}

/// A page whose items render without I/O.
pub fn respond<T>(rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String, render: impl Fn(&T) -> Value) -> Value {
    let (rows, next) = split(rows, limit, key);
    json!({"items": rows.iter().map(render).collect::<Vec<_>>(), "next_cursor": next})
}
