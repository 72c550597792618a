//! Errors as `application/problem+json` (RFC 9457): a stable machine `code` ([`ErrorCode`]),
//! a `title` in Chinese or English by `Accept-Language` (default zh-CN, q-values honoured),
//! field-level `errors` for validation, and whatever figures the client needs to act.
//! Handlers return [`ApiError`]; the [`localize`] layer renders it in the caller's language,
//! and turns any bare error response (an unknown route, a body over the limit) into a problem.
//! An unexpected failure is logged with a request id that the client also gets, and its
//! cause never reaches the client.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use yajin_app::setup::StoreError;
use yajin_app::AppError;
use yajin_core::eligibility::Lang;
use yajin_core::validation::{FieldError, Lines};

/// An error on its way to the client.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub errors: Vec<FieldError>,
    /// Extra members of the problem object: figures, ids, deadlines.
    pub extra: Map<String, Value>,
    pub retry_after_s: Option<u64>,
    /// Language-specific detail, when the code's title alone is not enough.
    pub detail: Option<Box<(String, String)>>,
    /// For [`ErrorCode::Internal`] only: what went wrong, for the log, never for the client.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode) -> ApiError {
        ApiError { status, code, errors: Vec::new(), extra: Map::new(), retry_after_s: None, detail: None, cause: None }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound)
    }

    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        ApiError { errors, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed) }
    }

    pub fn field(status: StatusCode, code: ErrorCode, error: FieldError) -> ApiError {
        ApiError { errors: vec![error], ..ApiError::new(status, code) }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after_s = Some(seconds.max(1));
        self
    }

    pub fn detail(mut self, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
        self.detail = Some(Box::new((zh.into(), en.into())));
        self
    }

    /// A failure that is nobody's input: 500, logged with its cause and a request id.
    pub fn unexpected(cause: impl Into<String>) -> ApiError {
        ApiError { cause: Some(cause.into()), ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal) }
    }

    pub fn render(&self, lang: Lang) -> Response {
        let mut body = json!({
            "type": format!("https://yajin.dev/problems/{}", self.code.as_str().replace('_', "-")),
            "code": self.code.as_str(),
            "title": self.code.title(lang),
            "status": self.status.as_u16(),
        });
        let object = body.as_object_mut().expect("a JSON object");
        if let Some((zh, en)) = self.detail.as_deref() {
            object.insert("detail".into(), Value::String(if lang == Lang::En { en.clone() } else { zh.clone() }));
        }
        if !self.errors.is_empty() {
            let errors: Vec<FieldErrorView> = self.errors.iter().map(|e| FieldErrorView::new(e, lang)).collect();
            object.insert("errors".into(), serde_json::to_value(errors).unwrap_or_default());
        }
        if self.status.is_server_error() {
            let request_id = next_request_id();
            tracing::error!(%request_id, code = self.code.as_str(), cause = self.cause.as_deref().unwrap_or(""), "request failed");
            object.insert("request_id".into(), Value::String(request_id));
        }
        // Figures never replace the standard members of the problem.
        for (k, v) in &self.extra {
            if !object.contains_key(k) {
                object.insert(k.clone(), v.clone());
            }
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(s) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// A request id for the log and the client: the process's start and a counter, unique enough
/// to find one line among a day's.
fn next_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START
        .get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    format!("req-{start:x}-{:06}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Rendered by `localize`, which knows the caller's language.
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self.status;
        response.extensions_mut().insert(self);
        response
    }
}

/// Use-case errors the handler did not map more specifically.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::Fields(errors) => ApiError::validation(errors),
            AppError::Duplicate { field } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::AlreadyExists).with("field", field)
            }
            AppError::NotFound("terminal") => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::TerminalNotFound),
            AppError::NotFound(_) => ApiError::not_found(),
            AppError::InvalidState { entity: "ticket", status } if status == "closed" => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState)
                    .with("entity", "ticket")
                    .with("ticket_status", status)
                    .detail(
                        "工单已关闭，无法继续回复；如仍有问题，请新建工单",
                        "This ticket is closed and takes no more replies; if you still need help, open a new ticket",
                    )
            }
            AppError::InvalidState { entity, status } => ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState)
                .with("entity", entity)
                .with(&format!("{entity}_status"), status),
            AppError::InvalidQuery { field } => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery).with("field", field)
            }
            AppError::InvalidCursor => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidCursor),
            AppError::IdempotencyKeyReused => ApiError::new(StatusCode::CONFLICT, ErrorCode::IdempotencyKeyReused),
            AppError::AmountOutOfRange => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::AmountOutOfRange),
            AppError::Precondition(message) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::PreconditionFailed).detail(message.clone(), message)
            }
            AppError::Unexpected(cause) => ApiError::unexpected(cause),
            AppError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            // The database did not answer in time (down, or its write lock held by another
            // process past the busy timeout): nothing was done, and a retry may succeed.
            // Or it stopped this request's transaction for another one (PostgreSQL's answer to
            // a deadlock): rolled back whole, so the same request again is safe.
            StoreError::Unreachable(_) | StoreError::Contention(_) => ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServiceUnavailable)
            },
            // Text with a NUL in it that no field's own check caught (an id or a name looked
            // up as sent): the request's fault, and nothing was done. A path, a query and a
            // form were checked before (`router::refuse_nul`): what is left is a JSON body.
            StoreError::Unstorable => {
                ApiError::validation(yajin_core::validation::printable("body", "\0", Lines::Many).into_iter().collect())
            }
            e => ApiError::unexpected(format!("store: {e}")),
        }
    }
}

