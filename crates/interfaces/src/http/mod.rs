//! The HTTP interface: routes, shared state, and the layers every request passes through.

pub(crate) mod admin;
pub(crate) mod applications;
mod attachments;
mod auth;
mod devices;
mod health;
pub(crate) mod idempotency;
mod inbox;
mod json_body;
mod metrics;
pub mod openapi;
mod paging;
mod payouts;
pub mod problem;
mod provisioning;
mod reconciliations;
mod review;
pub mod session;
mod state;
pub mod views;

use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// Request bodies larger than this are refused with 413 before a handler reads them.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let json_api = Router::new()
        .merge(health::routes())
        .merge(auth::routes(state.sandbox))
        .merge(devices::routes())
        .merge(applications::routes())
        .merge(inbox::routes())
        .merge(review::routes())
        .merge(admin::routes())
        .merge(payouts::routes())
        .merge(provisioning::routes())
        .route("/api/v1/openapi.json", axum::routing::get(|| async { axum::Json(openapi::document()) }))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES));
    let api = Router::new()
        .merge(json_api)
        .merge(attachments::routes())
        .merge(reconciliations::routes())
        // Inside `localize`: the size limits' refusals become problems like any error.
        .layer(axum::middleware::from_fn(problem::localize));
    let https = state.site.https;
    Router::new()
        .merge(api)
        .merge(crate::web::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(move |request, next| crate::web::security_headers(https, request, next)))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// An unknown path: a page for a browser, a problem for anyone else.
async fn not_found(headers: axum::http::HeaderMap) -> axum::response::Response {
    if crate::web::wants_html(&headers) {
        crate::web::not_found_page(&headers)
    } else {
        problem::ApiError::not_found().render(problem::language(&headers))
    }
}

pub use metrics::recorder;
pub use state::{AppState, ChannelSecret};
