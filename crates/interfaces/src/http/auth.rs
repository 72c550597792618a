//! Merchant login, logout, SMS codes and password reset; `/me`; the sandbox SMS inbox.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use yajin_app::auth::{self, AuthError};
use yajin_core::Timestamp;
use yajin_store::records::{merchants, sms};

use super::json_body::ApiJson;
use super::problem::ApiError;
use super::session::{ClientIp, MerchantSession, SESSION_COOKIE};
use super::AppState;

pub fn routes(sandbox_sms: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/staff/auth/login", post(staff_login))
        .route("/api/v1/staff/auth/logout", post(staff_logout))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/sms-codes", post(request_code))
        .route("/api/v1/auth/password-reset", post(reset_password))
        .route("/api/v1/me", get(me));
    if sandbox_sms {
        router.route("/api/v1/sandbox/sms", get(sandbox_sms_inbox))
    } else {
        router
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::InvalidCredentials => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AuthError::Locked { until_ms } => {
                let until = Timestamp::from_millis(until_ms);
                ApiError::new(StatusCode::LOCKED, "account_locked")
                    .with("locked_until", until.to_rfc3339())
                    .retry_after(((until_ms - now_ms()) / 1000).max(1) as u64)
            }
            AuthError::RateLimited { retry_after_ms } => {
                let seconds = ((retry_after_ms + 999) / 1000).max(1);
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
                    .retry_after(seconds as u64)
                    .with("retry_after_s", seconds)
            }
            AuthError::Fields(errors) => ApiError::validation(errors),
            AuthError::InvalidCode => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_code"),
            AuthError::CodeExpired => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "code_expired"),
            AuthError::WeakPassword(error) => ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", error),
            AuthError::Store(e) => e.into(),
            AuthError::Internal(message) => {
                tracing::error!(%message, "auth failed");
                ApiError::internal()
            }
        }
    }
}

fn now_ms() -> i64 {
    yajin_app::Clock::now(&yajin_app::SystemClock).millis()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginBody {
    phone: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    expires_at: String,
    role: String,
    /// For browser sessions: send it back as `X-CSRF-Token` on state-changing requests.
    csrf_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "sandbox_sms", operation_id = "get_me", operation_id = "reset_password", operation_id = "request_sms_code", operation_id = "logout", operation_id = "login", tag = "auth", request_body = LoginBody, responses((status = 200, body = crate::http::openapi::LoginResponse), (status = 401, description = "invalid_credentials", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "invalid_body", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 423, description = "account_locked", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 429, description = "too_many_requests", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let session = auth::login(&state.app, auth::Kind::Merchant, &body.phone, body.password, &ip).await?;
    Ok(session_response(session))
}

fn session_response(session: auth::NewSession) -> Response {
    let expires = Timestamp::from_millis(session.expires_at_ms);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        session.token,
        if session.role.is_staff() { auth::STAFF_SESSION_TTL_MS } else { auth::SESSION_TTL_MS } / 1000
    );
    let body = LoginResponse {
        token: session.token,
        expires_at: expires.to_rfc3339(),
        role: session.role.as_str().to_owned(),
        csrf_token: session.csrf_token,
    };
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StaffLoginBody {
    username: String,
    password: String,
}

#[utoipa::path(post, path = "/api/v1/staff/auth/login", operation_id = "staff_login", tag = "backoffice", request_body = StaffLoginBody, responses((status = 200, body = crate::http::openapi::LoginResponse), (status = 401, description = "invalid_credentials", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "invalid_body", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 423, description = "account_locked", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn staff_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<StaffLoginBody>,
) -> Result<Response, ApiError> {
    let session = auth::login(&state.app, auth::Kind::Staff, &body.username, body.password, &ip).await?;
    Ok(session_response(session))
}

#[utoipa::path(post, path = "/api/v1/staff/auth/logout", operation_id = "staff_logout", tag = "backoffice", security(("bearer" = []), ("cookie" = [])), responses((status = 204, description = "session ended"), (status = 401, description = "unauthenticated", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn staff_logout(
    State(state): State<AppState>,
    session: super::session::StaffSession,
) -> Result<StatusCode, ApiError> {
    auth::logout(&state.app, &session.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses((status = 204, description = "session ended"), (status = 401, description = "unauthenticated", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 403, description = "csrf_failed", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn logout(State(state): State<AppState>, session: MerchantSession) -> Result<Response, ApiError> {
    auth::logout(&state.app, &session.token_hash).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeBody {
    phone: String,
    purpose: String,
}

#[utoipa::path(post, path = "/api/v1/auth/sms-codes", tag = "auth", request_body = CodeBody, responses((status = 202, body = crate::http::openapi::CodeSent), (status = 422, description = "validation_failed", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 429, description = "too_many_requests", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn request_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    if body.purpose != "reset_password" {
        let error = yajin_core::validation::FieldError::new("purpose", "invalid_value", "reset_password");
        return Err(ApiError::validation(vec![error]));
    }
    let resend_after_s = auth::request_reset_code(&state.app, &body.phone, &ip).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"resend_after_s": resend_after_s}))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetBody {
    phone: String,
    code: String,
    new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetBody, responses((status = 204, description = "password changed; all sessions ended"), (status = 422, description = "invalid_code, code_expired, weak_password", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn reset_password(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    auth::reset_password(&state.app, &body.phone, &body.code, body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = crate::http::openapi::Me), (status = 401, description = "unauthenticated", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn me(
    State(state): State<AppState>,
    session: MerchantSession,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut conn = state.conn().await?;
    let m = merchants::by_id(&mut conn, &session.merchant_id).await?.ok_or_else(ApiError::not_found)?;
    let phone = yajin_core::ids::PhoneNo::parse(&m.phone).map(|p| p.masked()).unwrap_or_default();
    Ok(Json(json!({
        "merchant_no": m.merchant_no,
        "name": m.name,
        "phone": phone,
        "bank_card": m.bank_card_masked,
        "bank_name": m.bank_name,
        "id_card": m.id_card_masked,
    })))
}

#[derive(Deserialize)]
pub(super) struct SmsQuery {
    phone: String,
}

#[utoipa::path(get, path = "/api/v1/sandbox/sms", tag = "auth", params(("phone" = String, Query)), responses((status = 200, body = crate::http::openapi::SmsInbox), (status = 404, description = "not in sandbox mode", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn sandbox_sms_inbox(
    State(state): State<AppState>,
    Query(q): Query<SmsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut conn = state.conn().await?;
    let messages = sms::messages(&mut conn, q.phone.trim(), "sandbox", 50).await?;
    let items: Vec<_> = messages
        .into_iter()
        .map(|m| json!({"phone": m.phone, "text": m.text, "sent_at": Timestamp::from_millis(m.sent_at).to_rfc3339()}))
        .collect();
    Ok(Json(json!({"items": items})))
}