/// The caller's language by `Accept-Language` (RFC 9110 §12.5.4): the Chinese or English range
/// with the highest q-value; Chinese when neither is named or they tie.
pub fn language(headers: &HeaderMap) -> Lang {
    let Some(value) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else { return Lang::Zh };
    let (mut zh, mut en) = (-1.0_f32, -1.0_f32);
    for range in value.split(',') {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        let primary = tag.split('-').next().unwrap_or("");
        match primary {
            "zh" => zh = zh.max(q),
            "en" => en = en.max(q),
            "*" => {
                zh = zh.max(q);
            }
            _ => {}
        }
    }
    if en > 0.0 && en > zh {
        Lang::En
    } else {
        Lang::Zh
    }
}

/// The reader's language, for a handler whose answer holds words ([`language`] of the request).
#[derive(Clone, Copy, Debug)]
pub struct Language(pub Lang);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Language {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Language, Self::Rejection> {
        Ok(Language(language(&parts.headers)))
    }
}

/// Renders problems in the caller's language; turns bare error responses into problems.
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = language(request.headers());
    let mut response = next.run(request).await;
    if let Some(problem) = response.extensions_mut().remove::<ApiError>() {
        return problem.render(lang);
    }
    match bare_refusal(&response) {
        Some(problem) => problem.render(lang),
        None => response,
    }
}

/// A refusal the framework answered in bare text (an unknown route, a body over the limit, not
/// the expected content type), as the error it stands for; `None` for any other response.
pub fn bare_refusal(response: &Response) -> Option<ApiError> {
    let status = response.status();
    let is_bare_error = (status.is_client_error() || status.is_server_error())
        && response.headers().get(header::CONTENT_TYPE).is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !is_bare_error {
        return None;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    Some(ApiError::new(status, code))
}

/// RFC 9457 problem details, with Yajin's stable `code` and, per code, the figures to act on.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    r#type: String,
    /// Stable machine code, e.g. `outstanding_balance`.
    code: String,
    /// zh-CN by default, English with `Accept-Language: en`.
    title: String,
    status: u16,
    detail: Option<String>,
    errors: Option<Vec<FieldErrorView>>,
    /// On a 500: the id under which the server logged the failure.
    request_id: Option<String>,
    /// The figures of the code: `outstanding_fen`, `items`, `deadline`, `application_id`, ….
    #[serde(flatten)]
    figures: std::collections::HashMap<String, Value>,
}

