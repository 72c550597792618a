//! Finance uploads the bank's statement; the report says what matched and what did not.

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use tower_http::limit::RequestBodyLimitLayer;
use yajin_app::reconciliation::Reconciler;

use super::problem::{ApiError, ErrorCode, Problem};
use super::session::{CanWatchPayouts, Staff};
use super::state::AppState;
use super::views::{ReconciliationUpload, ReconciliationView};

/// A statement of a few million lines fits; it is read as it arrives, never held whole.
const STATEMENT_LIMIT_BYTES: usize = 512 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reconciliations", post(reconcile_statement))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(STATEMENT_LIMIT_BYTES))
}

fn unreadable(e: axum::extract::multipart::MultipartError) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
        _ => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest).detail("表单格式有误", e.body_text()),
    }
}

/// Streams the statement (multipart `file`) through reconciliation. Repeating it is harmless:
/// what it settles is settled once.
#[utoipa::path(post, path = "/api/v1/reconciliations", operation_id = "reconcile_statement", tag = "payouts",
    security(("bearer" = []), ("cookie" = [])),
    request_body(content = ReconciliationUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = ReconciliationView),
        (status = 400, description = "bad_request: not a multipart form", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "validation_failed: no `file` part", body = Problem, content_type = "application/problem+json")))]
pub(super) async fn reconcile_statement(
    State(state): State<AppState>,
    _: Staff<CanWatchPayouts>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<ReconciliationView>, ApiError> {
    let mut form = form.map_err(|_| {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType)
            .detail("请以 multipart/form-data 上传", "Send multipart/form-data")
    })?;
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        if field.name() != Some("file") {
            continue;
        }
        let mut reconciler = Reconciler::new(&state.app);
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            reconciler.feed(&chunk).await?;
        }
        return Ok(Json(ReconciliationView::from(reconciler.finish().await?)));
    }
    Err(ApiError::validation(vec![yajin_core::validation::FieldError::new(
        "file",
        "required",
        "缺少名为 file 的对账单文件",
        "a file part named `file`",
    )]))
}
