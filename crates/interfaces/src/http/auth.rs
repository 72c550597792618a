//! Merchant login, logout, SMS codes and password reset; `/me`; the sandbox SMS inbox.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use yajin_app::auth::{self, AuthError};
use yajin_app::inbox;
use yajin_core::Timestamp;

use super::json_body::ApiJson;
use super::problem::{ApiError, ErrorCode, Problem};
use super::session::{ClientIp, MerchantSession, SESSION_COOKIE};
use super::state::AppState;
use super::views::{CodeSentView, LoginView, MeView, SmsInboxView, SmsMessageView};

pub fn routes(sandbox_sms: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/staff/auth/login", post(staff_login))
        .route("/api/v1/staff/auth/logout", post(staff_logout))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/sms-codes", post(request_sms_code))
        .route("/api/v1/auth/password-reset", post(reset_password))
        .route("/api/v1/identity-checks/unlock", post(unlock_identity_checks))
        .route("/api/v1/me", get(get_me));
    if sandbox_sms {
        router.route("/api/v1/sandbox/sms", get(list_sandbox_sms))
    } else {
        router
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::InvalidCredentials => ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials),
            AuthError::Locked { until_ms } => {
                let until = Timestamp::from_millis(until_ms);
                ApiError::new(StatusCode::LOCKED, ErrorCode::AccountLocked)
                    .with("locked_until", until.to_rfc3339())
                    .retry_after(((until_ms - now_ms()) / 1000).max(1) as u64)
            }
            AuthError::RateLimited { retry_after_ms } => {
                let seconds = ((retry_after_ms + 999) / 1000).max(1);
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
                    .retry_after(seconds as u64)
                    .with("retry_after_s", seconds)
            }
            AuthError::StepUpRequired { code_sent } => {
                let problem = ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::StepUpRequired);
                if code_sent {
                    problem.with("sms_code_sent", true).detail(
                        "近期有多处地址尝试登录此账户：验证码已发至绑定手机，请连同验证码（sms_code）再次登录",
                        "Logins to this account are failing from many addresses: a code was sent to the bound phone; log in again with it as sms_code",
                    )
                } else {
                    problem.with("sms_code_sent", false).detail(
                        "近期有多处地址尝试登录此账户：请从您常用的网络登录，或稍后再试（若已收到验证码，请连同验证码登录）",
                        "Logins to this account are failing from many addresses: log in from a network you have used before, or later (with a code already sent, log in with it)",
                    )
                }
            }
            AuthError::Fields(errors) => ApiError::validation(errors),
            AuthError::InvalidCode | AuthError::WrongCode => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidCode)
            }
            AuthError::CodeExhausted => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::CodeExhausted),
            AuthError::WeakPassword(error) => {
                ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::WeakPassword, error)
            }
            AuthError::Store(e) => e.into(),
            AuthError::Internal(message) => ApiError::unexpected(format!("auth: {message}")),
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
    /// Only when a login was refused with `step_up_required`: the code just sent to the phone.
    #[serde(default)]
    sms_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "invalid_credentials, step_up_required", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_body", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "account_locked", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_requests", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let session =
        auth::login(&state.app, auth::Kind::Merchant, &body.phone, body.password, body.sms_code.as_deref(), &ip)
            .await?;
    Ok(session_response(session, state.site.https))
}

