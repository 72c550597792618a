//! Uploading evidence (purchase vouchers, usage records, ID photos) and reading it back.
//! Multipart `file` + `kind`; the type is decided by content; 10 MiB at most (413 beyond).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};
use tower_http::limit::RequestBodyLimitLayer;
use yajin_core::attachment::{self, MAX_BYTES};
use yajin_core::validation::FieldError;
use yajin_store::records::attachments;
use yajin_store::StoreError;

use super::problem::ApiError;
use super::session::MerchantSession;
use super::AppState;

/// Room for the multipart framing around a file of the maximum size.
const BODY_LIMIT_BYTES: usize = MAX_BYTES + 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/attachments", post(upload))
        .route("/api/v1/attachments/{id}", get(download))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").with("max_bytes", MAX_BYTES)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request").detail("表单格式有误", e.body_text())
    }
}

#[utoipa::path(post, path = "/api/v1/attachments", operation_id = "download_attachment", operation_id = "upload_attachment", tag = "attachments", security(("bearer" = []), ("cookie" = [])), request_body(content = crate::http::openapi::AttachmentUpload, content_type = "multipart/form-data"), responses((status = 201, body = crate::http::openapi::Attachment), (status = 413, description = "payload_too_large", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 415, description = "unsupported_file_type", body = crate::http::openapi::Problem, content_type = "application/problem+json"), (status = 422, description = "validation_failed", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn upload(
    State(state): State<AppState>,
    session: MerchantSession,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let (mut kind, mut file) = (None, None);
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("kind") => kind = Some(field.text().await.map_err(multipart_error)?),
            Some("file") => file = Some(field.bytes().await.map_err(multipart_error)?),
            _ => {}
        }
    }
    let mut errors = Vec::new();
    if !kind.as_deref().is_some_and(|k| attachment::KINDS.contains(&k)) {
        errors.push(FieldError::new("kind", "invalid_value", attachment::KINDS.join(", ")));
    }
    match &file {
        None => errors.push(FieldError::new("file", "required", "a file part named `file`")),
        Some(bytes) if bytes.is_empty() => errors.push(FieldError::new("file", "empty", "the file is empty")),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (kind, file) = (kind.unwrap_or_default(), file.unwrap_or_default());
    if file.len() > MAX_BYTES {
        return Err(too_large());
    }
    let content_type = attachment::sniff(&file)
        .ok_or_else(|| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_file_type"))?;
    let sha256 = hex::encode(Sha256::digest(&file));
    let now = state.app.now_ms();
    let mut tx = state.app.db.begin_write().await?;
    let saved = attachments::insert(&mut tx, &session.merchant_id, &kind, content_type, &sha256, &file, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let body = json!({"id": saved.id, "kind": saved.kind, "content_type": saved.content_type, "size": saved.size, "sha256": saved.sha256});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "attachments", security(("bearer" = []), ("cookie" = [])), params(("id" = String, Path)), responses((status = 200, description = "the file, with its content type"), (status = 404, description = "not_found", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
pub(super) async fn download(
    State(state): State<AppState>,
    session: MerchantSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut conn = state.conn().await?;
    let meta = attachments::get(&mut conn, &id, Some(&session.merchant_id)).await?.ok_or_else(ApiError::not_found)?;
    let content = attachments::content(&mut conn, &meta.sha256).await?.ok_or_else(ApiError::not_found)?;
    let headers = [
        (header::CONTENT_TYPE, meta.content_type),
        (header::CONTENT_DISPOSITION, "inline".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CACHE_CONTROL, "private, max-age=0".to_owned()),
    ];
    Ok((headers, Body::from(content)).into_response())
}
