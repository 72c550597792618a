//! Everything Yajin answers over HTTP: the JSON API and the web pages side by side, an answer
//! for an unknown path, and the layers every request passes (headers, metrics, tracing).

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::http::{self, problem, AppState};
use crate::web;

pub fn router(state: AppState) -> Router {
    let https = state.site.https;
    Router::new()
        .merge(http::api(state.sandbox))
        .merge(web::routes())
        .route("/assets/{name}", axum::routing::get(http::assets::serve))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(move |request, next| security_headers(https, request, next)))
        .layer(axum::middleware::from_fn(http::track_metrics))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// An unknown path: a page for a browser, a problem for anyone else.
async fn not_found(headers: HeaderMap) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    if wants_html {
        web::not_found_page(&headers)
    } else {
        problem::ApiError::not_found().render(problem::language(&headers))
    }
}

/// The headers every response carries: no framing, no inline script or style, no sniffing,
/// no referrer to other sites, and HSTS when Yajin is reached over https.
async fn security_headers(https: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}
