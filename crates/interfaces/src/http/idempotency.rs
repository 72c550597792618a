//! The `Idempotency-Key` header of every request that creates something or moves money, and
//! the answers it makes replayable (the layer itself is `yajin_app::idempotency`).
//!
//! A handler takes an [`IdempotencyKey`], describes its success with an [`Answer`] (status
//! and view), hands the use case `key.replay(&caller, &body, &answer)` and sends
//! `answer.respond(outcome)`: the view rendered now, or the bytes stored the first time, with
//! `Idempotent-Replayed: true`. Its `#[utoipa::path]` lists `IdempotencyKey` among its params;
//! the document then gets the 400 and 409 this header can cause (see `openapi.rs`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use yajin_app::idempotency::{Key, Outcome, Replay};

use super::problem::{ApiError, ErrorCode};
use super::session::{MerchantSession, StaffSession};

pub const HEADER: &str = "idempotency-key";

/// The key a request came with (if any), and what the request was.
pub struct IdempotencyKey {
    key: Option<String>,
    /// `METHOD path`: the same key on another endpoint is another request.
    target: String,
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let target = format!("{} {}", parts.method, parts.uri.path());
        let Some(value) = parts.headers.get(HEADER) else { return Ok(IdempotencyKey { key: None, target }) };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidIdempotencyKey))?;
        Ok(IdempotencyKey { key: Some(key.to_owned()), target })
    }
}

impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "1–255 visible ASCII characters, unique per request you mean (a UUID). A retry with the same \
                 key and body gets the first success again (same status and body, `Idempotent-Replayed: true`) \
                 and changes nothing; the same key with another request is 409 `idempotency_key_reused`. \
                 Refused requests store nothing: correct and retry with the same key.",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
            .build()]
    }
}

/// Whose key it is: keys are scoped to the caller.
pub trait Caller {
    fn principal(&self) -> String;
}

impl Caller for MerchantSession {
    fn principal(&self) -> String {
        format!("merchant:{}", self.merchant_id)
    }
}

impl Caller for StaffSession {
    fn principal(&self) -> String {
        format!("staff:{}", self.staff_id)
    }
}

/// Renders a use case's result to the bytes of the response body.
type Renderer<T> = std::sync::Arc<dyn Fn(&T) -> Vec<u8> + Send + Sync>;

/// How a handler answers a success: its status and the view of the use case's result.
pub struct Answer<T> {
    status: StatusCode,
    render: Renderer<T>,
}

impl<T> Answer<T> {
    pub fn new<V: Serialize>(status: StatusCode, view: impl Fn(&T) -> V + Send + Sync + 'static) -> Answer<T> {
        let render = move |value: &T| serde_json::to_vec(&view(value)).unwrap_or_default();
        Answer { status, render: std::sync::Arc::new(render) }
    }

    /// The response: the result rendered now, or the first answer again.
    pub fn respond(&self, outcome: Outcome<T>) -> Response {
        match outcome {
            Outcome::Done(value) => json(self.status, (self.render)(&value), false),
            Outcome::Replayed { status, body } => json(StatusCode::from_u16(status).unwrap_or(self.status), body, true),
        }
    }
}

impl IdempotencyKey {
    /// What the use case needs to make this request's answer replayable. `body` is the
    /// request as parsed (so the same request is recognised whatever its whitespace).
    pub fn replay<T>(&self, caller: &impl Caller, body: &impl Serialize, answer: &Answer<T>) -> Replay<'static, T> {
        let key = self.key.as_ref().map(|key| {
            let mut digest = Sha256::new();
            digest.update(self.target.as_bytes());
            digest.update(b"\n");
            digest.update(serde_json::to_vec(body).unwrap_or_default());
            Key { principal: caller.principal(), key: key.clone(), request_hash: hex::encode(digest.finalize()) }
        });
        Replay::maybe(key, answer.status.as_u16(), answer.render.clone())
    }
}

fn json(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