/// One problem with one field of the request.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorView {
    field: String,
    code: String,
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_does_not_answer_in_time_is_a_503_to_retry_not_a_500() {
        let busy = ApiError::from(StoreError::Unreachable("the database stayed locked".into()));
        assert_eq!(
            (busy.status, busy.code.as_str(), busy.retry_after_s),
            (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", Some(1))
        );
        // PostgreSQL stopped the request's transaction for another's (a deadlock): nothing was
        // written, and the same request may be sent again.
        let stopped = ApiError::from(StoreError::Contention("deadlock detected".into()));
        assert_eq!(
            (stopped.status, stopped.code.as_str(), stopped.retry_after_s),
            (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", Some(1))
        );
        let broken = ApiError::from(StoreError::Corrupt("x".into()));
        assert_eq!(broken.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    fn lang(value: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        language(&headers)
    }

    #[test]
    fn q_values_choose_the_language() {
        assert_eq!(lang("en"), Lang::En);
        assert_eq!(lang("en-US,en;q=0.9"), Lang::En);
        assert_eq!(lang("en;q=0.1, zh;q=0.9"), Lang::Zh);
        assert_eq!(lang("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(lang("fr, en;q=0.5"), Lang::En);
        assert_eq!(lang("fr"), Lang::Zh);
        assert_eq!(lang("en;q=0"), Lang::Zh, "q=0 means not acceptable");
        assert_eq!(lang("*;q=0.9, en;q=0.5"), Lang::Zh);
    }

    #[test]
    fn every_code_is_unique_and_has_both_titles() {
        let mut seen = std::collections::HashSet::new();
        let mut all = Vec::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert!(!code.title(Lang::Zh).is_empty() && !code.title(Lang::En).is_empty());
            assert_ne!(code.title(Lang::Zh), code.title(Lang::En));
            // Names a person may see as they are: a header, file types, formats.
            let allowed = ["Idempotency-Key", "JPEG", "PNG", "PDF", "ASCII", "JSON"];
            let faults = yajin_core::text::language_faults(code.title(Lang::Zh), code.title(Lang::En), &allowed);
            if !faults.is_empty() {
                all.push(format!("{}: {faults:?}", code.as_str()));
            }
        }
        assert!(all.is_empty(), "{all:#?}");
    }
}

/// Every problem code Yajin sends. A code without titles does not compile: [`ErrorCode::title`]
/// is an exhaustive match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    MalformedJson,
    InvalidBody,
    InvalidQuery,
    InvalidCursor,
    InvalidIdempotencyKey,
    ValidationFailed,
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    Unauthenticated,
    InvalidCredentials,
    Forbidden,
    CsrfFailed,
    AccountLocked,
    StepUpRequired,
    IdentityChecksLocked,
    TooManyRequests,
    InvalidCode,
    CodeExhausted,
    WeakPassword,
    IdempotencyKeyReused,
    InvalidSignature,
    PayoutOutcomeUnknown,
    DeviceNotReceived,
    DeviceAlreadyReceived,
    InvalidState,
    NotRefunded,
    TerminalNotFound,
    IdentityMismatch,
    BankCardMismatch,
    OutstandingBalance,
    RefundWindowExpired,
    NotYetEligible,
    DepositAlreadyRefunded,
    ApplicationAlreadyOpen,
    RiskFrozen,
    AlreadyExists,
    AlreadySettled,
    UnsupportedFileType,
    SameApprover,
    ApproverRequired,
    NotClaimedByYou,
    FiguresChanged,
    UnknownReasonCode,
    AmountOutOfRange,
    PreconditionFailed,
    ServiceUnavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::MalformedJson,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidCursor,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::ValidationFailed,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::Forbidden,
        ErrorCode::CsrfFailed,
        ErrorCode::AccountLocked,
        ErrorCode::StepUpRequired,
        ErrorCode::IdentityChecksLocked,
        ErrorCode::TooManyRequests,
        ErrorCode::InvalidCode,
        ErrorCode::WeakPassword,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::InvalidSignature,
        ErrorCode::PayoutOutcomeUnknown,
        ErrorCode::DeviceNotReceived,
        ErrorCode::DeviceAlreadyReceived,
        ErrorCode::InvalidState,
        ErrorCode::NotRefunded,
        ErrorCode::TerminalNotFound,
        ErrorCode::IdentityMismatch,
        ErrorCode::BankCardMismatch,
        ErrorCode::OutstandingBalance,
        ErrorCode::RefundWindowExpired,
        ErrorCode::NotYetEligible,
        ErrorCode::DepositAlreadyRefunded,
        ErrorCode::ApplicationAlreadyOpen,
        ErrorCode::RiskFrozen,
        ErrorCode::AlreadyExists,
        ErrorCode::AlreadySettled,
        ErrorCode::UnsupportedFileType,
        ErrorCode::SameApprover,
        ErrorCode::ApproverRequired,
        ErrorCode::CodeExhausted,
        ErrorCode::NotClaimedByYou,
        ErrorCode::FiguresChanged,
        ErrorCode::UnknownReasonCode,
        ErrorCode::AmountOutOfRange,
        ErrorCode::PreconditionFailed,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
    ];

    /// The stable machine code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::InvalidIdempotencyKey => "invalid_idempotency_key",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CsrfFailed => "csrf_failed",
            ErrorCode::AccountLocked => "account_locked",
            ErrorCode::StepUpRequired => "step_up_required",
            ErrorCode::IdentityChecksLocked => "identity_checks_locked",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::InvalidCode => "invalid_code",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::PayoutOutcomeUnknown => "payout_outcome_unknown",
            ErrorCode::DeviceNotReceived => "device_not_received",
            ErrorCode::DeviceAlreadyReceived => "device_already_received",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::NotRefunded => "not_refunded",
            ErrorCode::TerminalNotFound => "terminal_not_found",
            ErrorCode::IdentityMismatch => "identity_mismatch",
            ErrorCode::BankCardMismatch => "bank_card_mismatch",
            ErrorCode::OutstandingBalance => "outstanding_balance",
            ErrorCode::RefundWindowExpired => "refund_window_expired",
            ErrorCode::NotYetEligible => "not_yet_eligible",
            ErrorCode::DepositAlreadyRefunded => "deposit_already_refunded",
            ErrorCode::ApplicationAlreadyOpen => "application_already_open",
            ErrorCode::RiskFrozen => "risk_frozen",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::AlreadySettled => "already_settled",
            ErrorCode::UnsupportedFileType => "unsupported_file_type",
            ErrorCode::SameApprover => "same_approver",
            ErrorCode::ApproverRequired => "approver_required",
            ErrorCode::CodeExhausted => "code_exhausted",
            ErrorCode::NotClaimedByYou => "not_claimed_by_you",
            ErrorCode::FiguresChanged => "figures_changed",
            ErrorCode::UnknownReasonCode => "unknown_reason_code",
            ErrorCode::AmountOutOfRange => "amount_out_of_range",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::Internal => "internal_error",
        }
    }

    /// The title in the reader's language.
    pub fn title(self, lang: Lang) -> &'static str {
        let (zh, en) = match self {
            ErrorCode::BadRequest => ("请求有误", "Bad request"),
            ErrorCode::MalformedJson => ("请求体不是有效的 JSON", "The request body is not valid JSON"),
            ErrorCode::InvalidBody => ("请求体字段有误", "A field of the request body is wrong"),
            ErrorCode::InvalidQuery => ("查询参数有误", "A query parameter is wrong"),
            ErrorCode::InvalidCursor => {
                ("分页游标无效，请从第一页重新获取", "The cursor is not valid; start again from the first page")
            }
            ErrorCode::InvalidIdempotencyKey => {
                ("幂等键须为 1–255 个可见 ASCII 字符", "Idempotency-Key must be 1–255 visible ASCII characters")
            }
            ErrorCode::ValidationFailed => {
                ("填写的信息有误，请按提示修改", "Some fields are invalid; correct them and resend")
            }
            ErrorCode::UnsupportedMediaType => ("不支持的内容类型", "Unsupported content type"),
            ErrorCode::PayloadTooLarge => ("内容过大", "The request is too large"),
            ErrorCode::NotFound => ("未找到", "Not found"),
            ErrorCode::MethodNotAllowed => ("不支持该请求方法", "Method not allowed"),
            ErrorCode::Unauthenticated => ("请先登录", "Log in first"),
            ErrorCode::InvalidCredentials => ("手机号或密码错误", "Wrong phone number or password"),
            ErrorCode::Forbidden => ("无权执行此操作", "Not allowed"),
            ErrorCode::CsrfFailed => ("页面已过期，请刷新后重试", "The page has expired; reload and try again"),
            ErrorCode::IdentityChecksLocked => (
                "身份核验已锁定：24 小时内有 5 次身份证号或银行卡号不符，请用短信验证码解锁",
                "Identity checks are locked: 5 ID or card numbers did not match within 24 hours; unlock them with an SMS code",
            ),
            ErrorCode::AccountLocked => {
                ("登录失败次数过多，账户已暂时锁定", "Too many failed logins; the account is locked for a while")
            }
            ErrorCode::StepUpRequired => (
                "此账户正受到多处登录尝试，需要进一步验证",
                "This account is under attack from many addresses; more proof is needed",
            ),
            ErrorCode::TooManyRequests => ("操作过于频繁，请稍后再试", "Too many requests; try again later"),
            ErrorCode::InvalidCode => ("验证码错误或已失效", "Wrong or expired verification code"),
            ErrorCode::CodeExhausted => (
                "验证码已失效，请重新获取",
                "This code was tried too many times and no longer works; ask for a new one",
            ),
            ErrorCode::ApproverRequired => (
                "复核须由具有审批人角色的另一位员工完成",
                "The second approval needs another staff member with the approver role",
            ),
            ErrorCode::WeakPassword => ("密码强度不足", "The password is too weak"),
            ErrorCode::InvalidSignature => ("签名无效或已过期", "The signature is missing, wrong or stale"),
            ErrorCode::DeviceNotReceived => (
                "该方案须先收回机具：请先登记机具已收到",
                "The plan wants the device back: record it as received first",
            ),
            ErrorCode::DeviceAlreadyReceived => ("该机具已登记收到", "The device was recorded as received already"),
            ErrorCode::PayoutOutcomeUnknown => (
                "这笔付款结果未知：先向银行查询，切勿重复付款",
                "The outcome of this payout is unknown: ask the bank first, never pay twice",
            ),
            ErrorCode::IdempotencyKeyReused => {
                ("该幂等键已用于另一个请求", "This Idempotency-Key was used for a different request")
            }
            ErrorCode::InvalidState => ("当前状态不允许此操作", "Not possible in the current state"),
            ErrorCode::NotRefunded => ("尚未退款，暂无凭证", "Not refunded yet: no receipt"),
            ErrorCode::TerminalNotFound => ("未找到该终端", "Terminal not found"),
            ErrorCode::IdentityMismatch => {
                ("手机号或身份证号与实名信息不符", "Phone or ID card does not match the real-name record")
            }
            ErrorCode::BankCardMismatch => ("银行卡不是绑定的结算卡", "The bank card is not the bound settlement card"),
            ErrorCode::OutstandingBalance => ("尚有未结清款项", "There is an outstanding balance"),
            ErrorCode::RefundWindowExpired => ("已超过退押金期限", "The refund window has closed"),
            ErrorCode::NotYetEligible => ("尚未满足退押金条件", "Not yet eligible for a refund"),
            ErrorCode::DepositAlreadyRefunded => ("押金已退还", "The deposit has already been refunded"),
            ErrorCode::ApplicationAlreadyOpen => {
                ("已有进行中的退押金申请", "An application for this terminal is already open")
            }
            ErrorCode::RiskFrozen => ("账户处于风控冻结状态", "The account is frozen by risk control"),
            ErrorCode::AlreadyExists => ("记录已存在", "Already exists"),
            ErrorCode::AlreadySettled => ("该款项已结清", "This item is already settled"),
            ErrorCode::UnsupportedFileType => {
                ("仅支持 JPEG、PNG 或 PDF 文件", "Only JPEG, PNG or PDF files are accepted")
            }
            ErrorCode::SameApprover => (
                "您已给出初审意见，复核须由另一位审批人完成",
                "You gave the first approval; the second must come from another approver",
            ),
            ErrorCode::NotClaimedByYou => {
                ("该申请不在您的名下，请先受理", "This application is not claimed by you; claim it first")
            }
            ErrorCode::FiguresChanged => (
                "提交后相关款项已变化，请驳回并请商户重新申请",
                "The amounts changed since submission; reject so the merchant can apply again",
            ),
            ErrorCode::UnknownReasonCode => ("未知的驳回原因代码", "Unknown rejection reason code"),
            ErrorCode::AmountOutOfRange => ("金额超出可处理范围", "The amounts are out of range"),
            ErrorCode::PreconditionFailed => ("当前数据不允许此操作", "The data present does not allow this"),
            ErrorCode::ServiceUnavailable => ("服务暂不可用", "Service unavailable"),
            ErrorCode::Internal => ("服务器内部错误", "Internal server error"),
        };
        if lang == Lang::En {
            en
        } else {
            zh
        }
    }
}

impl FieldErrorView {
    /// The error with its message in `lang`.
    pub fn new(e: &FieldError, lang: Lang) -> FieldErrorView {
        FieldErrorView { field: e.field.clone(), code: e.code.to_owned(), message: e.message.get(lang).to_owned() }
    }
}
