//! The HTTP interface: routes, shared state, and the layers every request passes through.

mod health;
mod metrics;

use std::sync::Arc;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use yajin_app::App;

/// Request bodies larger than this are refused with 413 before a handler reads them.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub metrics: PrometheusHandle,
    pub started: Arc<std::time::Instant>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

pub use metrics::recorder;
