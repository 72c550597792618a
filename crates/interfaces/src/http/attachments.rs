//! Uploading evidence (purchase vouchers, usage records, ID photos) and reading it back.
//! Multipart `file` + `kind`; the type is decided by content; 10 MiB at most (413 beyond).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::limit::RequestBodyLimitLayer;
use yajin_app::attachments::{self, UploadError};
use yajin_app::model::Attachment;
use yajin_core::attachment::MAX_BYTES;

use super::idempotency::{Answer, IdempotencyKey};
use super::problem::{ApiError, ErrorCode, Problem};
use super::session::MerchantSession;
use super::state::AppState;
use super::views::{AttachmentUpload, AttachmentView};

/// Room for the multipart framing around a file of the maximum size.
const BODY_LIMIT_BYTES: usize = MAX_BYTES + 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/attachments", post(upload_attachment))
        .route("/api/v1/attachments/{id}", get(download_attachment))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge).with("max_bytes", MAX_BYTES)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType)
                .detail("请以 multipart/form-data 上传", "Send multipart/form-data")
        }
        _ => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest).detail("表单格式有误", e.body_text()),
    }
}

#[utoipa::path(post, path = "/api/v1/attachments", operation_id = "upload_attachment", tag = "attachments",
    security(("bearer" = []), ("cookie" = [])), params(IdempotencyKey),
    request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentView),
        (status = 400, description = "bad_request: not a multipart form", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, csrf_failed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_file_type, unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_requests: 100 files or 200 MiB in 24 hours", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn upload_attachment(
    State(state): State<AppState>,
    session: MerchantSession,
    key: IdempotencyKey,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut form = form.map_err(|_| {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType)
            .detail("请以 multipart/form-data 上传", "Send multipart/form-data")
    })?;
    let (mut kind, mut file) = (None, None);
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("kind") => kind = Some(field.text().await.map_err(multipart_error)?),
            Some("file") => file = Some(field.bytes().await.map_err(multipart_error)?),
            _ => {}
        }
    }
    // The request, for its key: the form's values (a resent form has another boundary).
    let request =
        serde_json::json!({"kind": kind, "file_sha256": file.as_deref().map(|f| hex::encode(Sha256::digest(f)))});
    let answer = Answer::new(StatusCode::CREATED, |saved: &Attachment| AttachmentView::from(saved.clone()));
    let replay = key.replay(&session, &request, &answer);
    let outcome =
        attachments::upload(&state.app, &session.merchant_id, kind.as_deref(), file.as_deref(), replay).await?;
    Ok(answer.respond(outcome))
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}", operation_id = "download_attachment", tag = "attachments",
    security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "the file, with its content type", content_type = "application/octet-stream"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden: not a merchant session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another merchant's)", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn download_attachment(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (meta, content) = attachments::read(&state.app, Some(&session.merchant_id), &id).await?;
    Ok(file_response(&id, meta.content_type, content, Disposition::Inline))
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> ApiError {
        match e {
            UploadError::Fields(errors) => ApiError::validation(errors),
            UploadError::TooLarge => too_large(),
            UploadError::UnsupportedType => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedFileType)
            }
            UploadError::QuotaExceeded => ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
                .detail("24 小时内至多上传 100 个文件、200 MiB", "At most 100 files and 200 MiB in 24 hours")
                .retry_after(3600),
            UploadError::App(e) => e.into(),
            UploadError::Store(e) => e.into(),
        }
    }
}

/// How a stored file is handed out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    /// Shown in the browser (the merchant's own file).
    Inline,
    /// Saved, never rendered in the console's origin (a merchant's file read by staff).
    Download,
}

/// A stored file as the browser should treat it: its own type, never sniffed, not cached, and
/// sandboxed (no script, no plugin, no same-origin rights) if a browser renders it anyway.
pub(super) fn file_response(id: &str, content_type: String, content: Vec<u8>, disposition: Disposition) -> Response {
    let extension = match content_type.as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    let how = if disposition == Disposition::Download { "attachment" } else { "inline" };
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, format!("{how}; filename=\"{id}.{extension}\"")),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CACHE_CONTROL, "private, max-age=0".to_owned()),
        (
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'; img-src 'self' data:; object-src 'none'".to_owned(),
        ),
    ];
    (headers, Body::from(content)).into_response()
}
