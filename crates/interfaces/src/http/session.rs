//! Who is calling: a bearer token, or the HttpOnly session cookie. Cookie sessions must send
//! the CSRF token (`X-CSRF-Token`) with every state-changing request; bearer clients need not,
//! since a browser never attaches a bearer token on its own.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use yajin_app::auth;
use yajin_core::application::Role;
use yajin_core::permission::{allows, Permission};

use super::problem::{ApiError, ErrorCode};
use super::state::AppState;

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

/// The request's session token and whether it came in the cookie; 401 without one.
fn token(parts: &Parts) -> Result<(&str, bool), ApiError> {
    match (bearer(parts), cookie(parts, SESSION_COOKIE)) {
        (Some(token), _) => Ok((token, false)),
        (None, Some(token)) => Ok((token, true)),
        (None, None) => Err(ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated)),
    }
}

fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The live session of the request, with the CSRF check for cookie sessions.
async fn live_session(parts: &Parts, state: &AppState) -> Result<yajin_app::model::Session, ApiError> {
    let (token, from_cookie) = token(parts)?;
    let session = auth::session(&state.app, token)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated))?;
    if from_cookie && !safe(&parts.method) {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if auth::token_hash(sent) != session.csrf_hash {
            return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::CsrfFailed));
        }
    }
    Ok(session)
}

impl MerchantSession {
    /// A live session, if it is a merchant's (403 if not).
    fn of(session: yajin_app::model::Session) -> Result<MerchantSession, ApiError> {
        if session.principal_kind != "merchant" {
            return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden));
        }
        Ok(MerchantSession { merchant_id: session.principal_id, token_hash: session.token_hash })
    }
}

impl FromRequestParts<AppState> for MerchantSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        MerchantSession::of(live_session(parts, state).await?)
    }
}

/// The session token of a safe request (GET), not looked up yet: for a handler whose use case
/// reads the session together with what it answers (one read where two were), and then
/// answers 401 or 403 as [`MerchantSession`] would. 401 when the request carries no token. A
/// cookie on a state-changing request is refused (403 `csrf_failed`): its CSRF token could
/// only be checked against the session, which is not read here.
pub struct SessionToken(String);

impl SessionToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The merchant's session, looked up on its own (for a request refused before its read:
    /// who asked decides between 401, 403 and the refusal).
    pub async fn merchant(&self, state: &AppState) -> Result<MerchantSession, ApiError> {
        let session = auth::session(&state.app, &self.0)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated))?;
        MerchantSession::of(session)
    }
}

impl FromRequestParts<AppState> for SessionToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (token, from_cookie) = token(parts)?;
        if from_cookie && !safe(&parts.method) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::CsrfFailed));
        }
        Ok(SessionToken(token.to_owned()))
    }
}

/// A logged-in staff member. A merchant's session never gets this far (403).
#[derive(Clone, Debug)]
pub struct StaffSession {
    pub staff_id: String,
    pub role: Role,
    pub token_hash: String,
}

impl StaffSession {
    /// 403 unless the staff member's role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if allows(self.role, permission) {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden))
        }
    }

    pub fn actor(&self) -> yajin_app::Actor {
        yajin_app::Actor { role: self.role, id: self.staff_id.clone() }
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = live_session(parts, state).await?;
        let role = Role::parse(&session.role).filter(|r| r.is_staff());
        match (session.principal_kind.as_str(), role) {
            ("staff", Some(role)) => {
                Ok(StaffSession { staff_id: session.principal_id, role, token_hash: session.token_hash })
            }
            _ => Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden)),
        }
    }
}

/// Which permissions an endpoint needs (any one of them).
pub trait Need: Send + Sync {
    const ANY_OF: &'static [Permission];
}

/// A staff session already checked for `N`'s permission. As an extractor it runs before the
/// body is read, so a caller without the right learns nothing from a body's validation.
pub struct Staff<N: Need>(pub StaffSession, pub std::marker::PhantomData<N>);

impl<N: Need> FromRequestParts<AppState> for Staff<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = StaffSession::from_request_parts(parts, state).await?;
        if N::ANY_OF.iter().any(|p| allows(session.role, *p)) {
            Ok(Staff(session, std::marker::PhantomData))
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden))
        }
    }
}

macro_rules! needs {
    ($($name:ident => [$($p:ident),+];)*) => {$(
        pub struct $name;
        impl Need for $name {
            const ANY_OF: &'static [Permission] = &[$(Permission::$p),+];
        }
    )*};
}

needs! {
    CanDecide => [ReviewDecide];
    CanDecideOrSecondApprove => [ReviewDecide, SecondApprove];
    CanManagePlans => [ManagePlans];
    CanAnswerTickets => [SupportInbox];
    CanManageAnnouncements => [ManageAnnouncements];
    CanWatchPayouts => [Payouts];
    CanProvision => [ManageStaff];
}

/// The client's address, for per-address limits and lockouts: the peer's, or, when the peer
/// is a trusted proxy, the nearest address in `X-Forwarded-For` that is not one (a client can
/// write anything into that header, so only what trusted proxies appended is believed).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
            return Ok(ClientIp("unknown".to_owned()));
        };
        Ok(ClientIp(client_address(peer, &parts.headers, &state.trusted_proxies).to_string()))
    }
}

pub fn client_address(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded.iter().rev().find(|a| !trusted.contains(a)).or(forwarded.first()).copied().unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        // A client that writes the header itself is still itself.
        assert_eq!(client_address(client, &headers("198.51.100.1"), &[proxy]), client);
        // Behind the proxy: the address the proxy appended, not what the client made up before it.
        assert_eq!(client_address(proxy, &headers("198.51.100.1, 203.0.113.9"), &[proxy]), client);
        assert_eq!(client_address(proxy, &headers("203.0.113.9, 10.0.0.2"), &[proxy]), client);
        assert_eq!(client_address(proxy, &axum::http::HeaderMap::new(), &[proxy]), proxy);
        assert_eq!(client_address(proxy, &headers("not an address"), &[proxy]), proxy);
    }
}
