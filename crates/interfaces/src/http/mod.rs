//! The JSON API: its routes, views, errors, sessions and shared state, which the pages (`web`) build on.

pub(crate) mod admin;
mod agent;
pub(crate) mod applications;
pub mod assets;
mod attachments;
mod auth;
mod devices;
pub mod format;
mod health;
pub mod html;
pub(crate) mod idempotency;
mod inbox;
mod json_body;
mod metrics;
pub mod openapi;
pub mod orders;
mod paging;
mod payouts;
pub mod plans;
pub mod problem;
mod provisioning;
pub mod receipt;
mod reconciliations;
mod review;
pub mod session;
mod state;
pub mod views;

use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

/// Request bodies larger than this are refused with 413 before a handler reads them.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// The JSON API (and its printable receipt): every route under `/api` and the probes, with
/// errors rendered as problems in the caller's language.
pub fn api(sandbox_sms: bool) -> Router<AppState> {
    let json_api = Router::new()
        .merge(health::routes())
        .merge(auth::routes(sandbox_sms))
        .merge(devices::routes())
        .merge(applications::routes())
        .merge(inbox::routes())
        .merge(review::routes())
        .merge(admin::routes())
        .merge(payouts::routes())
        .merge(plans::routes())
        .merge(agent::routes())
        .merge(orders::routes(sandbox_sms))
        .merge(provisioning::routes())
        .route("/api/v1/openapi.json", axum::routing::get(|| async { axum::Json(openapi::document()) }))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES));
    Router::new()
        .merge(json_api)
        .merge(attachments::routes())
        .merge(reconciliations::routes())
        // Inside `localize`: the size limits' refusals become problems like any error.
        .layer(axum::middleware::from_fn(problem::localize))
}

pub use metrics::track as track_metrics;
pub use metrics::{recorder, UPKEEP_EVERY as METRICS_UPKEEP_EVERY};
pub use state::{AppState, ChannelSecret, Shared, Site};
