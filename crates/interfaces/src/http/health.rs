//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use yajin_app::setup::{self, Readiness};

use super::state::AppState;
use super::views::{ReadinessView, StatusView};

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health", responses((status = 200, body = StatusView)))]
pub(super) async fn healthz() -> Json<StatusView> {
    Json(StatusView { status: "ok".into() })
}

/// The database answers and its schema is the one this binary expects.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses((status = 200, body = ReadinessView), (status = 503, body = ReadinessView)))]
pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<ReadinessView>) {
    let not_ready = |reason: String| ReadinessView {
        status: "not_ready".into(),
        database: None,
        schema_version: None,
        reason: Some(reason),
    };
    match setup::readiness(&state.app).await {
        Readiness::Ready { database, schema_version } => (
            StatusCode::OK,
            Json(ReadinessView {
                status: "ready".into(),
                database: Some(database.into()),
                schema_version: Some(schema_version),
                reason: None,
            }),
        ),
        Readiness::WrongSchema { found, expected } => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(not_ready(format!("schema version {found}, expected {expected}"))))
        }
        Readiness::Unreachable => (StatusCode::SERVICE_UNAVAILABLE, Json(not_ready("database unreachable".into()))),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("yajin_uptime_seconds").set(state.started.elapsed().as_secs_f64());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
