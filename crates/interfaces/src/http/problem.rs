//! Errors as `application/problem+json` (RFC 9457): a stable machine `code`, a `title` in
//! Chinese or English by `Accept-Language` (default zh-CN), field-level `errors` for
//! validation, and whatever figures the client needs to act. Handlers return [`ApiError`];
//! the [`localize`] layer renders it in the caller's language, and turns any bare error
//! response (an unknown route, a body over the limit) into a problem too.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use yajin_app::AppError;
use yajin_core::eligibility::Lang;
use yajin_core::validation::FieldError;

/// An error on its way to the client.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub errors: Vec<FieldError>,
    /// Extra members of the problem object: figures, ids, deadlines.
    pub extra: Map<String, Value>,
    pub retry_after_s: Option<u64>,
    /// Language-specific detail, when the code's title alone is not enough.
    pub detail: Option<Box<(String, String)>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str) -> ApiError {
        ApiError { status, code, errors: Vec::new(), extra: Map::new(), retry_after_s: None, detail: None }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found")
    }

    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        ApiError { errors, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed") }
    }

    pub fn field(status: StatusCode, code: &'static str, error: FieldError) -> ApiError {
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

    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    }

    fn render(&self, lang: Lang) -> Response {
        let (zh, en) = title(self.code);
        let mut body = json!({
            "type": format!("https://yajin.dev/problems/{}", self.code.replace('_', "-")),
            "code": self.code,
            "title": if lang == Lang::En { en } else { zh },
            "status": self.status.as_u16(),
        });
        let object = body.as_object_mut().expect("a JSON object");
        if let Some((zh, en)) = self.detail.as_deref() {
            object.insert("detail".into(), Value::String(if lang == Lang::En { en.clone() } else { zh.clone() }));
        }
        if !self.errors.is_empty() {
            object.insert("errors".into(), serde_json::to_value(&self.errors).unwrap_or_default());
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
            AppError::Duplicate { field } => ApiError::new(StatusCode::CONFLICT, "already_exists").with("field", field),
            AppError::NotFound(_) => ApiError::not_found(),
            AppError::Refused(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused").detail(message.clone(), message)
            }
            AppError::Store(e) => {
                tracing::error!(error = %e, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<yajin_store::StoreError> for ApiError {
    fn from(e: yajin_store::StoreError) -> ApiError {
        ApiError::from(AppError::Store(e))
    }
}

/// The caller's language: English when the first preference is English, else Chinese.
pub fn language(headers: &HeaderMap) -> Lang {
    let first = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if first.starts_with("en") {
        Lang::En
    } else {
        Lang::Zh
    }
}

/// Renders problems in the caller's language; turns bare error responses into problems.
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = language(request.headers());
    let mut response = next.run(request).await;
    if let Some(problem) = response.extensions_mut().remove::<ApiError>() {
        return problem.render(lang);
    }
    let status = response.status();
    let is_bare_error = (status.is_client_error() || status.is_server_error())
        && response.headers().get(header::CONTENT_TYPE).is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !is_bare_error {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    ApiError::new(status, code).render(lang)
}

/// Titles by code: (zh-CN, en).
fn title(code: &str) -> (&'static str, &'static str) {
    match code {
        "bad_request" => ("请求有误", "Bad request"),
        "malformed_json" => ("请求体不是有效的 JSON", "The request body is not valid JSON"),
        "invalid_body" => ("请求体字段有误", "A field of the request body is wrong"),
        "validation_failed" => ("填写的信息有误，请按提示修改", "Some fields are invalid; correct them and resend"),
        "unsupported_media_type" => ("不支持的内容类型", "Unsupported content type"),
        "payload_too_large" => ("内容过大", "The request is too large"),
        "not_found" => ("未找到", "Not found"),
        "method_not_allowed" => ("不支持该请求方法", "Method not allowed"),
        "unauthenticated" => ("请先登录", "Log in first"),
        "invalid_credentials" => ("手机号或密码错误", "Wrong phone number or password"),
        "forbidden" => ("无权执行此操作", "Not allowed"),
        "csrf_failed" => ("页面已过期，请刷新后重试", "The page has expired; reload and try again"),
        "account_locked" => {
            ("登录失败次数过多，账户已暂时锁定", "Too many failed logins; the account is locked for a while")
        }
        "too_many_requests" => ("操作过于频繁，请稍后再试", "Too many requests; try again later"),
        "invalid_code" => ("验证码错误", "Wrong verification code"),
        "code_expired" => ("验证码已过期，请重新获取", "The code has expired; request a new one"),
        "weak_password" => ("密码强度不足", "The password is too weak"),
        "idempotency_key_reused" => {
            ("该幂等键已用于另一个请求", "This Idempotency-Key was used for a different request")
        }
        "invalid_state" => ("当前状态不允许此操作", "Not possible in the current state"),
        "not_refunded" => ("尚未退款，暂无凭证", "Not refunded yet: no receipt"),
        "terminal_not_found" => ("未找到该终端", "Terminal not found"),
        "identity_mismatch" => {
            ("手机号或身份证号与实名信息不符", "Phone or ID card does not match the real-name record")
        }
        "bank_card_mismatch" => ("银行卡不是绑定的结算卡", "The bank card is not the bound settlement card"),
        "outstanding_balance" => ("尚有未结清款项", "There is an outstanding balance"),
        "refund_window_expired" => ("已超过退押金期限", "The refund window has closed"),
        "not_yet_eligible" => ("尚未满足退押金条件", "Not yet eligible for a refund"),
        "deposit_already_refunded" => ("押金已退还", "The deposit has already been refunded"),
        "application_already_open" => ("已有进行中的退押金申请", "An application for this terminal is already open"),
        "risk_frozen" => ("账户处于风控冻结状态", "The account is frozen by risk control"),
        "already_exists" => ("记录已存在", "Already exists"),
        "already_settled" => ("该款项已结清", "This item is already settled"),
        "unsupported_file_type" => ("仅支持 JPEG、PNG 或 PDF 文件", "Only JPEG, PNG or PDF files are accepted"),
        "invalid_attachment" => ("附件无效", "Invalid attachment"),
        "refused" => ("无法完成操作", "Cannot be done"),
        "service_unavailable" => ("服务暂不可用", "Service unavailable"),
        _ => ("服务器内部错误", "Internal server error"),
    }
}