/// The session for an API client: its token in the body, and as an HttpOnly cookie (`Secure`
/// when Yajin is reached over https).
fn session_response(session: auth::NewSession, https: bool) -> Response {
    let expires = Timestamp::from_millis(session.expires_at_ms);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        session.token,
        if session.role.is_staff() { auth::STAFF_SESSION_TTL_MS } else { auth::SESSION_TTL_MS } / 1000,
        if https { "; Secure" } else { "" }
    );
    let body = LoginView {
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

#[utoipa::path(post, path = "/api/v1/staff/auth/login", operation_id = "staff_login", tag = "backoffice", request_body = StaffLoginBody,
    responses((status = 200, body = LoginView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "invalid_credentials (detail: wrong user name or password), step_up_required", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_body", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "account_locked", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_requests", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn staff_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<StaffLoginBody>,
) -> Result<Response, ApiError> {
    let session = auth::login(&state.app, auth::Kind::Staff, &body.username, body.password, None, &ip).await.map_err(
        |e| match e {
            // Staff log in with a user name, not a phone number.
            AuthError::InvalidCredentials => {
                ApiError::from(e).detail("用户名或密码错误", "Wrong user name or password")
            }
            other => ApiError::from(other),
        },
    )?;
    Ok(session_response(session, state.site.https))
}

#[utoipa::path(post, path = "/api/v1/staff/auth/logout", operation_id = "staff_logout", tag = "backoffice", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "session ended"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn staff_logout(
    State(state): State<AppState>,
    session: super::session::StaffSession,
) -> Result<StatusCode, ApiError> {
    auth::logout(&state.app, &session.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "session ended"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn logout(State(state): State<AppState>, session: MerchantSession) -> Result<Response, ApiError> {
    auth::logout(&state.app, &session.token_hash).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let secure = if state.site.https { "; Secure" } else { "" };
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UnlockBody {
    /// The code sent by `POST /api/v1/auth/sms-codes` with purpose `unlock_identity_checks`.
    sms_code: String,
}

/// After five ID or card numbers that did not match, preview and submit answer 423 until the
/// merchant proves who they are with a code sent to their bound phone.
#[utoipa::path(post, path = "/api/v1/identity-checks/unlock", operation_id = "unlock_identity_checks", tag = "applications",
    security(("bearer" = []), ("cookie" = [])), request_body = UnlockBody,
    responses((status = 204, description = "unlocked"),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_code (wrong, spent or expired), invalid_body", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn unlock_identity_checks(
    State(state): State<AppState>,
    session: MerchantSession,
    ApiJson(body): ApiJson<UnlockBody>,
) -> Result<StatusCode, ApiError> {
    yajin_app::applications::unlock_identity_checks(&state.app, &session.merchant_id, &body.sms_code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeBody {
    phone: String,
    purpose: String,
}

#[utoipa::path(post, path = "/api/v1/auth/sms-codes", operation_id = "request_sms_code", tag = "auth", request_body = CodeBody,
    responses((status = 202, body = CodeSentView),
        (status = 401, description = "unauthenticated: `change_payout_card` is for a logged-in merchant", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_requests", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn request_sms_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Result<MerchantSession, ApiError>,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    let resend_after_s = match body.purpose.as_str() {
        "reset_password" => auth::request_reset_code(&state.app, &body.phone, &ip).await?,
        // Only for the logged-in merchant, to their own phone.
        "change_payout_card" => {
            auth::request_payout_card_code(&state.app, &session?.merchant_id, &body.phone, &ip).await?
        }
        "unlock_identity_checks" => {
            auth::request_identity_unlock_code(&state.app, &session?.merchant_id, &body.phone, &ip).await?
        }
        _ => {
            let error = yajin_core::validation::FieldError::new(
                "purpose",
                "invalid_value",
                "须为 reset_password、change_payout_card 或 unlock_identity_checks",
                "reset_password, change_payout_card or unlock_identity_checks",
            );
            return Err(ApiError::validation(vec![error]));
        }
    };
    Ok((StatusCode::ACCEPTED, Json(CodeSentView { resend_after_s })).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetBody {
    phone: String,
    code: String,
    new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset", operation_id = "reset_password", tag = "auth", request_body = ResetBody,
    responses((status = 204, description = "password changed; all sessions ended"),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_code (wrong, spent or expired), weak_password, invalid_body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_requests: too many resets from this address", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn reset_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    auth::reset_password(&state.app, &body.phone, &body.code, body.new_password, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", operation_id = "get_me", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MeView),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn get_me(State(state): State<AppState>, session: MerchantSession) -> Result<Json<MeView>, ApiError> {
    Ok(Json(MeView::from(inbox::me(&state.app, &session.merchant_id).await?)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SmsQuery {
    phone: String,
}

#[utoipa::path(get, path = "/api/v1/sandbox/sms", operation_id = "list_sandbox_sms", tag = "auth", params(SmsQuery),
    responses((status = 200, body = SmsInboxView),
        (status = 400, description = "bad_request: no phone", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not in sandbox mode", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn list_sandbox_sms(
    State(state): State<AppState>,
    Query(q): Query<SmsQuery>,
) -> Result<Json<SmsInboxView>, ApiError> {
    let messages = inbox::sandbox_sms(&state.app, &q.phone).await?;
    let items = messages
        .into_iter()
        .map(|m| SmsMessageView {
            phone: m.phone,
            text: m.text,
            sent_at: Timestamp::from_millis(m.sent_at).to_rfc3339(),
        })
        .collect();
    Ok(Json(SmsInboxView { items }))
}
