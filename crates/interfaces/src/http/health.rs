//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use yajin_store::migrate;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "readyz", operation_id = "healthz", tag = "health", responses((status = 200, body = crate::http::openapi::Status)))]
pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and its schema is the one this binary expects.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = crate::http::openapi::Readiness), (status = 503, body = crate::http::openapi::Readiness)))]
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = &state.app.db;
    let expected = migrate::latest_version(db.backend());
    match migrate::current_version(db).await {
        Ok(version) if version == expected => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": db.backend().name(), "schema_version": version})),
        ),
        Ok(version) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": format!("schema version {version}, expected {expected}")})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not_ready", "reason": "database unreachable"})))
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("yajin_uptime_seconds").set(state.started.elapsed().as_secs_f64());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
