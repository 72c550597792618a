//! Who is calling: a bearer token, or the HttpOnly session cookie. Cookie sessions must send
//! the CSRF token (`X-CSRF-Token`) with every state-changing request; bearer clients need not,
//! since a browser never attaches a bearer token on its own.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use yajin_app::auth;

use super::problem::ApiError;
use super::AppState;

pub const SESSION_COOKIE: &str = "yajin_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A logged-in merchant.
#[derive(Clone, Debug)]
pub struct MerchantSession {
    pub merchant_id: String,
    pub token_hash: String,
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(
        |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        },
    )
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

impl FromRequestParts<AppState> for MerchantSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (token, from_cookie) = match (bearer(parts), cookie(parts, SESSION_COOKIE)) {
            (Some(token), _) => (token, false),
            (None, Some(token)) => (token, true),
            (None, None) => return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated")),
        };
        let session = auth::session(&state.app, token)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated"))?;
        if session.principal_kind != "merchant" {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden"));
        }
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_cookie && !safe {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if auth::token_hash(sent) != session.csrf_hash {
                return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf_failed"));
            }
        }
        Ok(MerchantSession { merchant_id: session.principal_id, token_hash: session.token_hash })
    }
}

/// The client's address, for per-IP limits.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or("unknown".to_owned(), |c| c.0.ip().to_string());
        Ok(ClientIp(ip))
    }
}
